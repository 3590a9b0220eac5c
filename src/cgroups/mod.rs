//! Container cgroups: finding the host's layout, creating the container's
//! cgroup in every hierarchy, moving the init process in, and removing it.
//!
//! The layout is read on every call, never assumed (from /sys/fs/cgroup
//! itself where it is the standard one, see `standard`; else from
//! /proc/self/mountinfo): v1 (one hierarchy per controller set), v2 (unified), or hybrid (v1
//! controllers plus a controller-less cgroup2 mount, as on Debian's default
//! hybrid setup). On hybrid hosts the container also gets a cgroup in the
//! unified hierarchy so v2-aware tools can find it.
//!
//! rt only ever writes inside the container's own cgroup and the parents it
//! created itself. Who makes the cgroup and how processes enter it is the
//! `driver`'s business.
//!
//! Resource limits are written by `v1` (one directory per controller) or
//! `v2` (the unified directory), from values `convert` and `devices` shape;
//! `stats` and `oom` read usage and OOM kills back.

pub mod at;
mod convert;
pub mod devices;
mod driver;
pub mod ebpf;
mod file;
pub mod oom;
mod standard;
pub mod stats;
pub mod systemd;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
pub use driver::Driver;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Controllers of a v1 hierarchy (`name=systemd` included); empty for v2.
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    /// The cgroup (relative to the hierarchy root) mounted at `mount_point`.
    pub mount_root: PathBuf,
    pub v2: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// The mounted cgroup hierarchies of this mount namespace: from
    /// /sys/fs/cgroup where it holds the standard layout (see `standard`),
    /// else from mountinfo.
    pub fn detect() -> Result<Layout> {
        if let Some(layout) = standard::detect() {
            return Ok(layout);
        }
        let info = fs::read_to_string("/proc/self/mountinfo")
            .ctx(|| "cannot read /proc/self/mountinfo")?;
        Ok(Self::parse(&info))
    }

    pub fn parse(mountinfo: &str) -> Layout {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for mount in cgroup_mounts(mountinfo) {
            // The same hierarchy may be mounted twice; keep the first.
            if hierarchies
                .iter()
                .any(|h| h.v2 == mount.v2 && h.controllers == mount.controllers)
            {
                continue;
            }
            hierarchies.push(mount);
        }
        Layout { hierarchies }
    }

    /// Pure cgroup v2: the only hierarchy is the unified one.
    pub fn is_unified(&self) -> bool {
        !self.hierarchies.is_empty() && self.hierarchies.iter().all(|h| h.v2)
    }

    pub fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        if self.is_unified() {
            return self.hierarchies.first();
        }
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

/// Every cgroup mount of mountinfo text, in its order, a hierarchy as often
/// as it is mounted.
fn cgroup_mounts(mountinfo: &str) -> impl Iterator<Item = Hierarchy> + '_ {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            return None;
        }
        let (root, mount_point, fstype, super_opts) = (left[3], left[4], right[0], right[2]);
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => return None,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            v1_controllers(super_opts.split(','))
        };
        Some(Hierarchy {
            controllers,
            mount_point: PathBuf::from(unescape(mount_point)),
            mount_root: PathBuf::from(unescape(root)),
            v2,
        })
    })
}

/// The v1 controllers among a hierarchy's mount options (or the
/// controllers /proc/self/cgroup lists for it): those rt knows, and the
/// name of a named hierarchy.
fn v1_controllers<'a>(options: impl Iterator<Item = &'a str>) -> Vec<String> {
    const KNOWN: [&str; 14] = [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "net_cls",
        "net_prio",
        "perf_event",
        "rdma",
        "misc",
    ];
    options
        .filter(|o| KNOWN.contains(o) || o.starts_with("name="))
        .map(str::to_string)
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a container's cgroup goes.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Its path relative to each hierarchy's root.
    pub rel: PathBuf,
    /// With the systemd driver, the scope that systemd makes at `rel`.
    pub unit: Option<systemd::Unit>,
}

impl Placement {
    /// The driver for a new container placed here, and its directories on
    /// this host.
    pub fn plan(&self, layout: &Layout) -> (Driver, CgroupPaths) {
        let mut cg = CgroupPaths::plan(layout, &self.rel);
        let driver = match &self.unit {
            Some(unit) => {
                cg.systemd_unit = Some(unit.name.clone());
                Driver::Systemd {
                    unit: unit.clone(),
                    started: false,
                }
            }
            None => Driver::of(&cg),
        };
        (driver, cg)
    }
}

