//! Thin wrappers over the system calls that nix does not cover. Each `unsafe`
//! block is one call with its safety argument next to it; callers get safe
//! functions returning `nix::Result`.

// The one module of the library where `unsafe` is allowed (Cargo.toml [lints]).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// Result of [`clone_process`]: which side of the fork we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2) with namespace flags: `clone(flags | SIGCHLD)` without a new stack,
/// so the child continues on a copy of the caller's stack like fork does.
///
/// Callers must be single-threaded (rt is: it never spawns threads before
/// creating a container), so the child may allocate and run ordinary Rust.
pub fn clone_process(flags: libc::c_int) -> nix::Result<Forked> {
    // SAFETY: raw clone with a NULL stack has fork semantics; no pointers are
    // passed, and the process is single-threaded so no lock can be held by a
    // thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Close every fd from `first` upwards except those in `keep`: closed, not
/// marked close-on-exec, because execve resolves a `#!` interpreter (and an
/// ELF's PT_INTERP) before it closes close-on-exec fds, and a magic link
/// through one of them leads out of the container (`init/mod.rs`, the fd
/// rule).
///
/// Whoever owns a closed fd must not use or drop it afterwards: the init
/// and exec children call this once, after dropping what they own, and from
/// then on only run to execve(2) or _exit(2); what they inherited from the
/// parent's stack is never dropped in the child.
pub fn close_fds_except(first: RawFd, keep: &[RawFd]) -> nix::Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first;
    for fd in keep.into_iter().chain(std::iter::once(RawFd::MAX)) {
        if fd > from {
            let last = if fd == RawFd::MAX {
                u32::MAX
            } else {
                (fd - 1) as u32
            };
            // SAFETY: close_range takes integers only; ownership of the fds
            // it closes is the caller's contract (see above).
            let ret = unsafe {
                libc::syscall(libc::SYS_close_range, from as u32, last, 0 as libc::c_uint)
            };
            Errno::result(ret)?;
        }
        from = fd.saturating_add(1);
    }
    Ok(())
}

/// A pidfd for `pid`, which keeps referring to that process even if its pid
/// is recycled.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new fd we own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> nix::Result<()> {
    // SAFETY: no siginfo pointer is passed (NULL), flags are zero.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// kill(2) with any signal number: 0 (a probe) and real-time signals,
/// which nix's `Signal` cannot name.
pub fn kill(pid: Pid, sig: i32) -> nix::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid.as_raw(), sig) };
    Errno::result(ret).map(drop)
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: every option used in this module takes integer arguments only.
    let ret = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    Errno::result(ret).map(drop)
}

pub fn set_no_new_privs() -> nix::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

pub fn set_keep_caps(on: bool) -> nix::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong)
}

pub fn set_parent_death_signal(sig: i32) -> nix::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong)
}

pub fn set_dumpable(on: bool) -> nix::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong)
}

pub fn set_child_subreaper() -> nix::Result<()> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
}

/// Drop capability number `cap` from the bounding set; EINVAL for a
/// capability this kernel does not know.
pub fn drop_bounding_cap(cap: u8) -> nix::Result<()> {
    prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
}

/// Raise capability number `cap` in the ambient set: EPERM unless it is
/// permitted and inheritable.
pub fn raise_ambient_cap(cap: u8) -> nix::Result<()> {
    // SAFETY: PR_CAP_AMBIENT_RAISE takes integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    Errno::result(ret).map(drop)
}

/// Make `fd` (a terminal) the controlling terminal of this session.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that outlives the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    Errno::result(ret).map(drop)
}

pub fn window_size(fd: BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize that outlives the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(ret).map(|_| (ws.ws_row, ws.ws_col))
}

/// Terminate the current process immediately, without running destructors or
/// atexit handlers that belong to the parent's copy of the process state.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Make each of `signals` end this process with status 128 + the signal,
/// through a handler. execve resets handled signals to their defaults.
pub fn exit_on(signals: &[nix::sys::signal::Signal]) -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    extern "C" fn die(sig: libc::c_int) {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(128 + sig) }
    }
    let action = SigAction::new(SigHandler::Handler(die), SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        // SAFETY: the handler only calls _exit, which is async-signal-safe;
        // no previous handler is kept or restored.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Give `sig` its default disposition (no handler, not ignored).
pub fn default_disposition(sig: nix::sys::signal::Signal) -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL runs no code of ours; the previous action is dropped.
    unsafe { sigaction(sig, &action) }.map(drop)
}

