//! Capability rules, user namespaces, idmapped and recursive read-only
//! mounts, and rootless rt (an unprivileged user running it).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::common::procfs::{self, mount_at, status_field};
use crate::common::rootless::{rootless, rootless_with, User};
use crate::common::{tempdir, Container};
use serde_json::{json, Value};

/// The host ids a user-namespaced container's root maps to.
const HOST_ID: u32 = 100000;

fn mask(status: &str, field: &str) -> u64 {
    u64::from_str_radix(&status_field(status, field), 16).expect("capability mask")
}

/// Bit of each capability these tests use (linux/capability.h).
const CHOWN: u64 = 1 << 0;
const KILL: u64 = 1 << 5;
const NET_BIND_SERVICE: u64 = 1 << 10;

// ---------------------------------------------------------------------------
// Capabilities

/// runc ≥ 1.2 (runtime spec ≥ 1.1): capability names no kernel knows are
/// ignored with a warning naming them, in config.json, a process file and
/// `exec --cap` alike; the container runs with the rest.
#[test]
fn unknown_capabilities_are_warned_about_and_ignored() {
    const WARNING: &str =
        "ignoring unknown or unavailable capabilities: [CAP_NO_SUCH_THING UNKNOWN_CAP]";
    let mut c = Container::new(&["grep", "^CapBnd", "/proc/self/status"]);
    c.set(
        "/process/capabilities/bounding",
        json!(["CAP_KILL", "CAP_NO_SUCH_THING", "UNKNOWN_CAP"]),
    );
    c.set("/process/capabilities/ambient", json!(["UNKNOWN_CAP"]));
    let out = c.run().ok();
    assert_eq!(mask(&out.stdout, "CapBnd"), KILL, "{out}");
    assert_eq!(out.stderr.matches(WARNING).count(), 1, "{out}");

    let running = Container::sleeper();
    running.start_ok();
    let status = "cat /proc/self/status";
    let out = running
        .rt(&[
            "exec",
            "--cap",
            "CAP_NO_SUCH_THING",
            "--cap",
            "UNKNOWN_CAP",
            "--cap",
            "CAP_CHOWN",
            &running.id,
            "sh",
            "-c",
            status,
        ])
        .ok();
    assert!(out.stderr.contains(WARNING), "{out}");
    assert_eq!(mask(&out.stdout, "CapEff") & CHOWN, CHOWN, "{out}");

    let process = running.scratch().join("process.json");
    let spec = json!({"args": ["sh", "-c", status], "cwd": "/",
        "capabilities": {"effective": ["UNKNOWN_CAP", "CAP_NO_SUCH_THING"], "permitted": []}});
    fs::write(&process, spec.to_string()).expect("write process.json");
    let out = running
        .rt(&[
            "exec",
            "--process",
            &process.display().to_string(),
            &running.id,
        ])
        .ok();
    assert!(out.stderr.contains(WARNING), "{out}");
}

/// runc ≥ 1.2: an ambient capability the kernel will not raise (not both
/// permitted and inheritable) is a warning in runc's words, not silence;
/// the ones it raises stay (runc's capabilities.bats).
#[test]
fn ambient_capabilities_not_inheritable_are_warned_about() {
    let mut c = Container::new(&["grep", "^CapAmb", "/proc/self/status"]);
    c.set("/process/capabilities/inheritable", json!(["CAP_KILL"]))
        .set(
            "/process/capabilities/ambient",
            json!(["CAP_KILL", "CAP_CHOWN"]),
        );
    let out = c.run().ok();
    assert_eq!(mask(&out.stdout, "CapAmb"), KILL, "{out}");
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains(
            "level=warning msg=\"can't raise ambient capability CAP_CHOWN: operation not permitted\""
        ),
        "{out}"
    );
}

/// runc ≥ 1.2: `exec --cap X` also raises X in the ambient set when the
/// process has an inheritable set (runc's capabilities.bats), and not
/// when it has none (CVE-2022-29162: nothing becomes inheritable).
#[test]
fn exec_cap_is_ambient_when_the_process_has_an_inheritable_set() {
    const SYSLOG: u64 = 1 << 34;
    let mut c = Container::sleeper();
    c.set(
        "/process/capabilities",
        json!({
            "inheritable": ["CAP_CHOWN", "CAP_SYSLOG"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_SYSLOG"],
            "ambient": ["CAP_CHOWN"]
        }),
    );
    c.start_ok();
    let status = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&c.id, "cat", "/proc/self/status"]);
        c.rt(&args).ok().stdout
    };
    let plain = status(&[]);
    assert_eq!(mask(&plain, "CapAmb"), CHOWN, "{plain}");
    let with = status(&["--cap", "CAP_SYSLOG"]);
    assert_eq!(mask(&with, "CapAmb"), CHOWN | SYSLOG, "{with}");
    assert_eq!(mask(&with, "CapPrm"), KILL | CHOWN | SYSLOG, "{with}");
    assert_eq!(mask(&with, "CapInh"), CHOWN | SYSLOG, "{with}");

    // No capabilities object at all: --cap gives exactly that capability,
    // not a default set, and nothing inheritable or ambient.
    let mut bare = Container::sleeper();
    bare.remove("/process/capabilities");
    bare.start_ok();
    let out = bare
        .rt(&[
            "exec",
            "--cap",
            "CAP_CHOWN",
            &bare.id,
            "cat",
            "/proc/self/status",
        ])
        .ok()
        .stdout;
    assert_eq!(mask(&out, "CapPrm"), CHOWN, "{out}");
    assert_eq!(
        (mask(&out, "CapInh"), mask(&out, "CapAmb")),
        (0, 0),
        "{out}"
    );
}

