//! The `/rt-stage` parent cgroup that rt creates above each container's (config.json's
//! cgroupsPath `/rt-stage/<id>`), removed again once empty, in every hierarchy.
//!
//! rt creates the parent and the child one after the other, so an rmdir of the parent
//! in between would fail its create: `cgroup.lock` is held shared around `rt create`
//! and exclusively (never waiting) around the rmdir.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::network::ipam::RUN_DIR;
use crate::store::open_lock_file;

const PARENT: &str = "rt-stage";

fn lock_path() -> Result<PathBuf> {
    let dir = Path::new(RUN_DIR);
    fs::create_dir_all(dir).at("create", dir)?;
    Ok(dir.join("cgroup.lock"))
}

fn open_lock() -> Result<File> {
    open_lock_file(&lock_path()?)
}

/// Held (shared) while rt creates a container's cgroups.
pub fn hold_for_create() -> Result<File> {
    let f = open_lock()?;
    f.lock_shared().at("lock", &lock_path()?)?;
    Ok(f)
}

/// Mount points of the cgroup hierarchies (v1 and v2).
fn hierarchies() -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mount_point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Removes `/rt-stage` wherever it is empty; busy or absent ones are left alone.
pub fn remove_empty_parent() {
    let Ok(f) = open_lock() else { return };
    if f.try_lock().is_err() {
        return;
    }
    for h in hierarchies() {
        let p = h.join(PARENT);
        if p.is_dir() {
            // ENOTEMPTY/EBUSY: another container of rt-stage is there.
            let _ = fs::remove_dir(&p);
        }
    }
}