/// Open the peer (slave) side of the pseudo-terminal `master` without going
/// through a path in /dev/pts, which the container controls.
pub fn open_pty_peer(master: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags as its integer argument.
    let ret = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let fd = Errno::result(ret)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_domainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// openat(2) relative to `dir`, returning an owned fd.
pub fn openat(dir: BorrowedFd<'_>, path: &str, flags: nix::fcntl::OFlag) -> nix::Result<OwnedFd> {
    openat_mode(Some(dir), path, flags, 0)
}

/// openat(2) relative to `dir` (the working directory when None), with the
/// mode O_CREAT uses; always close-on-exec.
pub fn openat_mode<P: ?Sized + nix::NixPath>(
    dir: Option<BorrowedFd<'_>>,
    path: &P,
    flags: nix::fcntl::OFlag,
    mode: u32,
) -> nix::Result<OwnedFd> {
    let raw = nix::fcntl::openat(
        dir.map(|d| d.as_raw_fd()),
        path,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: openat just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Take ownership of an fd the kernel just handed us.
///
/// # Safety
/// `fd` must be open and owned by nothing else in the process: a number
/// the kernel has just returned (a system call's result, SCM_RIGHTS).
unsafe fn owned_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's contract (above).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// One message of a unix socket (recvmsg with room for one fd): its
/// length, its flags, and the fd it carried, owned — any further fds of
/// the message are closed. EOF is a length of 0.
pub struct Received {
    pub bytes: usize,
    pub flags: nix::sys::socket::MsgFlags,
    pub fd: Option<OwnedFd>,
}

/// Receive one message into `buf` from `sock`, with its fd (SCM_RIGHTS,
/// close-on-exec).
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<Received> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS has just installed `raw` in our fd
                // table; nothing else knows of it.
                let owned = unsafe { owned_fd(raw) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    Ok(Received {
        bytes: msg.bytes,
        flags: msg.flags,
        fd,
    })
}

/// Send `fd` over the unix socket `sock` (SCM_RIGHTS), with one byte.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> nix::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(b"F")],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
}

/// A copy of an fd rt inherited from its caller (stdio), without
/// close-on-exec: a program rt runs (criu, for inherit_fd) gets it.
pub fn dup_inherited(fd: RawFd) -> nix::Result<OwnedFd> {
    let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD(0))?;
    // SAFETY: fcntl has just returned this new fd; nothing else owns it.
    Ok(unsafe { owned_fd(copy) })
}

/// A close-on-exec copy of `fd` numbered 3 or above: a copy that took
/// a stdio number the caller left closed would reach the container's
/// process, which keeps 0 to 2.
pub fn dup_above_stdio(fd: RawFd) -> nix::Result<OwnedFd> {
    let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: fcntl has just returned this new fd; nothing else owns it.
    Ok(unsafe { owned_fd(copy) })
}

/// bpf(2) commands and constants rt uses (linux/bpf.h).
pub mod bpf {
    pub const PROG_LOAD: libc::c_int = 5;
    pub const PROG_ATTACH: libc::c_int = 8;
    pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    pub const ATTACH_CGROUP_DEVICE: u32 = 6;
    /// Other programs may stay attached to the same cgroup (systemd's).
    pub const F_ALLOW_MULTI: u32 = 2;
}

/// The BPF_PROG_LOAD part of `union bpf_attr`, up to the fields rt sets;
/// the kernel treats the fields after it as zero.
#[repr(C)]
#[derive(Default)]
struct BpfProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH part of `union bpf_attr`.
#[repr(C)]
struct BpfProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Load a BPF program (encoded instructions). With `log`, the verifier's
/// explanation of a rejection is written there.
pub fn bpf_prog_load(
    prog_type: u32,
    attach_type: u32,
    insns: &[u64],
    license: &std::ffi::CStr,
    log: Option<&mut [u8]>,
) -> nix::Result<OwnedFd> {
    let mut attr = BpfProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: attach_type,
        ..Default::default()
    };
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(buf.len()).map_err(|_| Errno::E2BIG)?;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    // SAFETY: `attr` is a valid bpf_attr prefix whose pointers (insns,
    // license, log buffer) refer to live memory of the stated sizes for the
    // duration of the call; the size passed is the struct's own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf::PROG_LOAD,
            &attr as *const BpfProgLoadAttr,
            std::mem::size_of::<BpfProgLoadAttr>(),
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach a loaded program to the cgroup whose directory `target` is open.
pub fn bpf_prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> nix::Result<()> {
    let attr = BpfProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
    };
    // SAFETY: `attr` is a valid bpf_attr prefix holding only integers, live
    // for the call; the size passed is the struct's own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf::PROG_ATTACH,
            &attr as *const BpfProgAttachAttr,
            std::mem::size_of::<BpfProgAttachAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, program). With
/// SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags` the kernel answers with the
/// filter's user-notification fd, returned here; otherwise `None`.
pub fn seccomp_set_mode_filter(
    flags: libc::c_ulong,
    program: &[libc::sock_filter],
) -> nix::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` describes `program`, which outlives the call; the kernel
    // only reads (copies) the instructions.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    let ret = Errno::result(ret)?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returned a new fd nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0 = self, class << 13 | level).
pub fn set_io_priority(class: u32, level: u32) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            (class << 13) | level,
        )
    };
    Errno::result(ret).map(drop)
}

/// sched_setaffinity(2) of `pid` (0: the caller) with a mask of any size,
/// bit n of word n/64 for CPU n (see `bitlist`).
pub fn set_affinity(pid: i32, mask: &[u64]) -> nix::Result<()> {
    // SAFETY: the kernel reads at most size_of_val(mask) bytes from `mask`,
    // which lives through the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            std::mem::size_of_val(mask),
            mask.as_ptr(),
        )
    };
    Errno::result(ret).map(drop)
}

/// set_mempolicy(2): `mode` (its flags or'ed in) over the nodes of `mask`,
/// bit n of word n/64 for node n; an empty mask names none.
pub fn set_mempolicy(mode: i32, mask: &[u64]) -> nix::Result<()> {
    // The kernel reads one bit fewer than `maxnode` says (an off-by-one
    // every caller makes up for).
    let (nodes, maxnode) = match mask.len() {
        0 => (std::ptr::null(), 0),
        words => (mask.as_ptr(), words * 64 + 1),
    };
    // SAFETY: the kernel reads at most maxnode - 1 bits, the words of
    // `mask`, which lives through the call; a null mask with maxnode 0 is
    // not read.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes, maxnode) };
    Errno::result(ret).map(drop)
}

/// The kernel's `struct sched_attr` (sched_setattr(2)), without the
/// utilisation clamps.
#[repr(C)]
#[derive(Default)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

pub fn set_scheduler(attr: &mut SchedAttr) -> nix::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid sched_attr whose size field matches the
    // struct passed; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *mut SchedAttr, 0) };
    Errno::result(ret).map(drop)
}

pub fn set_personality(persona: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: personality takes an integer and returns the old persona.
    let ret = unsafe { libc::personality(persona) };
    Errno::result(ret).map(drop)
}

/// `struct mount_attr` (mount_setattr(2)).
pub use libc::mount_attr as MountAttr;

/// open_tree(2): with `OPEN_TREE_CLONE`, a detached copy of the mount (or
/// bind mount of a single file or directory) at `path`, relative to `dir`
/// (or the working directory). The copy is attached nowhere until
/// [`move_mount`], and vanishes when its last fd or user goes.
pub fn open_tree(
    dir: Option<BorrowedFd<'_>>,
    path: &std::ffi::CStr,
    flags: libc::c_uint,
) -> nix::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `path` is a NUL-terminated string valid for the call; the
    // other arguments are integers.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), and with
/// `AT_RECURSIVE` in `flags` on every mount below it too.
pub fn mount_setattr(fd: BorrowedFd<'_>, flags: libc::c_uint, attr: &MountAttr) -> nix::Result<()> {
    let flags = flags | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: the path is an empty NUL-terminated string, `attr` is a valid
    // mount_attr that outlives the call, and the size passed is its own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// move_mount(2) from the (detached) mount `from` onto the file or
/// directory `to` is open on: both named by fd, no path is resolved.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty NUL-terminated strings; the fds are
    // borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}

/// The type of the namespace the nsfs file `fd` is open on
/// (ioctl NS_GET_NSTYPE: a CLONE_NEW* flag); ENOTTY for any other file.
pub fn namespace_type(fd: BorrowedFd<'_>) -> nix::Result<libc::c_int> {
    // _IO(0xb7, 0x3), from linux/nsfs.h.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type; `fd` is
    // borrowed for the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) })
}

/// open_tree(2) with `OPEN_TREE_CLONE` on the file or directory `fd` is open
/// on (AT_EMPTY_PATH): a detached bind mount of exactly that inode, of its
/// whole subtree of mounts with `recursive`. Close-on-exec.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags =
        libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    open_tree(Some(fd), c"", flags)
}

/// fsopen(2): a filesystem context for a new superblock of `fstype`,
/// configured with [`fsconfig`]. Close-on-exec.
pub fn fsopen(fstype: &std::ffi::CStr) -> nix::Result<OwnedFd> {
    // SAFETY: `fstype` is a NUL-terminated string valid for the call.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fspick(2) on the mount root `fd` is open on: a context to reconfigure
/// that mount's superblock. Close-on-exec.
pub fn fspick(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let flags = libc::FSPICK_CLOEXEC | libc::FSPICK_EMPTY_PATH;
    // SAFETY: the path is an empty NUL-terminated string; fd and flags are
    // integers.
    let ret = unsafe { libc::syscall(libc::SYS_fspick, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One fsconfig(2) call on a context from [`fsopen`] or [`fspick`].
pub enum FsConfig<'a> {
    /// A parameter without a value (`ro`, `newinstance`).
    Flag(&'a std::ffi::CStr),
    /// `key=value`.
    String(&'a std::ffi::CStr, &'a std::ffi::CStr),
    /// `key` names a file descriptor (procfs's `pidns`).
    Fd(&'a std::ffi::CStr, BorrowedFd<'a>),
    /// Create the superblock.
    Create,
    /// Apply the parameters set to the existing superblock.
    Reconfigure,
}

pub fn fsconfig(ctx: BorrowedFd<'_>, op: FsConfig<'_>) -> nix::Result<()> {
    let null = std::ptr::null::<libc::c_char>();
    let (cmd, key, value, aux) = match op {
        FsConfig::Flag(k) => (libc::FSCONFIG_SET_FLAG, k.as_ptr(), null, 0),
        FsConfig::String(k, v) => (libc::FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr(), 0),
        FsConfig::Fd(k, fd) => (libc::FSCONFIG_SET_FD, k.as_ptr(), null, fd.as_raw_fd()),
        FsConfig::Create => (libc::FSCONFIG_CMD_CREATE, null, null, 0),
        FsConfig::Reconfigure => (libc::FSCONFIG_CMD_RECONFIGURE, null, null, 0),
    };
    // SAFETY: key and value are NULL or NUL-terminated strings that outlive
    // the call, as each command requires; aux is an fd we hold or 0.
    let ret = unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), cmd, key, value, aux) };
    Errno::result(ret).map(drop)
}

/// fsmount(2): a detached mount of the superblock `ctx` created, with the
/// MOUNT_ATTR_* bits `attrs`. Close-on-exec.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: u64) -> nix::Result<OwnedFd> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// memfd_create(2).
pub fn memfd_create(name: &std::ffi::CStr, flags: libc::c_uint) -> nix::Result<OwnedFd> {
    // SAFETY: `name` is a NUL-terminated string valid for the call.
    let ret = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the file `fd` is open
/// on. Returns only on failure.
pub fn execveat_fd(
    fd: BorrowedFd<'_>,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> Errno {
    let to_ptrs = |v: &[std::ffi::CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv, envp) = (to_ptrs(argv), to_ptrs(envp));
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to
    // NUL-terminated strings, all of which outlive the call; the path is an
    // empty NUL-terminated string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    match Errno::result(ret) {
        Ok(_) => Errno::UnknownErrno,
        Err(e) => e,
    }
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): make the keyring `name` the
/// session keyring of this process — an existing one of that name it may
/// search, else a new one — and return its serial.
pub fn join_session_keyring(name: &std::ffi::CStr) -> nix::Result<i32> {
    // SAFETY: `name` is a NUL-terminated string valid for the call; the
    // kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_JOIN_SESSION_KEYRING,
            name.as_ptr(),
        )
    };
    Errno::result(ret).map(|serial| serial as i32)
}

/// keyctl(KEYCTL_DESCRIBE, key): "type;uid;gid;perm;description", the ids
/// as seen from this process's user namespace, perm in hex.
pub fn describe_key(key: i32) -> nix::Result<String> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`,
        // which lives for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_DESCRIBE,
                key,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        // The full length, with the NUL: larger than the buffer means cut.
        let len = Errno::result(ret)? as usize;
        if len <= buf.len() {
            buf.truncate(len.saturating_sub(1));
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.resize(len, 0);
    }
}

