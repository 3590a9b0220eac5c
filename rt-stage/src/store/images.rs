//! images.json: one record per image (keyed by its id, the config digest, as Docker
//! does), with the manifest it was last stored from and the names pointing at it.

use std::fs;
use std::io::ErrorKind;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The config digest: Docker's image id.
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// Full references (`registry/repository:tag`).
    pub names: Vec<String>,
    /// `registry/repository@digest` for manifests this image was pulled or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Layer diff-ids, bottom first (from the config, kept here to spare a read).
    pub layers: Vec<Digest>,
    pub created: Option<String>,
    pub platform: String,
    /// Unpacked size: regular-file bytes over all layers.
    pub size: u64,
    /// Seconds since the epoch when it was stored.
    pub added: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Records {
    pub images: Vec<ImageRecord>,
}

/// What a lookup matched: names are removed one by one, an id removes the image.
pub enum Found<'a> {
    Name(&'a ImageRecord, String),
    Id(&'a ImageRecord),
}

impl Records {
    /// By name (`busybox`, `127.0.0.1:5000/x:v1`, `x@sha256:…`), else by id or a unique
    /// id prefix, as Docker resolves `rmi`/`tag`/`inspect` arguments.
    pub fn find(&self, query: &str) -> Result<Found<'_>> {
        if let Ok(r) = Reference::parse_defaulted(query) {
            let full = r.to_string();
            for img in &self.images {
                if img.names.contains(&full) {
                    return Ok(Found::Name(img, full));
                }
                if r.digest.is_some()
                    && (img.repo_digests.contains(&full)
                        || r.digest.as_ref() == Some(&img.manifest))
                {
                    return Ok(Found::Id(img));
                }
            }
        }
        let hex = query.strip_prefix("sha256:").unwrap_or(query);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&ImageRecord> = self
                .images
                .iter()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            match hits.as_slice() {
                [one] => return Ok(Found::Id(one)),
                [] => {}
                _ => return Err(Error::Usage(format!("ambiguous image id prefix {query:?}"))),
            }
        }
        let shown = Reference::parse_defaulted(query)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| query.to_string());
        Err(Error::NoSuchImage(shown))
    }

    pub fn get(&self, query: &str) -> Result<&ImageRecord> {
        self.find(query).map(|f| match f {
            Found::Name(i, _) | Found::Id(i) => i,
        })
    }

    /// Stores `img` (merging with an existing record of the same id) and points `names`
    /// at it, taking them from whichever image had them before.
    pub fn add(&mut self, mut img: ImageRecord) -> ImageRecord {
        for other in &mut self.images {
            other.names.retain(|n| !img.names.contains(n));
        }
        if let Some(pos) = self.images.iter().position(|i| i.id == img.id) {
            let old = self.images.remove(pos);
            for n in old.names {
                if !img.names.contains(&n) {
                    img.names.push(n);
                }
            }
            for d in old.repo_digests {
                if !img.repo_digests.contains(&d) {
                    img.repo_digests.push(d);
                }
            }
        }
        img.names.sort();
        self.images.push(img.clone());
        // Newest first, as `images` lists them.
        self.images
            .sort_by(|a, b| b.added.cmp(&a.added).then(a.id.cmp(&b.id)));
        img
    }

    pub fn tag(&mut self, id: &Digest, name: String) {
        for img in &mut self.images {
            img.names.retain(|n| *n != name);
            if img.id == *id {
                img.names.push(name.clone());
                img.names.sort();
            }
        }
    }

    pub fn untag(&mut self, name: &str) {
        for img in &mut self.images {
            img.names.retain(|n| n != name);
        }
    }

    pub fn remove(&mut self, id: &Digest) -> Option<ImageRecord> {
        let pos = self.images.iter().position(|i| i.id == *id)?;
        Some(self.images.remove(pos))
    }

    pub fn by_id(&self, id: &Digest) -> Option<&ImageRecord> {
        self.images.iter().find(|i| i.id == *id)
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    fn records_path(&self) -> std::path::PathBuf {
        self.root.join("images.json")
    }

    pub fn records(&self) -> Result<Records> {
        let p = self.records_path();
        match fs::read(&p) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::json(p.display().to_string(), e))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Records::default()),
            Err(e) => Err(e).at("read", &p),
        }
    }

    /// Read-modify-write of images.json under images.lock.
    pub fn update_records<T>(&self, f: impl FnOnce(&mut Records) -> Result<T>) -> Result<T> {
        let _lock = super::lock_file(&self.root.join("images.lock"))?;
        let mut records = self.records()?;
        let out = f(&mut records)?;
        let bytes =
            serde_json::to_vec_pretty(&records).map_err(|e| Error::json("images.json", e))?;
        self.write_file_atomic(&self.records_path(), &bytes, 0o600)?;
        Ok(out)
    }
}
