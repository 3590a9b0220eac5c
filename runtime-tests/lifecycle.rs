//! The container lifecycle as the CLI exposes it: create, start, state,
//! kill, delete, run, list, and the errors of each.

use crate::common::{procfs, residue, Container};

#[test]
fn create_start_kill_delete() {
    let c = Container::sleeper();
    let pid = c.create_ok();
    let st = c.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert!(
        procfs::start_time(pid).is_some(),
        "init {pid} is not running"
    );
    // Not started yet: the init still waits in rt's code, not in sleep.
    assert_ne!(c.proc_file("comm").trim(), "sleep");

    c.start().ok();
    c.wait_exec();
    assert_eq!(c.status(), "running");
    assert_eq!(c.proc_file("comm").trim(), "sleep");

    c.kill("KILL").ok();
    c.wait_status("stopped");
    assert_eq!(c.state()["pid"], 0);
    assert!(procfs::start_time(pid).is_none());

    c.delete().ok();
    c.rt(&["state", &c.id]).fails_with("does not exist");
    assert!(!c.state_root().join(&c.id).exists());
}

#[test]
fn run_returns_exit_code() {
    let c = Container::sh("echo out; echo err >&2; exit 42");
    let out = c.run();
    assert_eq!(out.code, 42, "{out}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    // `run` deletes the container when it exits.
    assert!(!c.state_root().join(&c.id).exists());
}

#[test]
fn run_keep_leaves_the_stopped_container() {
    let c = Container::sh("exit 3");
    let out = c.run_with(&["--keep"]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(c.status(), "stopped");
    assert_ne!(
        residue::cgroup_dirs(&c.cgroup_name()),
        Vec::<String>::new(),
        "--keep removed the cgroups"
    );
    c.delete().ok();
    c.rt(&["state", &c.id]).fails_with("does not exist");
    assert_eq!(residue::cgroup_dirs(&c.cgroup_name()), Vec::<String>::new());
}

#[test]
fn run_reports_death_by_signal() {
    // Init of a pid namespace cannot kill itself (the kernel drops signals
    // it has no handler for), so this container shares the host's.
    let mut c = Container::sh("kill -KILL $$");
    c.remove_namespace("pid");
    assert_eq!(c.run().code, 128 + 9);
}

#[test]
fn run_detach_returns_at_once() {
    let c = Container::sleeper();
    c.run_with(&["--detach"]).ok();
    c.wait_exec();
    assert_eq!(c.status(), "running");
    assert_eq!(c.proc_file("comm").trim(), "sleep");
}

#[test]
fn kill_by_number_and_name() {
    for sig in ["9", "KILL", "SIGKILL", "kill"] {
        let c = Container::sleeper();
        c.start_ok();
        c.kill(sig).ok();
        c.wait_status("stopped");
    }
}

#[test]
fn kill_delivers_the_named_signal_to_a_trap() {
    // SIGUSR1 is 10 on x86_64; any other signal would end the shell without
    // the trap's output (or not at all: init ignores what it does not trap).
    for sig in ["SIGUSR1", "USR1", "usr1", "10"] {
        let c = Container::sh("trap 'echo got-usr1; exit 0' USR1; echo ready; sleep 1000 & wait");
        c.start_ok();
        c.wait_output("ready");
        c.kill(sig).ok();
        c.wait_output("got-usr1");
        c.wait_status("stopped");
    }
}

#[test]
fn kill_all_reaches_every_process() {
    // Init is pid 1 of its namespace and ignores SIGTERM; its children do not.
    let c = Container::sh("sleep 1000 & sleep 1001 & exec sleep 1002");
    let init = c.start_ok();
    let children = wait_children(init, 2);

    c.kill("TERM").ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        children.iter().all(|p| procfs::start_time(*p).is_some()),
        "plain kill reached a child"
    );

    c.rt(&["kill", "--all", &c.id, "TERM"]).ok();
    crate::common::wait_for("children to die", || {
        children
            .iter()
            .all(|p| procfs::start_time(*p).is_none())
            .then_some(())
    });
    assert_eq!(c.status(), "running", "init ignores SIGTERM");

    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    c.wait_status("stopped");
}

/// Host pids of the `n` children of `pid`, once they all exist.
fn wait_children(pid: i32, n: usize) -> Vec<i32> {
    crate::common::wait_for("children", || {
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        let pids: Vec<i32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        (pids.len() == n).then_some(pids)
    })
}

#[test]
fn list_formats() {
    let a = Container::sleeper();
    a.start_ok();
    let b = a.sibling(&["sleep", "1000"]);
    b.create_ok();

    let quiet = a.rt(&["list", "-q"]).ok();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(quiet.lines(), want);

    let table = a.rt(&["list"]).ok();
    let lines = table.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    for (c, status) in [(&a, "running"), (&b, "created")] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&c.id))
            .unwrap_or_else(|| panic!("{} not listed:\n{table}", c.id));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], c.pid().to_string());
        assert_eq!(cols[2], status);
        assert_eq!(cols[3], c.bundle().to_str().unwrap());
        assert_eq!(cols[5], "root");
    }

    let json: serde_json::Value =
        serde_json::from_str(&a.rt(&["list", "--format", "json"]).ok().stdout).expect("list json");
    let docs = json.as_array().expect("array");
    assert_eq!(docs.len(), 2);
    let doc_a = docs
        .iter()
        .find(|d| d["id"] == a.id.as_str())
        .expect("a listed");
    assert_eq!(doc_a["status"], "running");
    assert_eq!(doc_a["pid"], a.pid());
}

