//! Undoing a half-made container: `create` and `restore` arm this guard
//! once they have claimed the id, tell it what they made as they make it,
//! and disarm it only when the container is complete. Whatever fails in
//! between — an error, a panic — is removed before the error is reported:
//! the process killed, the cgroups and state directory gone. (If rt itself
//! is killed, the state it saved first names all of it for `delete
//! --force`.)

use std::path::PathBuf;

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::cgroups::{CgroupPaths, Driver};
use crate::logging;
use crate::state::Store;

pub(crate) struct Undo<'a> {
    store: &'a Store,
    id: &'a str,
    driver: Driver,
    /// The cgroups made (and, by restore, checked to be empty before).
    pub cgroups: Option<CgroupPaths>,
    /// The container's process, killed and reaped.
    pub pid: Option<Pid>,
    /// Kill whatever else is in the cgroups first: the half-restored tasks
    /// of a restore (its cgroups held nothing before criu ran).
    pub sweep_cgroups: bool,
    /// A mount point rt made (restore's root for criu): detached, removed.
    pub root: Option<PathBuf>,
    /// The resctrl groups made for `linux.intelRdt`.
    pub intel_rdt: crate::intelrdt::Groups,
    armed: bool,
}

impl<'a> Undo<'a> {
    pub fn new(store: &'a Store, id: &'a str, driver: Driver) -> Undo<'a> {
        Undo {
            store,
            id,
            driver,
            cgroups: None,
            pid: None,
            sweep_cgroups: false,
            root: None,
            intel_rdt: Default::default(),
            armed: true,
        }
    }

    /// The container is complete: keep everything.
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    pub fn unmount_root(&mut self) {
        if let Some(root) = self.root.take() {
            let _ = umount2(&root, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&root);
        }
    }

    fn sweep(cg: &CgroupPaths) {
        for _ in 0..100 {
            let pids = cg.pids().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let (true, Some(cg)) = (self.sweep_cgroups, &self.cgroups) {
            Self::sweep(cg);
        }
        self.unmount_root();
        if let Err(e) = self.intel_rdt.remove() {
            logging::warn(&format!("cleanup of {}: {e}", self.id));
        }
        if let Some(cg) = &self.cgroups {
            if let Err(e) = self.driver.undo(cg) {
                logging::warn(&format!("cleanup of {}: {e}", self.id));
            }
        }
        if let Err(e) = self.store.remove(self.id) {
            logging::warn(&format!("cleanup of {}: {e}", self.id));
        }
    }
}
