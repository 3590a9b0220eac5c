//! The OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.

use super::{read_file, FileBlobs, Files, Found};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::ingest::{BlobSource, ManifestBlob};
use crate::manifest::{self, Descriptor, Document, MAX_MANIFEST_BYTES};
use crate::platform::Platform;
use crate::reference::Reference;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

pub fn blob_path(d: &Digest) -> Option<String> {
    Some(format!("blobs/sha256/{}", d.hex()))
}

/// The images index.json lists; an entry that is itself an index yields its `platform`
/// image, entries for other platforms are skipped.
pub(super) fn find(files: &dyn Files, platform: &Platform) -> Result<Vec<Found>> {
    let bytes = read_file(files, "index.json", MAX_MANIFEST_BYTES)?;
    let index = match manifest::parse(&bytes, None)? {
        Document::Index(i) => i,
        Document::Manifest(_) => {
            return Err(Error::invalid(
                files.describe(),
                "index.json is not an image index",
            ))
        }
    };
    let mut source = FileBlobs {
        files,
        path_of: Box::new(blob_path),
    };
    let mut found = Vec::new();
    let mut other_platforms = Vec::new();
    for desc in &index.manifests {
        let chosen: Descriptor = if manifest::is_index(&desc.media_type) {
            let nested = source.read_small(desc, MAX_MANIFEST_BYTES)?;
            match manifest::parse(&nested, Some(&desc.media_type))? {
                Document::Index(i) => i.select(platform)?.clone(),
                Document::Manifest(_) => {
                    return Err(Error::invalid(
                        format!("index {}", desc.digest),
                        "not an index",
                    ))
                }
            }
        } else if let Some(p) = desc.platform.as_ref().filter(|p| !platform.matches(p)) {
            other_platforms.push(p.to_string());
            continue;
        } else {
            desc.clone()
        };
        let manifest = ManifestBlob::new(
            source.read_small(&chosen, MAX_MANIFEST_BYTES)?,
            &chosen.media_type,
        );
        // Unknown media types fail here, before anything is fetched.
        manifest.parse()?;
        found.push(Found {
            manifest,
            names: name_of(desc).into_iter().collect(),
        });
    }
    if found.is_empty() {
        return Err(Error::NoMatchingPlatform {
            wanted: platform.to_string(),
            available: other_platforms.join(", "),
        });
    }
    Ok(found)
}

/// A full name from containerd's annotation, or from the OCI one when it holds more than
/// a bare tag (a bare tag like "latest" names no repository).
fn name_of(desc: &Descriptor) -> Option<Reference> {
    let full = desc.annotations.get(CONTAINERD_NAME).or_else(|| {
        desc.annotations
            .get(REF_NAME)
            .filter(|n| n.contains(['/', ':']))
    })?;
    match Reference::parse_defaulted(full) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("ignoring image name {full:?}: {e}");
            None
        }
    }
}
