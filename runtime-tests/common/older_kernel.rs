//! Running rt as on an older kernel: a seccomp filter, installed in the
//! child before exec and inherited by rt and everything it starts, makes a
//! newer system call fail with ENOSYS, so that tests reach rt's fallbacks
//! on this machine's kernel.

use std::process::Command;

/// `cmd` runs with mount_setattr(2) failing with ENOSYS, as before Linux
/// 5.12.
pub fn without_mount_setattr(cmd: &mut Command) {
    // linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let nr = libc::SYS_mount_setattr as u32;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let filter = [
        // seccomp_data.arch: only this architecture's numbers are known.
        stmt(load, 4),
        jump(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        // seccomp_data.nr
        stmt(load, 0),
        jump(nr, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    rt::syscall::filter_in_child(cmd, filter.to_vec());
}
