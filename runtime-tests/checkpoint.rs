//! `rt checkpoint` / `restore` / `migrate` on this host. criu 3.17 cannot
//! work on the host's kernel (its `criu check` fails on the vDSO layout), so
//! here they must fail with one clear line and leave the container exactly
//! as it was; `just test-criu` tests the real thing in a VM.

use std::path::Path;

use crate::common::{procfs, Container};

/// Whether criu can work here; these tests check the failure path only.
fn criu_check_fails() -> bool {
    match std::process::Command::new("criu").arg("check").output() {
        Ok(o) => !o.status.success() || String::from_utf8_lossy(&o.stderr).contains("Error"),
        // Not installed: rt must say so (another test).
        Err(_) => false,
    }
}

fn criu_installed() -> bool {
    std::process::Command::new("criu")
        .arg("--version")
        .output()
        .is_ok()
}

/// A counter that keeps writing: anything that stopped or restarted it
/// shows as a gap or a reset.
fn counter() -> Container {
    Container::sh("i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done")
}

fn last_number(c: &Container) -> u64 {
    c.output()
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn checkpoint_fails_clearly_and_leaves_the_container_running() {
    if !criu_installed() || !criu_check_fails() {
        eprintln!(
            "skipped: criu works on this host (or is missing); the VM suite tests checkpoints"
        );
        return;
    }
    let c = counter();
    let pid = c.start_ok();
    c.wait_output("3\n");
    let start = procfs::start_time(pid);
    let images = c.scratch().join("images");
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        images.to_str().unwrap_or_default(),
        &c.id,
    ]);
    let msg = out.fails_with("criu check fails on this host");
    assert_eq!(msg.trim().lines().count(), 1, "not one line:\n{msg}");
    assert!(
        msg.contains("vDSO") || msg.contains("vdso"),
        "does not name criu check's failure:\n{msg}"
    );
    assert!(msg.contains("kernel"), "does not name the kernel:\n{msg}");

    // Untouched: same init, still counting, not frozen, state as before.
    assert_eq!(
        procfs::start_time(pid),
        start,
        "the init was replaced or killed"
    );
    assert_eq!(c.status(), "running");
    let before = last_number(&c);
    c.wait_output(&format!("{}\n", before + 3));
    assert!(
        !images.join("rt-checkpoint.json").exists(),
        "a failed checkpoint wrote rt's metadata"
    );

    // Both flavours of the other criu commands fail the same way.
    let out = c.rt(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        images.join("pre").to_str().unwrap_or_default(),
        &c.id,
    ]);
    out.fails_with("criu check fails on this host");
    let other = c.scratch().join("other-root");
    let out = c.rt(&[
        "migrate",
        "--pre-dumps",
        "1",
        "--to",
        other.to_str().unwrap_or_default(),
        &c.id,
    ]);
    out.fails_with("criu check fails on this host");
    assert!(
        !other.join(&c.id).exists(),
        "migrate left a container in its target root"
    );
    assert_eq!(procfs::start_time(pid), start);
    assert_eq!(c.status(), "running");
}

#[test]
fn missing_criu_is_named() {
    let c = counter();
    c.start_ok();
    let mut cmd = c.command(&[
        "checkpoint",
        "--image-path",
        c.scratch().join("img").to_str().unwrap_or_default(),
        &c.id,
    ]);
    cmd.env("RT_CRIU", c.scratch().join("no-such-criu"));
    let out = crate::common::run_with_deadline(cmd, &c.scratch().join("nocriu"));
    let msg = out.fails_with("criu not found");
    assert_eq!(msg.trim().lines().count(), 1, "not one line:\n{msg}");
    assert_eq!(c.status(), "running");
}

#[test]
fn restore_without_images_leaves_nothing() {
    let c = Container::sleeper();
    let images = c.scratch().join("empty");
    std::fs::create_dir(&images).expect("mkdir");
    let out = c.rt(&[
        "restore",
        "--detach",
        "--image-path",
        images.to_str().unwrap_or_default(),
        "--bundle",
        c.bundle().to_str().unwrap_or_default(),
        &c.id,
    ]);
    out.fails_with("holds no complete rt checkpoint");
    assert!(!c.state_root().join(&c.id).exists());
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory/rt-test/{}", c.id)).exists());
}

#[test]
fn checkpoint_of_a_stopped_container_is_refused() {
    let c = Container::sh("exit 0");
    c.start_ok();
    c.wait_status("stopped");
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        c.scratch().join("img").to_str().unwrap_or_default(),
        &c.id,
    ]);
    out.fails_with("not running");
}

/// A --parent-path that is absolute, or names no directory under
/// --image-path, is refused before criu runs (here: none at all), naming
/// the flag, and the container keeps running.
#[test]
fn a_bad_parent_path_is_named_before_criu_runs() {
    let c = counter();
    c.start_ok();
    let images = c.scratch().join("images");
    let absolute = c.scratch().join("parent");
    std::fs::create_dir(&absolute).expect("mkdir");
    for parent in [absolute.to_str().unwrap_or_default(), "./parent-dir"] {
        let mut cmd = c.command(&[
            "checkpoint",
            "--pre-dump",
            "--parent-path",
            parent,
            "--work-path",
            c.scratch().join("work").to_str().unwrap_or_default(),
            "--image-path",
            images.to_str().unwrap_or_default(),
            &c.id,
        ]);
        cmd.env("RT_CRIU", c.scratch().join("no-such-criu"));
        let out = crate::common::run_with_deadline(cmd, &c.scratch().join("parent-out"));
        out.fails_with("--parent-path");
        assert_eq!(c.status(), "running");
    }
}
