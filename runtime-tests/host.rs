//! What the host sees of a container: the pid file, the state document,
//! state that outlives each rt command, the container's cgroups, and the
//! residue check the harness runs after every test, and rt's own log.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{procfs, residue, Container};
use serde_json::json;

#[test]
fn pid_file_names_the_init() {
    let c = Container::sleeper();
    c.create().ok();
    let text = fs::read_to_string(c.pid_file()).expect("pid file");
    assert!(
        text.chars().all(|ch| ch.is_ascii_digit()),
        "pid file holds {text:?}"
    );
    let pid: i32 = text.parse().expect("pid");
    assert_eq!(c.state()["pid"], pid);
    // The init's parent is gone (rt exited): it is a live process of its own.
    assert!(procfs::start_time(pid).is_some());
    assert_eq!(
        procfs::status_field(&procfs::read(&format!("/proc/{pid}/status")), "NSpid")
            .split_whitespace()
            .nth(1),
        Some("1")
    );
}

#[test]
fn state_document_fields() {
    let mut c = Container::sleeper();
    c.set(
        "/annotations",
        json!({"org.example.key": "value", "another": "one"}),
    );
    let pid = c.start_ok();
    let st = c.state();
    let keys: Vec<&str> = st
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for k in ["ociVersion", "id", "status", "pid", "bundle", "annotations"] {
        assert!(keys.contains(&k), "state lacks {k}: {st}");
    }
    assert!(
        st["ociVersion"]
            .as_str()
            .expect("ociVersion")
            .starts_with("1."),
        "{st}"
    );
    assert_eq!(st["id"], c.id.as_str());
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["bundle"], c.bundle().to_str().expect("utf-8"));
    assert_eq!(
        st["annotations"],
        json!({"org.example.key": "value", "another": "one"})
    );
}

#[test]
fn relative_bundle_is_recorded_absolute() {
    let c = Container::sleeper();
    let mut cmd = c.command(&["create", "--bundle", "bundle", "--pid-file", "pid", &c.id]);
    cmd.current_dir(c.scratch());
    c.launch(cmd).ok();
    assert_eq!(c.state()["bundle"], c.bundle().to_str().expect("utf-8"));
}

#[test]
fn state_outlives_each_command() {
    // Every rt command is a process of its own: what `create` learnt must be
    // on disk for `state`, `start`, `kill`, `delete` run later.
    let c = Container::sleeper();
    let pid = c.create_ok();
    let dir = c.state_root().join(&c.id);
    assert!(dir.is_dir(), "no state directory {}", dir.display());
    for _ in 0..3 {
        assert_eq!(c.state()["pid"], pid);
    }
    c.start().ok();
    assert_eq!(c.status(), "running");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
    assert!(!dir.exists());
}

/// The hierarchies that must hold the container: the memory, pids and
/// freezer controllers on a v1 or hybrid host, the one tree on cgroup v2.
fn controller_dirs(c: &Container) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let roots: Vec<PathBuf> = if base.join("cgroup.controllers").exists() {
        vec![base.to_path_buf()]
    } else {
        ["memory", "pids", "freezer"]
            .iter()
            .map(|ctl| base.join(ctl))
            .collect()
    };
    roots
        .into_iter()
        .map(|r| r.join("rt-test").join(c.cgroup_name()))
        .collect()
}

#[test]
fn init_is_in_its_cgroups_until_delete() {
    let c = Container::sleeper();
    let pid = c.start_ok();
    for dir in controller_dirs(&c) {
        let procs = procfs::read(&dir.join("cgroup.procs").display().to_string());
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}: {procs:?}",
            dir.display()
        );
    }
    c.rt(&["delete", "--force", &c.id]).ok();
    assert_eq!(residue::cgroup_dirs(&c.cgroup_name()), Vec::<String>::new());
}

