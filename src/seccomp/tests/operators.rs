//! Every comparison operator against plain u64 arithmetic, on x86_64 (64
//! bits, high word first) and i386 (low words only).

use serde_json::json;

use super::{allow_but, build, decide, ALLOW, EPERM};
use crate::seccomp::arch::Arch;

const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    0x7fff_ffff,
    0xffff_fffe,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x1_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn holds(op: &str, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        "SCMP_CMP_NE" => arg != value,
        "SCMP_CMP_LT" => arg < value,
        "SCMP_CMP_LE" => arg <= value,
        "SCMP_CMP_EQ" => arg == value,
        "SCMP_CMP_GE" => arg >= value,
        "SCMP_CMP_GT" => arg > value,
        _ => arg & value == value_two & value,
    }
}

const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

#[test]
fn every_operator_on_64_bit_and_32_bit_arguments() {
    for op in OPS {
        for value in INTERESTING {
            let value_two = value.rotate_left(7) ^ 0x1_0000_0001;
            let f = build(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 3, "value": value, "valueTwo": value_two, "op": op}
                ]}]
            }));
            for arg in INTERESTING
                .iter()
                .chain(&[value, value.wrapping_add(1), value.wrapping_sub(1)])
                .copied()
            {
                // i386 compares the low 32 bits, of both sides (libseccomp).
                let low = |v: u64| v & 0xffff_ffff;
                let narrow = (Arch::X86, low(arg), low(value), low(value_two));
                for (arch, arg, value, value_two) in [(Arch::X86_64, arg, value, value_two), narrow]
                {
                    let want = if holds(op, arg, value, value_two) {
                        EPERM
                    } else {
                        ALLOW
                    };
                    let got = decide(&f, arch, "getpid", &[0, 0, 0, arg]);
                    assert_eq!(
                        got, want,
                        "{arch:?} {op} {value:#x} {value_two:#x} on {arg:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn masked_compare_with_empty_mask_always_holds() {
    let f = allow_but(json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "valueTwo": 5, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]));
    assert_eq!(decide(&f, Arch::X86_64, "getpid", &[1234]), EPERM);
}
