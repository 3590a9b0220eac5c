//! Fault injection (cargo feature `fault-injection`): rt dies (`kill`) or
//! fails (`error`) at every named point of create, start and delete, and of
//! the init pipeline. Whatever is left half-made, `rt state` and `rt list`
//! must still answer clearly, and `rt delete --force` must remove all of it.
//!
//! The points are read from rt's source, not listed here, so a new step or
//! point is covered (or fails this test for want of a scenario) the day it
//! is added.

// The shared harness: this binary uses part of it.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod leaks;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use common::{Container, Outcome};

/// Every fault point in rt's source: `steps.enter(Step::X)` in the init
/// pipeline is `init:<X's name>`, `fault::point("p")` anywhere is `p`.
fn points() -> Vec<String> {
    let mut found = BTreeSet::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found.into_iter().collect()
}

fn scan(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("src/fault.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for rest in text.split("fault::point(\"").skip(1) {
            if let Some((name, _)) = rest.split_once('"') {
                found.insert(name.to_string());
            }
        }
        // Init steps are entered as `steps.enter(Step::Variant)`; their
        // point is `init:<name>`.
        for rest in text.split("steps.enter(Step::").skip(1) {
            let variant: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            let step = rt::init::Step::ALL
                .into_iter()
                .find(|s| format!("{s:?}") == variant)
                .unwrap_or_else(|| panic!("{}: unknown step {variant}", path.display()));
            found.insert(format!("init:{}", step.name()));
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Kill,
    Error,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Error => "error",
        }
    }
}

/// A container on which `point` runs: a seccomp filter (no seccomp step
/// runs without one), installed early (no_new_privs off) for the
/// `seccomp-early` point and late otherwise; a marked environment.
fn container(point: &str) -> Container {
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    c.set("/process/noNewPrivileges", point != "init:seccomp-early");
    leaks::mark(&mut c);
    c
}

/// `rt <args>` with the fault armed.
fn faulty(c: &Container, fault: &str, args: &[&str]) -> Outcome {
    let mut cmd = leaks::marked(c, c.command(args));
    cmd.env("RT_FAULT", fault);
    common::run_with_deadline(cmd, &c.scratch().join(format!("fault-{}", args[0])))
}

/// Check that a host-side fault fired in the command it was armed for.
fn host_fault_fired(out: &Outcome, point: &str, action: Action) {
    match action {
        Action::Kill => assert_eq!(out.code, 128 + 9, "rt was not killed at {point}:\n{out}"),
        Action::Error => {
            out.fails_with(&format!("injected fault at {point}"));
        }
    }
}

/// Arm `point` with `action` in the command it belongs to, check that it
/// fired, then check the answers about, and the removal of, what is left.
fn inject(point: &str, action: Action) {
    let c = container(point);
    let fault = format!("{point}:{}", action.name());
    let (phase, _) = point.split_once(':').expect("point is phase:name");
    match phase {
        "init" => init_fault(&c, point, &fault, action),
        "create" => {
            let mut cmd = leaks::marked(&c, c.launch_command("create", &[]));
            cmd.env("RT_FAULT", &fault);
            host_fault_fired(&c.launch(cmd), point, action);
        }
        "start" => {
            c.create_ok();
            host_fault_fired(&faulty(&c, &fault, &["start", &c.id]), point, action);
        }
        "delete" => {
            c.start_ok();
            host_fault_fired(&faulty(&c, &fault, &["delete", "--force", &c.id]), point, action);
        }
        other => panic!("no scenario for fault point {point}: teach runtime-tests/faults.rs when `{other}` runs"),
    }
    answers_are_clear(&c, &fault);
    // A start now must answer at once, never wait for an init that is past
    // its gate or gone (it may also just work: created is created).
    let again = c.start();
    if again.code != 0 {
        again.fails_with("");
    }
    let init = leaks::recorded_init(&c);
    c.rt(&["delete", "--force", &c.id]).ok();
    leaks::assert_clean(&fault, &leaks::residue(&c, init.as_slice()));
    c.rt(&["state", &c.id]).fails_with("does not exist");
}