/// A capability the host does not let rt grant (rt's own bounding set
/// lacks CAP_SYS_RESOURCE here) is left out with a warning the caller
/// sees — the init reports it with Ready, as it can no longer log.
#[test]
fn capabilities_rt_cannot_grant_are_a_visible_warning() {
    let own = procfs::status_field(
        &fs::read_to_string("/proc/self/status").expect("status"),
        "CapBnd",
    );
    let sys_resource = 1u64 << 24;
    if u64::from_str_radix(&own, 16).expect("CapBnd") & sys_resource != 0 {
        eprintln!("skipped: this host lets rt grant CAP_SYS_RESOURCE");
        return;
    }
    let mut c = Container::new(&["true"]);
    c.set(
        "/process/capabilities/bounding",
        json!(["CAP_KILL", "CAP_SYS_RESOURCE"]),
    );
    let out = c.run().ok();
    assert!(
        out.stderr
            .contains("capabilities not granted (not in rt's own bounding set): CAP_SYS_RESOURCE"),
        "{out}"
    );
}

/// The runtime spec: an ambient capability is raised only if it is also
/// permitted and inheritable (the kernel refuses others); the rest of the
/// ambient set is ignored, not an error. A non-root program keeps exactly
/// the raised ones across exec.
#[test]
fn ambient_capabilities_need_permitted_and_inheritable() {
    let mut c = Container::new(&["cat", "/proc/self/status"]);
    c.set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .set(
            "/process/capabilities",
            json!({
                "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL", "CAP_CHOWN"],
                "permitted": ["CAP_KILL", "CAP_CHOWN"],
                "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
            }),
        );
    let status = c.run().ok().stdout;
    // Only CAP_KILL is in all three; non-root exec keeps the ambient set.
    assert_eq!(mask(&status, "CapAmb"), KILL, "{status}");
    assert_eq!(mask(&status, "CapPrm"), KILL, "{status}");
    assert_eq!(mask(&status, "CapEff"), KILL, "{status}");
    assert_eq!(mask(&status, "CapInh"), KILL | NET_BIND_SERVICE, "{status}");
    assert_eq!(mask(&status, "CapBnd") & CHOWN, CHOWN, "{status}");
}

// ---------------------------------------------------------------------------
// User namespaces (rt as root)

/// A container in its own user (and network) namespace, root mapped to
/// HOST_ID, with a rootfs its root owns.
fn userns_container(script: &str) -> Container {
    let mut c = Container::sh(script);
    c.add_namespace("user", None)
        .set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]),
        )
        .set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]),
        )
        .chown_rootfs(HOST_ID, HOST_ID);
    c
}

/// In a user namespace mknod is not allowed: the default devices are the
/// host's nodes bind-mounted, and procfs and sysfs (owned by the
/// container's pid and network namespaces) are mounted as usual.
#[test]
fn user_namespace_gets_proc_sys_and_bound_devices() {
    let c = userns_container("echo ok > /dev/null; head -c 4 /dev/zero | wc -c; cat /proc/self/uid_map; ls /sys/class/net; exec sleep 1000");
    c.start_ok();
    let out = c.wait_output("lo\n");
    assert!(out.starts_with("4\n"), "{out}");
    let map = format!("0 {HOST_ID} 65536");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == map),
        "{out}"
    );
    let mounts = procfs::mountinfo(&c.proc_file("mountinfo"));
    assert_eq!(mount_at(&mounts, "/proc").fstype, "proc");
    assert_eq!(mount_at(&mounts, "/sys").fstype, "sysfs");
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        let m = mount_at(&mounts, &format!("/dev/{dev}"));
        assert_eq!(
            m.root,
            format!("/{dev}"),
            "/dev/{dev} is not the host's node: {m:?}"
        );
    }
}

/// A host directory only the host's root may enter (0700) holding
/// `dir/foo.txt` with `text`: a bind source out of reach of a
/// user-namespaced root.
fn root_only_source(text: &str) -> tempfile::TempDir {
    let d = tempdir();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod 0700");
    fs::create_dir(d.path().join("dir")).expect("mkdir dir");
    fs::write(d.path().join("dir/foo.txt"), text).expect("write foo.txt");
    d
}

/// As with runc, a bind source that the container's root cannot reach in
/// its user namespace (below a 0700 directory of the host's root) is
/// opened by rt as the host's root and bound; its options still apply, the
/// init waiting for `start` holds no fd of it, and `exec` sees the mounts
/// (runc's userns.bats 2 and 3).
#[test]
fn userns_binds_sources_only_the_hosts_root_can_reach() {
    let (one, two) = (root_only_source("one"), root_only_source("two"));
    let mut c = userns_container("exec sleep 1000");
    c.push(
        "/mounts",
        json!({"destination": "/tmp/mount-1", "type": "bind", "source": one.path().join("dir"), "options": ["bind"]}),
    )
    .push(
        "/mounts",
        json!({"destination": "/tmp/mount-2", "type": "bind", "source": two.path().join("dir"), "options": ["bind", "ro"]}),
    );
    let pid = c.create_ok();
    for e in fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the init's fds")
        .flatten()
    {
        let target = fs::read_link(e.path()).unwrap_or_default();
        assert!(
            !target.starts_with(one.path()) && !target.starts_with(two.path()),
            "the waiting init holds {target:?}"
        );
    }
    c.start().ok();
    c.wait_exec();
    let out = c
        .rt(&[
            "exec",
            &c.id,
            "sh",
            "-c",
            "cat /tmp/mount-1/foo.txt; echo; cat /tmp/mount-2/foo.txt; echo; touch /tmp/mount-2/new 2>/dev/null || echo read-only",
        ])
        .ok();
    assert_eq!(out.lines(), ["one", "two", "read-only"], "{out}");
}

