//! The six OCI hooks: where each runs, what it sees, and what its failure
//! does. Each hook records its stdin (the state), its mount namespace and
//! its arguments into files the test reads.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{procfs, sh, Container};
use serde_json::{json, Value};

/// A hook running the host's sh with `script`; `$0` is `argv0`.
fn hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["hook-argv0", "-c", script], "env": ["HOOK_ENV=set"]})
}

/// A hook that records state, mount namespace, argv0 and env under `dir/name.*`.
fn recorder(dir: &Path, name: &str) -> Value {
    let base = dir.join(name);
    let b = base.display();
    hook(&format!(
        "cat > {b}.state; readlink /proc/self/ns/mnt > {b}.mnt; echo \"$0\" > {b}.env; /usr/bin/env >> {b}.env"
    ))
}

fn read_state(dir: &Path, name: &str) -> Value {
    let text = fs::read_to_string(dir.join(format!("{name}.state")))
        .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} hook got no state JSON ({e}): {text:?}"))
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn record_dir(c: &Container) -> PathBuf {
    let d = c.scratch().join("hooks");
    fs::create_dir_all(&d).expect("hooks dir");
    d
}

#[test]
fn every_hook_runs_where_the_spec_says_with_the_state() {
    let mut c = Container::sh("test -f /started-hook && echo saw-start-hook; sleep 1000");
    let dir = record_dir(&c);
    c.set("/root/readonly", false);
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        c.push(&format!("/hooks/{name}"), recorder(&dir, name));
    }
    // startContainer runs inside the container: its path and files are the
    // container's.
    c.push(
        "/hooks/startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "cat > /started-hook"]}),
    );
    let pid = c.create_ok();
    let host_mnt = procfs::ns_link("self", "mnt");
    let container_mnt = procfs::ns_link(&pid.to_string(), "mnt");
    // The environment is built (lifecycle step 2) when these run: the
    // spec's "created" (see create.rs).
    for name in ["prestart", "createRuntime", "createContainer"] {
        let st = read_state(&dir, name);
        assert_eq!(st["status"], "created", "{name}: {st}");
        assert_eq!(st["id"], c.id.as_str());
        assert_eq!(st["pid"], pid, "{name}: {st}");
        assert_eq!(st["bundle"], c.bundle().display().to_string());
    }
    assert_eq!(
        read(&dir, "prestart.mnt"),
        host_mnt,
        "prestart runs in the runtime namespace"
    );
    assert_eq!(
        read(&dir, "createRuntime.mnt"),
        host_mnt,
        "createRuntime runs in the runtime namespace"
    );
    assert_eq!(
        read(&dir, "createContainer.mnt"),
        container_mnt,
        "createContainer runs in the container namespace"
    );
    let env = read(&dir, "prestart.env");
    assert!(
        env.starts_with("hook-argv0\n"),
        "args[0] is not argv0: {env}"
    );
    assert!(
        env.contains("HOOK_ENV=set"),
        "the hook's env is missing: {env}"
    );
    assert!(
        !env.contains("HOME="),
        "rt's own environment leaked into the hook: {env}"
    );
    assert!(
        !dir.join("poststart.state").exists(),
        "poststart before start"
    );

    c.start().ok();
    c.wait_output("saw-start-hook");
    let started: Value = serde_json::from_str(
        &fs::read_to_string(c.rootfs().join("started-hook")).expect("startContainer ran"),
    )
    .expect("startContainer state");
    assert_eq!(started["status"], "created");
    assert_eq!(read_state(&dir, "poststart")["status"], "running");
    assert!(
        !dir.join("poststop.state").exists(),
        "poststop before delete"
    );

    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
    let st = read_state(&dir, "poststop");
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["id"], c.id.as_str());
}

#[test]
fn failing_create_runtime_hook_fails_create_and_cleans_up() {
    let mut c = Container::new(&["true"]);
    c.push("/hooks/createRuntime", hook("exit 3"));
    let out = c.create();
    out.fails_with("error running createRuntime hook #0: error running hook: exit status 3, stdout: , stderr: ");
    assert!(
        !c.state_root().join(&c.id).exists(),
        "state dir left behind"
    );
}

/// createContainer hooks run in the rootfs, as runc runs them: relative
/// paths name the container's files (runc's hooks_so.bats binds a library
/// to ./lib/...).
#[test]
fn create_container_hook_runs_in_the_rootfs() {
    let mut c = Container::sh("cat /made-by-hook");
    let dir = record_dir(&c);
    let cwd = dir.join("cwd");
    c.push(
        "/hooks/createContainer",
        hook(&format!(
            "pwd > {}; echo hook > ./made-by-hook",
            cwd.display()
        )),
    );
    assert_eq!(c.run().ok().stdout, "hook\n");
    assert_eq!(
        Path::new(&read(&dir, "cwd")),
        c.rootfs().canonicalize().expect("rootfs")
    );
}