#[test]
fn list_of_empty_root() {
    let c = Container::new(&["true"]);
    assert_eq!(c.rt(&["list", "-q"]).ok().stdout, "");
}

#[test]
fn delete_running_needs_force() {
    let c = Container::sleeper();
    let pid = c.start_ok();
    c.delete().fails_with("running");
    assert_eq!(c.status(), "running");
    c.rt(&["delete", "--force", &c.id]).ok();
    assert!(procfs::start_time(pid).is_none());
    assert!(!c.state_root().join(&c.id).exists());
}

#[test]
fn delete_created_without_force() {
    let c = Container::sleeper();
    let pid = c.create_ok();
    c.delete().ok();
    assert!(procfs::start_time(pid).is_none());
}

#[test]
fn delete_force_of_missing_id_succeeds() {
    let c = Container::new(&["true"]);
    let out = c.rt(&["delete", "--force", "no-such-container"]).ok();
    assert_eq!(out.stderr, "");
    c.rt(&["delete", "no-such-container"])
        .fails_with("does not exist");
}

#[test]
fn start_twice_fails() {
    let c = Container::sleeper();
    c.start_ok();
    c.start().fails_with("running");
}

/// Set in the copy of this test binary that runs the start race below.
const REAPER_CHILD: &str = "RT_TEST_REAPER_CHILD";

