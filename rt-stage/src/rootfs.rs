//! An image's layers merged into one plain directory: the root filesystem of a bundle
//! when overlayfs is not used (issue 11 mounts the stored layers as overlay lowerdirs
//! instead; this is also its fallback).

use std::fs;
use std::path::Path;

use crate::compression;
use crate::error::{Error, IoContext, Result};
use crate::ingest;
use crate::layer::{self, Target};
use crate::manifest::{self, Document, MAX_MANIFEST_BYTES};
use crate::progress::{self, Progress};
use crate::store::{ImageRecord, Store};

/// Applies the image's layers, bottom first, into `dest` (created; must be empty).
/// Blobs under blobs/ were verified before they got their names, so they are read as is.
pub fn unpack(store: &Store, image: &str, dest: &Path, progress: &Progress) -> Result<ImageRecord> {
    let _lock = store.lock_shared()?;
    let img = store.records()?.get(image)?.clone();
    let bytes = store.read_blob(&img.manifest, MAX_MANIFEST_BYTES)?;
    let Document::Manifest(m) = manifest::parse(&bytes, Some(&img.manifest_media_type))? else {
        return Err(Error::invalid("stored image", "manifest is an index"));
    };
    fs::create_dir_all(dest).at("create", dest)?;
    if fs::read_dir(dest).at("read", dest)?.next().is_some() {
        return Err(Error::Usage(format!("{} is not empty", dest.display())));
    }
    for desc in &m.layers {
        let bar = progress.bytes(desc.digest.short(), "Extracting", desc.size);
        let blob = store.open_blob(&desc.digest)?;
        let what = format!("layer {}", desc.digest);
        let tar = compression::decompress(bar.wrap_read(blob))
            .map_err(|e| ingest::read_error(e, &what))?;
        layer::apply(tar, dest, Target::Merge)?;
        progress::finish(&bar, "Extracted");
    }
    Ok(img)
}
