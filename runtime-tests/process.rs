//! The container process: args, env, cwd, user, umask, rlimits, oom score,
//! no_new_privs, capabilities, inherited fds and the terminal.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::procfs::{self, status_field};
use crate::common::{sh, Container};
use serde_json::json;

#[test]
fn args_env_and_cwd() {
    let mut args = sh("pwd; echo \"$GREETING\"; printf '[%s]' \"$@\"");
    args.extend(["argv0".into(), "two words".into(), "*".into()]);
    let mut c = Container::new(&args);
    c.set("/process/cwd", "/tmp")
        .push("/process/env", "GREETING=hello there".into());
    assert_eq!(
        c.run().ok().lines(),
        ["/tmp", "hello there", "[two words][*]"]
    );
}

/// The config's env, each name once (the last entry wins), plus HOME
/// from the container's /etc/passwd when the env has none: runc's
/// environment.
#[test]
fn env_is_the_config_once_each_plus_home() {
    let mut c = Container::new(&["env"]);
    c.set(
        "/process/env",
        json!(["ONLY=1", "PATH=/bin", "ONLY=2", "NL=a\nb"]),
    );
    let out = c.run().ok();
    let mut lines = out.lines();
    lines.sort();
    assert_eq!(lines, ["HOME=/root", "NL=a", "ONLY=2", "PATH=/bin", "b"]);
}

/// HOME missing or empty: the process uid's home in the container's
/// /etc/passwd, "/" without an entry; a HOME given is kept.
#[test]
fn home_comes_from_the_containers_passwd() {
    for (env, uid, want) in [
        (json!(["PATH=/bin"]), 0, "/root"),
        (
            json!(["HOME=/set", "PATH=/bin", "HOME="]),
            65534,
            "/nonexistent",
        ),
        (json!(["HOME=/set", "PATH=/bin"]), 0, "/set"),
        (json!(["PATH=/bin"]), 4242, "/"),
    ] {
        let mut c = Container::sh("echo \"$HOME\"");
        c.set("/process/env", env.clone())
            .set("/process/user", json!({"uid": uid, "gid": uid}));
        assert_eq!(c.run().ok().stdout, format!("{want}\n"), "{env} uid {uid}");
    }
}

/// The image controls /etc/passwd: a fifo there is not opened for a
/// blocking read (the init would hang), and only the first 4 MiB are read.
#[test]
fn passwd_is_read_safely() {
    let mut c = Container::sh("echo \"$HOME\"");
    c.set("/process/env", json!(["PATH=/bin"]));
    let passwd = c.rootfs().join("etc/passwd");
    fs::remove_file(&passwd).expect("remove the passwd link");
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    assert_eq!(c.run().ok().stdout, "/\n");

    let mut c = Container::sh("echo \"$HOME\"");
    c.set("/process/env", json!(["PATH=/bin"]))
        .set("/process/user", json!({"uid": 4242, "gid": 4242}));
    let mut text = "#\n".repeat(5 << 19);
    text.push_str("far:x:4242:4242::/far:/bin/sh\n");
    fs::write(c.rootfs().join("etc/passwd"), text).expect("write passwd");
    assert_eq!(c.run().ok().stdout, "/\n");
}

/// A process.cwd that root may enter but the user may not (a 0700 /root
/// for uid 42) works: entered before the user switch, as runc does.
#[test]
fn cwd_only_root_may_enter() {
    let mut c = Container::new(&["pwd"]);
    c.set("/process/cwd", "/root")
        .set("/process/user", json!({"uid": 42, "gid": 42}));
    fs::set_permissions(c.rootfs().join("root"), fs::Permissions::from_mode(0o700))
        .expect("chmod /root");
    assert_eq!(c.run().ok().stdout, "/root\n");
}

