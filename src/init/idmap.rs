//! Idmapped mounts: `mounts[].uidMappings` and `gidMappings` (runtime spec
//! 1.1), and runc's `idmap` and `ridmap` options, for bind mounts.
//!
//! The kernel shifts the owners a mount shows through a user namespace
//! given to mount_setattr(MOUNT_ATTR_IDMAP), on a detached mount made by
//! open_tree(OPEN_TREE_CLONE). Both need privilege over the user namespace
//! that owns the source mount — the host's — which the init, already in
//! the container's user namespace, lacks. So `create` builds the trees, as
//! the host's root; the init sets the entry's other options on each and
//! attaches it onto the destination fd it resolved in the rootfs, like any
//! detached mount (`detached`), and closes it.
//!
//! runc makes every tree when its entry is mounted, from the source as the
//! container's mount namespace shows it then: with the mounts of the
//! entries before it, which a source inside the rootfs may name (runc's
//! mounts.bats "mount order, container idmap source"). rt does the same
//! where it matters ([`at_mount_time`]): the init asks for the tree
//! (`Msg::IdmappedSource`, see `bindsource`), and `create` makes it in the
//! init's mount namespace ([`AtMountTime::make`]). Every other tree —
//! the common case, a host directory — `create` makes on the host before
//! it clones the init ([`prepare`]), which inherits it: the same tree,
//! without a round trip.
//!
//! The user namespace with the mount's mappings belongs to a helper child
//! that waits in it while its maps are written and its namespace opened,
//! then is killed: the namespace lives on through the fd. `prepare` makes
//! them all on the host, also those the trees made later use.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Mount};

use crate::error::{Context, Error, Result};
use crate::syscall::{self, Forked, MountAttr};

use super::bindsource;
use super::inroot;
use super::mount_options::{normalize, parse_options, Options};
use super::procfs::{open_path, HostProc};
use super::sync::{Channel, Msg};

/// A detached, idmapped copy of a bind mount's source, for `mounts[index]`.
pub struct Idmapped {
    pub index: usize,
    pub tree: OwnedFd,
}

/// What [`prepare`] made: the trees the init inherits, and what `create`
/// needs to make the others when the init asks.
pub struct Prepared {
    pub trees: Vec<Idmapped>,
    pub at_mount_time: AtMountTime,
}

/// The idmapped mounts whose tree `create` makes when the init mounts the
/// entry, and the user namespaces with their mappings.
#[derive(Default)]
pub struct AtMountTime {
    /// A `mounts` index and the position of its user namespace in `userns`.
    mounts: Vec<(usize, usize)>,
    userns: Vec<OwnedFd>,
    /// The rootfs (canonical): a source below it belongs to the image.
    rootfs: PathBuf,
}

