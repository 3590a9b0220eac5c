//! start, stop, kill, restart and `rm -f`; the teardown they share with the monitor
//! is [`super::teardown`].

use std::time::Duration;

use super::monitor;
use super::teardown::{release, remove, wait_stopped};
use super::Engine;
use crate::error::{Error, Result};
use crate::record::{Container, Status};

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

/// After its monitor is gone: finish what the monitor would have (teardown, status).
fn settle(e: &Engine, c: &Container, code: i32) -> Result<()> {
    let _lock = e.store.lock_container(&c.id)?;
    let s = e.store.container_state(&c.id)?;
    if s.status == Status::Running {
        release(e, &c.id)?;
        e.store
            .update_container_state(&c.id, |s| s.mark_exited(code))?;
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

/// `rm -f`: stopped with SIGKILL first.
pub fn force_remove(e: &Engine, c: &Container, volumes: bool) -> Result<()> {
    if e.store.container_state(&c.id)?.is_running() {
        stop(e, c, Duration::ZERO)?;
    }
    remove(e, c, volumes)
}
