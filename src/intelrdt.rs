//! `linux.intelRdt`: cache and memory-bandwidth allocation, and monitoring,
//! through the resctrl filesystem (runtime spec 1.3, as runc does it).
//!
//! The container's init joins a CTRL_MON group: `closID` (`/` is the root
//! of resctrl, the default CLOS), or one named after the container. A
//! group rt creates gets the `schemata` lines (`l3CacheSchema`,
//! `memBwSchema`, then `schemata`) in one write; a `closID` without any of
//! them must exist already. `enableMonitoring` gives the container a MON
//! group of its own, `mon_groups/<id>` in that group. `delete` removes the
//! MON group, and the CTRL_MON group only when rt created it for a config
//! without `closID` (a named group is shared, and managed elsewhere).
//!
//! Without a mounted resctrl (no RDT hardware, or not mounted) a request is
//! a clear error, before anything is created.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where resctrl is mounted, if it is.
pub fn mount_point() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        (right.split(' ').next() == Some("resctrl")).then(|| PathBuf::from(mount_point))
    })
}

/// Refuse a request this host cannot honour (runc's checks and words); the
/// resctrl root otherwise.
pub fn check(rdt: Option<&LinuxIntelRdt>) -> Result<Option<PathBuf>> {
    let Some(rdt) = rdt else { return Ok(None) };
    check_in(rdt, mount_point()).map(Some)
}

fn check_in(rdt: &LinuxIntelRdt, root: Option<PathBuf>) -> Result<PathBuf> {
    let Some(root) = root else {
        return Err(Error::Config(
            "intelRdt is specified in config, but Intel RDT is not enabled (no resctrl filesystem is mounted)".into(),
        ));
    };
    if let Some(clos) = rdt.clos_id() {
        if clos == "." || clos == ".." || (clos.len() > 1 && clos.contains('/')) {
            return Err(Error::Config(format!("invalid intelRdt.ClosID {clos:?}")));
        }
    }
    // resctrl lists what the hardware (and the kernel command line) allows.
    let info = |what: &str| root.join("info").join(what).exists();
    if rdt
        .l3_cache_schema()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
        && !info("L3")
    {
        return Err(Error::Config(
            "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled"
                .into(),
        ));
    }
    if rdt
        .mem_bw_schema()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
        && !info("MB")
    {
        return Err(Error::Config(
            "intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled".into(),
        ));
    }
    Ok(root)
}

