//! `rt spec` writes the same config.json as `runc spec`, byte for byte, in
//! both its default and rootless forms.

mod common;

use std::fs;
use std::process::Command;

use common::{tempdir, RT, RUNC};

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

#[test]
fn default_config_matches_runc() {
    assert_eq!(
        String::from_utf8_lossy(&spec(RT, false)),
        String::from_utf8_lossy(&spec(RUNC, false))
    );
}

#[test]
fn rootless_config_matches_runc() {
    assert_eq!(
        String::from_utf8_lossy(&spec(RT, true)),
        String::from_utf8_lossy(&spec(RUNC, true))
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
