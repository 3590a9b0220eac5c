//! `rt update`: change a running container's limits, with runc's flags or
//! an OCI `linux.resources` document (`-r FILE`, `-` for stdin).
//!
//! Like runc, only the limits runc's update knows are taken (memory, cpu,
//! cpuset, blkio weights and throttles, pids, unified), and a zero or empty
//! value means "leave it alone": containerd sends every field, unset ones
//! as zero — except where 0 is a value of its own (cpu burst and idle,
//! pids, a throttle's rate).
//! Device rules are never changed.

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cgroups::Driver;
use crate::error::{Context, Error, Result};
use crate::logging;
use crate::state::Store;

#[derive(Debug, Default, clap::Args)]
pub struct UpdateArgs {
    /// Read the limits from FILE ('-' for stdin) as OCI linux.resources
    /// JSON; the other flags are then ignored.
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g ... allowed; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit in bytes.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes; -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Obsolete: ignored with a warning, as runc does.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Obsolete: ignored with a warning, as runc does.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CFS quota in microseconds per period (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CFS burst in microseconds: run time a period may borrow from idle
    /// ones beyond the quota (0 for none).
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// SCHED_IDLE for the cgroup's tasks: 1 on, 0 off.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds per period.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may run on (e.g. 0-1,3).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

pub fn update(store: &Store, id: &str, args: &UpdateArgs) -> Result<()> {
    let requested = match &args.resources {
        Some(path) => parse_document(&read_document(path)?)?,
        None => from_flags(args)?,
    };
    let r = runc_fields(&requested);
    let _locked = store.lock(id)?;
    let (st, _) = super::load_in(store, id, super::LIVE, "update it")?;
    Driver::of(&st.cgroups).update(&st.cgroups, &r)
}

fn read_document(path: &PathBuf) -> Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .ctx(|| "cannot read resources from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .ctx(|| format!("cannot read resources from {}", path.display()))?;
    }
    Ok(text)
}

fn parse_document(text: &str) -> Result<LinuxResources> {
    crate::gojson::from_slice(text.as_bytes())
        .map_err(|e| Error::Usage(format!("invalid resources JSON: {e}")))
}

fn from_flags(a: &UpdateArgs) -> Result<LinuxResources> {
    let bytes = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                parse_bytes(s)
                    .map_err(|why| Error::Usage(format!("invalid value for --{flag}: {why}")))
            })
            .transpose()
    };
    let mut memory = LinuxMemory::default();
    memory.set_limit(bytes("memory", &a.memory)?);
    memory.set_reservation(bytes("memory-reservation", &a.memory_reservation)?);
    memory.set_swap(bytes("memory-swap", &a.memory_swap)?);
    memory.set_kernel(bytes("kernel-memory", &a.kernel_memory)?);
    memory.set_kernel_tcp(bytes("kernel-memory-tcp", &a.kernel_memory_tcp)?);
    let mut cpu = LinuxCpu::default();
    cpu.set_quota(a.cpu_quota);
    cpu.set_period(a.cpu_period);
    cpu.set_burst(a.cpu_burst);
    cpu.set_idle(a.cpu_idle);
    cpu.set_shares(a.cpu_share);
    cpu.set_realtime_period(a.cpu_rt_period);
    cpu.set_realtime_runtime(a.cpu_rt_runtime);
    cpu.set_cpus(a.cpuset_cpus.clone());
    cpu.set_mems(a.cpuset_mems.clone());
    let mut r = LinuxResources::default();
    r.set_memory(Some(memory));
    r.set_cpu(Some(cpu));
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    if let Some(l) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        r.set_pids(Some(p));
    }
    Ok(r)
}