#[test]
fn failed_create_leaves_nothing() {
    let c = Container::new(&["/no/such/program"]);
    c.create().fails_with("/no/such/program");
    assert!(!c.state_root().join(&c.id).exists());
    // A live init would keep its cgroup busy: no cgroup, no init.
    assert_eq!(residue::cgroup_dirs(&c.cgroup_name()), Vec::<String>::new());
    assert!(!c.pid_file().exists(), "a failed create wrote the pid file");
    assert_eq!(
        residue::processes_of(&c.id, &c.cgroup_name()),
        Vec::<i32>::new()
    );
}

#[test]
fn residue_check_sees_leftovers() {
    // The guard of every test relies on this check: show it is not blind.
    let c = Container::sleeper();
    let pid = c.start_ok();
    let tracked = [residue::Tracked {
        pid,
        start: procfs::start_time(pid),
    }];
    let found = residue::problems(
        &c.id,
        &c.state_root().join(&c.id),
        &c.cgroup_name(),
        c.scratch(),
        &tracked,
    );
    assert!(
        found.iter().any(|p| p.starts_with("state directory")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("cgroup /sys/fs/cgroup/")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p == &format!("process {pid} is still alive")),
        "{found:?}"
    );
    // Unknown pids are found by their cgroup, or by rt's command line.
    assert_eq!(residue::processes_of(&c.id, &c.cgroup_name()), [pid]);
    let created = c.sibling(&["sleep", "1000"]);
    let init = created.create_ok();
    assert_eq!(
        residue::processes_of(&created.id, "not-its-cgroup"),
        [init],
        "pre-exec init found by its command line"
    );
}

/// `--log` with `--log-format json` gets runc's shape: one JSON object per
/// line with level, msg and time, which containerd's shim parses.
#[test]
fn log_file_holds_json_lines() {
    let c = Container::sleeper();
    let log = c.scratch().join("log.json");
    let missing = format!("{}-missing", c.id);
    c.rt(&[
        "--log".as_ref(),
        log.as_os_str(),
        "--log-format".as_ref(),
        "json".as_ref(),
        "state".as_ref(),
        missing.as_ref(),
    ])
    .fails_with("does not exist");
    let text = fs::read_to_string(&log).expect("read log");
    let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"].as_str().unwrap_or("").contains(&missing),
        "{text}"
    );
}

/// A fifo as `--log` is opened once: a reader that takes what rt writes and
/// leaves must not leave rt blocked on a second open.
#[test]
fn log_fifo_is_opened_once() {
    let c = Container::sleeper();
    let fifo = c.scratch().join("log.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).expect("read fifo"))
    };
    c.rt(&[
        "--log".as_ref(),
        fifo.as_os_str(),
        "state".as_ref(),
        "no-such-container".as_ref(),
    ])
    .fails_with("does not exist");
    let text = reader.join().expect("reader thread");
    assert!(text.contains("no-such-container"), "{text}");
}

/// The systemd cgroup driver on a host without systemd (this one): one
/// clear line, nothing made. Its behaviour with systemd is tested in a VM
/// that boots systemd (`just test-systemd`).
#[test]
fn systemd_driver_without_systemd_says_so() {
    let mut c = Container::sleeper();
    let unit = format!("system.slice:rt:{}", c.id);
    c.set("/linux/cgroupsPath", unit.as_str());
    c.create_with(&["--systemd-cgroup"])
        .fails_with("the systemd cgroup driver needs systemd, which is not running on this host");
    assert!(!c.state_root().join(&c.id).exists());
    // The systemd form without the driver is not taken for a path.
    c.create()
        .fails_with("it needs the systemd cgroup driver (--systemd-cgroup)");
    assert!(!c.state_root().join(&c.id).exists());
}

