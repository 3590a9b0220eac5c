//! A container's network settings as asked for and recorded: `--network`,
//! `--link CONTAINER[:ALIAS]`, `-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`.
//! [`crate::network`] carries them out.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Bridge,
    Host,
    None,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NetworkMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<NetworkMode> {
        match s {
            "bridge" | "default" => Ok(NetworkMode::Bridge),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            _ => Err(Error::Usage(format!(
                "network {s} not found (rt-stage has bridge, host and none)"
            ))),
        }
    }
}

/// `--link CONTAINER[:ALIAS]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub container: String,
    pub alias: String,
}

impl FromStr for Link {
    type Err = Error;

    fn from_str(s: &str) -> Result<Link> {
        let (container, alias) = s.split_once(':').unwrap_or((s, s));
        let container = container.strip_prefix('/').unwrap_or(container);
        if container.is_empty() || alias.is_empty() || alias.contains(char::is_whitespace) {
            return Err(Error::Usage(format!(
                "invalid link {s:?}: expected CONTAINER[:ALIAS]"
            )));
        }
        Ok(Link {
            container: container.to_string(),
            alias: alias.to_string(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// 0.0.0.0: every local address.
    pub host_ip: Ipv4Addr,
    /// 0 until a free port is picked (`-p 80`).
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortBinding {
    /// Docker's `ps` form: 0.0.0.0:8080->80/tcp.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip,
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

impl PortBinding {
    pub fn host(&self) -> String {
        format!("{}:{}", self.host_ip, self.host_port)
    }

    /// The same host port and protocol on overlapping addresses.
    pub fn clashes(&self, other: &PortBinding) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

impl FromStr for PortBinding {
    type Err = Error;

    fn from_str(s: &str) -> Result<PortBinding> {
        let bad = |why: &str| Error::Usage(format!("invalid port specification {s:?}: {why}"));
        let (spec, proto) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Proto::Tcp),
            Some((spec, "udp")) => (spec, Proto::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (s, Proto::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => return Err(bad("expected [IP:][HOSTPORT:]CONTAINERPORT")),
        };
        let port = |p: &str, zero_ok: bool| -> Result<u16> {
            match p.parse::<u16>() {
                Ok(0) if !zero_ok => Err(bad("port 0")),
                Ok(n) => Ok(n),
                Err(_) => Err(bad(&format!("{p:?} is not a port number"))),
            }
        };
        Ok(PortBinding {
            host_ip: if ip.is_empty() {
                Ipv4Addr::UNSPECIFIED
            } else {
                ip.parse()
                    .map_err(|_| bad(&format!("{ip:?} is not an IPv4 address")))?
            },
            host_port: if host.is_empty() {
                0
            } else {
                port(host, false)?
            },
            container_port: port(container, false)?,
            proto,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms() {
        let p: PortBinding = "8080:80".parse().unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (8080, 80, Proto::Tcp)
        );
        assert_eq!(p.to_string(), "0.0.0.0:8080->80/tcp");
        let p: PortBinding = "127.0.0.1:53:5353/udp".parse().unwrap();
        assert_eq!(p.to_string(), "127.0.0.1:53->5353/udp");
        let p: PortBinding = "80".parse().unwrap();
        assert_eq!(p.host_port, 0);
        for bad in [
            "",
            "x:80",
            "80:0",
            "1:2:3:4",
            "80/sctp",
            "host:80:80",
            "70000:80",
        ] {
            assert!(bad.parse::<PortBinding>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn clashes_on_overlapping_addresses() {
        let a: PortBinding = "8080:80".parse().unwrap();
        let b: PortBinding = "127.0.0.1:8080:81".parse().unwrap();
        let c: PortBinding = "8080:80/udp".parse().unwrap();
        assert!(a.clashes(&b) && b.clashes(&a));
        assert!(!a.clashes(&c));
    }
}
