//! `--pidfd-socket` (create, run, exec): a pidfd of the container's process
//! sent over a unix socket the caller listens on, as runc sends it — one
//! message whose data is "standard" for a container's init or "setns" for
//! an exec'd process, with the pidfd as SCM_RIGHTS. The caller (containerd,
//! CRI-O) then waits for and signals the process through it, safe from pid
//! reuse.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::syscall;

/// Which process the pidfd is of; runc's message names it.
#[derive(Clone, Copy)]
pub enum Kind {
    Init,
    Exec,
}

impl Kind {
    fn message(self) -> &'static [u8] {
        match self {
            Kind::Init => b"standard",
            Kind::Exec => b"setns",
        }
    }
}

/// Connect before anything is made: a socket nobody listens on fails the
/// command at once, with nothing to undo.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).ctx(|| format!("cannot connect to pidfd socket {}", path.display()))
}

/// Send a pidfd of `pid` (a child of this process, or a process it has
/// just been told of and that cannot have been reaped: nobody else waits
/// for it yet).
pub fn send(sock: &UnixStream, pid: Pid, kind: Kind) -> Result<()> {
    let pidfd: OwnedFd = syscall::pidfd_open(pid)
        .map_err(|e| Error::sys(format!("cannot open a pidfd of {pid}"), e))?;
    let fds = [pidfd.as_raw_fd()];
    let iov = [IoSlice::new(kind.message())];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| Error::sys("cannot send the pidfd over --pidfd-socket", e))?;
    Ok(())
}
