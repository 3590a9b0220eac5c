//! The architectures a filter can tell apart on an x86_64 kernel.
//!
//! `seccomp_data.arch` holds an AUDIT_ARCH_* value, and an x86_64 kernel
//! reports only two: x86_64 — also for x32 tasks, whose system call numbers
//! carry `__X32_SYSCALL_BIT` — and i386 (`int 0x80`, 32-bit programs).

use oci_spec::runtime::Arch as OciArch;

/// EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE (linux/audit.h).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// EM_386 | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Set in every x32 system call number (asm/unistd.h).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    X32,
}

impl Arch {
    /// `None` for architectures whose system calls an x86_64 kernel never
    /// runs (ARM, MIPS, ...): a filter needs no rules for them.
    pub fn from_oci(arch: OciArch) -> Option<Arch> {
        match arch {
            OciArch::ScmpArchNative | OciArch::ScmpArchX86_64 => Some(Arch::X86_64),
            OciArch::ScmpArchX86 => Some(Arch::X86),
            OciArch::ScmpArchX32 => Some(Arch::X32),
            _ => None,
        }
    }

    pub fn audit(self) -> u32 {
        match self {
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
        }
    }

    /// Whether arguments are compared as 64-bit values. libseccomp treats
    /// i386 and x32 as 32-bit ABIs and compares only the low halves there.
    pub fn wide_args(self) -> bool {
        self == Arch::X86_64
    }
}
