//! Profiles compiled and their programs run in the interpreter: the
//! decisions must be what libseccomp's semantics give.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

mod docker;
mod operators;

use super::arch::{Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::interp::{self, Data};
use super::syscalls::number;
use super::{compile, Seccomp};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

fn errno(e: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e
}

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("profile JSON")
}

fn build(v: Value) -> Seccomp {
    compile(&profile(v)).expect("compile")
}

fn compile_error(v: Value) -> String {
    match compile(&profile(v)) {
        Ok(_) => panic!("profile compiled"),
        Err(e) => e.to_string(),
    }
}

fn nr(arch: Arch, name: &str) -> u32 {
    number(arch, name).unwrap_or_else(|| panic!("no {name} on {arch:?}"))
}

/// The decision for system call `name` of `arch` with `args`.
fn decide(f: &Seccomp, arch: Arch, name: &str, args: &[u64]) -> u32 {
    raw(f, arch.audit(), nr(arch, name), args)
}

fn raw(f: &Seccomp, audit: u32, nr: u32, args: &[u64]) -> u32 {
    let mut all = [0u64; 6];
    all[..args.len()].copy_from_slice(args);
    interp::run(
        f.program(),
        &Data {
            nr,
            arch: audit,
            args: all,
        },
    )
    .expect("run")
}

/// Allow by default; `rules` as OCI syscall entries.
fn allow_but(rules: Value) -> Seccomp {
    build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))
}

#[test]
fn syscall_tables_match_the_kernel() {
    for (name, want) in [
        ("read", libc::SYS_read),
        ("execve", libc::SYS_execve),
        ("ioctl", libc::SYS_ioctl),
        ("clone", libc::SYS_clone),
        ("personality", libc::SYS_personality),
        ("mount", libc::SYS_mount),
        ("keyctl", libc::SYS_keyctl),
        ("unshare", libc::SYS_unshare),
        ("clone3", libc::SYS_clone3),
        ("mseal", libc::SYS_mseal),
    ] {
        assert_eq!(number(Arch::X86_64, name), Some(want as u32), "{name}");
    }
    assert_eq!(number(Arch::X86_64, "listns"), Some(470));
    assert_eq!(number(Arch::X86_64, "_llseek"), None);
    assert_eq!(number(Arch::X32, "read"), Some(X32_SYSCALL_BIT));
    assert_eq!(number(Arch::X32, "ioctl"), Some(X32_SYSCALL_BIT | 514));
    assert_eq!(number(Arch::X32, "uselib"), None);
    for (name, want) in [
        ("getpid", 20),
        ("socketcall", 102),
        ("_llseek", 140),
        ("mmap2", 192),
        ("socket", 359),
        ("clone3", 435),
        ("listns", 470),
    ] {
        assert_eq!(number(Arch::X86, name), Some(want), "{name}");
    }
    assert_eq!(number(Arch::X86, "arch_prctl"), Some(384));
    assert_eq!(number(Arch::X86, "no_such_call"), None);
}

#[test]
fn actions_and_errno() {
    let f = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["gettid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["getuid"], "action": "SCMP_ACT_TRACE"},
        {"names": ["getgid"], "action": "SCMP_ACT_KILL"},
        {"names": ["geteuid"], "action": "SCMP_ACT_KILL_THREAD"},
        {"names": ["getegid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["getpgrp"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getsid"], "action": "SCMP_ACT_LOG"},
        {"names": ["uname"], "action": "SCMP_ACT_ALLOW"}
    ]));
    let x = Arch::X86_64;
    assert_eq!(decide(&f, x, "getpid", &[]), EPERM);
    assert_eq!(decide(&f, x, "getppid", &[]), errno(38));
    assert_eq!(decide(&f, x, "gettid", &[]), libc::SECCOMP_RET_TRACE | 7);
    assert_eq!(decide(&f, x, "getuid", &[]), libc::SECCOMP_RET_TRACE | 1);
    assert_eq!(decide(&f, x, "getgid", &[]), KILL_THREAD);
    assert_eq!(decide(&f, x, "geteuid", &[]), KILL_THREAD);
    assert_eq!(
        decide(&f, x, "getegid", &[]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(decide(&f, x, "getpgrp", &[]), libc::SECCOMP_RET_TRAP);
    assert_eq!(decide(&f, x, "getsid", &[]), libc::SECCOMP_RET_LOG);
    assert_eq!(decide(&f, x, "uname", &[]), ALLOW);
    assert_eq!(decide(&f, x, "read", &[]), ALLOW);

    let f = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 95, "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
        ]}),
    );
    assert_eq!(decide(&f, x, "read", &[]), ALLOW);
    assert_eq!(decide(&f, x, "write", &[]), errno(95));
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 9999, &[]), errno(95));
}

