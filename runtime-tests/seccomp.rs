//! linux.seccomp: profiles compiled by rt and enforced by the kernel.
//!
//! Most containers here run a probe: a tiny static x86_64 program, written
//! by the test, that makes one system call (64-bit, i386 or x32 ABI) with
//! the given arguments and exits with its errno, or 0 when it succeeds. The
//! container's exit code is then the kernel's verdict on that one call.

#[path = "seccomp/agent.rs"]
mod agent;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use crate::common::{sh, Container, Runtime};
use serde_json::{json, Value};

use crate::probe::{self, Abi};

/// 128 + SIGSYS: what `rt run` reports for a process seccomp killed.
const KILLED_BY_SIGSYS: i32 = 128 + libc::SIGSYS;
const EPERM: i32 = libc::EPERM;
const ENOSYS: i32 = libc::ENOSYS;

fn sys(name: libc::c_long) -> u32 {
    name as u32
}

/// A container whose process is the probe for `nr(args)` under `profile`.
fn probe_container(profile: Value, abi: Abi, nr: u32, args: &[u64]) -> Container {
    probe_container_of(Runtime::Rt, profile, abi, nr, args)
}

fn probe_container_of(
    runtime: Runtime,
    profile: Value,
    abi: Abi,
    nr: u32,
    args: &[u64],
) -> Container {
    let mut c = Container::with_runtime(runtime, &["/probe"]);
    let path = c.rootfs().join("probe");
    fs::write(&path, probe::call(abi, nr, args)).expect("write probe");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod probe");
    c.set("/linux/seccomp", profile);
    c
}

/// The exit code of the probe for `nr(args)` under `profile`.
fn verdict(profile: &Value, abi: Abi, nr: u32, args: &[u64]) -> i32 {
    let c = probe_container(profile.clone(), abi, nr, args);
    let out = c.run();
    assert!(out.stderr.is_empty(), "{out}");
    out.code
}

fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

#[test]
fn errno_returns() {
    let p = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}
    ]));
    assert_eq!(verdict(&p, Abi::X64, sys(libc::SYS_getpid), &[]), 42);
    assert_eq!(verdict(&p, Abi::X64, sys(libc::SYS_getppid), &[]), EPERM);
    assert_eq!(verdict(&p, Abi::X64, sys(libc::SYS_gettid), &[]), 0);

    // An allow-list of what rt and the probe need under the filter.
    let p = allow_only(&[]);
    assert_eq!(verdict(&p, Abi::X64, sys(libc::SYS_getpid), &[]), 33);
}

/// What rt does under a filter installed with no_new_privs (init
/// Step::SeccompLate, where runc installs it too): report Ready, close the
/// sync socket, start a session, wait for `start`, exec — and the probe's
/// exit. Anything else gets errno 33.
const RT_AFTER_THE_FILTER: [&str; 6] =
    ["sendto", "close", "setsid", "read", "execve", "exit_group"];

/// A profile allowing `RT_AFTER_THE_FILTER` and `extra`, errno 33 otherwise.
fn allow_only(extra: &[&str]) -> Value {
    let names: Vec<&str> = RT_AFTER_THE_FILTER.iter().chain(extra).copied().collect();
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 33,
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    })
}

