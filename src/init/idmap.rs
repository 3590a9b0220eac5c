//! Idmapped mounts: `mounts[].uidMappings` and `gidMappings` (runtime spec
//! 1.1), for bind mounts.
//!
//! The kernel shifts the owners a mount shows through a user namespace
//! given to mount_setattr(MOUNT_ATTR_IDMAP), on a detached mount made by
//! open_tree(OPEN_TREE_CLONE). Both need privilege over the user namespace
//! that owns the source mount — the host's — which the init, already in
//! the container's user namespace, lacks. So `create` builds them on the
//! host before it clones the init ([`prepare`]), and the init, which
//! inherits the fds, sets the entry's other options on each and attaches it
//! onto the destination fd it resolved in the rootfs, like any detached
//! mount (`detached`).
//!
//! The user namespace with the mount's mappings belongs to a helper child
//! that waits in it while its maps are written and its namespace opened,
//! then is killed: the namespace lives on through the fd.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount};

use crate::error::{Context, Error, Result};
use crate::syscall::{self, Forked, MountAttr};

use super::mounts::parse_options;

/// A detached, idmapped copy of a bind mount's source, for `mounts[index]`.
pub struct Idmapped {
    pub index: usize,
    pub tree: OwnedFd,
}

/// Build an idmapped copy of the source of every mount that asks for one.
/// `bundle` resolves relative sources. Runs on the host, before clone.
pub fn prepare(mounts: &[Mount], bundle: &Path) -> Result<Vec<Idmapped>> {
    let mut out = Vec::new();
    for (index, m) in mounts.iter().enumerate() {
        let (uids, gids) = match (m.uid_mappings(), m.gid_mappings()) {
            (None, None) => continue,
            (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
            _ => return Err(bad(m, "uidMappings and gidMappings must both be given")),
        };
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        if !opts.is_bind() {
            return Err(bad(m, "idmapped mounts are supported for bind mounts only"));
        }
        let source = m
            .source()
            .as_ref()
            .ok_or_else(|| bad(m, "a bind mount needs a source"))?;
        let source = if source.is_absolute() {
            source.clone()
        } else {
            bundle.join(source)
        };
        let path = CString::new(source.as_os_str().as_bytes())
            .map_err(|_| bad(m, "the source has a NUL byte"))?;
        let recursive = opts.flags.contains(nix::mount::MsFlags::MS_REC);
        let rec = if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
        let tree = syscall::open_tree(
            None,
            &path,
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | rec,
        )
        .ctx(|| format!("cannot clone {} for an idmapped mount", source.display()))?;
        let userns = user_namespace(uids, gids)?;
        let attr = MountAttr {
            attr_set: libc::MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: raw(&userns),
        };
        syscall::mount_setattr(tree.as_fd(), rec, &attr).ctx(|| {
            format!("cannot idmap the mount of {} (needs Linux 5.12 and a filesystem that supports idmapped mounts)", source.display())
        })?;
        out.push(Idmapped { index, tree });
    }
    Ok(out)
}

fn raw(fd: &OwnedFd) -> u64 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd() as u64
}

fn bad(m: &Mount, why: &str) -> Error {
    Error::Config(format!("mounts {}: {why}", m.destination().display()))
}

/// An fd of a new user namespace with these mappings.
fn user_namespace(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let child = match syscall::clone_process(libc::CLONE_NEWUSER)
        .ctx(|| "cannot create a user namespace for an idmapped mount")?
    {
        Forked::Child => loop {
            // Killed by the parent once it holds the namespace.
            nix::unistd::pause();
        },
        Forked::Parent(pid) => pid,
    };
    let result = map_and_open(child, uids, gids);
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    result
}

fn map_and_open(child: Pid, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{child}/{file}");
        std::fs::write(&path, text).ctx(|| format!("cannot write {path} for an idmapped mount"))?;
    }
    let path = format!("/proc/{child}/ns/user");
    Ok(std::fs::File::open(&path)
        .ctx(|| format!("cannot open {path}"))?
        .into())
}
