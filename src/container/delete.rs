//! `rt delete`: remove a stopped container, or with `--force` any container.
//!
//! A created, never-started container is deleted without `--force`, as runc
//! does: containerd's shim sends a plain `delete` for a task that was
//! created and never started (e.g. when its start failed), and expects it
//! to go away.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroups::Driver;
use crate::error::{Error, Result};
use crate::hooks;
use crate::logging;
use crate::state::{State, Status, Store};

pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    crate::state::validate_id(id)?;
    let _locked = match store.lock(id) {
        Ok(l) => l,
        // containerd deletes twice; the second --force must succeed.
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = match store.load(id) {
        Ok(st) => st,
        Err(e @ Error::CorruptState { .. }) => {
            if !force {
                return Err(e);
            }
            logging::warn(&format!("{e}; removing its state directory"));
            return store.remove(id);
        }
        // The directory of a create killed before it saved any state.
        Err(Error::NotFound(_)) if force => return store.remove(id),
        Err(e) => return Err(e),
    };
    match st.status(store) {
        Status::Stopped => {}
        Status::Created | Status::Creating => stop(&st)?,
        s if force => {
            let _ = s;
            stop(&st)?
        }
        s => {
            return Err(Error::WrongState {
                id: id.into(),
                status: s.to_string(),
                op: "delete it without --force",
            });
        }
    }
    destroy(store, &st)
}

/// SIGKILL the init and wait for it to go.
fn stop(st: &State) -> Result<()> {
    if st.cgroups.is_frozen() {
        Driver::of(&st.cgroups).thaw(&st.cgroups)?;
    }
    super::signal_init(st, libc::SIGKILL)?;
    if !super::wait_exit(st, 10_000)? {
        return Err(Error::Init(format!(
            "container {} did not exit after SIGKILL",
            st.id
        )));
    }
    Ok(())
}

/// Remove everything the container owns once its init is gone.
pub fn destroy(store: &Store, st: &State) -> Result<()> {
    // Without a pid namespace of its own, processes outlive init: sweep the
    // cgroup until it is empty.
    if !st.own_pid_ns {
        for _ in 0..100 {
            let pids = st.cgroups.pids()?;
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    crate::fault::point("delete:killed")?;
    Driver::of(&st.cgroups).remove(&st.cgroups)?;
    if let Err(e) = st.intel_rdt.remove() {
        crate::logging::warn(&format!("delete {}: {e}", st.id));
    }
    crate::fault::point("delete:cgroups-removed")?;
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().clone())
    {
        hooks::run_logged("poststop", &h, st, Status::Stopped);
    }
    store.remove(&st.id)
}
