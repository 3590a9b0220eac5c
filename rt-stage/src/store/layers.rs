//! layers/sha256/<diff-id>/: unpacked layers, shared by every image that has them.
//! `diff/` is the layer alone, whiteouts in overlayfs form; `layer.json` says where it
//! came from and how big it is.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::blobs::list_digests;
use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

pub const LAYER_RECORD: &str = "layer.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// The blob it was unpacked from (one of possibly several with this diff-id).
    pub blob: Digest,
    /// Bytes of regular-file content.
    pub size: u64,
}

impl Store {
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    /// The unpacked tree: what overlayfs takes as a lowerdir.
    pub fn layer_diff(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir(diff_id).join("diff")
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join(LAYER_RECORD).is_file()
    }

    pub fn layer_record(&self, diff_id: &Digest) -> Result<LayerRecord> {
        let p = self.layer_dir(diff_id).join(LAYER_RECORD);
        let bytes = fs::read(&p).map_err(|e| super::store_io(e, "layer", diff_id, "read", &p))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::json(p.display().to_string(), e))
    }

    pub(crate) fn list_layers(&self) -> Result<Vec<Digest>> {
        list_digests(self.root.join("layers/sha256"))
    }

    /// Renames the layer out of the trusted namespace first, so a crash half-way through
    /// deleting leaves garbage in tmp/ rather than a partial layer under its diff-id.
    pub(crate) fn remove_layer(&self, diff_id: &Digest) -> Result<()> {
        let dir = self.layer_dir(diff_id);
        let doomed = tempfile::Builder::new()
            .prefix("rm-layer-")
            .tempdir_in(self.tmp_dir())
            .at("create temporary directory in", &self.tmp_dir())?;
        let target = doomed.path().join("l");
        match fs::rename(&dir, &target) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            r => {
                r.at("move away", &dir)?;
                // TempDir's drop removes it; done explicitly to report errors.
                doomed.close().at("remove", &target)
            }
        }
    }
}
