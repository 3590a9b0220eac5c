//! Port publishing and the bridge's fence with nftables: one table of rt-stage's own,
//! `ip rt_stage`, rewritten whole from the address allocations each time they change
//! (one `nft -f` transaction: delete and re-add, so it never exists half-made).
//!
//! - `output` (nat): DNAT of connections the host itself makes to a published port of
//!   any local address (127.0.0.1 included) to the container's address and port.
//! - `postrouting` (nat): such loopback-sourced packets leave through the bridge with
//!   the bridge's address (with route_localnet on the bridge, set where it is created).
//! - `forward` (filter): nothing is routed between the bridge and any other interface,
//!   whatever the host's forwarding setting: containers reach each other and the host,
//!   nothing else. Published ports are therefore reachable from this host only.

use std::io::Write;
use std::process::{Command, Stdio};

use super::ipam::Allocation;
use crate::error::{Error, Result};

pub const TABLE: &str = "rt_stage";

/// `nft` is on PATH: rules are kept in line with the allocations.
pub fn installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("nft").is_file()))
}

/// New containers get nftables rules, unless RT_STAGE_NO_NFT is set: then (as where
/// nft is missing) the userland proxy serves their ports. The tests use it to cover
/// the fallback.
pub fn wanted() -> bool {
    let off = std::env::var_os("RT_STAGE_NO_NFT").is_some_and(|v| !v.is_empty() && v != "0");
    !off && installed()
}

/// The whole table for `bridge` and the allocations whose ports nftables serves.
pub fn render(bridge: &str, allocations: &[Allocation]) -> String {
    let mut dnat = String::new();
    for a in allocations.iter().filter(|a| !a.proxied) {
        for p in &a.ports {
            let daddr = if p.host_ip.is_unspecified() {
                "fib daddr type local".to_string()
            } else {
                format!("ip daddr {}", p.host_ip)
            };
            dnat.push_str(&format!(
                "    {daddr} {proto} dport {hp} dnat to {ip}:{cp} comment \"{id}\"\n",
                proto = p.proto.as_str(),
                hp = p.host_port,
                ip = a.ip,
                cp = p.container_port,
                id = &a.container[..12.min(a.container.len())],
            ));
        }
    }
    format!(
        "table ip {TABLE}\n\
         delete table ip {TABLE}\n\
         table ip {TABLE} {{\n\
         \x20 chain output {{\n\
         \x20   type nat hook output priority -100; policy accept;\n\
         {dnat}\
         \x20 }}\n\
         \x20 chain postrouting {{\n\
         \x20   type nat hook postrouting priority 100; policy accept;\n\
         \x20   oifname \"{bridge}\" ip saddr 127.0.0.0/8 masquerade\n\
         \x20 }}\n\
         \x20 chain forward {{\n\
         \x20   type filter hook forward priority 0; policy accept;\n\
         \x20   iifname \"{bridge}\" oifname != \"{bridge}\" drop\n\
         \x20   oifname \"{bridge}\" iifname != \"{bridge}\" drop\n\
         \x20 }}\n\
         }}\n"
    )
}

/// Applies a script with `nft -f -`.
pub fn apply(script: &str) -> Result<()> {
    let fail = |detail: String| Error::Network(format!("nft: {detail}"));
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Removes the table (absent is fine).
pub fn remove() -> Result<()> {
    apply(&format!("table ip {TABLE}\ndelete table ip {TABLE}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_published_port() {
        let a = Allocation {
            container: "0123456789abcdef".into(),
            store: "/s".into(),
            ip: "172.29.0.2".parse().unwrap(),
            veth: "veth0123456".into(),
            ports: vec![
                "8080:80".parse().unwrap(),
                "127.0.0.1:5353:53/udp".parse().unwrap(),
            ],
            proxied: false,
        };
        let s = render("rt-stage0", &[a]);
        assert!(s.contains("fib daddr type local tcp dport 8080 dnat to 172.29.0.2:80 comment \"0123456789ab\""), "{s}");
        assert!(
            s.contains("ip daddr 127.0.0.1 udp dport 5353 dnat to 172.29.0.2:53"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"rt-stage0\" oifname != \"rt-stage0\" drop"),
            "{s}"
        );
        assert!(
            s.starts_with("table ip rt_stage\ndelete table ip rt_stage\n"),
            "{s}"
        );
    }
}
