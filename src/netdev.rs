//! `linux.netDevices`: move host network interfaces into the container's
//! network namespace, renamed as asked (`name`; a name with `%d` is a
//! template the kernel completes), as runtime-spec 1.3 and runc do: the
//! permanent addresses of global scope go along (the kernel drops
//! addresses when a device changes namespace, so they are read first and
//! added again on the other side; temporary and link- or host-scoped ones
//! belong to where they were made), and the device is brought up there.
//!
//! Done by `create` after clone and before the init goes on, over rtnetlink
//! (the workspace's rt-netlink crate, shared with rt-stage). What a config
//! may ask for is checked before anything is made ([`check`]).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::LinuxNetDevice;
use rt_netlink::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rt_netlink::link::LinkAttribute;
use rt_netlink::Netlink;

use crate::error::{Context, Error, Result};

impl From<rt_netlink::Error> for Error {
    fn from(e: rt_netlink::Error) -> Error {
        Error::io(e.what, e.source)
    }
}

fn index_of(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).ctx(|| format!("network device {name}"))
}

/// runc's rule for a device name (its own, or the one in the container):
/// what the kernel could take as an interface name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', ' '])
}

/// Refuse what cannot work before anything is made, in runc's words: the
/// container needs a network namespace (new or joined) to move devices
/// into, and the names must be names.
pub fn check(devices: &HashMap<String, LinuxNetDevice>, has_netns: bool) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    if !has_netns {
        return Err(Error::Config(
            "unable to move network devices without a NET namespace".into(),
        ));
    }
    let mut names: Vec<&String> = devices.keys().collect();
    names.sort();
    for name in names {
        if !valid_name(name) {
            return Err(Error::Config(format!(
                "invalid network device name {name:?}"
            )));
        }
        match devices[name].name().as_deref() {
            Some(n) if !n.is_empty() && !valid_name(n) => {
                return Err(Error::Config(format!("invalid network device name {n:?}")))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An address that moves with its device: permanent, of global scope
/// (runtime spec, after RFC 3549).
fn moves(a: &AddressMessage) -> bool {
    let permanent = a.header.flags.contains(AddressHeaderFlags::Permanent)
        || a.attributes.iter().any(
            |attr| matches!(attr, AddressAttribute::Flags(f) if f.contains(AddressFlags::Permanent)),
        );
    permanent && a.header.scope == AddressScope::Universe
}

/// Move every device into the network namespace `netns`.
pub fn move_into(devices: &HashMap<String, LinuxNetDevice>, netns: &File) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let mut host = Netlink::open()?;
    let mut moved = Vec::new();
    let mut names: Vec<&String> = devices.keys().collect();
    names.sort();
    for name in names {
        let new_name = devices[name]
            .name()
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| name.clone());
        let index = index_of(name)?;
        let addresses: Vec<AddressMessage> =
            host.addresses(index)?.into_iter().filter(moves).collect();
        // The move and the new name in one request: no moment where the
        // device has the new name on the host, or the old one in the
        // container.
        let attrs = vec![
            LinkAttribute::NetNsFd(netns.as_raw_fd()),
            LinkAttribute::IfName(new_name.clone()),
        ];
        host.set_link(
            index,
            attrs,
            false,
            &format!("cannot move network device {name} into the container as {new_name}"),
        )?;
        moved.push(Moved {
            name: new_name,
            index,
            addresses,
        });
    }
    // Restore addresses and bring the devices up from inside the
    // container's network namespace, then come back.
    let own: OwnedFd = File::open("/proc/thread-self/ns/net")
        .ctx(|| "cannot open own network namespace")?
        .into();
    setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)
        .ctx(|| "cannot enter the container's network namespace")?;
    let restored = restore(&moved);
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET)
        .ctx(|| "cannot return to rt's network namespace")?;
    restored
}

/// A device now in the container's network namespace.
struct Moved {
    /// As asked: a `%d` template is the kernel's to complete.
    name: String,
    /// Its index on the host, which the kernel keeps where it is free.
    index: u32,
    addresses: Vec<AddressMessage>,
}

fn restore(moved: &[Moved]) -> Result<()> {
    let mut nl = Netlink::open()?;
    for m in moved {
        let (name, index) = if m.name.contains('%') {
            let found = nix::net::if_::if_indextoname(m.index)
                .ok()
                .map(|n| n.to_string_lossy().into_owned());
            let found = found.ok_or_else(|| {
                Error::Init(format!(
                    "network device {} is not in the container after the move",
                    m.name
                ))
            })?;
            (found, m.index)
        } else {
            (m.name.clone(), index_of(&m.name)?)
        };
        for a in &m.addresses {
            let mut a = a.clone();
            a.header.index = index;
            // The label carries the device's old name.
            for attr in a.attributes.iter_mut() {
                if let AddressAttribute::Label(label) = attr {
                    *label = name.clone();
                }
            }
            nl.new_address(a, &format!("cannot restore an address of {name}"))?;
        }
        nl.set_link(index, Vec::new(), true, &format!("cannot bring {name} up"))?;
    }
    Ok(())
}
