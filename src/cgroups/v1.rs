//! Resources on cgroup v1: every controller has its own hierarchy, so each
//! value goes to the directory of the controller that owns it. The order of
//! the controllers and of the writes inside each follows runc's fs driver,
//! so rt and runc leave the same values in the same files.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxRdma, LinuxResources, LinuxThrottleDevice,
};

use super::{convert, devices, file, CgroupPaths, Devices};
use crate::error::{Error, Result};
use crate::logging;

pub fn apply(paths: &CgroupPaths, r: &LinuxResources, devs: Devices) -> Result<()> {
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        // runc's words: clients match "invalid configuration".
        return Err(Error::Resource(
            "invalid configuration: linux.resources.unified needs cgroup v2, and this host's controllers are on cgroup v1"
                .into(),
        ));
    }
    if let Some(cpu) = r.cpu() {
        set_cpuset(paths, cpu)?;
    }
    if devs == Devices::Set {
        set_devices(paths, r.devices().as_deref())?;
    }
    if let Some(m) = r.memory() {
        set_memory(paths, m)?;
    }
    if let Some(cpu) = r.cpu() {
        set_cpu(paths, cpu)?;
    }
    if let Some(p) = r.pids() {
        file::write(
            need(paths, "pids")?,
            "pids.max",
            &convert::pids_max(p.limit()),
        )?;
    }
    if let Some(b) = r.block_io() {
        set_blkio(paths, b)?;
    }
    set_hugetlb(paths, r.hugepage_limits().as_deref().unwrap_or_default())?;
    if let Some(n) = r.network() {
        set_network(paths, n)?;
    }
    set_rdma(paths, r.rdma().as_ref())
}

/// The directory of a controller a requested value needs.
fn need<'a>(paths: &'a CgroupPaths, controller: &str) -> Result<&'a Path> {
    paths.dir_for(controller).ok_or_else(|| {
        Error::Resource(format!(
            "cannot set {controller} limits: no {controller} cgroup hierarchy is mounted"
        ))
    })
}

fn set_cpuset(paths: &CgroupPaths, cpu: &LinuxCpu) -> Result<()> {
    for (name, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            file::write(need(paths, "cpuset")?, name, v)?;
        }
    }
    Ok(())
}

/// Deny everything, then the rules in order: the kernel applies each line
/// to the list as it stands, as the OCI rules are meant to be read.
fn set_devices(paths: &CgroupPaths, config: Option<&[LinuxDeviceCgroup]>) -> Result<()> {
    let rules = devices::rules(config)?;
    let Some(dir) = paths.dir_for("devices") else {
        if config.is_some_and(|c| !c.is_empty()) {
            return Err(Error::Resource(
                "cannot set device rules: no devices cgroup hierarchy is mounted".into(),
            ));
        }
        return Ok(());
    };
    file::write_each(dir, rules.iter().map(|r| (r.v1_file(), r.v1_line())))
}

const MEMSW: &str = "memory.memsw.limit_in_bytes";
const LIMIT: &str = "memory.limit_in_bytes";

fn set_memory(paths: &CgroupPaths, m: &LinuxMemory) -> Result<()> {
    let requested = m.limit().is_some()
        || m.swap().is_some()
        || m.reservation().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.swappiness().is_some()
        || m.use_hierarchy().is_some();
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        logging::warn("memory.kernel and memory.kernelTCP are ignored (the kernel no longer limits kernel memory on its own)");
    }
    if !requested {
        return Ok(());
    }
    let dir = need(paths, "memory")?;
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // An unlimited memory limit with no swap setting lifts memsw too, or
    // the kernel would keep the old memsw cap.
    if limit == -1 && swap == 0 && file::exists(dir, MEMSW) {
        swap = -1;
    }
    if m.check_before_update() == Some(true) {
        convert::check_below_usage(
            m.limit(),
            m.swap(),
            file::read_u64(dir, "memory.usage_in_bytes")?,
        )?;
    }
    // The kernel insists on limit <= memsw at every moment: when memsw
    // grows, write it first.
    let swap_first =
        limit != 0 && swap != 0 && (swap == -1 || file::read_u64(dir, LIMIT)? < swap as u64);
    if swap_first {
        set_nonzero(dir, MEMSW, swap)?;
        set_limit(dir, limit)?;
    } else {
        set_limit(dir, limit)?;
        set_nonzero(dir, MEMSW, swap)?;
    }
    if let Some(r) = m.reservation() {
        set_nonzero(dir, "memory.soft_limit_in_bytes", r)?;
    }
    if m.disable_oom_killer() == Some(true) {
        file::write(dir, "memory.oom_control", "1")?;
    }
    // u64::MAX is Go's -1, "unset", in configs written by Go tools.
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
        if s > 100 {
            return Err(Error::Resource(format!(
                "invalid memory.swappiness {s} (valid range is 0-100)"
            )));
        }
        file::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(h) = m.use_hierarchy() {
        set_use_hierarchy(dir, h)?;
    }
    Ok(())
}

fn set_nonzero(dir: &Path, name: &str, value: i64) -> Result<()> {
    if value == 0 {
        return Ok(());
    }
    file::write(dir, name, &value.to_string())
}

