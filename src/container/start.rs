//! `rt start`: let a created container's init exec the user program.
//!
//! The init blocks opening the exec fifo for writing; opening it here for
//! reading releases it, and the byte it writes confirms it got past the
//! fifo. The fifo is then removed, which is what marks the container as
//! running (see `State::status`), and `start` waits for the init's exec
//! (see `wait_exec`) before the poststart hooks.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{self, Locked, State, Status, Store, EXEC_FIFO};
use crate::syscall;

/// How often `start` checks, while no byte comes, that the init still
/// waits at the fifo.
const GATE_PROBE_MS: u16 = 100;

pub fn start(store: &Store, id: &str) -> Result<()> {
    let locked = store.lock(id)?;
    let st = store.load(id)?;
    start_loaded(store, &locked, &st)
}

/// `start` for a caller that holds the container's lock and its state (as
/// `run` does, right after `create`: no second read of state.json).
pub fn start_loaded(store: &Store, locked: &Locked, st: &State) -> Result<()> {
    let id = st.id.as_str();
    match st.status(store) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::WrongState {
                id: id.into(),
                status: "stopped".into(),
                op: "start a container that has stopped",
            })
        }
        s => {
            return Err(Error::WrongState {
                id: id.into(),
                status: s.to_string(),
                op: "start a container that is not created",
            })
        }
    }
    let fifo_path = locked.dir.join(EXEC_FIFO);
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .ctx(|| format!("cannot open {}", fifo_path.display()))?;
    let pidfd = syscall::pidfd_open(nix::unistd::Pid::from_raw(st.pid))
        .ctx(|| format!("container {id} init is gone"))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(GATE_PROBE_MS)) {
            // No byte yet: an init that exec'd without one was released by
            // a start that died before it removed the fifo; nothing will
            // ever write again.
            Ok(0) if !state::holds_file(st.pid, &fifo_path) => {
                let _ = std::fs::remove_file(&fifo_path);
                return Err(Error::WrongState {
                    id: id.into(),
                    status: "running".into(),
                    op: "start it: an interrupted start released it",
                });
            }
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("cannot wait for the container's init", e)),
        }
        let init_gone = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let mut buf = [0u8; 1];
        match fifo.read(&mut buf) {
            Ok(1) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("cannot read the exec fifo", e)),
        }
        if init_gone {
            return Err(Error::Init(format!(
                "container {id} init exited before it could start"
            )));
        }
    }
    crate::fault::point("start:released")?;
    std::fs::remove_file(&fifo_path).ctx(|| format!("cannot remove {}", fifo_path.display()))?;
    wait_exec(&mut fifo)?;
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
    {
        hooks::run_logged("poststart", &h, st, Status::Running);
    }
    Ok(())
}

/// After its byte, the init keeps its end of the fifo open until exec(2)
/// closes it (startContainer hooks run in between): EOF means the user
/// program is executed, or the init died, and only then may poststart
/// hooks run (runtime spec, lifecycle step 9). An init that closes its end
/// right after the byte gives EOF at once.
fn wait_exec(fifo: &mut std::fs::File) -> Result<()> {
    let mut buf = [0u8; 16];
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Error::sys("cannot wait for the container's exec", e)),
        }
        match fifo.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(Error::io("cannot read the exec fifo", e)),
        }
    }
}