/// The execute check before exec judges as execve does, with the
/// effective capabilities: a file only its owner (root) may execute runs
/// for uid 1000 with CAP_DAC_OVERRIDE, and not without.
#[test]
fn execute_bit_of_root_with_cap_dac_override() {
    let with_cap = |cap: bool| {
        let mut c = Container::new(&["/bin/echo", "ran"]);
        c.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        if cap {
            for set in [
                "bounding",
                "effective",
                "inheritable",
                "permitted",
                "ambient",
            ] {
                c.push(
                    &format!("/process/capabilities/{set}"),
                    "CAP_DAC_OVERRIDE".into(),
                );
            }
        }
        // A copy of its own: the rootfs hard-links the shared busybox.
        let echo = c.rootfs().join("bin/echo");
        fs::remove_file(&echo).expect("remove the echo applet link");
        fs::copy(c.rootfs().join("bin/busybox"), &echo).expect("copy busybox");
        fs::set_permissions(&echo, fs::Permissions::from_mode(0o744)).expect("chmod");
        c.run()
    };
    with_cap(false).fails_with("/bin/echo: permission denied");
    assert_eq!(with_cap(true).ok().stdout, "ran\n");
}

/// execve failing after Ready (here on a missing `#!` interpreter) is
/// reported on the container's stderr in runc's words, alone on its line.
#[test]
fn exec_error_reads_like_runcs() {
    let c = Container::new(&["/run.sh"]);
    let script = c.rootfs().join("run.sh");
    fs::write(&script, "#!/mmnnttbb foo bar\nsh\n").expect("write run.sh");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = c.run();
    assert_eq!(out.code, 127, "{out}");
    assert_eq!(out.stderr, "exec /run.sh: no such file or directory\n");
}

#[test]
fn missing_cwd_is_created() {
    let mut c = Container::new(&["pwd"]);
    c.set("/process/cwd", "/made/for/me")
        .set("/root/readonly", false);
    assert_eq!(c.run().ok().stdout, "/made/for/me\n");
}

#[test]
fn user_groups_and_umask() {
    let mut c = Container::sh("id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f");
    c.set("/process/user", json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 1234], "umask": 0o027}))
        .push("/mounts", json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    assert_eq!(
        c.run().ok().lines(),
        ["65534", "65534", "65534 5 1234", "0027", "640"]
    );
}

#[test]
fn default_umask_is_0022() {
    let c = Container::sh("umask");
    assert_eq!(c.run().ok().stdout, "0022\n");
}

/// runc 1.6 (#5479): the umask is set with or without a mount namespace
/// of the container's own (runc 1.5 set it only with one). No mounts or
/// path rules here: without a mount namespace they would be made in the
/// caller's (the rootfs's bind onto itself is, as runc's: see
/// mounts::without_a_mount_namespace_mounts_go_to_the_callers), which is
/// a mount namespace of the test's own.
#[test]
fn umask_without_a_mount_namespace() {
    for (umask, want) in [(Some(0o027), "0027\n"), (None, "0022\n")] {
        let mut c = Container::sh("umask");
        let _private_ns = crate::common::PrivateMountNs::enter(&c.rootfs());
        c.remove_namespace("mount")
            .set("/mounts", json!([]))
            .set("/linux/maskedPaths", json!([]))
            .set("/linux/readonlyPaths", json!([]))
            .set("/root/readonly", false);
        if let Some(u) = umask {
            c.set("/process/user/umask", u);
        }
        assert_eq!(c.run().ok().stdout, want);
    }
}

#[test]
fn rlimits_are_set() {
    let mut c = Container::sh(
        "ulimit -n; ulimit -Hn; ulimit -c; grep -E 'open files|core file' /proc/self/limits",
    );
    c.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 4096}, {"type": "RLIMIT_CORE", "soft": 1024, "hard": 2048}]),
    );
    let out = c.run().ok();
    let lines = out.lines();
    assert_eq!(
        lines[..3],
        ["512", "4096", "2"],
        "ulimit -c counts 512-byte blocks"
    );
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        words(lines[3]),
        ["Max", "core", "file", "size", "1024", "2048", "bytes"]
    );
    assert_eq!(
        words(lines[4]),
        ["Max", "open", "files", "512", "4096", "files"]
    );
}

