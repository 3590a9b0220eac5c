//! CVE-2019-5736: a container must never get a writable handle on the rt
//! binary of the host.
//!
//! Every process rt starts in a container (the init, an `rt exec` child) is
//! a fork of rt, so until its exec(2) its /proc/self/exe is rt's binary.
//! Being non-dumpable (see `init::prepare_process`) hides it from the other
//! processes of the container, but not from the exec itself: a program
//! path, `#!` interpreter or ELF interpreter of `/proc/self/exe` makes the
//! kernel run rt's own binary as the container's process — dumpable, with
//! the container's credentials — whose /proc/<pid>/exe the container can
//! then open, and write once rt is no longer running.
//!
//! So before `create`, `run` and `exec` do anything, rt re-executes itself
//! from a binary no container can write: a detached, read-only bind mount
//! of its own file (open_tree(OPEN_TREE_CLONE) + mount_setattr: no copy, no
//! mount anyone sees), or, where rt may not mount (rootless), a sealed
//! memfd copy. A write through /proc/<pid>/exe then fails with EROFS or
//! EPERM. A binary that already lives on a read-only mount, or in a sealed
//! memfd, needs nothing.
//!
//! On x86_64 the binary's entry point (`entry.rs` of the rt binary) does
//! this before the C library starts, which is most of what starting rt
//! costs; `ensure` then finds the binary sealed, or does the work itself
//! where the entry point gave up, and reports what fails.
//!
//! The new image keeps the handle it was executed from, and drops it only
//! once the container's process runs (see `release`).
//!
//! The first `create` that sets up a mount template (`init::template`)
//! attaches that detached mount at [`ATTACHED`], in the template's private
//! directory (`persist`); later starts re-execute from there (the entry
//! point checks that it is the same file, on a read-only mount) instead of
//! making a mount of their own. Each mount made costs a write lock of the
//! mount namespace (open_tree), and its unmount at the last close an
//! expedited RCU grace period, which interrupts every CPU: with 200 execs
//! at once they waited 2.9 s for these in all.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, SealFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::error::{Context, Error, Result};
use crate::syscall;

/// Set in the environment of the re-executed rt, so that a copy the checks
/// below do not recognise fails instead of re-executing forever. Its value
/// is the fd of the detached mount the new image keeps, or 0 (nothing
/// kept: re-executed from [`ATTACHED`]).
const GUARD: &str = "_RT_SEALED_EXE";

/// Where rt's binary stays mounted read-only between starts: in the mount
/// template's directory (`init::template::PIN_DIR`), a private mount, so
/// the mount reaches no other namespace. `umount` removes it; the next
/// `create` attaches it again.
pub const ATTACHED: &std::ffi::CStr = c"/run/rt-mntns/exe";

/// Return when rt runs from a binary no container can write; otherwise
/// replace this process with one that does (same arguments, environment
/// and fds).
pub fn ensure() -> Result<()> {
    let guard = std::env::var_os(GUARD);
    if guard.is_some() {
        // Hooks and other programs rt starts must not inherit it. The
        // process is single-threaded here (first thing in main).
        std::env::remove_var(GUARD);
    }
    let guarded = guard.is_some();
    let exe = File::open("/proc/self/exe").ctx(|| "cannot open /proc/self/exe")?;
    if is_sealed(&exe) {
        if let Some(fd) = guard.as_deref().and_then(|g| kept_fd(g, &exe)) {
            *KEPT.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd);
        }
        return Ok(());
    }
    if guarded {
        return Err(Error::Init("rt re-executed itself from a sealed binary, but /proc/self/exe is still writable (CVE-2019-5736)".into()));
    }
    let sealed = read_only_bind().or_else(|_| sealed_copy(&exe))?;
    drop(exe);
    // Kept by the new image: see `release`.
    fcntl(sealed.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))
        .ctx(|| "cannot keep the sealed binary open across exec")?;
    let argv = cstrings(std::env::args_os())?;
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    env.push(format!("{GUARD}={}", sealed.as_raw_fd()).into());
    let envp = cstrings(env.into_iter())?;
    let errno = syscall::execveat_fd(sealed.as_fd(), &argv, &envp);
    Err(Error::sys(
        "cannot re-execute rt from a sealed copy of its binary (CVE-2019-5736)",
        errno,
    ))
}

