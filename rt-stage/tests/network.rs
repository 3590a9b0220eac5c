//! Networking: the bridge and its addresses (unique under concurrent runs), /etc/hosts
//! with links, resolv.conf without a server, published ports reached over the host's
//! loopback (nftables DNAT, and the userland proxy where nft is not used), port and
//! link refusals, --network none and host, and teardown: no veth, address, rule,
//! bridge or table left. Only loopback and the namespaces made here are used.
//!
//! The bridge is machine-wide, so these tests run one at a time (a lock), and the
//! bridge and table are only required gone if they were absent when a test began.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Stage;
use serde_json::json;

static SERIAL: Mutex<()> = Mutex::new(());

/// The machine-wide state a test must leave as it found it.
struct Host {
    bridge: bool,
    table: bool,
}

fn nft_table() -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", "rt_stage"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn bridge() -> bool {
    Path::new("/sys/class/net/rt-stage0").exists()
}

impl Host {
    fn now() -> Host {
        Host {
            bridge: bridge(),
            table: nft_table(),
        }
    }

    fn assert_restored(&self) {
        if !self.bridge {
            assert!(!bridge(), "bridge rt-stage0 left");
        }
        if !self.table {
            assert!(!nft_table(), "nft table ip rt_stage left");
        }
    }
}

/// One network test at a time, and the host's state before it.
fn begin() -> (std::sync::MutexGuard<'static, ()>, Host) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (serial, Host::now())
}

/// The site httpd serves: an index page in the named volume `site`.
fn site(s: &Stage, text: &str) {
    let write = format!("echo {text} > /www/index.html");
    s.ok(&[
        "run",
        "--rm",
        "-v",
        "site:/www",
        "busybox",
        "sh",
        "-c",
        &write,
    ]);
}

fn nft_installed() -> bool {
    Command::new("nft").arg("--version").output().is_ok()
}