#[test]
fn bad_profiles_are_refused() {
    let allow = |rules: Value| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    let cases = [
        (
            allow(json!([{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}])),
            "only for SCMP_ACT_ERRNO",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}),
            "defaultAction: an errno return",
        ),
        (
            allow(json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}])),
            "16 bits",
        ),
        (
            allow(json!([{"names": [], "action": "SCMP_ACT_ERRNO"}])),
            "at least one",
        ),
        (
            allow(
                json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]),
            ),
            "index 6",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/a.sock"}),
            "SCMP_ACT_NOTIFY cannot be used as default action",
        ),
        (
            allow(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])),
            "needs listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "a.sock", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "must be absolute",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a.sock", "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}),
            "SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall",
        ),
        // runc's words, which its tests match.
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a.sock", "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
            "without listenerPath",
        ),
    ];
    for (p, want) in cases {
        let err = compile_error(p.clone());
        assert!(
            err.starts_with("invalid linux.seccomp: ") && err.contains(want),
            "{p}: {err}"
        );
    }
}

#[test]
fn listener_and_flags() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert_eq!(
        decide(&f, Arch::X86_64, "mkdir", &[]),
        libc::SECCOMP_RET_USER_NOTIF
    );
    let listener = f.listener.as_ref().expect("listener");
    assert_eq!(listener.path.to_str(), Some("/run/agent.sock"));
    assert_eq!(listener.metadata.as_deref(), Some("meta"));
    // TSYNC is accepted and not passed, as by runc: one thread installs.
    let want = libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    assert_eq!(f.flags, want);
    assert_eq!(
        f.flags_note(),
        format!(
            "seccomp filter flags: {}",
            want | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        )
    );
    // Without NOTIFY the listener is ignored (runtime spec).
    let f = build(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}),
    );
    assert!(f.listener.is_none());
    assert_eq!(f.flags, 0);
    assert_eq!(f.flags_note(), "seccomp filter flags: 0");
}

/// runc's defaults: no `flags` at all means SPEC_ALLOW; an empty list, none.
#[test]
fn flags_default_to_spec_allow_only_when_absent() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(f.flags, libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}));
    assert_eq!(f.flags, 0);
}

#[test]
fn architectures() {
    // Native only: i386, x32 and any other arch are killed, except the -1
    // a tracer uses to skip a call.
    let f = allow_but(json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]));
    assert_eq!(decide(&f, Arch::X86_64, "getpid", &[]), EPERM);
    assert_eq!(raw(&f, AUDIT_ARCH_I386, 20, &[]), KILL_THREAD);
    assert_eq!(
        raw(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, &[]),
        KILL_THREAD
    );
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, u32::MAX, &[]), ALLOW);
    assert_eq!(raw(&f, 0xc000_00b7, 172, &[]), KILL_THREAD);

    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11},
            {"names": ["_llseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12},
            {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]
    }));
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        assert_eq!(decide(&f, arch, "getpid", &[]), errno(11), "{arch:?}");
        assert_eq!(decide(&f, arch, "ioctl", &[]), errno(13), "{arch:?}");
        assert_eq!(decide(&f, arch, "read", &[]), ALLOW, "{arch:?}");
    }
    assert_eq!(decide(&f, Arch::X86, "_llseek", &[]), errno(12));
    // x86_64 ioctl is 16; on x32 16 is not ioctl but the old number, now unused.
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 16, &[]), ALLOW);
    assert_eq!(raw(&f, 0xc000_00b7, 172, &[]), KILL_THREAD);
}

