//! URLs and registry names, as text: which are on this machine, which share a host
//! (where credentials may go), and query values escaped.

use std::net::{IpAddr, Ipv6Addr};

/// `host[:port]` is on this machine: 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry),
    };
    host == "localhost"
        || match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.octets()[0] == 127,
            Ok(IpAddr::V6(v6)) => v6 == Ipv6Addr::LOCALHOST,
            Err(_) => false,
        }
}

pub fn is_absolute(path_or_url: &str) -> bool {
    path_or_url.starts_with("http://") || path_or_url.starts_with("https://")
}

/// `scheme://host[:port]` of a URL.
pub fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

pub fn same_host(url: &str, base: &str) -> bool {
    origin(url) == origin(base)
}

/// Percent-encodes a query value (scopes hold `:` and `/`, which are fine, but a
/// repository or service name must not end the parameter).
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        for r in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "10.0.0.1:5000",
            "registry.example.com",
            "docker.io",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:5000/v2/x?y"),
            "http://127.0.0.1:5000"
        );
        assert!(same_host(
            "http://127.0.0.1:5000/a",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_host("https://s3.example/a", "http://127.0.0.1:5000"));
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository:a/b:pull,push"
        );
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }
}
