//! The lifecycle commands, one module each, as seen from the host.

pub mod attach;
pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod migrate;
pub mod pause;
pub mod pidfd_socket;
pub mod ps;
pub mod query;
pub mod restore;
pub mod run;
pub mod spec_template;
pub mod start;
mod undo;
pub mod update;

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Context, Error, Result};
use crate::state::{State, Status, Store};
use crate::syscall;

/// Load `id` and check that its status is one `op` works in; otherwise the
/// one error every command gives ("container X is stopped: cannot ...").
/// The status is returned with the state: it is read once.
pub fn load_in(
    store: &Store,
    id: &str,
    allowed: &[Status],
    op: &'static str,
) -> Result<(State, Status)> {
    let st = store.load(id)?;
    let status = st.status(store);
    check_status(&st, status, allowed, op)?;
    Ok((st, status))
}

/// The status check of [`load_in`], for a state already loaded.
pub fn check_status(
    st: &State,
    status: Status,
    allowed: &[Status],
    op: &'static str,
) -> Result<()> {
    if allowed.contains(&status) {
        return Ok(());
    }
    Err(Error::WrongState {
        id: st.id.clone(),
        status: status.to_string(),
        op,
    })
}

/// Every status but stopped.
pub const LIVE: &[Status] = &[
    Status::Creating,
    Status::Created,
    Status::Running,
    Status::Paused,
];

/// Signal the container's init process, through a pidfd checked against the
/// recorded start time so a recycled pid is never signalled.
pub fn signal_init(state: &State, sig: i32) -> Result<bool> {
    let Ok(pidfd) = syscall::pidfd_open(nix::unistd::Pid::from_raw(state.pid)) else {
        return Ok(false);
    };
    if !state.alive() {
        return Ok(false);
    }
    match syscall::pidfd_send_signal(pidfd.as_fd(), sig) {
        Ok(()) => Ok(true),
        Err(nix::Error::ESRCH) => Ok(false),
        Err(e) => Err(crate::Error::sys(
            format!("cannot signal container {}", state.id),
            e,
        )),
    }
}

/// Wait until the container's init has exited (at most `ms` milliseconds).
pub fn wait_exit(state: &State, ms: u16) -> Result<bool> {
    let Ok(pidfd) = syscall::pidfd_open(nix::unistd::Pid::from_raw(state.pid)) else {
        return Ok(true);
    };
    if !state.alive() {
        return Ok(true);
    }
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let n =
        poll(&mut fds, PollTimeout::from(ms)).ctx(|| "cannot wait for the container to exit")?;
    Ok(n > 0)
}
