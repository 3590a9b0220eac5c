//! `rt exec`: a second process joins the running container.

use std::fs;

use crate::common::{procfs, residue, Container};

fn running() -> (Container, i32) {
    let c = Container::new(&["sleep", "1000"]);
    let pid = c.start_ok();
    (c, pid)
}

#[test]
fn exit_code_and_output() {
    let (c, _) = running();
    let out = c.rt(&["exec", &c.id, "sh", "-c", "echo from-exec; exit 7"]);
    assert_eq!(out.code, 7, "{out}");
    assert_eq!(out.stdout, "from-exec\n");
}

/// `exec --pidfd-socket`: a pidfd of the exec'd process, message "setns".
#[test]
fn pidfd_socket_gets_a_pidfd_of_the_process() {
    use std::os::fd::AsFd;
    let (c, init) = running();
    let path = c.scratch().join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let got = std::thread::spawn(move || crate::common::receive_fd(&listener));
    let pid_file = c.scratch().join("exec.pid");
    c.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        "--pidfd-socket",
        path.to_str().expect("utf-8"),
        &c.id,
        "sleep",
        "1001",
    ])
    .ok();
    let (msg, pidfd) = got.join().expect("receiver");
    assert_eq!(String::from_utf8_lossy(&msg), "setns");
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("pid");
    assert_eq!(crate::common::pidfd_pid(&pidfd), pid);
    rt::syscall::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).expect("kill through the pidfd");
    crate::common::wait_for("the exec'd process to die", || {
        procfs::start_time(pid).is_none().then_some(())
    });
    assert_eq!(c.status(), "running", "the init {init} went too");
}

#[test]
fn joins_every_namespace_and_the_cgroup_of_init() {
    let (c, pid) = running();
    let script = "for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup";
    let out = c.rt(&["exec", &c.id, "sh", "-c", script]).ok();
    let lines = out.lines();
    for (i, ns) in ["mnt", "pid", "net", "ipc", "uts", "cgroup"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            lines[i],
            procfs::ns_link(&pid.to_string(), ns),
            "exec is not in the container's {ns} namespace"
        );
    }
    assert!(
        out.stdout
            .contains(&format!("memory:/rt-test/{}", c.cgroup_name())),
        "exec not in the container's cgroup:\n{out}"
    );
    // Every hierarchy, v1 and the cgroup2 one, as the init.
    let init = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read init's cgroups");
    assert_eq!(
        lines[6..].join("\n"),
        init.trim_end(),
        "exec's cgroups differ from init's"
    );
}

#[test]
fn overrides_env_cwd_user() {
    let (c, _) = running();
    let out = c
        .rt(&[
            "exec",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--user",
            "65534:65534",
            "-g",
            "10",
            &c.id,
            "sh",
            "-c",
            "echo $FOO; pwd; id -u; id -g; id -G",
        ])
        .ok();
    assert_eq!(
        out.lines(),
        vec!["bar", "/tmp", "65534", "65534", "65534 10"]
    );
}

#[test]
fn process_file_replaces_the_defaults() {
    let (c, _) = running();
    let process = serde_json::json!({
        "args": ["sh", "-c", "echo $ONLY; pwd; grep NoNewPrivs /proc/self/status"],
        "env": ["ONLY=this", "PATH=/bin"],
        "cwd": "/dev",
        "user": {"uid": 0, "gid": 0},
        "noNewPrivileges": true
    });
    let file = c.scratch().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = c
        .rt(&["exec", "--process", file.to_str().expect("utf-8"), &c.id])
        .ok();
    assert_eq!(out.lines(), vec!["this", "/dev", "NoNewPrivs:\t1"]);
}

#[test]
fn detach_writes_the_pid_file_and_returns() {
    let (c, _) = running();
    let pid_file = c.scratch().join("exec.pid");
    c.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        &c.id,
        "sleep",
        "1000",
    ])
    .ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    // rt returns once the process is set up, a moment before it execs.
    let cmdline = crate::common::wait_for("the exec'd sleep", || {
        let c = procfs::read(&format!("/proc/{pid}/cmdline"));
        c.starts_with("sleep").then_some(c)
    });
    assert!(cmdline.starts_with("sleep"), "pid file names {cmdline:?}");
    let procs = fs::read_to_string(format!(
        "/sys/fs/cgroup/pids/rt-test/{}/cgroup.procs",
        c.cgroup_name()
    ))
    .expect("cgroup.procs");
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "detached exec not in the cgroup"
    );
}