/// A container that joins the user namespace at `path` (another
/// container's), with no mappings of its own and the default new
/// namespaces otherwise.
fn joiner(target: &Container, path: &str, script: &str) -> Container {
    let mut c = target.sibling(&crate::common::sh(script));
    c.add_namespace("user", Some(path))
        .chown_rootfs(HOST_ID, HOST_ID);
    c
}

/// Binds `/proc/<pid>/ns/<ns>` on a file of `dir`: the namespace outlives
/// its processes, and is joined by a path that is not under /proc.
fn bind_ns(pid: i32, ns: &str, dir: &Path) -> Unmount {
    let file = dir.join(ns);
    fs::write(&file, "").expect("create the nsfs mount point");
    nix::mount::mount(
        Some(format!("/proc/{pid}/ns/{ns}").as_str()),
        &file,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind the namespace file");
    Unmount(file)
}

/// Joining another container's user namespace, by /proc/<pid>/ns/user or
/// through a bind mount of it: the namespaces the joining container
/// creates belong to that user namespace, as with runc (its nsexec
/// creates them after the joins) — its root brings up `lo` of its new
/// network namespace, it is pid 1 of its new pid namespace — and it runs as
/// that namespace's root with the target's mappings (runc's userns.bats 5
/// and 7, idmap.bats 25).
#[test]
fn joining_a_user_namespace_makes_it_own_the_new_namespaces() {
    let target = userns_container("exec sleep 1000");
    let pid = target.start_ok();
    let user = procfs::ns_link(&pid.to_string(), "user");
    let dir = tempdir();
    let bound = bind_ns(pid, "user", dir.path());
    for path in [
        format!("/proc/{pid}/ns/user"),
        bound.0.display().to_string(),
    ] {
        let c = joiner(
            &target,
            &path,
            "tr -s ' ' < /proc/self/uid_map; cat /sys/class/net/lo/flags; echo $$; id -u; readlink /proc/self/ns/user",
        );
        let out = c.run().ok();
        let lines = out.lines();
        assert_eq!(
            lines[0].trim(),
            format!("0 {HOST_ID} 65536"),
            "{path}: {out}"
        );
        let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).expect("lo flags");
        assert_eq!(flags & 1, 1, "{path}: lo is down: {out}");
        assert_eq!(lines[2..], ["1", "0", user.as_str()], "{path}: {out}");
    }
}

/// An external user namespace (kept by a bind mount after its container
/// is gone) and a network namespace it does not own (the host's root made
/// it): rt joins the network namespace with the host's credentials before
/// it joins the user namespace, as runc does, and so does `exec`; the new
/// namespaces belong to the joined user namespace (runc's userns.bats 8).
/// The same for a new user namespace with a network namespace of the host
/// (rootful Podman's --userns with a network): joined first, then the user
/// namespace is created.
#[test]
fn joins_before_the_user_namespace_need_the_hosts_credentials() {
    let net = crate::common::NetNs::new();
    let net_link = format!(
        "net:[{}]",
        fs::metadata(net.path()).expect("stat the netns file").ino()
    );
    let dir = tempdir();
    let bound = {
        let target = userns_container("exec sleep 1000");
        let pid = target.start_ok();
        bind_ns(pid, "user", dir.path())
    };
    let user_link = format!(
        "user:[{}]",
        fs::metadata(&bound.0).expect("stat the userns file").ino()
    );
    let script = "readlink /proc/self/ns/net; readlink /proc/self/ns/user; exec sleep 1000";
    // sysfs belongs to the network namespace's owner: the host's /sys
    // instead, as runc's test does.
    let host_sys = |c: &mut Container| {
        let mounts: Vec<Value> = c.config["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .map(|m| match m["type"] == "sysfs" {
                true => json!({"destination": m["destination"], "type": "bind", "source": "/sys", "options": ["rbind"]}),
                false => m.clone(),
            })
            .collect();
        c.set("/mounts", mounts);
    };

    let mut joined = Container::sh(script);
    joined
        .add_namespace("user", Some(&bound.0.display().to_string()))
        .add_namespace("network", Some(&net.path()))
        .chown_rootfs(HOST_ID, HOST_ID);
    host_sys(&mut joined);
    joined.start_ok();
    let out = joined.wait_output(&user_link);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [net_link.as_str(), user_link.as_str()]
    );
    let out = joined
        .rt(&["exec", &joined.id, "readlink", "/proc/self/ns/net"])
        .ok();
    assert_eq!(out.stdout.trim(), net_link);

    let mut created = userns_container(script);
    created.add_namespace("network", Some(&net.path()));
    host_sys(&mut created);
    created.start_ok();
    let out = created.wait_output("user:");
    assert_eq!(out.lines().next(), Some(net_link.as_str()), "{out}");
}

// ---------------------------------------------------------------------------
// Mount options: idmap, rro

/// A host directory and one file in it, both owned by `uid:gid`.
fn owned_dir(uid: u32, gid: u32) -> tempfile::TempDir {
    let d = tempdir();
    let f = d.path().join("file");
    fs::write(&f, "x").expect("write file");
    for p in [d.path(), f.as_path()] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
    }
    d
}