/// Where `cgroupsPath` (or the default for `id`) puts the container: a
/// path (the cgroupfs driver), or with `--systemd-cgroup` a systemd scope
/// named `slice:prefix:name`.
pub fn placement(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Placement> {
    if !systemd {
        return Ok(Placement {
            rel: container_path(cgroups_path, id)?,
            unit: None,
        });
    }
    let text = cgroups_path.map(|p| p.to_string_lossy().into_owned());
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Config(
            "--systemd-cgroup: the rootless systemd driver (the user's systemd instance) is not supported".into(),
        ));
    }
    let unit = systemd::Unit::parse(text.as_deref(), id)?;
    if !systemd::running() {
        return Err(Error::Config(format!(
            "linux.cgroupsPath {:?}: the systemd cgroup driver needs systemd, which is not running on this host",
            text.unwrap_or_default()
        )));
    }
    Ok(Placement {
        rel: unit.cgroup_path(),
        unit: Some(unit),
    })
}

/// Normalise a path `cgroupsPath` (or the default for `id`) into a clean
/// path relative to each hierarchy's root. The systemd form
/// (`system.slice:rt:id`) is refused rather than taken for a relative path:
/// it means the systemd driver was wanted.
pub fn container_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    let looks_systemd = cgroups_path
        .and_then(|p| p.to_str())
        .is_some_and(|p| !p.starts_with('/') && p.split(':').count() == 3);
    if looks_systemd {
        return Err(Error::Config(format!(
            "linux.cgroupsPath {:?} is in the systemd form slice:prefix:name: it needs the systemd cgroup driver (--systemd-cgroup)",
            cgroups_path.map(|p| p.display().to_string()).unwrap_or_default()
        )));
    }
    let raw = match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("rt").join(id),
    };
    let mut clean = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => clean.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Config(format!(
                    "linux.cgroupsPath {}: must not contain \"..\"",
                    raw.display()
                )))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(Error::Config(
            "linux.cgroupsPath must name a cgroup below the root".into(),
        ));
    }
    Ok(clean)
}

/// Where one container lives in every hierarchy, recorded in its state so
/// that `delete` can remove exactly what `create` made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// The container's cgroup directory in each hierarchy.
    pub dirs: Vec<PathBuf>,
    /// Directories rt created (the leaves and any missing parents), in
    /// creation order; removed in reverse.
    pub created: Vec<PathBuf>,
    /// v1 freezer directory, or the v2 cgroup, for pause/resume.
    pub freezer: Option<PathBuf>,
    pub unified: bool,
    /// The container's path relative to each hierarchy's root.
    pub rel: PathBuf,
    /// The directory of each v1 controller (`cpu`, `memory`,
    /// `name=systemd` ...). Empty when unified: `dirs[0]` serves them all.
    #[serde(default)]
    pub controllers: BTreeMap<String, PathBuf>,
    /// The systemd scope holding the container (`--systemd-cgroup`):
    /// systemd makes and removes its cgroup2 and name=systemd directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// Whether writing resources also sets the device rules: `create` does,
/// `update` leaves the rules the container started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Devices {
    Set,
    Keep,
}

impl CgroupPaths {
    /// Plan the container's directories without touching the filesystem.
    pub fn plan(layout: &Layout, rel: &Path) -> CgroupPaths {
        let mut p = CgroupPaths {
            unified: layout.is_unified(),
            rel: rel.to_path_buf(),
            ..Default::default()
        };
        for h in &layout.hierarchies {
            let under = rel
                .strip_prefix(h.mount_root.strip_prefix("/").unwrap_or(&h.mount_root))
                .unwrap_or(rel);
            let dir = h.mount_point.join(under);
            if p.unified || h.controllers.iter().any(|c| c == "freezer") {
                p.freezer = Some(dir.clone());
            }
            for c in &h.controllers {
                p.controllers.insert(c.clone(), dir.clone());
            }
            p.dirs.push(dir);
        }
        p
    }

    /// Create every directory of the plan. On failure, what was created so
    /// far is recorded in `self.created` for the caller's cleanup.
    pub fn create(&mut self) -> Result<()> {
        let root = at::Root::open();
        for dir in self.dirs.clone() {
            if !self.made_by_systemd(&dir) {
                self.mkdir_all(root.as_ref(), &dir)?;
            }
        }
        Ok(())
    }

