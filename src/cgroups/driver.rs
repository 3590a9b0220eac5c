//! The cgroup driver: who makes a container's cgroup, how a new process of
//! the container gets into it, and who is told about limits and removal.
//! `create`, `exec`, `restore`, `update`, `pause`/`resume` and `delete` ask
//! the driver; none of them decides between cgroupfs and systemd itself.
//!
//! - [`Driver::V1`]: cgroupfs on a host without a cgroup2 hierarchy. rt
//!   makes a directory in every v1 hierarchy; a new process joins them
//!   itself by writing `0` to their `tasks` files (init step 1).
//! - [`Driver::V2`]: cgroupfs on a cgroup v2 or hybrid host. A new process
//!   is born in the cgroup2 directory (clone3 CLONE_INTO_CGROUP), or moved
//!   there right after clone where the kernel refuses; a hybrid host's v1
//!   hierarchies are joined as with `V1`.
//! - [`Driver::Systemd`]: a transient scope (see `systemd`). A scope cannot
//!   start empty, so the init is cloned outside it and systemd moves it in;
//!   the limits are written once the scope stands. rt makes the v1
//!   directories systemd does not.
//!
//! With every driver, limits go to the cgroup files by `v1` or `v2` (the
//! host's layout decides), and pause/resume use the kernel's freezer.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{add_pid, systemd, CgroupPaths, Remove};
use crate::error::{Context, Error, Result};
use crate::logging;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    V1,
    V2,
    /// The container's scope; `started` once systemd runs it (always, for
    /// a container loaded from its state).
    Systemd {
        unit: systemd::Unit,
        started: bool,
    },
}

impl Driver {
    /// The driver of a container whose cgroups `cg` records (its state).
    pub fn of(cg: &CgroupPaths) -> Driver {
        match &cg.systemd_unit {
            Some(name) => Driver::Systemd {
                unit: systemd::Unit::recorded(name, &cg.rel),
                started: true,
            },
            None if cg.v2_dir().is_some() => Driver::V2,
            None => Driver::V1,
        }
    }

