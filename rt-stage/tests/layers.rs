//! Layer unpacking: metadata kept, whiteouts in both forms, hostile entries refused.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::images::{LayerTar, MTIME};
use rt_stage::error::Error;
use rt_stage::layer::{self, Target};
use tar::EntryType;

fn apply(tar: &[u8], dest: &Path, target: Target) -> Result<layer::Stats, Error> {
    layer::apply(tar, dest, target)
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn ownership_modes_links_devices_xattrs_and_times_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let tar = LayerTar::new()
        .dir("srv", 0o750)
        .owned_file("srv/tool", b"#!/bin/sh\n", 0o4755, 1234, 5678)
        .symlink("srv/link", "tool")
        .hardlink("srv/hard", "srv/tool")
        .char_dev("dev/null", 1, 3)
        .fifo("run/pipe")
        .xattr_file("srv/tagged", b"x", "user.rt-stage", b"yes")
        .xattr_file("srv/steer", b"x", "trusted.overlay.redirect", b"/etc")
        .finish();
    let stats = apply(&tar, t.path(), Target::Overlay).unwrap();
    assert_eq!(stats.size, 12);
    let p = |r: &str| t.path().join(r);
    let tool = fs::metadata(p("srv/tool")).unwrap();
    assert_eq!(
        (tool.uid(), tool.gid(), tool.mode() & 0o7777),
        (1234, 5678, 0o4755)
    );
    assert_eq!(tool.mtime(), MTIME as i64);
    assert_eq!(fs::metadata(p("srv")).unwrap().mode() & 0o7777, 0o750);
    assert_eq!(
        fs::metadata(p("srv")).unwrap().mtime(),
        MTIME as i64,
        "directory mtime set after its children"
    );
    assert_eq!(fs::read_link(p("srv/link")).unwrap(), Path::new("tool"));
    assert_eq!(
        fs::metadata(p("srv/hard")).unwrap().ino(),
        tool.ino(),
        "hard link shares the inode"
    );
    let null = fs::symlink_metadata(p("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (
            rustix::fs::major(null.rdev()),
            rustix::fs::minor(null.rdev()),
            null.gid()
        ),
        (1, 3, 5)
    );
    assert!(fs::symlink_metadata(p("run/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        xattr(&p("srv/tagged"), "user.rt-stage").as_deref(),
        Some(&b"yes"[..])
    );
    // overlayfs's own xattrs would steer the mount: dropped.
    assert_eq!(xattr(&p("srv/steer"), "trusted.overlay.redirect"), None);
}

/// Layer 1: a/{x,y}, b, c/d. Layer 2: deletes b, makes a opaque and adds a/z, replaces
/// c (a directory) with a file.
fn two_layers() -> (Vec<u8>, Vec<u8>) {
    let lower = LayerTar::new()
        .dir("a", 0o755)
        .file("a/x", b"x", 0o644)
        .file("a/y", b"y", 0o644)
        .file("b", b"b", 0o644)
        .dir("c", 0o755)
        .file("c/d", b"d", 0o644)
        .finish();
    let upper = LayerTar::new()
        .file(".wh.b", b"", 0o644)
        .dir("a", 0o755)
        .file("a/.wh..wh..opq", b"", 0o644)
        .file("a/z", b"z", 0o644)
        .file("c", b"now a file", 0o644)
        .finish();
    (lower, upper)
}

fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            out.push(if ft.is_dir() {
                format!("{rel}/")
            } else {
                format!("{rel}={}", fs::read_to_string(e.path()).unwrap_or_default())
            });
            if ft.is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn whiteouts_become_overlay_markers_in_a_layer_dir() {
    let t = tempfile::tempdir().unwrap();
    let (_, upper) = two_layers();
    apply(&upper, t.path(), Target::Overlay).unwrap();
    let b = fs::symlink_metadata(t.path().join("b")).unwrap();
    assert!(
        b.file_type().is_char_device() && b.rdev() == 0,
        "b is a 0:0 whiteout device"
    );
    assert_eq!(
        xattr(&t.path().join("a"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!t.path().join(".wh.b").exists() && !t.path().join("a/.wh..wh..opq").exists());
    assert_eq!(fs::read_to_string(t.path().join("a/z")).unwrap(), "z");
}

#[test]
fn whiteouts_delete_when_merged() {
    let t = tempfile::tempdir().unwrap();
    let (lower, upper) = two_layers();
    apply(&lower, t.path(), Target::Merge).unwrap();
    apply(&upper, t.path(), Target::Merge).unwrap();
    assert_eq!(tree(t.path()), ["a/", "a/z=z", "c=now a file"]);
}

/// Unmounts when dropped, so a failing assertion leaves no mount behind.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn overlayfs_over_layer_dirs_shows_what_merging_gives() {
    let t = tempfile::tempdir().unwrap();
    let (lower, upper) = two_layers();
    for (name, tar) in [("l1", &lower), ("l2", &upper)] {
        fs::create_dir(t.path().join(name)).unwrap();
        apply(tar, &t.path().join(name), Target::Overlay).unwrap();
    }
    fs::create_dir(t.path().join("merged")).unwrap();
    apply(&lower, &t.path().join("merged"), Target::Merge).unwrap();
    apply(&upper, &t.path().join("merged"), Target::Merge).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let lowerdir = format!(
        "lowerdir={}:{}",
        t.path().join("l2").display(),
        t.path().join("l1").display()
    );
    let ok = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &lowerdir])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success(), "overlay mount failed");
    let mounted = Unmount(mnt.clone());
    let seen = tree(&mnt);
    drop(mounted);
    assert_eq!(seen, tree(&t.path().join("merged")));
}

