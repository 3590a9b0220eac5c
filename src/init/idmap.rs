//! Idmapped mounts: `mounts[].uidMappings` and `gidMappings` (runtime spec
//! 1.1), and runc's `idmap` and `ridmap` options, for bind mounts.
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
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Mount};

use crate::error::{Context, Error, Result};
use crate::syscall::{self, Forked, MountAttr};

use super::mounts::parse_options;

/// A detached, idmapped copy of a bind mount's source, for `mounts[index]`.
pub struct Idmapped {
    pub index: usize,
    pub tree: OwnedFd,
}

/// Where a mount's id mapping comes from.
enum Mapping<'a> {
    /// A new user namespace with these mappings.
    New(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// The user namespace at this path (the container joins it).
    Join(&'a Path),
}

/// Build an idmapped copy of the source of every mount that asks for one:
/// with uidMappings and gidMappings, or the `idmap` or `ridmap` option,
/// which without mappings of its own takes the container's user namespace
/// (runc's implied mapping). `idmap` and mappings alone shift the top mount
/// of an `rbind` only, `ridmap` all of it, as in runc. `bundle` resolves
/// relative sources. Runs on the host, before clone. Mounts with the same
/// mapping share one user namespace.
pub fn prepare(mounts: &[Mount], linux: Option<&Linux>, bundle: &Path) -> Result<Vec<Idmapped>> {
    let mut out = Vec::new();
    let mut userns: Vec<(String, OwnedFd)> = Vec::new();
    for (index, m) in mounts.iter().enumerate() {
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        let explicit = m.uid_mappings().is_some() || m.gid_mappings().is_some();
        if !explicit && opts.idmap.is_none() {
            continue;
        }
        let mapping = mapping(m, explicit, linux)?;
        if !nix::unistd::geteuid().is_root() {
            return Err(bad(
                m,
                "id-mapped mounts are not supported for rootless containers",
            ));
        }
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
        let rec = |on: bool| match on {
            true => libc::AT_RECURSIVE as libc::c_uint,
            false => 0,
        };
        let tree = syscall::open_tree(
            None,
            &path,
            libc::OPEN_TREE_CLONE
                | libc::OPEN_TREE_CLOEXEC
                | rec(opts.flags.contains(nix::mount::MsFlags::MS_REC)),
        )
        .ctx(|| format!("cannot clone {} for an idmapped mount", source.display()))?;
        let key = match &mapping {
            Mapping::New(u, g) => format!("{} {}", map_text(u), map_text(g)),
            Mapping::Join(p) => p.display().to_string(),
        };
        let known = userns.iter().position(|(k, _)| *k == key);
        let i = match known {
            Some(i) => i,
            None => {
                let fd = match mapping {
                    Mapping::New(u, g) => user_namespace(u, g)?,
                    Mapping::Join(p) => std::fs::File::open(p)
                        .ctx(|| format!("cannot open user namespace {}", p.display()))?
                        .into(),
                };
                userns.push((key, fd));
                userns.len() - 1
            }
        };
        let ns = &userns[i].1;
        let attr = MountAttr {
            attr_set: libc::MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: raw(ns),
        };
        syscall::mount_setattr(tree.as_fd(), rec(opts.idmap == Some(true)), &attr).ctx(|| {
            format!("cannot idmap the mount of {} (needs Linux 5.12 and a filesystem that supports idmapped mounts)", source.display())
        })?;
        out.push(Idmapped { index, tree });
    }
    Ok(out)
}

/// The mount's own mappings, or the container's user namespace's.
fn mapping<'a>(m: &'a Mount, explicit: bool, linux: Option<&'a Linux>) -> Result<Mapping<'a>> {
    let both = "id-mapped mounts must have both uid and gid mappings specified";
    if explicit {
        return match (m.uid_mappings().as_deref(), m.gid_mappings().as_deref()) {
            (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Ok(Mapping::New(u, g)),
            _ => Err(bad(m, both)),
        };
    }
    let userns = linux.and_then(|l| {
        l.namespaces()
            .iter()
            .flatten()
            .find(|n| n.typ() == LinuxNamespaceType::User)
    });
    let Some(userns) = userns else {
        return Err(bad(m, both));
    };
    if let Some(path) = userns.path() {
        return Ok(Mapping::Join(path));
    }
    let maps = linux.map(|l| (l.uid_mappings().as_deref(), l.gid_mappings().as_deref()));
    match maps {
        Some((Some(u), Some(g))) if !u.is_empty() && !g.is_empty() => Ok(Mapping::New(u, g)),
        _ => Err(bad(m, both)),
    }
}

/// Mappings as /proc/<pid>/uid_map takes them.
fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
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
        let path = format!("/proc/{child}/{file}");
        std::fs::write(&path, map_text(maps))
            .ctx(|| format!("cannot write {path} for an idmapped mount"))?;
    }
    let path = format!("/proc/{child}/ns/user");
    Ok(std::fs::File::open(&path)
        .ctx(|| format!("cannot open {path}"))?
        .into())
}