/// runc's rule (patchbpf): a call numbered above the highest one the
/// profile names on its ABI gets ENOSYS, not the default action, so that a
/// program falls back from a call newer than the profile (runc's
/// seccomp.bats "-ENOSYS handling"); below it, the default action. The
/// highest names here: exit_group (x86_64 231), sendto (i386 369), execve
/// (x32 520).
#[test]
fn calls_newer_than_the_profile_get_enosys() {
    let mut p = allow_only(&[]);
    p["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    const I386_GETPID: u32 = 20;
    let getpid = sys(libc::SYS_getpid);
    for (abi, named_range, beyond) in [
        (Abi::X64, getpid, 1000),
        (Abi::I386, I386_GETPID, 1000),
        (Abi::X32, getpid, 1000),
    ] {
        assert_eq!(verdict(&p, abi, named_range, &[]), 33);
        assert_eq!(verdict(&p, abi, beyond, &[]), ENOSYS);
    }
    // Docker's profile with errno ENXIO by default (runc's seccomp.bats
    // sets one): beyond it ENOSYS, below it the default, with rt as with
    // runc (whose init needs more than `allow_only`).
    let c = probe_container(Value::Null, Abi::X64, 0, &[]);
    let mut docker = docker_default(&c);
    docker["defaultErrnoRet"] = json!(libc::ENXIO);
    for runtime in [Runtime::Rt, Runtime::Runc] {
        let code = |nr| {
            probe_container_of(runtime, docker.clone(), Abi::X64, nr, &[])
                .run()
                .code
        };
        assert_eq!(code(1000), ENOSYS, "{runtime:?}");
        assert_eq!(code(sys(libc::SYS_uselib)), libc::ENXIO, "{runtime:?}");
    }
}

#[test]
fn argument_conditions() {
    let errno = |e: u32, name: &str, args: Value| json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": e, "args": args});
    let p = allow_but(json!([
        errno(
            61,
            "personality",
            json!([{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}])
        ),
        errno(
            62,
            "getpid",
            json!([{"index": 0, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GT"}])
        ),
        errno(
            63,
            "unshare",
            json!([{"index": 0, "value": libc::CLONE_NEWUTS, "valueTwo": libc::CLONE_NEWUTS, "op": "SCMP_CMP_MASKED_EQ"}])
        ),
        errno(
            64,
            "getppid",
            json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 5, "op": "SCMP_CMP_LT"}])
        ),
    ]));
    let cases: [(libc::c_long, &[u64], i32); 11] = [
        (libc::SYS_personality, &[0xffff_ffff], 61),
        // The high word differs: no match, and the kernel reads the low
        // word only (a persona query).
        (libc::SYS_personality, &[0x1_ffff_ffff], 0),
        (libc::SYS_getpid, &[0x1_0000_0001], 62),
        (libc::SYS_getpid, &[0x2_0000_0000], 62),
        (libc::SYS_getpid, &[0x1_0000_0000], 0),
        (libc::SYS_getpid, &[0xffff_ffff], 0),
        (libc::SYS_unshare, &[libc::CLONE_NEWUTS as u64], 63),
        (libc::SYS_unshare, &[0], 0),
        (libc::SYS_getppid, &[1, 4], 64),
        (libc::SYS_getppid, &[1, 5], 0),
        (libc::SYS_getppid, &[0, 4], 0),
    ];
    for (nr, args, want) in cases {
        assert_eq!(
            verdict(&p, Abi::X64, sys(nr), args),
            want,
            "syscall {nr} {args:x?}"
        );
    }
}

#[test]
fn kill_trap_trace_log_allow() {
    let p = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
        {"names": ["gettid"], "action": "SCMP_ACT_KILL_THREAD"},
        {"names": ["getuid"], "action": "SCMP_ACT_TRAP"},
        // No tracer: the kernel fails the call with ENOSYS.
        {"names": ["getgid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
        {"names": ["geteuid"], "action": "SCMP_ACT_LOG"},
        {"names": ["getegid"], "action": "SCMP_ACT_ALLOW"}
    ]));
    let cases = [
        (libc::SYS_getpid, KILLED_BY_SIGSYS),
        (libc::SYS_getppid, KILLED_BY_SIGSYS),
        (libc::SYS_gettid, KILLED_BY_SIGSYS),
        (libc::SYS_getuid, KILLED_BY_SIGSYS),
        (libc::SYS_getgid, ENOSYS),
        (libc::SYS_geteuid, 0),
        (libc::SYS_getegid, 0),
    ];
    for (nr, want) in cases {
        assert_eq!(verdict(&p, Abi::X64, sys(nr), &[]), want, "syscall {nr}");
    }
}

#[test]
fn architectures_and_the_x32_bit() {
    const I386_GETPID: u32 = 20;
    let getpid = sys(libc::SYS_getpid);
    // Native only: an i386 or x32 call is a foreign architecture.
    let native = allow_but(json!([]));
    assert_eq!(verdict(&native, Abi::X64, getpid, &[]), 0);
    assert_eq!(
        verdict(&native, Abi::I386, I386_GETPID, &[]),
        KILLED_BY_SIGSYS
    );
    assert_eq!(verdict(&native, Abi::X32, getpid, &[]), KILLED_BY_SIGSYS);

    let all = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 21}]
    });
    assert_eq!(verdict(&all, Abi::X64, getpid, &[]), 21);
    assert_eq!(verdict(&all, Abi::I386, I386_GETPID, &[]), 21);
    assert_eq!(verdict(&all, Abi::X32, getpid, &[]), 21);
    // Let through, an x32 call meets a kernel built without x32.
    assert_eq!(verdict(&all, Abi::X32, sys(libc::SYS_getppid), &[]), ENOSYS);
    assert_eq!(verdict(&all, Abi::I386, 64, &[]), 0, "i386 getppid");
}

