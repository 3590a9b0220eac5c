//! stop, kill, rm, restart, and the teardown they share with the monitor.

use std::fs;
use std::time::{Duration, Instant};

use super::monitor::{self, mark_exited};
use super::record::{Container, Status};
use super::{cgroup, union, Engine};
use crate::error::{Error, IoContext, Result};
use crate::network;

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

fn not_running(c: &Container) -> Error {
    Error::Usage(format!("Container {} is not running", c.id))
}

/// Starts a created or exited container in the background (its own monitor).
pub fn start(e: &Engine, c: &Container) -> Result<()> {
    if e.store.container_state(&c.id)?.is_running() {
        return Ok(());
    }
    monitor::spawn(e, c)
}

/// Waits until the container is no longer running and its monitor has finished with
/// it. False on timeout.
fn wait_stopped(e: &Engine, id: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = e.store.container_state(id)?;
        let monitor_alive = s.monitor > 0 && super::record::process_alive(s.monitor, 0);
        if s.status != Status::Running || (!s.is_running() && !monitor_alive) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After its monitor is gone: finish what the monitor would have (teardown, status).
fn settle(e: &Engine, c: &Container, code: i32) -> Result<()> {
    let _lock = e.store.lock_container(&c.id)?;
    let s = e.store.container_state(&c.id)?;
    if s.status == Status::Running {
        release(e, &c.id)?;
        e.store
            .update_container_state(&c.id, |s| mark_exited(s, code))?;
    }
    Ok(())
}

/// `stop`: the stop signal, `timeout` for the container to end, then SIGKILL.
pub fn stop(e: &Engine, c: &Container, timeout: Duration) -> Result<()> {
    let s = e.store.container_state(&c.id)?;
    if !s.is_running() {
        if s.status == Status::Running {
            // Its process is gone: the monitor is finishing, or died with it.
            wait_stopped(e, &c.id, Duration::from_secs(2))?;
            settle(e, c, 255)?;
        }
        return Ok(());
    }
    let signal = c
        .config
        .stop_signal
        .clone()
        .unwrap_or_else(|| "TERM".into());
    let _ = e.rt.kill(&c.id, &signal);
    if !wait_stopped(e, &c.id, timeout)? {
        let _ = e.rt.kill(&c.id, "KILL");
        if !wait_stopped(e, &c.id, Duration::from_secs(10))? {
            return Err(Error::Usage(format!("container {} did not stop", c.id)));
        }
    }
    // The monitor may have died instead of finishing.
    settle(e, c, 137)
}

/// `kill`: a signal to the container's init; the container must be running.
pub fn kill(e: &Engine, c: &Container, signal: &str) -> Result<()> {
    if !e.store.container_state(&c.id)?.is_running() {
        return Err(not_running(c));
    }
    e.rt.kill(&c.id, signal)
}

pub fn restart(e: &Engine, c: &Container, timeout: Duration) -> Result<()> {
    stop(e, c, timeout)?;
    e.store
        .update_container_state(&c.id, |s| s.restart_count += 1)?;
    start(e, c)
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

/// `rm -f`: stopped with SIGKILL first.
pub fn force_remove(e: &Engine, c: &Container, volumes: bool) -> Result<()> {
    if e.store.container_state(&c.id)?.is_running() {
        stop(e, c, Duration::ZERO)?;
    }
    remove(e, c, volumes)
}
