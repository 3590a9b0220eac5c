//! Getting images in (load, import) and managing the store (images, tag, rmi, prune),
//! through the rt-stage binary; bad input must store nothing.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::images::{
    busybox_tar, compress, docker_save, simple_layout, tar_dir, write_layout, LayerTar, TestImage,
};
use common::Stage;
use rt_stage::compression::Compression;
use rt_stage::digest::Digest;
use rt_stage::manifest::media_type;
use serde_json::{json, Value};
use tar::EntryType;

fn extra_layer() -> Vec<u8> {
    LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/motd", b"hello from rt-stage\n", 0o644)
        .file("bin/.wh.ls", b"", 0o644)
        .finish()
}

fn two_layer_image() -> TestImage {
    TestImage::new(
        &[
            (busybox_tar(), Compression::Gzip),
            (extra_layer(), Compression::Zstd),
        ],
        "amd64",
    )
}

#[test]
fn loads_an_oci_layout_with_gzip_and_zstd_layers() {
    let s = Stage::new();
    let img = two_layer_image();
    simple_layout(&s.path("layout"), &img, "busybox:test");
    let out = s.ok(&["load", "-i", s.path("layout").to_str().unwrap()]);
    assert_eq!(out, "Loaded image: busybox:test\n");
    let list = s.ok(&["images"]);
    assert!(
        list.starts_with("REPOSITORY   TAG    IMAGE ID       CREATED"),
        "{list}"
    );
    assert!(
        list.contains(&format!("busybox      test   {}", img.id().short())),
        "{list}"
    );
    for d in &img.diff_ids {
        assert!(s
            .root
            .join("layers/sha256")
            .join(d.hex())
            .join("diff")
            .is_dir());
    }
    assert_eq!(
        s.entries("blobs/sha256").len(),
        4,
        "manifest, config, two layers"
    );
    // The upper layer's whiteout is an overlay whiteout in its layer dir.
    let wh = s
        .root
        .join("layers/sha256")
        .join(img.diff_ids[1].hex())
        .join("diff/bin/ls");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &fs::symlink_metadata(wh).unwrap().file_type()
    ));
    // Loading again stores nothing new.
    s.ok(&["load", "-i", s.path("layout").to_str().unwrap()]);
    assert_eq!(s.entries("blobs/sha256").len(), 4);
    assert_eq!(s.image_ids(), [img.id().short()]);
    // unpack merges the layers: ls whited out, motd added.
    s.ok(&["unpack", "busybox:test", s.path("rootfs").to_str().unwrap()]);
    assert!(s.path("rootfs/bin/busybox").is_file() && !s.path("rootfs/bin/ls").exists());
    assert_eq!(
        fs::read_to_string(s.path("rootfs/etc/motd")).unwrap(),
        "hello from rt-stage\n"
    );
}