#[test]
fn only_stdio_and_preserved_fds_reach_the_process() {
    let (c, _) = running();
    let out = c.rt(&["exec", &c.id, "ls", "/proc/self/fd"]).ok();
    // ls itself holds one fd open on the directory it lists.
    let fds: Vec<&str> = out.lines();
    assert_eq!(fds, vec!["0", "1", "2", "3"], "extra fds leaked into exec");
}

#[test]
fn cap_adds_to_the_sets_and_no_new_privs() {
    let (c, _) = running();
    let out = c
        .rt(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            "--no-new-privs",
            &c.id,
            "grep",
            "-E",
            "^(CapEff|NoNewPrivs)",
            "/proc/self/status",
        ])
        .ok();
    let eff = u64::from_str_radix(procfs::status_field(&out.stdout, "CapEff").trim(), 16)
        .expect("CapEff hex");
    assert_ne!(eff & (1 << 21), 0, "CAP_SYS_ADMIN (21) missing:\n{out}");
    assert!(out.stdout.contains("NoNewPrivs:\t1"));
}

#[test]
fn missing_program_is_reported_like_runc() {
    let (c, _) = running();
    let out = c.rt(&["exec", &c.id, "no-such-program"]);
    out.fails_with("executable file not found in $PATH");
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let (c, _) = running();
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.rt(&["exec", &c.id, "true"]).fails_with("not running");
}

/// `exec --cgroup` (runc's flag): an existing sub-cgroup of the
/// container's, in every hierarchy (`path`) or in one controller's
/// (`memory:path`). A missing one, or a path out of the container's cgroup,
/// is refused; `delete` removes sub-cgroups with the container's.
#[test]
fn exec_into_a_sub_cgroup() {
    let (c, _) = running();
    let dirs = residue::cgroup_dirs(&c.cgroup_name());
    assert!(!dirs.is_empty());
    for d in &dirs {
        fs::create_dir(format!("{d}/sub")).expect("mkdir sub-cgroup");
        // A new v1 cpuset takes no task until its cpus and mems are set.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = fs::read_to_string(format!("{d}/{f}")) {
                fs::write(format!("{d}/sub/{f}"), v.trim()).expect("fill the sub-cgroup's cpuset");
            }
        }
    }
    let mine = format!("/rt-test/{}", c.cgroup_name());
    let cgroups = |flag: &str| {
        let out = c
            .rt(&["exec", "--cgroup", flag, &c.id, "cat", "/proc/self/cgroup"])
            .ok();
        procfs::cgroup_lines_mounted_here(&out.stdout)
            .into_iter()
            .map(|l| l.split(':').skip(1).collect::<Vec<_>>().join(":"))
            .collect::<Vec<_>>()
    };
    for line in cgroups("sub") {
        assert!(line.ends_with(&format!("{mine}/sub")), "{line}");
    }
    for line in cgroups("memory:sub") {
        let want = if line.split(':').next() == Some("memory") {
            format!("{mine}/sub")
        } else {
            mine.clone()
        };
        assert!(line.ends_with(&want), "{line}: want {want}");
    }
    // runc's words for what it refuses (its tests match them).
    c.rt(&["exec", "--cgroup", "nope", &c.id, "true"])
        .fails_with("error adding pid to cgroups: ");
    c.rt(&["exec", "--cgroup", "memory:nope", &c.id, "true"])
        .fails_with("/nope/cgroup.procs: no such file or directory");
    c.rt(&["exec", "--cgroup", "..", &c.id, "true"])
        .fails_with("bad sub cgroup path: .. is not a sub cgroup path");
    c.rt(&["exec", "--cgroup", "sub/../../x", &c.id, "true"])
        .fails_with("bad sub cgroup path");
    c.rt(&["exec", "--cgroup", "nosuch:sub", &c.id, "true"])
        .fails_with("unknown controller nosuch");
    // The container's own cgroup, named as runc names it.
    for flag in ["/", "memory:/", "sub/.."] {
        for line in cgroups(flag) {
            assert!(line.ends_with(&mine), "--cgroup {flag}: {line}");
        }
    }
    c.rt(&["delete", "--force", &c.id]).ok();
    assert_eq!(residue::cgroup_dirs(&c.cgroup_name()), Vec::<String>::new());
}

/// `exec -t` without --console-socket: rt relays the pty, "\n" intact,
/// and the pty belongs to the process's uid.
#[test]
fn tty_relayed_by_rt() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/process/user",
        serde_json::json!({"uid": 1000, "gid": 100}),
    );
    c.start_ok();
    let out = c
        .rt(&[
            "exec",
            "-t",
            &c.id,
            "sh",
            "-c",
            "echo a; stat -c %u:%g $(tty)",
        ])
        .ok();
    assert_eq!(out.stdout, "a\n1000:5\n");
}

