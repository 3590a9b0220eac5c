//! /etc/hosts, /etc/hostname and /etc/resolv.conf for a container: written into its
//! directory and bind-mounted over the image's (Docker does the same). resolv.conf
//! names no server at all, so a container never sends DNS queries anywhere; names it
//! needs (its own, its links') are in its hosts file.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{IoContext, Result};

pub const HOSTS: &str = "hosts";
pub const HOSTNAME: &str = "hostname";
pub const RESOLV_CONF: &str = "resolv.conf";

/// A linked container as its hosts entry shows it.
pub struct LinkEntry {
    pub ip: Ipv4Addr,
    pub alias: String,
    pub name: String,
    pub short_id: String,
}

pub fn hosts(own: Option<Ipv4Addr>, hostname: &str, links: &[LinkEntry]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    // Docker's form for a link: address, alias, the linked container's id and name.
    for l in links {
        let mut names = vec![l.alias.as_str()];
        for n in [l.short_id.as_str(), l.name.as_str()] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        s.push_str(&format!("{}\t{}\n", l.ip, names.join(" ")));
    }
    if let Some(ip) = own {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

pub fn resolv_conf() -> &'static str {
    "# rt-stage: no name server; names come from /etc/hosts\n"
}

/// Writes the three files into `dir`.
pub fn write_all(dir: &Path, hosts_text: &str, hostname: &str) -> Result<()> {
    for (name, text) in [
        (HOSTS, hosts_text.to_string()),
        (HOSTNAME, format!("{hostname}\n")),
        (RESOLV_CONF, resolv_conf().to_string()),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).at("write", &p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_has_links_and_self() {
        let links = [LinkEntry {
            ip: "172.29.0.2".parse().unwrap(),
            alias: "webalias".into(),
            name: "web".into(),
            short_id: "0123456789ab".into(),
        }];
        let h = hosts(Some("172.29.0.3".parse().unwrap()), "c0ffee", &links);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"), "{h}");
        assert!(h.contains("172.29.0.2\twebalias 0123456789ab web\n"), "{h}");
        assert!(h.ends_with("172.29.0.3\tc0ffee\n"), "{h}");
    }
}
