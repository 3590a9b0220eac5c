//! `rt spec` writes the same config.json as `runc spec` of runc 1.5.1 and
//! of runc main (the coming 1.6: the same document), byte for byte, in both
//! its default and rootless forms: runtime-spec 1.3.0, no ambient
//! capabilities. runc's output, made as root on a cgroup v1 host, is kept
//! in runtime-tests/data (Debian's runc is 1.1.5, which still writes
//! 1.0.2-dev and ambient capabilities).

use std::fs;
use std::process::Command;

use crate::common::{tempdir, RT};

fn spec(binary: &str, rootless: bool) -> Vec<u8> {
    let dir = tempdir();
    let mut cmd = Command::new(binary);
    cmd.arg("spec").arg("--bundle").arg(dir.path());
    if rootless {
        cmd.arg("--rootless");
    }
    let out = cmd.output().expect("spawn spec");
    assert!(
        out.status.success(),
        "{binary} spec failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read(dir.path().join("config.json")).expect("config.json written")
}

/// runc's document; on a cgroup v2 host runc adds a cgroup namespace.
fn runc_spec(rootless: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(if rootless {
        include_str!("data/runc-spec-rootless.json")
    } else {
        include_str!("data/runc-spec.json")
    })
    .expect("runc's spec parses");
    let cgroup2 = Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/cgroup"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "cgroup2fs");
    if cgroup2 {
        let ns = v["linux"]["namespaces"].as_array_mut().expect("namespaces");
        let at = if rootless { ns.len() - 1 } else { ns.len() };
        ns.insert(at, serde_json::json!({"type": "cgroup"}));
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    serde::Serialize::serialize(
        &v,
        &mut serde_json::Serializer::with_formatter(&mut out, fmt),
    )
    .expect("encode");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn default_config_matches_runc() {
    assert_eq!(String::from_utf8_lossy(&spec(RT, false)), runc_spec(false));
}

#[test]
fn rootless_config_matches_runc() {
    assert_eq!(String::from_utf8_lossy(&spec(RT, true)), runc_spec(true));
}

/// Every place rt names the runtime spec's version says 1.3.0: the state
/// (which hooks get too), the features document, `spec` and `--version`.
#[test]
fn oci_version_is_1_3_0() {
    let c = crate::common::Container::sleeper();
    c.create_ok();
    assert_eq!(c.state()["ociVersion"], "1.3.0");
    let features: serde_json::Value = serde_json::from_slice(
        &Command::new(RT)
            .arg("features")
            .output()
            .expect("features")
            .stdout,
    )
    .expect("features parse");
    assert_eq!(features["ociVersionMax"], "1.3.0");
    let spec: serde_json::Value = serde_json::from_slice(&spec(RT, false)).expect("spec parses");
    assert_eq!(spec["ociVersion"], "1.3.0");
    let version = Command::new(RT).arg("--version").output().expect("version");
    assert!(
        String::from_utf8_lossy(&version.stdout).contains("spec: 1.3.0"),
        "{version:?}"
    );
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempdir();
    fs::write(dir.path().join("config.json"), "{}").expect("write");
    let out = Command::new(RT)
        .arg("spec")
        .arg("--bundle")
        .arg(dir.path())
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    assert_eq!(
        fs::read_to_string(dir.path().join("config.json")).expect("read"),
        "{}"
    );
}
