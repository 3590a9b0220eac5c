//! Resources on cgroup v2: one directory holds every controller's files.
//! v1-shaped OCI values are converted as runc's fs2 driver converts them;
//! values v2 cannot express are skipped with a warning, as runc skips them.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::{convert, devices, ebpf, file, CgroupPaths, Devices};
use crate::error::{Error, Result};
use crate::logging;

pub fn apply(paths: &CgroupPaths, r: &LinuxResources, devs: Devices) -> Result<()> {
    let dir = paths
        .dirs
        .first()
        .ok_or_else(|| Error::Resource("the container has no cgroup v2 directory".into()))?;
    enable_controllers(paths, dir)?;
    if let Some(p) = r.pids() {
        file::write(dir, "pids.max", &convert::pids_max(p.limit()))?;
    }
    if let Some(m) = r.memory() {
        set_memory(dir, m)?;
    }
    if let Some(b) = r.block_io() {
        set_io(dir, b)?;
    }
    if let Some(c) = r.cpu() {
        set_cpu(dir, c)?;
    }
    if devs == Devices::Set {
        ebpf::attach(dir, &devices::rules(r.devices().as_deref())?)?;
    }
    if let Some(c) = r.cpu() {
        for (name, value) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                file::write(dir, name, v)?;
            }
        }
    }
    for l in r.hugepage_limits().as_deref().unwrap_or_default() {
        let value = l.limit().to_string();
        file::write(dir, &format!("hugetlb.{}.max", l.page_size()), &value)?;
        // Reservations are limited alike where the kernel accounts them.
        let rsvd = format!("hugetlb.{}.rsvd.max", l.page_size());
        if file::exists(dir, &rsvd) {
            file::write(dir, &rsvd, &value)?;
        }
    }
    for line in convert::rdma_lines(r.rdma().as_ref().unwrap_or(&HashMap::new())) {
        file::write(dir, "rdma.max", &line)?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            logging::warn("linux.resources.network is ignored: cgroup v2 has no net_cls or net_prio controller");
        }
    }
    set_unified(dir, r.unified().as_ref())
}

/// A controller's files appear in a cgroup only once every ancestor lists
/// it in cgroup.subtree_control: enable whatever each level offers, from
/// the hierarchy root down to the container's parent.
fn enable_controllers(paths: &CgroupPaths, dir: &Path) -> Result<()> {
    let levels: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take(paths.rel.components().count())
        .collect();
    for level in levels.into_iter().rev() {
        let available = file::read(level, "cgroup.controllers")?;
        let enabled = file::read(level, "cgroup.subtree_control")?;
        let missing: Vec<String> = available
            .split_whitespace()
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        // One refused controller (busy, or threaded-only) must not keep the
        // others off: fall back to enabling them one by one.
        if file::write(level, "cgroup.subtree_control", &missing.join(" ")).is_err() {
            for c in &missing {
                if let Err(e) = file::write(level, "cgroup.subtree_control", c) {
                    logging::debug(&format!("controller {c} stays off: {e}"));
                }
            }
        }
    }
    Ok(())
}

fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        logging::warn("memory.kernel and memory.kernelTCP are ignored (the kernel no longer limits kernel memory on its own)");
    }
    if m.disable_oom_killer() == Some(true) {
        logging::warn(
            "memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer",
        );
    }
    if m.swappiness().is_some_and(|s| s != u64::MAX) {
        logging::warn("memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness");
    }
    if m.use_hierarchy() == Some(false) {
        logging::warn("memory.useHierarchy=false is ignored: cgroup v2 is always hierarchical");
    }
    let (limit, swap, reservation) = (
        m.limit().filter(|v| *v != 0),
        m.swap().filter(|v| *v != 0),
        m.reservation().filter(|v| *v != 0),
    );
    if limit.is_none() && swap.is_none() && reservation.is_none() {
        return Ok(());
    }
    if m.check_before_update() == Some(true) {
        convert::check_below_usage(limit, swap, file::read_u64(dir, "memory.current")?)?;
    }
    if let Some(s) = convert::swap_to_v2(swap, limit)? {
        let value = convert::v2_limit(s);
        // Without swap accounting there is no memory.swap.max; asking for
        // "no swap" or "any swap" there is already what happens.
        let pointless = (value == "max" || value == "0") && !file::exists(dir, "memory.swap.max");
        if !pointless {
            file::write(dir, "memory.swap.max", &value)?;
        }
    }
    if let Some(l) = limit {
        file::write(dir, "memory.max", &convert::v2_limit(l))?;
    }
    if let Some(r) = reservation {
        file::write(dir, "memory.low", &convert::v2_limit(r))?;
    }
    Ok(())
}