#[test]
fn filter_flags_are_accepted() {
    let mut p =
        allow_but(json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]));
    p["flags"] = json!([
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_TSYNC"
    ]);
    assert_eq!(verdict(&p, Abi::X64, sys(libc::SYS_getpid), &[]), 9);
}

#[test]
fn a_bad_profile_fails_create() {
    let p = allow_but(
        json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]),
    );
    let c = probe_container(p, Abi::X64, sys(libc::SYS_getpid), &[]);
    let line = c.create().fails_with("invalid linux.seccomp");
    assert!(line.contains("index 9"), "{line}");

    let p = allow_but(json!([{"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 3}]));
    let c = probe_container(p, Abi::X64, sys(libc::SYS_getpid), &[]);
    c.create()
        .fails_with("errno return is only for SCMP_ACT_ERRNO");
}

/// Docker's default profile, converted the way moby does for the
/// container's bounding set.
fn docker_default(c: &Container) -> Value {
    let bounding: Vec<String> = c.config["process"]["capabilities"]["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("spec-fixtures/seccomp/docker-default.json");
    let profile = rt::seccomp::docker::to_oci(
        &fs::read(&path).expect("read the Docker profile"),
        &bounding,
    )
    .expect("convert");
    serde_json::to_value(profile).expect("encode")
}

const DOCKER_SCRIPT: &str = "ls / >/dev/null && cat /etc/passwd >/dev/null && echo basics-ok; \
    grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; \
    unshare -U true; echo unshare=$?; \
    mount -t tmpfs none /mnt; echo mount=$?; \
    /probe; echo keyctl=$?; \
    linux32 true; echo linux32=$?";

fn docker_container(seccomp: bool, no_new_privs: bool) -> Container {
    let session_keyring = -3i64 as u64; // KEY_SPEC_SESSION_KEYRING
    let keyctl_get_id = [0, session_keyring, 0]; // KEYCTL_GET_KEYRING_ID
    let mut c = probe_container(Value::Null, Abi::X64, sys(libc::SYS_keyctl), &keyctl_get_id);
    symlink("busybox", c.rootfs().join("bin/linux32")).expect("applet link");
    c.set("/process/args", sh(DOCKER_SCRIPT));
    c.set("/process/noNewPrivileges", no_new_privs);
    if seccomp {
        let profile = docker_default(&c);
        c.set("/linux/seccomp", profile);
    } else {
        c.remove("/linux/seccomp");
    }
    c
}

#[test]
fn docker_default_profile_denies_namespaces_mounts_and_keys() {
    // Without a filter the same calls work (mount lacks CAP_SYS_ADMIN).
    let out = docker_container(false, true).run();
    let lines = out.lines();
    assert_eq!(
        lines[..3],
        ["basics-ok", "NoNewPrivs:\t1", "Seccomp:\t0"],
        "{out}"
    );
    assert!(
        lines.contains(&"unshare=0") && lines.contains(&"keyctl=0"),
        "{out}"
    );

    for no_new_privs in [true, false] {
        let out = docker_container(true, no_new_privs).run();
        let nnp = if no_new_privs {
            "NoNewPrivs:\t1"
        } else {
            "NoNewPrivs:\t0"
        };
        let want = [
            "basics-ok",
            nnp,
            "Seccomp:\t2",
            "unshare=1",
            "mount=1",
            "keyctl=1",
            "linux32=0",
        ];
        assert_eq!(out.lines(), want, "no_new_privs {no_new_privs}:\n{out}");
        assert!(
            out.stderr
                .contains("unshare(0x10000000): Operation not permitted"),
            "{out}"
        );
    }
}

/// An allow-list that predates faccessat2 (runtime-tools' conformance
/// profile, Docker's before 20.10) denies it with EPERM, and a filter
/// without no_new_privs is in place before rt checks that the program may
/// run (the check is the final user's, after the switch): rt must judge by
/// the file's mode then, as runc (Go's exec.LookPath) does, not refuse the
/// exec. Every test of the conformance suite failed so.
#[test]
fn a_profile_without_faccessat2_still_runs_the_program() {
    let c = probe_container(Value::Null, Abi::X64, 0, &[]);
    let mut profile = docker_default(&c);
    profile["defaultErrnoRet"] = json!(EPERM);
    for rule in profile["syscalls"].as_array_mut().expect("syscalls") {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "faccessat2");
        }
    }
    for (user, want) in [(0, "0"), (65534, "65534")] {
        let mut c = Container::sh("id -u");
        c.set("/process/noNewPrivileges", false);
        c.set("/process/user", json!({"uid": user, "gid": user}));
        c.set("/linux/seccomp", profile.clone());
        let out = c.run().ok();
        assert_eq!(out.lines(), [want], "uid {user}: {out}");
    }
    // A file without any execute bit is still refused, in runc's words.
    let mut c = Container::new(&["/bin/not-executable"]);
    fs::write(c.rootfs().join("bin/not-executable"), "#!/bin/sh\n").expect("write");
    c.set("/process/noNewPrivileges", false);
    c.set("/linux/seccomp", profile);
    c.run().fails_with("permission denied");
}

#[test]
fn filter_without_no_new_privs_is_installed_before_dropping_capabilities() {
    // An unprivileged user without no_new_privs could not install a filter:
    // init must do it while it still holds CAP_SYS_ADMIN.
    let mut c = Container::sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; id -u");
    c.set("/process/noNewPrivileges", false);
    c.set("/process/user", json!({"uid": 65534, "gid": 65534}));
    c.set(
        "/linux/seccomp",
        allow_but(json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}])),
    );
    let out = c.run().ok();
    assert_eq!(
        out.lines(),
        ["NoNewPrivs:\t0", "Seccomp:\t2", "65534"],
        "{out}"
    );
}

