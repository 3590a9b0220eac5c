//! Address management for the bridge: one /24, its .1 on the bridge, one address per
//! container. The state is machine-wide (every store's containers share the bridge) in
//! `/run/rt-stage/network.json`, read and written only under `network.lock`, so
//! concurrent runs never hand out the same address or host port.
//!
//! The subnet is chosen when the bridge is created: the first private /24 of the
//! candidates that overlaps no route of the host (so nothing local is shadowed and
//! nothing is ever routed elsewhere), and kept while the bridge lives.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::record::PortBinding;
use crate::store::lock_file;

pub const RUN_DIR: &str = "/run/rt-stage";
pub const PREFIX: u8 = 24;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub container: String,
    /// The store the container belongs to (several stores share the bridge).
    pub store: PathBuf,
    pub ip: Ipv4Addr,
    pub veth: String,
    pub ports: Vec<PortBinding>,
    /// Its ports go through the userland proxy rather than nftables.
    #[serde(default)]
    pub proxied: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ipam {
    /// The bridge's network address (a /24), while the bridge exists.
    pub subnet: Option<Ipv4Addr>,
    pub allocations: Vec<Allocation>,
}

impl Ipam {
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.subnet.map(|s| host(s, 1))
    }

    /// The lowest free address from .2 up.
    pub fn next_free(&self) -> Result<Ipv4Addr> {
        let subnet = self
            .subnet
            .ok_or_else(|| Error::Network("no subnet chosen".into()))?;
        (2..255)
            .map(|n| host(subnet, n))
            .find(|ip| !self.allocations.iter().any(|a| a.ip == *ip))
            .ok_or_else(|| Error::Network(format!("no free address left in {subnet}/{PREFIX}")))
    }

    pub fn find(&self, store: &Path, container: &str) -> Option<&Allocation> {
        self.allocations
            .iter()
            .find(|a| a.container == container && a.store == store)
    }
}

fn host(subnet: Ipv4Addr, n: u8) -> Ipv4Addr {
    let o = subnet.octets();
    Ipv4Addr::new(o[0], o[1], o[2], n)
}

/// The state under its lock; saved explicitly.
pub struct Locked {
    _lock: File,
    path: PathBuf,
    pub ipam: Ipam,
}

impl Locked {
    pub fn open() -> Result<Locked> {
        let dir = Path::new(RUN_DIR);
        fs::create_dir_all(dir).at("create", dir)?;
        let lock = lock_file(&dir.join("network.lock"))?;
        let path = dir.join("network.json");
        let ipam = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::json(path.display().to_string(), e))?,
            Err(e) if e.kind() == ErrorKind::NotFound => Ipam::default(),
            Err(e) => return Err(e).at("read", &path),
        };
        Ok(Locked {
            _lock: lock,
            path,
            ipam,
        })
    }

    pub fn save(&self) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(&self.ipam).map_err(|e| Error::json("network.json", e))?;
        let tmp = self.path.with_extension("json.tmp");
        fs::write(&tmp, bytes).at("write", &tmp)?;
        fs::rename(&tmp, &self.path).at("rename into", &self.path)
    }
}

/// IPv4 routes of the main table as (network, prefix length), from /proc/net/route.
fn host_routes() -> Result<Vec<(Ipv4Addr, u8)>> {
    let p = Path::new("/proc/net/route");
    let text = fs::read_to_string(p).at("read", p)?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(mask)) = (f.get(1), f.get(7)) else {
            continue;
        };
        // Little-endian hex, as the kernel prints them.
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(dest, 16), u32::from_str_radix(mask, 16))
        else {
            continue;
        };
        out.push((
            Ipv4Addr::from(u32::from_be(dest)),
            u32::from_be(mask).count_ones() as u8,
        ));
    }
    Ok(out)
}

fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let p = a.1.min(b.1);
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    u32::from(a.0) & mask == u32::from(b.0) & mask
}

/// The first candidate /24 that no route of the host overlaps (the default route
/// aside: it covers everything and shadows nothing).
pub fn choose_subnet() -> Result<Ipv4Addr> {
    let routes: Vec<(Ipv4Addr, u8)> = host_routes()?.into_iter().filter(|r| r.1 > 0).collect();
    let candidates = (0..=255u8)
        .map(|n| Ipv4Addr::new(172, 29, n, 0))
        .chain((0..=255u8).map(|n| Ipv4Addr::new(10, 213, n, 0)));
    for c in candidates {
        if !routes.iter().any(|r| overlaps(*r, (c, PREFIX))) {
            return Ok(c);
        }
    }
    Err(Error::Network(
        "no private /24 free of the host's routes (tried 172.29.0-255.0 and 10.213.0-255.0)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_uses_the_shorter_prefix() {
        let net = |s: &str, p| (s.parse::<Ipv4Addr>().unwrap(), p);
        assert!(overlaps(net("172.29.0.0", 24), net("172.16.0.0", 12)));
        assert!(!overlaps(net("172.29.1.0", 24), net("172.29.0.0", 24)));
        assert!(overlaps(net("10.0.0.0", 8), net("10.213.4.0", 24)));
    }

    #[test]
    fn addresses_start_at_two_and_skip_taken_ones() {
        let mut ipam = Ipam {
            subnet: Some(Ipv4Addr::new(172, 29, 0, 0)),
            allocations: Vec::new(),
        };
        assert_eq!(ipam.gateway(), Some(Ipv4Addr::new(172, 29, 0, 1)));
        assert_eq!(ipam.next_free().unwrap(), Ipv4Addr::new(172, 29, 0, 2));
        ipam.allocations.push(Allocation {
            container: "a".into(),
            store: "/s".into(),
            ip: Ipv4Addr::new(172, 29, 0, 2),
            veth: "veth0".into(),
            ports: Vec::new(),
            proxied: false,
        });
        assert_eq!(ipam.next_free().unwrap(), Ipv4Addr::new(172, 29, 0, 3));
    }
}
