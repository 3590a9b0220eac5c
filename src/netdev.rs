//! `linux.netDevices`: move host network interfaces into the container's
//! network namespace, renamed as asked, keeping their addresses and up
//! state (the kernel drops addresses when a device changes namespace, so
//! they are read first and added again on the other side).
//!
//! Done by `create` after clone and before the init goes on, over rtnetlink
//! (the workspace's rt-netlink crate, shared with rt-stage).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::LinuxNetDevice;
use rt_netlink::address::{AddressAttribute, AddressMessage};
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

fn is_up(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & libc::IFF_UP as u32 != 0)
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
        let addresses = host.addresses(index)?;
        let up = is_up(name);
        let attrs = vec![
            LinkAttribute::NetNsFd(netns.as_raw_fd()),
            LinkAttribute::IfName(new_name.clone()),
        ];
        host.set_link(
            index,
            attrs,
            false,
            &format!("cannot move network device {name} into the container"),
        )?;
        moved.push((new_name, addresses, up));
    }
    // Restore addresses and link state from inside the container's network
    // namespace, then come back.
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

fn restore(moved: &[(String, Vec<AddressMessage>, bool)]) -> Result<()> {
    let mut nl = Netlink::open()?;
    for (name, addresses, up) in moved {
        let index = index_of(name)?;
        for a in addresses {
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
        if *up {
            nl.set_link(index, Vec::new(), true, &format!("cannot bring {name} up"))?;
        }
    }
    Ok(())
}
