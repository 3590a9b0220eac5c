//! Containers from images: run attached and detached, the image config merged with the
//! command line, the lifecycle verbs, logs, exec, commit, ttys, resources, and the
//! overlay-unavailable paths. Every test checks that nothing is left on the host.
//! Networking is `none` here (see network.rs for the bridge).

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::containers::{assert_no_cgroup, cgroup_file};
use common::Stage;
use serde_json::json;

const NONE: &str = "--network=none";

#[test]
fn run_attached_passes_output_and_exit_status_and_logs_them() {
    let s = Stage::with_busybox(&[]);
    let (code, out, err) = s.status(&[
        "run",
        NONE,
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
    let ps = s.ok(&["ps", "-a"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(ps.contains("Exited (3)") && ps.contains("once"), "{ps}");
    assert!(!s.ok(&["ps"]).contains("once"), "not running");
    let logs = s.run(&["logs", "once"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");
    let id = s.inspect("once")["Id"].as_str().unwrap().to_string();
    s.assert_no_mounts();
    assert_no_cgroup(&id);
    assert_eq!(s.ok(&["rm", "once"]), "once\n");
    s.assert_gone(&id);
    // --rm: gone by the time run returns.
    let (code, out, _) = s.status(&["run", NONE, "--rm", "busybox", "echo", "bye"]);
    assert_eq!((code, out.as_str()), (0, "bye\n"));
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn image_config_and_command_line_are_merged() {
    let s = Stage::with_busybox(&[
        r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
        r#"CMD ["echo from-cmd $GREETING $(pwd) $(id -u)"]"#,
        "ENV GREETING=hello",
        "WORKDIR /www",
        "USER app",
        "LABEL tier=front",
        "EXPOSE 80",
        "STOPSIGNAL SIGUSR1",
    ]);
    let (code, out, err) = s.status(&["run", NONE, "--rm", "busybox"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "from-cmd hello /www 1000\n"),
        "{err}"
    );
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "-e",
        "GREETING=hi",
        "-e",
        "EXTRA=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "busybox",
        "echo $GREETING $EXTRA $(pwd) $(id -u):$(id -g) $HOME $HOSTNAME",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        &f[..5],
        ["hi", "1", "/tmp", "65534:65534", "/nonexistent"],
        "{out}"
    );
    assert_eq!(f[5].len(), 12, "hostname is the short id: {out}");
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "-u",
        "app:www",
        "--entrypoint",
        "id",
        "busybox",
        "-G",
    ]);
    assert_eq!(
        out.trim(),
        "33",
        "group by name, Cmd replaced with the entrypoint"
    );
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "-u",
        "4242:4343",
        "--entrypoint",
        "",
        "busybox",
        "id",
    ]);
    assert!(out.starts_with("uid=4242 gid=4343"), "{out}");

    // Created only: the bridge and the port come at start.
    let id = s.id_of(&[
        "create",
        "--name",
        "cfg",
        "-l",
        "extra=yes",
        "-p",
        "8080:80",
        "busybox",
    ]);
    let v = s.inspect("cfg");
    assert_eq!(v["Id"], json!(id));
    assert_eq!(v["Name"], json!("/cfg"));
    assert_eq!(v["State"]["Status"], json!("created"));
    assert_eq!(v["Config"]["User"], json!("app"));
    assert_eq!(v["Config"]["WorkingDir"], json!("/www"));
    assert_eq!(
        v["Config"]["Labels"],
        json!({"extra": "yes", "tier": "front"})
    );
    assert_eq!(v["Config"]["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        json!("8080")
    );
    assert_eq!(v["GraphDriver"]["Name"], json!("overlay"));
    // Bad input: a clear error each, and nothing created.
    for (args, want) in [
        (vec!["run", NONE, "nosuch"], "No such image: nosuch:latest"),
        (
            vec!["create", NONE, "--name", "cfg", "busybox"],
            "Conflict. The container name \"/cfg\" is already in use by container",
        ),
        (
            vec!["create", NONE, "--name", "bad name", "busybox"],
            "Invalid container name",
        ),
        (
            vec!["run", NONE, "-u", "ghost", "busybox"],
            "unable to find user ghost",
        ),
        (
            vec!["run", NONE, "-w", "rel", "busybox"],
            "needs to be an absolute path",
        ),
        (
            vec!["run", NONE, "--memory", "lots", "busybox"],
            "invalid size",
        ),
        (
            vec!["run", NONE, "-p", "80:80", "busybox"],
            "need the bridge network",
        ),
        (vec!["rm", "nosuch"], "No such container: nosuch"),
        (vec!["logs", "nosuch"], "No such container: nosuch"),
    ] {
        let e = s.fails(&args);
        assert!(e.contains(want), "{args:?}: expected {want:?} in {e}");
    }
    // Parsed by the command line: clap's own message.
    let (code, _, e) = s.status(&["run", "--network", "overlay", "busybox"]);
    assert!(code != 0 && e.contains("network overlay not found"), "{e}");
    let e = s.fails(&["run", NONE, "--entrypoint", "", "busybox"]);
    assert!(e.contains("No command specified"), "{e}");
    // The user that was not found was found at start: the container exists, created.
    let left = s.ok(&["ps", "-aq"]);
    assert_eq!(
        left.lines().count(),
        2,
        "cfg and the one whose user was missing: {left}"
    );
    s.ok(&["rm", "cfg"]);
    s.assert_gone(&id);
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_lifecycle_stop_start_restart_kill_exec_rm() {
    let s = Stage::with_busybox(&[]);
    let id = s.id_of(&[
        "run",
        "-d",
        NONE,
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    let ps = s.ok(&["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("ticker"),
        "{ps}"
    );
    let v = s.inspect(&id[..8]);
    assert_eq!(v["State"]["Running"], json!(true));
    let pid = v["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        cgroup_file("pids", &id, "tasks").is_some_and(|t| t.contains(&pid.to_string())),
        "in /rt-stage/{id}"
    );
    wait_for("started in the log", 10, || {
        s.ok(&["logs", "ticker"]).contains("started")
    });

    let (code, out, _) = s.status(&["exec", "ticker", "sh", "-c", "echo in $(hostname); exit 5"]);
    assert_eq!(
        (code, out.trim()),
        (5, format!("in {}", &id[..12]).as_str())
    );
    let out = s.ok(&[
        "exec",
        "-u",
        "app",
        "-w",
        "/tmp",
        "-e",
        "X=y",
        "ticker",
        "sh",
        "-c",
        "echo $(id -u) $(pwd) $X",
    ]);
    assert_eq!(out, "1000 /tmp y\n");

    let e = s.fails(&["rm", "ticker"]);
    assert!(e.contains("You cannot remove a running container"), "{e}");
    assert_eq!(s.ok(&["stop", "-t", "5", "ticker"]), "ticker\n");
    let v = s.inspect("ticker");
    assert_eq!(v["State"]["Status"], json!("exited"));
    assert_eq!(v["State"]["ExitCode"], json!(7));
    assert!(s.ok(&["logs", "ticker"]).contains("got TERM"));
    s.assert_no_mounts();
    assert_no_cgroup(&id);
    let e = s.fails(&["exec", "ticker", "true"]);
    assert!(e.contains("is not running"), "{e}");
    let e = s.fails(&["kill", "ticker"]);
    assert!(e.contains("is not running"), "{e}");

    // Started again: the same container, its log growing.
    s.ok(&["start", "ticker"]);
    assert_eq!(s.inspect("ticker")["State"]["Status"], json!("running"));
    s.ok(&["restart", "-t", "5", "ticker"]);
    assert_eq!(s.inspect("ticker")["RestartCount"], json!(1));
    assert_eq!(s.ok(&["logs", "ticker"]).matches("started").count(), 3);
    s.ok(&["kill", "-s", "TERM", "ticker"]);
    wait_for("the TERM to end it", 10, || {
        s.inspect("ticker")["State"]["Status"] == json!("exited")
    });
    s.ok(&["start", "ticker"]);
    // rm -f: SIGKILL, then removal.
    assert_eq!(s.ok(&["rm", "-f", "ticker"]), "ticker\n");
    s.assert_gone(&id);

    // A container that ends by itself is torn down by its monitor.
    let id = s.id_of(&["run", "-d", NONE, "busybox", "sh", "-c", "echo quick"]);
    wait_for("a quick container to end", 10, || {
        s.inspect(&id)["State"]["Status"] == json!("exited")
    });
    s.assert_no_mounts();
    assert_no_cgroup(&id);
    let id2 = s.id_of(&["run", "-d", "--rm", NONE, "busybox", "true"]);
    wait_for("--rm to remove it", 10, || {
        !s.root.join("containers").join(&id2).exists()
    });
    s.ok(&["rm", &id]);
    s.assert_gone(&id);
    s.assert_gone(&id2);
}

#[test]
fn logs_follow_until_the_container_ends() {
    let s = Stage::with_busybox(&[]);
    s.ok(&[
        "run",
        "-d",
        NONE,
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done; echo done >&2",
    ]);
    let started = Instant::now();
    let out = s.run(&["logs", "-f", "counter"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n3\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "done\n");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn commit_turns_the_upper_layer_into_an_image() {
    let s = Stage::with_busybox(&[]);
    s.ok(&[
        "run",
        NONE,
        "--name",
        "changer",
        "-e",
        "MARK=1",
        "busybox",
        "sh",
        "-c",
        "echo new > /etc/motd && rm /bin/vi && rm -rf /www && mkdir /www && echo fresh > /www/only",
    ]);
    let id = s.ok(&[
        "commit",
        "-m",
        "changes",
        "-c",
        "CMD [\"cat\", \"/etc/motd\"]",
        "changer",
        "changed:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    let img = s.inspect("changed:1");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(img["Config"]["Env"], json!(["MARK=1"]));
    // The new layer: the change set only, overlay's markers as whiteouts.
    let diff = img["RootFS"]["Layers"][1]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let layer = s.root.join("layers/sha256").join(&diff).join("diff");
    let mut entries: Vec<String> = walk(&layer);
    entries.sort();
    assert_eq!(
        entries,
        ["bin", "bin/vi", "etc", "etc/motd", "www", "www/only"],
        "no init-layer mount points"
    );
    let (code, out, _) = s.status(&["run", NONE, "--rm", "changed:1"]);
    assert_eq!((code, out.as_str()), (0, "new\n"));
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "changed:1",
        "sh",
        "-c",
        "ls /www; ls /bin/vi 2>&1; echo $MARK",
    ]);
    assert_eq!(out, "only\nls: /bin/vi: No such file or directory\n1\n");
    // The image is in use; removing the container frees it.
    let e = s.fails(&["rmi", "busybox"]);
    assert!(e.contains("is using its referenced image"), "{e}");
    s.ok(&["rm", "changer"]);
    s.ok(&["rmi", "changed:1"]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn overlay_unavailable_falls_back_to_a_copy_or_fails_clearly() {
    let s = Stage::with_busybox(&[]);
    let off = [("RT_STAGE_OVERLAY_UNAVAILABLE", "1")];
    let out = s.run_env(
        &[
            "--storage-driver",
            "overlay",
            "run",
            NONE,
            "busybox",
            "true",
        ],
        &off,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("overlay filesystem unavailable") && err.contains("--storage-driver copy"),
        "{err}"
    );
    assert_eq!(s.ok(&["ps", "-aq"]), "", "nothing created");
    assert!(s.entries("containers").is_empty());

    let out = s.run_env(
        &[
            "run",
            NONE,
            "--name",
            "copied",
            "busybox",
            "sh",
            "-c",
            "echo copy > /etc/motd; cat /www/index.html",
        ],
        &off,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the image\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: overlay filesystem unavailable")
    );
    let v = s.inspect("copied");
    assert_eq!(v["GraphDriver"]["Name"], json!("copy"));
    // Started again with overlay back: it stays a copy, its changes kept.
    s.ok(&["start", "copied"]);
    wait_for("the copy to end", 10, || {
        s.inspect("copied")["State"]["Status"] == json!("exited")
    });
    // Committing a copy flattens it into one layer.
    s.ok(&["commit", "copied", "flat:1"]);
    let img = s.inspect("flat:1");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.ok(&["run", NONE, "--rm", "flat:1", "cat", "/etc/motd"]),
        "copy\n"
    );
    let id = v["Id"].as_str().unwrap().to_string();
    s.ok(&["rm", "copied"]);
    s.assert_gone(&id);
}

#[test]
fn a_tty_for_run_it() {
    let s = Stage::with_busybox(&[]);
    let rt = common::rt_binary().unwrap();
    let cmd = format!(
        "{} --root {} run -it --rm {NONE} busybox sh -c 'tty; echo $TERM; read line; echo got $line'",
        env!("CARGO_BIN_EXE_rt-stage"),
        s.root.display()
    );
    // script(1) gives rt-stage a terminal; "hi" typed into it reaches the container.
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("RT", rt)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    std::thread::sleep(Duration::from_millis(500));
    use std::io::Write;
    // A failure shows in the output below rather than as a broken pipe here.
    let _ = child.stdin.take().unwrap().write_all(b"hi\r");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("/dev/pts/0\nxterm\n"), "{text:?}");
    assert!(text.contains("got hi"), "{text:?}");
    assert!(out.status.success(), "{text}");
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn resource_limits_reach_the_cgroups() {
    let s = Stage::with_busybox(&[]);
    let id = s.id_of(&[
        "run",
        "-d",
        NONE,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "30",
    ]);
    if let Some(m) = cgroup_file("memory", &id, "memory.limit_in_bytes") {
        assert_eq!(m, (64u64 << 20).to_string());
        assert_eq!(cgroup_file("pids", &id, "pids.max").as_deref(), Some("50"));
        assert_eq!(
            cgroup_file("cpu", &id, "cpu.cfs_quota_us").as_deref(),
            Some("50000")
        );
    }
    let v = s.inspect(&id);
    assert_eq!(v["HostConfig"]["Memory"], json!(64 << 20));
    assert_eq!(v["HostConfig"]["NanoCpus"], json!(500_000_000));
    s.ok(&["rm", "-f", &id]);
    s.assert_gone(&id);
}
