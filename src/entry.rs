//! rt's entry points (x86_64): the CVE-2019-5736 re-execution of
//! `rt::exeseal`, done before the C library starts, and the `main` the C
//! library calls.
//!
//! `create`, `run` and `exec` re-execute rt from a read-only bind mount of
//! its binary (or a sealed memfd copy) before anything else. Starting an
//! image of rt costs ~0.25 ms of CPU on a VM, most of it the C library's
//! start-up (CPUID, which traps to the hypervisor, then relocations), and
//! the first image does nothing but re-execute. So `rt_entry` (the ELF
//! entry, see build.rs) runs first, on the kernel's initial stack: when a
//! command needs the sealed binary and the image is not one, it makes the
//! sealed binary and execveat(2)s it, with `rt::exeseal`'s guard in the
//! environment; otherwise, or on any error, it jumps to the C library's
//! `_start` and `rt::exeseal::ensure` in `main` does the same work again
//! and reports what fails.
//!
//! Nothing `preexec` runs may use what the C library sets up: no
//! relocated data (the binary is relocated later), no thread-local storage
//! (errno), no libc call (IFUNC'd ones are not resolved yet), no panic.
//! Hence raw system calls, raw pointers and volatile writes (a copy loop
//! must not become a call to memcpy), and no zeroed buffers (zeroing may
//! become a call to memset). `just build` checks the binary it links
//! (scripts/layout/entry-check.sh).

// With src/syscall.rs, the one module where `unsafe` is allowed (Cargo.toml [lints]).
#![allow(unsafe_code)]

use core::arch::{asm, global_asm};
use core::mem::MaybeUninit;

// The kernel enters with the initial stack at %rsp (argc, argv, NULL,
// envp, NULL, auxv) and, under a dynamic loader, its finaliser in %rdx,
// which `_start` expects: kept in %r12 (callee-saved) across the call.
global_asm!(
    ".globl rt_entry",
    ".type rt_entry,@function",
    "rt_entry:",
    "mov r12, rdx",
    "mov rdi, rsp",
    "call {preexec}",
    "mov rdx, r12",
    "jmp _start",
    // Its extent, for scripts/layout/entry-check.sh.
    ".size rt_entry, . - rt_entry",
    preexec = sym preexec,
);

const GUARD: &[u8] = b"_RT_SEALED_EXE=";
/// The guard with the number of the fd the new image keeps (see
/// `rt::exeseal::release`): room for the name, 10 digits and the NUL.
const GUARD_LEN: usize = 15 + 10 + 1;
const EXE: &core::ffi::CStr = c"/proc/self/exe";
/// Environment entries copied at most; more leave the work to `main`.
const MAX_ENV: usize = 1024;