    /// Directories the container's systemd scope gets from systemd itself.
    pub fn made_by_systemd(&self, dir: &Path) -> bool {
        self.systemd_unit.is_some()
            && (self.v2_dir().is_some_and(|d| d == dir)
                || self
                    .controllers
                    .get("name=systemd")
                    .is_some_and(|d| d == dir))
    }

    /// Make `dir` and its missing parents: the leaf is tried first (its
    /// parent usually exists), walking up only on ENOENT. A concurrent
    /// delete may remove a shared parent at any moment: a parent gone
    /// again is made again, a few times. The kernel removes a cgroup in
    /// steps: first its controllers' files (reading or writing them then
    /// fails with ENODEV or ENOENT, while the directory is still there),
    /// then the directory, which refuses new children (ENODEV) until it is
    /// gone; each step counts as removed.
    fn mkdir_all(&mut self, root: Option<&at::Root>, dir: &Path) -> Result<()> {
        for _ in 0..10 {
            match at::mkdir(root, dir) {
                Ok(()) => {
                    if !self.created.iter().any(|d| d == dir) {
                        self.created.push(dir.to_path_buf());
                    }
                    // Only the cpuset hierarchy's directories (the leaf and
                    // its parents) need their cpus and mems.
                    let cpuset = self
                        .controllers
                        .get("cpuset")
                        .is_some_and(|c| c.starts_with(dir));
                    let ready = if cpuset {
                        init_cpuset(root, dir)
                    } else {
                        Ok(())
                    };
                    match ready {
                        Ok(()) => return Ok(()),
                        // Removed again, still empty, before its cpuset
                        // was filled: make it once more.
                        Err(e) if being_removed(&e) || !at::exists(root, dir) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
                // A missing parent, made the full way (a cpuset parent needs
                // its cpus and mems, or no task can join below). One being
                // removed is given a moment to go first.
                Err(e) if gone(&e) && dir.parent().is_some() => {
                    if e.raw_os_error() == Some(libc::ENODEV) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    self.mkdir_all(root, dir.parent().unwrap_or(dir))?
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot create cgroup {}", dir.display()),
                        e,
                    ))
                }
            }
        }
        Err(Error::Init(format!(
            "cannot create cgroup {}: its parent keeps being removed",
            dir.display()
        )))
    }

    /// The name of the hierarchy that holds `dir`: its mount point's last
    /// component (cpu, memory, systemd, unified ...).
    pub fn hierarchy_name(&self, dir: &Path) -> Result<std::ffi::OsString> {
        let mut mount_point = dir;
        for _ in self.rel.components() {
            mount_point = mount_point.parent().unwrap_or(mount_point);
        }
        mount_point
            .file_name()
            .map(|n| n.to_os_string())
            .ok_or_else(|| Error::Init(format!("cgroup {} has no hierarchy name", dir.display())))
    }