/// keyctl(KEYCTL_SETPERM, key, perm).
pub fn set_key_perm(key: i32, perm: u32) -> nix::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_SETPERM, key, perm) };
    Errno::result(ret).map(drop)
}

/// unlockpt(3) on the pty master `fd`: TIOCSPTLCK with 0.
pub fn unlock_pty(master: BorrowedFd<'_>) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which points to
    // a live local for the duration of the call.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(ret).map(drop)
}

/// openat2(2) relative to `dir` with `resolve` restrictions (RESOLVE_*),
/// returning an owned, close-on-exec fd.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: libc::c_int,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let cpath = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
    /// The kernel's `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `cpath` is NUL-terminated and `how` is a valid open_how whose
    // size is passed; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set IFF_UP on the interface `name` of the caller's network namespace
/// (SIOCGIFFLAGS / SIOCSIFFLAGS on a throwaway socket).
pub fn set_interface_up(name: &str) -> nix::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(Errno::EINVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming the interface; the kernel fills
    // in its flags.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: reading the union member SIOCGIFFLAGS just filled in.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above; the kernel only reads `req`.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// clone3(2) with fork semantics (no new stack) and, when `cgroup` is given,
/// CLONE_INTO_CGROUP: the child is born in that cgroup2 directory, without
/// the migration (and its global lock) that writing cgroup.procs costs.
pub fn clone3_process(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> nix::Result<Forked> {
    let mut args = CloneArgs::new(flags, cgroup);
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack
    // the child continues on a copy of ours, as with fork. The caller is
    // single-threaded (see `clone_process`).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// The kernel's `struct clone_args` up to `cgroup` (size 88).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

impl CloneArgs {
    /// A child that reports its exit with SIGCHLD, as a fork's; with
    /// `cgroup`, born in that cgroup2 directory.
    fn new(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> CloneArgs {
        let mut args = CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD as u64,
            ..Default::default()
        };
        if let Some(fd) = cgroup {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = fd.as_raw_fd() as u64;
        }
        args
    }
}

/// The stack of a [`clone_vm`] child: rt's main stack's size, reserved
/// only (pages are backed as the child touches them), with a guard page.
const VM_CHILD_STACK: usize = 8 << 20;

/// clone3(2) of a child that shares rt's memory (CLONE_VM) and runs `child`
/// on a stack of its own, while rt sleeps until the child exits or execs
/// (CLONE_VFORK), as posix_spawn does; with `cgroup`, born in that cgroup2
/// directory. No page table is copied and nothing is faulted or freed twice:
/// what a fork costs rt's `exec` in the process that only joins the
/// container's namespaces and forks again. Returns the child's pid once rt
/// runs again.
///
/// The child shares rt's heap and statics (and its thread-local storage:
/// it runs on rt's one thread, asleep meanwhile), so `child` may allocate
/// and run ordinary Rust, but what it frees or changes, rt sees: rt must
/// not touch what it moved into `child`, and the child must leave only by
/// exit or exec. Its fd table, credentials, namespaces and signal handlers
/// are its own (no CLONE_FILES, CLONE_FS, CLONE_SIGHAND).
#[cfg(target_arch = "x86_64")]
pub fn clone_vm<T>(
    cgroup: Option<BorrowedFd<'_>>,
    arg: T,
    child: fn(T) -> !,
) -> Result<Pid, (Errno, T)> {
    // SAFETY: a fresh anonymous private mapping; no existing memory is
    // touched. MAP_NORESERVE: the 8 MiB are address space until used.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            VM_CHILD_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err((Errno::last(), arg));
    }
    let unmap = || {
        // SAFETY: the mapping made above, which no one uses any more (the
        // child has exited or exec'd, or was never born).
        unsafe { libc::munmap(base, VM_CHILD_STACK) };
    };
    // The lowest page: an overflow faults instead of running into whatever
    // lies below. SAFETY: the first page of the mapping made above.
    if unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) } != 0 {
        let e = Errno::last();
        unmap();
        return Err((e, arg));
    }
    let mut args = CloneArgs {
        stack: base as u64,
        stack_size: VM_CHILD_STACK as u64,
        ..CloneArgs::new((libc::CLONE_VM | libc::CLONE_VFORK) as u64, cgroup)
    };
    // One pointer to hand over in a register.
    let boxed: *mut (T, fn(T) -> !) = Box::into_raw(Box::new((arg, child)));
    let ret: i64;
    // SAFETY: `args` is a valid clone_args of the size passed, naming the
    // stack mapped above. The parent (rax = pid or -errno) falls through;
    // the child (rax = 0) starts on the new stack, whose top is page-aligned
    // (16-byte aligned at the call, as the ABI wants), clears the frame
    // pointer and calls `vm_child_entry(boxed)`, which never returns (ud2
    // would trap). r12 is callee-saved and the system call preserves it, so
    // both processes have `boxed` there; rcx and r11 are what `syscall`
    // clobbers. The parent's own stack is not used by this block.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call {entry}",
            "ud2",
            "2:",
            entry = sym vm_child_entry::<T>,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &mut args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") boxed,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        // SAFETY: no child was born: `boxed` is still ours, from into_raw
        // above.
        let (arg, _) = *unsafe { Box::from_raw(boxed) };
        unmap();
        return Err((Errno::from_raw(-ret as i32), arg));
    }
    // The child took `boxed` (and freed it); it has exited or exec'd,
    // and a process it forked has a copy of its stack.
    unmap();
    Ok(Pid::from_raw(ret as i32))
}

