//! OCI resource values turned into what cgroup files take. The OCI
//! resources are shaped after cgroup v1; the v2 equivalents use the formulas
//! runc uses, so a config means the same on either host.

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use crate::error::{Error, Result};

/// cpu.shares [2, 262144] → cpu.weight [1, 10000], linearly; 0 stays "unset".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] → io.weight [1, 10000], linearly; 0 stays "unset".
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// OCI `memory.swap` is memory+swap (v1's memsw); v2's memory.swap.max is
/// swap alone. Returns the value to write (-1 for "max"), or None to leave
/// memory.swap.max alone.
pub fn swap_to_v2(swap: Option<i64>, memory: Option<i64>) -> Result<Option<i64>> {
    let (swap, memory) = (swap.unwrap_or(0), memory.unwrap_or(0));
    match (swap, memory) {
        // Unlimited memory with no swap setting: make swap unlimited too, as
        // v1's memsw would be.
        (0, -1) => Ok(Some(-1)),
        (0, _) => Ok(None),
        (-1, _) => Ok(Some(-1)),
        (s, -1) => Ok(Some(s)),
        (_, 0) => Err(Error::Resource(
            "memory.swap cannot be set without memory.limit on cgroup v2".into(),
        )),
        (_, m) if m < 0 => Err(Error::Resource(format!("invalid memory.limit {m}"))),
        (s, m) if s < m => Err(Error::Resource(format!(
            "memory.swap {s} (memory+swap) is below memory.limit {m}"
        ))),
        (s, m) => Ok(Some(s - m)),
    }
}

/// A limit as v2 writes it: -1 (or any negative) is "max".
pub fn v2_limit(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// pids.max for an OCI `pids.limit`: negative is "max"; 0, a real limit
/// since runtime-spec 1.3, is 1 as in runc 1.5 — systemd refuses
/// TasksMax=0, and both drivers must mean the same (a container's init
/// needs one pid anyway).
pub fn pids_max(limit: i64) -> String {
    match limit {
        0 => "1".into(),
        l => v2_limit(l),
    }
}

/// rdma.max lines (`mlx5_0 hca_handle=2 hca_object=100`), sorted by device
/// so the writes happen in a stable order.
pub fn rdma_lines(rdma: &HashMap<String, LinuxRdma>) -> Vec<String> {
    let mut lines: Vec<String> = rdma
        .iter()
        .map(|(dev, l)| {
            let mut line = dev.clone();
            if let Some(n) = l.hca_handles() {
                line.push_str(&format!(" hca_handle={n}"));
            }
            if let Some(n) = l.hca_objects() {
                line.push_str(&format!(" hca_object={n}"));
            }
            line
        })
        .collect();
    lines.sort();
    lines
}

/// `memory.checkBeforeUpdate`: refuse a limit at or below what the cgroup
/// already uses instead of letting the kernel reclaim or OOM-kill.
pub fn check_below_usage(limit: Option<i64>, swap: Option<i64>, usage: u64) -> Result<()> {
    for (what, value) in [("memory+swap limit", swap), ("memory limit", limit)] {
        if let Some(v) = value.filter(|v| *v > 0) {
            if v as u64 <= usage {
                return Err(Error::Resource(format!("rejecting {what} {v}: the cgroup already uses {usage} bytes (memory.checkBeforeUpdate)")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn blkio() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap() {
        let mib = 1 << 20;
        assert_eq!(
            swap_to_v2(Some(96 * mib), Some(64 * mib)).ok(),
            Some(Some(32 * mib))
        );
        assert_eq!(
            swap_to_v2(Some(64 * mib), Some(64 * mib)).ok(),
            Some(Some(0))
        );
        assert_eq!(swap_to_v2(None, Some(-1)).ok(), Some(Some(-1)));
        assert_eq!(swap_to_v2(Some(-1), Some(mib)).ok(), Some(Some(-1)));
        assert_eq!(swap_to_v2(None, Some(mib)).ok(), Some(None));
        assert_eq!(swap_to_v2(Some(mib), Some(-1)).ok(), Some(Some(mib)));
        assert!(swap_to_v2(Some(mib), None).is_err());
        assert!(swap_to_v2(Some(mib), Some(2 * mib)).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(v2_limit(-1), "max");
        assert_eq!(v2_limit(5), "5");
        assert_eq!(pids_max(0), "1");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(32), "32");
    }

    #[test]
    fn rdma() {
        let map: HashMap<String, LinuxRdma> = serde_json::from_str(
            r#"{"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 2, "hcaObjects": 100}}"#,
        )
        .expect("valid test JSON");
        assert_eq!(
            rdma_lines(&map),
            vec!["mlx4_0 hca_handle=2 hca_object=100", "mlx5_1 hca_handle=3"]
        );
    }

    #[test]
    fn usage_check() {
        assert!(check_below_usage(Some(100), None, 100).is_err());
        assert!(check_below_usage(None, Some(50), 100).is_err());
        assert!(check_below_usage(Some(200), Some(-1), 100).is_ok());
        assert!(check_below_usage(Some(-1), None, 100).is_ok());
    }
}
