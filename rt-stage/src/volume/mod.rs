//! Volumes: directories of the store that outlive the containers using them.
//!
//! ```text
//! volumes/<name>/_data        what containers see at the mount point
//! volumes/<name>/volume.json  name, creation time, anonymous or named
//! ```
//!
//! Named volumes come from `volume create` or first use in `-v NAME:/path`; anonymous
//! ones (64 hex digits) from `-v /path` and the image's Volumes. A volume in use by any
//! container, running or not, cannot be removed. Creation and removal happen under the
//! store's containers lock, the lock `create` holds while it writes a container's
//! record, so a volume is never removed between being chosen and being recorded.

pub mod mounts;

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::record::{self, MountKind};
use crate::store::Store;

pub const DATA: &str = "_data";
const RECORD: &str = "volume.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created: String,
    pub anonymous: bool,
}

/// Docker's rule for volume names, which also keeps them safe as directory names.
pub fn valid_name(name: &str) -> bool {
    record::valid_name(name)
}

impl Store {
    fn volume_dir(&self, name: &str) -> Result<PathBuf> {
        if !valid_name(name) {
            return Err(Error::Usage(format!(
                "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        Ok(self.root().join("volumes").join(name))
    }

    /// Where a volume's content lives.
    pub fn volume_data(&self, name: &str) -> Result<PathBuf> {
        Ok(self.volume_dir(name)?.join(DATA))
    }

    /// Creates the volume, or returns it if it exists (as Docker does). Call with the
    /// containers lock held.
    pub fn create_volume(&self, name: Option<&str>) -> Result<Volume> {
        let (name, anonymous) = match name {
            Some(n) => (n.to_string(), false),
            None => (record::new_id()?, true),
        };
        let dir = self.volume_dir(&name)?;
        if let Ok(v) = self.volume(&name) {
            return Ok(v);
        }
        let data = dir.join(DATA);
        fs::create_dir_all(&data).at("create", &data)?;
        let v = Volume {
            name,
            created: record::now(),
            anonymous,
        };
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::json(RECORD, e))?;
        self.write_file_atomic(&dir.join(RECORD), &bytes, 0o600)?;
        Ok(v)
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        let p = self.volume_dir(name)?.join(RECORD);
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::json(p.display().to_string(), e))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NoSuchVolume(name.to_string())),
            Err(e) => Err(e).at("read", &p),
        }
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let dir = self.root().join("volumes");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("read", &dir),
        };
        let mut out = Vec::new();
        for e in entries {
            let name = e
                .at("read", &dir)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if let Ok(v) = self.volume(&name) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Ids of the containers that mount the volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.name.as_deref() == Some(name))
            })
            .map(|c| c.id)
            .collect())
    }

    /// Removes a volume nobody uses; `force` only silences a missing one, as Docker's.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _lock = self.lock_containers()?;
        self.remove_volume_locked(name, force)
    }

    /// [`Store::remove_volume`] for a caller holding the containers lock.
    pub fn remove_volume_locked(&self, name: &str, force: bool) -> Result<()> {
        match self.volume(name) {
            Err(Error::NoSuchVolume(_)) if force => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Usage(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let dir = self.volume_dir(name)?;
        fs::remove_dir_all(&dir).at("remove", &dir)
    }
}