/// `mounts[].uidMappings/gidMappings`: an idmapped bind mount shows the
/// source's ids shifted. As in the kernel (and runc), `containerID` is the
/// id stored in the source filesystem and `hostID` the id the mount shows:
/// a file the host's 1000 owns, mapped 1000 -> HOST_ID, is the container's
/// root, and the root's new files are 1000's on the host. `rt features`
/// says idmapped mounts work.
#[test]
fn idmapped_bind_mount_shifts_owners() {
    let features: Value =
        serde_json::from_str(&crate::common::host(crate::common::RT, &["features"]))
            .expect("features JSON");
    assert_eq!(
        features["linux"]["mountExtensions"]["idmap"]["enabled"], true,
        "{features}"
    );

    let src = owned_dir(1000, 1000);
    let mut c = userns_container(
        "stat -c '%u:%g' /mnt/idmapped/file /mnt/plain/file /mnt/idmapped-ro/file; touch /mnt/idmapped/made; touch /mnt/idmapped-ro/not 2>/dev/null || echo read-only",
    );
    let idmapped = |dest: &str, options: &[&str]| {
        json!({
            "destination": dest, "type": "bind", "source": src.path(), "options": options,
            "uidMappings": [{"containerID": 1000, "hostID": HOST_ID, "size": 1}],
            "gidMappings": [{"containerID": 1000, "hostID": HOST_ID, "size": 1}]
        })
    };
    c.push("/mounts", idmapped("/mnt/idmapped", &["bind"]))
        .push("/mounts", json!({"destination": "/mnt/plain", "type": "bind", "source": src.path(), "options": ["bind"]}))
        // The other options go on the tree `create` made, in the init.
        .push("/mounts", idmapped("/mnt/idmapped-ro", &["bind", "ro", "nosuid"]));
    // Inside: 1000 -> HOST_ID on the mount, HOST_ID -> 0 in the container.
    // Without the mapping the file's owner is unmapped in the container.
    assert_eq!(
        c.run().ok().lines(),
        ["0:0", "65534:65534", "0:0", "read-only"]
    );
    // Written through the mount as the container's root: owned by 1000 on
    // the host.
    assert_eq!(
        fs::metadata(src.path().join("made")).expect("made").uid(),
        1000
    );
}

/// `idmap` (and mappings alone) shift the top mount of an `rbind` only,
/// `ridmap` every mount of it, as in runc; either option without mappings
/// of its own takes the container's user namespace (runc's implied
/// mapping: the container sees the ids stored on disk).
#[test]
fn idmap_covers_the_top_mount_and_ridmap_all_of_an_rbind() {
    let src = owned_dir(1000, 1000);
    let sub = src.path().join("sub");
    fs::create_dir(&sub).expect("mkdir sub");
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount tmpfs");
    let _unmount = Unmount(sub.clone());
    fs::write(sub.join("file"), "x").expect("write");
    std::os::unix::fs::chown(sub.join("file"), Some(1000), Some(1000)).expect("chown");
    let dirs = ["top", "rtop", "implied", "rimplied"];
    let script: String = dirs
        .iter()
        .map(|d| format!("stat -c '{d} %u:%g' /mnt/{d}/file /mnt/{d}/sub/file; "))
        .collect();
    let mut c = userns_container(&script);
    let maps = json!([{"containerID": 1000, "hostID": HOST_ID, "size": 1}]);
    for (dest, option, explicit) in [
        ("top", None, true),
        ("rtop", Some("ridmap"), true),
        ("implied", Some("idmap"), false),
        ("rimplied", Some("ridmap"), false),
    ] {
        let mut m = json!({"destination": format!("/mnt/{dest}"), "type": "bind", "source": src.path(), "options": ["rbind"]});
        if let Some(o) = option {
            m["options"].as_array_mut().expect("options").push(o.into());
        }
        if explicit {
            m["uidMappings"] = maps.clone();
            m["gidMappings"] = maps.clone();
        }
        c.push("/mounts", m);
    }
    assert_eq!(
        c.run().ok().lines(),
        [
            "top 0:0",
            "top 65534:65534",
            "rtop 0:0",
            "rtop 0:0",
            "implied 1000:1000",
            "implied 65534:65534",
            "rimplied 1000:1000",
            "rimplied 1000:1000",
        ]
    );
}

/// The idmapped trees `create` hands the init are closed with every other
/// fd of the host before the process's rlimits apply: 20 of them and
/// RLIMIT_NOFILE 20 (runc's idmap.bats 1 failed with EMFILE).
#[test]
fn idmapped_trees_are_closed_before_rlimits() {
    let src = owned_dir(0, 0);
    let mut c = userns_container("stat -c %u:%g /mnt/m0/file");
    for n in 0..20 {
        c.push("/mounts", json!({
            "destination": format!("/mnt/m{n}"), "type": "bind", "source": src.path(), "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": HOST_ID, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
        }));
    }
    c.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]),
    );
    assert_eq!(c.run().ok().stdout, "0:0\n");
}

/// `rro`: read-only on the bind mount and on every mount below it; plain
/// `ro` on a non-recursive bind only on its top.
#[test]
fn rro_is_read_only_all_the_way_down() {
    let host = tempdir();
    let sub = host.path().join("sub");
    fs::create_dir(&sub).expect("mkdir sub");
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount tmpfs");
    let _unmount = Unmount(sub.clone());
    let mut c = Container::sleeper();
    c.push("/mounts", json!({"destination": "/mnt/r", "type": "bind", "source": host.path(), "options": ["rbind", "rro"]}));
    c.start_ok();
    let mounts = procfs::mountinfo(&c.proc_file("mountinfo"));
    for at in ["/mnt/r", "/mnt/r/sub"] {
        assert!(
            mount_at(&mounts, at).has_option("ro"),
            "{at} is writable: {mounts:#?}"
        );
    }
}

/// Unmounts a host mount when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

// ---------------------------------------------------------------------------
// Rootless

/// An unprivileged user runs a container with `rt spec --rootless`: root
/// inside is the user outside, the state lives under $XDG_RUNTIME_DIR/rt,
/// and no cgroup is made (the user may not write the hierarchies).
#[test]
fn rootless_run_as_an_unprivileged_user() {
    let user = User::new();
    let script =
        "id -u; cat /proc/self/uid_map; ls /run/user-state 2>/dev/null; touch /tmp/made-inside";
    let (c, xdg, out) = rootless(&user, script, false, |_| {});
    let out = out.ok();
    let lines = out.lines();
    assert_eq!(lines[0], "0", "{out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", &user.uid.to_string(), "1"], "{out}");
    assert_eq!(
        crate::common::rootfs::owner(&c.rootfs().join("tmp/made-inside")),
        user.uid
    );
    assert!(
        xdg.path().join("rt").is_dir(),
        "no state root under XDG_RUNTIME_DIR"
    );
    assert!(
        crate::common::residue::cgroup_dirs(&c.cgroup_name()).is_empty(),
        "a rootless container made a cgroup"
    );
}

