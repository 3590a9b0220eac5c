//! `linux.netDevices`: move host network interfaces into the container's
//! network namespace, renamed as asked, keeping their addresses and up
//! state (the kernel drops addresses when a device changes namespace, so
//! they are read first and added again on the other side).
//!
//! Done by `create` after clone and before the init goes on, over rtnetlink
//! (netlink-packet-route messages on a plain blocking netlink socket).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::LinuxNetDevice;

use crate::error::{Context, Error, Result};

struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the caller's current network namespace.
    fn open() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).ctx(|| "cannot open a netlink socket")?;
        sock.bind_auto().ctx(|| "cannot bind the netlink socket")?;
        sock.connect(&SocketAddr::new(0, 0))
            .ctx(|| "cannot connect the netlink socket")?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Send one request and collect the replies until its ACK or DONE.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .ctx(|| format!("{what}: netlink send"))?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self
                .sock
                .recv_from_full()
                .ctx(|| format!("{what}: netlink receive"))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| Error::Init(format!("{what}: bad netlink reply: {e}")))?;
                offset += reply.header.length.max(1) as usize;
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(Error::sys(
                                what.to_string(),
                                nix::Error::from_raw(-code.get()),
                            )),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    fn addresses(&mut self, index: u32) -> Result<Vec<AddressMessage>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
            "list addresses",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    fn set_link(
        &mut self,
        index: u32,
        attributes: Vec<LinkAttribute>,
        up: bool,
        what: &str,
    ) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        if up {
            link.header.flags = LinkFlags::Up;
            link.header.change_mask = LinkFlags::Up;
        }
        link.attributes = attributes;
        self.request(RouteNetlinkMessage::SetLink(link), NLM_F_ACK, what)
            .map(drop)
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
            nl.request(
                RouteNetlinkMessage::NewAddress(a),
                NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                &format!("cannot restore an address of {name}"),
            )?;
        }
        if *up {
            nl.set_link(index, Vec::new(), true, &format!("cannot bring {name} up"))?;
        }
    }
    Ok(())
}