    /// The directory holding `controller`'s files, if that controller is
    /// mounted.
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        if self.unified {
            return self.dirs.first().map(PathBuf::as_path);
        }
        if !self.controllers.is_empty() {
            return self.controllers.get(controller).map(PathBuf::as_path);
        }
        // State written before the controllers were recorded: v1 mount
        // points are named after their controllers (`cpu,cpuacct`).
        let serves = |d: &&PathBuf| {
            self.hierarchy_name(d)
                .is_ok_and(|n| n.to_string_lossy().split(',').any(|c| c == controller))
        };
        self.dirs.iter().find(serves).map(PathBuf::as_path)
    }

    /// Write every field of `linux.resources`, device rules included, to
    /// the container's cgroup. Runs before any process joins it.
    pub fn apply_resources(&self, r: &LinuxResources) -> Result<()> {
        self.write_resources(r, Devices::Set)
    }

    /// `rt update`: write the given limits, leaving the device rules alone.
    pub fn update_resources(&self, r: &LinuxResources) -> Result<()> {
        self.write_resources(r, Devices::Keep)
    }

    fn write_resources(&self, r: &LinuxResources, devices: Devices) -> Result<()> {
        if self.unified {
            v2::apply(self, r, devices)
        } else {
            v1::apply(self, r, devices)
        }
    }

    pub fn stats(&self) -> Result<stats::Stats> {
        stats::read(self)
    }

    /// The container's directories in v1 hierarchies.
    pub fn v1_dirs(&self) -> Vec<&PathBuf> {
        self.dirs.iter().filter(|d| self.is_v1_dir(d)).collect()
    }

    /// `dir` is a v1 controller's. Compared byte for byte: both lists are
    /// made by `plan` from the same strings, and `Path`'s own equality
    /// (component by component, from the end) was a sixth of what `exec`
    /// spent in its own code.
    fn is_v1_dir(&self, dir: &Path) -> bool {
        self.controllers
            .values()
            .any(|c| c.as_os_str() == dir.as_os_str())
    }

    /// The container's directory in the cgroup2 hierarchy (the unified
    /// hierarchy of a hybrid host, or the only one of a v2 host).
    pub fn v2_dir(&self) -> Option<&PathBuf> {
        self.dirs.iter().find(|d| !self.is_v1_dir(d))
    }

    /// Move `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.dirs.iter().try_for_each(|dir| add_pid(dir, pid))
    }

    /// Refuse a cgroup that already holds processes, in any hierarchy or
    /// below, or that is frozen, as runc does before it makes anything: two
    /// containers in one cgroup share limits and kill each other on delete,
    /// and a process put into a frozen cgroup stops there — rt's own init
    /// and rt waiting on it included.
    pub fn check_unused(&self) -> Result<()> {
        let root = at::Root::open();
        let root = root.as_ref();
        let mut procs = std::collections::BTreeSet::new();
        // A new container's directories are usually not there yet.
        for dir in self.dirs.iter().filter(|d| at::exists(root, d)) {
            tree_procs(dir, &mut procs);
        }
        let found = procs.len();
        if found > 0 {
            return Err(Error::CgroupInUse(format!(
                "is not empty: {found} process(es) found"
            )));
        }
        let v1_freezer = self.freezer.as_ref().filter(|_| !self.unified);
        let frozen = v1_freezer.is_some_and(|d| {
            at::read(root, &existing(root, d).join("freezer.state"))
                .is_ok_and(|s| s.trim() != "THAWED")
        }) || self.v2_dir().is_some_and(|d| {
            let d = existing(root, d);
            at::read(root, &d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
                || at::read(root, &d.join("cgroup.events"))
                    .is_ok_and(|s| s.lines().any(|l| l.trim() == "frozen 1"))
        });
        if frozen {
            return Err(Error::CgroupInUse("unexpectedly frozen".into()));
        }
        Ok(())
    }

    /// Pids in the container's cgroup (read from the first hierarchy that has
    /// the container).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.freezer.as_ref().or(self.dirs.first()) else {
            return Ok(Vec::new());
        };
        let procs = dir.join("cgroup.procs");
        match fs::read_to_string(&procs) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(format!("cannot read {}", procs.display()), e)),
        }
    }

    pub fn is_frozen(&self) -> bool {
        let Some(dir) = &self.freezer else {
            return false;
        };
        if self.unified {
            fs::read_to_string(dir.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false)
        } else {
            fs::read_to_string(dir.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false)
        }
    }

    /// Freeze (`true`) or thaw every process of the container.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let Some(dir) = &self.freezer else {
            return Err(Error::Init("no freezer cgroup for this container".into()));
        };
        // Writing asks; the kernel reports when every task has stopped (or
        // runs again): v1 shows FREEZING in freezer.state until then, v2
        // `frozen 0` in cgroup.events. Until it does, a paused container
        // still runs, so wait for it.
        let (file, value, report, done) = match (self.unified, frozen) {
            (true, true) => ("cgroup.freeze", "1", "cgroup.events", "frozen 1"),
            (true, false) => ("cgroup.freeze", "0", "cgroup.events", "frozen 0"),
            (false, true) => ("freezer.state", "FROZEN", "freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED", "freezer.state", "THAWED"),
        };
        let path = dir.join(file);
        fs::write(&path, value).ctx(|| format!("cannot write {}", path.display()))?;
        let report = dir.join(report);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(&report)
            .ctx(|| format!("cannot read {}", report.display()))?
            .lines()
            .any(|l| l.trim() == done)
        {
            if Instant::now() > deadline {
                return Err(Error::Init(format!(
                    "{} did not report {done} within 5 s",
                    report.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// Whether the container's cgroup is there (in its first hierarchy).
    pub fn exists(&self) -> bool {
        self.freezer
            .as_ref()
            .or(self.dirs.first())
            .is_some_and(|d| d.is_dir())
    }

    /// Send `sig` (0 probes) to every process in the container's cgroup.
    /// The cgroup is frozen meanwhile where it can be, so that no process
    /// forks a child the list misses or exits and leaves its pid to another
    /// process. Afterwards it is thawed, unless it was paused before and
    /// the signal is not SIGKILL: a frozen process dies only once thawed.
    pub fn signal_all(&self, sig: i32) -> Result<()> {
        let was_frozen = self.is_frozen();
        let froze = !was_frozen
            && self.freezer.is_some()
            && match self.set_frozen(true) {
                Ok(()) => true,
                Err(e) => {
                    // Half frozen is worse than not frozen.
                    crate::logging::warn(&format!("signalling without freezing: {e}"));
                    let _ = self.thaw();
                    false
                }
            };
        let sent = self.pids().and_then(|pids| {
            pids.into_iter().try_for_each(|pid| {
                match crate::syscall::kill(nix::unistd::Pid::from_raw(pid), sig) {
                    Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
                    Err(e) => Err(Error::sys(format!("cannot signal pid {pid}"), e)),
                }
            })
        });
        if froze || (was_frozen && sig == libc::SIGKILL) {
            self.thaw()?;
        }
        sent
    }

    /// Remove the container's directories (`which` of them), then the
    /// parents rt created, deepest first. A cgroup whose last task is still
    /// exiting reports EBUSY for a moment: retry briefly. Shared parents
    /// that other containers still use are left alone. (A systemd scope's
    /// directories are systemd's: see `Driver::remove`.)
    pub fn remove_dirs(&self, which: Remove) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let leaves: Vec<&PathBuf> = match which {
            Remove::Used => self
                .dirs
                .iter()
                .filter(|d| !self.made_by_systemd(d))
                .collect(),
            Remove::Made => self
                .created
                .iter()
                .filter(|d| self.dirs.contains(d))
                .collect(),
        };
        let mut parents: Vec<&PathBuf> = self
            .created
            .iter()
            .filter(|d| !self.dirs.contains(d))
            .collect();
        let root = at::Root::open();
        for leaf in leaves {
            remove_leaf(root.as_ref(), leaf, deadline)?;
        }
        parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in parents {
            // A shared parent still in use by another container stays.
            let _ = at::rmdir(root.as_ref(), dir);
        }
        Ok(())
    }
}

/// Which of a container's cgroup directories go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remove {
    /// Every one the container used, whoever made it (`delete`): runc
    /// removes them, and a leftover would refuse the next container there.
    Used,
    /// Only those rt made (undoing a failed create): a cgroup the caller
    /// made stays theirs.
    Made,
}

/// What a cgroup's file or directory answers while it is being removed,
/// or once it is: ENOENT, or ENODEV (see `CgroupPaths::mkdir_all`).
fn gone(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// A failed read or write of a cgroup file whose directory went meanwhile.
fn being_removed(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if gone(source))
}

/// Add the processes of `dir` and the cgroups below it (none if it does
/// not exist) to `procs`.
fn tree_procs(dir: &Path, procs: &mut std::collections::BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        procs.extend(text.split_whitespace().map(str::to_string));
    }
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            tree_procs(&e.path(), procs);
        }
    }
}