/// `--rootless false`: cgroups the user may not make are an error, as with
/// runc, and nothing is left; `--rootless true` skips them, as auto does
/// for a user other than root.
#[test]
fn rootless_false_makes_cgroups_required() {
    let user = User::new();
    let (c, xdg, out) = rootless_with(&user, &["--rootless", "false"], "true", false, |_| {});
    let line = out.fails_with("cannot create");
    assert!(line.contains("/sys/fs/cgroup"), "{line}");
    assert!(!xdg.path().join("rt").join(&c.id).exists());
    let (_c, _xdg, out) = rootless_with(&user, &["--rootless", "true"], "true", false, |_| {});
    out.ok();
}

/// Rootless Podman's way: rt runs as root of a user namespace that maps
/// only the user (here made by `unshare --map-root-user`), with
/// XDG_RUNTIME_DIR set, no $USER and no --root, for a config without a
/// user namespace of its own. As runc: the state goes under
/// $XDG_RUNTIME_DIR/rt (that root cannot write /run), the cgroups it may
/// not make are skipped (cgroup v1 gives a rootless user none), and /dev's
/// nodes are the host's, bound (mknod is the host root's). Its
/// /sys/fs/cgroup shows, read-only, the cgroups it runs in (runc's view of
/// a v1 host).
#[test]
fn root_of_a_user_namespace_is_rootless() {
    let user = User::new();
    let xdg = tempdir();
    std::os::unix::fs::chown(xdg.path(), Some(user.uid), Some(user.gid)).expect("chown xdg");
    fs::set_permissions(xdg.path(), fs::Permissions::from_mode(0o700)).expect("chmod xdg");
    let mut c = Container::sh(
        "tr -s ' ' < /proc/self/uid_map; stat -c '%F %t,%T' /dev/null; echo $$; stat -c %i /sys/fs/cgroup/memory",
    );
    c.set("/root/readonly", false)
        .chown_rootfs(user.uid, user.gid);
    // Only the user is mapped: no gid=5 for devpts (`spec --rootless`
    // drops it too).
    for m in c.config["mounts"].as_array_mut().expect("mounts") {
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| !o.as_str().is_some_and(|o| o.starts_with("gid=")));
        }
    }
    std::os::unix::fs::chown(c.scratch(), Some(user.uid), Some(user.gid)).expect("chown scratch");
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        &user.uid.to_string(),
        "--regid",
        &user.gid.to_string(),
        "--clear-groups",
        "--",
        "unshare",
        "--user",
        "--map-root-user",
        "--",
        crate::common::RT,
    ])
    .args(["run", "--bundle"])
    .arg(c.bundle())
    .arg(&c.id)
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    .env("XDG_RUNTIME_DIR", xdg.path());
    let out = c.launch(cmd).ok();
    // The memory cgroup this test (and so the container) is in.
    let memory = procfs::read("/proc/self/cgroup")
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .expect("a v1 memory hierarchy");
    let memory = fs::metadata(format!("/sys/fs/cgroup/memory{memory}"))
        .expect("stat the memory cgroup")
        .ino()
        .to_string();
    assert_eq!(
        out.lines(),
        [
            format!(" 0 {} 1", user.uid).as_str(),
            "character special file 1,3",
            "1",
            memory.as_str(),
        ],
        "{out}"
    );
    assert!(
        xdg.path().join("rt").is_dir(),
        "no state root under XDG_RUNTIME_DIR"
    );
    assert!(
        crate::common::residue::cgroup_dirs(&c.cgroup_name()).is_empty(),
        "a cgroup was made"
    );
}

/// Mappings beyond the user's own id go through newuidmap and newgidmap,
/// which check them against /etc/subuid and /etc/subgid.
#[test]
fn rootless_mappings_use_newuidmap() {
    let user = User::new();
    let (subuid, subgid) = (
        user.subordinate("/etc/subuid"),
        user.subordinate("/etc/subgid"),
    );
    let uid_map = json!([{"containerID": 0, "hostID": user.uid, "size": 1}, {"containerID": 1, "hostID": subuid, "size": 65536}]);
    let gid_map = json!([{"containerID": 0, "hostID": user.gid, "size": 1}, {"containerID": 1, "hostID": subgid, "size": 65536}]);
    // The process runs as the container's 1000, which only the second
    // range maps.
    let (c, _xdg, out) = rootless(
        &user,
        "cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/by-1000",
        false,
        |c| {
            c.set("/linux/uidMappings", uid_map)
                .set("/linux/gidMappings", gid_map)
                .set("/process/user", json!({"uid": 1000, "gid": 1000}));
        },
    );
    let out = out.ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[1], ["1", &subuid.to_string(), "65536"], "{out}");
    assert_eq!(lines[3], ["1", &subgid.to_string(), "65536"], "{out}");
    assert_eq!(
        crate::common::rootfs::owner(&c.rootfs().join("tmp/by-1000")),
        subuid + 999
    );
}

