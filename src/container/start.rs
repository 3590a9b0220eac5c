//! `rt start`: let a created container's init exec the user program.
//!
//! The init blocks reading the exec fifo, which it holds open read-write;
//! the byte written here releases it. The fifo is then removed, which is
//! what marks the container as running (see `State::status`), and `start`
//! waits for the init's exec (see `wait_exec`) before the poststart hooks:
//! the user program runs when they do (runtime spec, lifecycle step 9; runc
//! 1.6). A poststart hook that fails fails `start` and kills the container,
//! as runc 1.6 does (runtime-spec 1.3: "stop the container"); `delete`
//! removes it, which `run` does itself.

use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{Locked, State, Status, Store, EXEC_FIFO};

pub fn start(store: &Store, id: &str) -> Result<()> {
    let locked = store.lock(id)?;
    let st = store.load(id)?;
    start_loaded(store, &locked, &st)
}

/// `start` for a caller that holds the container's lock and its state (as
/// `run` does, right after `create`: no second read of state.json).
pub fn start_loaded(store: &Store, locked: &Locked, st: &State) -> Result<()> {
    let id = st.id.as_str();
    let status = st.status(store);
    if status == Status::Stopped {
        super::check_status(st, status, &[], "start a container that has stopped")?;
    }
    super::check_status(
        st,
        status,
        &[Status::Created],
        "start a container that is not created",
    )?;
    let fifo_path = locked.dir.join(EXEC_FIFO);
    // The init holds the fifo open read-write while it waits: opening it
    // for writing without blocking fails only when no process holds it.
    let fifo = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(Error::Init(format!(
                "container {id} init exited before it could start"
            )))
        }
        Err(e) => return Err(Error::io(format!("cannot open {}", fifo_path.display()), e)),
    };
    match nix::unistd::write(&fifo, b"0") {
        Ok(_) => {}
        Err(nix::Error::EPIPE) => {
            return Err(Error::Init(format!(
                "container {id} init exited before it could start"
            )))
        }
        Err(e) => return Err(Error::sys("cannot write to the exec fifo", e)),
    }
    crate::fault::point("start:released")?;
    std::fs::remove_file(&fifo_path).ctx(|| format!("cannot remove {}", fifo_path.display()))?;
    wait_exec(&fifo)?;
    let poststart = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone());
    match poststart.filter(|h| !h.is_empty()) {
        Some(h) => hooks::run_all(
            "poststart",
            &h,
            &hooks::state_json(st, Status::Running),
            None,
        )
        .inspect_err(|_| stop(st)),
        None => Ok(()),
    }
}

/// After a failed poststart hook: SIGKILL the container (every process of
/// its cgroup when it has no pid namespace of its own, as `kill` does) and
/// give it a moment to go, so that `state` says stopped. A failure here is
/// only logged: the hook's error is what `start` reports.
fn stop(st: &State) {
    let killed = if !st.own_pid_ns && st.cgroups.exists() {
        st.cgroups.signal_all(libc::SIGKILL)
    } else {
        super::signal_init(st, libc::SIGKILL).map(drop)
    };
    match killed.and_then(|()| super::wait_exit(st, 10_000)) {
        Ok(true) => {}
        Ok(false) => crate::logging::warn(&format!(
            "container {} still runs after a failed poststart hook",
            st.id
        )),
        Err(e) => crate::logging::warn(&format!("kill after failed poststart: {e}")),
    }
}

/// After reading the byte, the init keeps the fifo open until exec(2)
/// closes it (startContainer hooks run in between): once no reader is left
/// the user program is executed, or the init died, and only then may
/// poststart hooks run (runtime spec, lifecycle step 9). poll reports
/// POLLERR on a fifo's write end once it has no reader.
fn wait_exec(fifo: &std::fs::File) -> Result<()> {
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) if fds[0].revents().is_some_and(|r| !r.is_empty()) => return Ok(()),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Error::sys("cannot wait for the container's exec", e)),
        }
    }
}