/// Elsewhere the caller forks as before.
#[cfg(not(target_arch = "x86_64"))]
pub fn clone_vm<T>(_: Option<BorrowedFd<'_>>, arg: T, _: fn(T) -> !) -> Result<Pid, (Errno, T)> {
    Err((Errno::ENOSYS, arg))
}

/// Where a [`clone_vm`] child starts, on its own stack.
#[cfg(target_arch = "x86_64")]
extern "C" fn vm_child_entry<T>(boxed: *mut (T, fn(T) -> !)) -> ! {
    // SAFETY: `clone_vm` passes the pointer Box::into_raw gave it, and only
    // the child (this call) takes it back.
    let (arg, child) = *unsafe { Box::from_raw(boxed) };
    child(arg)
}

/// SECCOMP_IOCTL_NOTIF_RECV: the next system call a SCMP_ACT_NOTIFY filter
/// stopped, waiting for it. rt hands the listener to an agent and never
/// answers itself; the tests play the agent.
#[cfg(feature = "test-support")]
pub fn seccomp_notif_recv(listener: BorrowedFd<'_>) -> nix::Result<libc::seccomp_notif> {
    let data = libc::seccomp_data {
        nr: 0,
        arch: 0,
        instruction_pointer: 0,
        args: [0; 6],
    };
    let mut notif = libc::seccomp_notif {
        id: 0,
        pid: 0,
        flags: 0,
        data,
    };
    // SAFETY: the ioctl writes one seccomp_notif into `notif`, a zeroed one
    // (the kernel refuses any other) that outlives the call.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut notif as *mut libc::seccomp_notif,
        )
    };
    Errno::result(ret).map(|_| notif)
}