/// A detached rootless container: `exec` joins it (its user namespace
/// first, which owns the others), `kill` and `delete` end it, all as the
/// user.
#[test]
fn rootless_exec_kill_delete() {
    let user = User::new();
    let (c, xdg, out) = rootless(&user, "exec sleep 1000", true, |_| {});
    out.ok();
    let as_user = |args: &[&str]| {
        crate::common::run_with_deadline(
            user.rt(xdg.path(), args),
            &c.scratch().join(format!("user-{}", args[0])),
        )
    };
    let out = as_user(&["exec", &c.id, "sh", "-c", "id -u; echo $$"]).ok();
    assert_eq!(out.lines(), ["0", "2"], "{out}");
    as_user(&["kill", &c.id, "KILL"]).ok();
    crate::common::wait_for("the container to stop", || {
        as_user(&["state", &c.id])
            .stdout
            .contains("\"stopped\"")
            .then_some(())
    });
    as_user(&["delete", &c.id]).ok();
    assert!(
        !xdg.path().join("rt").join(&c.id).exists(),
        "the state directory is left"
    );
}

// ---------------------------------------------------------------------------
// Ids the kernel reads as something else

/// setresuid(2) reads (uid_t)-1 as "unchanged": a uid or gid of 4294967295
/// left the process root (issue 16, F7), a bypass of any "not uid 0"
/// policy. Every id past 2^31-1 is refused, as runc does, in config.json
/// at create and in every form exec takes, before anything is set up.
#[test]
fn ids_outside_the_kernel_range_are_refused() {
    const WANT: &str = "uids and gids must be in range 0-2147483647";
    for user in [
        json!({"uid": 4294967295u32, "gid": 0}),
        json!({"uid": 1000, "gid": 4294967295u32}),
        json!({"uid": 1000, "gid": 1000, "additionalGids": [4294967295u32]}),
        json!({"uid": 2147483648u32, "gid": 0}),
    ] {
        let mut c = Container::new(&["id"]);
        c.set("/process/user", user.clone());
        let line = c.create().fails_with(WANT);
        assert!(line.contains("process.user."), "{user}: {line}");
        // The guard's delete would hide a state directory left behind.
        assert!(!c.state_root().join(&c.id).exists(), "{user}: state left");
    }

    let c = Container::sleeper();
    c.start_ok();
    let process = c.scratch().join("process.json");
    let mut p = c.config["process"].clone();
    p["args"] = json!(["id"]);
    p["user"] = json!({"uid": 4294967295u32, "gid": 0});
    fs::write(&process, p.to_string()).expect("write process.json");
    let process = process.to_str().expect("utf-8");
    for args in [
        &["-u", "4294967295"][..],
        &["-u", "1000:4294967295"],
        &["-u", "1000", "-g", "4294967295"],
        &["--process", process],
    ] {
        let mut all = vec!["exec"];
        all.extend(args);
        all.extend([c.id.as_str(), "id"]);
        c.rt(&all).fails_with(WANT);
    }
}

// ---------------------------------------------------------------------------
// linux.sysctl

/// /proc/sys is only partly namespaced (issue 16, F3): a key is accepted
/// only when it belongs to a namespace the container has of its own, in
/// either spelling, and a namespace joined by path that is the host's does
/// not count. The refused values are the host's own, so that running this
/// against a runtime that writes them changes nothing; such a runtime fails
/// here because create succeeds. (spec-fixtures/broken/sysctl-* check the
/// exact lines.)
#[test]
fn sysctls_outside_the_containers_namespaces_are_refused() {
    let host = |file: &str| {
        procfs::read(&format!("/proc/sys/{file}"))
            .trim()
            .to_string()
    };
    // None: the default config's namespaces; Some((type, false)): without
    // that namespace; Some((type, true)): joining the host's by path.
    let cases = [
        (
            "kernel.printk_ratelimit_burst",
            None,
            "not in a separate kernel namespace",
        ),
        (
            "kernel/printk_ratelimit_burst",
            None,
            "not in a separate kernel namespace",
        ),
        (
            "net.core.somaxconn",
            Some(("network", false)),
            "not allowed in host network namespace",
        ),
        (
            "net/core/somaxconn",
            Some(("network", true)),
            "not allowed in host network namespace",
        ),
        (
            "kernel.shmmax",
            Some(("ipc", false)),
            "not allowed in the hosts ipc namespace",
        ),
        (
            "kernel.shmmax",
            Some(("ipc", true)),
            "not allowed in the hosts ipc namespace",
        ),
        (
            "user.max_inotify_instances",
            None,
            "without a user namespace not allowed",
        ),
    ];
    for (key, ns, want) in cases {
        let before = host(&key.replace('.', "/"));
        let mut c = Container::new(&["true"]);
        c.set("/linux/sysctl", json!({ key: before }));
        match ns {
            Some((t, false)) => c.remove_namespace(t),
            Some((t, true)) => {
                let file = if t == "network" { "net" } else { t };
                let path = format!("/proc/{}/ns/{file}", std::process::id());
                c.add_namespace(t, Some(&path))
            }
            None => &mut c,
        };
        let line = c.create().fails_with(want);
        assert!(line.contains(key), "{key}: {line}");
        assert!(!c.state_root().join(&c.id).exists(), "{key}: state left");
        assert_eq!(
            host(&key.replace('.', "/")),
            before,
            "{key} changed on the host"
        );
    }
    let mut c = Container::new(&["true"]);
    c.set("/linux/sysctl", json!({"kernel.hostname": "other"}));
    c.create()
        .fails_with("conflicts with the OCI \"hostname\" field");

    // The container's own namespaces take them, in both spellings.
    let somaxconn = host("net/core/somaxconn");
    let mut c = Container::new(&[
        "cat",
        "/proc/sys/net/core/somaxconn",
        "/proc/sys/kernel/domainname",
        "/proc/sys/fs/mqueue/msg_max",
    ]);
    c.set(
        "/linux/sysctl",
        json!({"net/core/somaxconn": "123", "kernel.domainname": "inside", "fs.mqueue.msg_max": "42"}),
    );
    assert_eq!(c.run().ok().lines(), ["123", "inside", "42"]);
    assert_eq!(host("net/core/somaxconn"), somaxconn);
}

