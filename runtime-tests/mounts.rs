//! The container's filesystem: the rootfs, `mounts` with their options,
//! /dev, masked and read-only paths, sysctls, propagation, and mount
//! destinations that try to leave the rootfs.

use std::fs;
use std::path::Path;

use crate::common::procfs::{self, mount_at, MountLine};
use crate::common::{tempdir, Container};
use nix::mount::{MntFlags, MsFlags};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The mounts of a running container, read from the host.
fn mounts_of(c: &Container) -> Vec<MountLine> {
    procfs::mountinfo(&c.proc_file("mountinfo"))
}

/// A running `sleep` container with `mounts` appended to the default ones.
fn sleeper_with_mounts(mounts: &[Value]) -> Container {
    let mut c = Container::sleeper();
    for m in mounts {
        c.push("/mounts", m.clone());
    }
    c.start_ok();
    c
}

fn bind(source: &Path, destination: &str, options: &[&str]) -> Value {
    let mut opts = vec!["bind"];
    opts.extend_from_slice(options);
    json!({"destination": destination, "type": "bind", "source": source, "options": opts})
}

/// A host directory holding one file, `marker`.
fn host_dir() -> TempDir {
    let d = tempdir();
    fs::write(d.path().join("marker"), "host").expect("write marker");
    d
}

#[test]
fn readonly_root_refuses_writes() {
    let c = Container::sh("touch /new-file");
    let out = c.run();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");

    let mut rw = Container::sh("touch /new-file");
    rw.set("/root/readonly", false);
    rw.run().ok();
    assert!(rw.rootfs().join("new-file").exists());
}

#[test]
fn bind_mount_options_reach_mountinfo() {
    let src = host_dir();
    let c = sleeper_with_mounts(&[
        bind(
            src.path(),
            "/mnt/locked",
            &["ro", "nosuid", "nodev", "noexec"],
        ),
        bind(src.path(), "/mnt/open", &[]),
    ]);
    let mounts = mounts_of(&c);
    let locked = mount_at(&mounts, "/mnt/locked");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(locked.has_option(o), "{o} missing: {locked:?}");
    }
    let open = mount_at(&mounts, "/mnt/open");
    assert!(
        open.has_option("rw") && !open.has_option("noexec"),
        "{open:?}"
    );
}

#[test]
fn bind_mounts_write_through_unless_ro() {
    let src = host_dir();
    let mut c =
        Container::sh("cat /mnt/ro/marker; echo inside > /mnt/rw/new; echo inside > /mnt/ro/new");
    c.push("/mounts", bind(src.path(), "/mnt/ro", &["ro"]))
        .push("/mounts", bind(src.path(), "/mnt/rw", &[]));
    let out = c.run();
    assert_eq!(out.stdout, "host", "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert_eq!(
        fs::read_to_string(src.path().join("new")).expect("written through"),
        "inside\n"
    );
}

/// A tmpfs mounted on the host at `<dir>/sub`, shared (this host's / is
/// private: propagation needs a shared source), unmounted on drop.
struct HostMount {
    dir: TempDir,
}

impl HostMount {
    fn new() -> HostMount {
        let dir = tempdir();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).expect("mkdir sub");
        mount_tmpfs(&sub);
        nix::mount::mount(
            None::<&str>,
            &sub,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .expect("make shared");
        fs::write(sub.join("in-submount"), "x").expect("write into submount");
        HostMount { dir }
    }

    fn sub(&self) -> std::path::PathBuf {
        self.dir.path().join("sub")
    }
}

fn mount_tmpfs(at: &Path) {
    nix::mount::mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount host tmpfs");
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let late = self.sub().join("late");
        let _ = nix::mount::umount2(&late, MntFlags::MNT_DETACH);
        let _ = nix::mount::umount2(&self.sub(), MntFlags::MNT_DETACH);
    }
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let host = HostMount::new();
    let mut c = Container::sh("ls /mnt/rec/sub; echo --; ls /mnt/flat/sub");
    c.push("/mounts", bind(host.dir.path(), "/mnt/rec", &["rbind"]))
        .push("/mounts", bind(host.dir.path(), "/mnt/flat", &[]));
    assert_eq!(c.run().ok().lines(), ["in-submount", "--"]);
}

/// `rbind, ro` makes the top mount read-only and leaves the mounts below
/// as they are, as runc does; `rro` makes all of them read-only.
#[test]
fn rbind_ro_covers_the_top_mount_and_rro_all() {
    let host = HostMount::new();
    let script = "for d in ro rro; do \
        touch /mnt/$d/top 2>/dev/null && echo $d top written; \
        touch /mnt/$d/sub/below 2>/dev/null && echo $d below written; done; true";
    let mut c = Container::sh(script);
    c.push(
        "/mounts",
        bind(host.dir.path(), "/mnt/ro", &["rbind", "ro"]),
    )
    .push(
        "/mounts",
        bind(host.dir.path(), "/mnt/rro", &["rbind", "rro"]),
    );
    assert_eq!(c.run().ok().lines(), ["ro below written"]);
}

