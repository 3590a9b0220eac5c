//! rt against runc: the same bundle (made by `rt spec`, busybox rootfs)
//! run under both, and what the container observes compared line by line.

use crate::common::{sh, Container, Outcome, Runtime};
use serde_json::json;

/// What the container reports about itself; every line must match.
const OBSERVE: &str = "\
hostname; \
awk '{print \"mount\", $5, $(NF-2)}' /proc/self/mountinfo | sort; \
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status; \
id; \
echo \"nofile $(ulimit -n) $(ulimit -Hn)\"; \
exit 7";

/// Run the same config under rt and runc; their outcomes.
fn run_both(edit: impl Fn(&mut Container)) -> (Outcome, Outcome) {
    let mut rt = Container::new(&sh(OBSERVE));
    let mut runc = Container::with_runtime(Runtime::Runc, &sh(OBSERVE));
    edit(&mut rt);
    edit(&mut runc);
    (rt.run(), runc.run())
}

/// Lines only one of the two printed (counted: a mount made twice shows),
/// marked with who printed them.
fn diff(rt: &str, runc: &str) -> Vec<String> {
    let only = |a: &str, b: &str, who: &str| -> Vec<String> {
        let mut theirs: Vec<&str> = b.lines().collect();
        a.lines()
            .filter(|l| match theirs.iter().position(|t| t == l) {
                Some(i) => {
                    theirs.remove(i);
                    false
                }
                None => true,
            })
            .map(|l| format!("{who}: {l}"))
            .collect()
    };
    let mut d = only(rt, runc, "only rt");
    d.extend(only(runc, rt, "only runc"));
    d
}

fn assert_same(edit: impl Fn(&mut Container)) {
    let (rt, runc) = run_both(edit);
    assert!(
        rt.stdout.lines().count() > 10,
        "rt printed too little:\n{rt}"
    );
    assert_eq!(
        diff(&rt.stdout, &runc.stdout),
        Vec::<String>::new(),
        "\nrt:\n{rt}\nrunc:\n{runc}"
    );
    assert_eq!(
        (rt.code, &rt.stderr),
        (runc.code, &runc.stderr),
        "exit code and stderr"
    );
    assert_eq!(rt.code, 7);
}

#[test]
fn default_spec() {
    assert_same(|_| {});
}

#[test]
fn non_root_user_without_no_new_privs() {
    assert_same(|c| {
        c.set(
            "/process/user",
            json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 1234]}),
        )
        .set("/process/noNewPrivileges", false)
        .set("/hostname", "compared");
    });
}

#[test]
fn capability_sets_and_rlimits() {
    assert_same(|c| {
        c.set(
            "/process/capabilities",
            json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            }),
        )
        .set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 333, "hard": 4444}]),
        );
    });
}

#[test]
fn extra_mounts_and_namespaces() {
    assert_same(|c| {
        c.push("/mounts", json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}))
            .push("/mounts", json!({"destination": "/mnt", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}))
            .add_namespace("cgroup", None);
    });
}

/// A bind mount made on the host for the test, with the given propagation
/// (`--make-shared`, ...), unmounted when dropped.
struct HostBind(std::path::PathBuf);

impl HostBind {
    fn new(dir: &std::path::Path, propagation: nix::mount::MsFlags) -> HostBind {
        use nix::mount::{mount, MsFlags};
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind");
        let bind = HostBind(dir.to_path_buf());
        mount(None::<&str>, dir, None::<&str>, propagation, None::<&str>).expect("propagation");
        bind
    }
}