// ---------------------------------------------------------------------------
// Files rt writes next to others' files

/// `--pid-file` is written to a temporary file and renamed; a symlink
/// planted at the temporary name rt used to use (`.<name>.tmp`, issue 16
/// F5) made rt write the pid into the symlink's target. Now the temporary
/// file is new (O_CREAT|O_EXCL|O_NOFOLLOW, a name nobody can predict), for
/// create, run and exec alike (restore writes it the same way).
#[test]
fn pid_file_never_writes_through_a_planted_symlink() {
    let victim_dir = tempdir();
    let victim = victim_dir.path().join("victim");
    fs::write(&victim, "precious").expect("write victim");
    let plant = |pid_file: &Path| {
        let name = pid_file.file_name().expect("name").to_string_lossy();
        let tmp = pid_file.with_file_name(format!(".{name}.tmp"));
        std::os::unix::fs::symlink(&victim, tmp).expect("plant symlink");
    };
    let pid_in = |file: &Path| -> i32 {
        let text = fs::read_to_string(file).expect("read pid file");
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid file holds {text:?}"))
    };

    let created = Container::sleeper();
    plant(&created.pid_file());
    let pid = created.create_ok();
    assert_eq!(pid_in(&created.pid_file()), pid);

    let ran = created.sibling(&["sleep", "1000"]);
    plant(&ran.pid_file());
    ran.run_with(&["--detach"]).ok();
    assert!(pid_in(&ran.pid_file()) > 0);

    created.start().ok();
    let exec_pid = created.scratch().join("exec.pid");
    plant(&exec_pid);
    created
        .rt(&[
            "exec",
            "--detach",
            "--pid-file",
            exec_pid.to_str().expect("utf-8"),
            &created.id,
            "sleep",
            "1000",
        ])
        .ok();
    assert!(pid_in(&exec_pid) > 0);
    for p in [created.pid_file(), ran.pid_file(), exec_pid] {
        assert!(
            !fs::symlink_metadata(&p)
                .expect("pid file")
                .file_type()
                .is_symlink(),
            "{} is the planted symlink",
            p.display()
        );
    }
    assert_eq!(
        fs::read_to_string(&victim).expect("read victim"),
        "precious"
    );
}

/// The owner of an image directory rt must refuse.
const NOBODY: u32 = 65534;

/// A directory at `path` owned by nobody, as another user would make it.
fn nobodys_dir(path: &Path) {
    fs::create_dir(path).expect("mkdir");
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
}

/// Checkpoint images decide what a restore runs (hooks, rootfs, memory),
/// and criu writes its log where rt tells it: rt refuses image and work
/// directories another user owns or every user may write (issue 16, F6),
/// with one line and before anything is made.
#[test]
fn restore_refuses_images_another_user_can_change() {
    let c = Container::sleeper();
    let foreign = c.scratch().join("foreign");
    nobodys_dir(&foreign);
    fs::write(foreign.join("rt-checkpoint.json"), "{}").expect("write meta");
    let open = c.scratch().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let mine = c.scratch().join("mine");
    fs::create_dir(&mine).expect("mkdir");
    let bundle = c.bundle();
    let bundle = bundle.to_str().expect("utf-8");
    for (images, work, want) in [
        (&foreign, None, "is owned by uid 65534"),
        (&open, None, "is writable by every user"),
        (&mine, Some(&foreign), "is owned by uid 65534"),
    ] {
        let mut args = vec![
            "restore",
            "--detach",
            "--bundle",
            bundle,
            "--image-path",
            images.to_str().expect("utf-8"),
        ];
        if let Some(w) = work {
            args.extend(["--work-path", w.to_str().expect("utf-8")]);
        }
        args.push(&c.id);
        let line = c.rt(&args).fails_with(want);
        assert!(line.contains("another user can change"), "{line}");
        assert!(!c.state_root().join(&c.id).exists(), "state left: {line}");
    }
    assert_eq!(
        fs::read_dir(&foreign).expect("list").count(),
        1,
        "rt wrote into another user's directory"
    );
}

/// `rt migrate` put its images in `$TMPDIR/rt-migrate-<id>-<pid>` and
/// accepted that directory when another user had made it first (issue 16,
/// F6), who could then swap the images before the restore. Directories
/// are planted at that name for the pids rt is about to get: none may be
/// used. (criu cannot dump on this host, so the migration fails after its
/// images directory is made; in the VM it may succeed: either way.)
#[test]
fn migrate_never_adopts_a_planted_images_directory() {
    let c = Container::sleeper();
    c.start_ok();
    let tmp = c.scratch().join("tmp");
    fs::create_dir(&tmp).expect("mkdir tmp");
    let to = c.scratch().join("to");
    let planted = |pid: u32| tmp.join(format!("rt-migrate-{}-{pid}", c.id));
    const WINDOW: u32 = 2000;
    let mut tries = 0;
    let (out, pid) = loop {
        // The next pids, from a process started just before.
        let next = std::process::Command::new("true")
            .spawn()
            .expect("spawn true")
            .id()
            + 1;
        for pid in next..next + WINDOW {
            if !planted(pid).exists() {
                nobodys_dir(&planted(pid));
            }
        }
        let mut cmd = c.command(&[
            "migrate",
            "--pre-dumps",
            "0",
            "--to",
            to.to_str().expect("utf-8"),
            &c.id,
        ]);
        let err = c.scratch().join("migrate.err");
        cmd.env("TMPDIR", &tmp)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(&err).expect("stderr file"));
        let mut child = cmd.spawn().expect("spawn rt migrate");
        let pid = child.id();
        let status = child.wait().expect("wait rt migrate");
        let out = format!("{status}: {}", fs::read_to_string(&err).unwrap_or_default());
        if (next..next + WINDOW).contains(&pid) {
            break (out, pid);
        }
        // Another test took the window's pids: plant again further on.
        tries += 1;
        assert!(tries < 5, "rt's pid {pid} missed the planted names 5 times");
    };
    for e in fs::read_dir(&tmp).expect("list tmp") {
        let e = e.expect("entry");
        let meta = e.metadata().expect("stat");
        assert_eq!(
            meta.uid(),
            NOBODY,
            "{:?} left in TMPDIR ({out})",
            e.file_name()
        );
        assert_eq!(
            fs::read_dir(e.path()).expect("list").count(),
            0,
            "rt wrote into {:?} ({out})",
            e.file_name()
        );
    }
    assert!(
        planted(pid).exists(),
        "the planted directory of rt's pid is gone ({out})"
    );

    if to.join(&c.id).exists() {
        // Migrated (criu works here): the copy is this test's to remove.
        let mut del = std::process::Command::new(crate::common::RT);
        del.arg("--root")
            .arg(&to)
            .args(["delete", "--force", &c.id]);
        crate::common::run_with_deadline(del, &c.scratch().join("delete-copy")).ok();
    } else {
        // An --image-path another user owns is refused before anything.
        let foreign = c.scratch().join("foreign");
        nobodys_dir(&foreign);
        c.rt(&[
            "migrate",
            "--image-path",
            foreign.to_str().expect("utf-8"),
            "--to",
            to.to_str().expect("utf-8"),
            &c.id,
        ])
        .fails_with("is owned by uid 65534");
        assert_eq!(c.status(), "running");
    }
}