/// `list --format json` and `state` write runc's fields in runc's order:
/// scripts (runc's own tests among them) match the text.
#[test]
fn list_and_state_fields_are_in_runcs_order() {
    let mut c = Container::sleeper();
    c.set("/annotations", json!({"org.example.key": "value"}));
    c.create_ok();
    let want = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "annotations",
        "owner",
    ];
    let out = c.rt(&["list", "--format", "json"]).ok();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).expect("list is JSON");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    assert_eq!(keys(&list[0]), want, "{out}");
    assert_eq!(keys(&c.state()), want);
}

/// runc records the bundle as its working directory in the bundle reads
/// (Go's os.Getwd): the caller's $PWD when that names the bundle, so
/// `list` shows the path the caller used, else the physical path.
#[test]
fn bundle_is_recorded_as_runc_records_it() {
    let c = Container::sleeper();
    let link = c.scratch().join("via-link");
    std::os::unix::fs::symlink(c.scratch(), &link).expect("symlink");
    let logical = link.join("bundle");
    // No --bundle: the bundle is the working directory, named by $PWD.
    let mut cmd = c.command(&[
        "create".as_ref(),
        "--pid-file".as_ref(),
        c.pid_file().as_os_str(),
        c.id.as_ref(),
    ]);
    cmd.current_dir(&logical).env("PWD", &logical);
    c.launch(cmd).ok();
    assert_eq!(c.state()["bundle"], logical.to_str().expect("utf-8"));
    let out = c.rt(&["list"]).ok();
    assert!(
        out.stdout.contains(logical.to_str().expect("utf-8")),
        "{out}"
    );

    // A --bundle elsewhere than $PWD: the physical path.
    let other = c.sibling(&["sleep", "1000"]);
    let link = other.scratch().join("via-link");
    std::os::unix::fs::symlink(other.scratch(), &link).expect("symlink");
    let mut cmd = other.command(&[
        "create".as_ref(),
        "--bundle".as_ref(),
        link.join("bundle").as_os_str(),
        "--pid-file".as_ref(),
        other.pid_file().as_os_str(),
        other.id.as_ref(),
    ]);
    cmd.current_dir("/").env("PWD", "/");
    other.launch(cmd).ok();
    let physical = fs::canonicalize(other.bundle()).expect("canonicalize");
    assert_eq!(other.state()["bundle"], physical.to_str().expect("utf-8"));
}

/// The `--debug` lines tools grep for: runc's names for the same steps
/// (its tests look for them), on stderr or in `--log` as text or JSON.
#[test]
fn debug_lines_name_the_steps_as_runc_does() {
    let init_lines = [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
    ];
    let c = Container::new(&["true"]);
    let out = c.launch(c.launch_command("run", &["--debug"])).ok();
    assert!(out.stderr.contains("level=debug"), "{out}");
    for want in init_lines {
        assert!(out.stderr.contains(want), "no {want:?}:\n{out}");
    }
    for format in ["text", "json"] {
        let log = c.scratch().join(format!("debug-{format}.log"));
        let mut cmd = c.command(&[
            "--debug".as_ref(),
            "--log".as_ref(),
            log.as_os_str(),
            "--log-format".as_ref(),
            format.as_ref(),
        ]);
        cmd.args(["run", "--bundle"]).arg(c.bundle()).arg(&c.id);
        let out = c.launch(cmd).ok();
        assert!(!out.stderr.contains("level=debug"), "{out}");
        let text = fs::read_to_string(&log).expect("read log");
        let level = match format {
            "json" => "\"level\":\"debug\"",
            _ => "level=debug",
        };
        assert!(text.contains(level), "{text}");
        for want in init_lines {
            assert!(
                text.contains(want),
                "no {want:?} in the {format} log:\n{text}"
            );
        }
    }

    let c = Container::sleeper();
    c.start_ok();
    let out = c.rt(&["--debug", "exec", &c.id, "true"]).ok();
    for want in [
        "nsexec container setup",
        "child process in init()",
        "setns_init: about to exec",
    ] {
        assert!(out.stderr.contains(want), "no {want:?}:\n{out}");
    }
}