fn nft_rules() -> String {
    Command::new("nft")
        .args(["list", "table", "ip", "rt_stage"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / over the host's loopback, retried while the server comes up.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200 OK") => return b,
            _ if Instant::now() > deadline => panic!("no answer on 127.0.0.1:{port}: {attempt:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn web(s: &Stage, name: &str, port: u16, env: &[(&str, &str)]) -> String {
    let p = format!("{port}:80");
    let out = s.run_env(
        &[
            "run",
            "-d",
            "--name",
            name,
            "-p",
            &p,
            "-v",
            "site:/www",
            "busybox",
            "httpd",
            "-f",
            "-h",
            "/www",
        ],
        env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn bridge_links_and_published_ports_over_loopback() {
    let (_serial, host) = begin();
    let s = Stage::with_busybox(&[]);
    site(&s, "served from a volume");
    let port = free_port();
    let id = web(&s, "web", port, &[]);
    let v = s.inspect("web");
    let ip = v["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = v["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ip.ends_with(".2") || !ip.is_empty(), "{ip}");
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        json!(port.to_string())
    );
    assert!(bridge());
    let rules = nft_rules();
    // Without nft (not installed), the proxy serves the port instead.
    assert!(
        !nft_installed() || rules.contains(&format!("tcp dport {port} dnat to {ip}:80")),
        "{rules}"
    );
    assert!(s.ok(&["ps"]).contains(&format!("0.0.0.0:{port}->80/tcp")));
    // The host's loopback reaches the container (DNAT in the output chain).
    assert!(http_get(port).contains("served from a volume"));

    // A second container: another address, web under its alias, no name server.
    let out = s.ok(&[
        "run", "--rm", "--link", "web:webalias", "busybox", "sh", "-c",
        "cat /etc/hosts; cat /etc/resolv.conf; ip -4 -o addr show eth0; ip route; wget -qO- http://webalias/",
    ]);
    assert!(
        out.contains(&format!("{ip}\twebalias {} web\n", &id[..12])),
        "{out}"
    );
    assert!(!out.contains("nameserver"), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    assert!(
        !out.contains(&format!("inet {ip}/")),
        "a different address: {out}"
    );
    assert!(out.ends_with("served from a volume\n"), "{out}");

    // Refusals: the same port again, a port a host socket holds, a stopped link.
    let second = format!("{port}:80");
    let e = s.fails(&[
        "run", "-d", "--name", "clash", "-p", &second, "busybox", "sleep", "5",
    ]);
    assert!(
        e.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{e}"
    );
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = format!("{}:80", held.local_addr().unwrap().port());
    let e = s.fails(&[
        "run", "-d", "--name", "clash2", "-p", &taken, "busybox", "sleep", "5",
    ]);
    assert!(e.contains("Address already in use"), "{e}");
    s.ok(&["run", "--name", "stopped", "busybox", "true"]);
    let e = s.fails(&["run", "--rm", "--link", "stopped:x", "busybox", "true"]);
    assert!(
        e.contains("Cannot link to a non running container: /stopped AS /"),
        "{e}"
    );
    let e = s.fails(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert!(e.contains("No such container: nosuch"), "{e}");
    // Failed starts left created containers, and nothing of their network.
    for n in ["clash", "clash2", "stopped"] {
        let cid = s.inspect(n)["Id"].as_str().unwrap().to_string();
        assert_eq!(s.inspect(n)["NetworkSettings"]["IPAddress"], json!(""));
        s.ok(&["rm", n]);
        s.assert_gone(&cid);
    }
    // A start failing after the network is up (rt create refuses) undoes it.
    let e = s.fails(&[
        "run",
        "--rm",
        "-p",
        &format!("{}:80", free_port()),
        "--entrypoint",
        "/nonexistent",
        "busybox",
    ]);
    assert!(e.contains("OCI runtime create failed"), "{e}");
    let net = std::fs::read_to_string("/run/rt-stage/network.json").unwrap_or_default();
    assert_eq!(
        net.matches("\"container\"").count(),
        1,
        "only web's allocation: {net}"
    );

    s.ok(&["rm", "-f", "web"]);
    s.assert_gone(&id);
    s.ok(&["volume", "rm", "site"]);
    drop(s);
    host.assert_restored();
}

#[test]
fn userland_proxy_where_nftables_is_not_used() {
    let (_serial, host) = begin();
    let s = Stage::with_busybox(&[]);
    site(&s, "proxied");
    let port = free_port();
    let id = web(&s, "proxied", port, &[("RT_STAGE_NO_NFT", "1")]);
    assert!(http_get(port).contains("proxied"));
    if nft_table() {
        let rules = nft_rules();
        assert!(
            !rules.contains(&format!("dport {port}")),
            "no DNAT for a proxied port: {rules}"
        );
    }
    s.ok(&["stop", "-t", "1", "proxied"]);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy ends with the container"
    );
    s.ok(&["rm", "proxied"]);
    s.assert_gone(&id);
    s.ok(&["volume", "rm", "site"]);
    drop(s);
    host.assert_restored();
}

#[test]
fn concurrent_runs_get_distinct_addresses_and_all_is_released() {
    let (_serial, host) = begin();
    let s = Stage::with_busybox(&[]);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| s.id_of(&["run", "-d", "busybox", "sleep", "60"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = ids
        .iter()
        .map(|id| {
            s.inspect(id)["NetworkSettings"]["IPAddress"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "{ips:?}");
    std::thread::scope(|scope| {
        for id in &ids {
            let s = &s;
            scope.spawn(move || s.ok(&["rm", "-f", id]));
        }
    });
    for id in &ids {
        s.assert_gone(id);
    }
    drop(s);
    host.assert_restored();
}

#[test]
fn network_none_and_host() {
    let (_serial, host) = begin();
    let s = Stage::with_busybox(&[]);
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; ip -4 -o addr",
    ]);
    assert_eq!(out.lines().next(), Some("lo"), "{out}");
    assert!(out.contains("inet 127.0.0.1/8"), "loopback is up: {out}");
    assert!(!out.contains("eth0"), "{out}");
    let host_name = nix_hostname();
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /proc/net/dev",
    ]);
    assert!(out.starts_with(&format!("{host_name}\n")), "{out}");
    let ifaces = std::fs::read_to_string("/proc/net/dev").unwrap();
    let first_host_iface = ifaces
        .lines()
        .nth(2)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert!(
        out.contains(&format!("{first_host_iface}:")),
        "the host's interfaces: {out}"
    );
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    drop(s);
    host.assert_restored();
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}