#[test]
fn rlimit_above_the_hard_limit_fails_create() {
    // rt runs without CAP_SYS_RESOURCE here, and the host's hard limit for
    // open files is 20000.
    let mut c = Container::new(&["true"]);
    c.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 30000, "hard": 30000}]),
    );
    c.create().fails_with("cannot set RLIMIT_NOFILE to soft 30000 hard 30000 (raising a hard limit needs CAP_SYS_RESOURCE)");
}

#[test]
fn no_new_privileges() {
    for (flag, want) in [(true, "1"), (false, "0")] {
        let mut c = Container::new(&["cat", "/proc/self/status"]);
        c.set("/process/noNewPrivileges", flag);
        assert_eq!(
            status_field(&c.run().ok().stdout, "NoNewPrivs"),
            want,
            "noNewPrivileges {flag}"
        );
    }
}

#[test]
fn oom_score_adj() {
    let mut c = Container::new(&["cat", "/proc/self/oom_score_adj"]);
    c.set("/process/oomScoreAdj", 500);
    assert_eq!(c.run().ok().stdout, "500\n");
}

/// Capability numbers (linux/capability.h) of the names used below.
fn cap_number(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_KILL" => 5,
        "CAP_SETGID" => 6,
        "CAP_SETUID" => 7,
        "CAP_SETPCAP" => 8,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_AUDIT_WRITE" => 29,
        other => panic!("no number for {other}"),
    }
}

/// The /proc/<pid>/status hex of a capability set.
fn mask(names: &[&str]) -> String {
    format!(
        "{:016x}",
        names.iter().fold(0u64, |m, n| m | 1 << cap_number(n))
    )
}

/// A distinct value for each set, so that mixing two up shows.
const BOUNDING: &[&str] = &[
    "CAP_CHOWN",
    "CAP_KILL",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_NET_BIND_SERVICE",
    "CAP_AUDIT_WRITE",
    "CAP_SETPCAP",
];
const PERMITTED: &[&str] = &[
    "CAP_CHOWN",
    "CAP_KILL",
    "CAP_SETUID",
    "CAP_NET_BIND_SERVICE",
];
const EFFECTIVE: &[&str] = &["CAP_CHOWN", "CAP_KILL"];
const INHERITABLE: &[&str] = &["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETGID"];
const AMBIENT: &[&str] = &["CAP_KILL", "CAP_NET_BIND_SERVICE"];

fn with_capabilities(c: &mut Container) -> &mut Container {
    c.set(
        "/process/capabilities",
        json!({"bounding": BOUNDING, "permitted": PERMITTED, "effective": EFFECTIVE, "inheritable": INHERITABLE, "ambient": AMBIENT}),
    )
}

fn cap_sets(status: &str) -> Vec<(String, String)> {
    ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"]
        .iter()
        .map(|f| (f.to_string(), status_field(status, f)))
        .collect()
}

fn want_sets(
    bnd: &[&str],
    prm: &[&str],
    eff: &[&str],
    inh: &[&str],
    amb: &[&str],
) -> Vec<(String, String)> {
    [
        ("CapBnd", bnd),
        ("CapPrm", prm),
        ("CapEff", eff),
        ("CapInh", inh),
        ("CapAmb", amb),
    ]
    .iter()
    .map(|(f, names)| (f.to_string(), mask(names)))
    .collect()
}

#[test]
fn capability_sets_before_exec_match_the_config() {
    // A created container's init has applied every set and waits before
    // exec, which recomputes them.
    let mut c = Container::sleeper();
    with_capabilities(&mut c);
    c.create_ok();
    assert_eq!(
        cap_sets(&c.proc_file("status")),
        want_sets(BOUNDING, PERMITTED, EFFECTIVE, INHERITABLE, AMBIENT)
    );
}