/// HOME of an `exec --user`: that uid's home in the container's passwd,
/// "/" without an entry.
#[test]
fn user_gets_its_home() {
    let (c, _) = running();
    let home = |user: &str| {
        c.rt(&["exec", "--user", user, &c.id, "sh", "-c", "echo $HOME"])
            .ok()
            .stdout
    };
    assert_eq!(home("65534"), "/nonexistent\n");
    assert_eq!(home("4242"), "/\n");
}

/// A cwd that only its owner (uid 42) may enter still takes an
/// `exec --user 0` whose capabilities lack CAP_DAC_OVERRIDE: rt enters it
/// before dropping them, as runc.
#[test]
fn root_enters_a_cwd_it_does_not_own() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.set("/process/cwd", "/root")
        .set("/process/user", serde_json::json!({"uid": 42, "gid": 42}));
    let dir = c.rootfs().join("root");
    std::os::unix::fs::chown(&dir, Some(42), Some(42)).expect("chown /root");
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod /root");
    c.start_ok();
    let out = c.rt(&["exec", "--user", "0", &c.id, "pwd"]).ok();
    assert_eq!(out.stdout, "/root\n");
}

/// runc's `exec` exits 255 when it fails itself (the program's own status
/// is passed through): a pid file it cannot write, an unknown container,
/// a paused one, a missing program.
#[test]
fn failures_of_exec_itself_exit_255() {
    let (c, _) = running();
    let out = c.rt(&["exec", "--pid-file", "/non-existent/dir", &c.id, "true"]);
    assert_eq!(out.code, 255, "{out}");
    let out = c.rt(&["exec", &c.id, "no-such-program"]);
    assert_eq!(out.code, 255, "{out}");
    let out = c.rt(&["exec", "no-such-container", "true"]);
    assert_eq!(out.code, 255, "{out}");
    c.rt(&["pause", &c.id]).ok();
    let out = c.rt(&["exec", &c.id, "true"]);
    c.rt(&["resume", &c.id]).ok();
    assert_eq!(out.code, 255, "{out}");
    assert_eq!(c.rt(&["exec", &c.id, "false"]).code, 1);
}

/// A process file need not name a user (runc reads it as uid 0, gid 0),
/// and its consoleSize sizes the exec's terminal.
#[test]
fn process_file_without_user_and_console_size() {
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/process/user",
        serde_json::json!({"uid": 1000, "gid": 1000}),
    );
    c.start_ok();
    let process = serde_json::json!({
        "terminal": true,
        "consoleSize": {"height": 10, "width": 110},
        "args": ["sh", "-c", "id -u; stty size"],
        "cwd": "/"
    });
    let file = c.scratch().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = c
        .rt(&["exec", "--process", file.to_str().expect("utf-8"), &c.id])
        .ok();
    assert_eq!(out.stdout, "0\n10 110\n");
}

/// Only the fds the caller passed among --preserve-fds reach the process:
/// where it left gaps (here it passes 3 of 3 to 9), rt's own fds may take
/// those numbers (the container's namespaces it joins, the handle of its
/// sealed binary, see exeseal::release) and must not pass for the caller's.
#[test]
fn only_the_callers_fds_pass_through_gaps_in_preserve_fds() {
    let (c, _) = running();
    let file = c.scratch().join("passed");
    fs::write(&file, "through fd 3").expect("write");
    let pid_file = c.scratch().join("exec.pid");
    let exec = c.command(&["exec", "--detach", "--preserve-fds", "7", "--pid-file"]);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("exec 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; exec \"$@\" 3<\"$0\"")
        .arg(&file)
        .arg(exec.get_program())
        .args(exec.get_args())
        .arg(&pid_file)
        .args([c.id.as_str(), "sleep", "100"]);
    crate::common::run_with_deadline(cmd, &c.scratch().join("exec")).ok();
    let pid = fs::read_to_string(&pid_file).expect("pid file");
    let mut fds: Vec<u32> = fs::read_dir(format!("/proc/{}/fd", pid.trim()))
        .expect("fds of the process")
        .map(|e| {
            e.expect("fd")
                .file_name()
                .to_string_lossy()
                .parse()
                .expect("fd number")
        })
        .filter(|&fd| fd < 3 + 7)
        .collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2, 3]);
}

