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
