//! Bind sources the container's root cannot reach.
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
//! refuses.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::Pid;
use oci_spec::runtime::Mount;

use crate::error::{Context, Error, Result};

use super::procfs::open_path;
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

/// Init side: have `create` open the source of `mounts[index]`. Err(why)
/// when it could not (`why` empty: rt is rootless).
pub fn request(sync: &Channel, index: usize) -> Result<std::result::Result<OwnedFd, String>> {
    sync.send(&Msg::MountSource(index))?;
    match sync.recv_with_fd()? {
        Some((Msg::SourceOpened, Some(fd))) => Ok(Ok(fd)),
        Some((Msg::SourceRefused(why), _)) => Ok(Err(why)),
        Some((other, _)) => Err(Error::Init(format!("unexpected {other:?} from rt create"))),
        None => Err(Error::Init("rt create went away".into())),
    }
}

/// `create` side: open `mounts[index]`'s source in the mount namespace of
/// the init `pid`, as the host's root. None when rt is rootless.
pub fn open_for(
    mounts: &[Mount],
    bundle: &Path,
    index: usize,
    init: Pid,
) -> Option<Result<OwnedFd>> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let source = match mounts.get(index).and_then(|m| path(m, bundle)) {
        Some(s) => s,
        None => return Some(Err(Error::Init(format!("mounts[{index}] has no source")))),
    };
    Some(open_in_mount_ns(init, source))
}

/// A thread of its own joins the mount namespace (setns needs a thread
/// that shares no filesystem context, so it unshares it first), opens, and
/// ends: rt itself never changes namespaces.
fn open_in_mount_ns(init: Pid, source: PathBuf) -> Result<OwnedFd> {
    let ns_path = format!("/proc/{init}/ns/mnt");
    let ns = std::fs::File::open(&ns_path).ctx(|| format!("cannot open {ns_path}"))?;
    std::thread::spawn(move || -> Result<OwnedFd> {
        unshare(CloneFlags::CLONE_FS).ctx(|| "cannot unshare the filesystem context")?;
        setns(&ns, CloneFlags::CLONE_NEWNS)
            .ctx(|| "cannot join the container's mount namespace")?;
        open_path(&source, 0)
    })
    .join()
    .map_err(|_| Error::Init("the thread opening a bind source panicked".into()))?
}
