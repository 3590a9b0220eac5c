//! Bind sources `create` opens or builds for the init, in the init's mount
//! namespace.
//!
//! In a user namespace the init is root of that namespace only: a bind
//! source below a directory that the host's root keeps to itself (mode
//! 0700) is out of its reach. As runc does, the init then asks `create`
//! ([`request`]), which opens the source as the host's root from inside
//! the init's mount namespace ([`open_for`]: a mount of another mount
//! namespace cannot be bind-mounted there) and passes the O_PATH fd over
//! the sync socket. The init binds it at once and closes it, during
//! Step::Mounts, before any process of the container exists. A rootless
//! rt is the container's own user: it has nothing more to offer, and
//! refuses. An idmapped tree whose source only the container's mount
//! namespace shows is asked for the same way (see `idmap`).
//!
//! The init sends its mount namespace with each request (its own ns file,
//! through the host procfs), and `create` acts in that very namespace
//! ([`in_mount_ns`]): once a new pid namespace has made the init fork
//! (Step::Unshare), the process that asks is no longer the one `create`
//! cloned, which may be gone.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::Mount;

use crate::error::{Context, Error, Result};

use super::mount_options::normalize;
use super::procfs::{open_path, HostProc};
use super::sync::{Channel, Msg};

/// The host path a bind mount's `source` names: relative ones are relative
/// to the bundle.
pub fn path(m: &Mount, bundle: &Path) -> Option<PathBuf> {
    let source = m.source().as_ref()?;
    Some(if source.is_absolute() {
        source.clone()
    } else {
        bundle.join(source)
    })
}

/// The part of a bind source below the rootfs, if it lies there (the
/// rootfs itself: empty). Those names are the image's: they are resolved
/// inside the rootfs (`inroot`), as destinations are, so that an image's
/// symlink to /etc leads to the image's /etc, never to a host directory of
/// the image's choice. A source elsewhere is the caller's host path.
pub fn below_rootfs(source: &Path, rootfs: &Path) -> Option<PathBuf> {
    normalize(source)
        .strip_prefix(rootfs)
        .map(Path::to_path_buf)
        .ok()
}

/// Init side: send `msg` (a [`Msg::MountSource`] or
/// [`Msg::IdmappedSource`]) with this process's mount namespace, and take
/// the fd `create` sends back. Err(why) when it could not (`why` empty: rt
/// is rootless).
pub fn request(
    sync: &Channel,
    proc: &HostProc,
    msg: &Msg,
) -> Result<std::result::Result<OwnedFd, String>> {
    let ns = proc
        .open_at("thread-self/ns/mnt", OFlag::O_RDONLY)
        .ctx(|| "cannot open the init's mount namespace")?;
    sync.send_with_fd(msg, ns.as_fd())?;
    drop(ns);
    match sync.recv_with_fd()? {
        Some((Msg::SourceOpened, Some(fd))) => Ok(Ok(fd)),
        Some((Msg::SourceRefused(why), _)) => Ok(Err(why)),
        Some((other, _)) => Err(Error::Init(format!("unexpected {other:?} from rt create"))),
        None => Err(Error::Init("rt create went away".into())),
    }
}

/// `create` side: open `mounts[index]`'s source in the init's mount
/// namespace `mnt_ns`, as the host's root. None when rt is rootless.
pub fn open_for(
    mounts: &[Mount],
    bundle: &Path,
    index: usize,
    mnt_ns: &OwnedFd,
) -> Option<Result<OwnedFd>> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let source = match mounts.get(index).and_then(|m| path(m, bundle)) {
        Some(s) => s,
        None => return Some(Err(Error::Init(format!("mounts[{index}] has no source")))),
    };
    Some(in_mount_ns(mnt_ns, || open_path(&source, 0)))
}

/// Run `f` in the mount namespace `mnt_ns`, on a thread of its own that
/// joins it (setns needs a thread that shares no filesystem context, so it
/// unshares it first) and ends with `f`: rt itself never changes
/// namespaces, and nothing of the thread outlives the call.
pub fn in_mount_ns<T: Send>(mnt_ns: &OwnedFd, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            unshare(CloneFlags::CLONE_FS).ctx(|| "cannot unshare the filesystem context")?;
            setns(mnt_ns, CloneFlags::CLONE_NEWNS)
                .ctx(|| "cannot join the container's mount namespace")?;
            f()
        })
        .join()
        .map_err(|_| {
            Error::Init("the thread working in the init's mount namespace panicked".into())
        })?
    })
}