/// "seccomp filter flags: N" names the flags passed to seccomp(2), as
/// runc's line does: TSYNC is not passed (one thread installs the filter),
/// no `flags` means SPEC_ALLOW.
#[test]
fn debug_line_names_the_seccomp_filter_flags() {
    for (flags, want) in [
        (Some(json!(["SECCOMP_FILTER_FLAG_LOG"])), 2),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
            ])),
            4,
        ),
        (Some(json!([])), 0),
        (None, 4),
    ] {
        let mut c = Container::new(&["true"]);
        let mut profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]});
        if let Some(f) = &flags {
            profile["flags"] = f.clone();
        }
        c.set("/linux/seccomp", profile);
        let out = c.launch(c.launch_command("run", &["--debug"])).ok();
        let line = format!("msg=\"seccomp filter flags: {want}\"");
        assert!(out.stderr.contains(&line), "{flags:?}: no {line}:\n{out}");
    }
}

/// execCPUAffinity.initial applies to an exec'd process while rt sets it
/// up (the debug line shows it, as runc's does), final from then on.
#[test]
fn exec_cpu_affinity_initial_then_final() {
    let online = fs::read_to_string("/sys/devices/system/cpu/online").expect("online cpus");
    let last: u32 = online
        .trim()
        .rsplit(['-', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a cpu number");
    assert!(last >= 1, "needs two CPUs, this host has {online}");
    let mut c = Container::sleeper();
    c.set(
        "/process/execCPUAffinity",
        json!({"initial": last.to_string(), "final": "0"}),
    );
    c.start_ok();
    let out = c
        .rt(&[
            "--debug",
            "exec",
            &c.id,
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ])
        .ok();
    // runc's words, which its tests match: "...: affinity: 0x2".
    let mask = format!("exec: affinity: {:#x}", 1u64 << last);
    assert!(out.stderr.contains(&mask), "no {mask:?}:\n{out}");
    assert_eq!(out.stdout.trim(), "Cpus_allowed_list:\t0", "{out}");
}

/// Issue 19: the mount template's pin (`/run/rt-mntns/mnt`) takes on a
/// host whose /run is shared with slaves in other mount namespaces, as a
/// systemd host's is. The kernel refuses to propagate a mount namespace's
/// file, so a pin right on such a mount failed (EINVAL) and every
/// container fell back to copying the host's mount table. Here, in a mount
/// namespace of the test's own: every mount shared, a fresh /run, and a
/// slave copy of it all held by another process while the container runs.
#[test]
fn the_mount_template_is_pinned_where_run_has_slaves_elsewhere() {
    let c = Container::new(&["true"]);
    let ns = crate::common::PrivateMountNs::enter(&c.rootfs());
    let shared = nix::mount::MsFlags::MS_SHARED | nix::mount::MsFlags::MS_REC;
    nix::mount::mount(None::<&str>, "/", None::<&str>, shared, None::<&str>)
        .expect("share the test's mounts");
    nix::mount::mount(
        Some("rt-test-run"),
        "/run",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("a fresh /run");
    let mut slave = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "slave", "sleep", "60"])
        .spawn()
        .expect("a slave mount namespace");
    let slave_ns = format!("/proc/{}/ns/mnt", slave.id());
    crate::common::wait_for("the slave mount namespace", || {
        let own = fs::read_link("/proc/thread-self/ns/mnt").ok()?;
        (fs::read_link(&slave_ns).ok()? != own).then_some(())
    });
    let out = c.run();
    let table = ns.mounts();
    let _ = slave.kill();
    let _ = slave.wait();
    out.ok();
    let pinned = procfs::mountinfo(&table)
        .into_iter()
        .any(|m| m.mount_point == "/run/rt-mntns/mnt" && m.fstype == "nsfs");
    assert!(pinned, "no mount template pinned:\n{table}");
}