/// The per-mount options of /mnt in a container binding the host tmpfs
/// `host` there with `options`, after setting `host_flags` on the host's
/// mount (as runc's mounts_sshfs.bats sets them on its source), in a user
/// namespace or not.
fn bind_over_flags(
    host: &HostMount,
    host_flags: MsFlags,
    options: &[&str],
    userns: bool,
) -> crate::common::Outcome {
    let remount = |flags: MsFlags| {
        nix::mount::mount(
            None::<&str>,
            &host.sub(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
            None::<&str>,
        )
        .expect("set the host mount's flags")
    };
    remount(MsFlags::MS_STRICTATIME);
    remount(host_flags);
    let mut c = Container::sh("awk '$2 == \"/mnt\" { print $4 }' /proc/self/mounts");
    c.push(
        "/mounts",
        json!({"destination": "/mnt", "type": "bind", "source": host.sub(), "options": options}),
    );
    if userns {
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c.add_namespace("user", None)
            .set("/linux/uidMappings", map.clone())
            .set("/linux/gidMappings", map)
            .chown_rootfs(100000, 100000);
    }
    c.run()
}

fn has(opts: &str, o: &str) -> bool {
    opts.trim().split(',').any(|x| x == o)
}

/// A bind with a clearing option gets exactly the flags asked for, as
/// runc (not mount(8)) does: the source's other flags go, but its atime
/// stays unless an atime flag is set.
#[test]
fn bind_with_a_clearing_option_sets_exactly_the_flags_given() {
    let host = HostMount::new();
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    let ro_noexec = MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC | nosymfollow | MsFlags::MS_NODIRATIME;
    let out = bind_over_flags(&host, ro_noexec, &["bind", "dev"], false).ok();
    let o = out.stdout.as_str();
    assert!(
        has(o, "rw") && !has(o, "noexec") && !has(o, "nosymfollow"),
        "{o}"
    );
    assert!(has(o, "nodiratime"), "{o}");
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME;
    let out = bind_over_flags(
        &host,
        locked,
        &["bind", "dev", "suid", "exec", "atime"],
        false,
    )
    .ok();
    let o = out.stdout.as_str();
    assert!(
        !has(o, "nosuid") && !has(o, "nodev") && !has(o, "noexec"),
        "{o}"
    );
    assert!(has(o, "noatime"), "{o}");
}

/// In a user namespace the source's flags are locked: the ones not asked
/// about are kept, a non-lockable one (nosymfollow) is still cleared, and
/// clearing a locked one or changing the atime fails in runc's words.
#[test]
fn bind_in_a_user_namespace_keeps_the_sources_locked_flags() {
    let host = HostMount::new();
    let out = bind_over_flags(
        &host,
        MsFlags::MS_RDONLY,
        &["bind", "nosuid", "nodev"],
        true,
    )
    .ok();
    let o = out.stdout.as_str();
    assert!(has(o, "ro") && has(o, "nosuid") && has(o, "nodev"), "{o}");
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    let out = bind_over_flags(
        &host,
        MsFlags::MS_NODEV | nosymfollow,
        &["bind", "ro", "symfollow"],
        true,
    )
    .ok();
    let o = out.stdout.as_str();
    assert!(
        has(o, "ro") && has(o, "nodev") && !has(o, "nosymfollow"),
        "{o}"
    );

    let line = bind_over_flags(&host, MsFlags::MS_RDONLY, &["bind", "rw", "nosuid"], true)
        .fails_with("cannot clear locked flags MS_RDONLY: operation not permitted");
    assert!(
        line.contains("error mounting") && line.contains("to rootfs at \"/mnt\""),
        "{line}"
    );
    bind_over_flags(
        &host,
        MsFlags::MS_NODIRATIME,
        &["bind", "strictatime"],
        true,
    )
    .fails_with(
        "cannot change locked atime flags MS_NODIRATIME|MS_RELATIME: operation not permitted",
    );
}

#[test]
fn mount_propagation_options() {
    let host = HostMount::new();
    let c = sleeper_with_mounts(&[
        bind(&host.sub(), "/mnt/private", &["rprivate"]),
        bind(&host.sub(), "/mnt/shared", &["rshared"]),
        bind(&host.sub(), "/mnt/slave", &["rslave"]),
    ]);
    let mounts = mounts_of(&c);
    let private = mount_at(&mounts, "/mnt/private");
    assert!(
        !private.has_tag("shared:") && !private.has_tag("master:"),
        "{private:?}"
    );
    assert!(mount_at(&mounts, "/mnt/shared").has_tag("shared:"));
    let slave = mount_at(&mounts, "/mnt/slave");
    assert!(
        slave.has_tag("master:") && !slave.has_tag("shared:"),
        "{slave:?}"
    );

    // A host mount made later reaches the slave, never the private copy.
    fs::create_dir(host.sub().join("late")).expect("mkdir late");
    mount_tmpfs(&host.sub().join("late"));
    let points: Vec<String> = mounts_of(&c).into_iter().map(|m| m.mount_point).collect();
    assert!(
        points.contains(&"/mnt/slave/late".to_string()),
        "{points:?}"
    );
    assert!(
        !points.contains(&"/mnt/private/late".to_string()),
        "{points:?}"
    );
}

/// Destinations as runc reads them: a relative one is relative to `/`
/// (with runc's warning), one that spells out the rootfs's host path names
/// the place below it.
#[test]
fn relative_and_rootfs_prefixed_destinations() {
    let src = host_dir();
    let mut c =
        Container::sh("cat /mnt/abs/marker; echo; grep -c ' /tmp/rel ' /proc/self/mountinfo");
    let prefixed = c.rootfs().join("mnt/abs");
    c.push(
        "/mounts",
        json!({"destination": "tmp/rel", "type": "tmpfs", "source": "tmpfs"}),
    )
    .push(
        "/mounts",
        bind(src.path(), prefixed.to_str().expect("utf-8"), &[]),
    );
    let out = c.run().ok();
    assert_eq!(out.lines(), ["host", "1"], "{out}");
    assert!(
        out.stderr
            .contains("mount destination tmp/rel is not absolute"),
        "{out}"
    );
}

/// A Bidirectional volume as containerd asks for one (rootfsPropagation
/// `rshared`, the bind `rshared`): a mount made in the container below it
/// reaches the host, and the volume is shared, not a slave. With
/// `rslave` (HostToContainer) the host's mounts still reach the container.
#[test]
fn rshared_volumes_propagate_both_ways() {
    let host = HostMount::new();
    let mut c = Container::sh(
        "mkdir /vol/late && mount -t tmpfs tmpfs /vol/late && echo x > /vol/late/from-container; \
         exec sleep 1000",
    );
    c.set("/linux/rootfsPropagation", "rshared")
        .push("/mounts", bind(&host.sub(), "/vol", &["rbind", "rshared"]));
    for set in ["bounding", "permitted", "effective"] {
        c.push(
            &format!("/process/capabilities/{set}"),
            "CAP_SYS_ADMIN".into(),
        );
    }
    c.start_ok();
    crate::common::wait_for("the container's mount on the host", || {
        host.sub()
            .join("late/from-container")
            .exists()
            .then_some(())
    });
    let vol = mount_at(&mounts_of(&c), "/vol");
    assert!(vol.has_tag("shared:") && !vol.has_tag("master:"), "{vol:?}");

    let other = HostMount::new();
    let mut c = Container::sleeper();
    c.set("/linux/rootfsPropagation", "rslave")
        .push("/mounts", bind(&other.sub(), "/vol", &["rbind", "rslave"]));
    c.start_ok();
    fs::create_dir(other.sub().join("late")).expect("mkdir late");
    mount_tmpfs(&other.sub().join("late"));
    let points: Vec<String> = mounts_of(&c).into_iter().map(|m| m.mount_point).collect();
    assert!(points.contains(&"/vol/late".to_string()), "{points:?}");
}

#[test]
fn tmpfs_size_and_mode() {
    let mut c = Container::sh("stat -c %a /mnt/t; cat /proc/self/mountinfo");
    c.push("/mounts", json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=710"]}));
    let out = c.run().ok();
    assert_eq!(out.lines()[0], "710");
    let t = mount_at(&procfs::mountinfo(&out.stdout), "/mnt/t");
    assert_eq!(t.fstype, "tmpfs");
    assert!(t.has_option("nosuid"), "{t:?}");
    assert!(
        t.has_super_option("size=1024k") && t.has_super_option("mode=710"),
        "{t:?}"
    );
}

/// A tmpfs on an existing directory takes its mode as a `mode=` option
/// (mountinfo shows it); an explicit `mode=` wins; on a directory rt makes,
/// the tmpfs keeps its default 1777 and the directories made are 0755.
#[test]
fn tmpfs_mode_inherited_explicit_and_default() {
    let mut c =
        Container::sh("stat -c '%a %n' /inherit /explicit /new/a/b; cat /proc/self/mountinfo");
    for d in ["inherit", "explicit"] {
        let dir = c.rootfs().join(d);
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o710))
            .expect("chmod");
    }
    let tmpfs = |dest: &str, opts: &[&str]| json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts});
    c.push("/mounts", tmpfs("/inherit", &["nosuid"]))
        .push("/mounts", tmpfs("/explicit", &["nosuid", "mode=1500"]))
        .push("/mounts", tmpfs("/new/a/b", &["nosuid"]));
    let out = c.run().ok();
    assert_eq!(
        out.lines()[..3],
        ["710 /inherit", "1500 /explicit", "1777 /new/a/b"],
        "{out}"
    );
    let mounts = procfs::mountinfo(&out.stdout);
    assert!(
        mount_at(&mounts, "/inherit").has_super_option("mode=710"),
        "{out}"
    );
    assert!(
        mount_at(&mounts, "/explicit").has_super_option("mode=1500"),
        "{out}"
    );
    let new = mount_at(&mounts, "/new/a/b");
    assert!(
        !new.super_options.iter().any(|o| o.starts_with("mode=")),
        "{new:?}"
    );
    let mode = |p: &str| {
        std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(c.rootfs().join(p))
                .expect("stat")
                .permissions(),
        ) & 0o7777
    };
    assert_eq!(mode("explicit"), 0o710, "the mount point itself changed");
    assert_eq!([mode("new"), mode("new/a"), mode("new/a/b")], [0o755; 3]);
}