/// runc's words (its tests and clients match them): "error running <kind>
/// hook #<n>: " (runc ≥ 1.2), n counting each kind's hooks from 0, then
/// "error running hook: " (runc 1.1's), the status as Go prints it and the
/// hook's output, which is collected (on one line), not passed on — a hook
/// that succeeds says nothing.
#[test]
fn hook_failures_read_as_runcs() {
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let mut c = Container::new(&["true"]);
        c.push(&format!("/hooks/{kind}"), hook("echo quiet; echo hush >&2"));
        c.push(
            &format!("/hooks/{kind}"),
            hook("echo out1; echo out2; echo err >&2; exit 4"),
        );
        let line = c.create().fails_with(&format!(
            "error running {kind} hook #1: error running hook: exit status 4, stdout: out1\\nout2\\n, stderr: err\\n"
        ));
        assert!(!line.contains("quiet") && !line.contains("hush"), "{line}");
    }
    let mut c = Container::new(&["true"]);
    c.push("/hooks/createContainer", hook("kill -KILL $$"));
    c.create()
        .fails_with("error running createContainer hook #0: error running hook: signal: killed, stdout: , stderr: ");
    let mut c = Container::new(&["true"]);
    c.push("/hooks/prestart", json!({"path": "/no/such/hook"}));
    c.create().fails_with(
        "error running prestart hook #0: fork/exec /no/such/hook: no such file or directory",
    );
    // A successful hook's output goes nowhere.
    let mut c = Container::new(&["echo", "container-output"]);
    c.push("/hooks/prestart", hook("echo prestart-output"));
    let out = c.run().ok();
    assert_eq!(out.stdout, "container-output\n", "{out}");
}

#[test]
fn hook_timeout_kills_the_hook_and_fails() {
    let mut c = Container::new(&["true"]);
    let mut h = hook("sleep 30");
    h["timeout"] = 1.into();
    c.push("/hooks/prestart", h);
    let t = std::time::Instant::now();
    c.create()
        .fails_with("error running prestart hook #0: hook ran past specified timeout of 1.0s");
    assert!(
        t.elapsed().as_secs() < 10,
        "the hook was not killed at its timeout"
    );
}

/// A hook that leaves a process holding its output open does not hold up
/// rt: what the hook wrote before it exited is all there is to read.
#[test]
fn a_hook_that_leaves_a_process_behind_does_not_hang() {
    let mut c = Container::new(&["true"]);
    let pid_file = c.scratch().join("left.pid");
    c.push(
        "/hooks/prestart",
        hook(&format!(
            "sleep 30 & echo $! > {}; echo left-one; exit 2",
            pid_file.display()
        )),
    );
    let t = std::time::Instant::now();
    let out = c.create();
    let took = t.elapsed();
    if let Some(pid) = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    out.fails_with(
        "error running prestart hook #0: error running hook: exit status 2, stdout: left-one\\n",
    );
    assert!(took.as_secs() < 10, "rt waited for the hook's child");
}

/// runc 1.6's rule and runtime-spec 1.3's: a failed poststart hook fails
/// `start` (and `run`), and the container is stopped; poststop failures
/// are only logged.
#[test]
fn failing_poststart_stops_the_container_poststop_is_only_logged() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.push("/hooks/poststart", hook("true"));
    c.push("/hooks/poststart", hook("exit 1"));
    c.push("/hooks/poststop", hook("exit 1"));
    c.create_ok();
    c.start().fails_with(
        "error running poststart hook #1: error running hook: exit status 1, stdout: , stderr: ",
    );
    c.wait_status("stopped");
    c.delete().ok();

    let mut c = Container::new(&["echo", "Hello World"]);
    c.push("/hooks/poststart", hook("exit 1"));
    let out = c.run();
    assert_ne!(out.code, 0, "{out}");
    out.fails_with("error running poststart hook #0: error running hook: exit status 1");
}