/// SECCOMP_IOCTL_NOTIF_SEND: the answer to a notification from
/// [`seccomp_notif_recv`].
#[cfg(feature = "test-support")]
pub fn seccomp_notif_send(
    listener: BorrowedFd<'_>,
    resp: &libc::seccomp_notif_resp,
) -> nix::Result<()> {
    // SAFETY: the ioctl reads one seccomp_notif_resp from `resp`, which
    // outlives the call.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            resp as *const libc::seccomp_notif_resp,
        )
    };
    Errno::result(ret).map(drop)
}

/// Make `cmd`'s process install the classic BPF seccomp `filter` in the
/// forked child, before exec: the tests run rt as on an older kernel.
#[cfg(feature = "test-support")]
pub fn filter_in_child(cmd: &mut std::process::Command, filter: Vec<libc::sock_filter>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and makes
    // one prctl(2) call, which is async-signal-safe; `prog` points into
    // `filter`, which the closure owns for the duration of the call.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            let on = libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            );
            if on != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Make `cmd`'s process join (or create) the session keyring `name` and
/// give it permissions `perm`, in the forked child before exec: the tests
/// plant keyrings as other users.
#[cfg(feature = "test-support")]
pub fn keyring_in_child(cmd: &mut std::process::Command, name: std::ffi::CString, perm: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure makes two system calls with
    // a string that outlives it, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let serial = libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_JOIN_SESSION_KEYRING,
                name.as_ptr(),
            );
            let set = libc::syscall(libc::SYS_keyctl, libc::KEYCTL_SETPERM, serial, perm);
            if serial < 0 || set < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
