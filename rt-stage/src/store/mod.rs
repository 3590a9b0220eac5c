//! The content-addressed store (default /var/lib/rt-stage):
//!
//! ```text
//! blobs/sha256/<hex>          manifests, configs and layer blobs, exactly as verified
//! layers/sha256/<diff-id>/    one unpacked layer: diff/ (an overlayfs lowerdir), layer.json
//! images.json                 image records: id (config digest), manifest, names
//! containers/<id>/image-ref.json  which image and layers a container uses (issue 11)
//! auth.json                   registry credentials (0600)
//! tmp/                        staging for imports and pulls; never trusted
//! tmp/partial/<hex>           interrupted downloads, resumed and re-verified
//! ```
//!
//! Nothing outside tmp/ is ever written in place: a blob or layer is built under tmp/,
//! verified, and renamed into its final name, so a name under blobs/ or layers/ always
//! means complete, verified content, whatever interrupted an earlier run.
//!
//! Two lock files: `gc.lock` is held shared by every import or pull for its whole run
//! and exclusively by garbage collection, so a prune never deletes what an import is
//! about to reference; `images.lock` serialises read-modify-write of images.json.

mod blobs;
pub mod containers;
mod gc;
pub mod images;
mod layers;
mod staging;

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

pub use gc::{PruneReport, RemoveEvent};
pub use images::{ImageRecord, Records};
pub use layers::LayerRecord;
pub use staging::Staging;

pub const DEFAULT_ROOT: &str = "/var/lib/rt-stage";

/// "not found in the store" for a blob or layer (`what`) that is absent.
pub(crate) fn missing(what: &str, digest: &Digest) -> Error {
    Error::MissingBlob {
        what: what.into(),
        digest: digest.to_string(),
        source_name: "the store".into(),
    }
}

/// An io error on a store file: absence becomes [`missing`], the rest keeps the path.
pub(crate) fn store_io(
    e: std::io::Error,
    what: &str,
    digest: &Digest,
    doing: &str,
    path: &Path,
) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => missing(what, digest),
        _ => Error::Io {
            context: format!("{doing} {}", path.display()),
            source: e,
        },
    }
}

/// A lock file (created if missing, never truncated), not yet locked.
pub fn open_lock_file(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at("open", path)
}

/// An exclusive flock on `path`, released when the file is dropped.
pub fn lock_file(path: &Path) -> Result<File> {
    let f = open_lock_file(path)?;
    f.lock().at("lock", path)?;
    Ok(f)
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating its directories on first use.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        // 0700: the store holds credentials and other users' image contents.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .at("create store", root)?;
        for d in ["blobs/sha256", "layers/sha256", "containers", "tmp/partial"] {
            let p = root.join(d);
            fs::create_dir_all(&p).at("create", &p)?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn partial_dir(&self) -> PathBuf {
        self.root.join("tmp/partial")
    }

    /// Shared for imports, exclusive for garbage collection (see the module comment).
    fn gc_lock_file(&self) -> Result<File> {
        open_lock_file(&self.root.join("gc.lock"))
    }

    pub(crate) fn lock_shared(&self) -> Result<File> {
        let f = self.gc_lock_file()?;
        f.lock_shared().at("lock", &self.root.join("gc.lock"))?;
        Ok(f)
    }

    /// The exclusive GC lock: waiting for running imports when `wait`, else None if any.
    pub(crate) fn lock_exclusive(&self, wait: bool) -> Result<Option<File>> {
        let f = self.gc_lock_file()?;
        if wait {
            f.lock().at("lock", &self.root.join("gc.lock"))?;
            return Ok(Some(f));
        }
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at("lock", &self.root.join("gc.lock")),
        }
    }

    /// Writes `bytes` to `path` through a synced temporary file and a rename, so readers
    /// see the old content or the new, never a part.
    pub fn write_file_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())
            .at("create temporary file in", &self.tmp_dir())?;
        tmp.write_all(bytes).at("write", tmp.path())?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .at("chmod", tmp.path())?;
        tmp.as_file().sync_all().at("sync", tmp.path())?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .at("rename into", path)?;
        Ok(())
    }
}