/// The handle of the sealed binary is closed (which unmounts its detached
/// mount and waits for an RCU grace period, ~0.1 ms alone and several ms
/// when many execs run at once) by rt itself once the process it forked
/// has left the host: before, the re-execution closed it, and every exec
/// waited for that before it began. A copy of rt runs the exec: the binary
/// attached at /run/rt-mntns/exe is not its own, so it makes that mount.
#[test]
fn sealed_binary_is_unmounted_while_the_process_runs() {
    let (c, _) = running();
    let trace = c.scratch().join("exec.trace");
    let copy = c.scratch().join("rt-copy");
    fs::copy(crate::common::RT, &copy).expect("copy rt");
    let mut exec = std::process::Command::new(&copy);
    exec.arg("--root")
        .arg(c.state_root())
        .args(["exec", &c.id, "true"]);
    let mut cmd = std::process::Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=execveat,fcntl,close,close_range",
        "-o",
    ])
    .arg(&trace)
    .arg(exec.get_program())
    .args(exec.get_args());
    crate::common::run_with_deadline(cmd, &c.scratch().join("exec")).ok();
    let text = fs::read_to_string(&trace).expect("read the trace");
    let calls: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(pid, call)| (pid, call.trim_start()))
        })
        .collect();
    // rt re-executing itself from the sealed binary: `execveat(<fd>, "", ...`.
    let (rt, fd) = calls
        .iter()
        .find_map(|(pid, call)| Some((*pid, call.strip_prefix("execveat(")?.split(',').next()?)))
        .unwrap_or_else(|| panic!("no re-execution in\n{text}"));
    // The new image keeps a close-on-exec copy of it: `fcntl(<fd>,
    // F_DUPFD_CLOEXEC, 3) = <copy>`.
    let copy = calls
        .iter()
        .find_map(|(pid, call)| {
            let rest = call.strip_prefix(&format!("fcntl({fd}, F_DUPFD_CLOEXEC"))?;
            (*pid == rt).then(|| rest.rsplit("= ").next())?
        })
        .unwrap_or_else(|| panic!("rt {rt} kept no copy of fd {fd}:\n{text}"));
    let left_host = calls
        .iter()
        .position(|(pid, call)| *pid != rt && call.starts_with("close_range("))
        .unwrap_or_else(|| panic!("the process never left the host:\n{text}"));
    let closed = calls
        .iter()
        .position(|(pid, call)| {
            *pid == rt
                && call
                    .strip_prefix(&format!("close({copy}"))
                    .is_some_and(|rest| rest.starts_with(')') || rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("rt {rt} never closed fd {copy} itself:\n{text}"));
    assert!(
        closed > left_host,
        "closed before the process left the host:\n{text}"
    );
}

/// `rt exec` with `umask 0077` in the caller's shell; the process prints
/// its umask. `process` is a process.json, or None for the command line.
fn exec_umask(c: &Container, process: Option<serde_json::Value>) -> String {
    let mut args = vec!["exec".to_string()];
    if let Some(p) = process {
        let file = c.scratch().join("umask-process.json");
        fs::write(&file, p.to_string()).expect("write process.json");
        args.extend(["--process".into(), file.display().to_string()]);
    }
    args.push(c.id.clone());
    if args.len() == 2 {
        args.extend(["sh", "-c", "umask"].map(String::from));
    }
    let rt = c.command(&args);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("umask 0077; exec \"$0\" \"$@\"")
        .arg(rt.get_program())
        .args(rt.get_args());
    crate::common::run_with_deadline(sh, &c.scratch().join("umask.out"))
        .ok()
        .stdout
}

/// runc's umask for an exec'd process: its own `user.umask`, else the
/// container's, else the caller's, unchanged (runtime spec: an unset umask
/// is not changed) — rt set 0022 where neither had one.
#[test]
fn umask_is_the_processs_the_containers_or_else_the_callers() {
    let (c, _) = running();
    assert_eq!(exec_umask(&c, None), "0077\n", "the caller's umask");
    let process = |user: serde_json::Value| serde_json::json!({"args": ["sh", "-c", "umask"], "cwd": "/", "user": user});
    let own = process(serde_json::json!({"uid": 0, "gid": 0, "umask": 0o002}));
    assert_eq!(exec_umask(&c, Some(own)), "0002\n", "process.json's umask");

    let mut c = Container::new(&["sleep", "1000"]);
    c.set("/process/user/umask", 0o027);
    c.start_ok();
    assert_eq!(exec_umask(&c, None), "0027\n", "the container's umask");
    let none = process(serde_json::json!({"uid": 0, "gid": 0}));
    assert_eq!(
        exec_umask(&c, Some(none)),
        "0027\n",
        "the container's umask under a process.json without one"
    );
}

/// Where rt's binary stays mounted between starts (rt::exeseal::ATTACHED).
const ATTACHED: &str = "/run/rt-mntns/exe";

/// `rt args` under strace (`strace -f`): the `calls` (strace's `trace=`
/// list) rt and its children made, and rt's output.
fn traced(c: &Container, args: &[&str], calls: &str) -> (String, crate::common::Outcome) {
    let trace = c.scratch().join("rt.trace");
    let rt = c.command(args);
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-qq", "-e", &format!("trace={calls}"), "-o"])
        .arg(&trace)
        .arg(rt.get_program())
        .args(rt.get_args());
    let out = crate::common::run_with_deadline(cmd, &c.scratch().join("rt.out"));
    (fs::read_to_string(&trace).expect("read the trace"), out)
}

/// The read-only mount of rt's binary that a create re-executed from stays
/// attached at /run/rt-mntns/exe, and later starts re-execute from it:
/// without a mount of their own, whose unmount waits for an expedited RCU
/// grace period (2.9 s in all for 200 execs at once). A mount of another
/// file there is never executed, and the next create replaces it.
#[test]
fn starts_reexecute_from_the_attached_binary() {
    use std::os::unix::fs::MetadataExt;
    let (c, _) = running();
    let rt = fs::metadata(crate::common::RT).expect("stat rt");
    let is_rt = || fs::metadata(ATTACHED).is_ok_and(|m| (m.dev(), m.ino()) == (rt.dev(), rt.ino()));
    // Tests running a copy of rt (cves.rs) replace the mount now and then:
    // a few tries find it rt's own for a create and the exec after it.
    let attached = (0..5).any(|_| {
        Container::sleeper().create_ok();
        let (trace, out) = traced(&c, &["exec", &c.id, "echo", "hi"], "open_tree,execveat");
        assert_eq!(out.clone().ok().lines(), ["hi"], "{trace}");
        is_rt() && trace.contains("execveat(") && !trace.contains("open_tree(")
    });
    assert!(
        attached,
        "no exec re-executed from {ATTACHED} without a mount of its own"
    );
    let line = procfs::read("/proc/self/mountinfo")
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(ATTACHED))
        .map(str::to_string)
        .expect("a mount at /run/rt-mntns/exe");
    assert!(
        line.split(' ')
            .nth(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "{line}"
    );

    // Another binary there (read-only, so only its identity tells it
    // apart), in this thread's own mount namespace: every create of the
    // host's, from other tests or another test process, replaces it there.
    let _ns = crate::common::PrivateMountNs::enter(&c.rootfs());
    while nix::mount::umount2(ATTACHED, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
    crate::common::host("mount", &["--bind", "-o", "ro", "/bin/busybox", ATTACHED]);
    let (trace, out) = traced(&c, &["exec", &c.id, "echo", "hi"], "open_tree,execveat");
    assert_eq!(out.clone().ok().lines(), ["hi"], "{trace}");
    assert!(
        trace.contains("open_tree("),
        "an exec that found busybox at {ATTACHED} made no mount of its own:\n{trace}"
    );
    Container::sleeper().create_ok();
    assert!(is_rt(), "a create did not replace busybox at {ATTACHED}");
}

/// The exec child joins the container's namespaces and forks into its pid
/// namespace, where no process of the container can reach it. It shares
/// rt's memory while rt sleeps (clone3 CLONE_VM|CLONE_VFORK,
/// `syscall::clone_vm`): a fork copied rt's page tables, faulted its pages
/// in again and tore them down, 5-7 % of an exec's CPU. What it forks into
/// the container is an ordinary fork with memory of its own, as before.
#[test]
fn exec_child_shares_rts_memory_and_forks_the_process() {
    let (c, _) = running();
    let (calls, out) = traced(&c, &["exec", &c.id, "sh", "-c", "echo in"], "clone,clone3");
    assert_eq!((out.code, out.stdout.as_str()), (0, "in\n"), "{out}");
    let rt = calls
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .expect("the trace names rt's pid");
    let (by_rt, by_child): (Vec<&str>, Vec<&str>) = calls
        .lines()
        .filter(|l| l.contains("clone"))
        .filter(|l| !l.contains("resumed>"))
        .partition(|l| l.split_whitespace().next() == Some(rt));
    assert!(
        by_rt.len() == 1 && by_rt[0].contains("CLONE_VM|CLONE_VFORK"),
        "{calls}"
    );
    assert!(
        by_child.len() == 1 && !by_child[0].contains("CLONE_VM"),
        "{calls}"
    );
}
