//! `-t`: the container's pty. rt's `--console-socket` protocol hands the pty master
//! over a unix socket (one SCM_RIGHTS message); the monitor keeps it, logs what the
//! container writes to it, and when attached relays it to rt-stage's own terminal in
//! raw mode.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::termios::{self, OptionalActions, Termios};

use crate::error::{Error, IoContext, Result};

/// A listening console socket at a short path (sun_path holds 108 bytes; store paths
/// can be longer), removed when dropped.
pub struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(run_dir: &Path, id: &str) -> Result<ConsoleSocket> {
        std::fs::create_dir_all(run_dir).at("create", run_dir)?;
        let path = run_dir.join(format!("console-{}.sock", &id[..12.min(id.len())]));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).at("listen on", &path)?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The master rt sent (rt create has returned by now: its connection waits in the
    /// backlog).
    pub fn receive_master(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .at("set non-blocking", &self.path)?;
        let (conn, _) = self.listener.accept().map_err(|e| Error::Runtime {
            command: "create".into(),
            message: format!("no console connection on {}: {e}", self.path.display()),
        })?;
        conn.set_nonblocking(false).at("set blocking", &self.path)?;
        let mut data = [0u8; 256];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        recvmsg(
            &conn,
            &mut [IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .at("receive the pty master on", &self.path)?;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err(Error::Runtime {
            command: "create".into(),
            message: "no pty master received on the console socket".into(),
        })
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Raw mode on a terminal until dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// None if `fd` is not a terminal.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Gives the pty the size of our terminal (if we have one).
pub fn copy_size(from: BorrowedFd<'_>, to: &OwnedFd) {
    if let Ok(ws) = termios::tcgetwinsize(from) {
        let _ = termios::tcsetwinsize(to.as_fd(), ws);
    }
}