#[test]
fn capability_sets_after_exec_as_non_root() {
    // A non-root exec of a file without capabilities keeps only the
    // ambient set as permitted and effective.
    let mut c = Container::new(&["cat", "/proc/self/status"]);
    with_capabilities(&mut c).set("/process/user", json!({"uid": 65534, "gid": 65534}));
    let status = c.run().ok().stdout;
    assert_eq!(
        cap_sets(&status),
        want_sets(BOUNDING, AMBIENT, AMBIENT, INHERITABLE, AMBIENT)
    );
}

#[test]
fn capability_sets_after_exec_as_root() {
    // Root's exec grants the bounding set (plus inheritable) as permitted
    // and effective; with no_new_privs, never more than it had permitted.
    for (nnp, granted) in [(false, BOUNDING), (true, PERMITTED)] {
        let mut c = Container::new(&["cat", "/proc/self/status"]);
        with_capabilities(&mut c).set("/process/noNewPrivileges", nnp);
        let status = c.run().ok().stdout;
        assert_eq!(
            cap_sets(&status),
            want_sets(BOUNDING, granted, granted, INHERITABLE, AMBIENT),
            "noNewPrivileges {nnp}"
        );
    }
}

/// Sorted fd numbers in /proc/<pid>/fd.
fn fds(pid: i32) -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .map(|e| {
            e.expect("fd entry")
                .file_name()
                .to_string_lossy()
                .parse()
                .expect("fd number")
        })
        .collect();
    v.sort();
    v
}

/// `cmd` run with `file` open for reading as its fd 3.
fn with_fd3(cmd: Command, file: &Path) -> Command {
    let mut w = Command::new("sh");
    w.arg("-c")
        .arg("exec \"$@\" 3<\"$0\"")
        .arg(file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    w
}

#[test]
fn only_stdio_reaches_the_container() {
    let c = Container::sleeper();
    let pid = c.start_ok();
    assert_eq!(fds(pid), [0, 1, 2]);
}

#[test]
fn preserved_fd_reaches_the_container_and_nothing_else() {
    let c = Container::sleeper();
    let file = c.scratch().join("passed");
    fs::write(&file, "through fd 3").expect("write");
    c.launch(with_fd3(
        c.launch_command("create", &["--preserve-fds", "1"]),
        &file,
    ))
    .ok();
    c.start().ok();
    c.wait_exec();
    assert_eq!(fds(c.pid()), [0, 1, 2, 3]);
    assert_eq!(
        fs::read_link(format!("/proc/{}/fd/3", c.pid())).expect("readlink fd 3"),
        file
    );
}

/// The shell's open fds. Not `ls`: busybox runs it inside the shell, whose
/// list would show the directory fd of ls itself; the glob's fd is closed
/// by the time `test` runs.
const LIST_FDS: &str = "for f in /proc/$$/fd/*; do if test -e $f; then echo ${f##*/}; fi; done";

#[test]
fn preserved_fd_is_readable_inside() {
    let c = Container::sh(&format!("cat <&3; {LIST_FDS}"));
    let file = c.scratch().join("passed");
    fs::write(&file, "through fd 3\n").expect("write");
    let out = c
        .launch(with_fd3(
            c.launch_command("run", &["--preserve-fds", "1"]),
            &file,
        ))
        .ok();
    assert_eq!(out.lines(), ["through fd 3", "0", "1", "2", "3"]);
}

#[test]
fn unpreserved_fd_is_closed() {
    let c = Container::sh(LIST_FDS);
    let file = c.scratch().join("not-passed");
    fs::write(&file, "x").expect("write");
    let out = c.launch(with_fd3(c.launch_command("run", &[]), &file)).ok();
    assert_eq!(out.lines(), ["0", "1", "2"]);
}

/// Receive the pty master that rt sends over the console socket.
fn receive_master(listener: &UnixListener) -> File {
    use std::os::fd::AsFd;
    let (conn, _) = listener.accept().expect("accept console connection");
    let mut buf = [0u8; 64];
    let msg = rt::syscall::recv_with_fd(conn.as_fd(), &mut buf).expect("recvmsg");
    File::from(msg.fd.expect("no fd in the console socket message"))
}

/// Everything the pty master yields until the container closes the
/// terminal (EIO) or the deadline passes.
fn read_until_closed(master: &mut File) -> String {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).expect("poll") == 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn terminal_over_console_socket() {
    let mut c = Container::new(&["sh"]);
    c.set("/process/terminal", true);
    let socket = c.scratch().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind console socket");
    c.create_with(&["--console-socket", socket.to_str().expect("utf-8")])
        .ok();
    let mut master = receive_master(&listener);
    c.start().ok();
    // $((6*7)) so that the echo of the typed line does not match.
    master
        .write_all(b"tty; test -t 0 && echo TTY-$((6*7)); echo hi; exit\n")
        .expect("write to pty");
    let out = read_until_closed(&mut master);
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.contains(&"/dev/pts/0"), "{out:?}");
    assert!(lines.contains(&"TTY-42"), "{out:?}");
    assert!(lines.contains(&"hi"), "{out:?}");
    c.wait_status("stopped");
}

