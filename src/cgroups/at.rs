//! Cgroup directories and files reached from an open /sys/fs/cgroup, not
//! by absolute path. An absolute path walks /sys and /sys/fs, directories
//! of sysfs, and kernfs looks up every one of its dentries under its
//! filesystem's lock, taken for reading. Every network namespace created
//! or destroyed takes sysfs's lock for writing (its loopback device's
//! entries), so in a burst of containers rt's cgroup calls queued behind
//! the others' namespaces: 200 `run` at once blocked there ~14,600 times
//! and left the CPUs idle 12 % of the burst. With /sys/fs/cgroup moved
//! off sysfs, the same burst took 20–25 % less time and CPU. A walk from
//! this directory's fd starts below sysfs.
//!
//! A process of rt opens the directory once and keeps it ([`Root::open`]):
//! a `run` opened it seven times, each open a walk through sysfs again.
//! Processes it forks after that (the init, exec's child) open their own
//! for each batch of calls and drop it when done; the copy they inherited
//! goes with the other fds rt had, before they enter the container
//! (Step::LeaveHost, exec's close before its fork into the container), as
//! does the one an exec child keeps when its parent had none. Paths
//! elsewhere, or no root (/sys/fs/cgroup could not be opened), take the
//! absolute path as before. Errors are the caller's to word, with the
//! absolute path.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::OnceLock;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use crate::syscall;

/// Where the standard layout mounts the hierarchies (see `standard`).
pub const ROOT: &str = "/sys/fs/cgroup";

/// An open /sys/fs/cgroup.
pub struct Root(Handle);

enum Handle {
    /// The process's own, kept in [`KEPT`].
    Kept(BorrowedFd<'static>),
    /// A forked process's, closed with the batch.
    Batch(OwnedFd),
}

/// The directory the process opened first, and the pid it opened it as: a
/// process forked from it sees another pid.
static KEPT: OnceLock<(u32, OwnedFd)> = OnceLock::new();

impl Root {
    /// None when it cannot be opened: the calls then take absolute paths.
    pub fn open() -> Option<Root> {
        let pid = std::process::id();
        let open = || syscall::openat_mode(None, ROOT, OFlag::O_PATH | OFlag::O_DIRECTORY, 0).ok();
        let kept = match KEPT.get() {
            Some(kept) if kept.0 != pid => return open().map(|fd| Root(Handle::Batch(fd))),
            Some(kept) => kept,
            None => {
                let fd = open()?;
                KEPT.get_or_init(|| (pid, fd))
            }
        };
        Some(Root(Handle::Kept(kept.1.as_fd())))
    }

    /// The directory, for *at calls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.0 {
            Handle::Kept(fd) => *fd,
            Handle::Batch(fd) => fd.as_fd(),
        }
    }
}

/// The directory fd and the path below it to reach `path` from; no fd
/// (AT_FDCWD) and `path` itself where it is not below the root.
fn locate<'a, 'r>(root: Option<&'r Root>, path: &'a Path) -> (Option<BorrowedFd<'r>>, &'a Path) {
    let below = root.and_then(|r| {
        let rel = path.strip_prefix(ROOT).ok()?;
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        Some((r.fd(), rel))
    });
    match below {
        Some((fd, rel)) => (Some(fd), rel),
        None => (None, path),
    }
}

/// `locate` for nix's calls, which take a raw fd.
fn locate_raw<'a>(root: Option<&Root>, path: &'a Path) -> (Option<RawFd>, &'a Path) {
    let (dir, rel) = locate(root, path);
    (dir.map(|d| d.as_raw_fd()), rel)
}

/// Whether `path` exists (following symbolic links, as `Path::exists`).
pub fn exists(root: Option<&Root>, path: &Path) -> bool {
    let (dir, rel) = locate_raw(root, path);
    nix::sys::stat::fstatat(dir, rel, AtFlags::empty()).is_ok()
}

/// mkdir(2), with the mode `fs::create_dir` gives (0777 less the umask).
pub fn mkdir(root: Option<&Root>, path: &Path) -> std::io::Result<()> {
    let (dir, rel) = locate_raw(root, path);
    nix::sys::stat::mkdirat(dir, rel, Mode::from_bits_truncate(0o777)).map_err(Into::into)
}

/// rmdir(2).
pub fn rmdir(root: Option<&Root>, path: &Path) -> std::io::Result<()> {
    let (dir, rel) = locate_raw(root, path);
    nix::unistd::unlinkat(dir, rel, UnlinkatFlags::RemoveDir).map_err(Into::into)
}

fn open(root: Option<&Root>, path: &Path, flags: OFlag) -> std::io::Result<File> {
    let (dir, rel) = locate(root, path);
    Ok(File::from(syscall::openat_mode(dir, rel, flags, 0)?))
}

/// The whole text of a file.
pub fn read(root: Option<&Root>, path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    open(root, path, OFlag::O_RDONLY)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Write `data` to an existing file in one write (cgroupfs answers a
/// create with EACCES, so there is no O_CREAT).
pub fn write(root: Option<&Root>, path: &Path, data: &str) -> std::io::Result<()> {
    open_write(root, path)?.write_all(data.as_bytes())
}

/// An existing file, open for writing (no O_CREAT, as for `write`).
pub fn open_write(root: Option<&Root>, path: &Path) -> std::io::Result<File> {
    open(root, path, OFlag::O_WRONLY)
}

/// The entries of the directory `path` but `.` and `..`: each name, and
/// whether it is a directory (a symbolic link is not).
pub fn entries(root: Option<&Root>, path: &Path) -> std::io::Result<Vec<(String, bool)>> {
    use nix::dir::{Dir, Type};
    let (dir, rel) = locate_raw(root, path);
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut listing = Dir::openat(dir, rel, flags, Mode::empty())?;
    let dir_fd = listing.as_raw_fd();
    let mut out = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            Some(t) => t == Type::Directory,
            None => nix::sys::stat::fstatat(
                Some(dir_fd),
                entry.file_name(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR),
        };
        out.push((name, is_dir));
    }
    Ok(out)
}

/// An O_PATH handle on the directory `path` (for open_tree, and
/// CLONE_INTO_CGROUP).
pub fn open_dir(root: Option<&Root>, path: &Path) -> std::io::Result<OwnedFd> {
    let (dir, rel) = locate(root, path);
    Ok(syscall::openat_mode(
        dir,
        rel,
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        0,
    )?)
}
