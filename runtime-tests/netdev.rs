//! `linux.netDevices`: a host interface moves into the container, renamed,
//! with its address and up state.

use std::process::Command;

use crate::common::{host, Container};
use serde_json::json;

/// A veth pair made for one test; the host end is deleted on drop (the
/// moved end goes away with the container's network namespace).
struct Veth {
    host_end: String,
}

impl Veth {
    fn new() -> (Veth, String) {
        let tag = format!("{:x}", std::process::id() % 0xffff);
        let (moved, host_end) = (format!("rtm{tag}"), format!("rth{tag}"));
        host(
            "ip",
            &[
                "link", "add", &moved, "type", "veth", "peer", "name", &host_end,
            ],
        );
        host("ip", &["addr", "add", "169.254.77.7/32", "dev", &moved]);
        host("ip", &["link", "set", &moved, "up"]);
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
