//! Network namespaces made before `rt create`: a new namespace is kept alive by a bind
//! mount of its nsfs file onto `containers/<id>/netns`, whose path goes into config.json
//! as the container's network namespace (rt joins it rather than making one).
//!
//! Namespace changes are per thread, so each is done on a short-lived thread of its
//! own: the rest of rt-stage never leaves the host's namespace.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use rt_netlink::Netlink;

use super::required_index;
use crate::error::{Error, IoContext, Result};

/// Runs `f` on a thread of its own, so that whatever namespace it enters ends with it.
fn on_own_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(Error::Network("namespace thread panicked".into())))
    })
}

/// A new network namespace pinned at `path`, with its loopback up.
pub fn create(path: &Path) -> Result<()> {
    File::create(path).at("create", path)?;
    let made = on_own_thread(|| {
        unshare(CloneFlags::CLONE_NEWNET).ctx(|| "unshare a network namespace".into())?;
        mount(
            Some("/proc/thread-self/ns/net"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .at("bind the network namespace onto", path)?;
        let mut nl = Netlink::open()?;
        Ok(nl.set_up(required_index("lo")?, None)?)
    });
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Runs `f` inside the namespace pinned at `path`.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let ns = File::open(path).at("open", path)?;
    on_own_thread(move || {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).at("enter the network namespace", path)?;
        f()
    })
}

/// Unpins and removes the namespace file (the namespace goes once nothing uses it,
/// and with it the container's end of its veth pair). Absent is fine.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(e).at("unmount", path),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at("remove", path),
        _ => Ok(()),
    }
}
