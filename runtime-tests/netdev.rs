//! `linux.netDevices` (runtime-spec 1.3): a host interface moves into the
//! container, renamed as asked (a `%d` name is the kernel's template), with
//! its permanent global addresses only, and comes up there; a config that
//! cannot work is refused before anything is made, in runc's words.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{host, Container};
use serde_json::json;

/// A veth pair made for one test; the host end is deleted on drop (the
/// moved end goes away with the container's network namespace).
struct Veth {
    host_end: String,
}

impl Veth {
    /// A pair whose end to move has 169.254.77.7/32 and is up.
    fn new() -> (Veth, String) {
        let (veth, moved) = Veth::down();
        host("ip", &["addr", "add", "169.254.77.7/32", "dev", &moved]);
        host("ip", &["link", "set", &moved, "up"]);
        (veth, moved)
    }

    /// A pair, both ends down and without addresses; unique names per test.
    fn down() -> (Veth, String) {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:x}{n}", std::process::id() % 0xffff);
        let (moved, host_end) = (format!("rtm{tag}"), format!("rth{tag}"));
        host(
            "ip",
            &[
                "link", "add", &moved, "type", "veth", "peer", "name", &host_end,
            ],
        );
        (Veth { host_end }, moved)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
    }
}

#[test]
fn device_moves_renamed_with_address_and_up() {
    let (_veth, moved) = Veth::new();
    let mut c = Container::new(&[
        "sh",
        "-c",
        "cat /sys/class/net/ctr0/operstate /sys/class/net/ctr0/flags; busybox ip -4 addr show ctr0",
    ]);
    c.set(
        "/linux/netDevices",
        json!({ moved.clone(): {"name": "ctr0"} }),
    );
    let out = c.run().ok();
    let flags = u32::from_str_radix(out.lines()[1].trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 1, 1, "ctr0 is not up:\n{out}");
    assert!(
        out.stdout.contains("inet 169.254.77.7/32"),
        "address not restored:\n{out}"
    );
    assert!(out.stdout.contains("ctr0"), "{out}");
    let gone = Command::new("ip")
        .args(["link", "show", &moved])
        .output()
        .expect("ip");
    assert!(!gone.status.success(), "{moved} is still on the host");
}

#[test]
fn missing_device_is_a_clear_error() {
    let mut c = Container::new(&["true"]);
    c.set("/linux/netDevices", json!({"rt-no-such0": {}}));
    c.create().fails_with("network device rt-no-such0");
}

/// runtime-spec 1.3: the device comes up in the container even if it was
/// down on the host, and only its permanent addresses of global scope go
/// with it (a link-scoped one and one with a lifetime stay behind). No
/// `name`: it keeps its host name.
#[test]
fn device_comes_up_with_its_permanent_global_addresses_only() {
    let (_veth, moved) = Veth::down();
    for args in [
        &["169.254.77.9/32"][..],
        &["169.254.78.1/32", "scope", "link"],
        &[
            "169.254.79.1/32",
            "valid_lft",
            "100",
            "preferred_lft",
            "100",
        ],
    ] {
        let mut a = vec!["addr", "add"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["dev", &moved]);
        host("ip", &a);
    }
    let mut c = Container::sh(&format!(
        "cat /sys/class/net/{moved}/flags; busybox ip -4 addr show {moved}"
    ));
    c.set("/linux/netDevices", json!({ moved.clone(): {} }));
    let out = c.run().ok();
    let flags = u32::from_str_radix(out.lines()[0].trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 1, 1, "{moved} is not up:\n{out}");
    assert!(out.stdout.contains("inet 169.254.77.9/32"), "{out}");
    assert!(
        !out.stdout.contains("169.254.78.1"),
        "a link-scoped address moved:\n{out}"
    );
    assert!(
        !out.stdout.contains("169.254.79.1"),
        "a temporary address moved:\n{out}"
    );
}

/// A name with `%d` is completed by the kernel: the first free one.
#[test]
fn a_template_name_is_completed_by_the_kernel() {
    let (_veth, moved) = Veth::down();
    let mut c = Container::sh("ls /sys/class/net");
    c.set("/linux/netDevices", json!({ moved: {"name": "ctr%d"} }));
    let out = c.run().ok();
    assert!(out.lines().contains(&"ctr0"), "{out}");
}

#[test]
fn devices_need_a_network_namespace() {
    let (_veth, moved) = Veth::down();
    let mut c = Container::new(&["true"]);
    c.remove_namespace("network");
    c.set("/linux/netDevices", json!({ moved.clone(): {} }));
    c.create()
        .fails_with("unable to move network devices without a NET namespace");
    host("ip", &["link", "show", &moved]);
}

#[test]
fn device_names_are_checked_as_runc_checks_them() {
    for (devices, bad) in [
        (json!({"a/b": {}}), "\"a/b\""),
        (json!({"lo": {"name": "eth 0"}}), "\"eth 0\""),
        (
            json!({"lo": {"name": "a-name-too-long-17"}}),
            "\"a-name-too-long-17\"",
        ),
    ] {
        let mut c = Container::new(&["true"]);
        c.set("/linux/netDevices", devices);
        c.create()
            .fails_with(&format!("invalid network device name {bad}"));
    }
}
