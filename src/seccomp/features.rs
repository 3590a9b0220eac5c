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

/// Architectures with rules; others are accepted and need none on x86_64.
pub const ARCHES: &[&str] = &["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"];

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