/// An init step: before Ready its fault fails `create`; after it, `create`
/// succeeds and the fault hits the init while it waits for or runs `start`.
fn init_fault(c: &Container, point: &str, fault: &str, action: Action) {
    let mut cmd = leaks::marked(c, c.launch_command("create", &[]));
    cmd.env("RT_FAULT", fault);
    let out = c.launch(cmd);
    if out.code != 0 {
        // A killed init is seen by whatever create does next (move it to
        // its cgroup, write its id maps, talk to it): any one line will do.
        let why = match action {
            Action::Kill => String::new(),
            Action::Error => format!("injected fault at {point}"),
        };
        out.fails_with(&why);
        return;
    }
    // The init wrote Ready; the fault comes while it waits for start or
    // after. `start` may lose the race with the init's death: then it must
    // say so in one line.
    let start = c.start();
    if start.code != 0 {
        start.fails_with(&c.id);
    }
    c.wait_status("stopped");
    if let Action::Error = action {
        let stderr = c.output().stderr;
        assert!(
            // Past Ready the init prints the bare message, as runc's does.
            stderr
                .lines()
                .any(|l| l == format!("injected fault at {point}")),
            "the init did not fail at {point}: {stderr:?}"
        );
    }
}

/// `state` and `list` about a half-made container: no panic, one-line
/// errors, and a status that matches the process it names.
fn answers_are_clear(c: &Container, fault: &str) {
    leaks::checked_status(c, fault);
    let listed = c.state_root().join(&c.id).exists();
    let quiet = c.rt(&["list", "-q"]).ok();
    assert_eq!(
        quiet.lines().contains(&c.id.as_str()),
        listed,
        "{fault}: list -q:\n{quiet}"
    );
    assert_eq!(quiet.stderr, "", "{fault}");
    let table = c.rt(&["list"]).ok();
    assert_eq!(table.stderr, "", "{fault}");
    let json = c.rt(&["list", "--format", "json"]).ok();
    let docs: Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("{fault}: list json ({e}):\n{json}"));
    assert!(docs.is_array(), "{fault}: {docs}");
}

fn inject_all(phases: &[&str], action: Action) {
    let points: Vec<String> = points()
        .into_iter()
        .filter(|p| phases.iter().any(|ph| p.starts_with(&format!("{ph}:"))))
        .collect();
    assert!(!points.is_empty(), "no fault point found for {phases:?}");
    for p in &points {
        inject(p, action);
    }
    eprintln!(
        "{} points with {}: {}",
        points.len(),
        action.name(),
        points.join(" ")
    );
}

#[test]
fn points_are_found() {
    let all = points();
    for known in [
        "init:wait-parent",
        "init:ready",
        "init:exec",
        "create:claimed",
        "start:released",
        "delete:killed",
    ] {
        assert!(
            all.iter().any(|p| p == known),
            "{known} not found in {all:?}"
        );
    }
}

#[test]
fn init_steps_killed() {
    inject_all(&["init"], Action::Kill);
}

#[test]
fn init_steps_fail() {
    inject_all(&["init"], Action::Error);
}

/// Every point outside the init pipeline, whatever its command.
fn host_phases() -> Vec<String> {
    let phases: BTreeSet<String> = points()
        .iter()
        .filter_map(|p| p.split_once(':'))
        .map(|(ph, _)| ph.to_string())
        // Reached by rootless containers only: see
        // a_rootless_init_that_runs_after_its_uid_map_still_gets_its_gid_map.
        .filter(|ph| ph != "init" && ph != "rootless")
        .collect();
    phases.into_iter().collect()
}

#[test]
fn host_points_killed() {
    let phases = host_phases();
    inject_all(
        &phases.iter().map(String::as_str).collect::<Vec<_>>(),
        Action::Kill,
    );
}

#[test]
fn host_points_fail() {
    let phases = host_phases();
    inject_all(
        &phases.iter().map(String::as_str).collect::<Vec<_>>(),
        Action::Error,
    );
}

