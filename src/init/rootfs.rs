//! The container's root filesystem: isolating mount propagation, making the
//! rootfs a mount point, switching root, and the final read-only remount.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Context, Error, Result};

use super::mounts;
use super::procfs::{open_path, HostProc};

/// Cut the container's mounts off the host's (runc's prepareRoot): the
/// whole tree becomes `rootfs_propagation` (from
/// `linux.rootfsPropagation`), or a slave of the host's when none is
/// given; then the mount the rootfs lies on is made private in the
/// container, so that its bind onto itself — pivot_root needs the new
/// root to be a mount point — and everything mounted there stays out of
/// the host. With `rshared` the host's shared mounts stay peers of the
/// container's copies: a bind of one with `rshared` (a Bidirectional
/// volume) carries mounts made in the container back to the host.
pub fn prepare(rootfs: &Path, rootfs_propagation: Option<MsFlags>) -> Result<()> {
    let flags = rootfs_propagation.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .ctx(|| "cannot set the propagation of /")?;
    parent_mount_private(rootfs)?;
    bind_onto_itself(rootfs)
}

/// The rootfs bound onto itself: the container's mounts go on this mount.
pub fn bind_onto_itself(rootfs: &Path) -> Result<()> {
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("cannot bind-mount rootfs {}", rootfs.display()))
}

/// Make the mount `path` lies on private: the nearest mount point at or
/// above it (EINVAL says a path is none).
fn parent_mount_private(path: &Path) -> Result<()> {
    let mut at = path;
    loop {
        match mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        ) {
            Err(Errno::EINVAL) if at != Path::new("/") => {
                at = at.parent().unwrap_or(Path::new("/"))
            }
            other => return other.ctx(|| format!("cannot make {} private", at.display())),
        }
    }
}

/// pivot_root into `rootfs` and detach the old root, without needing a
/// directory for it inside the image.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let new_root = open_path(rootfs, libc::O_DIRECTORY)?;
    let old_root = open_path(Path::new("/"), libc::O_DIRECTORY)?;
    use std::os::fd::AsRawFd;
    fchdir(new_root.as_raw_fd()).ctx(|| "cannot enter rootfs")?;
    pivot_root(".", ".").ctx(|| format!("pivot_root to {}", rootfs.display()))?;
    // The old root now sits on top of the new one; unmount it from there,
    // after making sure the unmount does not propagate to the host.
    fchdir(old_root.as_raw_fd()).ctx(|| "cannot enter the old root")?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "cannot make the old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "cannot detach the old root")?;
    chdir("/").ctx(|| "cannot enter /")
}

/// `--no-pivot`: move the rootfs over / and chroot (for ramfs roots, where
/// pivot_root is impossible). Weaker: the old root stays in the mount
/// namespace, below the rootfs, reachable to a process that can escape a
/// chroot.
///
/// So first, as runc does, every full procfs and sysfs of the host's tree
/// (outside the rootfs) is unmounted, or covered with a tmpfs where it
/// cannot be: the kernel lets a new user and mount namespace mount a fresh
/// procfs (or sysfs) only if one is fully visible in its mount namespace,
/// and the host's would be — a way around the container's masked and
/// read-only /proc paths (`unshare -mrpf mount -t proc`).
pub fn move_root(rootfs: &Path, proc: &HostProc) -> Result<()> {
    let mountinfo = crate::syscall::openat(proc.fd(), "thread-self/mountinfo", OFlag::O_RDONLY)
        .ctx(|| "cannot open the mount table")?;
    let text = std::io::read_to_string(std::fs::File::from(mountinfo))
        .ctx(|| "cannot read the mount table")?;
    for p in full_proc_and_sysfs(&text, rootfs) {
        // Slave first: the unmount must not reach the host.
        match mount(
            None::<&str>,
            &p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            // A mount below one unmounted already.
            Err(Errno::ENOENT) => continue,
            other => other.ctx(|| format!("cannot make {} a slave", p.display()))?,
        }
        match umount2(&p, MntFlags::MNT_DETACH) {
            Err(Errno::EINVAL | Errno::EPERM) => mount(
                Some("tmpfs"),
                &p,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .ctx(|| format!("cannot cover {}", p.display()))?,
            other => other.ctx(|| format!("cannot unmount {}", p.display()))?,
        }
    }
    chdir(rootfs).ctx(|| format!("cannot enter {}", rootfs.display()))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .ctx(|| "cannot move rootfs to /")?;
    chroot(".").ctx(|| "cannot chroot into rootfs")?;
    chdir("/").ctx(|| "cannot enter /")
}

/// Mount points of the procfs and sysfs mounts in `mountinfo` that show a
/// whole filesystem (root `/`) and are not inside `rootfs`.
fn full_proc_and_sysfs(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split(' ').skip(3);
            let (root, point) = (l.next()?, l.next()?);
            let fstype = right.split(' ').next()?;
            let point = PathBuf::from(unescape(point));
            let full = root == "/" && matches!(fstype, "proc" | "sysfs");
            (full && !point.starts_with(rootfs)).then_some(point)
        })
        .collect()
}

/// A mountinfo field with its `\ooo` escapes (space, tab, newline,
/// backslash) decoded.
fn unescape(field: &str) -> OsString {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], code) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

/// `linux.rootfsPropagation` as mount flags, or a config error.
pub fn propagation(name: &str) -> Result<MsFlags> {
    mounts::propagation(name).ok_or_else(|| {
        Error::Config(format!(
            "linux.rootfsPropagation {name:?} is not a propagation type"
        ))
    })
}

/// `linux.rootfsPropagation` once more on the new root, after the switch:
/// the root is the rootfs's private bind. `private` it is already.
pub fn set_propagation(flags: MsFlags) -> Result<()> {
    if flags.contains(MsFlags::MS_PRIVATE) {
        return Ok(());
    }
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .ctx(|| "cannot set the propagation of the new /")
}

/// `root.readonly`: remount the root mount read-only.
pub fn make_root_readonly() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ctx(|| "cannot remount / read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_proc_and_sysfs_outside_the_rootfs() {
        let text = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 22 0:23 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
25 1 0:21 /sys /mnt/proc-sys rw - proc proc rw
26 1 0:21 / /var/x/rootfs/proc rw - proc proc rw
27 1 0:22 / /mnt/with\\040space rw - sysfs sysfs rw
";
        assert_eq!(
            full_proc_and_sysfs(text, Path::new("/var/x/rootfs")),
            [
                PathBuf::from("/proc"),
                PathBuf::from("/sys"),
                PathBuf::from("/mnt/with space")
            ]
        );
    }
}