/// An `ro` tmpfs turns read-only once setup is done with it, as in runc:
/// an `ro` /dev still gets its nodes, /dev/pts and /dev/shm, and a mount
/// below an `ro` tmpfs gets its mount point.
#[test]
fn ro_tmpfs_is_filled_before_it_turns_read_only() {
    let src = host_dir();
    let mut c = Container::sh(
        "grep -E '^tmpfs /(dev|ro) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; \
         cat /ro/below/marker; echo; echo x > /dev/null && ls /dev/pts/ptmx; touch /ro/x",
    );
    for m in c.config["mounts"].as_array_mut().expect("mounts") {
        if m["destination"] == "/dev" {
            m["options"]
                .as_array_mut()
                .expect("options")
                .push("ro".into());
        }
    }
    c.push(
        "/mounts",
        json!({"destination": "/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
    )
    .push("/mounts", bind(src.path(), "/ro/below", &[]));
    let out = c.run();
    assert_eq!(
        out.lines(),
        ["/dev ro", "/ro ro", "host", "/dev/pts/ptmx"],
        "{out}"
    );
    assert!(out.stderr.contains("Read-only file system"), "{out}");
}

/// A procfs or sysfs destination the image made a symlink or a file is
/// refused in runc's words.
#[test]
fn proc_and_sys_go_on_ordinary_directories() {
    for (name, fstype, symlink) in [("proc", "proc", true), ("sys", "sysfs", false)] {
        let c = Container::sh("true");
        let at = c.rootfs().join(name);
        fs::remove_dir_all(&at).expect("rm");
        if symlink {
            fs::create_dir(c.rootfs().join("elsewhere")).expect("mkdir");
            std::os::unix::fs::symlink("/elsewhere", &at).expect("symlink");
        } else {
            fs::write(&at, "").expect("file");
        }
        let line = c.run().fails_with("must be mounted on ordinary directory");
        assert!(
            line.contains(&format!("filesystem \"{fstype}\" must")),
            "{line}"
        );
    }
}

#[test]
fn default_filesystems() {
    let c = Container::sleeper();
    c.start_ok();
    let mounts = mounts_of(&c);
    for (at, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert_eq!(mount_at(&mounts, at).fstype, fstype, "at {at}");
    }
    let pts = mount_at(&mounts, "/dev/pts");
    for o in ["mode=620", "ptmxmode=666", "gid=5"] {
        assert!(pts.has_super_option(o), "devpts lacks {o}: {pts:?}");
    }
    assert!(mount_at(&mounts, "/sys").has_option("ro"));
    let shm = mount_at(&mounts, "/dev/shm");
    assert!(
        shm.has_option("nodev") && shm.has_option("noexec") && shm.has_option("nosuid"),
        "{shm:?}"
    );
}

#[test]
fn default_devices() {
    let c = Container::sh(
        "stat -c '%n %t:%T %a %F' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
         for l in /dev/ptmx /dev/fd /dev/stdin /dev/stdout /dev/stderr; do readlink $l; done; \
         head -c 5 /dev/zero | wc -c; echo x > /dev/full",
    );
    let out = c.run();
    let want = [
        "/dev/null 1:3 666 character special file",
        "/dev/zero 1:5 666 character special file",
        "/dev/full 1:7 666 character special file",
        "/dev/random 1:8 666 character special file",
        "/dev/urandom 1:9 666 character special file",
        "/dev/tty 5:0 666 character special file",
        "pts/ptmx",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "5",
    ];
    assert_eq!(out.lines(), want, "{out}");
    assert!(out.stderr.contains("No space left on device"), "{out}");
}

#[test]
fn linux_devices_are_created_with_mode_and_owner() {
    let mut c =
        Container::sh("stat -c '%t:%T %a %u:%g %F' /dev/rt-zero; head -c 3 /dev/rt-zero | wc -c");
    c.push(
        "/linux/devices",
        json!({"path": "/dev/rt-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o604, "uid": 65534, "gid": 1234}),
    );
    assert_eq!(
        c.run().ok().lines(),
        ["1:5 604 65534:1234 character special file", "3"]
    );
}

/// Open a device node 1:200 (no driver has that number) with and without a
/// device cgroup rule for it; the open's error.
fn open_unknown_device(allow: bool) -> String {
    let mut c = Container::sh("head -c 1 /dev/rt-nodev");
    c.push(
        "/linux/devices",
        json!({"path": "/dev/rt-nodev", "type": "c", "major": 1, "minor": 200, "fileMode": 0o666}),
    );
    if allow {
        c.push(
            "/linux/resources/devices",
            json!({"allow": true, "type": "c", "major": 1, "minor": 200, "access": "rwm"}),
        );
    }
    let out = c.run();
    assert_ne!(out.code, 0, "{out}");
    out.stderr
}

#[test]
fn device_cgroup_denies_devices_without_a_rule() {
    // The default config denies all but the default devices.
    assert!(open_unknown_device(false).contains("Operation not permitted"));
    // Allowed, the open reaches the (missing) driver.
    assert!(open_unknown_device(true).contains("No such device or address"));
}

#[test]
fn masked_paths_hide_files_and_directories() {
    let script = "wc -c < /proc/timer_list; ls /secret";
    let mut plain = Container::sh(script);
    plain.set("/linux/maskedPaths", json!([]));
    fs::create_dir(plain.rootfs().join("secret")).expect("mkdir");
    fs::write(plain.rootfs().join("secret/file"), "x").expect("write");
    let out = plain.run().ok();
    assert_ne!(
        out.lines()[0],
        "0",
        "control: timer_list is not empty unmasked"
    );
    assert_eq!(out.lines()[1], "file");

    let mut masked = Container::sh(script);
    masked.push("/linux/maskedPaths", "/secret".into());
    fs::create_dir(masked.rootfs().join("secret")).expect("mkdir");
    fs::write(masked.rootfs().join("secret/file"), "x").expect("write");
    assert_eq!(masked.run().ok().lines(), ["0"]);
}

/// A path masked twice is masked once, and masked directories share one
/// read-only tmpfs (runc 1.5's mask.bats).
#[test]
fn masked_directories_share_one_tmpfs_and_duplicates_mount_once() {
    let mut c = Container::sh(
        "stat -c %d /a /b /c | sort -u | wc -l; grep -c ' /a ' /proc/self/mountinfo; \
         grep -c ' /f ' /proc/self/mountinfo; cat /f; touch /b/x",
    );
    for d in ["a", "b", "c"] {
        fs::create_dir(c.rootfs().join(d)).expect("mkdir");
    }
    fs::write(c.rootfs().join("f"), "secret").expect("write");
    for p in ["/a", "/b", "/f", "/c", "/a", "/f/", "/./b"] {
        c.push("/linux/maskedPaths", p.into());
    }
    let out = c.run();
    assert_eq!(out.lines(), ["1", "1", "1"], "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
}

#[test]
fn readonly_paths_refuse_writes() {
    // Root may set the hostname of its own uts namespace through /proc/sys,
    // unless /proc/sys is read-only.
    let script = "echo renamed > /proc/sys/kernel/hostname && hostname";
    let mut open = Container::sh(script);
    open.set("/linux/readonlyPaths", json!([]));
    assert_eq!(open.run().ok().stdout, "renamed\n");

    let closed = Container::sh(script);
    let out = closed.run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Read-only file system"), "{out}");
}

#[test]
fn sysctls_apply_inside_namespaces() {
    let host_forward = procfs::read("/proc/sys/net/ipv4/ip_forward");
    let host_shmmax = procfs::read("/proc/sys/kernel/shmmax");
    let mut c = Container::new(&[
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/shmmax",
    ]);
    c.set(
        "/linux/sysctl",
        json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}),
    );
    assert_eq!(c.run().ok().lines(), ["1", "123456789"]);
    assert_eq!(procfs::read("/proc/sys/net/ipv4/ip_forward"), host_forward);
    assert_eq!(procfs::read("/proc/sys/kernel/shmmax"), host_shmmax);
}

#[test]
fn rootfs_propagation() {
    // This host's / is private, so a slave has no master to show: only
    // private and shared are observable here.
    for (mode, shared, master) in [("private", false, false), ("rshared", true, false)] {
        let mut c = Container::sleeper();
        c.set("/linux/rootfsPropagation", mode);
        c.start_ok();
        let root = mount_at(&mounts_of(&c), "/");
        assert_eq!(
            (root.has_tag("shared:"), root.has_tag("master:")),
            (shared, master),
            "{mode}: {root:?}"
        );
    }
}

/// A container whose rootfs has /evil-abs -> `target` and
/// /evil-rel -> ../../..`target`, with a tmpfs mounted on the first and a
/// bind mount of `src` on the second.
fn symlink_escape(target: &str, src: &TempDir) -> Container {
    let mut c = Container::sleeper();
    std::os::unix::fs::symlink(target, c.rootfs().join("evil-abs")).expect("symlink");
    std::os::unix::fs::symlink(
        format!("../../../../../..{target}"),
        c.rootfs().join("evil-rel"),
    )
    .expect("symlink");
    c.push(
        "/mounts",
        json!({"destination": "/evil-abs", "type": "tmpfs", "source": "tmpfs"}),
    )
    .push("/mounts", bind(src.path(), "/evil-rel", &[]));
    c
}

/// Start `c` (from `symlink_escape`) and check both mounts (the tmpfs and
/// the bind of `src`) landed at `target` inside the rootfs, and the host's
/// `target` is untouched.
fn assert_mounted_inside(c: &Container, secret: &TempDir, src: &TempDir) {
    let target = secret.path().to_str().expect("utf-8 path");
    c.start_ok();
    let entries: Vec<_> = fs::read_dir(secret.path())
        .expect("read secret")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["marker"], "the host directory changed");
    assert!(
        crate::common::residue::mounts_mentioning(secret.path()).is_empty(),
        "a mount landed on the host"
    );
    let inside: Vec<MountLine> = mounts_of(c)
        .into_iter()
        .filter(|m| m.mount_point == target)
        .collect();
    let kinds: Vec<(&str, &str)> = inside
        .iter()
        .map(|m| (m.fstype.as_str(), m.root.as_str()))
        .collect();
    assert_eq!(
        kinds.len(),
        2,
        "mounts at {target} inside the container: {inside:?}"
    );
    assert_eq!(kinds[0].0, "tmpfs", "{inside:?}");
    let src_name = src
        .path()
        .file_name()
        .expect("name")
        .to_str()
        .expect("utf-8");
    assert!(
        kinds[1].1.ends_with(src_name),
        "the bind mount is not of the source: {inside:?}"
    );
    assert!(c.rootfs().join(target.trim_start_matches('/')).is_dir());
}

#[test]
fn symlinked_destinations_stay_inside_the_rootfs() {
    let secret = host_dir();
    let target = secret.path().to_str().expect("utf-8 path");
    let src = host_dir();
    let c = symlink_escape(target, &src);
    // The symlinks' target exists inside the rootfs too.
    fs::create_dir_all(c.rootfs().join(target.trim_start_matches('/'))).expect("mkdir in rootfs");
    assert_mounted_inside(&c, &secret, &src);
}

#[test]
fn symlinked_destinations_to_missing_paths_are_created_inside_the_rootfs() {
    let secret = host_dir();
    let src = host_dir();
    let c = symlink_escape(secret.path().to_str().expect("utf-8 path"), &src);
    assert_mounted_inside(&c, &secret, &src);
}

/// A bind's destination through symlinks that lead where nothing exists
/// yet — a dangling link in the middle (/etc/hosts -> /jump/baz/hosts,
/// /jump -> /tmp/foo/bar) or at the end — is made where they lead, inside
/// the rootfs, and the source is bound there, file or directory (runc's
/// mounts.bats 17, 18).
#[test]
fn binds_through_dangling_symlinks_land_where_they_lead() {
    let src = host_dir();
    let file = src.path().join("marker");
    for (links, real, source) in [
        (
            &[("jump", "/tmp/foo/bar"), ("etc/hosts", "/jump/baz/hosts")][..],
            "/tmp/foo/bar/baz/hosts",
            &file,
        ),
        (&[("etc/hosts", "/tmp/hosts")][..], "/tmp/hosts", &file),
        (
            &[("etc/hosts", "/tmp/hosts")][..],
            "/tmp/hosts",
            &src.path().to_path_buf(),
        ),
    ] {
        let mut c = Container::new(&["stat", "-c", "%n %d:%i", "--", real]);
        for (at, to) in links {
            let at = c.rootfs().join(at);
            let _ = fs::remove_file(&at);
            std::os::unix::fs::symlink(to, &at).expect("symlink");
        }
        c.push(
            "/mounts",
            json!({"destination": "/etc/hosts", "source": source, "options": ["bind"]}),
        );
        let st = fs::metadata(source).expect("stat source");
        use std::os::unix::fs::MetadataExt;
        let want = format!("{real} {}:{}\n", st.dev(), st.ino());
        assert_eq!(c.run().ok().stdout, want);
    }
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    let c = Container::sh("ls /; touch /x");
    let out = c.run_with(&["--no-pivot"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(
        out.lines(),
        ["bin", "dev", "etc", "mnt", "proc", "root", "sys", "tmp"]
    );
    assert!(out.stderr.contains("Read-only file system"), "{out}");
}

/// With --no-pivot the host's tree stays below the rootfs; its full procfs
/// must not: a new user and mount namespace in the container could then
/// mount a fresh procfs (the kernel allows it while one is fully visible)
/// and get around the masked and read-only /proc paths. rt unmounts it, as
/// runc does (no_pivot.bats).
#[test]
fn no_pivot_leaves_no_full_procfs_to_mount_again() {
    let mut c =
        Container::sh("unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted' 2>&1; true");
    for set in ["bounding", "permitted", "effective"] {
        c.push(
            &format!("/process/capabilities/{set}"),
            "CAP_SETFCAP".into(),
        );
    }
    let out = c.run_with(&["--no-pivot"]).ok();
    assert!(!out.stdout.contains("mounted"), "{out}");
    assert!(out.stdout.contains("permission denied"), "{out}");
}

/// Without a mount namespace in the config, the mounts are made in the
/// caller's mount namespace, as runc makes them (runc's host-mntns.bats):
/// /proc, /dev with its nodes and /dev/pts are there for the process, and
/// stay in the caller's namespace, under the rootfs, after it ends.
#[test]
fn without_a_mount_namespace_mounts_go_to_the_callers() {
    let mut c = Container::sh("ls /dev/pts/ptmx; cat /proc/self/comm; echo x > /dev/null");
    let private_ns = crate::common::PrivateMountNs::enter(&c.rootfs());
    c.remove_namespace("mount")
        .set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]));
    assert_eq!(c.run().ok().lines(), ["/dev/pts/ptmx", "cat"]);
    let rootfs = c.rootfs();
    let ours = procfs::mountinfo(&private_ns.mounts());
    for (at, fstype) in [("proc", "proc"), ("dev", "tmpfs"), ("dev/pts", "devpts")] {
        let point = rootfs.join(at);
        assert!(
            ours.iter()
                .any(|m| Path::new(&m.mount_point) == point && m.fstype == fstype),
            "no {fstype} at {}",
            point.display()
        );
    }
}

/// Lazily unmount / in the mount namespace of `c`'s init, from the host
/// (nsenter runs the rootfs's umount: its root is the namespace's), then
/// list what is left at /: None when nothing is (no ls to run).
fn list_root_after_unmounting_it(c: &Container) -> Option<Vec<String>> {
    let ns = format!("--mount=/proc/{}/ns/mnt", c.pid());
    let nsenter = |args: &[&str]| {
        std::process::Command::new("nsenter")
            .arg(&ns)
            .args(args)
            .output()
            .expect("nsenter")
    };
    let umount = nsenter(&["umount", "-l", "/"]);
    assert!(
        umount.status.success(),
        "umount: {}",
        String::from_utf8_lossy(&umount.stderr)
    );
    let ls = nsenter(&["ls", "-1", "/"]);
    ls.status.success().then(|| {
        String::from_utf8_lossy(&ls.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    })
}

#[test]
fn pivot_root_leaves_nothing_under_the_rootfs() {
    // After pivot_root the rootfs is the namespace's root mount: unmounting
    // it leaves an empty namespace.
    let c = Container::sleeper();
    c.start_ok();
    assert_eq!(list_root_after_unmounting_it(&c), None);
}

#[test]
fn no_pivot_keeps_the_host_root_under_the_rootfs() {
    // MS_MOVE + chroot leaves the host's / in the namespace, under the
    // rootfs (the weakness --no-pivot accepts): unmounting the rootfs there
    // uncovers it.
    let c = Container::sleeper();
    c.create_with(&["--no-pivot"]).ok();
    c.start().ok();
    c.wait_exec();
    // As `ls -1` lists it: sorted, without dot files.
    let mut host_root: Vec<String> = fs::read_dir("/")
        .expect("read /")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    host_root.sort();
    assert_eq!(list_root_after_unmounting_it(&c), Some(host_root));
}

/// Output with mountinfo lines in a form two runs can compare: without
/// mount ids and peer group numbers.
fn comparable(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let is_mountinfo = fields.len() > 3 && fields[0].parse::<u64>().is_ok();
            let rest = if is_mountinfo {
                &fields[3..]
            } else {
                &fields[..]
            };
            rest.iter()
                .map(|f| match f.split_once(':') {
                    Some(("shared" | "master" | "propagate_from", _)) => "peer",
                    _ => f,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Kernels before 5.12 have no mount_setattr: rt then sets a mount's flags
/// right after attaching it, through the mount's own fd. Every option
/// lands the same: the mount table (flags, atime, superblock options,
/// propagation, readonlyPaths, a read-only tmpfs filled by tmpcopyup) is
/// the one rt makes with mount_setattr; the recursive options, which need
/// it, fail with a clear error.
#[test]
fn mount_options_land_the_same_without_mount_setattr() {
    let src = host_dir();
    let run = |old_kernel: bool, extra: &[Value], script: &str| -> crate::common::Outcome {
        let mut c = Container::sh(script);
        fs::create_dir(c.rootfs().join("mnt/t")).expect("mkdir t");
        fs::set_permissions(
            c.rootfs().join("mnt/t"),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .expect("chmod t");
        fs::write(c.rootfs().join("mnt/t/img"), "from the image").expect("write img");
        for m in extra {
            c.push("/mounts", m.clone());
        }
        let mut cmd = c.launch_command("run", &[]);
        if old_kernel {
            crate::common::older_kernel::without_mount_setattr(&mut cmd);
        }
        let mut out = c.launch(cmd);
        // Each container's own names, to compare two.
        out.stdout = out
            .stdout
            .replace(c.scratch().to_str().expect("utf-8"), "SCRATCH")
            .replace(&c.cgroup_name(), "CGROUP");
        out
    };
    let mounts = [
        bind(src.path(), "/mnt/ro", &["ro", "nosuid"]),
        bind(src.path(), "/mnt/plain", &[]),
        bind(src.path(), "/mnt/atime", &["noatime", "nodev", "rshared"]),
        json!({"destination": "/sys2", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "rprivate"]}),
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "tmpcopyup", "nosuid", "size=1m"]}),
        json!({"destination": "/mnt/p", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "ro", "strictatime"]}),
    ];
    let script = "cat /proc/self/mountinfo; stat -c '%a %n' /mnt/t /mnt/t/img; cat /mnt/t/img";
    let with = run(false, &mounts, script).ok().stdout;
    let without = run(true, &mounts, script).ok().stdout;
    assert_eq!(comparable(&with), comparable(&without));
    let mounts = procfs::mountinfo(&with);
    assert!(mount_at(&mounts, "/mnt/ro").has_option("ro"), "{with}");
    assert!(mount_at(&mounts, "/mnt/t").has_super_option("ro"), "{with}");
    assert!(
        with.contains("750 /mnt/t\n644 /mnt/t/img\nfrom the image"),
        "{with}"
    );

    let rro = [bind(src.path(), "/mnt/r", &["rbind", "rro"])];
    let err = run(true, &rro, "true").fails_with("mount_setattr needs Linux 5.12");
    assert!(err.contains("/mnt/r"), "{err}");
}

/// runc's options rt did not know (`rt features` lists them now): the
/// recursive access-time options on a bind and everything below it, the
/// last mode given winning; lazytime on a new filesystem; iversion and
/// silent taken as flags, not handed to tmpfs as parameters it refuses.
#[test]
fn runcs_atime_and_superblock_options() {
    let host = HostMount::new();
    let c = sleeper_with_mounts(&[
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["lazytime", "iversion", "silent", "rnoatime"]}),
        json!({"destination": "/mnt/b", "type": "bind", "source": host.dir.path(),
               "options": ["rbind", "rnoatime", "rstrictatime", "rnodiratime"]}),
    ]);
    let mounts = mounts_of(&c);
    let t = mount_at(&mounts, "/mnt/t");
    assert!(t.has_super_option("lazytime"), "{t:?}");
    assert!(t.has_option("noatime"), "{t:?}");
    for at in ["/mnt/b", "/mnt/b/sub"] {
        let b = mount_at(&mounts, at);
        assert!(b.has_option("nodiratime"), "{at}: {b:?}");
        assert!(
            !b.has_option("noatime") && !b.has_option("relatime"),
            "{at}: not strictatime: {b:?}"
        );
    }
}

/// linux.mountLabel labels the container's new filesystems (SELinux
/// `context=`) only where SELinux runs: here, without it, a config that
/// carries one (CRI-O and Podman send it) runs with its tmpfs mounts as
/// they are — runc would hand `context=` to tmpfs, which refuses it.
#[test]
fn mount_label_is_ignored_without_selinux() {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        return;
    }
    let mut c = Container::sh("true");
    c.set(
        "/linux/mountLabel",
        "system_u:object_r:container_file_t:s0:c1,c2",
    );
    c.run().ok();
}
