//! The OCI resources are shaped after cgroup v1; these turn v1 values into
//! their v2 equivalents with the formulas runc uses, so a config means the
//! same on either host.

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
        (_, 0) => Err(Error::Resource("memory.swap cannot be set without memory.limit on cgroup v2".into())),
        (_, m) if m < 0 => Err(Error::Resource(format!("invalid memory.limit {m}"))),
        (s, m) if s < m => Err(Error::Resource(format!("memory.swap {s} (memory+swap) is below memory.limit {m}"))),
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
        assert_eq!(swap_to_v2(Some(96 * mib), Some(64 * mib)).ok(), Some(Some(32 * mib)));
        assert_eq!(swap_to_v2(Some(64 * mib), Some(64 * mib)).ok(), Some(Some(0)));
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
    }
}
