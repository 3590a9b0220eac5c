//! Container networking, set up before `rt create` and torn down after the container
//! ends: rt itself only joins the network namespace it is given.
//!
//! - `bridge` (the default): a namespace pinned under the container's directory, a
//!   veth pair from it to the bridge `rt-stage0` ([`BRIDGE`]), an address from
//!   [`ipam`], a default route via the bridge, published ports through [`nft`] (or the
//!   [`proxy`] where nftables is missing), /etc/hosts with `--link` entries ([`files`]).
//! - `none`: a namespace with only its loopback.
//! - `host`: the host's namespace.
//!
//! Everything is undone by [`teardown`], which is idempotent and works from the
//! machine-wide allocation record rather than from what the caller remembers, so it
//! also cleans up after a run that died half-way. The bridge and the nftables table
//! exist only while some container is attached.

pub mod files;
pub mod ipam;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod proxy;

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::record::{Container, Endpoint, NetworkMode, PortBinding, RECORD};
use crate::store::Store;
use files::LinkEntry;
use ipam::{Allocation, Ipam, Locked, PREFIX};
use rt_netlink::{index_of, Netlink};

pub const BRIDGE: &str = "rt-stage0";
/// The namespace file in a container's directory.
pub const NETNS: &str = "netns";

impl From<rt_netlink::Error> for Error {
    fn from(e: rt_netlink::Error) -> Error {
        Error::Network(e.to_string())
    }
}

pub fn required_index(name: &str) -> Result<u32> {
    index_of(name).ok_or_else(|| Error::Network(format!("no network device {name}")))
}

/// The store as the machine-wide allocations name it: its canonical root.
fn store_key(store: &Store) -> PathBuf {
    std::fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf())
}

/// Sets up the container's network; on failure nothing of it is left.
pub fn setup(store: &Store, c: &Container) -> Result<Option<Endpoint>> {
    let dir = store.container_dir(&c.id)?;
    let hostname = &c.config.hostname;
    match c.host.network {
        NetworkMode::Host => {
            // The host's own names, as Docker gives a host-network container.
            let hosts = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| files::hosts(None, hostname, &[]));
            files::write_all(&dir, &hosts, hostname)?;
            Ok(None)
        }
        NetworkMode::None => {
            netns::create(&dir.join(NETNS))?;
            files::write_all(&dir, &files::hosts(None, hostname, &[]), hostname)?;
            Ok(None)
        }
        NetworkMode::Bridge => {
            // Links are checked before anything is made.
            let links = resolve_links(store, c)?;
            let ns = dir.join(NETNS);
            netns::create(&ns)?;
            let attached = attach(store, c, &ns).and_then(|ep| {
                files::write_all(&dir, &files::hosts(Some(ep.ip), hostname, &links), hostname)?;
                Ok(ep)
            });
            match attached {
                Ok(ep) => Ok(Some(ep)),
                Err(e) => {
                    if let Err(t) = teardown(store, &c.id) {
                        tracing::warn!("cleaning up after a failed network setup: {t}");
                    }
                    Err(e)
                }
            }
        }
    }
}

fn resolve_links(store: &Store, c: &Container) -> Result<Vec<LinkEntry>> {
    let mut out = Vec::new();
    for l in &c.host.links {
        let target = store.find_container(&l.container)?;
        let state = store.container_state(&target.id)?;
        let running = state.is_running();
        let ep = state.endpoint.filter(|_| running).ok_or_else(|| {
            Error::Usage(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                target.name, c.name, l.alias
            ))
        })?;
        out.push(LinkEntry {
            ip: ep.ip,
            alias: l.alias.clone(),
            name: target.name.clone(),
            short_id: target.id[..12].to_string(),
        });
    }
    Ok(out)
}

fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..7.min(id.len())])
}

/// Allocates an address and the host ports, and plugs the namespace into the bridge.
fn attach(store: &Store, c: &Container, ns: &Path) -> Result<Endpoint> {
    let key = store_key(store);
    let mut locked = Locked::open()?;
    reclaim_stale(&mut locked.ipam);
    let ports = claim_ports(&locked.ipam, &c.host.ports)?;
    ensure_bridge(&mut locked.ipam)?;
    let (Some(gateway), Ok(ip)) = (locked.ipam.gateway(), locked.ipam.next_free()) else {
        return Err(Error::Network(format!("no free address on {BRIDGE}")));
    };
    let proxied = !nft::wanted();
    let veth = veth_name(&c.id);
    locked.ipam.allocations.push(Allocation {
        container: c.id.clone(),
        store: key.clone(),
        ip,
        veth: veth.clone(),
        ports: ports.clone(),
        proxied,
    });
    // Recorded before anything is made, so that teardown finds it whatever fails next.
    locked.save()?;
    let plugged = plug(&veth, ns, ip, gateway).and_then(|()| sync_rules(&locked.ipam));
    if let Err(e) = plugged {
        release(&mut locked, &key, &c.id)?;
        return Err(e);
    }
    Ok(Endpoint {
        ip,
        gateway,
        prefix: PREFIX,
        veth,
        ports,
        proxied,
    })
}

