//! The config.json fixtures of spec-fixtures/: every broken one makes
//! `rt create` fail with exactly its `.expected` line and leave nothing
//! behind; every valid one creates, starts, prints "ok" and deletes cleanly.
//! See spec-fixtures/README.md for the placeholders.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{residue, Container};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec-fixtures")
        .join(kind);
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", dir.display());
    v
}

fn name(path: &Path) -> String {
    path.file_stem()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Fill in the placeholders for container `c`.
fn instantiate(text: &str, c: &Container) -> String {
    text.replace(
        "@ROOTFS@",
        crate::common::rootfs::shared()
            .to_str()
            .expect("utf-8 rootfs path"),
    )
    .replace("@ID@", &c.id)
}

/// A container whose config.json is the fixture at `path`.
fn container_for(path: &Path) -> Container {
    let text = fs::read_to_string(path).expect("read fixture");
    // Never let a fixture put a container outside /rt-test: the host's own
    // service has cgroups that must not be touched.
    if serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.pointer("/linux").is_some())
    {
        assert!(
            text.contains("\"cgroupsPath\": \"/rt-test/@ID@"),
            "{} must set cgroupsPath /rt-test/@ID@",
            path.display()
        );
    }
    let mut c = Container::new(&["true"]);
    let config = instantiate(&text, &c);
    c.set_config_text(config);
    c
}

/// Run `rt create` on a broken fixture; a description of what went wrong,
/// or None when it failed as expected and left nothing.
fn check_broken(path: &Path) -> Option<String> {
    let c = container_for(path);
    let expected_file = path.with_extension("expected");
    let expected = instantiate(
        &fs::read_to_string(&expected_file).expect("read .expected"),
        &c,
    );
    let out = c.create();
    let mut wrong = Vec::new();
    if out.code == 0 {
        wrong.push("create succeeded".to_string());
    }
    if out.stderr != expected {
        wrong.push(format!("stderr {:?}, want {expected:?}", out.stderr));
    }
    if !out.stdout.is_empty() {
        wrong.push(format!("stdout {:?}", out.stdout));
    }
    // The guard checks the same after its delete; a failed create must not
    // need that delete.
    wrong.extend(residue::problems(
        &c.id,
        &c.state_root().join(&c.id),
        &c.cgroup_name(),
        c.scratch(),
        &[],
    ));
    (!wrong.is_empty()).then(|| format!("{}: {}", name(path), wrong.join("; ")))
}

#[test]
fn broken_fixtures_fail_create_with_their_message() {
    let failures: Vec<String> = fixtures("broken")
        .iter()
        .filter_map(|p| check_broken(p))
        .collect();
    assert!(
        failures.is_empty(),
        "broken fixtures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_broken_fixture_has_its_expected_line() {
    for f in fixtures("broken") {
        let expected = fs::read_to_string(f.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}: {e}", name(&f)));
        assert_eq!(expected.lines().count(), 1, "{}: one line", name(&f));
        assert!(
            expected.starts_with("rt create failed: ") && expected.ends_with('\n'),
            "{}: {expected:?}",
            name(&f)
        );
    }
}

#[test]
fn valid_fixtures_create_start_and_delete() {
    for f in fixtures("valid") {
        let c = container_for(&f);
        let out = c.create();
        assert_eq!(out.code, 0, "{}:\n{out}", name(&f));
        assert_eq!(c.status(), "created", "{}", name(&f));
        c.start().ok();
        c.wait_status("stopped");
        assert_eq!(
            c.output().stdout,
            "ok\n",
            "{}: the container did not run",
            name(&f)
        );
        c.delete().ok();
        assert!(!c.state_root().join(&c.id).exists(), "{}", name(&f));
    }
}
