//! Namespaces: each type created (the container's link differs from the
//! host's and the namespace shows its effect inside) or joined by path.

use crate::common::{host, procfs, Container, NetNs};
use serde_json::json;

/// Every namespace type rt can create, by its /proc/<pid>/ns name.
const TYPES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// Each namespace in the config is new; each absent one is the host's.
#[test]
fn created_namespaces_differ_from_the_host() {
    for (typ, proc_name) in TYPES {
        let mut c = Container::sleeper();
        c.add_namespace(typ, None);
        let pid = c.start_ok().to_string();
        assert_ne!(
            procfs::ns_link(&pid, proc_name),
            procfs::ns_link("self", proc_name),
            "{typ} is the host's"
        );

        let mut without = Container::sleeper();
        without.remove_namespace(typ).remove("/hostname");
        // Without a mount namespace rt mounts in the caller's: this
        // thread's own.
        let private_ns =
            (*typ == "mount").then(|| crate::common::PrivateMountNs::enter(&without.rootfs()));
        let pid = without.start_ok().to_string();
        let caller = if private_ns.is_some() {
            "thread-self"
        } else {
            "self"
        };
        assert_eq!(
            procfs::ns_link(&pid, proc_name),
            procfs::ns_link(caller, proc_name),
            "{typ} is not the caller's"
        );
    }
}

/// `"path": ""` asks for a new namespace, as with runc (its tests write
/// the mount namespace so when they join every other one).
#[test]
fn an_empty_namespace_path_is_a_new_namespace() {
    for (typ, proc_name) in [("mount", "mnt"), ("uts", "uts")] {
        let mut c = Container::sleeper();
        c.add_namespace(typ, Some(""));
        let pid = c.start_ok().to_string();
        assert_ne!(
            procfs::ns_link(&pid, proc_name),
            procfs::ns_link("self", proc_name),
            "{typ} is the host's"
        );
    }
}

#[test]
fn pid_namespace_makes_init_pid_1() {
    let c = Container::sh("echo $$; exec sleep 1000");
    let pid = c.start_ok();
    c.wait_output("1\n");
    // Seen from the host: its host pid, then pid 1 in the nested namespace.
    assert_eq!(
        procfs::status_field(&c.proc_file("status"), "NSpid"),
        format!("{pid}\t1")
    );
}

#[test]
fn uts_namespace_sets_hostname_and_domainname() {
    let host_name = procfs::read("/proc/sys/kernel/hostname");
    let mut c = Container::sh("hostname; cat /proc/sys/kernel/domainname");
    c.set("/hostname", "rt-box")
        .set("/domainname", "example.test");
    assert_eq!(c.run().ok().lines(), ["rt-box", "example.test"]);
    assert_eq!(procfs::read("/proc/sys/kernel/hostname"), host_name);
}

/// The POSIX message queues a container sees in its ipc namespace, after
/// `first` made one: `join` says whether to join first's namespace.
fn queues_seen(first: &Container, join: bool) -> String {
    let mut c = first.sibling(&["ls", "/dev/mqueue"]);
    if join {
        c.add_namespace("ipc", Some(&format!("/proc/{}/ns/ipc", first.pid())));
    }
    c.run().ok().stdout
}

#[test]
fn ipc_namespace_isolates_message_queues() {
    // A file made on an mqueue mount is a message queue of the mounter's
    // ipc namespace.
    let first = Container::sh("touch /dev/mqueue/rt-queue; echo made; exec sleep 1000");
    first.start_ok();
    first.wait_output("made");
    assert_eq!(queues_seen(&first, true), "rt-queue\n");
    assert_eq!(queues_seen(&first, false), "");
}

#[test]
fn network_namespace_has_only_loopback() {
    let c = Container::sh("ls /sys/class/net");
    assert_eq!(c.run().ok().lines(), ["lo"]);
}

#[test]
fn mount_namespace_hides_container_mounts_from_the_host() {
    let c = Container::sleeper();
    c.start_ok();
    let inside = procfs::mountinfo(&c.proc_file("mountinfo"));
    assert!(
        procfs::mount_at(&inside, "/")
            .root
            .ends_with("/bundle/rootfs"),
        "/ is not the rootfs: {inside:?}"
    );
    assert!(inside.iter().any(|m| m.mount_point == "/dev/mqueue"));
    assert!(
        crate::common::residue::mounts_mentioning(&c.bundle()).is_empty(),
        "the rootfs bind is visible on the host"
    );
}

/// /proc/self/cgroup of a container, one line per hierarchy.
fn cgroup_lines(with_cgroupns: bool) -> (String, String) {
    let mut c = Container::new(&["cat", "/proc/self/cgroup"]);
    if with_cgroupns {
        c.add_namespace("cgroup", None);
    }
    (c.id.clone(), c.run().ok().stdout)
}