/// The `schemata` file's content for a request, in the order the spec
/// writes them; empty when the request names no schema.
pub fn schemata(rdt: &LinuxIntelRdt) -> String {
    let l3 = rdt.l3_cache_schema().iter();
    let mb = rdt.mem_bw_schema().iter();
    l3.chain(mb)
        .chain(rdt.schemata().iter().flatten())
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What `delete` removes (kept in the state).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Groups {
    /// The CTRL_MON group rt created for a config without `closID`.
    #[serde(default, rename = "intel_rdt_group")]
    pub clos: Option<PathBuf>,
    /// The container's MON group (`enableMonitoring`).
    #[serde(default, rename = "intel_rdt_mon_group")]
    pub mon: Option<PathBuf>,
}

impl Groups {
    /// Remove the groups (their tasks return to the parent group). The MON
    /// group goes first: it lives inside the CTRL_MON group.
    pub fn remove(&self) -> Result<()> {
        for dir in [&self.mon, &self.clos].into_iter().flatten() {
            match fs::remove_dir(dir) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(Error::io(
                        format!("cannot remove resctrl group {}", dir.display()),
                        e,
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Put `pid` in the container's resctrl groups under `root` (a resctrl
/// mount, or a directory laid out like one). On failure, what was created
/// is removed again.
pub fn apply(root: &Path, rdt: &LinuxIntelRdt, id: &str, pid: i32) -> Result<Groups> {
    let clos_id = rdt.clos_id().as_deref().filter(|c| !c.is_empty());
    let dir = match clos_id {
        Some("/") => root.to_path_buf(),
        Some(clos) => root.join(clos),
        None => root.join(id),
    };
    let lines = schemata(rdt);
    if clos_id.is_some() && lines.is_empty() && !dir.is_dir() {
        return Err(Error::Config(format!(
            "intelRdt: clos dir {} not accessible (must be pre-created when schemata, l3CacheSchema and memBwSchema are empty)",
            dir.display()
        )));
    }
    let created = match fs::create_dir(&dir) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(failed(root, format!("cannot create {}", dir.display()), e)),
    };
    let mut groups = Groups {
        clos: created.then(|| dir.clone()),
        mon: None,
    };
    let result = join(root, rdt, id, pid, &dir, &lines, &mut groups);
    if result.is_err() {
        let _ = groups.remove();
    }
    result.map(|()| Groups {
        // A named group is shared: it stays.
        clos: groups.clos.filter(|_| clos_id.is_none()),
        mon: groups.mon,
    })
}

fn join(
    root: &Path,
    rdt: &LinuxIntelRdt,
    id: &str,
    pid: i32,
    dir: &Path,
    lines: &str,
    groups: &mut Groups,
) -> Result<()> {
    if !lines.is_empty() {
        // One write: the kernel checks and applies the lines together.
        fs::write(dir.join("schemata"), lines).map_err(|e| {
            failed(
                root,
                format!("unable to write {lines:?} to {}/schemata", dir.display()),
                e,
            )
        })?;
    }
    add_task(root, dir, pid)?;
    if rdt.enable_monitoring() == &Some(true) {
        let mon = dir.join("mon_groups").join(id);
        match fs::create_dir(&mon) {
            Ok(()) => groups.mon = Some(mon.clone()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(failed(
                    root,
                    format!("cannot create monitoring group {}", mon.display()),
                    e,
                ))
            }
        }
        add_task(root, &mon, pid)?;
    }
    Ok(())
}

fn add_task(root: &Path, dir: &Path, pid: i32) -> Result<()> {
    fs::write(dir.join("tasks"), pid.to_string()).map_err(|e| {
        failed(
            root,
            format!("unable to add pid {pid} to {}/tasks", dir.display()),
            e,
        )
    })
}

/// An error of a resctrl write, with the kernel's reason for the last
/// command, which resctrl keeps in info/last_cmd_status (an errno alone
/// says little: "invalid argument" for any bad schema).
fn failed(root: &Path, what: String, e: std::io::Error) -> Error {
    let status = fs::read_to_string(root.join("info/last_cmd_status")).unwrap_or_default();
    match status.trim() {
        "" | "ok" => Error::io(format!("intelrdt: {what}"), e),
        s => Error::io(format!("intelrdt: {what} (last_cmd_status: {s})"), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(json: &str) -> LinuxIntelRdt {
        serde_json::from_str(json).unwrap()
    }

    /// A directory laid out like a resctrl mount with CAT, MBA and
    /// monitoring (info/L3, info/MB, mon_groups).
    fn resctrl() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for d in ["info/L3", "info/MB", "info/L3_MON", "mon_groups"] {
            fs::create_dir_all(root.path().join(d)).unwrap();
        }
        fs::write(root.path().join("info/last_cmd_status"), "ok\n").unwrap();
        root
    }

    /// What resctrl does on mkdir of a group: its files and mon_groups.
    fn group(dir: &Path) {
        fs::create_dir_all(dir.join("mon_groups")).unwrap();
    }

    #[test]
    fn schemata_lines_in_spec_order() {
        let r = rdt(
            r#"{"l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50", "schemata": ["L2:0=f", ""]}"#,
        );
        assert_eq!(schemata(&r), "L3:0=ff\nMB:0=50\nL2:0=f\n");
        assert_eq!(schemata(&rdt(r#"{"closID": "x"}"#)), "");
    }

    #[test]
    fn requests_this_host_cannot_honour_are_refused_in_runcs_words() {
        let e = check_in(&rdt(r#"{"closID": "gold"}"#), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("intelRdt is specified in config, but Intel RDT is not enabled"),
            "{e}"
        );
        let root = tempfile::tempdir().unwrap();
        let here = || Some(root.path().to_path_buf());
        for bad in ["../x", "a/b", ".", ".."] {
            let e = check_in(&rdt(&format!(r#"{{"closID": "{bad}"}}"#)), here())
                .unwrap_err()
                .to_string();
            assert!(e.contains("invalid intelRdt.ClosID"), "{bad}: {e}");
        }
        let e = check_in(&rdt(r#"{"l3CacheSchema": "L3:0=f"}"#), here())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Intel RDT/CAT is not enabled"), "{e}");
        let e = check_in(&rdt(r#"{"memBwSchema": "MB:0=20"}"#), here())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Intel RDT/MBA is not enabled"), "{e}");
        // The default CLOS, and schemata alone, need nothing more.
        check_in(&rdt(r#"{"closID": "/", "schemata": ["L2:0=f"]}"#), here()).unwrap();
        assert!(check(None).unwrap().is_none());
    }

    #[test]
    fn a_group_of_its_own_gets_the_schemata_and_the_task_and_goes_on_delete() {
        let root = resctrl();
        let r = rdt(r#"{"l3CacheSchema": "L3:0=f", "schemata": ["MB:0=70"]}"#);
        let g = apply(root.path(), &r, "c1", 42).unwrap();
        let dir = root.path().join("c1");
        assert_eq!(g.clos.as_deref(), Some(dir.as_path()));
        assert_eq!(g.mon, None);
        assert_eq!(
            fs::read_to_string(dir.join("schemata")).unwrap(),
            "L3:0=f\nMB:0=70\n"
        );
        assert_eq!(fs::read_to_string(dir.join("tasks")).unwrap(), "42");
        fs::remove_file(dir.join("schemata")).unwrap();
        fs::remove_file(dir.join("tasks")).unwrap();
        g.remove().unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn a_named_group_rt_creates_is_not_removed() {
        let root = resctrl();
        let r = rdt(r#"{"closID": "gold", "schemata": ["L3:0=3"]}"#);
        let g = apply(root.path(), &r, "c1", 42).unwrap();
        assert_eq!(g, Groups::default());
        assert_eq!(
            fs::read_to_string(root.path().join("gold/schemata")).unwrap(),
            "L3:0=3\n"
        );
    }

    #[test]
    fn a_named_group_without_schemata_must_exist() {
        let root = resctrl();
        let e = apply(root.path(), &rdt(r#"{"closID": "silver"}"#), "c1", 42)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be pre-created"), "{e}");
        assert!(!root.path().join("silver").exists());
        fs::create_dir(root.path().join("silver")).unwrap();
        let g = apply(root.path(), &rdt(r#"{"closID": "silver"}"#), "c1", 42).unwrap();
        assert_eq!(g, Groups::default());
        assert_eq!(
            fs::read_to_string(root.path().join("silver/tasks")).unwrap(),
            "42"
        );
        assert!(!root.path().join("silver/schemata").exists());
    }

    #[test]
    fn the_default_clos_is_the_root_with_a_monitoring_group() {
        let root = resctrl();
        let r = rdt(r#"{"closID": "/", "enableMonitoring": true}"#);
        let g = apply(root.path(), &r, "c1", 42).unwrap();
        let mon = root.path().join("mon_groups/c1");
        assert_eq!(g.clos, None);
        assert_eq!(g.mon.as_deref(), Some(mon.as_path()));
        assert_eq!(fs::read_to_string(root.path().join("tasks")).unwrap(), "42");
        assert_eq!(fs::read_to_string(mon.join("tasks")).unwrap(), "42");
        assert!(!root.path().join("schemata").exists());
        fs::remove_file(mon.join("tasks")).unwrap();
        g.remove().unwrap();
        assert!(!mon.exists() && root.path().exists());
    }

    #[test]
    fn monitoring_in_a_group_of_its_own() {
        let root = resctrl();
        group(&root.path().join("c2"));
        let r = rdt(r#"{"enableMonitoring": true}"#);
        let g = apply(root.path(), &r, "c2", 7).unwrap();
        assert_eq!(g.clos, None, "the group existed: not rt's");
        assert_eq!(
            g.mon.as_deref(),
            Some(root.path().join("c2/mon_groups/c2").as_path())
        );
    }

    #[test]
    fn a_failed_write_says_why() {
        let root = resctrl();
        fs::write(
            root.path().join("info/last_cmd_status"),
            "Unknown or unsupported resource name 'L9'\n",
        )
        .unwrap();
        // A group whose schemata cannot be written (here: a directory).
        fs::create_dir_all(root.path().join("gold/schemata")).unwrap();
        let r = rdt(r#"{"closID": "gold", "schemata": ["L9:0=1"]}"#);
        let e = apply(root.path(), &r, "c3", 42).unwrap_err().to_string();
        assert!(e.contains("unable to write \"L9:0=1\\n\""), "{e}");
        assert!(
            e.contains("last_cmd_status: Unknown or unsupported resource name 'L9'"),
            "{e}"
        );
        assert!(!root.path().join("gold/tasks").exists(), "joined anyway");
        // A monitoring group that cannot be made (no mon_groups here).
        let r = rdt(r#"{"closID": "/", "enableMonitoring": true}"#);
        fs::remove_dir(root.path().join("mon_groups")).unwrap();
        let e = apply(root.path(), &r, "c4", 42).unwrap_err().to_string();
        assert!(e.contains("cannot create monitoring group"), "{e}");
        assert!(root.path().exists(), "the default CLOS is never removed");
    }
}
