//! What rt's seccomp support covers, in the shape of the runtime spec's
//! features document (`linux.seccomp` of `rt features`).

use serde_json::{json, Value};

pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Every architecture a profile may name (`architectures`): x86_64, x32
/// and i386 get rules (see `arch`); the others are recognised and need
/// none, as an x86_64 kernel never runs their system calls (Docker's
/// default profile names several).
pub const ARCHES: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Flags rt maps to seccomp(2) flags (WAIT_KILLABLE_RECV applies to
/// filters with a NOTIFY rule, and needs Linux 5.19).
pub const KNOWN_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];
pub const SUPPORTED_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The `linux.seccomp` object of the features document.
pub fn features() -> Value {
    json!({
        "enabled": cfg!(target_arch = "x86_64"),
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": ARCHES,
        "knownFlags": KNOWN_FLAGS,
        "supportedFlags": SUPPORTED_FLAGS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name listed is one a config may use: it parses, and a profile
    /// naming it compiles.
    #[test]
    fn every_listed_arch_is_accepted() {
        for name in ARCHES {
            let arch: oci_spec::runtime::Arch =
                serde_json::from_value(serde_json::json!(name)).expect(name);
            let profile: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}),
            )
            .expect(name);
            crate::seccomp::compile(&profile).expect(name);
        }
    }
}
