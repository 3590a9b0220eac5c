//! rtnetlink on a blocking socket (netlink-packet-route messages): the links,
//! addresses and routes rt-stage sets up. A socket works in the network namespace of
//! the thread that opened it, which is how the container's side is configured (see
//! [`super::netns::run_in`]).

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

pub struct Netlink {
    sock: Socket,
    seq: u32,
}

/// A failed request: what was asked, and the kernel's errno.
#[derive(Debug)]
pub struct Failure {
    pub errno: i32,
    pub what: String,
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Network(format!(
            "{}: {}",
            f.what,
            std::io::Error::from_raw_os_error(f.errno)
        ))
    }
}

fn sock_err(what: &str, e: std::io::Error) -> Error {
    Error::Network(format!("{what}: {e}"))
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| sock_err("netlink socket", e))?;
        sock.bind_auto().map_err(|e| sock_err("netlink bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| sock_err("netlink connect", e))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Sends one request and collects the replies up to its ACK or DONE.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> std::result::Result<Vec<RouteNetlinkMessage>, Failure> {
        let fail = |errno: i32| Failure {
            errno,
            what: what.to_string(),
        };
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        let io_errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc_eio());
        self.sock.send(&buf, 0).map_err(|e| fail(io_errno(e)))?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(|e| fail(io_errno(e)))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|_| fail(libc_eio()))?;
                offset += reply.header.length.max(1) as usize;
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(fail(-code.get())),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    fn new_link(&mut self, link: LinkMessage, what: &str) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        )?;
        Ok(())
    }

    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.new_link(link, &format!("create bridge {name}"))
    }

    /// A veth pair: `host` here, `peer` created straight into the network namespace
    /// `netns` (an open namespace file), so its name never meets this namespace's.
    pub fn create_veth(&mut self, host: &str, peer: &str, netns: RawFd) -> Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::NetNsFd(netns),
        ];
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(host.to_string()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]),
        ];
        self.new_link(link, &format!("create veth pair {host}/{peer}"))
    }

    /// Brings the link up, and enslaves it to `master` when given.
    pub fn set_up(&mut self, index: u32, master: Option<u32>) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        if let Some(m) = master {
            link.attributes.push(LinkAttribute::Controller(m));
        }
        self.request(
            RouteNetlinkMessage::SetLink(link),
            NLM_F_ACK,
            &format!("set link {index} up"),
        )?;
        Ok(())
    }

    /// Deletes a link; Ok(false) if it was already gone.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = index_of(name) else {
            return Ok(false);
        };
        let mut link = LinkMessage::default();
        link.header.index = index;
        match self.request(
            RouteNetlinkMessage::DelLink(link),
            NLM_F_ACK,
            &format!("delete link {name}"),
        ) {
            Ok(_) => Ok(true),
            // Gone in between (a veth goes with its namespace).
            Err(f) if f.errno == nix::libc::ENODEV => Ok(false),
            Err(f) => Err(f.into()),
        }
    }

    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        a.header.prefix_len = prefix;
        a.header.index = index;
        a.attributes = vec![
            AddressAttribute::Local(ip.into()),
            AddressAttribute::Address(ip.into()),
        ];
        self.request(
            RouteNetlinkMessage::NewAddress(a),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("add address {ip}/{prefix}"),
        )?;
        Ok(())
    }

    /// The IPv4 addresses of a link, with their prefix lengths.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
            "list addresses",
        )?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            for attr in &a.attributes {
                if let AddressAttribute::Local(std::net::IpAddr::V4(ip)) = attr {
                    out.push((*ip, a.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.table = RouteHeader::RT_TABLE_MAIN;
        r.header.protocol = RouteProtocol::Boot;
        r.header.scope = RouteScope::Universe;
        r.header.kind = RouteType::Unicast;
        r.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        self.request(
            RouteNetlinkMessage::NewRoute(r),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("add default route via {gateway}"),
        )?;
        Ok(())
    }
}

/// EIO, for failures that carry no errno of their own.
fn libc_eio() -> i32 {
    nix::libc::EIO
}

pub fn index_of(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

pub fn required_index(name: &str) -> Result<u32> {
    index_of(name).ok_or_else(|| Error::Network(format!("no network device {name}")))
}
