//! Whether a published port's host port is free. A port is taken when another
//! container of this machine publishes it (rt-stage's own records) or when a host
//! socket is bound to it (a probe bind).

use std::net::{SocketAddrV4, TcpListener, UdpSocket};

use crate::error::{Error, Result};
use crate::record::{PortBinding, Proto};

/// Checks that nothing on the host holds the port (picking a free one for port 0) by
/// binding it for a moment.
pub fn probe(b: &mut PortBinding) -> Result<()> {
    let addr = SocketAddrV4::new(b.host_ip, b.host_port);
    let bound = match b.proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    };
    match bound {
        Ok(a) => {
            b.host_port = a.port();
            Ok(())
        }
        Err(e) => Err(Error::Network(format!(
            "Bind for {} failed: {e} (another program of this host uses it)",
            b.host()
        ))),
    }
}

/// Docker's refusal when another container publishes the port already.
pub fn allocated(b: &PortBinding) -> Error {
    Error::Usage(format!(
        "Bind for {} failed: port is already allocated",
        b.host()
    ))
}
