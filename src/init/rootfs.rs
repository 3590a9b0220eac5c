//! The container's root filesystem: isolating mount propagation, making the
//! rootfs a mount point, switching root, and the final read-only remount.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Context, Result};

use super::mounts;
use super::procfs::open_path;

/// Stop mount events from reaching the host, and bind the rootfs onto itself
/// (pivot_root needs the new root to be a mount point).
pub fn prepare(rootfs: &Path) -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "cannot make / a slave mount")?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("cannot bind-mount rootfs {}", rootfs.display()))
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
/// pivot_root is impossible). Weaker: the old root stays reachable to a
/// process that can escape a chroot.
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("cannot enter {}", rootfs.display()))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .ctx(|| "cannot move rootfs to /")?;
    chroot(".").ctx(|| "cannot chroot into rootfs")?;
    chdir("/").ctx(|| "cannot enter /")
}

/// `linux.rootfsPropagation`, applied to the whole tree after the switch.
pub fn set_propagation(name: &str) -> Result<()> {
    let flags = mounts::propagation(name).ok_or_else(|| {
        crate::error::Error::Config(format!(
            "linux.rootfsPropagation {name:?} is not a propagation type"
        ))
    })?;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .ctx(|| format!("cannot make / {name}"))
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