/// Where a mount's id mapping comes from.
enum Mapping<'a> {
    /// A new user namespace with these mappings.
    New(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// The user namespace at this path (the container joins it).
    Join(&'a Path),
}

/// Whether `m` is an idmapped mount: mappings of its own, or the `idmap`
/// or `ridmap` option.
pub fn wanted(m: &Mount, opts: &Options) -> bool {
    m.uid_mappings().is_some() || m.gid_mappings().is_some() || opts.idmap.is_some()
}

/// Check every mount that asks for an idmapped tree, and make what it
/// needs: with uidMappings and gidMappings, or the `idmap` or `ridmap`
/// option, which without mappings of its own takes the container's user
/// namespace (runc's implied mapping). `idmap` and mappings alone shift the
/// top mount of an `rbind` only, `ridmap` all of it, as in runc. `bundle`
/// resolves relative sources; `rootfs` (canonical) and `mount_ns_joined`
/// (the init joins a mount namespace by path) say which trees wait for
/// mount time. Runs on the host, before clone. Mounts with the same mapping
/// share one user namespace.
pub fn prepare(
    mounts: &[Mount],
    linux: Option<&Linux>,
    bundle: &Path,
    rootfs: &Path,
    mount_ns_joined: bool,
) -> Result<Prepared> {
    let mut trees = Vec::new();
    let mut later = Vec::new();
    let mut userns: Vec<(String, OwnedFd)> = Vec::new();
    for (index, m) in mounts.iter().enumerate() {
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        if !wanted(m, &opts) {
            continue;
        }
        let explicit = m.uid_mappings().is_some() || m.gid_mappings().is_some();
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
        let source =
            bindsource::path(m, bundle).ok_or_else(|| bad(m, "a bind mount needs a source"))?;
        let key = match &mapping {
            Mapping::New(u, g) => format!("{} {}", map_text(u), map_text(g)),
            Mapping::Join(p) => p.display().to_string(),
        };
        let known = userns.iter().position(|(k, _)| *k == key);
        let ns = match known {
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
        if mount_ns_joined || at_mount_time(&source, rootfs) {
            later.push((index, ns));
            continue;
        }
        let tree = idmapped_tree(None, &source, &opts, userns[ns].1.as_fd())?;
        trees.push(Idmapped { index, tree });
    }
    let at_mount_time = match later.is_empty() {
        true => AtMountTime::default(),
        false => AtMountTime {
            mounts: later,
            userns: userns.into_iter().map(|(_, fd)| fd).collect(),
            rootfs: rootfs.to_path_buf(),
        },
    };
    Ok(Prepared {
        trees,
        at_mount_time,
    })
}

/// Whether the tree of a bind from `source` is made when its entry is
/// mounted, in the init's mount namespace, where runc makes every one. A
/// tree made on the host before clone is the same only where the
/// container's mounts cannot be: they all go on the rootfs (the namespace
/// is a copy of rt's, or rt's own), so the source must neither lie below it
/// nor hold it — as spelled, or as the host resolves it (a missing path
/// from its longest existing ancestor: the entries before may make it).
fn at_mount_time(source: &Path, rootfs: &Path) -> bool {
    let overlaps = |p: &Path| p.starts_with(rootfs) || rootfs.starts_with(p);
    overlaps(&normalize(source)) || overlaps(&normalize(&host_resolved(source)))
}

/// `path` with its longest existing ancestor resolved on the host
/// (symlinks followed) and the rest as spelled.
fn host_resolved(path: &Path) -> PathBuf {
    path.ancestors()
        .find_map(|a| {
            let real = std::fs::canonicalize(a).ok()?;
            Some(real.join(path.strip_prefix(a).ok()?))
        })
        .unwrap_or_else(|| path.to_path_buf())
}

/// The idmapped clone of `source` (with the mounts below it for an
/// `rbind`), as the mount namespace this thread is in shows it.
/// The idmapped clone of `source`: the host path itself, or with `resolved`
/// the fd it was resolved to.
fn idmapped_tree(
    resolved: Option<BorrowedFd<'_>>,
    source: &Path,
    opts: &Options,
    userns: BorrowedFd<'_>,
) -> Result<OwnedFd> {
    let path = match resolved {
        Some(_) => CString::default(),
        None => CString::new(source.as_os_str().as_bytes()).map_err(|_| {
            Error::Config(format!("mount source {}: has a NUL byte", source.display()))
        })?,
    };
    let rec = |on: bool| match on {
        true => libc::AT_RECURSIVE as libc::c_uint,
        false => 0,
    };
    let empty_path = match resolved {
        Some(_) => libc::AT_EMPTY_PATH as libc::c_uint,
        None => 0,
    };
    let tree = syscall::open_tree(
        resolved,
        &path,
        libc::OPEN_TREE_CLONE
            | libc::OPEN_TREE_CLOEXEC
            | empty_path
            | rec(opts.flags.contains(nix::mount::MsFlags::MS_REC)),
    )
    .ctx(|| format!("cannot clone {} for an idmapped mount", source.display()))?;
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: raw(userns),
    };
    syscall::mount_setattr(tree.as_fd(), rec(opts.idmap == Some(true)), &attr).ctx(|| {
        format!("cannot idmap the mount of {} (needs Linux 5.12 and a filesystem that supports idmapped mounts)", source.display())
    })?;
    Ok(tree)
}

impl AtMountTime {
    /// `create` side: the idmapped tree of `mounts[index]`, made as the
    /// host's root in the init's mount namespace `mnt_ns` (which the init
    /// sent with its request), where the entries before it are mounted.
    pub fn make(
        &self,
        mounts: &[Mount],
        bundle: &Path,
        index: usize,
        mnt_ns: &OwnedFd,
    ) -> Result<OwnedFd> {
        let found = self.mounts.iter().find(|(i, _)| *i == index);
        let (Some(&(_, ns)), Some(m)) = (found, mounts.get(index)) else {
            return Err(Error::Init(format!(
                "mounts[{index}] has no idmapped tree to make"
            )));
        };
        let userns = self
            .userns
            .get(ns)
            .ok_or_else(|| Error::Init(format!("mounts[{index}] has no user namespace")))?;
        let source =
            bindsource::path(m, bundle).ok_or_else(|| bad(m, "a bind mount needs a source"))?;
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        let in_image = bindsource::below_rootfs(&source, &self.rootfs);
        bindsource::in_mount_ns(mnt_ns, || match &in_image {
            Some(rel) => {
                let root = open_path(&self.rootfs, libc::O_DIRECTORY)?;
                let at = inroot::resolve(root.as_fd(), rel, false)
                    .ctx(|| format!("cannot resolve {} inside the rootfs", source.display()))?;
                idmapped_tree(Some(at.as_fd()), &source, &opts, userns.as_fd())
            }
            None => idmapped_tree(None, &source, &opts, userns.as_fd()),
        })
    }
}

/// Init side: the idmapped tree of `mounts[index]`, which `create` makes
/// now, in this process's mount namespace.
pub fn request(sync: &Channel, proc: &HostProc, index: usize) -> Result<OwnedFd> {
    match bindsource::request(sync, proc, &Msg::IdmappedSource(index))? {
        Ok(tree) => Ok(tree),
        Err(why) => Err(Error::Init(why)),
    }
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

fn raw(fd: BorrowedFd<'_>) -> u64 {
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
