//! What a run of a container leaves on the host, undone ([`release`]), and the
//! container itself removed ([`remove`]): shared by the monitor, which does both when
//! a container ends, and by [`super::lifecycle`]'s stop and rm.

use std::fs;
use std::time::{Duration, Instant};

use super::{cgroup, union, Engine};
use crate::error::{Error, IoContext, Result};
use crate::network;
use crate::record::{process_alive, Container, Status};

/// Everything a run of the container set up on the host, undone: rt's container (and
/// its cgroups), the network, the overlay mount. Idempotent; the caller holds the
/// container's lock. All steps are tried; the first error is returned.
pub fn release(e: &Engine, id: &str) -> Result<()> {
    let dir = e.store.container_dir(id)?;
    let results = [
        e.rt.delete(id),
        network::teardown(e.store, id),
        union::unmount_rootfs(&dir),
    ];
    cgroup::remove_empty_parent();
    results.into_iter().collect::<Result<Vec<()>>>().map(drop)
}

/// Waits until the container is no longer running and its monitor has finished with
/// it. False on timeout.
pub fn wait_stopped(e: &Engine, id: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = e.store.container_state(id)?;
        let monitor_alive = s.monitor > 0 && process_alive(s.monitor, 0);
        if s.status != Status::Running || (!s.is_running() && !monitor_alive) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `rm`: refused while running unless `force` (then killed first). Anonymous volumes
/// go with the container when `volumes` (`rm -v`, `--rm`); named ones always stay.
pub fn remove(e: &Engine, c: &Container, volumes: bool) -> Result<()> {
    let s = e.store.container_state(&c.id)?;
    if s.is_running() {
        return Err(Error::Usage(format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            c.id
        )));
    }
    // A monitor finishing up (an exit just now) is let finish first.
    if s.monitor > 0 {
        wait_stopped(e, &c.id, Duration::from_secs(10))?;
    }
    let _names = e.store.lock_containers()?;
    {
        let _lock = e.store.lock_container(&c.id)?;
        release(e, &c.id)?;
    }
    let dir = e.store.container_dir(&c.id)?;
    // Never recurse into a mount: remove_dir_all would delete through it.
    for m in [dir.join(union::MERGED), dir.join(network::NETNS)] {
        if union::is_mount_point(&m) {
            return Err(Error::Usage(format!(
                "{} is still mounted: not removing the container",
                m.display()
            )));
        }
    }
    fs::remove_dir_all(&dir).at("remove", &dir)?;
    if volumes {
        for m in c.mounts.iter().filter(|m| m.anonymous) {
            if let Some(name) = &m.name {
                // Still used through --volumes-from: it stays.
                match e.store.remove_volume_locked(name, true) {
                    Ok(()) | Err(Error::Usage(_)) => {}
                    Err(err) => return Err(err),
                }
            }
        }
    }
    Ok(())
}