/// Issue 16, F1b, the audit of an `rt exec` process: once it is in the
/// container's pid namespace (where a container process with
/// CAP_SYS_PTRACE can open its /proc/<pid>/fd), it holds stdio, the
/// preserved fds and nothing else — no cgroup directory, host /proc,
/// namespace file or log file. It is stopped at its last step (`stop`
/// fault) and read from the host, then let go.
#[test]
fn an_exec_process_in_the_container_holds_no_host_fd() {
    let c = Container::sleeper();
    let init = c.start_ok();
    let log = c.scratch().join("exec.log");
    let mut cmd = c.command(&["--log".as_ref(), log.as_os_str(), "exec".as_ref()]);
    cmd.args(["--preserve-fds", "1", &c.id, "true"]);
    cmd.env("RT_FAULT", "init:exec:stop");
    let passed = c.scratch().join("passed");
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("exec \"$@\" 3>>{}", passed.display()))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("RT_FAULT", "init:exec:stop")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut rt = sh.spawn().expect("spawn rt exec");
    let container_pidns = common::procfs::ns_link(&init.to_string(), "pid");
    // The stopped exec process: a process of the container's pid namespace
    // other than its init, stopped at the fault.
    let pid = common::wait_for("the exec process to stop at its last step", || {
        common::procfs::pids().into_iter().find_map(|pid| {
            let stat = common::procfs::stat(pid)?;
            if pid == init || stat.first()? != "T" {
                return None;
            }
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
            (ns.display().to_string() == container_pidns).then_some(pid)
        })
    });
    let mut held = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        let n: i32 = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .expect("fd number");
        let target = std::fs::read_link(e.path())
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        if n > 3 {
            held.push((n, target));
        }
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    );
    let status = rt.wait().expect("wait for rt exec");
    assert_eq!(
        held,
        vec![],
        "the exec process holds more than stdio and the preserved fd"
    );
    assert_eq!(
        cwd,
        std::path::Path::new("/"),
        "the exec process's working directory"
    );
    assert!(status.success(), "rt exec failed: {status:?}");
}

/// Issue 20, validation before clone: a seccomp profile that does not
/// compile fails `create` before it claims the id — a fault armed at the
/// claim never fires — so it costs no state directory, cgroup or clone.
#[test]
fn a_bad_seccomp_profile_fails_before_anything_is_made() {
    let mut c = Container::new(&["true"]);
    c.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let mut cmd = c.launch_command("create", &[]);
    cmd.env("RT_FAULT", "create:claimed:kill");
    let out = c.launch(cmd);
    assert_ne!(
        out.code,
        128 + 9,
        "create got as far as claiming the id:\n{out}"
    );
    out.fails_with("names must list at least one system call");
    c.rt(&["state", &c.id]).fails_with("does not exist");
}