#[test]
fn loads_an_oci_archive() {
    let s = Stage::new();
    let img = TestImage::new(&[(extra_layer(), Compression::Gzip)], "amd64");
    simple_layout(&s.path("layout"), &img, "127.0.0.1:5000/app:v1");
    tar_dir(&s.path("layout"), &s.path("app.tar"));
    let out = s.ok(&["load", "-i", s.path("app.tar").to_str().unwrap()]);
    assert_eq!(out, "Loaded image: 127.0.0.1:5000/app:v1\n");
    // A bare-tag ref name names nothing; --tag does.
    let s2 = Stage::new();
    simple_layout(&s2.path("layout"), &img, "v1");
    let out = s2.ok(&["load", "-i", s2.path("layout").to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image ID: {}\n", img.id()));
    assert!(s2.ok(&["images"]).contains("<none>"));
    s2.ok(&[
        "load",
        "-t",
        "named:v2",
        "-i",
        s2.path("layout").to_str().unwrap(),
    ]);
    assert!(s2.ok(&["images"]).contains("named        v2"));
}

#[test]
fn loads_a_docker_save_archive() {
    let s = Stage::new();
    let tar = busybox_tar();
    let img = TestImage::new(&[(tar.clone(), Compression::None)], "amd64");
    docker_save(
        &s.path("save.tar"),
        &img,
        &["busybox:saved", "busybox:alias"],
        &[tar],
    );
    let out = s.ok(&["load", "-i", s.path("save.tar").to_str().unwrap()]);
    assert_eq!(
        out,
        "Loaded image: busybox:alias\nLoaded image: busybox:saved\n"
    );
    assert_eq!(s.image_ids(), [img.id().short()]);
    // A compressed layer inside a docker save archive works too.
    let s2 = Stage::new();
    let gz = compress(&extra_layer(), Compression::Gzip);
    let img2 = TestImage::new(&[(extra_layer(), Compression::None)], "amd64");
    docker_save(&s2.path("save.tar"), &img2, &["x:1"], &[gz]);
    s2.ok(&["load", "-i", s2.path("save.tar").to_str().unwrap()]);
    assert_eq!(s2.image_ids(), [img2.id().short()]);
}

#[test]
fn docker_save_layer_links_are_followed() {
    // docker save stores a layer used twice once, and links the second copy to it.
    let s = Stage::new();
    let layer = extra_layer();
    let img = TestImage::new(
        &[
            (layer.clone(), Compression::None),
            (layer.clone(), Compression::None),
        ],
        "amd64",
    );
    let mut b = tar::Builder::new(fs::File::create(s.path("save.tar")).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("cfg.json", &img.config);
    add("0/layer.tar", &layer);
    let manifest = json!([{"Config": "cfg.json", "RepoTags": ["twice:1"], "Layers": ["0/layer.tar", "1/layer.tar"]}]);
    add("manifest.json", manifest.to_string().as_bytes());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "1/layer.tar", "../0/layer.tar")
        .unwrap();
    b.finish().unwrap();
    drop(b);
    assert_eq!(
        s.ok(&["load", "-i", s.path("save.tar").to_str().unwrap()]),
        "Loaded image: twice:1\n"
    );
    assert_eq!(s.entries("layers/sha256").len(), 1);
}

#[test]
fn an_index_yields_the_linux_amd64_image() {
    let amd = TestImage::new(&[(extra_layer(), Compression::Gzip)], "amd64");
    let arm = TestImage::new(
        &[(
            LayerTar::new().file("arm", b"", 0o644).finish(),
            Compression::Gzip,
        )],
        "arm64",
    );
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
        "manifests": [arm.descriptor(Some(("linux", "arm64")), None), amd.descriptor(Some(("linux", "amd64")), None)],
    }))
    .unwrap();
    let outer = json!({"mediaType": media_type::OCI_INDEX, "digest": Digest::of(&nested), "size": nested.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi:latest"}});
    let s = Stage::new();
    write_layout(
        &s.path("layout"),
        &[&amd, &arm],
        vec![outer],
        std::slice::from_ref(&nested),
    );
    s.ok(&["load", "-i", s.path("layout").to_str().unwrap()]);
    assert_eq!(s.image_ids(), [amd.id().short()]);
    let s2 = Stage::new();
    write_layout(
        &s2.path("layout"),
        &[&amd, &arm],
        vec![
            arm.descriptor(Some(("linux", "arm64")), Some("x:arm")),
            amd.descriptor(Some(("linux", "amd64")), Some("x:amd")),
        ],
        &[],
    );
    assert_eq!(
        s2.ok(&["load", "-i", s2.path("layout").to_str().unwrap()]),
        "Loaded image: x:amd\n"
    );
    s2.ok(&[
        "load",
        "--platform",
        "linux/arm64",
        "-i",
        s2.path("layout").to_str().unwrap(),
    ]);
    assert_eq!(s2.image_ids().len(), 2);
    let e = s2.fails(&[
        "load",
        "--platform",
        "linux/s390x",
        "-i",
        s2.path("layout").to_str().unwrap(),
    ]);
    assert!(e.contains("no matching manifest for linux/s390x"), "{e}");
}

#[test]
fn images_share_layers_and_rmi_frees_what_is_unshared() {
    let s = Stage::new();
    let base = TestImage::busybox();
    let derived = TestImage::new(
        &[
            (busybox_tar(), Compression::Gzip),
            (extra_layer(), Compression::Gzip),
        ],
        "amd64",
    );
    simple_layout(&s.path("a"), &base, "base:1");
    simple_layout(&s.path("b"), &derived, "derived:1");
    s.ok(&["load", "-i", s.path("a").to_str().unwrap()]);
    s.ok(&["load", "-i", s.path("b").to_str().unwrap()]);
    assert_eq!(
        s.entries("layers/sha256").len(),
        2,
        "busybox layer stored once"
    );
    let out = s.ok(&["rmi", "derived:1"]);
    assert!(out.starts_with("Untagged: derived:1\nDeleted: "), "{out}");
    assert_eq!(
        s.entries("layers/sha256"),
        [base.diff_ids[0].hex().to_string()]
    );
    s.ok(&["rmi", "base:1"]);
    s.assert_nothing_stored();
}

#[test]
fn tag_rmi_and_containers_using_an_image() {
    let s = Stage::new();
    let img = TestImage::busybox();
    simple_layout(&s.path("l"), &img, "busybox:1");
    s.ok(&["load", "-i", s.path("l").to_str().unwrap()]);
    s.ok(&["tag", "busybox:1", "127.0.0.1:5000/copy:2"]);
    s.ok(&["tag", img.id().short(), "third"]);
    let list = s.ok(&["images"]);
    assert_eq!(list.lines().count(), 4, "{list}");
    let e = s.fails(&["rmi", img.id().short()]);
    assert!(e.contains(&format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", img.id().short())), "{e}");
    assert_eq!(
        s.ok(&["rmi", "third", "127.0.0.1:5000/copy:2"]),
        "Untagged: third:latest\nUntagged: 127.0.0.1:5000/copy:2\n"
    );
    let e = s.fails(&["rmi", "nosuch"]);
    assert_eq!(e, "rt-stage: No such image: nosuch:latest\n");

    // A container's reference record (written by `create`, issue 11) pins the image.
    let cdir = s.root.join("containers/c1");
    fs::create_dir_all(&cdir).unwrap();
    let r = json!({"container": "c1", "image": img.id(), "layers": img.diff_ids});
    fs::write(cdir.join("image-ref.json"), r.to_string()).unwrap();
    let e = s.fails(&["rmi", "busybox:1"]);
    assert!(
        e.contains("container c1 is using its referenced image"),
        "{e}"
    );
    let e = s.fails(&["rmi", "-f", img.id().short()]);
    assert!(
        e.contains("(cannot be forced) - image is being used by container c1"),
        "{e}"
    );
    assert_eq!(s.ok(&["rmi", "-f", "busybox:1"]), "Untagged: busybox:1\n");
    s.ok(&["prune", "-a"]);
    assert!(
        s.ok(&["images"]).contains("<none>"),
        "kept while the container uses it"
    );
    assert_eq!(s.entries("layers/sha256").len(), 1);
    fs::remove_file(cdir.join("image-ref.json")).unwrap();
    let out = s.ok(&["prune"]);
    assert!(
        out.contains("Deleted Images:\n") && out.contains("Total reclaimed space: "),
        "{out}"
    );
    s.assert_nothing_stored();
}

#[test]
fn prune_removes_leftovers_of_interrupted_runs() {
    let s = Stage::new();
    s.ok(&["images"]);
    fs::create_dir_all(s.root.join("tmp/stage-dead/blobs")).unwrap();
    fs::write(s.root.join("tmp/partial/abc"), vec![0u8; 5000]).unwrap();
    let stray = b"unreferenced";
    fs::write(
        s.root.join("blobs/sha256").join(Digest::of(stray).hex()),
        stray,
    )
    .unwrap();
    let out = s.ok(&["prune"]);
    assert_eq!(out, "Total reclaimed space: 5.01kB\n");
    s.assert_nothing_stored();
}

#[test]
fn an_interrupted_import_leaves_nothing_trusted() {
    let s = Stage::new();
    s.ok(&["images"]);
    let tar = busybox_tar();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rt-stage"))
        .args(["--root", s.root.to_str().unwrap(), "import", "-", "half:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(&tar[..tar.len() / 2])
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        s.entries("tmp").iter().any(|e| e.starts_with("stage-")),
        "staging directory of the killed run"
    );
    assert_eq!(
        s.entries("blobs/sha256").len() + s.entries("layers/sha256").len(),
        0
    );
    assert_eq!(s.ok(&["images", "-q"]), "");
    s.ok(&["prune"]);
    s.assert_nothing_stored();
}

#[test]
fn import_makes_a_one_layer_image_from_a_tarball() {
    let s = Stage::new();
    fs::write(
        s.path("rootfs.tar.zst"),
        compress(&busybox_tar(), Compression::Zstd),
    )
    .unwrap();
    let id = s.ok(&[
        "import",
        "-c",
        r#"CMD ["sh", "-c", "echo hi"]"#,
        "-c",
        "ENV A=b",
        "-m",
        "test",
        s.path("rootfs.tar.zst").to_str().unwrap(),
        "bb:imported",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    let inspect: Value = serde_json::from_str(&s.ok(&["inspect", "bb:imported"])).unwrap();
    assert_eq!(inspect[0]["Config"]["Cmd"], json!(["sh", "-c", "echo hi"]));
    assert_eq!(inspect[0]["Config"]["Env"], json!(["A=b"]));
    assert_eq!(inspect[0]["Id"], json!(id.trim()));
    assert_eq!(
        inspect[0]["Manifest"]["MediaType"],
        json!(media_type::OCI_MANIFEST)
    );
}

/// Loading `img` from a layout fails naming `want`, and stores nothing.
fn refused_image(img: &TestImage, want: &str) {
    let s = Stage::new();
    simple_layout(&s.path("layout"), img, "refused:1");
    s.refuses(&["load", "-i", s.path("layout").to_str().unwrap()], want);
}

/// A layout of `img` after `tamper` has edited its files.
fn tampered(s: &Stage, img: &TestImage, tamper: impl FnOnce(&std::path::Path)) -> String {
    let dir = s.path("bad");
    simple_layout(&dir, img, "bad:1");
    tamper(&dir);
    dir.to_str().unwrap().to_string()
}

fn blob_file(dir: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
    dir.join("blobs/sha256").join(Digest::of(bytes).hex())
}

#[test]
fn corrupt_or_mismatched_blobs_store_nothing() {
    let img = two_layer_image();
    let layer = img.layers[1].0.clone();
    type Tamper<'a> = Box<dyn Fn(&std::path::Path) + 'a>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "digest mismatch",
            Box::new(|d| {
                let p = blob_file(d, &layer);
                let mut b = fs::read(&p).unwrap();
                let last = b.len() - 1;
                b[last] ^= 1;
                fs::write(p, b).unwrap();
            }),
        ),
        (
            "size mismatch",
            Box::new(|d| {
                let p = blob_file(d, &layer);
                let mut b = fs::read(&p).unwrap();
                b.push(0);
                fs::write(p, b).unwrap();
            }),
        ),
        (
            "not found in OCI layout",
            Box::new(|d| fs::remove_file(blob_file(d, &layer)).unwrap()),
        ),
    ];
    for (want, tamper) in cases {
        let s = Stage::new();
        let dir = tampered(&s, &img, tamper);
        s.refuses(&["load", "-i", &dir], want);
    }
}

#[test]
fn a_wrong_diff_id_stores_nothing() {
    let mut img = TestImage::new(&[(extra_layer(), Compression::Gzip)], "amd64");
    // Rebuild config and manifest around a diff_id that the layer does not have.
    img.edit_config(|config| config["rootfs"]["diff_ids"] = json!([Digest::of(b"something else")]));
    refused_image(&img, "(uncompressed, diff_id): digest mismatch");
}

#[test]
fn an_escaping_layer_entry_stores_nothing() {
    let s = Stage::new();
    let evil = LayerTar::new()
        .file("fine", b"", 0o644)
        .raw("../../escaped", EntryType::Regular, b"x", None)
        .finish();
    let img = TestImage::new(
        &[
            (busybox_tar(), Compression::Gzip),
            (evil, Compression::Gzip),
        ],
        "amd64",
    );
    simple_layout(&s.path("layout"), &img, "evil:1");
    s.refuses(
        &["load", "-i", s.path("layout").to_str().unwrap()],
        "layer entry \"../../escaped\" escapes the layer directory",
    );
    let found = Command::new("find")
        .arg(s.dir.path())
        .args(["-name", "escaped"])
        .output()
        .unwrap();
    assert!(
        found.stdout.is_empty(),
        "written: {}",
        String::from_utf8_lossy(&found.stdout)
    );
}

#[test]
fn truncated_archives_store_nothing() {
    let s = Stage::new();
    let img = TestImage::busybox();
    simple_layout(&s.path("l"), &img, "t:1");
    tar_dir(&s.path("l"), &s.path("full.tar"));
    let full = fs::read(s.path("full.tar")).unwrap();
    fs::write(s.path("cut.tar"), &full[..full.len() / 2]).unwrap();
    s.refuses(
        &["load", "-i", s.path("cut.tar").to_str().unwrap()],
        "is truncated",
    );

    let tar = busybox_tar();
    let img = TestImage::new(&[(tar.clone(), Compression::None)], "amd64");
    docker_save(&s.path("save.tar"), &img, &["t:2"], &[tar]);
    let full = fs::read(s.path("save.tar")).unwrap();
    fs::write(s.path("cut2.tar"), &full[..full.len() * 2 / 3]).unwrap();
    s.refuses(
        &["load", "-i", s.path("cut2.tar").to_str().unwrap()],
        "is truncated",
    );

    // A layer blob cut short whose descriptor matches the cut bytes: the digest passes,
    // decompression finds the end missing.
    let gz = compress(&busybox_tar(), Compression::Gzip);
    let cut = gz[..gz.len() / 2].to_vec();
    let mut img = TestImage::new(&[(busybox_tar(), Compression::Gzip)], "amd64");
    img.layers[0].0 = cut.clone();
    img.edit_manifest(|m| {
        m["layers"][0]["digest"] = json!(Digest::of(&cut));
        m["layers"][0]["size"] = json!(cut.len());
    });
    refused_image(&img, "truncated");
}

#[test]
fn unknown_media_types_are_refused() {
    let s = Stage::new();
    let img = TestImage::busybox();
    let mut desc = img.descriptor(None, Some("u:1"));
    desc["mediaType"] = json!("application/vnd.example.unknown+json");
    write_layout(&s.path("l"), &[&img], vec![desc], &[]);
    s.refuses(
        &["load", "-i", s.path("l").to_str().unwrap()],
        "unsupported manifest media type \"application/vnd.example.unknown+json\"",
    );

    let mut img = TestImage::new(&[(extra_layer(), Compression::Gzip)], "amd64");
    img.edit_manifest(|m| {
        m["layers"][0]["mediaType"] = json!("application/vnd.example.layer.v1.tar+lz4");
    });
    refused_image(
        &img,
        "media type \"application/vnd.example.layer.v1.tar+lz4\"",
    );

    fs::write(
        s.path("junk"),
        b"this is not a tar file at all, just text".repeat(20),
    )
    .unwrap();
    s.refuses(
        &["load", "-i", s.path("junk").to_str().unwrap()],
        "not an OCI image layout, oci-archive or docker save archive",
    );
}

#[test]
fn progress_bars_only_on_a_terminal() {
    let s = Stage::new();
    let img = TestImage::busybox();
    simple_layout(&s.path("l"), &img, "p:1");
    let layout = s.path("l");
    let out = s.run(&["load", "-i", layout.to_str().unwrap()]);
    assert!(
        out.stderr.is_empty(),
        "no bar when stderr is not a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // script(1) gives the command a pseudo-terminal; a fresh store, so there is work to show.
    let cmd = format!(
        "{} --root {} load -i {}",
        env!("CARGO_BIN_EXE_rt-stage"),
        s.path("tty-store").display(),
        layout.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Verified") && text.contains("Pull complete"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}: ", img.layers_digest(0).short())),
        "{text}"
    );
}