#[test]
fn notify_hands_the_listener_fd_to_the_agent() {
    for no_new_privs in [true, false] {
        let getppid = sys(libc::SYS_getppid);
        let mut c = probe_container(Value::Null, Abi::X64, getppid, &[]);
        let socket = c.scratch().join("agent.sock");
        let listener = UnixListener::bind(&socket).expect("bind the agent socket");
        c.set("/process/noNewPrivileges", no_new_privs);
        c.set(
            "/linux/seccomp",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": socket,
                "listenerMetadata": "agent-metadata",
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
            }),
        );
        let agent = std::thread::spawn(move || agent::serve(listener, 77));
        let out = c.run();
        let agent = agent.join().expect("agent thread");
        assert_eq!(out.code, 77, "the agent's answer reaches the probe:\n{out}");
        assert_eq!(agent.nr, getppid as i32);
        let s = &agent.state;
        assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
        assert_eq!(s["metadata"], "agent-metadata", "{s}");
        assert_eq!(s["state"]["id"], c.id.as_str(), "{s}");
        assert_eq!(s["state"]["status"], "created", "{s}");
        assert!(
            s["pid"].as_i64().is_some_and(|p| p > 0) && s["pid"] == s["state"]["pid"],
            "{s}"
        );
        assert!(s["ociVersion"].is_string(), "{s}");
    }
}

/// SCMP_ACT_NOTIFY on a call rt makes before the agent holds the fd, and
/// an agent that is not there: `create` fails in runc's words (its tests
/// and their users match them), leaving nothing behind.
#[test]
fn notify_refusals_in_runcs_words() {
    let getppid = sys(libc::SYS_getppid);
    let mut c = probe_container(Value::Null, Abi::X64, getppid, &[]);
    let socket = c.scratch().join("agent.sock");
    let notify = |names: Value| {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]
        })
    };
    for call in ["write", "sendmsg"] {
        c.set("/linux/seccomp", notify(json!(["getppid", call])));
        c.create().fails_with(&format!(
            "SCMP_ACT_NOTIFY cannot be used for the {call} syscall"
        ));
    }
    c.set("/linux/seccomp", notify(json!(["getppid"])));
    let line = c
        .create()
        .fails_with("failed to connect with seccomp agent specified in the seccomp profile");
    assert!(
        line.ends_with(&format!("{}: no such file or directory", socket.display())),
        "{line}"
    );
}

/// runc loads the filter before it waits for `start`, so startContainer
/// hooks run under it, with or without no_new_privs (runc's seccomp.bats
/// "startContainer hook"): a hook's mkdir is killed, and the container
/// with it.
#[test]
fn start_container_hooks_run_under_the_filter() {
    for no_new_privs in [true, false] {
        let mut c = Container::new(&sh("echo user-process-ran"));
        c.set("/process/noNewPrivileges", no_new_privs);
        c.set(
            "/linux/seccomp",
            allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}])),
        );
        c.push(
            "/hooks/startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /dev/shm/hooked"]}),
        );
        // No core dump, so the status reads the same on any host.
        c.set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]),
        );
        let out = c.run();
        assert_ne!(out.code, 0, "{out}");
        assert!(!out.stdout.contains("user-process-ran"), "{out}");
        assert_eq!(
            out.stderr.trim_end(),
            "error running startContainer hook #0: error running hook: signal: bad system call, stdout: , stderr:",
            "no_new_privs {no_new_privs}"
        );
    }
}

