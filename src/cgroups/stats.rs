//! Usage statistics of a container's cgroup, in the JSON shape of runc's
//! `events` data (github.com/opencontainers/runc/types), so tools that
//! parse runc's output parse rt's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{file, CgroupPaths};
use crate::error::Result;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// A v2 "max" (read as u64::MAX) is reported as 0, "no limit", like runc.
fn limit(v: u64) -> u64 {
    if v == u64::MAX {
        0
    } else {
        v
    }
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Huge page sizes as cgroup files name them (2MB, 1GB), from sysfs.
fn hugepage_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, String)> = entries
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .map(|kb: u64| {
            let name = match kb {
                kb if kb % (1 << 20) == 0 => format!("{}GB", kb >> 20),
                kb if kb % (1 << 10) == 0 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            };
            (kb, name)
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, n)| n).collect()
}

pub fn read(paths: &CgroupPaths) -> Result<Stats> {
    if paths.unified {
        match paths.dirs.first() {
            Some(dir) => v2(dir),
            None => Ok(Stats::default()),
        }
    } else {
        v1(paths)
    }
}

fn v1(paths: &CgroupPaths) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(dir) = paths.dir_for("cpuacct") {
        s.cpu.usage = v1_cpuacct(dir)?;
    }
    if let Some(dir) = paths.dir_for("cpu") {
        s.cpu.throttling = throttling(dir, 1)?;
    }
    if let Some(dir) = paths.dir_for("memory") {
        let raw: BTreeMap<String, u64> = file::key_values(&file::read(dir, "memory.stat")?)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        s.memory = Memory {
            cache: raw.get("cache").copied().unwrap_or(0),
            usage: v1_memory_entry(dir, "memory")?,
            swap: v1_memory_entry(dir, "memory.memsw")?,
            kernel: v1_memory_entry(dir, "memory.kmem")?,
            kernel_tcp: v1_memory_entry(dir, "memory.kmem.tcp")?,
            raw,
        };
    }
    if let Some(dir) = paths.dir_for("pids") {
        s.pids = pids(dir)?;
    }
    if let Some(dir) = paths.dir_for("blkio") {
        s.blkio = v1_blkio(dir)?;
    }
    if let Some(dir) = paths.dir_for("hugetlb") {
        for size in hugepage_sizes() {
            let entry = |what: &str| file::read_u64_or_zero(dir, &format!("hugetlb.{size}.{what}"));
            let h = Hugetlb {
                usage: entry("usage_in_bytes")?,
                max: entry("max_usage_in_bytes")?,
                failcnt: entry("failcnt")?,
            };
            s.hugetlb.insert(size, h);
        }
    }
    Ok(s)
}

fn v1_cpuacct(dir: &Path) -> Result<CpuUsage> {
    // cpuacct.stat counts USER_HZ ticks.
    let tick_ns = match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => 1_000_000_000 / hz as u64,
        _ => 10_000_000,
    };
    let stat = file::read_optional(dir, "cpuacct.stat")?.unwrap_or_default();
    let ticks = |key: &str| {
        file::key_values(&stat)
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, v)| v)
    };
    // usage_all: a header line, then "cpu user system" per cpu.
    let all = file::read_optional(dir, "cpuacct.usage_all")?.unwrap_or_default();
    let rows: Vec<Vec<u64>> = all
        .lines()
        .skip(1)
        .map(numbers)
        .filter(|r| r.len() == 3)
        .collect();
    Ok(CpuUsage {
        total: file::read_u64_or_zero(dir, "cpuacct.usage")?,
        percpu: numbers(&file::read_optional(dir, "cpuacct.usage_percpu")?.unwrap_or_default()),
        percpu_kernel: rows.iter().map(|r| r[2]).collect(),
        percpu_user: rows.iter().map(|r| r[1]).collect(),
        kernel: ticks("system") * tick_ns,
        user: ticks("user") * tick_ns,
    })
}

/// cpu.stat's throttling counters; v1 counts time in ns, v2 in µs.
fn throttling(dir: &Path, time_scale: u64) -> Result<Throttling> {
    let stat = file::read_optional(dir, "cpu.stat")?.unwrap_or_default();
    let mut t = Throttling::default();
    for (k, v) in file::key_values(&stat) {
        match k {
            "nr_periods" => t.periods = v,
            "nr_throttled" => t.throttled_periods = v,
            "throttled_time" | "throttled_usec" => t.throttled_time = v * time_scale,
            _ => {}
        }
    }
    Ok(t)
}