/// `dir`, or its nearest ancestor that exists: a new cgroup below a frozen
/// one starts frozen.
fn existing<'a>(root: Option<&at::Root>, dir: &'a Path) -> &'a Path {
    dir.ancestors().find(|d| at::exists(root, d)).unwrap_or(dir)
}

/// Move `pid` into the cgroup `dir`.
pub fn add_pid(dir: &Path, pid: i32) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, pid.to_string())
        .ctx(|| format!("cannot add pid {pid} to {}", procs.display()))
}

/// rmdir a container's cgroup, with the cgroups below it first, deepest
/// first: the container's own (a systemd or a nested runtime inside it,
/// `exec --cgroup` targets). The kernel answers EBUSY both for those and,
/// for a moment, while the last task is still exiting: retry briefly.
fn remove_leaf(root: Option<&at::Root>, dir: &Path, deadline: Instant) -> Result<()> {
    loop {
        let e = match at::rmdir(root, dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        if e.raw_os_error() != Some(libc::EBUSY) || Instant::now() >= deadline {
            return Err(Error::io(
                format!("cannot remove cgroup {}", dir.display()),
                e,
            ));
        }
        let mut below = false;
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            // Interface files cannot be removed; only directories are cgroups.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                below = true;
                remove_leaf(root, &entry.path(), deadline)?;
            }
        }
        if !below {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and no task can
/// join it until they are set: inherit the parent's.
fn init_cpuset(root: Option<&at::Root>, dir: &Path) -> Result<()> {
    if !at::exists(root, &dir.join("cpuset.cpus"))
        || at::exists(root, &dir.join("cgroup.controllers"))
    {
        return Ok(());
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        cpuset_value(root, dir, file)?;
    }
    Ok(())
}

/// `file` of `dir`, filled from the nearest ancestor that has a value when
/// empty. A shared parent that another rt made a moment ago may still be
/// empty itself: fill it on the way down instead of copying its emptiness.
fn cpuset_value(root: Option<&at::Root>, dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    let mine = at::read(root, &path).ctx(|| format!("cannot read {}", path.display()))?;
    let mine = mine.trim();
    if !mine.is_empty() {
        return Ok(mine.to_string());
    }
    let Some(parent) = dir.parent().filter(|p| at::exists(root, &p.join(file))) else {
        return Ok(String::new());
    };
    let theirs = cpuset_value(root, parent, file)?;
    at::write(root, &path, &theirs).ctx(|| format!("cannot write {}", path.display()))?;
    Ok(theirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:29 / /mnt/cpu\\040again rw,relatime - cgroup cgroup rw,cpu
";

    #[test]
    fn hybrid_layout() {
        let l = Layout::parse(HYBRID);
        assert_eq!(l.hierarchies.len(), 5);
        assert!(!l.is_unified());
        assert_eq!(
            l.hierarchy("memory").map(|h| h.mount_point.clone()),
            Some("/sys/fs/cgroup/memory".into())
        );
        assert_eq!(
            l.hierarchies[3].controllers,
            vec!["name=systemd".to_string()]
        );
        let p = CgroupPaths::plan(&l, Path::new("rt-test/c1"));
        assert_eq!(
            p.freezer,
            Some(PathBuf::from("/sys/fs/cgroup/freezer/rt-test/c1"))
        );
        assert_eq!(
            p.dir_for("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/rt-test/c1"))
        );
        assert_eq!(
            p.dir_for("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd/rt-test/c1"))
        );
        assert_eq!(p.dir_for("hugetlb"), None);
        let old_state = CgroupPaths {
            controllers: BTreeMap::new(),
            ..p.clone()
        };
        assert_eq!(old_state.dir_for("memory"), p.dir_for("memory"));
        assert!(p
            .dirs
            .contains(&PathBuf::from("/sys/fs/cgroup/unified/rt-test/c1")));
        // Told apart by the controllers' directories: every v1 one, and
        // the cgroup2 directory, which serves no v1 controller.
        assert_eq!(
            p.v2_dir(),
            Some(&PathBuf::from("/sys/fs/cgroup/unified/rt-test/c1"))
        );
        assert_eq!(p.v1_dirs().len(), p.dirs.len() - 1);
        assert!(p
            .v1_dirs()
            .iter()
            .all(|d| p.controllers.values().any(|c| c == *d)));
    }

    #[test]
    fn unified_layout() {
        let l = Layout::parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert!(l.is_unified());
        let p = CgroupPaths::plan(&l, Path::new("a/b"));
        assert_eq!(p.dirs, vec![PathBuf::from("/sys/fs/cgroup/a/b")]);
        assert!(p.unified);
        assert_eq!(p.dir_for("memory"), Some(Path::new("/sys/fs/cgroup/a/b")));
    }

    #[test]
    fn paths() {
        assert_eq!(
            container_path(Some(Path::new("/rt-test/x")), "x").ok(),
            Some(PathBuf::from("rt-test/x"))
        );
        assert_eq!(container_path(None, "x").ok(), Some(PathBuf::from("rt/x")));
        assert!(container_path(Some(Path::new("/a/../b")), "x").is_err());
        assert!(container_path(Some(Path::new("/")), "x").is_err());
        let e = container_path(Some(Path::new("system.slice:rt:x")), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--systemd-cgroup"), "{e}");
        assert!(placement(Some(Path::new("/a/b")), "x", true).is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
