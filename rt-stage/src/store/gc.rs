//! Removing images (`rmi`) and collecting what nothing refers to (`prune`).
//!
//! Roots are the image records and the containers' image references; a blob or layer
//! reachable from neither is garbage. Collection holds gc.lock exclusively, so it never
//! runs while an import is staging (an import may be about to reuse a stored blob).

use std::collections::HashSet;
use std::fs;

use super::containers::ContainerRef;
use super::images::Found;
use super::{Records, Store};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{self, Document, MAX_MANIFEST_BYTES};
use crate::reference::Reference;

#[derive(Debug, PartialEq)]
pub enum RemoveEvent {
    Untagged(String),
    Deleted(Digest),
}

#[derive(Debug, Default)]
pub struct PruneReport {
    pub images: Vec<Digest>,
    pub blobs: usize,
    pub layers: Vec<Digest>,
    pub temporary: usize,
    pub reclaimed: u64,
}

impl Store {
    /// `rmi`: untags a name, or deletes an image by id, with Docker's refusals.
    pub fn remove_image(&self, query: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let refs = self.container_refs()?;
        let mut events = Vec::new();
        let removed = self.update_records(|records| {
            let user = |id: &Digest| refs.iter().find(|r| r.image == *id).map(|r| r.container.clone());
            let (img, name) = match records.find(query)? {
                Found::Name(img, name) => (img.clone(), Some(name)),
                Found::Id(img) => (img.clone(), None),
            };
            match name {
                Some(name) => {
                    let shown = familiar(&name);
                    if img.names.len() == 1 && !force {
                        if let Some(c) = user(&img.id) {
                            return Err(Error::Conflict(format!(
                                "unable to remove repository reference \"{shown}\" (must force) - container {c} is using its referenced image {}",
                                img.id.short()
                            )));
                        }
                    }
                    records.untag(&name);
                    events.push(RemoveEvent::Untagged(shown));
                }
                None => {
                    if let Some(c) = user(&img.id) {
                        return Err(Error::Conflict(format!(
                            "unable to delete {} (cannot be forced) - image is being used by container {c}",
                            img.id.short()
                        )));
                    }
                    if img.names.len() > 1 && !force {
                        return Err(Error::Conflict(format!(
                            "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            img.id.short()
                        )));
                    }
                    for n in &img.names {
                        records.untag(n);
                        events.push(RemoveEvent::Untagged(familiar(n)));
                    }
                }
            }
            // The last name gone: the image goes too, unless a container still uses it
            // (then it stays, nameless, until the container is removed and it is pruned).
            let left = records.by_id(&img.id).map(|i| i.names.len()).unwrap_or(0);
            if left == 0 && user(&img.id).is_none() {
                records.remove(&img.id);
                events.push(RemoveEvent::Deleted(img.id.clone()));
                return Ok(true);
            }
            Ok(false)
        })?;
        if removed {
            // Without waiting: with an import running, its data stays until `prune`.
            if let Some(_lock) = self.lock_exclusive(false)? {
                let report = self.sweep(&self.records()?, &refs)?;
                events.extend(report.layers.into_iter().map(RemoveEvent::Deleted));
            }
        }
        Ok(events)
    }

    /// `prune`: removes images without a name (all unused images with `all`) that no
    /// container uses, then every unreferenced blob and layer, and stale staging files.
    pub fn prune(&self, all: bool) -> Result<PruneReport> {
        let _lock = self.lock_exclusive(true)?;
        let refs = self.container_refs()?;
        let mut dropped = Vec::new();
        let records = self.update_records(|records| {
            records.images.retain(|img| {
                let keep =
                    (!all && !img.names.is_empty()) || refs.iter().any(|r| r.image == img.id);
                if !keep {
                    dropped.push(img.id.clone());
                }
                keep
            });
            Ok(records.clone())
        })?;
        let mut report = self.sweep(&records, &refs)?;
        report.images = dropped;
        // With the exclusive lock held no import is running: all of tmp/ is leftovers
        // of interrupted runs (partial downloads included).
        let tmp = self.tmp_dir();
        for e in fs::read_dir(&tmp).at("read", &tmp)? {
            let p = e.at("read", &tmp)?.path();
            if p == self.partial_dir() {
                for part in fs::read_dir(&p).at("read", &p)? {
                    let part = part.at("read", &p)?.path();
                    report.reclaimed += fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                    fs::remove_file(&part).at("remove", &part)?;
                    report.temporary += 1;
                }
                continue;
            }
            let r = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.at("remove", &p)?;
            report.temporary += 1;
        }
        Ok(report)
    }

    /// Deletes what neither `records` nor `refs` reach. Call with the exclusive lock.
    fn sweep(&self, records: &Records, refs: &[ContainerRef]) -> Result<PruneReport> {
        let (blobs, layers) = self.reachable(records, refs)?;
        let mut report = PruneReport::default();
        for d in self.list_layers()? {
            if !layers.contains(&d) {
                report.reclaimed += self.layer_record(&d).map(|r| r.size).unwrap_or(0);
                self.remove_layer(&d)?;
                report.layers.push(d);
            }
        }
        for d in self.list_blobs()? {
            if !blobs.contains(&d) {
                report.reclaimed += self.blob_size(&d);
                self.remove_blob(&d)?;
                report.blobs += 1;
            }
        }
        Ok(report)
    }

    fn reachable(
        &self,
        records: &Records,
        refs: &[ContainerRef],
    ) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for img in &records.images {
            blobs.insert(img.manifest.clone());
            blobs.insert(img.id.clone());
            layers.extend(img.layers.iter().cloned());
            // A manifest that cannot be read fails the whole sweep (`?`) rather than
            // letting its layer blobs look unreferenced.
            let bytes = self.read_blob(&img.manifest, MAX_MANIFEST_BYTES)?;
            if let Document::Manifest(m) = manifest::parse(&bytes, Some(&img.manifest_media_type))?
            {
                blobs.extend(m.layers.into_iter().map(|l| l.digest));
            }
        }
        for r in refs {
            blobs.insert(r.image.clone());
            layers.extend(r.layers.iter().cloned());
        }
        Ok((blobs, layers))
    }
}

fn familiar(full: &str) -> String {
    Reference::parse_defaulted(full)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full.to_string())
}
