//! The six OCI hooks: where each runs, what it sees, and what its failure
//! does. Each hook records its stdin (the state), its mount namespace and
//! its arguments into files the test reads.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{procfs, sh, Container};
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
    out.fails_with("error running createRuntime hook #0: /bin/sh: failed with exit status: 3");
    assert!(
        !c.state_root().join(&c.id).exists(),
        "state dir left behind"
    );
}

#[test]
fn failing_create_container_hook_fails_create() {
    let mut c = Container::new(&["true"]);
    c.push("/hooks/createContainer", hook("exit 4"));
    c.create()
        .fails_with("error running createContainer hook #0: /bin/sh: failed with exit status: 4");
}

#[test]
fn hook_timeout_kills_the_hook_and_fails() {
    let mut c = Container::new(&["true"]);
    let mut h = hook("sleep 30");
    h["timeout"] = 1.into();
    c.push("/hooks/prestart", h);
    let t = std::time::Instant::now();
    c.create()
        .fails_with("error running prestart hook #0: /bin/sh: timed out after 1s");
    assert!(
        t.elapsed().as_secs() < 10,
        "the hook was not killed at its timeout"
    );
}

#[test]
fn failing_poststop_is_only_logged() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.push("/hooks/poststop", hook("exit 1"));
    c.create_ok();
    c.start().ok();
    assert_eq!(c.status(), "running");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
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
        .fails_with("error running poststart hook #1: /bin/sh: failed with exit status: 1");
    assert_eq!(c.status(), "stopped");
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
        out.stderr.contains("startContainer hook"),
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
