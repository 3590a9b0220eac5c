//! Staging: where an import or pull puts everything before any of it is trusted.
//!
//! Blobs are written and verified under tmp/stage-XXXX/blobs, layers unpacked (and their
//! diff-ids verified) under tmp/stage-XXXX/layers; only when every piece of the image
//! has passed does [`Staging::commit`] rename them into the store and record the image.
//! A failure anywhere drops the staging directory and leaves the store as it was.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::path::PathBuf;

use super::layers::{LayerRecord, LAYER_RECORD};
use super::{Records, Store};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

pub struct Staging<'s> {
    store: &'s Store,
    dir: tempfile::TempDir,
    blobs: HashSet<Digest>,
    layers: HashMap<Digest, (PathBuf, u64)>,
    next_layer: usize,
    // Held shared until commit is done: garbage collection waits for it.
    _gc: File,
}

impl<'s> Staging<'s> {
    pub fn new(store: &'s Store) -> Result<Staging<'s>> {
        let gc = store.lock_shared()?;
        let dir = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(store.tmp_dir())
            .at("create staging directory in", &store.tmp_dir())?;
        for d in ["blobs", "layers"] {
            fs::create_dir(dir.path().join(d)).at("create", &dir.path().join(d))?;
        }
        Ok(Staging {
            store,
            dir,
            blobs: HashSet::new(),
            layers: HashMap::new(),
            next_layer: 0,
            _gc: gc,
        })
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Where a blob being fetched is written; call [`Staging::blob_done`] once verified.
    pub fn blob_dest(&self, digest: &Digest) -> PathBuf {
        self.dir.path().join("blobs").join(digest.hex())
    }

    /// A file name in the staging directory for data whose digest is not known yet.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn blob_done(&mut self, digest: &Digest) {
        self.blobs.insert(digest.clone());
    }

    /// The verified copy of a blob: staged in this run, or already in the store.
    pub fn blob_path(&self, digest: &Digest) -> Option<PathBuf> {
        if self.blobs.contains(digest) {
            Some(self.blob_dest(digest))
        } else if self.store.has_blob(digest) {
            Some(self.store.blob_path(digest))
        } else {
            None
        }
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layers.contains_key(diff_id) || self.store.has_layer(diff_id)
    }

    /// A fresh directory to unpack one layer into (its `diff/`).
    pub fn new_layer_dir(&mut self) -> Result<PathBuf> {
        self.next_layer += 1;
        let diff = self
            .dir
            .path()
            .join("layers")
            .join(self.next_layer.to_string())
            .join("diff");
        fs::create_dir_all(&diff).at("create", &diff)?;
        Ok(diff)
    }

    /// Records a layer unpacked into `diff` (from [`Staging::new_layer_dir`]) whose
    /// content has been checked against `record.diff_id`.
    pub fn layer_done(&mut self, diff: PathBuf, record: &LayerRecord) -> Result<()> {
        let layer_root = diff
            .parent()
            .map(PathBuf::from)
            .ok_or_else(|| Error::invalid("staged layer", diff.display().to_string()))?;
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::json(LAYER_RECORD, e))?;
        fs::write(layer_root.join(LAYER_RECORD), bytes).at("write", &layer_root)?;
        self.layers
            .insert(record.diff_id.clone(), (layer_root, record.size));
        Ok(())
    }

    /// Unpacked size of a layer, staged or stored.
    pub fn layer_size(&self, diff_id: &Digest) -> Option<u64> {
        match self.layers.get(diff_id) {
            Some((_, size)) => Some(*size),
            None => self.store.layer_record(diff_id).ok().map(|r| r.size),
        }
    }

    /// Moves the staged blobs and layers into the store, checks that everything the image
    /// needs is there, and records it with `record`.
    pub fn commit<T>(
        self,
        needed_blobs: &[Digest],
        needed_layers: &[Digest],
        record: impl FnOnce(&mut Records) -> Result<T>,
    ) -> Result<T> {
        let store = self.store;
        if !self.layers.is_empty() {
            // Layer files are many; one syncfs makes them durable before their names
            // become trusted, instead of an fsync per file.
            let fd = rustix::fs::open(
                self.dir.path(),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .at("open", self.dir.path())?;
            rustix::fs::syncfs(fd.as_fd()).at("sync", self.dir.path())?;
        }
        for d in &self.blobs {
            let from = self.blob_dest(d);
            fs::rename(&from, store.blob_path(d)).at("move into the store", &from)?;
        }
        for (diff_id, (dir, _)) in &self.layers {
            match fs::rename(dir, store.layer_dir(diff_id)) {
                Ok(()) => {}
                // Another import committed the same layer first: keep theirs.
                Err(e)
                    if e.kind() == ErrorKind::DirectoryNotEmpty
                        || e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).at("move into the store", dir),
            }
        }
        // What was found in the store rather than staged must still be there: a
        // concurrent prune could only have removed it if this run held no lock.
        if let Some(d) = needed_blobs.iter().find(|d| !store.has_blob(d)) {
            return Err(super::missing("blob", d));
        }
        if let Some(d) = needed_layers.iter().find(|d| !store.has_layer(d)) {
            return Err(super::missing("layer", d));
        }
        store.update_records(record)
    }
}