// ---------------------------------------------------------------------------
// Session keyrings

/// Give the calling thread — and the rt processes it starts, which inherit
/// it — a new session keyring that only its possessors may even describe
/// (possessor permissions only); its serial.
fn private_session_keyring(name: &str) -> i64 {
    let name = std::ffi::CString::new(name).expect("keyring name");
    let serial = rt::syscall::join_session_keyring(&name).expect("join a session keyring");
    rt::syscall::set_key_perm(serial, 0x3f00_0000).expect("setperm");
    i64::from(serial)
}

/// Containers shared the session keyring of whoever ran rt (issue 16, F2):
/// its keys were theirs to read and to add to. Now the init joins a new
/// keyring `_ses.<id>`, searchable by its owner (by everyone in a user
/// namespace), `rt exec` joins that same one, and --no-new-keyring keeps
/// the caller's for both. Each container runs a probe that describes the
/// caller's keyring, which only a process possessing it may (exit 0; else
/// EACCES, 13).
#[test]
fn containers_get_a_session_keyring_of_their_own() {
    let caller = private_session_keyring(&format!("rt-test-caller-{}", std::process::id()));
    const KEYCTL_DESCRIBE: u64 = libc::KEYCTL_DESCRIBE as u64;
    let describe = crate::probe::call(
        crate::probe::Abi::X64,
        libc::SYS_keyctl as u32,
        &[KEYCTL_DESCRIBE, caller as u64, 0, 0],
    );
    let script = "/probe; echo caller=$?; grep ' _ses[.]' /proc/keys; echo done; exec sleep 1000";
    for (userns, flags, want_caller, want_perm) in [
        (false, &[][..], 13, Some("3f1b0000")),
        (true, &[], 13, Some("3f130008")),
        (false, &["--no-new-keyring"], 0, None),
    ] {
        let mut c = if userns {
            userns_container(script)
        } else {
            Container::sh(script)
        };
        // /proc/keys is masked by default.
        let masked: Vec<Value> = c.config["linux"]["maskedPaths"]
            .as_array()
            .expect("maskedPaths")
            .iter()
            .filter(|p| *p != "/proc/keys")
            .cloned()
            .collect();
        c.set("/linux/maskedPaths", masked);
        let probe_path = c.rootfs().join("probe");
        fs::write(&probe_path, &describe).expect("write probe");
        fs::set_permissions(&probe_path, fs::Permissions::from_mode(0o755)).expect("chmod");
        c.create_with(flags).ok();
        c.start().ok();
        let out = c.wait_output("done\n");
        let case = format!("userns {userns} {flags:?}:\n{out}");
        assert!(out.contains(&format!("caller={want_caller}\n")), "{case}");
        let own = out
            .lines()
            .find(|l| l.ends_with(&format!(" _ses.{}: empty", c.id)));
        match want_perm {
            Some(perm) => {
                let line = own.unwrap_or_else(|| panic!("no keyring _ses.<id>: {case}"));
                assert!(line.contains(&format!(" perm {perm} ")), "{case}");
            }
            None => assert!(own.is_none(), "{case}"),
        }
        let exec = c.rt(&["exec", &c.id, "/probe"]);
        assert_eq!(exec.code, want_caller, "exec, {case}\n{exec}");
    }
}

/// The kernel joins an existing keyring of the name when it may be
/// searched, whoever made it: a user who makes `_ses.<id>` first, open to
/// all, would share the container's keys. rt refuses such a keyring.
#[test]
fn a_session_keyring_planted_by_another_user_is_refused() {
    use std::os::unix::process::CommandExt;
    let c = Container::new(&["true"]);
    let name = std::ffi::CString::new(format!("_ses.{}", c.id)).expect("name");
    let mut planter = Command::new("sleep");
    planter.arg("60").uid(NOBODY).gid(NOBODY);
    rt::syscall::keyring_in_child(&mut planter, name, 0x3f3f_3f3f);
    let mut planter = planter.spawn().expect("plant the keyring");
    let out = c.create();
    let _ = planter.kill();
    let _ = planter.wait();
    out.fails_with(&format!(
        "session keyring _ses.{} belongs to uid {NOBODY}",
        c.id
    ));
    assert!(!c.state_root().join(&c.id).exists(), "state left");
}
