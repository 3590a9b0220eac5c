//! `docker save` archives: manifest.json lists, per image, its config file, its layer
//! tars and its names. There are no descriptors, so one is built for each blob: the
//! config's digest is its file name, an uncompressed layer's digest is its diff-id from
//! the config. The synthesised OCI manifest then goes through the same verified path as
//! any other image.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

use super::{read_file, Files, Found};
use crate::compression::Compression;
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::image_config::ImageConfig;
use crate::ingest::{ManifestBlob, MAX_CONFIG_BYTES};
use crate::manifest::{media_type, Descriptor, MAX_MANIFEST_BYTES};
use crate::reference::Reference;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The images, and the archive path of each blob by digest.
pub(super) fn find(files: &dyn Files) -> Result<(Vec<Found>, HashMap<Digest, String>)> {
    let bytes = read_file(files, "manifest.json", MAX_MANIFEST_BYTES)?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).map_err(|e| Error::json("manifest.json", e))?;
    let mut paths = HashMap::new();
    let mut found = Vec::new();
    for e in entries {
        let config_bytes = read_file(files, &e.config, MAX_CONFIG_BYTES)?;
        let config_digest = Digest::of(&config_bytes);
        // The file is named after its digest (<hex>.json or blobs/sha256/<hex>).
        let stem = e
            .config
            .rsplit('/')
            .next()
            .unwrap_or(&e.config)
            .trim_end_matches(".json");
        if let Ok(named) = Digest::from_hex(stem) {
            let n = config_bytes.len() as u64;
            named.verify(&format!("config {}", e.config), &config_digest, n, n)?;
        }
        let config = ImageConfig::parse(&config_bytes)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(Error::invalid(
                files.describe(),
                format!(
                    "{} layers listed but {} diff_ids in {}",
                    e.layers.len(),
                    config.rootfs.diff_ids.len(),
                    e.config
                ),
            ));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let desc = layer_descriptor(files, path, diff_id)?;
            paths.insert(desc.digest.clone(), path.clone());
            layers.push(desc);
        }
        paths.insert(config_digest.clone(), e.config.clone());
        let manifest = ManifestBlob::oci(&config_bytes, layers)?;
        let tags = e.repo_tags.unwrap_or_default();
        let names = tags
            .iter()
            .filter_map(|t| Reference::parse_defaulted(t).ok())
            .collect();
        found.push(Found { manifest, names });
    }
    Ok((found, paths))
}

/// An uncompressed layer is its own diff-id; a compressed one has to be hashed here to
/// learn the digest its descriptor needs.
fn layer_descriptor(files: &dyn Files, path: &str, diff_id: &Digest) -> Result<Descriptor> {
    let missing = || {
        Error::invalid(
            files.describe(),
            format!("layer {path} listed in manifest.json is missing"),
        )
    };
    let (mut r, size) = files.open(path)?.ok_or_else(missing)?;
    let mut head = [0u8; 4];
    let n = r.read(&mut head).ctx(|| format!("read {path}"))?;
    let kind = Compression::sniff(&head[..n]);
    if kind == Compression::None {
        return Ok(Descriptor::new(
            media_type::OCI_LAYER,
            diff_id.clone(),
            size,
        ));
    }
    let (r, _) = files.open(path)?.ok_or_else(missing)?;
    let (digest, len) = HashingReader::new(r)
        .finish()
        .ctx(|| format!("read {path}"))?;
    Ok(Descriptor::new(kind.layer_media_type(), digest, len))
}
