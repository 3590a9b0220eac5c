//! Capability rules, user namespaces, idmapped and recursive read-only
//! mounts, and rootless rt (an unprivileged user running it).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::procfs::{self, mount_at, status_field};
use common::{tempdir, Container};
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

#[test]
fn unknown_capabilities_are_a_clear_error() {
    let mut c = Container::sh("true");
    c.set(
        "/process/capabilities/bounding",
        json!(["CAP_KILL", "CAP_NO_SUCH_THING"]),
    );
    c.create()
        .fails_with("unknown capability CAP_NO_SUCH_THING");

    let running = Container::sleeper();
    running.start_ok();
    running
        .rt(&["exec", "--cap", "CAP_NO_SUCH_THING", &running.id, "true"])
        .fails_with("--cap CAP_NO_SUCH_THING: unknown capability");
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
        serde_json::from_str(&common::host(common::RT, &["features"])).expect("features JSON");
    assert_eq!(
        features["linux"]["mountExtensions"]["idmap"]["enabled"], true,
        "{features}"
    );

    let src = owned_dir(1000, 1000);
    let mut c = userns_container(
        "stat -c '%u:%g' /mnt/idmapped/file /mnt/plain/file; touch /mnt/idmapped/made",
    );
    c.push(
        "/mounts",
        json!({
            "destination": "/mnt/idmapped", "type": "bind", "source": src.path(), "options": ["bind"],
            "uidMappings": [{"containerID": 1000, "hostID": HOST_ID, "size": 1}],
            "gidMappings": [{"containerID": 1000, "hostID": HOST_ID, "size": 1}]
        }),
    )
    .push("/mounts", json!({"destination": "/mnt/plain", "type": "bind", "source": src.path(), "options": ["bind"]}));
    // Inside: 1000 -> HOST_ID on the mount, HOST_ID -> 0 in the container.
    // Without the mapping the file's owner is unmapped in the container.
    assert_eq!(c.run().ok().lines(), ["0:0", "65534:65534"]);
    // Written through the mount as the container's root: owned by 1000 on
    // the host.
    assert_eq!(
        fs::metadata(src.path().join("made")).expect("made").uid(),
        1000
    );
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

/// A throw-away unprivileged user (useradd gives it /etc/subuid and
/// /etc/subgid ranges); userdel'd on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

/// useradd and userdel lock /etc/passwd and fail, rather than wait, when
/// another holds it: the tests take turns.
static USERDB: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl User {
    fn new() -> User {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "rt-rootless-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let _turn = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        common::host(
            "useradd",
            &["--no-create-home", "--shell", "/bin/sh", &name],
        );
        let id = |flag: &str| {
            common::host("id", &[flag, &name])
                .trim()
                .parse()
                .expect("numeric id")
        };
        User {
            uid: id("-u"),
            gid: id("-g"),
            name: name.clone(),
        }
    }

    /// First subordinate uid of the user (/etc/subuid).
    fn subordinate(&self, file: &str) -> u32 {
        let text = procfs::read(file);
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{}:", self.name)))
            .unwrap_or_else(|| panic!("{} has no range in {file}", self.name));
        line.split(':')
            .nth(1)
            .expect("start")
            .parse()
            .expect("numeric start")
    }

    /// `setpriv` running `rt args...` as this user, with XDG_RUNTIME_DIR set
    /// and no --root.
    fn rt(&self, xdg: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(common::RT)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("XDG_RUNTIME_DIR", xdg);
        cmd
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _turn = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A bundle made by `rt spec --rootless` as `user`, run by `user`: the state
/// goes to $XDG_RUNTIME_DIR/rt, the cgroup (not writable) is skipped, and
/// the container's root is the user. `tweak` edits the config last;
/// `detach` runs it with `run --detach`.
fn rootless(
    user: &User,
    script: &str,
    detach: bool,
    tweak: impl FnOnce(&mut Container),
) -> (Container, tempfile::TempDir, common::Outcome) {
    rootless_with(user, &[], script, detach, tweak)
}

/// [`rootless`], with global flags before `run`.
fn rootless_with(
    user: &User,
    globals: &[&str],
    script: &str,
    detach: bool,
    tweak: impl FnOnce(&mut Container),
) -> (Container, tempfile::TempDir, common::Outcome) {
    let xdg = tempdir();
    std::os::unix::fs::chown(xdg.path(), Some(user.uid), Some(user.gid)).expect("chown xdg");
    fs::set_permissions(xdg.path(), fs::Permissions::from_mode(0o700)).expect("chmod xdg");
    let mut c = Container::sh(script);
    let spec_dir = c.scratch().join("spec");
    fs::create_dir(&spec_dir).expect("mkdir spec");
    std::os::unix::fs::chown(&spec_dir, Some(user.uid), Some(user.gid)).expect("chown spec dir");
    let spec_dir_arg = spec_dir.to_str().expect("utf-8");
    let out = common::run_with_deadline(
        user.rt(
            xdg.path(),
            &["spec", "--rootless", "--bundle", spec_dir_arg],
        ),
        &c.scratch().join("spec-call"),
    );
    out.ok();
    let spec: Value =
        serde_json::from_slice(&fs::read(spec_dir.join("config.json")).expect("rootless config"))
            .expect("config JSON");
    let args = c.config["process"]["args"].clone();
    let cgroup = c.config["linux"]["cgroupsPath"].clone();
    c.config = spec;
    c.set("/process/args", args)
        .set("/process/terminal", false)
        .set("/linux/cgroupsPath", cgroup);
    c.set("/root/readonly", false);
    tweak(&mut c);
    c.chown_rootfs(user.uid, user.gid);
    std::os::unix::fs::chown(c.scratch(), Some(user.uid), Some(user.gid)).expect("chown scratch");
    let bundle = c.bundle();
    let pid_file = c.pid_file();
    let mut args = globals.to_vec();
    args.extend([
        "run",
        "--bundle",
        bundle.to_str().expect("utf-8"),
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
    ]);
    if detach {
        args.push("--detach");
    }
    args.push(&c.id);
    let cmd = user.rt(xdg.path(), &args);
    let out = c.launch(cmd);
    (c, xdg, out)
}

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
        common::rootfs::owner(&c.rootfs().join("tmp/made-inside")),
        user.uid
    );
    assert!(
        xdg.path().join("rt").is_dir(),
        "no state root under XDG_RUNTIME_DIR"
    );
    assert!(
        common::residue::cgroup_dirs(&c.cgroup_name()).is_empty(),
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
        common::rootfs::owner(&c.rootfs().join("tmp/by-1000")),
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
        common::run_with_deadline(
            user.rt(xdg.path(), args),
            &c.scratch().join(format!("user-{}", args[0])),
        )
    };
    let out = as_user(&["exec", &c.id, "sh", "-c", "id -u; echo $$"]).ok();
    assert_eq!(out.lines(), ["0", "2"], "{out}");
    as_user(&["kill", &c.id, "KILL"]).ok();
    common::wait_for("the container to stop", || {
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
