//! Mounts built detached, so that every attribute is set on the new mount
//! itself and nothing is resolved twice (issue 16, F4: a `ro` remount by the
//! destination's name, raced by a container sharing the volume, remounted
//! the wrong mount and left the source writable).
//!
//! A mount starts where no path of the container reaches it: a clone of a
//! tree (open_tree OPEN_TREE_CLONE, for binds) or a new filesystem
//! (fsopen/fsconfig/fsmount). Its per-mount flags and recursive options go
//! on with mount_setattr while it is detached; then move_mount attaches it
//! onto the destination fd the caller resolved once inside the root.
//! Propagation is set after the attach (as runc orders it), through the
//! mount's own fd. Kernels without mount_setattr (before 5.12) get the
//! per-mount flags right after the attach by a bind remount of the mount's
//! own fd (`thread-self/fd/N` of the host procfs, see `procfs`), never of a
//! name; recursive options need mount_setattr.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result};
use crate::syscall::{self, FsConfig, MountAttr};

use super::procfs::{fd_path, InHostProc};

/// MS_NOSYMFOLLOW (Linux 5.10), which nix does not name.
pub const NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// The per-mount flags a bind remount (`mount -o remount,bind,...`) sets.
const PER_MOUNT: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(NOSYMFOLLOW);
const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// What to set on a mount before it is attached.
#[derive(Default)]
pub struct Attrs {
    /// Per-mount flags to set as a bind remount sets them: every flag not
    /// given is cleared, atime is kept unless an atime flag is given.
    pub top: Option<MsFlags>,
    /// MOUNT_ATTR_* bits set and cleared on the mount and every mount below
    /// it (runc's `rro`, `rnosuid`, ...).
    pub recursive_set: u64,
    pub recursive_clear: u64,
}

impl Attrs {
    fn recursive(&self) -> bool {
        self.recursive_set != 0 || self.recursive_clear != 0
    }
}

/// A mount nothing of the container can reach yet.
pub struct Detached {
    fd: OwnedFd,
}

/// The mount once attached; its fd names exactly that mount's root.
pub struct Attached {
    fd: OwnedFd,
}

impl Detached {
    /// A clone of the file or directory `source` is open on (a bind mount),
    /// with the mounts below it when `recursive`.
    pub fn clone_of(source: BorrowedFd<'_>, recursive: bool, what: &Path) -> Result<Detached> {
        let fd = syscall::clone_tree(source, recursive)
            .ctx(|| format!("cannot mount {}", what.display()))?;
        Ok(Detached { fd })
    }

    /// A tree made elsewhere (an idmapped clone `create` prepared).
    pub fn adopt(fd: OwnedFd) -> Detached {
        Detached { fd }
    }

    /// A new `fstype` filesystem from `source`, with the superblock flags
    /// of `flags` (ro, sync, dirsync, mand, lazytime) and `data` as its parameters
    /// (each `key=value` or a bare flag, as mount(2) splits them), mounted
    /// with the per-mount flags of `flags`.
    pub fn new_fs(
        fstype: &str,
        source: &str,
        flags: MsFlags,
        data: &[String],
        what: &Path,
    ) -> Result<Detached> {
        Self::configured(fstype, source, flags, data, what, None)
    }

    /// A procfs of the pid namespace `pid_ns`, which this process has
    /// joined for its children only (setns): a procfs shows the pid
    /// namespace of whoever creates it, here the host's. Linux >= 6.15
    /// takes the namespace as procfs's `pidns` parameter. Before, a child
    /// forked into the namespace creates the mount and hands it back;
    /// its first act is to close every fd it inherited, so that the
    /// namespace's other processes never see one of the host (the fd rule
    /// in `init`).
    pub fn procfs_of(
        pid_ns: BorrowedFd<'_>,
        source: &str,
        flags: MsFlags,
        data: &[String],
        what: &Path,
    ) -> Result<Detached> {
        match Self::configured("proc", source, flags, data, what, Some(pid_ns)) {
            Err(Error::Sys {
                errno: Errno::EINVAL,
                ..
            }) => procfs_from_child(source, flags, data, what),
            other => other,
        }
    }