fn v1_memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let get = |what: &str| file::read_u64_or_zero(dir, &format!("{prefix}.{what}"));
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage: get("usage_in_bytes")?,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

fn pids(dir: &Path) -> Result<Pids> {
    Ok(Pids {
        current: file::read_u64_or_zero(dir, "pids.current")?,
        limit: limit(file::read_u64_or_zero(dir, "pids.max")?),
    })
}

/// CFQ's counters, else BFQ's, else the throttling layer's, as runc reads.
fn v1_blkio(dir: &Path) -> Result<Blkio> {
    for prefix in ["blkio", "blkio.bfq", "blkio.throttle"] {
        let bytes = file::read_optional(dir, &format!("{prefix}.io_service_bytes_recursive"))?;
        let ios = file::read_optional(dir, &format!("{prefix}.io_serviced_recursive"))?;
        if let (Some(bytes), Some(ios)) = (bytes, ios) {
            return Ok(Blkio {
                io_service_bytes_recursive: v1_blkio_entries(&bytes),
                io_serviced_recursive: v1_blkio_entries(&ios),
            });
        }
    }
    Ok(Blkio::default())
}

/// `8:0 Read 4096` lines; the closing `Total N` is not per device.
fn v1_blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?.parse().ok()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

fn v2(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = file::read_optional(dir, "cpu.stat")?.unwrap_or_default();
    for (k, v) in file::key_values(&cpu) {
        match k {
            "usage_usec" => s.cpu.usage.total = v * 1000,
            "user_usec" => s.cpu.usage.user = v * 1000,
            "system_usec" => s.cpu.usage.kernel = v * 1000,
            _ => {}
        }
    }
    s.cpu.throttling = throttling(dir, 1000)?;
    if let Some(stat) = file::read_optional(dir, "memory.stat")? {
        s.memory.raw = file::key_values(&stat)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
        let usage = file::read_u64_or_zero(dir, "memory.current")?;
        let max = file::read_u64_or_zero(dir, "memory.max")?;
        s.memory.usage = MemoryEntry {
            limit: max,
            usage,
            max: file::read_u64_or_zero(dir, "memory.peak")?,
            failcnt: file::keyed_u64(dir, "memory.events", "max")?,
        };
        // runc reports v2 swap as memory+swap, v1's memsw.
        let swap_max = file::read_u64_or_zero(dir, "memory.swap.max")?;
        s.memory.swap = MemoryEntry {
            limit: if swap_max == u64::MAX || max == u64::MAX {
                u64::MAX
            } else {
                swap_max + max
            },
            usage: usage + file::read_u64_or_zero(dir, "memory.swap.current")?,
            max: 0,
            failcnt: file::keyed_u64(dir, "memory.swap.events", "max")?,
        };
    }
    s.pids = pids(dir)?;
    if let Some(io) = file::read_optional(dir, "io.stat")? {
        s.blkio = v2_io(&io);
    }
    for size in hugepage_sizes() {
        if let Some(usage) = file::read_optional(dir, &format!("hugetlb.{size}.current"))? {
            let usage = file::parse_u64(dir, "hugetlb.current", &usage)?;
            let failcnt = file::keyed_u64(dir, &format!("hugetlb.{size}.events"), "max")?;
            s.hugetlb.insert(
                size,
                Hugetlb {
                    usage,
                    max: 0,
                    failcnt,
                },
            );
        }
    }
    Ok(s)
}

/// `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...` lines.
fn v2_io(text: &str) -> Blkio {
    let mut b = Blkio::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines() {
        let v1 = v1_blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(
            v1,
            vec![
                BlkioEntry {
                    major: 8,
                    minor: 0,
                    op: "Read".into(),
                    value: 4096
                },
                BlkioEntry {
                    major: 8,
                    minor: 0,
                    op: "Write".into(),
                    value: 0
                },
            ]
        );
        let v2 = v2_io("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(v2.io_service_bytes_recursive.len(), 2);
        assert_eq!(
            v2.io_serviced_recursive[1],
            BlkioEntry {
                major: 259,
                minor: 0,
                op: "Write".into(),
                value: 2
            }
        );
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(Stats::default()).expect("stats serialize");
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(
            v["cpu"]["usage"].get("total").is_none(),
            "zero total is omitted like Go's omitempty"
        );
        assert_eq!(v["memory"]["usage"]["limit"], 0);
        assert!(v["memory"].get("kernelTCP").is_some());
        assert!(v["pids"].as_object().is_some_and(|o| o.is_empty()));
    }
}