const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// runc's patchbpf rule: above the highest number a profile names on an
/// ABI, ENOSYS; at or below it, the default action, even where no call
/// exists. Each ABI has its own highest number.
#[test]
fn calls_newer_than_the_profile_get_enosys() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid", "openat"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let x64 = nr(Arch::X86_64, "openat");
    let i386 = nr(Arch::X86, "openat");
    let x32 = nr(Arch::X32, "openat");
    assert_eq!((x64, i386, x32), (257, 295, X32_SYSCALL_BIT | 257));
    for (audit, last) in [
        (AUDIT_ARCH_X86_64, x64),
        (AUDIT_ARCH_I386, i386),
        (AUDIT_ARCH_X86_64, x32),
    ] {
        assert_eq!(raw(&f, audit, last, &[]), ALLOW, "{last:#x}");
        assert_eq!(raw(&f, audit, last - 1, &[]), EPERM, "{last:#x}");
        assert_eq!(raw(&f, audit, last + 1, &[]), ENOSYS, "{last:#x}");
        assert_eq!(raw(&f, audit, last + 1000, &[]), ENOSYS, "{last:#x}");
    }
    assert_eq!(raw(&f, AUDIT_ARCH_I386, u32::MAX, &[]), ENOSYS);
    // runc splits x86_64 from x32 by the x32 bit alone: numbers with bit
    // 31 set are beyond either, -1 too.
    for n in [0x8000_0000, 0xbfff_ffff, 0xc000_0000, u32::MAX] {
        assert_eq!(raw(&f, AUDIT_ARCH_X86_64, n, &[]), ENOSYS, "{n:#x}");
    }
    assert_eq!(raw(&f, 0xc000_00b7, 1000, &[]), KILL_THREAD);

    // x32 not allowed: its half stays a foreign arch, -1 the default.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["openat"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 258, &[]), ENOSYS);
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 0x8000_0000, &[]), ENOSYS);
    for n in [X32_SYSCALL_BIT | 1000, 0xc000_0000] {
        assert_eq!(raw(&f, AUDIT_ARCH_X86_64, n, &[]), KILL_THREAD, "{n:#x}");
    }
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, u32::MAX, &[]), EPERM);
    assert_eq!(raw(&f, AUDIT_ARCH_I386, 1000, &[]), KILL_THREAD);
}

/// Which default actions give way to ENOSYS, and the edge cases of the
/// highest number.
#[test]
fn enosys_for_newer_calls_depends_on_the_default() {
    let rules = json!([{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]);
    let newer = |default: Value| {
        let mut p = json!({"defaultAction": default, "syscalls": rules});
        if p["defaultAction"] == "SCMP_ACT_ERRNO" {
            p["defaultErrnoRet"] = json!(libc::ENXIO);
        }
        raw(&build(p), AUDIT_ARCH_X86_64, 1000, &[])
    };
    // Calls pass through these: a newer call is let through too.
    assert_eq!(newer(json!("SCMP_ACT_ALLOW")), ALLOW);
    assert_eq!(newer(json!("SCMP_ACT_LOG")), libc::SECCOMP_RET_LOG);
    assert_eq!(newer(json!("SCMP_ACT_TRACE")), libc::SECCOMP_RET_TRACE | 1);
    // An errno default of its own (runc's seccomp.bats: ENXIO) still
    // yields to ENOSYS beyond the profile, and so do kill and trap.
    for default in [
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        assert_eq!(newer(json!(default)), ENOSYS, "{default}");
    }
    let f = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::ENXIO, "syscalls": rules}),
    );
    assert_eq!(
        decide(&f, Arch::X86_64, "mkdir", &[]),
        errno(libc::ENXIO as u32)
    );

    // No rules, or only `read` (number 0): runc finds no highest number
    // and adds nothing; names unknown on an ABI do not count for it.
    let f = build(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 1000, &[]), EPERM);
    let f = build(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    ]}));
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 1000, &[]), EPERM);
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["uselib", "no_such_call"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(number(Arch::X32, "uselib"), None);
    assert_eq!(raw(&f, AUDIT_ARCH_X86_64, 1000, &[]), ENOSYS);
    assert_eq!(
        raw(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1000, &[]),
        EPERM
    );
}