    fn configured(
        fstype: &str,
        source: &str,
        flags: MsFlags,
        data: &[String],
        what: &Path,
        pid_ns: Option<BorrowedFd<'_>>,
    ) -> Result<Detached> {
        let cstr = |s: &str| {
            CString::new(s).map_err(|_| {
                Error::Config(format!("mount {}: {s:?} has a NUL byte", what.display()))
            })
        };
        let ctx = syscall::fsopen(&cstr(fstype)?)
            .ctx(|| format!("cannot mount {} (filesystem {fstype})", what.display()))?;
        let fail = |e: Errno| {
            let log = kernel_log(&ctx);
            let why = if log.is_empty() {
                String::new()
            } else {
                format!(" ({log})")
            };
            Error::sys(format!("cannot mount {}{why}", what.display()), e)
        };
        if let Some(ns) = pid_ns {
            // EINVAL (unknown parameter) before Linux 6.15: see procfs_of.
            syscall::fsconfig(ctx.as_fd(), FsConfig::Fd(c"pidns", ns))
                .map_err(|e| Error::sys("procfs pidns", e))?;
        }
        syscall::fsconfig(ctx.as_fd(), FsConfig::String(c"source", &cstr(source)?))
            .map_err(fail)?;
        for (flag, name) in [
            (MsFlags::MS_RDONLY, c"ro"),
            (MsFlags::MS_SYNCHRONOUS, c"sync"),
            (MsFlags::MS_DIRSYNC, c"dirsync"),
            (MsFlags::MS_MANDLOCK, c"mand"),
            (MsFlags::MS_LAZYTIME, c"lazytime"),
        ] {
            if flags.contains(flag) {
                syscall::fsconfig(ctx.as_fd(), FsConfig::Flag(name)).map_err(fail)?;
            }
        }
        for opt in data {
            // As mount(2) parses its data: empty options and `=value`
            // are skipped.
            match opt.split_once('=') {
                _ if opt.is_empty() => {}
                Some(("", _)) => {}
                Some((k, v)) => {
                    syscall::fsconfig(ctx.as_fd(), FsConfig::String(&cstr(k)?, &cstr(v)?))
                        .map_err(fail)?
                }
                None => {
                    syscall::fsconfig(ctx.as_fd(), FsConfig::Flag(&cstr(opt)?)).map_err(fail)?
                }
            }
        }
        syscall::fsconfig(ctx.as_fd(), FsConfig::Create).map_err(fail)?;
        let fd = syscall::fsmount(ctx.as_fd(), mount_attr(flags)).map_err(fail)?;
        Ok(Detached { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Set the per-mount `flags` of the tree's top mount as a bind remount
    /// sets them (see `Attrs::top`). ENOSYS before Linux 5.12.
    pub fn set_flags(&self, flags: MsFlags) -> nix::Result<()> {
        set_top(self.fd.as_fd(), flags)
    }

    /// Set `attrs` and attach the mount onto `target` (an fd the caller
    /// resolved inside the root).
    pub fn attach(
        self,
        at: InHostProc<'_>,
        target: BorrowedFd<'_>,
        attrs: &Attrs,
        what: &Path,
    ) -> Result<Attached> {
        let deferred = match set_attrs(self.fd.as_fd(), attrs) {
            Ok(()) => None,
            Err(Errno::ENOSYS) if !attrs.recursive() => attrs.top,
            Err(Errno::ENOSYS) => {
                return Err(Error::Init(format!(
                    "cannot apply recursive mount options to {} (mount_setattr needs Linux 5.12)",
                    what.display()
                )))
            }
            Err(e) => return Err(Error::sys(format!("cannot mount {}", what.display()), e)),
        };
        syscall::move_mount(self.fd.as_fd(), target)
            .ctx(|| format!("cannot mount {}", what.display()))?;
        let attached = Attached { fd: self.fd };
        if let Some(flags) = deferred {
            attached.remount(
                at,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (flags & (PER_MOUNT | ATIME)),
                what,
            )?;
        }
        Ok(attached)
    }
}

/// `Detached::procfs_of` before Linux 6.15: a child, born in the pid
/// namespace this process joined, closes all it inherited but its end of a
/// socket, creates the procfs (its own pid namespace's) and sends the
/// detached mount back.
fn procfs_from_child(
    source: &str,
    flags: MsFlags,
    data: &[String],
    what: &Path,
) -> Result<Detached> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .ctx(|| format!("cannot mount {}: socket pair", what.display()))?;
    let forked =
        syscall::clone_process(0).ctx(|| format!("cannot mount {}: fork", what.display()))?;
    let child = match forked {
        syscall::Forked::Child => {
            let code = match syscall::close_fds_except(0, &[theirs.as_raw_fd()]) {
                Err(_) => 1,
                Ok(()) => match Detached::new_fs("proc", source, flags, data, what) {
                    Ok(tree) => match syscall::send_fd(theirs.as_fd(), tree.fd()) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    },
                    Err(e) => {
                        let _ = std::io::Write::write_all(&mut &theirs, e.to_string().as_bytes());
                        1
                    }
                },
            };
            syscall::exit_now(code)
        }
        syscall::Forked::Parent(pid) => pid,
    };
    drop(theirs);
    let mut buf = [0u8; 512];
    let got = syscall::recv_with_fd(ours.as_fd(), &mut buf);
    let _ = nix::sys::wait::waitpid(child, None);
    match got {
        Ok(syscall::Received { fd: Some(fd), .. }) => Ok(Detached { fd }),
        Ok(r) => Err(Error::Init(format!(
            "cannot mount {}: {}",
            what.display(),
            String::from_utf8_lossy(&buf[..r.bytes])
        ))),
        Err(e) => Err(Error::sys(format!("cannot mount {}", what.display()), e)),
    }
}

impl Attached {
    /// mount(2) with no source on this mount, named by its own fd.
    pub fn remount(&self, at: InHostProc<'_>, flags: MsFlags, what: &Path) -> Result<()> {
        mount(
            None::<&str>,
            fd_path(at, &self.fd).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .ctx(|| format!("cannot mount {}", what.display()))
    }

    /// Make the superblock and this mount read-only, the mount with the
    /// other per-mount flags of `flags` as a bind remount sets them (a
    /// tmpfs whose `ro` waited until setup was done with it).
    pub fn make_readonly(&self, at: InHostProc<'_>, flags: MsFlags, what: &Path) -> Result<()> {
        let err = || format!("cannot remount {} read-only", what.display());
        let ctx = syscall::fspick(self.fd.as_fd()).ctx(err)?;
        syscall::fsconfig(ctx.as_fd(), FsConfig::Flag(c"ro")).ctx(err)?;
        syscall::fsconfig(ctx.as_fd(), FsConfig::Reconfigure).ctx(err)?;
        let flags = flags | MsFlags::MS_RDONLY;
        match syscall::mount_setattr(self.fd.as_fd(), 0, &bind_remount_attr(flags)) {
            Err(Errno::ENOSYS) => self.remount(
                at,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (flags & (PER_MOUNT | ATIME)),
                what,
            ),
            other => other.ctx(err),
        }
    }

    /// Propagation types, in order, on this mount (and below it for the
    /// recursive ones).
    pub fn propagate(&self, at: InHostProc<'_>, types: &[MsFlags], what: &Path) -> Result<()> {
        types.iter().try_for_each(|t| self.remount(at, *t, what))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// mount_setattr(2) on a detached tree: `top` on its root, then the
/// recursive options on all of it (the order of runc's remount and its
/// recursive pass). ENOSYS before 5.12.
fn set_attrs(fd: BorrowedFd<'_>, attrs: &Attrs) -> nix::Result<()> {
    if let Some(flags) = attrs.top {
        set_top(fd, flags)?;
    }
    if attrs.recursive() {
        let attr = MountAttr {
            attr_set: attrs.recursive_set,
            attr_clr: attrs.recursive_clear,
            propagation: 0,
            userns_fd: 0,
        };
        syscall::mount_setattr(fd, libc::AT_RECURSIVE as libc::c_uint, &attr)?;
    }
    Ok(())
}

/// `flags` on the top mount of `fd`, as a bind remount sets them.
/// mount_setattr knows MOUNT_ATTR_NOSYMFOLLOW from Linux 5.14 only: on
/// 5.12 and 5.13 a source's nosymfollow stays unless asked for.
fn set_top(fd: BorrowedFd<'_>, flags: MsFlags) -> nix::Result<()> {
    let attr = bind_remount_attr(flags);
    match syscall::mount_setattr(fd, 0, &attr) {
        Err(Errno::EINVAL) if attr.attr_set & libc::MOUNT_ATTR_NOSYMFOLLOW == 0 => {
            let older = MountAttr {
                attr_clr: attr.attr_clr & !libc::MOUNT_ATTR_NOSYMFOLLOW,
                ..attr
            };
            syscall::mount_setattr(fd, 0, &older)
        }
        other => other,
    }
}

/// The MOUNT_ATTR_* bits of the per-mount flags of a new mount.
fn mount_attr(flags: MsFlags) -> u64 {
    let mut attr = 0;
    for (flag, bit) in [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
        (NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags.contains(flag) {
            attr |= bit;
        }
    }
    // As mount(2): relatime unless noatime; strictatime overrides both.
    attr | if flags.contains(MsFlags::MS_STRICTATIME) {
        libc::MOUNT_ATTR_STRICTATIME
    } else if flags.contains(MsFlags::MS_NOATIME) {
        libc::MOUNT_ATTR_NOATIME
    } else {
        libc::MOUNT_ATTR_RELATIME
    }
}

/// What `mount(MS_BIND | MS_REMOUNT | flags)` does, as a mount_attr: the
/// per-mount flags become exactly `flags`, and atime changes only if an
/// atime flag is given.
fn bind_remount_attr(flags: MsFlags) -> MountAttr {
    let atime = libc::MOUNT_ATTR__ATIME | libc::MOUNT_ATTR_NODIRATIME;
    let all = mount_attr(flags & PER_MOUNT.union(ATIME));
    let mut set = all & !atime;
    let mut clear = libc::MOUNT_ATTR_RDONLY
        | libc::MOUNT_ATTR_NOSUID
        | libc::MOUNT_ATTR_NODEV
        | libc::MOUNT_ATTR_NOEXEC
        | libc::MOUNT_ATTR_NOSYMFOLLOW;
    if flags.intersects(ATIME) {
        set |= all & atime;
        clear |= atime;
    }
    // The atime mode is a value, not bits: the kernel wants all of
    // MOUNT_ATTR__ATIME cleared to change it, whatever is set.
    clear &= !(set & !libc::MOUNT_ATTR__ATIME);
    MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    }
}

/// What the kernel logged on a filesystem context (fsconfig's error
/// messages, `e tmpfs: Bad value for 'size'`), one line.
fn kernel_log(ctx: &OwnedFd) -> String {
    let mut lines = Vec::new();
    let mut buf = [0u8; 512];
    // Each read returns one message; a few say enough.
    for _ in 0..4 {
        match nix::unistd::read(ctx.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let text = text.trim_end();
                lines.push(text.split_once(' ').map_or(text, |(_, m)| m).to_string());
            }
            _ => break,
        }
    }
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_mounts_take_mount_2s_atime() {
        assert_eq!(mount_attr(MsFlags::empty()), libc::MOUNT_ATTR_RELATIME);
        assert_eq!(
            mount_attr(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME),
            libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            mount_attr(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY),
            libc::MOUNT_ATTR_STRICTATIME | libc::MOUNT_ATTR_RDONLY
        );
    }

    #[test]
    fn bind_remount_sets_exactly_the_flags_given() {
        let a = bind_remount_attr(MsFlags::MS_RDONLY);
        assert_eq!(a.attr_set, libc::MOUNT_ATTR_RDONLY);
        // nosuid, nodev, noexec cleared; atime left alone.
        assert_eq!(
            a.attr_clr & libc::MOUNT_ATTR_NOSUID,
            libc::MOUNT_ATTR_NOSUID
        );
        assert_eq!(a.attr_clr & libc::MOUNT_ATTR__ATIME, 0);
        assert_eq!(a.attr_clr & a.attr_set, 0);
        let a = bind_remount_attr(MsFlags::MS_NOSUID | MsFlags::MS_NODIRATIME);
        assert_eq!(
            a.attr_set,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODIRATIME | libc::MOUNT_ATTR_RELATIME
        );
        assert_eq!(
            a.attr_clr,
            libc::MOUNT_ATTR__ATIME
                | libc::MOUNT_ATTR_RDONLY
                | libc::MOUNT_ATTR_NODEV
                | libc::MOUNT_ATTR_NOEXEC
                | libc::MOUNT_ATTR_NOSYMFOLLOW
        );
        let a = bind_remount_attr(MsFlags::MS_STRICTATIME | NOSYMFOLLOW);
        assert_eq!(a.attr_clr & libc::MOUNT_ATTR_NOSYMFOLLOW, 0);
        let a = bind_remount_attr(MsFlags::MS_STRICTATIME);
        assert_eq!(a.attr_set, libc::MOUNT_ATTR_STRICTATIME);
        assert_ne!(a.attr_clr & libc::MOUNT_ATTR_NOSYMFOLLOW, 0);
        assert_eq!(
            a.attr_clr & libc::MOUNT_ATTR__ATIME,
            libc::MOUNT_ATTR__ATIME
        );
    }
}