/// The fields runc's update applies, zeros and empty strings dropped.
fn runc_fields(req: &LinuxResources) -> LinuxResources {
    fn set<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
        v.filter(|v| *v != T::default())
    }
    let mut r = LinuxResources::default();
    if let Some(m) = req.memory() {
        if set(m.kernel()).is_some() || set(m.kernel_tcp()).is_some() {
            logging::warn("kernel memory settings are ignored");
        }
        let mut memory = LinuxMemory::default();
        memory.set_limit(set(m.limit()));
        memory.set_reservation(set(m.reservation()));
        memory.set_swap(set(m.swap()));
        memory.set_check_before_update(m.check_before_update());
        r.set_memory(Some(memory));
    }
    if let Some(c) = req.cpu() {
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(set(c.shares()));
        cpu.set_quota(set(c.quota()));
        cpu.set_period(set(c.period()));
        // Given, 0 included, is written: 0 switches the burst off.
        cpu.set_burst(c.burst());
        cpu.set_idle(c.idle());
        cpu.set_realtime_runtime(set(c.realtime_runtime()));
        cpu.set_realtime_period(set(c.realtime_period()));
        cpu.set_cpus(set(c.cpus().clone()));
        cpu.set_mems(set(c.mems().clone()));
        r.set_cpu(Some(cpu));
    }
    if let Some(b) = req.block_io() {
        // Per-device entries replace the device's current one, as runc's
        // update upserts them; a rate of 0 lifts that device's throttle.
        let mut blk = LinuxBlockIo::default();
        blk.set_weight(set(b.weight()));
        blk.set_leaf_weight(set(b.leaf_weight()));
        blk.set_weight_device(list(b.weight_device()));
        blk.set_throttle_read_bps_device(list(b.throttle_read_bps_device()));
        blk.set_throttle_write_bps_device(list(b.throttle_write_bps_device()));
        blk.set_throttle_read_iops_device(list(b.throttle_read_iops_device()));
        blk.set_throttle_write_iops_device(list(b.throttle_write_iops_device()));
        if blk != LinuxBlockIo::default() {
            r.set_block_io(Some(blk));
        }
    }
    r.set_pids(*req.pids());
    r.set_unified(req.unified().clone().filter(|u| !u.is_empty()));
    r
}

/// A per-device list, unless empty.
fn list<T: Clone>(l: &Option<Vec<T>>) -> Option<Vec<T>> {
    l.clone().filter(|l| !l.is_empty())
}

/// A size as docker and runc take it: `1024`, `64m`, `1.5GiB`, binary
/// units; `-1` is "unlimited".
fn parse_bytes(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("{s:?} has an unknown unit")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(0.0..9.2e18).contains(&bytes) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64m"), Ok(64 << 20));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2 KB"), Ok(2048));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("m").is_err());
    }

    #[test]
    fn zeros_are_left_alone() {
        let doc = r#"{"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0},
                      "cpu": {"shares": 0, "quota": 20000, "period": 0, "cpus": "", "mems": "0"},
                      "blockIO": {"weight": 0}, "pids": {"limit": 0},
                      "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
                      "devices": [{"allow": true, "access": "rwm"}]}"#;
        let r = runc_fields(&parse_document(doc).expect("valid document"));
        let m = (*r.memory()).unwrap_or_default();
        assert_eq!((m.limit(), m.reservation(), m.swap()), (None, None, None));
        let c = r.cpu().clone().unwrap_or_default();
        assert_eq!(
            (c.shares(), c.quota(), c.period()),
            (None, Some(20000), None)
        );
        assert_eq!(
            (c.cpus().as_deref(), c.mems().as_deref()),
            (None, Some("0"))
        );
        assert!(r.block_io().is_none() && r.hugepage_limits().is_none() && r.devices().is_none());
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(0));
    }

    #[test]
    fn flags() {
        let a = UpdateArgs {
            memory: Some("32m".into()),
            pids_limit: Some(10),
            blkio_weight: Some(300),
            cpu_idle: Some(0),
            ..Default::default()
        };
        let r = runc_fields(&from_flags(&a).expect("valid flags"));
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(32 << 20));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert_eq!(r.block_io().as_ref().and_then(|b| b.weight()), Some(300));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.shares()), None);
        assert_eq!(r.cpu().as_ref().and_then(|c| c.idle()), Some(0));
    }
}
