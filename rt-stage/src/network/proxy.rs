//! The userland proxy, where nftables is unavailable: the container's monitor listens
//! on each published host port and relays to the container's address. For "every
//! address" (0.0.0.0) it listens on 127.0.0.1 only, keeping published ports local to
//! this host as the nftables rules do. It lives as long as the monitor.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::record::{PortBinding, Proto};

fn listen_addr(b: &PortBinding) -> SocketAddrV4 {
    let ip = if b.host_ip.is_unspecified() {
        Ipv4Addr::LOCALHOST
    } else {
        b.host_ip
    };
    SocketAddrV4::new(ip, b.host_port)
}

/// Binds every port now (so a clash is reported before the container starts) and
/// serves them on background threads.
pub fn start(bindings: &[PortBinding], target: Ipv4Addr) -> Result<()> {
    for b in bindings {
        let addr = listen_addr(b);
        let to = SocketAddrV4::new(target, b.container_port);
        let bind_err = |e: io::Error| Error::Network(format!("userland proxy: listen {addr}: {e}"));
        match b.proto {
            Proto::Tcp => {
                let l = TcpListener::bind(addr).map_err(bind_err)?;
                thread::spawn(move || serve_tcp(l, to));
            }
            Proto::Udp => {
                let s = UdpSocket::bind(addr).map_err(bind_err)?;
                thread::spawn(move || serve_udp(s, to));
            }
        }
    }
    Ok(())
}

fn serve_tcp(l: TcpListener, to: SocketAddrV4) {
    for client in l.incoming().flatten() {
        thread::spawn(move || {
            let Ok(upstream) = TcpStream::connect_timeout(&to.into(), Duration::from_secs(5))
            else {
                return;
            };
            relay(client, upstream);
        });
    }
}

/// Copies both ways until each side has closed its half.
fn relay(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || {
        let (mut from, mut to) = (a, b);
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (b2, a2);
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// One upstream socket per client address, its replies sent back from the listening
/// socket (so the client sees answers from the address it wrote to).
fn serve_udp(s: UdpSocket, to: SocketAddrV4) {
    let s = Arc::new(s);
    let mut upstreams: HashMap<SocketAddr, UdpSocket> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = s.recv_from(&mut buf) else {
            return;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = upstreams.entry(client) {
            let Ok(u) = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)) else {
                continue;
            };
            if u.connect(to).is_err() {
                continue;
            }
            let (Ok(reader), listener) = (u.try_clone(), Arc::clone(&s)) else {
                continue;
            };
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = reader.recv(&mut buf) {
                    if listener.send_to(&buf[..n], client).is_err() {
                        return;
                    }
                }
            });
            slot.insert(u);
        }
        if let Some(u) = upstreams.get(&client) {
            let _ = u.send(&buf[..n]);
        }
    }
}
