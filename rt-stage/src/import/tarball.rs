//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image,
//! the blob kept exactly as given.

use std::fs::File;
use std::io::{self, Read};

use super::changes;
use crate::compression::{self, Compression};
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::image_config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::ingest::{self, BlobSource, ManifestBlob, Names, Outcome};
use crate::layer::{self, Target};
use crate::manifest::Descriptor;
use crate::platform::Platform;
use crate::progress::{self, Progress};
use crate::reference::Reference;
use crate::store::{LayerRecord, Staging, Store};

pub struct ImportOptions<'a> {
    pub name: Option<Reference>,
    pub changes: &'a [String],
    pub message: Option<String>,
    pub platform: Platform,
}

pub fn import(
    store: &Store,
    input: impl Read,
    opts: &ImportOptions<'_>,
    progress: &Progress,
) -> Result<Outcome> {
    let mut container = ContainerConfig::default();
    for c in opts.changes {
        changes::apply(&mut container, c)?;
    }
    let mut staging = Staging::new(store)?;

    let (layer, diff_id, entries) = stage_layer(&mut staging, input, progress)?;
    if entries == 0 {
        return Err(Error::invalid("import", "the input holds no tar entries"));
    }
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: opts.platform.architecture.clone(),
        os: opts.platform.os.clone(),
        variant: opts.platform.variant.clone(),
        config: Some(container),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some("rt-stage import".into()),
            comment: opts.message.clone(),
            empty_layer: false,
        }],
        ..Default::default()
    };
    let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::json("config", e))?;
    ingest::stage_bytes(&mut staging, &config_bytes)?;
    let manifest = ManifestBlob::oci(&config_bytes, vec![layer])?;
    let names = Names {
        names: opts.name.iter().map(|n| n.to_string()).collect(),
        repo_digests: Vec::new(),
    };
    ingest::ingest(staging, &mut Staged, &manifest, names, progress)
}

/// Stores a layer tar (plain, gzip or zstd) given as a stream: the blob copied as is and
/// hashed on the way, then unpacked once, which also yields its diff-id. Shared by
/// `import` and `commit`.
pub(crate) fn stage_layer(
    staging: &mut Staging<'_>,
    input: impl Read,
    progress: &Progress,
) -> Result<(Descriptor, Digest, u64)> {
    // The blob: copied as given, hashed on the way.
    let incoming = staging.scratch("incoming");
    let bar = progress.bytes("import", "Copying", 0);
    let mut w = HashingWriter::new(File::create(&incoming).at("create", &incoming)?);
    io::copy(&mut bar.wrap_read(input), &mut w).map_err(|e| ingest::read_error(e, "input"))?;
    let (file, blob_digest, blob_size) = w.finish();
    file.sync_all().at("sync", &incoming)?;
    std::fs::rename(&incoming, staging.blob_dest(&blob_digest)).at("rename", &incoming)?;
    staging.blob_done(&blob_digest);
    progress::finish(&bar, "Copied");

    // The layer: unpacked once here, which also yields the diff-id the config needs.
    let blob = staging.blob_dest(&blob_digest);
    let mut head = [0u8; 4];
    let n = File::open(&blob)
        .at("open", &blob)?
        .read(&mut head)
        .at("read", &blob)?;
    let kind = Compression::sniff(&head[..n]);
    let dir = staging.new_layer_dir()?;
    let mut tar = HashingReader::new(
        compression::decompress(File::open(&blob).at("open", &blob)?).at("read", &blob)?,
    );
    let stats = layer::apply(&mut tar, &dir, Target::Overlay)?;
    let (diff_id, _) = tar.finish().map_err(|e| ingest::read_error(e, "input"))?;
    staging.layer_done(
        dir,
        &LayerRecord {
            diff_id: diff_id.clone(),
            blob: blob_digest.clone(),
            size: stats.size,
        },
    )?;

    Ok((
        Descriptor::new(kind.layer_media_type(), blob_digest, blob_size),
        diff_id,
        stats.entries,
    ))
}

/// Everything is staged already; ingest never needs to fetch.
pub(crate) struct Staged;

impl BlobSource for Staged {
    fn name(&self) -> String {
        "import".into()
    }

    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        Err(Error::MissingBlob {
            what: "blob".into(),
            digest: desc.digest.to_string(),
            source_name: "the import".into(),
        })
    }
}
