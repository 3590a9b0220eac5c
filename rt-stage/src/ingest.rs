//! Bringing one image into the store, wherever it comes from (an OCI layout, an archive,
//! a registry): fetch and verify each blob, unpack each layer and verify its diff-id, and
//! only then commit everything at once (see [`crate::store::Staging`]).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use indicatif::ProgressBar;

use crate::compression;
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::image_config::ImageConfig;
use crate::layer::{self, Target};
use crate::manifest::{self, media_type, Descriptor, Document, Manifest};
use crate::progress::{self, Progress};
use crate::store::{images, ImageRecord, LayerRecord, Staging};

/// The largest image config accepted (read into memory; history can make them long).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Where an image's blobs come from.
pub trait BlobSource {
    /// Names the source in errors: "oci-archive x.tar", "127.0.0.1:5000/busybox".
    fn name(&self) -> String;

    /// The blob's bytes as the source has them (not yet verified).
    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>>;

    /// Writes the blob to `dest`, verified against `desc`; a registry overrides this to
    /// resume interrupted downloads.
    fn fetch(&mut self, desc: &Descriptor, dest: &Path, bar: &ProgressBar) -> Result<()> {
        let what = format!("blob {}", desc.digest);
        let r = self.open(desc)?;
        copy_verified(bar.wrap_read(r), desc, &what, dest)
    }

    /// A small document (manifest, config), verified, in memory.
    fn read_small(&mut self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        if desc.size > max {
            return Err(Error::invalid(
                format!("blob {}", desc.digest),
                format!("size {} over the {max}-byte limit", desc.size),
            ));
        }
        let mut bytes = Vec::new();
        let name = self.name();
        self.open(desc)?
            .take(desc.size + 1)
            .read_to_end(&mut bytes)
            .ctx(|| format!("read {} from {name}", desc.digest))?;
        let n = bytes.len() as u64;
        desc.digest.verify(
            &format!("blob {}", desc.digest),
            &Digest::of(&bytes),
            desc.size,
            n,
        )?;
        Ok(bytes)
    }
}

/// Copies `r` into a new file `dest` while hashing it, and keeps the file only if size
/// and digest match `desc`. Reads at most one byte past the expected size, so an
/// overlong stream is caught without being read to its end.
pub fn copy_verified(r: impl Read, desc: &Descriptor, what: &str, dest: &Path) -> Result<()> {
    let result = (|| {
        let file = File::create(dest).at("create", dest)?;
        let mut w = HashingWriter::new(file);
        io::copy(&mut r.take(desc.size + 1), &mut w).map_err(|e| read_error(e, what))?;
        let (file, digest, n) = w.finish();
        desc.digest.verify(what, &digest, desc.size, n)?;
        file.sync_all().at("sync", dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(dest);
    }
    result
}

/// A stream that ends early is a truncated blob, which says more than "unexpected EOF".
pub fn read_error(e: io::Error, what: &str) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::Truncated {
            what: what.to_string(),
        }
    } else {
        Error::Io {
            context: format!("read {what}"),
            source: e,
        }
    }
}

/// The image manifest being stored, byte for byte.
pub struct ManifestBlob {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

impl ManifestBlob {
    pub fn new(bytes: Vec<u8>, media_type: &str) -> ManifestBlob {
        ManifestBlob {
            digest: Digest::of(&bytes),
            bytes,
            media_type: media_type.to_string(),
        }
    }

    /// An OCI manifest for an image built or converted here, around its config bytes.
    pub fn oci(config: &[u8], layers: Vec<Descriptor>) -> Result<ManifestBlob> {
        let config = Descriptor::new(
            media_type::OCI_CONFIG,
            Digest::of(config),
            config.len() as u64,
        );
        let bytes = serde_json::to_vec(&Manifest::oci(config, layers))
            .map_err(|e| Error::json("manifest", e))?;
        Ok(ManifestBlob::new(bytes, media_type::OCI_MANIFEST))
    }

