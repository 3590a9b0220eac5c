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

/// The longest name in the tables: i386's "sched_rr_get_interval_time64".
const NAME_MAX: usize = 28;

/// A row's name, stored in the row. A table of `&str` holds a pointer per
/// row, and the C library relocates every such pointer when an rt process
/// starts, whatever the command: for these two tables 880 pointers, five
/// pages written (and copied) at every start. Bytes in place need none.
pub(super) struct Name([u8; NAME_MAX]);

/// `name` as a table row's [`Name`] (zero-padded). Evaluated when rt is
/// compiled: a longer name fails the build.
pub(super) const fn n(name: &str) -> Name {
    let bytes = name.as_bytes();
    assert!(
        bytes.len() <= NAME_MAX,
        "system call name longer than NAME_MAX"
    );
    let mut out = [0u8; NAME_MAX];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    Name(out)
}

impl Name {
    /// The row's name is `name`: its bytes, then padding or the end. Most
    /// rows differ in the first byte.
    fn is(&self, name: &str) -> bool {
        let b = name.as_bytes();
        self.0.get(..b.len()) == Some(b) && self.0.get(b.len()).is_none_or(|&c| c == 0)
    }
}

pub fn number(arch: Arch, name: &str) -> Option<u32> {
    match arch {
        Arch::X86 => i386::TABLE
            .iter()
            .find(|row| row.0.is(name))
            .map(|row| row.1),
        Arch::X86_64 => find64(name, Abi::X64),
        Arch::X32 => find64(name, Abi::X32).map(|nr| nr | X32_SYSCALL_BIT),
    }
}

fn find64(name: &str, abi: Abi) -> Option<u32> {
    x86_64::TABLE
        .iter()
        .find(|row| row.0.is(name) && (row.2 == Abi::Common || row.2 == abi))
        .map(|row| row.1)
}
