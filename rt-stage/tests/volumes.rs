//! Volumes: named ones (volume create/ls/rm, in use, data surviving the container),
//! bind mounts, anonymous volumes from -v and the image's Volumes, --volumes-from and
//! tmpfs. Nothing may be left after each test.

mod common;

use common::Stage;
use serde_json::json;

const NONE: &str = "--network=none";

#[test]
fn named_volumes_outlive_containers_and_are_refused_while_used() {
    let s = Stage::with_busybox(&[]);
    assert_eq!(s.ok(&["volume", "create", "data"]), "data\n");
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "data\n");
    let ls = s.ok(&["volume", "ls"]);
    assert!(
        ls.starts_with("DRIVER   VOLUME NAME\nlocal    data"),
        "{ls}"
    );
    s.ok(&[
        "run",
        NONE,
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["volume", "inspect", "data"])).unwrap();
    let writer = s.inspect("writer")["Id"].as_str().unwrap().to_string();
    assert_eq!(v[0]["UsedBy"], json!([writer]));
    let e = s.fails(&["volume", "rm", "data"]);
    assert_eq!(
        e,
        format!("rt-stage: remove data: volume is in use - [{writer}]\n")
    );
    s.ok(&["rm", "writer"]);
    s.assert_gone(&writer);
    // A later container finds the data; first use of a new name creates the volume.
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "-v",
        "data:/data",
        "-v",
        "fresh:/fresh",
        "busybox",
        "sh",
        "-c",
        "cat /data/f; ls -A /fresh",
    ]);
    assert_eq!(out, "kept\n");
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "data\nfresh\n");
    assert_eq!(s.ok(&["volume", "rm", "data", "fresh"]), "data\nfresh\n");
    let e = s.fails(&["volume", "rm", "data"]);
    assert_eq!(e, "rt-stage: get data: no such volume\n");
    s.ok(&["volume", "rm", "-f", "data"]);
    let e = s.fails(&["volume", "create", "../x"]);
    assert!(e.contains("includes invalid characters"), "{e}");
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let s = Stage::with_busybox(&[]);
    let host = s.path("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let rw = format!("{}:/mnt", host.display());
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "-v",
        &rw,
        "busybox",
        "sh",
        "-c",
        "cat /mnt/in; echo back > /mnt/out",
    ]);
    assert_eq!(out, "from the host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/mnt:ro", host.display());
    let (code, _, err) = s.status(&[
        "run",
        NONE,
        "--rm",
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "echo x > /mnt/out",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    // A missing host directory is created, as Docker does.
    let made = s.path("made/here");
    s.ok(&[
        "run",
        NONE,
        "--rm",
        "-v",
        &format!("{}:/m", made.display()),
        "busybox",
        "touch",
        "/m/x",
    ]);
    assert!(made.join("x").is_file());
    for bad in ["data:relative", "/a:/b:bogus", "x:/"] {
        let e = s.fails(&["run", NONE, "-v", bad, "busybox", "true"]);
        assert!(e.contains("invalid"), "{bad}: {e}");
    }
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn anonymous_volumes_volumes_from_and_tmpfs() {
    let s = Stage::with_busybox(&["VOLUME /cache"]);
    s.ok(&[
        "run",
        NONE,
        "--name",
        "owner",
        "-v",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "echo c > /cache/f; echo s > /scratch/f",
    ]);
    let v = s.inspect("owner");
    let mounts = v["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(mounts
        .iter()
        .all(|m| m["Type"] == json!("volume") && m["Name"].as_str().unwrap().len() == 64));
    assert_eq!(s.ok(&["volume", "ls", "-q"]).lines().count(), 2);

    // --volumes-from shares them (read-only when asked).
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "--volumes-from",
        "owner",
        "busybox",
        "sh",
        "-c",
        "cat /cache/f /scratch/f",
    ]);
    assert_eq!(out, "c\ns\n");
    let (code, _, err) = s.status(&[
        "run",
        NONE,
        "--rm",
        "--volumes-from",
        "owner:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /cache/f",
    ]);
    assert!(code != 0 && err.contains("Read-only file system"), "{err}");
    assert_eq!(
        s.ok(&["volume", "ls", "-q"]).lines().count(),
        2,
        "borrowed volumes stay with their owner"
    );

    // tmpfs: a fresh filesystem, its options applied.
    let out = s.ok(&[
        "run",
        NONE,
        "--rm",
        "--tmpfs",
        "/run/x:size=64k,mode=1770",
        "busybox",
        "sh",
        "-c",
        "grep ' /run/x ' /proc/mounts; stat -c %a /run/x",
    ]);
    assert!(
        out.starts_with("tmpfs /run/x tmpfs")
            && out.contains("size=64k")
            && out.ends_with("1770\n"),
        "{out}"
    );
    let e = s.fails(&["run", NONE, "--tmpfs", "/x:bogus=1", "busybox", "true"]);
    assert!(e.contains("invalid tmpfs option"), "{e}");

    // rm keeps anonymous volumes, rm -v removes them; --rm does too.
    let id = v["Id"].as_str().unwrap().to_string();
    s.ok(&["rm", "-v", "owner"]);
    s.assert_gone(&id);
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "");
    s.ok(&["run", NONE, "--rm", "busybox", "touch", "/cache/x"]);
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "");
    s.ok(&["run", NONE, "--name", "keeper", "busybox", "true"]);
    s.ok(&["rm", "keeper"]);
    assert_eq!(
        s.ok(&["volume", "ls", "-q"]).lines().count(),
        1,
        "plain rm keeps the anonymous volume"
    );
}