impl Drop for HostBind {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// What runc 1.5.1 leaves each mount point (rt's target, measured on this
/// machine with its build: /var/tmp/runc-bats/STATUS.md): rootfsPropagation
/// (None: unset), the binds' propagation, then `/`, `/vp` (a bind of a
/// private host mount), `/vs` (of a shared one). runc 1.5.1 applies an
/// explicit rootfsPropagation to the whole tree again after pivot_root,
/// over the binds'; Debian's runc 1.1.5 did not, and differs in four rows
/// (rslave+rshared and the three rshared ones).
const RUNC_1_5_PROPAGATION: [(Option<&str>, &str, [&str; 3]); 12] = [
    (None, "rprivate", ["private", "private", "private"]),
    (None, "rslave", ["private", "private", "slave"]),
    (None, "rshared", ["private", "shared", "shared+slave"]),
    (
        Some("rprivate"),
        "rprivate",
        ["private", "private", "private"],
    ),
    (
        Some("rprivate"),
        "rslave",
        ["private", "private", "private"],
    ),
    (Some("rprivate"), "rshared", ["private", "shared", "shared"]),
    (
        Some("rslave"),
        "rprivate",
        ["private", "private", "private"],
    ),
    (Some("rslave"), "rslave", ["private", "private", "slave"]),
    (Some("rslave"), "rshared", ["private", "private", "slave"]),
    (Some("rshared"), "rprivate", ["shared", "shared", "shared"]),
    (
        Some("rshared"),
        "rslave",
        ["shared", "shared", "shared+slave"],
    ),
    (Some("rshared"), "rshared", ["shared", "shared", "shared"]),
];

/// Kubernetes' HostToContainer and Bidirectional volumes stand on the
/// propagation the runtime gives the rootfs and each bind: every
/// `rootfsPropagation` with every bind propagation, from a shared and from
/// a private host mount, leaves the root and the volumes shared, slave,
/// both or private exactly as runc 1.5.1 does; and as the installed runc
/// does where it is 1.2 or newer.
#[test]
fn mount_propagation_as_runc() {
    use nix::mount::MsFlags;
    let shared_dir = crate::common::tempdir();
    let private_dir = crate::common::tempdir();
    let _shared = HostBind::new(shared_dir.path(), MsFlags::MS_SHARED);
    let _private = HostBind::new(private_dir.path(), MsFlags::MS_PRIVATE);
    let version = crate::common::host(crate::common::RUNC, &["--version"]);
    let runc_is_1_1 =
        version.starts_with("runc version 1.1.") || version.starts_with("runc version 1.0.");
    // Each mount point with its kind of propagation (peer ids differ).
    let observe = sh(r#"awk '$5 == "/" || $5 == "/vs" || $5 == "/vp" {
        s = 0; m = 0
        for (i = 7; $i != "-"; i++) { if ($i ~ /^shared:/) s = 1; if ($i ~ /^master:/) m = 1 }
        print $5, (s && m ? "shared+slave" : s ? "shared" : m ? "slave" : "private") }' /proc/self/mountinfo | sort"#);
    for (root, bind, want) in RUNC_1_5_PROPAGATION {
        let edit = |c: &mut Container| {
            c.set("/process/args", json!(observe));
            if let Some(p) = root {
                c.set("/linux/rootfsPropagation", p);
            }
            c.push("/mounts", json!({"destination": "/vs", "type": "bind", "source": shared_dir.path(), "options": ["rbind", bind]}))
                .push("/mounts", json!({"destination": "/vp", "type": "bind", "source": private_dir.path(), "options": ["rbind", bind]}));
        };
        let mut rt = Container::new(&["true"]);
        edit(&mut rt);
        let rt = rt.run().ok();
        let want = format!("/ {}\n/vp {}\n/vs {}\n", want[0], want[1], want[2]);
        assert_eq!(rt.stdout, want, "rootfsPropagation {root:?}, bind {bind}");
        if !runc_is_1_1 {
            let mut runc = Container::with_runtime(Runtime::Runc, &["true"]);
            edit(&mut runc);
            let runc = runc.run().ok();
            assert_eq!(
                runc.stdout, rt.stdout,
                "rootfsPropagation {root:?}, bind {bind}"
            );
        }
    }
}