/// The handle of the sealed binary rt was re-executed from (the guard's
/// value, see `release`).
static KEPT: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// The fd the guard `value` names, taken over (close-on-exec from now on)
/// if it is the binary rt runs from: only then, for the caller may have
/// put any value there.
fn kept_fd(value: &OsStr, exe: &File) -> Option<OwnedFd> {
    let fd: RawFd = value.to_str()?.parse().ok().filter(|&fd| fd > 2)?;
    if !same_file(fd, exe.as_raw_fd()) {
        return None;
    }
    // A close-on-exec copy; the number the entry point (or `ensure` before
    // exec) left open for this goes.
    let kept = syscall::dup_above_stdio(fd).ok()?;
    nix::unistd::close(fd).ok()?;
    Some(kept)
}

/// Drop the handle of the detached mount rt was re-executed from, once
/// the container's process holds no copy of it (create, run and exec call
/// this after its Ready). Closing the last handle of a detached mount
/// unmounts it, and the unmount waits for an RCU grace period: ~0.1 ms
/// alone, several ms when many containers start or exec at once (they
/// queue up for grace periods). Closed at exec, as before, it delayed every
/// create, run and exec by that much before they began; closed here, the
/// wait overlaps with the container's process. (Exit closes it anyway.)
pub fn release() {
    drop(KEPT.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// Attach the detached mount rt was re-executed from at [`ATTACHED`] (see
/// the module doc), replacing a mount of another binary there (rt was
/// replaced). Only where the caller knows the directory to be a private
/// mount (`init::template::open`); best effort: a start that finds no
/// attached binary makes its own mount, as before.
pub fn persist() {
    let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let Some(tree) = kept.as_ref() else {
        return;
    };
    // A sealed memfd copy (rt may not mount) is no mount to attach.
    if fcntl(tree.as_raw_fd(), FcntlArg::F_GET_SEALS).is_ok() {
        return;
    }
    let path = std::path::Path::new(OsStr::from_bytes(ATTACHED.to_bytes()));
    // rt's own files there: a lock, and the mount point.
    let create = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(p)
    };
    let Ok(lock) = create(&path.with_extension("lock")) else {
        return;
    };
    // Another start attaches it meanwhile.
    let Ok(_locked) = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
    else {
        return;
    };
    let current = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path);
    if current.is_ok_and(|f| same_file(f.as_raw_fd(), tree.as_raw_fd()) && is_sealed(&f)) {
        return;
    }
    // Another binary's mount (EINVAL where there is none).
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    if let Ok(point) = create(path) {
        let _ = syscall::move_mount(tree.as_fd(), point.as_fd());
    }
}

/// The number of that handle, which a process rt forks into a container
/// closes with the rest of the host's fds (see `init::leave_host`).
pub fn kept() -> Option<RawFd> {
    KEPT.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(AsRawFd::as_raw_fd)
}

/// `a` and `b` are open on the same file (device and inode).
fn same_file(a: RawFd, b: RawFd) -> bool {
    match (nix::sys::stat::fstat(a), nix::sys::stat::fstat(b)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// The binary is on a read-only mount, or a memfd sealed against writes.
fn is_sealed(exe: &File) -> bool {
    if fstatvfs(exe).is_ok_and(|st| st.flags().contains(FsFlags::ST_RDONLY)) {
        return true;
    }
    match fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS) {
        Ok(seals) => SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_WRITE),
        Err(_) => false,
    }
}

/// A detached, read-only, nosuid bind mount of rt's own binary.
fn read_only_bind() -> Result<OwnedFd> {
    let tree = syscall::open_tree(
        None,
        c"/proc/self/exe",
        libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
    )
    .ctx(|| "cannot clone a mount of rt's binary")?;
    let attr = syscall::MountAttr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    syscall::mount_setattr(tree.as_fd(), 0, &attr)
        .ctx(|| "cannot make the mount of rt's binary read-only")?;
    Ok(tree)
}

/// A memfd holding a copy of rt's binary, sealed against any change.
fn sealed_copy(exe: &File) -> Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the copy executable where the
    // vm.memfd_noexec sysctl would otherwise forbid it; older kernels
    // reject the flag and make every memfd executable.
    let memfd = syscall::memfd_create(c"rt", flags | libc::MFD_EXEC)
        .or_else(|_| syscall::memfd_create(c"rt", flags))
        .ctx(|| "cannot create a memfd for a copy of rt's binary")?;
    let mut from = exe;
    let mut to = File::from(memfd);
    std::io::copy(&mut from, &mut to).ctx(|| "cannot copy rt's binary into a memfd")?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(to.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .ctx(|| "cannot seal the copy of rt's binary")?;
    Ok(to.into())
}

fn cstrings(items: impl Iterator<Item = OsString>) -> Result<Vec<CString>> {
    items
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| {
                Error::Usage("an argument or environment variable holds a NUL byte".into())
            })
        })
        .collect()
}
