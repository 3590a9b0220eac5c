//! Docker's default profile (spec-fixtures), converted for a bounding set.

use oci_spec::runtime::LinuxSeccomp;

use super::{decide, errno, ALLOW, EPERM};
use crate::seccomp::arch::{Arch, AUDIT_ARCH_X86_64};
use crate::seccomp::interp::{self, Data};
use crate::seccomp::{compile, docker, Seccomp};

const DOCKER_JSON: &[u8] = include_bytes!("../../../spec-fixtures/seccomp/docker-default.json");

fn docker_default(bounding: &[&str]) -> Seccomp {
    let bounding: Vec<String> = bounding.iter().map(|s| s.to_string()).collect();
    compile(&docker::to_oci(DOCKER_JSON, &bounding).expect("convert")).expect("compile")
}

/// The valid fixture holds the profile converted for an empty bounding set
/// by a separate script; the converter must agree.
#[test]
fn conversion_matches_the_fixture() {
    let fixture = include_bytes!("../../../spec-fixtures/valid/seccomp-docker-default.json");
    let config: serde_json::Value = serde_json::from_slice(fixture).expect("fixture JSON");
    let want: LinuxSeccomp =
        serde_json::from_value(config["linux"]["seccomp"].clone()).expect("profile");
    assert_eq!(docker::to_oci(DOCKER_JSON, &[]).expect("convert"), want);
}

#[test]
fn docker_default_profile() {
    let f = docker_default(&["CAP_CHOWN", "CAP_KILL"]);
    let len = f.program().len();
    let steps = (0..480).map(|nr| {
        let d = Data {
            nr,
            arch: AUDIT_ARCH_X86_64,
            args: [0; 6],
        };
        interp::trace(f.program(), &d).expect("run").1
    });
    let most = steps.max().unwrap_or(0);
    eprintln!("docker default profile: {len} BPF instructions, at most {most} run per x86_64 call");
    assert!(len < 400 && most < 20, "{len} instructions, {most} run");
    let (x, i386, x32) = (Arch::X86_64, Arch::X86, Arch::X32);
    for name in [
        "read",
        "write",
        "openat",
        "execve",
        "exit_group",
        "futex",
        "rt_sigreturn",
        "capset",
        "close_range",
        "ptrace",
    ] {
        assert_eq!(decide(&f, x, name, &[]), ALLOW, "{name}");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "reboot",
        "kexec_load",
    ] {
        assert_eq!(decide(&f, x, name, &[]), EPERM, "{name}");
    }
    assert_eq!(decide(&f, x, "clone3", &[]), errno(38));
    // clone: allowed unless it asks for namespaces.
    assert_eq!(decide(&f, x, "clone", &[0x01_1200]), ALLOW);
    assert_eq!(decide(&f, x, "clone", &[0x1000_0000 | 0x11]), EPERM);
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(
            decide(&f, x, "personality", &[persona]),
            ALLOW,
            "{persona:#x}"
        );
    }
    assert_eq!(decide(&f, x, "personality", &[0x1_0000_0000]), EPERM);
    assert_eq!(decide(&f, x, "personality", &[0x0400_0000]), EPERM);
    assert_eq!(decide(&f, i386, "socketcall", &[]), ALLOW);
    assert_eq!(decide(&f, i386, "_llseek", &[]), ALLOW);
    assert_eq!(decide(&f, i386, "mount", &[]), EPERM);
    assert_eq!(decide(&f, x32, "read", &[]), ALLOW);
    assert_eq!(decide(&f, x32, "mount", &[]), EPERM);

    // With CAP_SYS_ADMIN Docker's profile allows the namespace calls.
    let f = docker_default(&["CAP_SYS_ADMIN"]);
    assert_eq!(decide(&f, x, "mount", &[]), ALLOW);
    assert_eq!(decide(&f, x, "clone", &[0x1000_0000]), ALLOW);
    assert_eq!(decide(&f, x, "clone3", &[]), ALLOW);
    assert_eq!(decide(&f, x, "keyctl", &[]), EPERM);
}
