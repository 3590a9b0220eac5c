//! System call numbers by name, from the kernel's own tables (one file per
//! table, in the kernel's order so a row can be checked against it).

mod i386;
mod x86_64;

use super::arch::{Arch, X32_SYSCALL_BIT};

/// The "abi" column of syscall_64.tbl: a row serves both 64-bit ABIs, or
/// only x86_64, or only x32.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Abi {
    Common,
    X64,
    X32,
}

pub fn number(arch: Arch, name: &str) -> Option<u32> {
    match arch {
        Arch::X86 => i386::TABLE
            .iter()
            .find(|row| row.0 == name)
            .map(|row| row.1),
        Arch::X86_64 => find64(name, Abi::X64),
        Arch::X32 => find64(name, Abi::X32).map(|nr| nr | X32_SYSCALL_BIT),
    }
}

fn find64(name: &str, abi: Abi) -> Option<u32> {
    x86_64::TABLE
        .iter()
        .find(|row| row.0 == name && (row.2 == Abi::Common || row.2 == abi))
        .map(|row| row.1)
}