/// Called by `rt_entry` with the initial stack pointer; returns unless it
/// re-executed rt.
///
/// # Safety
/// `sp` must be the process's initial stack, as the kernel laid it out.
unsafe extern "C" fn preexec(sp: *const usize) {
    // SAFETY: the kernel's layout: argc, then argc argument pointers and a
    // NULL, then the environment pointers and a NULL.
    let (argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (argv, argv.add(argc + 1))
    };
    // SAFETY: both arrays are NULL-terminated arrays of C strings.
    // (Literals, not a table of them: a table of pointers would need the
    // relocations not yet made.)
    let wanted = unsafe {
        any(argv, |a| {
            c_eq(a, b"create") || c_eq(a, b"run") || c_eq(a, b"exec")
        })
    };
    if !wanted {
        return;
    }
    // SAFETY: as above, `envp` is a NULL-terminated array of C strings.
    if unsafe { any(envp, |e| c_starts(e, GUARD)) } {
        return;
    }
    let exe = sys(
        libc::SYS_openat,
        libc::AT_FDCWD as usize,
        EXE.as_ptr() as usize,
        (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
        0,
        0,
    );
    if exe < 0 {
        return;
    }
    let exe = exe as usize;
    if is_sealed(exe) {
        close(exe);
        return;
    }
    let attached = attached_binary(exe);
    let sealed = if attached >= 0 {
        attached
    } else {
        sealed_binary(exe)
    };
    close(exe);
    if sealed < 0 {
        return;
    }
    // Written in full up to its NUL by `guard_entry`.
    let mut guard = MaybeUninit::<[u8; GUARD_LEN]>::uninit();
    if attached >= 0 {
        // Nothing to keep: the attached mount stays (see `rt::exeseal`).
        guard_entry(&mut guard, 0);
    } else {
        // The new image keeps the fd (see `rt::exeseal::release`): without
        // close-on-exec, its number in the guard.
        if sys(
            libc::SYS_fcntl,
            sealed as usize,
            libc::F_SETFD as usize,
            0,
            0,
            0,
        ) < 0
        {
            close(sealed as usize);
            return;
        }
        guard_entry(&mut guard, sealed as usize);
    }
    let mut env = MaybeUninit::<[*const u8; MAX_ENV + 2]>::uninit();
    let env = env.as_mut_ptr() as *mut *const u8;
    let mut n = 0;
    // SAFETY: envp is NULL-terminated; at most MAX_ENV entries are written
    // to the MAX_ENV + 2 slots before the guard and the NULL.
    unsafe {
        while !(*envp.add(n)).is_null() {
            if n == MAX_ENV {
                close(sealed as usize);
                return;
            }
            core::ptr::write_volatile(env.add(n), *envp.add(n));
            n += 1;
        }
        core::ptr::write_volatile(env.add(n), guard.as_ptr() as *const u8);
        core::ptr::write_volatile(env.add(n + 1), core::ptr::null());
    }
    sys(
        libc::SYS_execveat,
        sealed as usize,
        c"".as_ptr() as usize,
        argv as usize,
        env as usize,
        libc::AT_EMPTY_PATH as usize,
    );
    close(sealed as usize);
}

/// On a read-only mount, or a memfd sealed against writes: nothing to do.
fn is_sealed(exe: usize) -> bool {
    // The kernel's struct statfs on x86_64: 15 words, f_flags the 11th.
    let mut st = MaybeUninit::<[u64; 15]>::uninit();
    if sys(libc::SYS_fstatfs, exe, st.as_mut_ptr() as usize, 0, 0, 0) == 0
        // SAFETY: the call succeeded: the kernel filled the struct.
        && unsafe { word(&st, 10) } & libc::ST_RDONLY != 0
    {
        return true;
    }
    let seals = sys(libc::SYS_fcntl, exe, libc::F_GET_SEALS as usize, 0, 0, 0);
    seals >= 0 && seals & libc::F_SEAL_WRITE as isize != 0
}

/// The binary attached at `rt::exeseal::ATTACHED` by an earlier start,
/// open: only if it is this very file (device and inode) on a read-only
/// mount. Negative otherwise.
fn attached_binary(exe: usize) -> isize {
    let fd = sys(
        libc::SYS_openat,
        libc::AT_FDCWD as usize,
        rt::exeseal::ATTACHED.as_ptr() as usize,
        (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) as usize,
        0,
        0,
    );
    if fd < 0 {
        return -1;
    }
    if same_file(fd as usize, exe) && is_sealed(fd as usize) {
        return fd;
    }
    close(fd as usize);
    -1
}

/// `a` and `b` are open on the same file: the kernel's struct stat on
/// x86_64 (144 bytes) starts with st_dev and st_ino.
fn same_file(a: usize, b: usize) -> bool {
    let (mut sa, mut sb) = (
        MaybeUninit::<[u64; 18]>::uninit(),
        MaybeUninit::<[u64; 18]>::uninit(),
    );
    sys(libc::SYS_fstat, a, sa.as_mut_ptr() as usize, 0, 0, 0) == 0
        && sys(libc::SYS_fstat, b, sb.as_mut_ptr() as usize, 0, 0, 0) == 0
        // SAFETY: both calls succeeded: the kernel filled both structs.
        && unsafe { word(&sa, 0) == word(&sb, 0) && word(&sa, 1) == word(&sb, 1) }
}

/// Word `i` of a kernel struct the kernel filled. Read through a pointer
/// from a buffer never zeroed by us: zeroing an array is a call to memset
/// wherever the optimiser prefers one, and memset is an IFUNC the C
/// library has not resolved yet (scripts/layout/entry-check.sh).
///
/// # Safety
/// The kernel wrote at least the first `i + 1` words of `buf`.
unsafe fn word<const N: usize>(buf: &MaybeUninit<[u64; N]>, i: usize) -> u64 {
    // SAFETY: i < N (the callers' constants) and the word was written.
    unsafe { core::ptr::read_volatile((buf.as_ptr() as *const u64).add(i)) }
}

/// A detached read-only bind mount of the binary, or a sealed memfd copy
/// of it (where rt may not mount); negative when neither can be made.
fn sealed_binary(exe: usize) -> isize {
    let tree = sys(
        libc::SYS_open_tree,
        libc::AT_FDCWD as usize,
        EXE.as_ptr() as usize,
        (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as usize,
        0,
        0,
    );
    if tree >= 0 {
        let attr: [u64; 4] = [
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
            0,
            0,
            0,
        ];
        let done = sys(
            libc::SYS_mount_setattr,
            tree as usize,
            c"".as_ptr() as usize,
            libc::AT_EMPTY_PATH as usize,
            attr.as_ptr() as usize,
            core::mem::size_of_val(&attr),
        );
        if done == 0 {
            return tree;
        }
        close(tree as usize);
    }
    let flags = (libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) as usize;
    let mut memfd = sys(
        libc::SYS_memfd_create,
        c"rt".as_ptr() as usize,
        flags | libc::MFD_EXEC as usize,
        0,
        0,
        0,
    );
    if memfd < 0 {
        memfd = sys(
            libc::SYS_memfd_create,
            c"rt".as_ptr() as usize,
            flags,
            0,
            0,
            0,
        );
    }
    if memfd < 0 {
        return -1;
    }
    loop {
        let sent = sys(libc::SYS_sendfile, memfd as usize, exe, 0, 1 << 30, 0);
        if sent == 0 {
            break;
        }
        if sent < 0 {
            close(memfd as usize);
            return -1;
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    if sys(
        libc::SYS_fcntl,
        memfd as usize,
        libc::F_ADD_SEALS as usize,
        seals as usize,
        0,
        0,
    ) < 0
    {
        close(memfd as usize);
        return -1;
    }
    memfd
}

/// `_RT_SEALED_EXE=<fd>` and a NUL into `out`, by volatile writes (a
/// copy loop must not become a call to memcpy).
fn guard_entry(out: &mut MaybeUninit<[u8; GUARD_LEN]>, fd: usize) {
    let out = out.as_mut_ptr() as *mut u8;
    let mut at = 0;
    for &b in GUARD {
        // SAFETY: `at` < GUARD.len() < GUARD_LEN.
        unsafe { core::ptr::write_volatile(out.add(at), b) };
        at += 1;
    }
    // Each digit is written before it is read (no zeroing: see `word`).
    let mut digits = MaybeUninit::<[u8; 10]>::uninit();
    let digits = digits.as_mut_ptr() as *mut u8;
    let (mut len, mut rest) = (0, fd);
    loop {
        // SAFETY: an fd is below 2^31: at most 10 digits.
        unsafe { core::ptr::write_volatile(digits.add(len), b'0' + (rest % 10) as u8) };
        len += 1;
        rest /= 10;
        if rest == 0 || len == 10 {
            break;
        }
    }
    while len > 0 {
        len -= 1;
        // SAFETY: digit `len` was written above; at most 15 + 10 bytes
        // before the NUL below, in GUARD_LEN.
        unsafe {
            core::ptr::write_volatile(out.add(at), core::ptr::read_volatile(digits.add(len)))
        };
        at += 1;
    }
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(out.add(at), 0) };
}

fn close(fd: usize) {
    sys(libc::SYS_close, fd, 0, 0, 0, 0);
}

/// Does `f` hold for an entry of the NULL-terminated array `list`?
///
/// # Safety
/// `list` is a NULL-terminated array of pointers to C strings.
unsafe fn any(list: *const *const u8, f: impl Fn(*const u8) -> bool) -> bool {
    let mut p = list;
    // SAFETY: the caller's contract; the NULL ends the walk.
    unsafe {
        while !(*p).is_null() {
            if f(*p) {
                return true;
            }
            p = p.add(1);
        }
    }
    false
}

/// The C string at `s` is `want`.
fn c_eq(s: *const u8, want: &[u8]) -> bool {
    c_starts(s, want) && {
        // SAFETY: c_starts read `want.len()` bytes of it, none of them NUL,
        // so the byte after them is part of the string or its NUL.
        unsafe { *s.add(want.len()) == 0 }
    }
}

/// The C string at `s` starts with `prefix` (which holds no NUL).
fn c_starts(s: *const u8, prefix: &[u8]) -> bool {
    // SAFETY: the string is read only up to its NUL: a NUL differs from
    // every byte of the prefix and ends the comparison.
    prefix
        .iter()
        .enumerate()
        .all(|(i, &b)| unsafe { *s.add(i) } == b)
}

/// A raw system call: the negated errno on failure. The C library's
/// wrappers would set errno, which lives in thread-local storage that does
/// not exist yet.
fn sys(nr: libc::c_long, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: a system call; the kernel reads only the memory the arguments
    // point to (valid for each call made here) and clobbers rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            in("r8") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The C library's `main` (the binary is `no_main`): of what Rust's own
/// start-up does before `main`, only what rt relies on. That start-up also
/// reads /proc/self/maps to find the main thread's stack guard and maps a
/// signal stack for its stack-overflow message: a dozen system calls,
/// ~0.06 ms of every rt start on a VM, for a message (an overflow is a
/// plain SIGSEGV here, as in C). Arguments and environment reach
/// `std::env` through the C library's constructors, as before.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    if !standard_fds_open() {
        // As Rust's start-up does: nothing rt opens may become fd 0, 1 or 2.
        // SAFETY: abort never returns and has no preconditions.
        unsafe { libc::abort() }
    }
    // A write to a closed pipe fails with EPIPE instead of killing rt (as
    // Rust's start-up does; children rt forks restore the default, see
    // `init::prepare_process`; those std spawns get it back from std).
    // SAFETY: SIG_IGN runs no code of ours.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // std's exit flushes stdout, as returning from Rust's `main` does.
    std::process::exit(crate::rt_main().0.into())
}

/// Fds 0, 1 and 2 are open, on /dev/null where the caller left one closed.
#[cfg(not(test))]
fn standard_fds_open() -> bool {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` holds three pollfd structs; the timeout is zero.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    fds.iter().all(|p| {
        let closed = if polled < 0 {
            // SAFETY: F_GETFD takes no argument and only reads.
            let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
            flags < 0
        } else {
            p.revents & libc::POLLNVAL != 0
        };
        // The lowest free number: the one closed, as they are taken in order.
        // SAFETY: a NUL-terminated path; the fd stays open for good.
        let reopened = || unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == p.fd;
        !closed || reopened()
    })
}
