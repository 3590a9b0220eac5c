//! `rt kill`: signal the container's init, or with `--all` every process in
//! its cgroup.

use nix::sys::signal::{kill as kill_pid, Signal};
use nix::unistd::Pid;

use crate::cgroups::Driver;
use crate::error::{Error, Result};
use crate::state::{Status, Store};

pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = store.load(id)?;
    let status = st.status(store);
    if status == Status::Stopped {
        return Err(Error::NotRunning(id.into()));
    }
    if all {
        let signal = Signal::try_from(sig).ok();
        for pid in st.cgroups.pids()? {
            match kill_pid(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(e) => return Err(Error::sys(format!("cannot signal pid {pid} of {id}"), e)),
            }
        }
        if status == Status::Paused && sig == libc::SIGKILL {
            Driver::of(&st.cgroups).thaw(&st.cgroups)?;
        }
        return Ok(());
    }
    if !super::signal_init(&st, sig)? {
        return Err(Error::NotRunning(id.into()));
    }
    Ok(())
}