/// memory.limit_in_bytes; EBUSY means the cgroup uses more than the new
/// limit and the kernel could not reclaim enough.
fn set_limit(dir: &Path, limit: i64) -> Result<()> {
    match set_nonzero(dir, LIMIT, limit) {
        Err(e) if file::errno(&e) == Some(libc::EBUSY) => {
            let usage = file::read_u64(dir, "memory.usage_in_bytes")?;
            let peak = file::read_u64(dir, "memory.max_usage_in_bytes")?;
            Err(Error::Resource(format!(
                "cannot set memory limit to {limit} (current usage: {usage}, peak usage: {peak})"
            )))
        }
        other => other,
    }
}

/// Kernels since 5.x account hierarchically only and refuse to turn it off.
fn set_use_hierarchy(dir: &Path, on: bool) -> Result<()> {
    match file::write(dir, "memory.use_hierarchy", if on { "1" } else { "0" }) {
        Err(e) if !on && file::errno(&e) == Some(libc::EINVAL) => {
            logging::warn("memory.useHierarchy=false is ignored: this kernel always accounts memory hierarchically");
            Ok(())
        }
        other => other,
    }
}

fn set_cpu(paths: &CgroupPaths, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let (rt_runtime, rt_period) = (
        c.realtime_runtime().unwrap_or(0),
        c.realtime_period().unwrap_or(0),
    );
    if shares == 0
        && quota == 0
        && period == 0
        && c.burst().is_none()
        && c.idle().is_none()
        && rt_runtime == 0
        && rt_period == 0
    {
        return Ok(());
    }
    let dir = need(paths, "cpu")?;
    if shares != 0 {
        file::write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps out-of-range shares silently: report it.
        let got = file::read_u64(dir, "cpu.shares")?;
        if got != shares {
            let bound = if shares > got { "maximum" } else { "minimum" };
            return Err(Error::Resource(format!(
                "cpu.shares {shares} is out of range: the {bound} allowed is {got}"
            )));
        }
    }
    let mut before = Vec::new();
    if period != 0 {
        before.push(("cpu.cfs_period_us", period.to_string()));
    }
    if let Some(burst) = c.burst() {
        if file::exists(dir, "cpu.cfs_burst_us") {
            before.push(("cpu.cfs_burst_us", burst.to_string()));
        } else {
            logging::warn("cpu.burst is ignored: this kernel has no cpu.cfs_burst_us");
        }
    }
    let quota = (quota != 0).then(|| ("cpu.cfs_quota_us", quota.to_string()));
    file::write_around(dir, &before, quota)?;
    if let Some(idle) = c.idle() {
        file::write(dir, "cpu.idle", &idle.to_string())?;
    }
    let rt_before: Vec<_> = (rt_period != 0)
        .then(|| ("cpu.rt_period_us", rt_period.to_string()))
        .into_iter()
        .collect();
    let rt_runtime = (rt_runtime != 0).then(|| ("cpu.rt_runtime_us", rt_runtime.to_string()));
    file::write_around(dir, &rt_before, rt_runtime)
}

fn set_blkio(paths: &CgroupPaths, b: &LinuxBlockIo) -> Result<()> {
    let weights = b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().is_some();
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    if !weights
        && throttles
            .iter()
            .all(|(_, t)| t.as_ref().is_none_or(|t| t.is_empty()))
    {
        return Ok(());
    }
    let dir = need(paths, "blkio")?;
    // CFQ's files, or BFQ's where CFQ is gone. With neither, the write below
    // reports the missing blkio.weight.
    let (weight, weight_device) =
        if !file::exists(dir, "blkio.weight") && file::exists(dir, "blkio.bfq.weight") {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            ("blkio.weight", "blkio.weight_device")
        };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        file::write(dir, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        file::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().as_deref().unwrap_or_default() {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            file::write(dir, weight_device, &format!("{dev} {w}"))?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            file::write(dir, "blkio.leaf_weight_device", &format!("{dev} {w}"))?;
        }
    }
    for (name, list) in throttles {
        for t in list.as_deref().unwrap_or_default() {
            file::write(dir, name, &throttle_line(t))?;
        }
    }
    Ok(())
}

fn throttle_line(t: &LinuxThrottleDevice) -> String {
    format!("{}:{} {}", t.major(), t.minor(), t.rate())
}

fn set_hugetlb(paths: &CgroupPaths, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let dir = need(paths, "hugetlb")?;
        let value = l.limit().to_string();
        file::write(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
            &value,
        )?;
        // Reservations are limited alike where the kernel accounts them
        // (5.7+), as runc does.
        let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size());
        if file::exists(dir, &rsvd) {
            file::write(dir, &rsvd, &value)?;
        }
    }
    Ok(())
}

fn set_network(paths: &CgroupPaths, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id().filter(|id| *id != 0) {
        file::write(need(paths, "net_cls")?, "net_cls.classid", &id.to_string())?;
    }
    for p in n.priorities().as_deref().unwrap_or_default() {
        file::write(
            need(paths, "net_prio")?,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

fn set_rdma(paths: &CgroupPaths, rdma: Option<&HashMap<String, LinuxRdma>>) -> Result<()> {
    for line in convert::rdma_lines(rdma.unwrap_or(&HashMap::new())) {
        file::write(need(paths, "rdma")?, "rdma.max", &line)?;
    }
    Ok(())
}
