//! Which image a container was made from: containers/<id>/image-ref.json.
//!
//! Written when a container is created from an image and removed with the container
//! (issue 11's `create`/`rm`). It holds the image id and the layer diff-ids the
//! container's overlay stacks, so that `rmi` refuses to delete an image in use and
//! `prune` keeps those layers even if the image's last name was force-removed. The rest
//! of a container's directory belongs to the container code, not to the store.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

pub const IMAGE_REF: &str = "image-ref.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContainerRef {
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The image id (config digest).
    pub image: Digest,
    /// Diff-ids of the layers under the container's root filesystem, bottom first.
    pub layers: Vec<Digest>,
}

impl Store {
    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        // The id becomes a directory name: the same characters rt accepts for ids.
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !id.starts_with('.');
        if !ok {
            return Err(Error::Usage(format!("invalid container id {id:?}")));
        }
        Ok(self.root.join("containers").join(id))
    }

    pub fn add_container_ref(&self, r: &ContainerRef) -> Result<()> {
        let dir = self.container_dir(&r.container)?;
        fs::create_dir_all(&dir).at("create", &dir)?;
        let bytes = serde_json::to_vec_pretty(r).map_err(|e| Error::json(IMAGE_REF, e))?;
        self.write_file_atomic(&dir.join(IMAGE_REF), &bytes, 0o600)
    }

    pub fn remove_container_ref(&self, container: &str) -> Result<()> {
        let p = self.container_dir(container)?.join(IMAGE_REF);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at("remove", &p),
            _ => Ok(()),
        }
    }

    /// Every container's reference; an unreadable one is an error rather than skipped,
    /// since skipping it could let GC delete layers a container is running on.
    pub fn container_refs(&self) -> Result<Vec<ContainerRef>> {
        let dir = self.root.join("containers");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at("read", &dir)? {
            let p = e.at("read", &dir)?.path().join(IMAGE_REF);
            match fs::read(&p) {
                Ok(b) => out.push(
                    serde_json::from_slice(&b)
                        .map_err(|e| Error::json(p.display().to_string(), e))?,
                ),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("read", &p),
            }
        }
        out.sort_by(|a: &ContainerRef, b| a.container.cmp(&b.container));
        Ok(out)
    }
}