/// `start` held up right after it released the init (stopped at
/// `start:released`) while the program runs, exits and is reaped, still
/// succeeds: nothing `start` does after the release may need the init
/// (critest saw ESRCH for fast programs; see also lifecycle's
/// `start_of_a_program_that_exits_at_once_succeeds_every_time`).
#[test]
fn start_succeeds_when_the_program_is_gone_before_start_looks_again() {
    let c = Container::new(&["true"]);
    let init = c.create_ok();
    let mut cmd = c.command(&["start", &c.id]);
    cmd.env("RT_FAULT", "start:released:stop")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut rt = cmd.spawn().expect("spawn rt start");
    let rt_pid = rt.id() as i32;
    common::wait_for("rt start to stop after the release", || {
        (common::procfs::stat(rt_pid)?.first()? == "T").then_some(())
    });
    common::wait_for("the init to exit and be reaped", || {
        common::procfs::start_time(init).is_none().then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(rt_pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .expect("continue rt start");
    let status = rt.wait().expect("wait for rt start");
    assert!(status.success(), "rt start failed: {status:?}");
    assert_eq!(c.status(), "stopped");
}

/// A rootless rt writes the init's uid map, then its gid map. An init
/// that first runs between the two (rt stopped there: `stop` fault) saw
/// its euid as 0, took itself for root's, made itself non-dumpable, and
/// the gid map could no longer be opened ("cannot write
/// /proc/<pid>/gid_map: Permission denied", seen under load). `create`
/// now tells the init, before clone, that a rootless rt writes its maps.
/// rt and its init share one CPU here, so that the init runs late.
#[test]
fn a_rootless_init_that_runs_after_its_uid_map_still_gets_its_gid_map() {
    let user = common::rootless::User::new();
    let uid = user.uid;
    let out = std::thread::scope(|s| {
        let run = s.spawn(|| {
            // One CPU for rt and its init: after clone rt goes on to the
            // uid map and stops there before the init first runs.
            let mut one = nix::sched::CpuSet::new();
            one.set(0).expect("cpu 0");
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &one)
                .expect("pin to cpu 0");
            let (_c, _xdg, out) = common::rootless::rootless_wrapped(
                &user,
                &[],
                "id -u",
                false,
                |_| {},
                |mut cmd| {
                    cmd.env("RT_FAULT", "rootless:uid-mapped:stop");
                    cmd
                },
            );
            out
        });
        // rt, the user's, stopped at the fault; then its init asleep on
        // the sync socket, which it reaches only after it decided whether
        // to stay dumpable.
        let state = |pid: i32| -> Option<(String, i32, u32)> {
            let stat = common::procfs::stat(pid)?;
            let owner = std::os::unix::fs::MetadataExt::uid(
                &std::fs::metadata(format!("/proc/{pid}")).ok()?,
            );
            Some((stat.first()?.clone(), stat.get(1)?.parse().ok()?, owner))
        };
        let rt = common::wait_for("rt to stop after the uid map", || {
            common::procfs::pids()
                .into_iter()
                .find(|p| matches!(state(*p), Some((s, _, o)) if s == "T" && o == uid))
        });
        common::wait_for("the init to wait on the sync socket", || {
            common::procfs::pids()
                .into_iter()
                .find(|p| matches!(state(*p), Some((s, pp, _)) if s == "S" && pp == rt))
        });
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(rt),
            nix::sys::signal::Signal::SIGCONT,
        );
        run.join().expect("the rootless run")
    });
    assert_eq!(out.ok().stdout, "0\n");
}

/// Issue 19, mount scaling: an init makes its mount namespace from rt's
/// empty mount template, not as a copy of the caller's (whose every mount
/// the kernel would copy, then setup make a slave and pivot_root detach).
/// The init, stopped once its mounts are made (`stop` fault at the hooks
/// step, before pivot_root; without a pid namespace of its own, which
/// would make it immune to its own SIGSTOP), holds its root, the procfs it
/// sets up with, and the container's mounts below the rootfs — none of the
/// host's other mount points.
#[test]
fn an_init_sets_up_in_a_mount_namespace_without_the_hosts_mounts() {
    let mut c = Container::new(&["true"]);
    c.remove_namespace("pid");
    let mut create = c.launch_command("create", &[]);
    create.env("RT_FAULT", "init:hooks:stop");
    let id = c.id.clone();
    let (table, host) = std::thread::scope(|s| {
        let watcher = s.spawn(move || {
            // The init: a clone of rt, its command line naming the
            // container.
            let init = common::wait_for("the init to stop once its mounts are made", || {
                common::procfs::pids().into_iter().find(|pid| {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let named = cmdline.split(|b| *b == 0).any(|a| a == id.as_bytes());
                    named
                        && common::procfs::stat(*pid)
                            .is_some_and(|s| s.first().map(String::as_str) == Some("T"))
                })
            });
            let table =
                std::fs::read_to_string(format!("/proc/{init}/mountinfo")).unwrap_or_default();
            let host = std::fs::read_to_string("/proc/self/mountinfo").expect("own mountinfo");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init),
                nix::sys::signal::Signal::SIGKILL,
            );
            (table, host)
        });
        let _ = c.launch(create);
        watcher.join().expect("the watcher")
    });
    let rootfs = c.rootfs();
    let points: Vec<String> = common::procfs::mountinfo(&table)
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
    let host_points: BTreeSet<String> = common::procfs::mountinfo(&host)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p != "/" && p != "/proc" && !Path::new(p).starts_with(&rootfs))
        .collect();
    let shown: Vec<&String> = points.iter().filter(|p| host_points.contains(*p)).collect();
    assert!(
        !points.is_empty() && shown.is_empty(),
        "the init's mount namespace holds the host's mounts {shown:?}; its table:\n{table}"
    );
    assert!(
        points.iter().any(|p| Path::new(p) == rootfs),
        "the rootfs is not mounted at its path in the init's namespace:\n{table}"
    );
}