    /// Make the container's cgroup directories and, where rt makes the
    /// cgroup itself, write its limits: no process is in it yet. What was
    /// made is recorded in `cg.created`, also on failure, for the caller's
    /// cleanup.
    ///
    /// With `rootless` (`--rootless`, see `container::create`), hierarchies
    /// that are the host's and not the caller's to write are skipped: the
    /// container then stays in the caller's cgroup without limits, as with
    /// runc, and `cg` names no directory.
    pub fn create(&self, cg: &mut CgroupPaths, r: &LinuxResources, rootless: bool) -> Result<()> {
        match cg.create() {
            Err(Error::Io { source, .. })
                if rootless && source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                logging::debug(&format!(
                    "cgroups are not writable by uid {}: the container gets none ({source})",
                    nix::unistd::geteuid()
                ));
                self.undo(cg)?;
                *cg = CgroupPaths {
                    rel: cg.rel.clone(),
                    ..CgroupPaths::default()
                };
                return Ok(());
            }
            other => other?,
        }
        match self {
            Driver::V1 | Driver::V2 => cg.apply_resources(r),
            Driver::Systemd { .. } => Ok(()),
        }
    }

    /// The cgroup2 directory a new process of the container is born in
    /// (CLONE_INTO_CGROUP), where there is one before the process exists.
    pub fn clone_target(&self, cg: &CgroupPaths) -> Result<Option<OwnedFd>> {
        match self {
            Driver::V1 | Driver::Systemd { started: false, .. } => Ok(None),
            Driver::V2 | Driver::Systemd { started: true, .. } => {
                cg.v2_dir().map(|d| dir_fd(d)).transpose()
            }
        }
    }

    /// Whether rt has work to do for a new process between its clone and
    /// its `Go`: starting the scope around it.
    pub fn acts_after_clone(&self) -> bool {
        matches!(self, Driver::Systemd { started: false, .. })
    }

    /// The `tasks` files a new process writes itself to join its v1
    /// cgroups: a thread moving itself skips the global lock a move by
    /// another process takes.
    pub fn tasks(&self, cg: &CgroupPaths) -> Vec<PathBuf> {
        cg.v1_dirs().iter().map(|d| d.join("tasks")).collect()
    }

    /// Right after clone: put the new process `pid` into the cgroup2
    /// hierarchy — moved there if it was not born there (`born`), or, for
    /// a scope not started yet, started with it and given the limits `r`
    /// (`id` names the container in the unit's description).
    pub fn adopt(
        &self,
        cg: &CgroupPaths,
        pid: i32,
        born: bool,
        id: &str,
        r: &LinuxResources,
    ) -> Result<()> {
        match self {
            Driver::V1 => Ok(()),
            Driver::Systemd {
                unit,
                started: false,
            } => {
                systemd::start(unit, id, pid, r, cg.unified)?;
                cg.apply_resources(r)
            }
            Driver::V2 | Driver::Systemd { started: true, .. } => match cg.v2_dir() {
                Some(dir) if !born => add_pid(dir, pid),
                _ => Ok(()),
            },
        }
    }

    /// Move a process that rt did not clone (restore's criu) into the
    /// container's cgroup in every hierarchy.
    pub fn enter(&self, cg: &CgroupPaths, pid: i32) -> Result<()> {
        cg.add_process(pid)
    }

    /// `rt update`: systemd re-applies its own view of a scope's limits
    /// (daemon-reload, set-property), so it is told first; then the files.
    pub fn update(&self, cg: &CgroupPaths, r: &LinuxResources) -> Result<()> {
        if let Driver::Systemd { unit, .. } = self {
            systemd::set_properties(&unit.name, r, cg.unified)?;
        }
        cg.update_resources(r)
    }

    pub fn freeze(&self, cg: &CgroupPaths) -> Result<()> {
        cg.set_frozen(true)
    }

    pub fn thaw(&self, cg: &CgroupPaths) -> Result<()> {
        cg.set_frozen(false)
    }

    /// `delete`: remove the container's cgroup, whoever made it.
    pub fn remove(&self, cg: &CgroupPaths) -> Result<()> {
        self.remove_dirs(cg, Remove::Used)
    }

    /// Undo a failed create or restore: remove what rt made of the cgroup.
    pub fn undo(&self, cg: &CgroupPaths) -> Result<()> {
        self.remove_dirs(cg, Remove::Made)
    }

    /// A scope goes first: systemd kills what is left in it and removes
    /// its directories; the others go below, even if that failed.
    fn remove_dirs(&self, cg: &CgroupPaths, which: Remove) -> Result<()> {
        let stopped = match self {
            Driver::Systemd { unit, .. } => systemd::stop(&unit.name),
            Driver::V1 | Driver::V2 => Ok(()),
        };
        cg.remove_dirs(which)?;
        stopped
    }
}

/// An O_PATH handle on a cgroup directory, for CLONE_INTO_CGROUP, from
/// the process's open /sys/fs/cgroup (see `at`).
fn dir_fd(dir: &Path) -> Result<OwnedFd> {
    let root = super::at::Root::open();
    super::at::open_dir(root.as_ref(), dir).ctx(|| format!("cannot open cgroup {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_of_a_recorded_container() {
        let hybrid = CgroupPaths {
            dirs: vec![
                "/sys/fs/cgroup/memory/a/b".into(),
                "/sys/fs/cgroup/unified/a/b".into(),
            ],
            controllers: [("memory".to_string(), "/sys/fs/cgroup/memory/a/b".into())]
                .into_iter()
                .collect(),
            rel: "a/b".into(),
            ..Default::default()
        };
        assert_eq!(Driver::of(&hybrid), Driver::V2);
        let v1 = CgroupPaths {
            dirs: vec!["/sys/fs/cgroup/memory/a/b".into()],
            ..hybrid.clone()
        };
        assert_eq!(Driver::of(&v1), Driver::V1);
        let scope = CgroupPaths {
            systemd_unit: Some("rt-x.scope".into()),
            rel: "machine.slice/machine-rt.slice/rt-x.scope".into(),
            ..hybrid
        };
        let Driver::Systemd { unit, started } = Driver::of(&scope) else {
            panic!("not the systemd driver");
        };
        assert!(started);
        assert_eq!(unit.slice, "machine-rt.slice");
        // Only a scope still to be started needs rt between clone and Go,
        // and has no directory to clone into.
        assert!(!Driver::of(&scope).acts_after_clone());
        let new = Driver::Systemd {
            unit,
            started: false,
        };
        assert!(new.acts_after_clone());
        assert!(new.clone_target(&scope).is_ok_and(|t| t.is_none()));
        assert!(Driver::V1.clone_target(&v1).is_ok_and(|t| t.is_none()));
    }
}