/// Kubernetes' critest found `start` failing (ESRCH) for a program that
/// exited, and was reaped, before `start` looked at the init. A container
/// whose program exits at once must start, every time. The race needs the
/// init reaped the moment it exits, as systemd reaps containerd's orphans:
/// the test runs again in a process of its own that is a subreaper and
/// reaps each init at once (here, the orphans of every other test would
/// be its children too).
#[test]
fn start_of_a_program_that_exits_at_once_succeeds_every_time() {
    const NAME: &str = "start_of_a_program_that_exits_at_once_succeeds_every_time";
    if std::env::var_os(REAPER_CHILD).is_none() {
        let exe = std::env::current_exe().expect("test binary");
        // The test's path in this binary: its module, then its name.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let path = format!("{module}::{NAME}");
        let out = std::process::Command::new(exe)
            .args(["--exact", &path, "--test-threads=1"])
            .env(REAPER_CHILD, "1")
            // Its panic message, without a backtrace: CI shows the start
            // and the end of a long log, and a backtrace hid the message.
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run the test in a subreaper");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    nix::sys::prctl::set_child_subreaper(true).expect("become a subreaper");
    let c = Container::new(&["true"]);
    for round in 0..100 {
        let out = c.create();
        assert_eq!(out.code, 0, "create {round} failed:\n{out}");
        // rt create has exited: its init is this process's child now.
        let init = nix::unistd::Pid::from_raw(c.pid());
        let reaper = std::thread::spawn(move || nix::sys::wait::waitpid(init, None));
        let out = c.start();
        assert_eq!(out.code, 0, "start {round} failed:\n{out}");
        let reaped = reaper.join().expect("reaper");
        assert!(
            reaped.is_ok(),
            "reaping init {init} of round {round}: {reaped:?}"
        );
        let out = c.delete();
        assert_eq!(out.code, 0, "delete {round} failed:\n{out}");
    }
}

/// `--pidfd-socket` (runc >= 1.2): create and run send a pidfd of the init
/// with the message "standard"; through it the caller kills the container.
#[test]
fn pidfd_socket_gets_a_pidfd_of_the_init() {
    use std::os::fd::AsFd;
    for verb in ["create", "run"] {
        let c = Container::sleeper();
        let path = c.scratch().join("pidfd.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let got = std::thread::spawn(move || crate::common::receive_fd(&listener));
        let path = path.to_str().expect("utf-8");
        match verb {
            "create" => c.create_with(&["--pidfd-socket", path]).ok(),
            _ => c.run_with(&["--detach", "--pidfd-socket", path]).ok(),
        };
        let (msg, pidfd) = got.join().expect("receiver");
        assert_eq!(String::from_utf8_lossy(&msg), "standard", "{verb}");
        assert_eq!(crate::common::pidfd_pid(&pidfd), c.pid(), "{verb}");
        // As runc's test: TERM ends a created container's init too.
        let sig = match verb {
            "create" => libc::SIGTERM,
            _ => libc::SIGKILL,
        };
        rt::syscall::pidfd_send_signal(pidfd.as_fd(), sig).expect("signal through the pidfd");
        c.wait_status("stopped");
    }
}

/// The init of a created container dies of TERM, INT, HUP and QUIT while
/// it waits for `start`, as runc's does; a pid namespace's init would
/// ignore them without a handler.
#[test]
fn term_ends_a_created_container() {
    for sig in ["TERM", "INT", "HUP", "QUIT"] {
        let c = Container::sleeper();
        c.create_ok();
        c.kill(sig).ok();
        c.wait_status("stopped");
    }
}

#[test]
fn pidfd_socket_nobody_listens_on_fails_first() {
    let c = Container::sleeper();
    let path = c.scratch().join("nobody.sock");
    c.create_with(&["--pidfd-socket", path.to_str().expect("utf-8")])
        .fails_with("cannot connect to pidfd socket");
    assert!(!c.state_root().join(&c.id).exists());
}

#[test]
fn start_after_exit_fails() {
    let c = Container::new(&["true"]);
    c.start_ok();
    c.wait_status("stopped");
    c.start().fails_with("stopped");
}

#[test]
fn unknown_id() {
    let c = Container::new(&["true"]);
    for verb in ["state", "start", "kill", "delete"] {
        c.rt(&[verb, "nope"])
            .fails_with("container nope does not exist");
    }
}

#[test]
fn existing_id() {
    let a = Container::sleeper();
    a.create_ok();
    let mut b = a.sibling(&["true"]);
    b.id = a.id.clone();
    b.create()
        .fails_with(&format!("container with id {} already exists", a.id));
    // The failed create must not have disturbed the first container.
    assert_eq!(a.status(), "created");
    // b's guard would delete a's container: give it an id of its own.
    b.id = crate::common::unique_id();
}

#[test]
fn invalid_ids() {
    let c = Container::new(&["true"]);
    for bad in ["a/b", "..", "", "a b"] {
        let mut cmd = c.command(&["create", "--bundle"]);
        cmd.arg(c.bundle()).arg(bad);
        let out = c.launch(cmd);
        out.fails_with("invalid container id");
        for verb in ["state", "start", "delete"] {
            c.rt(&[verb, bad]).fails_with("invalid container id");
        }
    }
    assert_eq!(
        std::fs::read_dir(c.state_root())
            .expect("read root")
            .count(),
        0
    );
}

#[test]
fn kill_stopped_container_fails() {
    let c = Container::new(&["true"]);
    c.start_ok();
    c.wait_status("stopped");
    c.kill("KILL").fails_with("not running");
}

#[test]
fn invalid_signal() {
    let c = Container::sleeper();
    c.start_ok();
    c.kill("SIGNOPE").fails_with("invalid signal");
    c.kill("65").fails_with("invalid signal");
    assert_eq!(c.status(), "running");
}

/// Signal 0 checks that the init is there, as with runc; `--all` makes a
/// stopped container no error.
#[test]
fn kill_0_probes_the_init() {
    let c = Container::sleeper();
    c.start_ok();
    c.kill("0").ok();
    assert_eq!(c.status(), "running");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.kill("0").fails_with("container not running");
    c.rt(&["kill", "--all", &c.id, "0"]).ok();
}

/// A container sharing the host's pid namespace: its init is no pid 1, and
/// its other processes outlive it.
fn host_pid_ns(script: &str) -> Container {
    let mut c = Container::sh(script);
    c.remove_namespace("pid");
    c
}

fn wait_gone(pids: &[i32]) {
    crate::common::wait_for("processes to die", || {
        pids.iter()
            .all(|p| procfs::start_time(*p).is_none())
            .then_some(())
    });
}

/// runc >= 1.2: KILL to a container without its own pid namespace reaches
/// every process of its cgroup, not just the init.
#[test]
fn kill_kill_without_a_pid_namespace_kills_every_process() {
    let c = host_pid_ns("sleep 1000 & sleep 1001 & exec sleep 1002");
    let init = c.start_ok();
    let children = wait_children(init, 2);
    c.kill("KILL").ok();
    wait_gone(&children);
    c.wait_status("stopped");
}

/// The same once the init is gone: what is left still goes, and the
/// stopped container is no error.
#[test]
fn kill_kill_without_a_pid_namespace_after_the_init_died() {
    let c = host_pid_ns("sleep 1000 & sleep 1001 & exec sleep 1002");
    let init = c.start_ok();
    let children = wait_children(init, 2);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill init");
    c.wait_status("stopped");
    assert!(children.iter().all(|p| procfs::start_time(*p).is_some()));
    c.kill("KILL").ok();
    wait_gone(&children);
}

/// `kill --all` of a stopped container still signals what is left in its
/// cgroup, and succeeds (containerd's shim sends it for every container of
/// a pod sharing one pid namespace).
#[test]
fn kill_all_of_a_stopped_container_reaches_what_is_left() {
    let c = host_pid_ns("sleep 1000 & echo $!; exit 0");
    c.start_ok();
    let child: i32 = c
        .wait_output("\n")
        .trim()
        .parse()
        .expect("pid of the child");
    c.wait_status("stopped");
    assert!(procfs::start_time(child).is_some(), "the child is gone");
    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    wait_gone(&[child]);
}

/// KILL of a paused container thaws it, or nothing would die.
#[test]
fn kill_kill_of_a_paused_container_thaws_it() {
    for all in [false, true] {
        let c = Container::sleeper();
        c.start_ok();
        c.rt(&["pause", &c.id]).ok();
        assert_eq!(c.status(), "paused");
        if all {
            c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
        } else {
            c.kill("KILL").ok();
        }
        c.wait_status("stopped");
    }
}

/// A signal other than KILL leaves a paused container paused (it gets the
/// signal once resumed).
#[test]
fn kill_all_of_a_paused_container_leaves_it_paused() {
    let c = Container::sh("trap 'echo got-usr1; exit 0' USR1; echo ready; sleep 1000 & wait");
    c.start_ok();
    c.wait_output("ready");
    c.rt(&["pause", &c.id]).ok();
    c.rt(&["kill", "--all", &c.id, "USR1"]).ok();
    assert_eq!(c.status(), "paused");
    c.rt(&["resume", &c.id]).ok();
    c.wait_output("got-usr1");
}