/// startContainer hooks without an `env` of their own get the process's
/// environment, HOME included (runc ≥ 1.2); with one, exactly that.
#[test]
fn start_container_hooks_inherit_the_process_environment() {
    let mut c = Container::new(&["true"]);
    c.set("/root/readonly", false);
    c.set("/process/env", json!(["ONE=two", "PATH=/bin:/usr/bin"]));
    c.push(
        "/hooks/startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "env > /inherited"]}),
    );
    c.push(
        "/hooks/startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "env > /own"], "env": ["MINE=yes"]}),
    );
    c.run().ok();
    let env = |f: &str| {
        let text = fs::read_to_string(c.rootfs().join(f)).expect("the hook ran");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(
        env("inherited"),
        ["HOME=/root", "ONE=two", "PATH=/bin:/usr/bin"]
    );
    // (busybox sh sets a PATH of its own when it has none)
    let own = env("own");
    assert!(
        own.contains(&"MINE=yes".to_string())
            && !own
                .iter()
                .any(|l| l.starts_with("ONE=") || l.starts_with("HOME=")),
        "{own:?}"
    );
}

/// runc 1.6 (#5186): poststart runs once the user program runs — the
/// container's process is no longer rt's init but the program.
#[test]
fn poststart_runs_once_the_user_program_runs() {
    let mut c = Container::new(&["sleep", "1000"]);
    let dir = record_dir(&c);
    let exe = dir.join("exe");
    c.push(
        "/hooks/poststart",
        hook(&format!(
            "pid=$(grep -o '\"pid\":[0-9]*' | cut -d: -f2); readlink /proc/$pid/exe > {}",
            exe.display()
        )),
    );
    c.create_ok();
    c.start().ok();
    let seen = read(&dir, "exe");
    assert!(
        seen.starts_with(&c.rootfs().display().to_string()) || seen.ends_with("/busybox"),
        "poststart saw {seen:?}, not the container's program"
    );
}

/// runtime-spec 1.3 and runc 1.6: a failing poststart hook fails `start`
/// with runc's words, and the container is killed (it stays, stopped,
/// until `delete`).
#[test]
fn failing_poststart_fails_start_and_kills_the_container() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.push("/hooks/poststart", hook("true"));
    c.push("/hooks/poststart", hook("exit 1"));
    c.create_ok();
    c.start()
        .fails_with("error running poststart hook #1: error running hook: exit status 1");
    assert_eq!(
        c.status(),
        "stopped",
        "start returned before the container stopped"
    );
    c.delete().ok();
}

/// `run` (attached or not) of a container whose poststart hook fails
/// fails, and removes the container, as runc does.
#[test]
fn failing_poststart_fails_run_and_removes_the_container() {
    for detach in [false, true] {
        let mut c = Container::new(&["sleep", "1000"]);
        c.push("/hooks/poststart", hook("exit 2"));
        let out = if detach { c.run_with(&["-d"]) } else { c.run() };
        out.fails_with("error running poststart hook #0:");
        assert!(
            !c.state_root().join(&c.id).exists(),
            "run -d={detach}: the container is left behind"
        );
    }
}

#[test]
fn failing_start_container_hook_stops_the_user_process() {
    let mut c = Container::new(&sh("echo user-process-ran"));
    c.set("/root/readonly", false);
    c.push(
        "/hooks/startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}),
    );
    c.create_ok();
    c.start().ok();
    c.wait_status("stopped");
    let out = c.output();
    assert!(
        !out.stdout.contains("user-process-ran"),
        "user process ran after a failed startContainer hook:\n{out}"
    );
    assert!(
        out.stderr
            .contains("error running startContainer hook #0: error running hook: exit status 5"),
        "no error reported:\n{out}"
    );
}

/// Issue 16, F8: rt never joins a container's namespace itself. With the
/// pid namespace of another container given by path, and a time namespace
/// joined by path or made new with offsets, prestart and createRuntime
/// hooks (host root, every capability) run in rt's own pid and time
/// namespaces — not where the other container could see, signal or trace
/// them — while the container's process is in the namespaces it asked for.
#[test]
fn runtime_hooks_stay_in_rts_namespaces_when_the_container_joins_others() {
    let mut owner = Container::sleeper();
    owner.add_namespace("time", None);
    let owner_pid = owner.start_ok().to_string();
    let ns = |pid: &str, n: &str| procfs::ns_link(pid, n);
    for time in ["joined", "new"] {
        let mut c = owner.sibling(&["sleep", "1000"]);
        let dir = record_dir(&c);
        c.add_namespace("pid", Some(&format!("/proc/{owner_pid}/ns/pid")));
        match time {
            "joined" => c.add_namespace("time", Some(&format!("/proc/{owner_pid}/ns/time"))),
            _ => c.add_namespace("time", None).set(
                "/linux/timeOffsets",
                json!({"monotonic": {"secs": 86400, "nanosecs": 0}}),
            ),
        };
        for name in ["prestart", "createRuntime"] {
            let b = dir.join(name);
            let b = b.display();
            c.push(
                &format!("/hooks/{name}"),
                hook(&format!(
                    "readlink /proc/self/ns/pid > {b}.pid; readlink /proc/self/ns/time > {b}.time"
                )),
            );
        }
        let pid = c.create_ok().to_string();
        for name in ["prestart", "createRuntime"] {
            assert_eq!(
                read(&dir, &format!("{name}.pid")),
                ns("self", "pid"),
                "{name} ({time} time ns) ran in the container's pid namespace"
            );
            assert_eq!(
                read(&dir, &format!("{name}.time")),
                ns("self", "time"),
                "{name} ({time} time ns) ran in the container's time namespace"
            );
        }
        assert_eq!(
            ns(&pid, "pid"),
            ns(&owner_pid, "pid"),
            "the container is not in the joined pid namespace"
        );
        if time == "joined" {
            assert_eq!(
                ns(&pid, "time"),
                ns(&owner_pid, "time"),
                "the container is not in the joined time namespace"
            );
        } else {
            assert_ne!(
                ns(&pid, "time"),
                ns("self", "time"),
                "the container has no time namespace of its own"
            );
        }
    }
}
