//! A handle on the host's procfs, opened before pivot_root and checked to be
//! a real procfs, so that later steps never resolve a path the container
//! controls to reach /proc (CVE-2019-16884, CVE-2025-52881).
//!
//! Opens and writes go through the handle itself ([`HostProc::open`],
//! [`HostProc::reopen`]). Mount calls take path strings: to mount onto an
//! fd, rt makes this procfs its working directory and names the fd as
//! `thread-self/fd/N`, a path that goes through no directory of the
//! container. [`HostProc::enter`] gives an [`InHostProc`] for that, which
//! [`fd_path`] takes: the names only resolve while it holds. The handle is
//! close-on-exec,
//! is closed before the container's program is exec'd (a host directory
//! open then could be reached as /proc/self/fd/N: CVE-2024-21626), and the
//! working directory is changed to `process.cwd` before that.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use nix::unistd::fchdir;

use crate::error::{Context, Error, Result};
use crate::syscall;

pub struct HostProc {
    fd: OwnedFd,
}

impl HostProc {
    pub fn open() -> Result<HostProc> {
        let fd = open_path(Path::new("/proc"), libc::O_DIRECTORY)?;
        let st = fstatfs(&fd).ctx(|| "cannot statfs /proc")?;
        if st.filesystem_type() != PROC_SUPER_MAGIC {
            return Err(Error::Init("/proc is not a procfs".into()));
        }
        Ok(HostProc { fd })
    }

    /// Make procfs the working directory, so that [`fd_path`] names
    /// resolve: the token says so to the functions that use them. Whatever
    /// changes the working directory (pivot_root, `LeaveHost`) ends what
    /// it stands for, and the pipeline enters again after it.
    pub fn enter(&self) -> Result<InHostProc<'_>> {
        fchdir(self.fd.as_raw_fd()).ctx(|| "cannot change directory to /proc")?;
        Ok(InHostProc {
            _proc: std::marker::PhantomData,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open `rel` (a path inside the host procfs, e.g.
    /// `thread-self/oom_score_adj`) through the handle, whatever the
    /// working directory.
    pub fn open_at(&self, rel: &str, flags: OFlag) -> nix::Result<OwnedFd> {
        syscall::openat(self.fd.as_fd(), rel, flags)
    }

    /// A real open of the file the (O_PATH) handle `fd` refers to, through
    /// `thread-self/fd/N` of the host procfs: never by a name the
    /// container controls.
    pub fn reopen(&self, fd: &impl AsFd, flags: OFlag) -> nix::Result<OwnedFd> {
        self.open_at(&thread_self_fd(fd), flags)
    }

    /// Write `value` to the procfs file `rel` (through the handle).
    pub fn write(&self, rel: &str, value: &str) -> std::io::Result<()> {
        let fd = self.open_at(rel, OFlag::O_WRONLY)?;
        std::io::Write::write_all(&mut std::fs::File::from(fd), value.as_bytes())
    }
}

/// The working directory is the host procfs ([`HostProc::enter`]).
#[derive(Clone, Copy)]
pub struct InHostProc<'a> {
    _proc: std::marker::PhantomData<&'a HostProc>,
}

fn thread_self_fd(fd: &impl AsFd) -> String {
    format!("thread-self/fd/{}", fd.as_fd().as_raw_fd())
}

/// Path, relative to the host procfs as the working directory, that the
/// kernel resolves to exactly the file `fd` refers to: for mount(2),
/// which takes names only.
pub fn fd_path(_in_proc: InHostProc<'_>, fd: &impl AsFd) -> String {
    thread_self_fd(fd)
}

/// The `mnt_id` line of an fdinfo text (/proc/<pid>/fdinfo/<fd>): the id
/// of the mount the fd is on.
pub fn mount_id(fdinfo: &str) -> Option<u64> {
    fdinfo.lines().find_map(|l| {
        l.strip_prefix("mnt_id:")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Open `path` as an O_PATH, close-on-exec handle.
pub fn open_path(path: &Path, extra: i32) -> Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC | extra)
        .open(path)
        .ctx(|| format!("cannot open {}", path.display()))?;
    Ok(f.into())
}
