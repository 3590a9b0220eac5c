//! Namespaces: which to create, which to join with setns(2), and in which
//! order.
//!
//! Namespaces given by `path` are opened by the parent (paths are host
//! paths) and joined by the child in runc's order ([`join`]). rt itself
//! never joins one: its hooks and helpers stay in rt's own namespaces. A
//! joined pid namespace applies only to the children of the process that
//! joins it, so the init forks the container's process into it once setup
//! is done (see `init::Launch`); a joined time namespace applies to the
//! joining process at once.
//!
//! A new namespace is owned by the user namespace its creator is in, and
//! that owner decides who may administer it (bring up `lo`, mount sysfs or
//! procfs). Usually the clone of the init creates them all, the user
//! namespace first. When the container joins a user namespace, or joins
//! other namespaces and creates its user namespace, clone would create
//! them in the wrong order: the init then creates them itself after the
//! joins ([`Plan::unshares`]), as runc's nsexec does.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, Result};

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
    /// Opened namespace files to join in the child (see [`join`]).
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
        Ok(plan)
    }

    /// Whether the init creates the new namespaces itself, with unshare(2)
    /// after [`join`], instead of being cloned into them: a joined user
    /// namespace must own them, and the joins that come before a new user
    /// namespace need the caller's credentials (a network namespace of the
    /// host cannot be joined from inside a new user namespace). The cgroup
    /// and time namespaces are never cloned (see `create`), so they do not
    /// count.
    pub fn unshares(&self) -> bool {
        let cloned = self.new
            - clone_flag(LinuxNamespaceType::Cgroup)
            - clone_flag(LinuxNamespaceType::Time);
        let joins_other = self
            .join
            .iter()
            .any(|(t, _)| *t != LinuxNamespaceType::User);
        (self.joins(LinuxNamespaceType::User) && !cloned.is_empty())
            || (self.creates(LinuxNamespaceType::User) && joins_other)
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

/// Join `namespaces` in runc's order: every namespace but the user
/// namespace with the credentials the caller has (root on the host may join
/// a namespace that the container's user namespace does not own), then the
/// user namespace, then those the first pass was refused (EPERM): a
/// rootless caller gets the right to join them only as root of the user
/// namespace that owns them. One still refused fails setup, named.
pub fn join(namespaces: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
    let mut left: Vec<&(LinuxNamespaceType, OwnedFd)> = namespaces.iter().collect();
    join_pass(&mut left, |t| t != LinuxNamespaceType::User)?;
    join_pass(&mut left, |t| t == LinuxNamespaceType::User)?;
    join_pass(&mut left, |t| t != LinuxNamespaceType::User)?;
    if left.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = left.iter().map(|(t, _)| crate::spec::name(t)).collect();
    Err(Error::sys(
        format!("cannot join {} namespace", names.join(", ")),
        Errno::EPERM,
    ))
}

/// Join the namespaces in `left` that `pick` selects; those refused with
/// EPERM stay in `left`.
fn join_pass(
    left: &mut Vec<&(LinuxNamespaceType, OwnedFd)>,
    pick: impl Fn(LinuxNamespaceType) -> bool,
) -> Result<()> {
    let mut kept = Vec::with_capacity(left.len());
    for entry in left.drain(..) {
        let (t, fd) = entry;
        if !pick(*t) {
            kept.push(entry);
            continue;
        }
        match setns(fd.as_fd(), clone_flag(*t)) {
            Ok(()) => {}
            Err(Errno::EPERM) => kept.push(entry),
            Err(e) => {
                return Err(Error::sys(
                    format!("cannot join {} namespace", crate::spec::name(t)),
                    e,
                ))
            }
        }
    }
    *left = kept;
    Ok(())
}