/// runc 1.1.5 with libseccomp 2.5.4 as the reference, on cases where the
/// two agree by design. They differ, on purpose, when several rules of one
/// system call match: libseccomp picks by its own tree order where rt takes
/// the first in profile order; and libseccomp before 2.6.1 merges 64-bit
/// comparisons of two rules on the same argument wrongly (advisory
/// GHSA-4q85-33p6-j5g6: here getpid(0, 0, 8) matches `>= 1 << 32`). The
/// cases avoid both.
#[test]
fn same_verdicts_as_runc() {
    let p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71, "args": [{"index": 2, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GE"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72, "args": [{"index": 2, "value": 7, "op": "SCMP_CMP_LE"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 73, "args": [{"index": 0, "value": 0xff00_0000_00ffu64, "valueTwo": 0x1200_0000_0034u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 74, "args": [{"index": 5, "value": 0x8000_0000_0000_0000u64, "op": "SCMP_CMP_LT"}]},
            {"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 75, "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_NE"}]},
            {"names": ["getgid"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    });
    const I386_GETPID: u32 = 20;
    const I386_GETUID: u32 = 24;
    let cases: [(Abi, u32, &[u64]); 16] = [
        (Abi::X64, sys(libc::SYS_getpid), &[0, 0, 0x1_0000_0000]),
        (Abi::X64, sys(libc::SYS_getpid), &[0, 0, 7]),
        (Abi::X64, sys(libc::SYS_getpid), &[0, 0, 0x1_0000_0007]),
        (Abi::X64, sys(libc::SYS_getppid), &[0x3400_0000_5634]),
        (Abi::X64, sys(libc::SYS_getppid), &[0x1200_0000_0034]),
        (Abi::X64, sys(libc::SYS_getppid), &[0x1200_0000_0035]),
        (
            Abi::X64,
            sys(libc::SYS_gettid),
            &[0, 0, 0, 0, 0, 0x7fff_ffff_ffff_ffff],
        ),
        (
            Abi::X64,
            sys(libc::SYS_gettid),
            &[0, 0, 0, 0, 0, 0x8000_0000_0000_0000],
        ),
        (Abi::X64, sys(libc::SYS_getuid), &[3]),
        (Abi::X64, sys(libc::SYS_getuid), &[0x1_0000_0003]),
        (Abi::X64, sys(libc::SYS_getgid), &[]),
        // i386 compares low words: the GE rule's value truncates to 0.
        (Abi::I386, I386_GETPID, &[0, 0, 8]),
        (Abi::I386, I386_GETUID, &[3]),
        (Abi::I386, I386_GETUID, &[4]),
        (Abi::I386, I386_GETUID, &[0x1_0000_0003]),
        (Abi::X32, sys(libc::SYS_getpid), &[]),
    ];
    for (abi, nr, args) in cases {
        let code = |runtime| {
            probe_container_of(runtime, p.clone(), abi, nr, args)
                .run()
                .code
        };
        let (rt, runc) = (code(Runtime::Rt), code(Runtime::Runc));
        assert_eq!(rt, runc, "syscall {nr} {args:x?}: rt {rt}, runc {runc}");
    }
}

#[test]
fn exec_gets_the_containers_filter() {
    let mut c = docker_container(true, true);
    c.set("/process/args", json!(["sleep", "1000"]));
    c.start_ok();
    let out = c.rt(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?",
    ]);
    assert_eq!(out.lines(), ["Seccomp:\t2", "unshare=1"], "{out}");
}

/// A profile of 100 000 conditional rules compiled for minutes (the code
/// generator was quadratic) before the kernel's 4096-instruction limit
/// refused it (issue 16). It is refused now as soon as generation counts
/// past the limit, with one line naming it, and nothing is left. The
/// bound is generous (a debug build on a loaded machine; the rt of this
/// test parses a 10 MB config.json too): the old one needed over 300 s.
#[test]
fn huge_profiles_are_refused_quickly() {
    let rules: Vec<Value> = (0..100_000u64)
        .map(|i| {
            json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": i % 4000 + 1,
                "args": [{"index": i % 6, "value": i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let mut c = Container::new(&["true"]);
    c.set("/linux/seccomp", allow_but(Value::Array(rules)));
    // Encoded before the clock starts: only rt's time counts.
    let text = serde_json::to_string(&c.config).expect("encode config");
    c.set_config_text(text);
    let started = std::time::Instant::now();
    let out = c.create();
    let took = started.elapsed();
    out.fails_with("the kernel takes at most 4096");
    assert!(!c.state_root().join(&c.id).exists(), "state left");
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}