#[test]
fn first_matching_rule_wins() {
    let f = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpid", "getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3, "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
    ]));
    let x = Arch::X86_64;
    assert_eq!(decide(&f, x, "getpid", &[1]), errno(1));
    assert_eq!(decide(&f, x, "getpid", &[2]), errno(2));
    assert_eq!(decide(&f, x, "getppid", &[1]), errno(2));
}

#[test]
fn conditions_and_within_a_rule_or_across_rules() {
    let f = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 5, "value": 9, "op": "SCMP_CMP_GE"}
        ]},
        // The same index twice: runc makes two rules, either matches.
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6, "args": [
            {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 4, "op": "SCMP_CMP_EQ"}
        ]}
    ]));
    let x = Arch::X86_64;
    assert_eq!(decide(&f, x, "getpid", &[1, 0, 0, 0, 0, 9]), errno(5));
    assert_eq!(decide(&f, x, "getpid", &[1, 0, 0, 0, 0, 8]), ALLOW);
    assert_eq!(decide(&f, x, "getpid", &[2, 0, 0, 0, 0, 9]), ALLOW);
    assert_eq!(decide(&f, x, "getppid", &[0, 3]), errno(6));
    assert_eq!(decide(&f, x, "getppid", &[0, 4]), errno(6));
    assert_eq!(decide(&f, x, "getppid", &[0, 5]), ALLOW);
}

#[test]
fn far_jumps_get_hops() {
    // 400 rule blocks: jumps from the tree to blocks and returns far away.
    let table = ["read", "write", "close", "getpid", "mmap"];
    let mut rules = Vec::new();
    for i in 0..400u64 {
        rules.push(json!({"names": [table[(i % 5) as usize]], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
            "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}]}));
    }
    rules.push(json!({"names": ["uname"], "action": "SCMP_ACT_LOG"}));
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    assert!(f.program().len() > 1000, "{}", f.program().len());
    for i in 0..400u64 {
        let name = table[(i % 5) as usize];
        assert_eq!(
            decide(&f, Arch::X86_64, name, &[i]),
            errno(i as u32 + 1),
            "{name} {i}"
        );
    }
    assert_eq!(decide(&f, Arch::X86_64, "read", &[1000]), ALLOW);
    assert_eq!(
        decide(&f, Arch::X86_64, "uname", &[]),
        libc::SECCOMP_RET_LOG
    );
}

#[test]
fn too_large_a_filter_is_refused() {
    let rules: Vec<Value> = (0..3000u64)
        .map(|i| json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": i << 32 | i, "op": "SCMP_CMP_GT"}]}))
        .collect();
    let err = compile_error(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    assert!(err.contains("at most 4096"), "{err}");
}

#[test]
fn unknown_names_are_skipped() {
    let f = allow_but(json!([{"names": ["no_such_call", "getpid"], "action": "SCMP_ACT_ERRNO"}]));
    assert_eq!(decide(&f, Arch::X86_64, "getpid", &[]), EPERM);
}

#[test]
fn features_list_what_compiles() {
    use super::features::{ACTIONS, ARCHES, OPERATORS, SUPPORTED_FLAGS};
    let args = |op: &str| json!([{"index": 0, "value": 1, "op": op}]);
    let rules: Vec<Value> = ACTIONS
        .iter()
        .filter(|a| **a != "SCMP_ACT_NOTIFY")
        .flat_map(|a| {
            OPERATORS
                .iter()
                .map(move |op| json!({"names": ["getpid"], "action": a, "args": args(op)}))
        })
        .collect();
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "flags": SUPPORTED_FLAGS, "syscalls": rules});
    build(p);
    let notify = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]});
    build(notify);
    assert_eq!(super::features()["enabled"], true);
}

