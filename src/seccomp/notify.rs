//! SCMP_ACT_NOTIFY: handing the filter's listener fd to the seccomp agent at
//! `listenerPath`, as the runtime spec's "container process state": one
//! connection, one message — the fd in SCM_RIGHTS, the state as JSON
//! payload naming it in `fds` — then the connection is closed.

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde_json::{json, Value};

use crate::error::{Context, Error, Result};

/// A connection to the agent with the message it will receive.
pub struct Agent {
    path: PathBuf,
    stream: UnixStream,
    message: Vec<u8>,
}

/// Connect to the agent. `state_json` is the container's state (as hooks
/// get it); its `pid` is the container process as the runtime sees it.
pub fn connect(path: &Path, metadata: Option<&str>, state_json: &str) -> Result<Agent> {
    let state: Value = serde_json::from_str(state_json).map_err(|e| {
        Error::Init(format!(
            "container state for the seccomp agent is not JSON: {e}"
        ))
    })?;
    let mut message = json!({
        "ociVersion": state["ociVersion"],
        "fds": ["seccompFd"],
        "pid": state["pid"],
    });
    if let Some(m) = metadata {
        message["metadata"] = m.into();
    }
    message["state"] = state;
    let message = serde_json::to_vec(&message)
        .map_err(|e| Error::Init(format!("cannot encode the container process state: {e}")))?;
    // runc's words, which its tests and their users match.
    let stream = UnixStream::connect(path).map_err(|e| {
        let why = e.raw_os_error().map_or_else(
            || e.to_string(),
            |n| Errno::from_raw(n).desc().to_lowercase(),
        );
        Error::Init(format!(
            "failed to connect with seccomp agent specified in the seccomp profile: {}: {why}",
            path.display()
        ))
    })?;
    Ok(Agent {
        path: path.to_path_buf(),
        stream,
        message,
    })
}

impl Agent {
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }

    /// Send `fd` with the state; both our copy of the fd and the connection
    /// are closed on return, so the container never holds them.
    pub fn send(self, fd: OwnedFd) -> Result<()> {
        let what = || {
            format!(
                "cannot send the seccomp fd to the agent at {}",
                self.path.display()
            )
        };
        let fds = [fd.as_raw_fd()];
        let payload = [IoSlice::new(&self.message)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let sent = sendmsg::<()>(
            self.stream.as_raw_fd(),
            &payload,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx(what)?;
        // A stream socket may take part of the payload; the rest follows
        // without fds, as the runtime spec allows.
        (&self.stream).write_all(&self.message[sent..]).ctx(what)
    }
}
