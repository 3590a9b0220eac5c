//! `linux.intelRdt`: cache and memory-bandwidth allocation through the
//! resctrl filesystem. The container's init joins a resctrl group (its
//! `closID`, or one named after the container) whose `schemata` get the
//! configured lines. Without a mounted resctrl (no RDT hardware, or not
//! mounted) a request is a clear error, before anything is created.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;

use crate::error::{Context, Error, Result};

/// Where resctrl is mounted, if it is.
pub fn mount_point() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        (right.split(' ').next() == Some("resctrl")).then(|| PathBuf::from(mount_point))
    })
}

/// Refuse a request this host cannot honour; the resctrl root otherwise.
pub fn check(rdt: Option<&LinuxIntelRdt>) -> Result<Option<PathBuf>> {
    let Some(rdt) = rdt else { return Ok(None) };
    if let Some(clos) = rdt.clos_id() {
        if clos.is_empty() || clos.contains('/') || clos == "." || clos == ".." {
            return Err(Error::Config(format!(
                "linux.intelRdt.closID {clos:?} is not a valid group name"
            )));
        }
    }
    match mount_point() {
        Some(root) => Ok(Some(root)),
        None => Err(Error::Config("linux.intelRdt: resctrl is not mounted on this host (no Intel RDT, or mount -t resctrl resctrl /sys/fs/resctrl)".into())),
    }
}

/// The `schemata` lines of a request, in the order the spec lists them.
pub fn schemata(rdt: &LinuxIntelRdt) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    lines.extend(rdt.l3_cache_schema().iter().cloned());
    lines.extend(rdt.mem_bw_schema().iter().cloned());
    lines.extend(rdt.schemata().iter().flatten().cloned());
    lines.into_iter().filter(|l| !l.trim().is_empty()).collect()
}

/// Put `pid` in the container's resctrl group under `root`. Returns the
/// group directory when rt created it (and `delete` must remove it).
pub fn apply(root: &Path, rdt: &LinuxIntelRdt, id: &str, pid: i32) -> Result<Option<PathBuf>> {
    let dir = root.join(rdt.clos_id().as_deref().unwrap_or(id));
    let created = match fs::create_dir(&dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(Error::io(
                format!("cannot create resctrl group {}", dir.display()),
                e,
            ))
        }
    };
    let result = (|| {
        for line in schemata(rdt) {
            fs::write(dir.join("schemata"), format!("{line}\n"))
                .ctx(|| format!("cannot write {line:?} to {}/schemata", dir.display()))?;
        }
        fs::write(dir.join("tasks"), pid.to_string())
            .ctx(|| format!("cannot add pid {pid} to {}/tasks", dir.display()))
    })();
    match result {
        Ok(()) => Ok(created.then_some(dir)),
        Err(e) => {
            if created {
                let _ = fs::remove_dir(&dir);
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(json: &str) -> LinuxIntelRdt {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn schemata_lines_in_spec_order() {
        let r = rdt(
            r#"{"l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50", "schemata": ["L2:0=f", ""]}"#,
        );
        assert_eq!(schemata(&r), vec!["L3:0=ff", "MB:0=50", "L2:0=f"]);
    }

    #[test]
    fn bad_clos_id_is_refused() {
        let e = check(Some(&rdt(r#"{"closID": "../x"}"#)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("closID"), "{e}");
        if mount_point().is_none() {
            let e = check(Some(&rdt(r#"{"closID": "gold"}"#)))
                .unwrap_err()
                .to_string();
            assert!(e.contains("resctrl is not mounted"), "{e}");
        }
        assert!(check(None).unwrap().is_none());
    }

    #[test]
    fn apply_writes_schemata_and_task_into_a_group() {
        let root = std::env::temp_dir().join(format!("rt-resctrl-test-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let r = rdt(r#"{"l3CacheSchema": "L3:0=f"}"#);
        let dir = apply(&root, &r, "c1", 42).unwrap().unwrap();
        assert_eq!(dir, root.join("c1"));
        assert_eq!(
            fs::read_to_string(dir.join("schemata")).unwrap(),
            "L3:0=f\n"
        );
        assert_eq!(fs::read_to_string(dir.join("tasks")).unwrap(), "42");
        // An existing group (a shared closID) is joined, not owned.
        assert!(apply(&root, &r, "c1", 43).unwrap().is_none());
        fs::remove_dir_all(root).unwrap();
    }
}
