//! Images built by the tests: layer tars entry by entry (malformed ones included), OCI
//! image layouts, oci-archives and docker save tars.

use std::fs;
use std::io::Write;
use std::path::Path;

use rt_stage::compression::Compression;
use rt_stage::digest::Digest;
use rt_stage::manifest::media_type;
use serde_json::{json, Value};
use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// A layer tar, one entry at a time.
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, mode: u32, uid: u64, gid: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(MTIME);
        h.set_size(0);
        h
    }

    pub fn dir(self, path: &str, mode: u32) -> Self {
        self.entry(Self::header(EntryType::Directory, mode, 0, 0), path, &[])
    }

    pub fn file(self, path: &str, data: &[u8], mode: u32) -> Self {
        self.owned_file(path, data, mode, 0, 0)
    }

    pub fn owned_file(self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(EntryType::Regular, mode, uid, gid);
        h.set_size(data.len() as u64);
        self.entry(h, path, data)
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(EntryType::Symlink, 0o777, 0, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("append symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(EntryType::Link, 0o644, 0, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("append hard link");
        self
    }

    pub fn char_dev(self, path: &str, major: u32, minor: u32) -> Self {
        let mut h = Self::header(EntryType::Char, 0o620, 0, 5);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.entry(h, path, &[])
    }

    pub fn fifo(self, path: &str) -> Self {
        self.entry(Self::header(EntryType::Fifo, 0o600, 0, 0), path, &[])
    }

    /// A file with an extended attribute (PAX SCHILY.xattr record).
    pub fn xattr_file(mut self, path: &str, data: &[u8], name: &str, value: &[u8]) -> Self {
        let key = format!("SCHILY.xattr.{name}");
        self.b
            .append_pax_extensions([(key.as_str(), value)])
            .expect("pax");
        self.file(path, data, 0o644)
    }

    /// An entry whose name is written as is, bypassing the tar crate's own checks
    /// (which refuse `..`): how a hostile layer would look.
    pub fn raw(mut self, name: &str, kind: EntryType, data: &[u8], link: Option<&str>) -> Self {
        let mut h = Self::header(kind, 0o644, 0, 0);
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        self.b.append(&h, data).expect("append raw");
        self
    }

    fn entry(mut self, mut h: Header, path: &str, data: &[u8]) -> Self {
        self.b.append_data(&mut h, path, data).expect("append");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finish tar")
    }
}

/// Debian's static busybox with a few applet links.
pub fn busybox_tar() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (package busybox-static)");
    let mut t = LayerTar::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox, 0o755);
    for applet in ["sh", "cat", "ls", "echo", "stat", "id", "sleep", "true"] {
        t = t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.dir("tmp", 0o1777).finish()
}

pub fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).expect("gzip");
            e.finish().expect("gzip")
        }
        Compression::Zstd => zstd::encode_all(tar, 1).expect("zstd"),
    }
}

/// An image: layer blobs, config and manifest, all as bytes.
#[derive(Clone)]
pub struct TestImage {
    pub layers: Vec<(Vec<u8>, String)>,
    pub diff_ids: Vec<Digest>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_type: String,
}

impl TestImage {
    /// OCI media types; `arch` goes into the config.
    pub fn new(layers: &[(Vec<u8>, Compression)], arch: &str) -> TestImage {
        Self::build(layers, arch, false)
    }

    /// Docker v2 schema 2 media types.
    pub fn docker(layers: &[(Vec<u8>, Compression)], arch: &str) -> TestImage {
        Self::build(layers, arch, true)
    }