#[test]
fn whiteouts_never_hide_the_same_layers_files() {
    let t = tempfile::tempdir().unwrap();
    let lower = LayerTar::new().file("d/old", b"", 0o644).finish();
    let upper = LayerTar::new()
        .file("d/new", b"n", 0o644)
        .file("d/.wh..wh..opq", b"", 0o644)
        .file("kept", b"k", 0o644)
        .file(".wh.kept", b"", 0o644)
        .finish();
    apply(&lower, t.path(), Target::Merge).unwrap();
    apply(&upper, t.path(), Target::Merge).unwrap();
    assert_eq!(tree(t.path()), ["d/", "d/new=n", "kept=k"]);
}

#[test]
fn entries_escaping_the_directory_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let victim = format!("rt-stage-escape-{}", std::process::id());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            LayerTar::new()
                .raw(&format!("../{victim}"), EntryType::Regular, b"x", None)
                .finish(),
        ),
        (
            "nested dot-dot",
            LayerTar::new()
                .raw(&format!("a/../../{victim}"), EntryType::Regular, b"x", None)
                .finish(),
        ),
        (
            "absolute symlink as parent",
            LayerTar::new()
                .symlink("up", "/tmp")
                .raw(&format!("up/{victim}"), EntryType::Regular, b"x", None)
                .finish(),
        ),
        (
            "relative symlink out",
            LayerTar::new()
                .symlink("up", "../../../../../../tmp")
                .raw(&format!("up/{victim}"), EntryType::Regular, b"x", None)
                .finish(),
        ),
        (
            "hard link out",
            LayerTar::new()
                .raw(
                    &victim,
                    EntryType::Link,
                    b"",
                    Some("../../../../../../etc/passwd"),
                )
                .finish(),
        ),
        (
            "hard link through absolute symlink",
            LayerTar::new()
                .symlink("etc", "/etc")
                .raw(&victim, EntryType::Link, b"", Some("etc/passwd"))
                .finish(),
        ),
    ];
    for (what, tar) in cases {
        let dest = base.path().join(what.replace(' ', "-"));
        fs::create_dir_all(&dest).unwrap();
        let e = apply(&tar, &dest, Target::Overlay)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(e, Error::Escape { .. }), "{what}: {e}");
        assert!(
            e.to_string().contains("escapes the layer directory"),
            "{what}: {e}"
        );
        assert!(
            !base.path().join(&victim).exists() && !Path::new("/tmp").join(&victim).exists(),
            "{what}: wrote outside"
        );
    }
}

#[test]
fn existing_symlinks_are_replaced_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "original").unwrap();
    let lower = LayerTar::new()
        .symlink("f", victim.to_str().unwrap())
        .symlink("d", outside.path().to_str().unwrap())
        .finish();
    let upper = LayerTar::new()
        .file("f", b"new", 0o644)
        .dir("d", 0o755)
        .file("d/x", b"x", 0o644)
        .finish();
    apply(&lower, t.path(), Target::Merge).unwrap();
    apply(&upper, t.path(), Target::Merge).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "original");
    assert!(fs::symlink_metadata(t.path().join("f")).unwrap().is_file());
    assert!(fs::symlink_metadata(t.path().join("d")).unwrap().is_dir());
    assert!(!outside.path().join("x").exists());
}

#[test]
fn truncated_layers_fail() {
    let t = tempfile::tempdir().unwrap();
    let tar = LayerTar::new()
        .file("big", &vec![7u8; 100_000], 0o644)
        .finish();
    let e = apply(&tar[..50_000], t.path(), Target::Overlay).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}
