//! The container's root filesystem, in its directory:
//!
//! ```text
//! init/     mount points rt-stage itself mounts over (/etc/hosts, ...), empty: the
//!           top lowerdir, so they never show up in `commit`'s diff (Docker's -init layer)
//! upper/    the container's changes (overlay upperdir), what `commit` turns into a layer
//! work/     overlay's workdir
//! merged/   the overlay mount: lowerdir = init + the image's layers, top first
//! rootfs/   instead of all the above where overlayfs is unavailable: the image's
//!           layers merged into a plain copy (`rootfs::unpack`)
//! ```
//!
//! The overlay is mounted at start and unmounted when the container ends, so a stopped
//! container holds no mount.

use std::fs;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, IoContext, Result};
use crate::progress::Progress;
use crate::record::{Container, Driver};
use crate::rootfs;
use crate::store::Store;

pub const INIT: &str = "init";
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";
pub const MERGED: &str = "merged";
pub const COPY: &str = "rootfs";

/// `--storage-driver`: what the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DriverChoice {
    /// overlay where the kernel has it, else copy (with a warning)
    #[default]
    Auto,
    /// overlay or an error
    Overlay,
    /// a plain copy of the image's layers per container
    Copy,
}

/// Why overlay cannot be used, if it cannot. RT_STAGE_OVERLAY_UNAVAILABLE makes it
/// unavailable on purpose (how the tests cover the fallback and the error).
pub fn overlay_unavailable() -> Option<String> {
    if std::env::var_os("RT_STAGE_OVERLAY_UNAVAILABLE").is_some_and(|v| !v.is_empty() && v != "0") {
        return Some("RT_STAGE_OVERLAY_UNAVAILABLE is set".into());
    }
    let fs = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        return Some("the kernel lists no overlay filesystem in /proc/filesystems".into());
    }
    None
}

pub fn choose(choice: DriverChoice) -> Result<Driver> {
    match (choice, overlay_unavailable()) {
        (DriverChoice::Copy, _) => Ok(Driver::Copy),
        (_, None) => Ok(Driver::Overlay),
        (DriverChoice::Overlay, Some(why)) => Err(Error::OverlayUnavailable(format!(
            "{why}; --storage-driver copy gives each container a copy of the image instead"
        ))),
        (DriverChoice::Auto, Some(why)) => {
            eprintln!("rt-stage: warning: overlay filesystem unavailable ({why}): the container gets a copy of the image's layers");
            Ok(Driver::Copy)
        }
    }
}

/// The root filesystem path that goes into config.json.
pub fn rootfs_path(dir: &Path, driver: Driver) -> PathBuf {
    match driver {
        Driver::Overlay => dir.join(MERGED),
        Driver::Copy => dir.join(COPY),
    }
}

/// Mount points rt-stage mounts files or filesystems over.
fn make_mount_points(root: &Path) -> Result<()> {
    for d in ["etc", "proc", "sys", "dev"] {
        let p = root.join(d);
        if fs::symlink_metadata(&p).is_err() {
            fs::create_dir(&p).at("create", &p)?;
        }
    }
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        let p = root.join(f);
        if fs::symlink_metadata(&p).is_err() {
            fs::write(&p, b"").at("create", &p)?;
        }
    }
    Ok(())
}

/// At `create`: the directories, and for the copy driver the copy itself.
pub fn prepare(store: &Store, c: &Container) -> Result<()> {
    let dir = store.container_dir(&c.id)?;
    match c.driver {
        Driver::Overlay => {
            for d in [INIT, UPPER, WORK, MERGED] {
                let p = dir.join(d);
                fs::create_dir_all(&p).at("create", &p)?;
            }
            make_mount_points(&dir.join(INIT))
        }
        Driver::Copy => {
            let root = dir.join(COPY);
            rootfs::unpack(store, &c.image_id.to_string(), &root, &Progress::hidden())?;
            make_mount_points(&root)
        }
    }
}

/// Whether something is mounted at `path` (by /proc/self/mountinfo).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| unescape(p) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// At start: the overlay over the image's layers (nothing to do for a copy).
pub fn mount_rootfs(store: &Store, c: &Container) -> Result<()> {
    if c.driver == Driver::Copy {
        return Ok(());
    }
    if let Some(why) = overlay_unavailable() {
        return Err(Error::OverlayUnavailable(why));
    }
    let dir = store.container_dir(&c.id)?;
    let merged = dir.join(MERGED);
    if is_mount_point(&merged) {
        return Ok(());
    }
    let mut lower = vec![dir.join(INIT)];
    lower.extend(c.layers.iter().rev().map(|d| store.layer_diff(d)));
    for l in &lower {
        if !l.is_dir() {
            return Err(Error::invalid(
                "container",
                format!("layer directory {} is missing", l.display()),
            ));
        }
        if l.to_string_lossy().contains([',', ':']) {
            return Err(Error::invalid(
                "store path",
                format!(
                    "{} holds ',' or ':', which overlay options cannot carry",
                    l.display()
                ),
            ));
        }
    }
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    // redirect_dir, index and metacopy off: the upper dir then holds only whole files
    // and plain whiteouts, which is what `commit` can turn into a layer.
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,index=off,metacopy=off",
        lower.join(":"),
        dir.join(UPPER).display(),
        dir.join(WORK).display()
    );
    if opts.len() >= 4096 {
        return Err(Error::invalid(
            "overlay mount",
            "too many layers for the mount options (4096 bytes)",
        ));
    }
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| Error::OverlayUnavailable(format!("mount overlay on {}: {e}", merged.display())))
}

/// Unmounts the overlay if mounted; lazily if something still holds it.
pub fn unmount_rootfs(dir: &Path) -> Result<()> {
    let merged = dir.join(MERGED);
    if !is_mount_point(&merged) {
        return Ok(());
    }
    match umount2(&merged, MntFlags::empty()) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(nix::Error::EBUSY) => umount2(&merged, MntFlags::MNT_DETACH).at("unmount", &merged),
        Err(e) => Err(e).at("unmount", &merged),
    }
}