/// FNV-1a of every instruction: a program's fingerprint.
fn digest(f: &Seccomp) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in f.program() {
        let bytes = i.code.to_le_bytes().into_iter().chain([i.jt, i.jf]);
        for b in bytes.chain(i.k.to_le_bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A valid profile with `per` conditional rules on each of `calls`, of
/// every operator, argument and several actions, on the three x86 ABIs:
/// thousands of instructions, hundreds of jumps beyond 8-bit reach.
fn large_profile(calls: &[&str], per: u64) -> Value {
    let ops = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    let mut rules = Vec::new();
    for (c, name) in calls.iter().enumerate() {
        for j in 0..per {
            let n = c as u64 * per + j;
            let op = ops[(n % 7) as usize];
            let value = (n * 0x9e37_79b9) << (n % 3 * 16);
            let mut rule =
                json!({"names": [name], "args": [{"index": n % 6, "value": value, "op": op}]});
            if op == "SCMP_CMP_MASKED_EQ" {
                rule["args"][0]["valueTwo"] = json!(n);
            }
            match n % 4 {
                0 => {
                    rule["action"] = json!("SCMP_ACT_ERRNO");
                    rule["errnoRet"] = json!(n % 200 + 1);
                }
                1 => rule["action"] = json!("SCMP_ACT_ALLOW"),
                2 => {
                    rule["action"] = json!("SCMP_ACT_TRACE");
                    rule["errnoRet"] = json!(n % 7);
                }
                _ => rule["action"] = json!("SCMP_ACT_KILL_PROCESS"),
            }
            rules.push(rule);
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules
    })
}

/// The linear layout (issue 16) must give exactly the programs of the
/// quadratic one it replaced, hops and all: these fingerprints are that
/// one's output for the same profiles.
#[test]
fn large_profiles_compile_as_before() {
    let calls = [
        "read", "write", "openat", "ioctl", "mmap", "socket", "connect", "clone", "prctl", "fcntl",
    ];
    for (profile_json, len, want) in [
        (large_profile(&calls, 5), 576, 0x9790_3cdb_dabf_00e0u64),
        (large_profile(&calls, 10), 1053, 0x7150_c42c_ea33_80cf),
        (large_profile(&calls, 30), 2592, 0x761c_f25f_2913_1b71),
        (large_profile(&calls[..3], 100), 2110, 0x6c79_a5a1_7b9a_b2a8),
    ] {
        let f = build(profile_json);
        assert_eq!((f.program().len(), digest(&f)), (len, want));
    }
}

/// 100 000 rules compiled for minutes (quadratic) before the length
/// check refused them; now the count comes first and the refusal in
/// moments (the bound is generous: this is about complexity, and this
/// is an unoptimized build).
#[test]
fn huge_profiles_are_refused_early() {
    let rules: Vec<Value> = (0..100_000u64)
        .map(|i| json!({"names": ["read", "write"], "action": "SCMP_ACT_ERRNO", "errnoRet": i % 4000, "args": [{"index": i % 6, "value": i, "op": "SCMP_CMP_EQ"}]}))
        .collect();
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    let started = std::time::Instant::now();
    let err = compile(&p).err().map(|e| e.to_string()).unwrap_or_default();
    let took = started.elapsed();
    assert!(
        err.contains("needs at least") && err.ends_with("the kernel takes at most 4096"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}
