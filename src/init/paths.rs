//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root.
//!
//! A masked file gets the container's /dev/null bound over it, opened without
//! following symlinks and checked to be the real 1:3 character device (the
//! image could have swapped it for a symlink or a file: CVE-2025-31133); a
//! masked directory gets an empty read-only tmpfs, one shared by all of
//! them. Paths are resolved without following symlinks, so an image cannot
//! redirect a mask.
//! A read-only path is a clone of itself made read-only while detached,
//! then attached onto the fd the lookup returned (see `detached`).

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result};

use super::detached::{Attached, Attrs, Detached};
use super::inroot;
use super::procfs::{fd_path, open_path, InHostProc};

/// The container's root (after pivot_root), for lookups that follow no
/// symlink: an image cannot redirect a mask or a read-only path.
fn root() -> Result<OwnedFd> {
    open_path(Path::new("/"), libc::O_DIRECTORY)
}

/// An O_PATH handle on `p`; None when it does not exist.
fn lookup(root: &OwnedFd, p: &str, what: &str) -> Result<Option<OwnedFd>> {
    match inroot::resolve(root.as_fd(), Path::new(p), true) {
        Ok(h) => Ok(Some(h)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(Error::Init(format!("cannot resolve {what} {p}: {e}"))),
    }
}

/// The container's /dev/null, verified to be the null device.
fn dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let h = inroot::resolve(root.as_fd(), Path::new("/dev/null"), true)
        .ctx(|| "cannot open the container's /dev/null")?;
    let st = nix::sys::stat::fstat(h.as_raw_fd()).ctx(|| "cannot stat /dev/null")?;
    let is_char = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_char || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(Error::Init(
            "the container's /dev/null is not the null device".into(),
        ));
    }
    Ok(h)
}

/// Stdio that is the host's /dev/null (a client passing "no input") is
/// replaced by the container's /dev/null opened read-write, as runc does:
/// the host's may be open read-only, and programs write to fd 0 too.
///
/// The reopen goes through rt's host procfs handle, never the container's
/// /proc.
pub fn reopen_null_stdio(proc: &super::procfs::HostProc) -> Result<()> {
    let null = nix::sys::stat::makedev(1, 3);
    let mut container_null = None;
    for fd in 0..3 {
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != null {
            continue;
        }
        if container_null.is_none() {
            // Straight openat2, not pathrs: pathrs consults the container's
            // /proc, which the image may fake.
            let root = std::fs::File::open("/").ctx(|| "cannot open /")?;
            let h = inroot::resolve(root.as_fd(), Path::new("/dev/null"), true)
                .ctx(|| "cannot open the container's /dev/null")?;
            let st = nix::sys::stat::fstat(h.as_raw_fd()).ctx(|| "cannot stat /dev/null")?;
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != null {
                return Err(Error::Init(
                    "the container's /dev/null is not the null device".into(),
                ));
            }
            let f = proc
                .reopen(&h, nix::fcntl::OFlag::O_RDWR)
                .ctx(|| "cannot open the container's /dev/null")?;
            container_null = Some(f);
        }
        if let Some(f) = &container_null {
            nix::unistd::dup2(f.as_raw_fd(), fd)
                .ctx(|| format!("cannot reopen fd {fd} on /dev/null"))?;
        }
    }
    Ok(())
}

/// Each masked path once (a path given twice is masked once, as in runc):
/// a file gets /dev/null bound over it; the first directory gets a tiny
/// read-only tmpfs and every further one a clone of that mount, so all
/// masked directories share one tmpfs (runc >= 1.5: a container costs
/// one superblock, not one per masked directory).
pub fn mask(at: InHostProc<'_>, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = root()?;
    let dev_null = dev_null(&root)?;
    let mut seen = HashSet::new();
    let mut shared: Option<Attached> = None;
    for p in paths {
        if !seen.insert(super::mounts::normalize(Path::new(p))) {
            continue;
        }
        let Some(h) = lookup(&root, p, "masked path")? else {
            continue;
        };
        let what = Path::new(p);
        let st = nix::sys::stat::fstat(h.as_raw_fd()).ctx(|| format!("cannot stat {p}"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            mount(
                Some(fd_path(at, &dev_null).as_str()),
                fd_path(at, &h).as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .ctx(|| format!("cannot mask {p}"))?;
            continue;
        }
        let tree = match &shared {
            Some(first) => Detached::clone_of(first.fd(), false, what)?,
            None => mask_tmpfs(what)?,
        };
        let attached = tree.attach(at, h.as_fd(), &Attrs::default(), what)?;
        shared.get_or_insert(attached);
    }
    Ok(())
}

/// An empty read-only tmpfs of one block and one inode. Ubuntu's 5.4
/// kernels refuse nr_inodes below 2 (runc retries the same way).
fn mask_tmpfs(what: &Path) -> Result<Detached> {
    let tiny = |inodes: &str| {
        Detached::new_fs(
            "tmpfs",
            "tmpfs",
            MsFlags::MS_RDONLY,
            &["nr_blocks=1".to_string(), format!("nr_inodes={inodes}")],
            what,
        )
    };
    tiny("1").or_else(|_| tiny("2"))
}

/// Each path bound onto itself read-only, as runc does: the mounts below
/// it come along (a recursive clone), only the top turns read-only, and it
/// keeps its nosuid, nodev and noexec. The clone is made read-only before
/// it is attached onto the fd the lookup returned, so no name is resolved
/// twice (issue 16, F4).
pub fn make_readonly(at: InHostProc<'_>, paths: &[String]) -> Result<()> {
    let root = root()?;
    for p in paths {
        let Some(h) = lookup(&root, p, "readonly path")? else {
            continue;
        };
        let what = Path::new(p);
        let st = nix::sys::statvfs::fstatvfs(&h)
            .ctx(|| format!("cannot statvfs {p}"))?
            .flags();
        let mut flags = MsFlags::MS_RDONLY;
        use nix::sys::statvfs::FsFlags;
        for (f, m) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        ] {
            if st.contains(f) {
                flags |= m;
            }
        }
        let attrs = Attrs {
            top: Some(flags),
            ..Attrs::default()
        };
        Detached::clone_of(h.as_fd(), true, what)?.attach(at, h.as_fd(), &attrs, what)?;
    }
    Ok(())
}
