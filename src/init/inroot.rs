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
    open(root, path, libc::O_PATH, no_symlinks)
}

/// `path` inside `root` opened with `flags` (rt reads a few files of the
/// image this way: /etc/passwd); symlinks followed inside the root unless
/// `no_symlinks`.
pub fn open(
    root: BorrowedFd,
    path: &Path,
    flags: libc::c_int,
    no_symlinks: bool,
) -> nix::Result<OwnedFd> {
    let resolve = if no_symlinks {
        IN_ROOT | libc::RESOLVE_NO_SYMLINKS
    } else {
        IN_ROOT
    };
    let rel = relative(path).to_str().ok_or(Errno::EINVAL)?;
    syscall::openat2(root, rel, flags, resolve)
}

/// An O_PATH handle on `path` as a relative name resolves from `start`
/// (its `..` stops at the process's root) — as execve resolves a relative
/// program against the working directory — without magic links.
pub fn resolve_relative(start: BorrowedFd, path: &Path) -> nix::Result<OwnedFd> {
    let rel = path.to_str().ok_or(Errno::EINVAL)?;
    let rel = if rel.is_empty() { "." } else { rel };
    syscall::openat2(start, rel, libc::O_PATH, libc::RESOLVE_NO_MAGICLINKS)
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

    /// What is there, a symlink as itself.
    pub fn stat_nofollow(&self) -> nix::Result<nix::sys::stat::FileStat> {
        nix::sys::stat::fstatat(
            Some(self.dir.as_raw_fd()),
            self.name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
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

    /// Create an empty regular file, never opening it (a node or fifo
    /// raced in there is not opened either); whatever already exists is
    /// kept, except a symlink, which fails with ELOOP.
    pub fn create_file(&self, mode: u32) -> nix::Result<()> {
        match self.mknod(SFlag::S_IFREG, mode, 0) {
            Err(Errno::EEXIST) => {
                let st = self.stat_nofollow()?;
                if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    return Err(Errno::ELOOP);
                }
                Ok(())
            }
            other => other,
        }
    }

    /// An O_PATH handle on the file there, made if missing (see
    /// `create_file`); a symlink, even one swapped in since, fails with
    /// ELOOP.
    pub fn file(&self, mode: u32) -> nix::Result<OwnedFd> {
        self.create_file(mode)?;
        let fd = self.open_nofollow()?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(Errno::ELOOP);
        }
        Ok(fd)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with an escape hatch in it: `esc` -> the host directory
    /// `outside`, and `abs` -> `/` (absolute).
    fn roots() -> (tempfile::TempDir, tempfile::TempDir, OwnedFd) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("esc")).unwrap();
        symlink("/", root.path().join("abs")).unwrap();
        std::fs::create_dir(root.path().join("dev")).unwrap();
        let fd = super::super::procfs::open_path(root.path(), libc::O_DIRECTORY).unwrap();
        (root, outside, fd)
    }

    #[test]
    fn parents_resolve_inside_the_root() {
        let (root, outside, fd) = roots();
        // `esc/x`: the link is absolute on the host, inside the root it
        // points to a path that does not exist there.
        assert!(Entry::new(fd.as_fd(), Path::new("/esc/x"), false).is_none());
        // `abs/dev/null`: `/` is the root itself.
        let e = Entry::new(fd.as_fd(), Path::new("/abs/dev/null"), false).unwrap();
        e.mknod(SFlag::S_IFIFO, 0o600, 0).unwrap();
        assert!(root.path().join("dev/null").exists());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // No symlinks at all when asked.
        assert!(Entry::new(fd.as_fd(), Path::new("/abs/dev/x"), true).is_none());
        assert!(Entry::new(fd.as_fd(), Path::new("/"), false).is_none());
        assert!(Entry::new(fd.as_fd(), Path::new("/dev/.."), false).is_none());
    }

    #[test]
    fn the_last_component_is_never_followed() {
        let (root, outside, fd) = roots();
        let target = outside.path().join("victim");
        std::fs::write(&target, "host").unwrap();
        symlink(&target, root.path().join("dev/console")).unwrap();
        let e = Entry::new(fd.as_fd(), Path::new("/dev/console"), false).unwrap();
        // A file is not created through the link, and the handle is the link.
        assert_eq!(e.create_file(0o600).err(), Some(Errno::ELOOP));
        let h = e.open_nofollow().unwrap();
        let st = nix::sys::stat::fstat(h.as_raw_fd()).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        // unlink removes the link, not its target; mknod makes a node.
        e.unlink().unwrap();
        e.mknod(SFlag::S_IFIFO, 0o600, 0).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host");
        // A symlink made is the link itself, whatever it points to.
        let l = Entry::new(fd.as_fd(), Path::new("/dev/fd"), false).unwrap();
        l.symlink("/proc/self/fd").unwrap();
        assert_eq!(
            std::fs::read_link(root.path().join("dev/fd")).unwrap(),
            Path::new("/proc/self/fd")
        );
    }

    #[test]
    fn mkdir_all_stays_in_the_root() {
        let (root, outside, _) = roots();
        let r = Root::open(root.path()).unwrap();
        // One level missing: the fast path; several: pathrs.
        mkdir_all(&r, Path::new("/dev/pts"), false).unwrap();
        mkdir_all(&r, Path::new("/a/b/c"), false).unwrap();
        assert!(root.path().join("dev/pts").is_dir());
        assert!(root.path().join("a/b/c").is_dir());
        // Through `abs` (-> `/`), inside the root.
        mkdir_all(&r, Path::new("/abs/mnt"), false).unwrap();
        assert!(root.path().join("mnt").is_dir());
        // Through `esc`, never on the host; without symlinks, not at all.
        let _ = mkdir_all(&r, Path::new("/esc/x"), false);
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(mkdir_all(&r, Path::new("/abs/y"), true).is_err());
        assert!(!root.path().join("y").exists());
    }
}
