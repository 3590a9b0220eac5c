//! rtnetlink on a blocking socket (netlink-packet-route messages), for rt (moving
//! `linux.netDevices` into a container) and rt-stage (its bridge, veth pairs,
//! addresses and default routes). A socket works in the network namespace of the
//! thread that opened it.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
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

pub use netlink_packet_route::address;
pub use netlink_packet_route::link;

/// A failed request: what was asked, and the kernel's (or the socket's) answer.
#[derive(Debug)]
pub struct Error {
    pub what: String,
    pub source: io::Error,
}

impl Error {
    fn new(what: impl Into<String>, source: io::Error) -> Error {
        Error {
            what: what.into(),
            source,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut sock =
            Socket::new(NETLINK_ROUTE).map_err(|e| Error::new("open a netlink socket", e))?;
        sock.bind_auto()
            .map_err(|e| Error::new("bind the netlink socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::new("connect the netlink socket", e))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Sends one request and collects the replies up to its ACK or DONE.
    pub fn request(
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
            .map_err(|e| Error::new(format!("{what}: netlink send"), e))?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| Error::new(format!("{what}: netlink receive"), e))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| {
                        let bad = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
                        Error::new(format!("{what}: bad netlink reply"), bad)
                    })?;
                offset += reply.header.length.max(1) as usize;
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => {
                                Err(Error::new(what, io::Error::from_raw_os_error(-code.get())))
                            }
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Changes link `index`: the attributes given (a new name, a namespace, a
    /// master), and brings it up when `up`.
    pub fn set_link(
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

    /// Brings the link up, and enslaves it to `master` when given.
    pub fn set_up(&mut self, index: u32, master: Option<u32>) -> Result<()> {
        let attributes = master.map(LinkAttribute::Controller).into_iter().collect();
        self.set_link(index, attributes, true, &format!("set link {index} up"))
    }

    fn new_link(&mut self, link: LinkMessage, what: &str) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
        .map(drop)
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
            Err(e) if e.errno() == Some(nix::libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every address of link `index`, as the kernel describes it.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<AddressMessage>> {
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

    /// The IPv4 addresses of link `index`, with their prefix lengths.
    pub fn ipv4_addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut out = Vec::new();
        for a in self.addresses(index)? {
            for attr in &a.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = attr {
                    out.push((*ip, a.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    /// Adds an address as described (one that [`Netlink::addresses`] returned).
    pub fn new_address(&mut self, a: AddressMessage, what: &str) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewAddress(a),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
        .map(drop)
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
        self.new_address(a, &format!("add address {ip}/{prefix}"))
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
        )
        .map(drop)
    }
}

/// The index of network device `name` in the calling thread's namespace.
pub fn index_of(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}