#[test]
fn without_cgroup_namespace_the_host_path_shows() {
    let (id, cgroup) = cgroup_lines(false);
    for line in procfs::cgroup_lines_mounted_here(&cgroup) {
        assert!(line.ends_with(&format!(":/rt-test/{id}")), "{line}");
    }
}

#[test]
fn cgroup_namespace_roots_the_container_cgroup() {
    let (_, cgroup) = cgroup_lines(true);
    for line in cgroup.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup path is not the namespace root: {line}"
        );
    }
}

#[test]
fn user_namespace_maps_ids() {
    let mut c =
        Container::sh("cat /proc/self/uid_map /proc/self/gid_map; id; touch /tmp/made-inside");
    c.add_namespace("user", None)
        .set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        )
        .set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        )
        .set("/root/readonly", false)
        .chown_rootfs(100000, 100000);
    let out = c.run().ok();
    let maps: Vec<Vec<&str>> = out.lines()[..2]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(maps, [["0", "100000", "65536"], ["0", "100000", "65536"]]);
    assert_eq!(out.lines()[2], "uid=0(root) gid=0(root)");
    assert_eq!(
        crate::common::rootfs::owner(&c.rootfs().join("tmp/made-inside")),
        100000
    );
}

/// The boot-time offset the time-namespace tests give their container.
const SHIFT_SECS: u64 = 1000 * 86400;

/// A container running `args` in a time namespace of its own, its boot
/// time shifted by [`SHIFT_SECS`].
fn time_shifted(args: &[&str]) -> Container {
    let mut c = Container::new(args);
    c.add_namespace("time", None).set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": SHIFT_SECS, "nanosecs": 0}}),
    );
    c
}

/// `uptime` (/proc/uptime's text) is the host's, shifted.
fn assert_shifted(uptime: &str) {
    let inside = uptime_secs(uptime);
    let host = uptime_secs(&procfs::read("/proc/uptime"));
    assert!(
        inside >= host + SHIFT_SECS as f64 - 60.0,
        "uptime inside {inside}s, host {host}s"
    );
}

#[test]
fn time_namespace_shifts_uptime() {
    let c = time_shifted(&["cat", "/proc/uptime"]);
    assert_shifted(&c.run().ok().stdout);
}

/// An exec'd process joins the container's time namespace too. The exec
/// child that joins the namespaces shares rt's memory where it can, and
/// setns(2) refuses a time namespace to such a process (EUSERS): it is
/// forked then (`syscall::clone_vm`).
#[test]
fn exec_joins_the_time_namespace() {
    let c = time_shifted(&["sleep", "1000"]);
    c.start_ok();
    assert_shifted(&c.rt(&["exec", &c.id, "cat", "/proc/uptime"]).ok().stdout);
}

fn uptime_secs(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("uptime {text:?}"))
}

#[test]
fn join_network_namespace_by_path() {
    let ns = NetNs::new();
    // No dummy driver on this kernel: a bridge is the link that needs no peer.
    host(
        "ip",
        &["-n", &ns.name, "link", "add", "rtjoin0", "type", "bridge"],
    );
    let mut c = Container::sh("ls /sys/class/net");
    c.add_namespace("network", Some(&ns.path()));
    assert_eq!(c.run().ok().lines(), ["lo", "rtjoin0"]);
}

#[test]
fn join_uts_namespace_of_another_container() {
    let mut first = Container::sleeper();
    first.set("/hostname", "first-box");
    let pid = first.start_ok();
    let mut second = first.sibling(&["hostname"]);
    second
        .remove("/hostname")
        .add_namespace("uts", Some(&format!("/proc/{pid}/ns/uts")));
    assert_eq!(second.run().ok().stdout, "first-box\n");
}

/// runc and crun bring up `lo` of a new network namespace: 127.0.0.1 works.
#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let out = Container::new(&["cat", "/sys/class/net/lo/flags"])
        .run()
        .ok();
    let flags = u32::from_str_radix(out.stdout.trim().trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 1, 1, "lo is down: {out}");
}

/// A pid namespace given by path applies to the init's children only, so
/// the procfs the init mounts must be made for that namespace (procfs's
/// pidns=, or a child forked into it): the container's /proc shows the
/// other container's processes — its pid 1 — and not the host's (runc's
/// run.bats "joining existing container namespaces" adds the user
/// namespace).
#[test]
fn a_joined_pid_namespace_gets_its_own_procfs() {
    let mut owner = Container::sh("echo ready-owner; exec sleep 1000");
    owner.add_namespace("pid", None);
    let pid = owner.start_ok();
    let mut c = owner.sibling(&[
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'",
    ]);
    c.add_namespace("pid", Some(&format!("/proc/{pid}/ns/pid")));
    let out = c.run().ok();
    let mut lines = out.stdout.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("sleep"),
        "pid 1 of the container's /proc is {first:?}:\n{out}"
    );
    let n: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a count");
    assert!(n <= 5, "the container's /proc lists {n} processes:\n{out}");
}