    pub fn parse(&self) -> Result<Manifest> {
        match manifest::parse(&self.bytes, Some(&self.media_type))? {
            Document::Manifest(m) => Ok(m),
            Document::Index(_) => Err(Error::invalid(
                format!("manifest {}", self.digest),
                "an index where an image manifest was expected",
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerStatus {
    AlreadyExists,
    Fetched,
}

pub struct Outcome {
    pub record: ImageRecord,
    pub layers: Vec<(Digest, LayerStatus)>,
}

/// What to record besides the content.
#[derive(Default)]
pub struct Names {
    pub names: Vec<String>,
    pub repo_digests: Vec<String>,
}

pub fn ingest(
    mut staging: Staging<'_>,
    source: &mut dyn BlobSource,
    manifest: &ManifestBlob,
    names: Names,
    progress: &Progress,
) -> Result<Outcome> {
    let m = manifest.parse()?;
    stage_bytes(&mut staging, &manifest.bytes)?;

    ensure_blob(&mut staging, source, &m.config, progress)?;
    let config_path = staging
        .blob_path(&m.config.digest)
        .ok_or_else(|| Error::invalid("image", "config blob vanished from staging"))?;
    let config_bytes = read_limited(&config_path, MAX_CONFIG_BYTES)?;
    let config = ImageConfig::parse(&config_bytes)?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::invalid(
            format!("image {}", m.config.digest),
            format!(
                "{} layers in the manifest but {} diff_ids in the config",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }

    let mut statuses = Vec::new();
    let mut size = 0;
    for (desc, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
        let have_blob = staging.blob_path(&desc.digest).is_some();
        let have_layer = staging.has_layer(diff_id);
        if have_blob && have_layer {
            statuses.push((desc.digest.clone(), LayerStatus::AlreadyExists));
        } else {
            ensure_blob(&mut staging, source, desc, progress)?;
            if !have_layer {
                unpack(&mut staging, desc, diff_id, progress)?;
            }
            statuses.push((desc.digest.clone(), LayerStatus::Fetched));
        }
        size += staging.layer_size(diff_id).unwrap_or(0);
    }

    let mut needed: Vec<Digest> = m.layers.iter().map(|l| l.digest.clone()).collect();
    needed.push(m.config.digest.clone());
    needed.push(manifest.digest.clone());
    let record = ImageRecord {
        id: m.config.digest.clone(),
        manifest: manifest.digest.clone(),
        manifest_media_type: manifest.media_type.clone(),
        names: names.names,
        repo_digests: names.repo_digests,
        layers: config.rootfs.diff_ids.clone(),
        created: config.created.clone(),
        platform: format!("{}/{}", config.os, config.architecture),
        size,
        added: images::now(),
    };
    tracing::debug!(
        "committing image {} (manifest {})",
        m.config.digest,
        manifest.digest
    );
    let record = staging.commit(&needed, &config.rootfs.diff_ids, |records| {
        Ok(records.add(record))
    })?;
    Ok(Outcome {
        record,
        layers: statuses,
    })
}

fn ensure_blob(
    staging: &mut Staging<'_>,
    source: &mut dyn BlobSource,
    desc: &Descriptor,
    progress: &Progress,
) -> Result<()> {
    if staging.blob_path(&desc.digest).is_some() {
        return Ok(());
    }
    tracing::debug!(
        "fetching {} ({} bytes) from {}",
        desc.digest,
        desc.size,
        source.name()
    );
    let bar = progress.bytes(desc.digest.short(), "Downloading", desc.size);
    source.fetch(desc, &staging.blob_dest(&desc.digest), &bar)?;
    progress::finish(&bar, "Verified");
    staging.blob_done(&desc.digest);
    Ok(())
}

/// Unpacks a verified layer blob into a staged layer directory, checking that the
/// uncompressed stream hashes to `diff_id`.
fn unpack(
    staging: &mut Staging<'_>,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &Progress,
) -> Result<()> {
    let blob = staging
        .blob_path(&desc.digest)
        .ok_or_else(|| Error::invalid("layer", "blob vanished from staging"))?;
    let dir = staging.new_layer_dir()?;
    tracing::debug!("unpacking layer {} into {}", desc.digest, dir.display());
    let bar = progress.bytes(desc.digest.short(), "Extracting", desc.size);
    let file = File::open(&blob).at("open", &blob)?;
    let what = format!("layer {}", desc.digest);
    let mut tar = HashingReader::new(
        compression::decompress(bar.wrap_read(file)).map_err(|e| read_error(e, &what))?,
    );
    let stats = layer::apply(&mut tar, &dir, Target::Overlay)?;
    let (actual, _) = tar.finish().map_err(|e| read_error(e, &what))?;
    if actual != *diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{what} (uncompressed, diff_id)"),
            expected: diff_id.to_string(),
            actual: actual.to_string(),
        });
    }
    progress::finish(&bar, "Pull complete");
    staging.layer_done(
        dir,
        &LayerRecord {
            diff_id: diff_id.clone(),
            blob: desc.digest.clone(),
            size: stats.size,
        },
    )
}

pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .at("open", path)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .at("read", path)?;
    if bytes.len() as u64 > max {
        return Err(Error::invalid(
            path.display().to_string(),
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// Writes a document we generated (config, manifest) into staging under its digest.
pub fn stage_bytes(staging: &mut Staging<'_>, bytes: &[u8]) -> Result<Digest> {
    let d = Digest::of(bytes);
    let p = staging.blob_dest(&d);
    let mut f = File::create(&p).at("create", &p)?;
    f.write_all(bytes).at("write", &p)?;
    f.sync_all().at("sync", &p)?;
    staging.blob_done(&d);
    Ok(d)
}
