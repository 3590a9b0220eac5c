//! A handle on the host's procfs, opened before pivot_root and checked to be
//! a real procfs, so that later steps never resolve a path the container
//! controls to reach /proc (CVE-2019-16884, CVE-2025-52881).
//!
//! Mount calls take path strings. To mount onto an fd, rt makes this procfs
//! its working directory and names the fd as `thread-self/fd/N`: a path that
//! goes through no directory of the container. The handle is close-on-exec,
//! is closed before the container's program is exec'd (a host directory
//! open then could be reached as /proc/self/fd/N: CVE-2024-21626), and the
//! working directory is changed to `process.cwd` before that.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use nix::unistd::fchdir;

use crate::error::{Context, Error, Result};

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

    /// Make procfs the working directory, so `fd_path` names resolve.
    pub fn enter(&self) -> Result<()> {
        fchdir(self.fd.as_raw_fd()).ctx(|| "cannot change directory to /proc")
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Path (relative to the host procfs, see [`HostProc::enter`]) that the
/// kernel resolves to exactly the file `fd` refers to.
pub fn fd_path(fd: &impl AsFd) -> String {
    format!("thread-self/fd/{}", fd.as_fd().as_raw_fd())
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
