//! `rt spec` writes the same config.json as `runc spec`, byte for byte, in
//! both its default and rootless forms — Debian's runc 1.1.5 here, less its
//! ambient set, which runc ≥ 1.2 dropped from its template: runc and rt now
//! warn about an ambient capability they cannot raise (it is not
//! inheritable), and 1.1.5's would warn for every container.

use std::fs;
use std::process::Command;

use crate::common::{tempdir, RT, RUNC};

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

/// `runc spec` as runc ≥ 1.2 writes it: without the ambient set.
fn runc_spec(rootless: bool) -> String {
    let text = String::from_utf8_lossy(&spec(RUNC, rootless)).into_owned();
    let ambient = "],\n\t\t\t\"ambient\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t]\n";
    assert!(text.contains(ambient), "runc's template changed:\n{text}");
    text.replace(ambient, "]\n")
}

#[test]
fn default_config_matches_runc() {
    assert_eq!(String::from_utf8_lossy(&spec(RT, false)), runc_spec(false));
}

#[test]
fn rootless_config_matches_runc() {
    assert_eq!(String::from_utf8_lossy(&spec(RT, true)), runc_spec(true));
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
