//! Path operations inside the container's rootfs, each confined the way
//! pathrs confines them but in the fewest system calls: the common cases
//! (an existing path, one missing last component) are one openat2(2) with
//! RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS for the parent directory, then
//! the *at(2) call on the last component, which never follows it. pathrs
//! handles the rest (several missing levels), where its verification costs
//! little because it is rare; for the common cases it cost most of the
//! mount step's time (a few dozen procfs checks per call).
//!
//! Reopening an O_PATH handle goes through the host's procfs, which is the
//! init's working directory during setup (see `procfs`).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;
use pathrs::{Handle, Root};

use crate::error::{Context, Error, Result};
use crate::syscall;

use super::procfs::fd_path;

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// `path` relative to the root, as openat2 takes it ("." for the root).
fn relative(path: &Path) -> &OsStr {
    let rel = path.as_os_str().as_bytes();
    let start = rel.iter().position(|b| *b != b'/').unwrap_or(rel.len());
    match &rel[start..] {
        [] => OsStr::new("."),
        r => OsStr::from_bytes(r),
    }
}

/// An O_PATH handle on `path` inside `root`; symlinks are followed inside
/// the root unless `no_symlinks`.
pub fn resolve(root: BorrowedFd, path: &Path, no_symlinks: bool) -> nix::Result<OwnedFd> {
    let resolve = if no_symlinks {
        IN_ROOT | libc::RESOLVE_NO_SYMLINKS
    } else {
        IN_ROOT
    };
    let rel = relative(path).to_str().ok_or(Errno::EINVAL)?;
    syscall::openat2(root, rel, libc::O_PATH, resolve)
}

/// A real open of what the O_PATH handle `h` refers to, through the host's
/// procfs (never by its name in the rootfs).
pub fn reopen(h: &impl AsFd, flags: OFlag) -> nix::Result<OwnedFd> {
    syscall::openat_mode(None, fd_path(h).as_str(), flags, 0)
}

/// The last component of a path, with its parent directory resolved in
/// the root: every call on it acts on that name in that directory and
/// never follows it.
pub struct Entry {
    dir: OwnedFd,
    name: CString,
}

impl Entry {
    /// None when `path` has no plain last component (`/`, `..`), or its
    /// parent cannot be resolved (then the caller takes the slow path).
    pub fn new(root: BorrowedFd, path: &Path, no_symlinks: bool) -> Option<Entry> {
        let Some(Component::Normal(name)) = path.components().next_back() else {
            return None;
        };
        let dir = resolve(root, path.parent()?, no_symlinks).ok()?;
        Some(Entry {
            dir,
            name: CString::new(name.as_bytes()).ok()?,
        })
    }

    pub fn unlink(&self) -> nix::Result<()> {
        nix::unistd::unlinkat(
            Some(self.dir.as_raw_fd()),
            self.name.as_c_str(),
            UnlinkatFlags::NoRemoveDir,
        )
    }

    pub fn mknod(&self, kind: SFlag, mode: u32, dev: libc::dev_t) -> nix::Result<()> {
        nix::sys::stat::mknodat(
            Some(self.dir.as_raw_fd()),
            self.name.as_c_str(),
            kind,
            Mode::from_bits_truncate(mode),
            dev,
        )
    }

    pub fn symlink(&self, target: &str) -> nix::Result<()> {
        nix::unistd::symlinkat(target, Some(self.dir.as_raw_fd()), self.name.as_c_str())
    }

    pub fn mkdir(&self, mode: u32) -> nix::Result<()> {
        nix::sys::stat::mkdirat(
            Some(self.dir.as_raw_fd()),
            self.name.as_c_str(),
            Mode::from_bits_truncate(mode),
        )
    }

    /// An O_PATH handle on the entry itself (a symlink stays a symlink).
    pub fn open_nofollow(&self) -> nix::Result<OwnedFd> {
        syscall::openat_mode(
            Some(self.dir.as_fd()),
            self.name.as_c_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW,
            0,
        )
    }

    /// Create a regular file (kept if it exists; a symlink there fails).
    pub fn create_file(&self, mode: u32) -> nix::Result<OwnedFd> {
        syscall::openat_mode(
            Some(self.dir.as_fd()),
            self.name.as_c_str(),
            OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_RDONLY,
            mode,
        )
    }

    pub fn chown(&self, uid: u32, gid: u32) -> nix::Result<()> {
        nix::unistd::fchownat(
            Some(self.dir.as_raw_fd()),
            self.name.as_c_str(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }
}

/// The directory `path` inside the root, created with its missing parents
/// (mode 0755 before the umask).
pub fn mkdir_all(root: &Root, path: &Path, no_symlinks: bool) -> Result<Handle> {
    if let Ok(fd) = resolve(root.as_fd(), path, no_symlinks) {
        if is_dir(&fd) {
            return Ok(Handle::from_fd(fd));
        }
    }
    if let Some(entry) = Entry::new(root.as_fd(), path, no_symlinks) {
        match entry.mkdir(0o755) {
            Ok(()) | Err(Errno::EEXIST) => {
                if let Ok(fd) = entry.open_nofollow() {
                    if is_dir(&fd) {
                        return Ok(Handle::from_fd(fd));
                    }
                }
            }
            Err(_) => {}
        }
    }
    slow_mkdir_all(root, path, no_symlinks)
}

fn slow_mkdir_all(root: &Root, path: &Path, no_symlinks: bool) -> Result<Handle> {
    let perm = std::fs::Permissions::from_mode(0o755);
    let made = if no_symlinks {
        root.try_clone()
            .ctx(|| "cannot clone the rootfs handle")?
            .with_resolver_flags(pathrs::flags::ResolverFlags::NO_SYMLINKS)
            .mkdir_all(path, &perm)
    } else {
        root.mkdir_all(path, &perm)
    };
    made.map_err(|e| {
        Error::Init(format!(
            "cannot create directory {}: {}",
            path.display(),
            crate::error::pathrs_text(&e)
        ))
    })
}

fn is_dir(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd.as_raw_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}