/// Host ports for the container: refused when another container has them, probed
/// against the host's own sockets, picked when 0.
fn claim_ports(ipam: &Ipam, wanted: &[PortBinding]) -> Result<Vec<PortBinding>> {
    let mut out: Vec<PortBinding> = Vec::new();
    let taken = |p: &PortBinding, out: &[PortBinding]| {
        ipam.allocations
            .iter()
            .flat_map(|a| &a.ports)
            .chain(out)
            .any(|o| o.clashes(p))
    };
    for p in wanted {
        let mut p = p.clone();
        if p.host_port != 0 {
            if taken(&p, &out) {
                return Err(ports::allocated(&p));
            }
            ports::probe(&mut p)?;
        } else {
            // A port the kernel calls free may still be published through nftables
            // (which binds nothing): try again then.
            for _ in 0..16 {
                let mut q = p.clone();
                ports::probe(&mut q)?;
                if !taken(&q, &out) {
                    p = q;
                    break;
                }
            }
            if p.host_port == 0 {
                return Err(Error::Network("no free host port found".into()));
            }
        }
        out.push(p);
    }
    Ok(out)
}

/// Drops allocations of containers whose store records are gone (a store deleted
/// under running containers, a crash between steps).
fn reclaim_stale(ipam: &mut Ipam) {
    let (stale, live): (Vec<Allocation>, Vec<Allocation>) =
        ipam.allocations.drain(..).partition(|a| {
            !a.store
                .join("containers")
                .join(&a.container)
                .join(RECORD)
                .is_file()
        });
    ipam.allocations = live;
    if stale.is_empty() {
        return;
    }
    if let Ok(mut nl) = Netlink::open() {
        for a in stale {
            tracing::debug!(
                "reclaiming the address of vanished container {}",
                a.container
            );
            let _ = nl.delete_link(&a.veth);
        }
    }
}

/// The bridge, with its subnet's .1 and route_localnet (for loopback DNAT), created
/// if missing.
fn ensure_bridge(ipam: &mut Ipam) -> Result<()> {
    let mut nl = Netlink::open()?;
    if let Some(index) = index_of(BRIDGE) {
        let addrs = nl.ipv4_addresses(index)?;
        if let Some((ip, _)) = addrs.iter().find(|(_, p)| *p == PREFIX) {
            let o = ip.octets();
            ipam.subnet = Some(Ipv4Addr::new(o[0], o[1], o[2], 0));
            return Ok(());
        }
        if ipam.subnet.is_none() {
            ipam.subnet = Some(ipam::choose_subnet()?);
        }
    } else {
        if ipam.allocations.is_empty() || ipam.subnet.is_none() {
            ipam.subnet = Some(ipam::choose_subnet()?);
        }
        nl.create_bridge(BRIDGE)?;
    }
    let index = required_index(BRIDGE)?;
    let gateway = ipam
        .gateway()
        .ok_or_else(|| Error::Network("no subnet chosen".into()))?;
    let setup = nl
        .add_address(index, gateway, PREFIX)
        .and_then(|()| nl.set_up(index, None))
        .map_err(Error::from)
        .and_then(|()| {
            let p = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet"));
            std::fs::write(&p, "1").at("write", &p)
        });
    if setup.is_err() && ipam.allocations.is_empty() {
        let _ = nl.delete_link(BRIDGE);
    }
    setup
}

/// The veth pair: host end on the bridge, container end `eth0` with the address and
/// the default route.
fn plug(veth: &str, ns: &Path, ip: Ipv4Addr, gateway: Ipv4Addr) -> Result<()> {
    let ns_file = File::open(ns).at("open", ns)?;
    let mut nl = Netlink::open()?;
    nl.create_veth(veth, "eth0", ns_file.as_raw_fd())?;
    nl.set_up(required_index(veth)?, Some(required_index(BRIDGE)?))?;
    netns::run_in(ns, move || {
        let mut nl = Netlink::open()?;
        let eth0 = required_index("eth0")?;
        nl.add_address(eth0, ip, PREFIX)?;
        nl.set_up(eth0, None)?;
        Ok(nl.add_default_route(gateway)?)
    })
}

/// Brings the host in line with the allocations: the nftables table rewritten (or
/// removed), and the bridge removed once nothing is attached.
fn sync_rules(ipam: &Ipam) -> Result<()> {
    if ipam.allocations.is_empty() {
        if nft::installed() {
            nft::remove()?;
        }
        return Ok(());
    }
    if nft::installed() {
        nft::apply(&nft::render(BRIDGE, &ipam.allocations))?;
    }
    Ok(())
}

fn release(locked: &mut Locked, key: &Path, id: &str) -> Result<()> {
    let before = locked.ipam.allocations.len();
    let mut gone = Vec::new();
    locked.ipam.allocations.retain(|a| {
        let mine = a.container == id && a.store == key;
        if mine {
            gone.push(a.veth.clone());
        }
        !mine
    });
    let mut nl = Netlink::open()?;
    for veth in &gone {
        nl.delete_link(veth)?;
    }
    let bridge = index_of(BRIDGE).is_some();
    if locked.ipam.allocations.is_empty() {
        if bridge {
            nl.delete_link(BRIDGE)?;
        }
        locked.ipam.subnet = None;
        if (before > 0 || bridge) && nft::installed() {
            nft::remove()?;
        }
    } else if !gone.is_empty() {
        sync_rules(&locked.ipam)?;
    }
    locked.save()
}

/// Undoes [`setup`] for container `id`: its allocation, veth, rules and namespace
/// file; the bridge and table too when it was the last. Safe to repeat.
pub fn teardown(store: &Store, id: &str) -> Result<()> {
    let key = store_key(store);
    let released = Locked::open().and_then(|mut l| {
        reclaim_stale(&mut l.ipam);
        release(&mut l, &key, id)
    });
    let unpinned = netns::remove(&store.container_dir(id)?.join(NETNS));
    released.and(unpinned)
}