    fn build(layers: &[(Vec<u8>, Compression)], arch: &str, docker: bool) -> TestImage {
        let diff_ids: Vec<Digest> = layers.iter().map(|(t, _)| Digest::of(t)).collect();
        let blobs: Vec<(Vec<u8>, String)> = layers
            .iter()
            .map(|(t, c)| {
                let mt = match (docker, c) {
                    (true, Compression::Gzip) => media_type::DOCKER_LAYER_GZIP.to_string(),
                    _ => c.layer_media_type().to_string(),
                };
                (compress(t, *c), mt)
            })
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config json");
        let (mt, ct) = if docker {
            (media_type::DOCKER_MANIFEST, media_type::DOCKER_CONFIG)
        } else {
            (media_type::OCI_MANIFEST, media_type::OCI_CONFIG)
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": ct, "digest": Digest::of(&config), "size": config.len()},
            "layers": blobs.iter().map(|(b, t)| json!({"mediaType": t, "digest": Digest::of(b), "size": b.len()})).collect::<Vec<_>>(),
        }))
        .expect("manifest json");
        TestImage {
            layers: blobs,
            diff_ids,
            config,
            manifest,
            manifest_type: mt.to_string(),
        }
    }

    pub fn busybox() -> TestImage {
        TestImage::new(&[(busybox_tar(), Compression::Gzip)], "amd64")
    }

    pub fn id(&self) -> Digest {
        Digest::of(&self.config)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Rewrites the manifest JSON (and so its digest).
    pub fn edit_manifest(&mut self, f: impl FnOnce(&mut Value)) {
        let mut m: Value = serde_json::from_slice(&self.manifest).expect("manifest json");
        f(&mut m);
        self.manifest = serde_json::to_vec(&m).expect("manifest json");
    }

    /// Rewrites the config JSON and points the manifest at the new config.
    pub fn edit_config(&mut self, f: impl FnOnce(&mut Value)) {
        let mut c: Value = serde_json::from_slice(&self.config).expect("config json");
        f(&mut c);
        self.config = serde_json::to_vec(&c).expect("config json");
        let desc = json!({"mediaType": media_type::OCI_CONFIG, "digest": Digest::of(&self.config), "size": self.config.len()});
        self.edit_manifest(|m| m["config"] = desc);
    }

    pub fn layers_digest(&self, i: usize) -> Digest {
        Digest::of(&self.layers[i].0)
    }

    /// Every blob: manifest, config, layers.
    pub fn blobs(&self) -> Vec<Vec<u8>> {
        let mut v = vec![self.manifest.clone(), self.config.clone()];
        v.extend(self.layers.iter().map(|(b, _)| b.clone()));
        v
    }

    pub fn descriptor(&self, platform: Option<(&str, &str)>, name: Option<&str>) -> Value {
        let mut d = json!({"mediaType": self.manifest_type, "digest": self.digest(), "size": self.manifest.len()});
        if let Some((os, arch)) = platform {
            d["platform"] = json!({"os": os, "architecture": arch});
        }
        if let Some(n) = name {
            d["annotations"] = json!({"org.opencontainers.image.ref.name": n});
        }
        d
    }
}

pub fn write_blob(layout: &Path, bytes: &[u8]) {
    let p = layout.join("blobs/sha256").join(Digest::of(bytes).hex());
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir blobs");
    fs::write(p, bytes).expect("write blob");
}

/// An OCI layout whose index.json lists `entries` (descriptors), holding every blob of
/// `images` plus `extra` blobs (nested indexes).
pub fn write_layout(layout: &Path, images: &[&TestImage], entries: Vec<Value>, extra: &[Vec<u8>]) {
    fs::create_dir_all(layout).expect("mkdir layout");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    for img in images {
        for b in img.blobs() {
            write_blob(layout, &b);
        }
    }
    for b in extra {
        write_blob(layout, b);
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entries});
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index"),
    )
    .expect("index.json");
}

/// A single-image layout named `name`.
pub fn simple_layout(layout: &Path, img: &TestImage, name: &str) {
    write_layout(layout, &[img], vec![img.descriptor(None, Some(name))], &[]);
}

/// A tar of a directory's files (an oci-archive when the directory is a layout).
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).expect("create archive"));
    b.append_dir_all(".", dir).expect("tar layout");
    b.finish().expect("finish archive");
}

/// `docker save` format: manifest.json, <hex>.json config, <n>/layer.tar.
pub fn docker_save(out: &Path, img: &TestImage, tags: &[&str], layer_files: &[Vec<u8>]) {
    let mut b = tar::Builder::new(fs::File::create(out).expect("create docker save"));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        b.append_data(&mut h, name, data).expect("append");
    };
    let config_name = format!("{}.json", img.id().hex());
    add(&config_name, &img.config);
    let mut layer_names = Vec::new();
    for (i, data) in layer_files.iter().enumerate() {
        let n = format!("{i}/layer.tar");
        add(&n, data);
        layer_names.push(n);
    }
    let manifest = json!([{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]);
    add(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    b.finish().expect("finish");
}
