//! Namespaces: which to create with clone(2), which to join with setns(2).
//!
//! New namespaces are created by the clone of the init process. Namespaces
//! given by `path` are opened by the parent (paths are host paths) and joined
//! by the child, the user namespace first so that the others are joined with
//! the credentials it grants. rt itself never joins one: its hooks and
//! helpers stay in rt's own namespaces. A joined pid namespace applies only
//! to the children of the process that joins it, so the init forks the
//! container's process into it once setup is done (see `init::Launch`); a
//! joined time namespace applies to the joining process at once.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Context, Error, Result};

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Namespaces of one container, split by how they are obtained.
pub struct Plan {
    /// Flags for clone(2): the namespaces to create.
    pub new: CloneFlags,
    /// Opened namespace files to join in the child, user first.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl Plan {
    pub fn new(namespaces: &[LinuxNamespace]) -> Result<Plan> {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            join: Vec::new(),
        };
        for ns in namespaces {
            let Some(path) = ns.path() else {
                plan.new |= clone_flag(ns.typ());
                continue;
            };
            let f = File::open(path).map_err(|e| {
                Error::Config(format!(
                    "cannot open {} namespace {}: {e}",
                    crate::spec::name(&ns.typ()),
                    path.display()
                ))
            })?;
            plan.join.push((ns.typ(), f.into()));
        }
        plan.join
            .sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(clone_flag(t))
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joins(t)
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(x, _)| *x == t)
    }
}

/// Name of the namespace's file under /proc/<pid>/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn join(namespaces: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
    for (t, fd) in namespaces {
        setns(fd.as_fd(), clone_flag(*t))
            .ctx(|| format!("cannot join {} namespace", crate::spec::name(t)))?;
    }
    Ok(())
}