/// `rt run` with a terminal, itself on a terminal as runc's suite runs it:
/// what the program prints through the pty rt holds reaches rt's terminal
/// with "\n" intact (runc clears ONLCR on that pty), and the pty belongs
/// to the process's uid, its group left to devpts (`gid=5`).
#[test]
fn terminal_relayed_by_rt() {
    let mut c = Container::sh("echo a; stat -c %u:%g $(tty)");
    c.set("/process/terminal", true)
        .set("/process/user", json!({"uid": 1000, "gid": 100}));
    let out = c.run_on_terminal().ok();
    assert_eq!(out.stdout, "a\n1000:5\n");
}

#[test]
fn terminal_without_console_socket_fails() {
    let mut c = Container::new(&["sh"]);
    c.set("/process/terminal", true);
    c.create().fails_with("--console-socket");
}

#[test]
fn host_sees_container_process_attributes() {
    // The same attributes as above, from the host's /proc of the init.
    let mut c = Container::sleeper();
    c.set("/process/oomScoreAdj", 500)
        .set("/process/user", json!({"uid": 65534, "gid": 65534}));
    c.start_ok();
    let status = c.proc_file("status");
    assert_eq!(
        status_field(&status, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(c.proc_file("oom_score_adj"), "500\n");
    assert!(procfs::read(&format!("/proc/{}/cmdline", c.pid())).starts_with("sleep\0"));
}

/// Without a terminal, the process's stdio is given to its uid when it
/// is a pipe or a socket (what engines pass), as runc does: a non-root
/// program can reopen /dev/stdout. A file of the host (here the harness's
/// output files) keeps its owner: rt deliberately differs from runc there.
#[test]
fn stdio_belongs_to_the_process_user() {
    let script = "stat -L -c %u /proc/self/fd/1; echo reopened > /dev/stdout";
    let mut c = Container::sh(script);
    c.set("/process/user", json!({"uid": 65534, "gid": 65534}));
    let out = c.run_through_pipes().ok();
    assert_eq!(out.lines(), ["65534", "reopened"]);
    let mut c = Container::sh("stat -L -c %u /proc/self/fd/1 /proc/self/fd/2");
    c.set("/process/user", json!({"uid": 65534, "gid": 65534}));
    assert_eq!(c.run().ok().lines(), ["0", "0"]);
}

/// rt ignores SIGPIPE itself, and an ignored signal stays ignored across
/// execve: the container's process (init and exec) must start with the
/// default action, as runc's does, or `yes | head -1` never ends by SIGPIPE.
#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    const SIGPIPE_BIT: u64 = 1 << (13 - 1);
    let ignored = |status: &str| {
        u64::from_str_radix(&status_field(status, "SigIgn"), 16).expect("SigIgn is hex")
    };
    let c = Container::new(&["cat", "/proc/self/status"]);
    let init = c.run().ok().stdout;
    assert_eq!(
        ignored(&init) & SIGPIPE_BIT,
        0,
        "init ignores SIGPIPE:\n{init}"
    );

    let c = Container::sleeper();
    c.start_ok();
    let out = c
        .launch(c.command(&["exec", &c.id, "cat", "/proc/self/status"]))
        .ok();
    assert_eq!(
        ignored(&out.stdout) & SIGPIPE_BIT,
        0,
        "exec process ignores SIGPIPE:\n{}",
        out.stdout
    );
}

/// rt starts without Rust's own start-up (src/entry.rs) but keeps what it
/// relied on: a standard fd the caller left closed is /dev/null, not the
/// first file rt opens, which the container's process would inherit.
#[test]
fn a_closed_stdin_reaches_the_container_as_dev_null() {
    let c = Container::new(&["readlink", "/proc/self/fd/0"]);
    let run = c.launch_command("run", &[]);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("exec \"$0\" \"$@\" <&-")
        .arg(run.get_program())
        .args(run.get_args());
    assert_eq!(c.launch(sh).ok().lines(), ["/dev/null"]);
}

/// Each start of rt skips Rust's stack-guard set-up (src/entry.rs): it
/// read /proc/self/maps and mapped a signal stack, a dozen system calls of
/// every create, run and exec.
#[test]
fn rt_starts_without_reading_its_memory_map() {
    let c = Container::sleeper();
    c.start_ok();
    let trace = c.scratch().join("exec.trace");
    let exec = c.command(&["exec", &c.id, "true"]);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=openat,sigaltstack", "-o"])
        .arg(&trace)
        .arg(exec.get_program())
        .args(exec.get_args());
    crate::common::run_with_deadline(cmd, &c.scratch().join("exec")).ok();
    let calls = fs::read_to_string(&trace).expect("read the trace");
    // The trace is rt's: it read what exec always reads.
    assert!(calls.contains("state.json"), "{calls}");
    assert!(!calls.contains("/proc/self/maps"), "{calls}");
    assert!(!calls.contains("sigaltstack"), "{calls}");
}

/// The code rt runs before the C library starts (src/entry.rs, the
/// CVE-2019-5736 re-execution of create, run and exec) may call nothing:
/// in the static binary `just build` makes, nothing is relocated yet, so
/// a call through the GOT jumps to address 0. Zeroing a buffer for the
/// kernel to fill was such a call wherever the optimiser made it a memset:
/// rt built at opt-level "s" died of SIGSEGV on every create, run and
/// exec. A build at that level (once: later runs reuse its target
/// directory) passes scripts/layout/entry-check.sh, which `just build`
/// runs on every build, and runs a container.
#[test]
fn early_entry_code_calls_nothing_at_another_opt_level() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Runs `cmd` from the repository; its stdout, once it exited 0.
    let stdout_of = |mut cmd: Command| {
        let out = cmd.current_dir(repo).output().expect("spawn");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?}: {err}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let evaluate = |var: &str| {
        let mut just = Command::new(repo.join("just"));
        just.args(["--evaluate", var]);
        stdout_of(just)
    };
    let (host, flags) = (evaluate("host"), evaluate("rt_flags"));
    let target = repo.join("target/entry-variant");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", &flags)
        .args(["build", "--profile", "runtime", "--bin", "rt"])
        .args(["--target", &host])
        .args(["--config", "profile.runtime.opt-level=\"s\""]);
    stdout_of(cargo);
    let bin = target.join(&host).join("runtime/rt");
    let mut check = Command::new(repo.join("scripts/layout/entry-check.sh"));
    check.arg(&bin);
    stdout_of(check);
    let c = Container::new(&["echo", "started"]);
    let run = c.launch_command("run", &[]);
    let mut variant = Command::new(&bin);
    variant.args(run.get_args());
    assert_eq!(c.launch(variant).ok().lines(), ["started"]);
}
