//! Containers from images (issue 11): what `run` and its fellow commands do, with rt
//! (the binary) underneath.
//!
//! - [`create`]: image config + command line → a container record, its volumes and
//!   its root filesystem directories ([`union`]: overlay or copy).
//! - [`monitor`]: start (mount, network, config.json from [`spec`], `rt create` and
//!   `rt start`) and supervision until the container ends: output to the [`log`], exit
//!   status, teardown. Detached containers get a monitor process of their own; `run`
//!   without `-d` is its own monitor. [`terminal`]: the pty for `-t`.
//! - [`lifecycle`]: stop, kill, restart; [`teardown`]: what a run left undone, and rm;
//!   [`exec`]; [`commit`].
//! - [`runtime`]: the `rt` command lines; [`user`]: `-u` names; [`cgroup`]: the
//!   `/rt-stage` parent cgroup.
//!
//! Lock order: the store's containers lock (names, volumes) before a container's own
//! lock (start and teardown); nobody waits for a monitor while holding either.

pub mod cgroup;
pub mod commit;
pub mod create;
pub mod exec;
pub mod lifecycle;
pub mod log;
pub mod monitor;
pub mod runtime;
pub mod spec;
pub mod teardown;
pub mod terminal;
pub mod union;
pub mod user;

use std::path::PathBuf;

use crate::store::Store;
use runtime::Rt;
use union::DriverChoice;

/// What every container command needs: the store, the rt binary, and how to run
/// rt-stage itself again (for a detached container's monitor).
pub struct Engine<'s> {
    pub store: &'s Store,
    pub rt: Rt,
    pub driver: DriverChoice,
    pub debug: bool,
}

impl<'s> Engine<'s> {
    pub fn new(store: &'s Store, rt_bin: PathBuf, driver: DriverChoice, debug: bool) -> Engine<'s> {
        Engine {
            store,
            rt: Rt::new(rt_bin, store),
            driver,
            debug,
        }
    }
}
