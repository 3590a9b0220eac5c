//! `rt kill`: signal the container's init, or every process in its cgroup
//! where runc does:
//! - SIGKILL to a container without a pid namespace of its own reaches
//!   every process of its cgroup (runc >= 1.2): only a pid namespace's init
//!   takes the rest with it, and the init may even be gone already;
//! - `--all` signals every process in its cgroup, and is no error once the
//!   container has stopped (runc 1.1's meaning, which containerd's shim
//!   relies on: it sends it for every container sharing a pod's pid
//!   namespace, and what is left in the cgroup must still go).
//!
//! SIGKILL thaws a paused container, or nothing would die.

use crate::cgroups::Driver;
use crate::error::{Error, Result};
use crate::state::{State, Status, Store};

pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = store.load(id)?;
    let status = st.status(store);
    let every = all || (sig == libc::SIGKILL && !st.own_pid_ns);
    if every && st.cgroups.exists() {
        // Under the container's lock, as pause and resume take it: the
        // cgroup is frozen while it is signalled, and neither a `pause`
        // (whose freeze the thaw would undo) nor a `delete` (which would
        // see "paused") may come in between.
        let _locked = store.lock(id)?;
        return st.cgroups.signal_all(sig);
    }
    match signal_init(&st, status, sig) {
        Err(Error::NotRunning(_)) if all => Ok(()),
        other => other,
    }
}

fn signal_init(st: &State, status: Status, sig: i32) -> Result<()> {
    if status == Status::Stopped || !super::signal_init(st, sig)? {
        return Err(Error::NotRunning(st.id.clone()));
    }
    if status == Status::Paused && sig == libc::SIGKILL {
        Driver::of(&st.cgroups).thaw(&st.cgroups)?;
    }
    Ok(())
}