fn set_io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        logging::warn("blockIO leaf weights are ignored: cgroup v2 has no leaf weights");
    }
    // BFQ takes v1's weight range as is; io.weight needs it converted.
    let bfq = file::exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            file::write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            file::write(
                dir,
                "io.weight",
                &convert::blkio_to_io_weight(w).to_string(),
            )?;
        }
    }
    for d in b.weight_device().as_deref().unwrap_or_default() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let (name, value) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", convert::blkio_to_io_weight(w))
            };
            file::write(dir, name, &format!("{}:{} {value}", d.major(), d.minor()))?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.as_deref().unwrap_or_default() {
            file::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        logging::warn("cpu.realtimeRuntime and cpu.realtimePeriod are ignored: cgroup v2 has no realtime group scheduling");
    }
    if let Some(idle) = c.idle() {
        file::write(dir, "cpu.idle", &idle.to_string())?;
    }
    let weight = convert::shares_to_weight(c.shares().unwrap_or(0));
    if weight != 0 {
        file::write(dir, "cpu.weight", &weight.to_string())?;
    }
    let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
    let max = (quota != 0 || period != 0).then(|| {
        let quota = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        (
            "cpu.max",
            format!("{quota} {}", if period == 0 { 100_000 } else { period }),
        )
    });
    let burst: Vec<_> = c
        .burst()
        .map(|b| ("cpu.max.burst", b.to_string()))
        .into_iter()
        .collect();
    file::write_around(dir, &burst, max)
}

/// Raw v2 files, written last so they win over the converted values.
fn set_unified(dir: &Path, unified: Option<&HashMap<String, String>>) -> Result<()> {
    let mut keys: Vec<(&String, &String)> = unified.into_iter().flatten().collect();
    keys.sort();
    for (key, value) in keys {
        if key.contains('/') || key.starts_with('.') {
            return Err(Error::Resource(format!(
                "linux.resources.unified key {key:?} must be a file name"
            )));
        }
        file::write(dir, key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake unified hierarchy: the files v2 writes exist, empty, so the
    /// writes land as they would in cgroupfs (where a missing file fails).
    fn fake(files: &[&str]) -> (tempfile::TempDir, CgroupPaths) {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("rt-test/c1");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for level in [root.path(), &root.path().join("rt-test")] {
            std::fs::write(level.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
            std::fs::write(level.join("cgroup.subtree_control"), "").expect("write");
        }
        for f in files {
            std::fs::write(dir.join(f), "").expect("write");
        }
        let paths = CgroupPaths {
            dirs: vec![dir],
            unified: true,
            rel: "rt-test/c1".into(),
            ..Default::default()
        };
        (root, paths)
    }

    fn read(paths: &CgroupPaths, file: &str) -> String {
        std::fs::read_to_string(paths.dirs[0].join(file)).unwrap_or_default()
    }

    #[test]
    fn converts_v1_values() {
        let files = [
            "pids.max",
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "cpu.weight",
            "cpu.max",
            "io.weight",
            "io.max",
            "cpuset.cpus",
            "hugetlb.2MB.max",
            "rdma.max",
            "memory.high",
        ];
        let (root, paths) = fake(&files);
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 100663296, "reservation": 33554432, "swappiness": 10},
            "cpu": {"shares": 1024, "quota": 20000, "cpus": "0-1", "realtimeRuntime": 1000},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "rdma": {"mlx5_0": {"hcaHandles": 3}},
            "network": {"classID": 1},
            "unified": {"memory.high": "50000000"}
        }))
        .expect("valid resources");
        apply(&paths, &r, Devices::Keep).expect("apply");
        let want = [
            ("pids.max", "max"),
            ("memory.max", "67108864"),
            ("memory.swap.max", "33554432"),
            ("memory.low", "33554432"),
            ("cpu.weight", "39"),
            ("cpu.max", "20000 100000"),
            ("io.weight", "4950"),
            ("io.max", "8:0 rbps=1024"),
            ("cpuset.cpus", "0-1"),
            ("hugetlb.2MB.max", "4194304"),
            ("rdma.max", "mlx5_0 hca_handle=3"),
            ("memory.high", "50000000"),
        ];
        for (file, value) in want {
            assert_eq!(read(&paths, file), value, "{file}");
        }
        let enabled = std::fs::read_to_string(root.path().join("rt-test/cgroup.subtree_control"))
            .unwrap_or_default();
        assert_eq!(enabled, "+cpu +memory +pids");
    }

    #[test]
    fn refuses_bad_values() {
        let (_root, paths) = fake(&["memory.max", "memory.swap.max"]);
        let swap_only: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"swap": 1000}})).expect("valid");
        assert!(apply(&paths, &swap_only, Devices::Keep).is_err());
        let path_key: LinuxResources =
            serde_json::from_value(serde_json::json!({"unified": {"../x": "1"}})).expect("valid");
        assert!(apply(&paths, &path_key, Devices::Keep).is_err());
    }
}
