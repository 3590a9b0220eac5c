//! blobs/sha256/<hex>: verified blobs by digest.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::PathBuf;

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

impl Store {
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| super::store_io(e, "blob", digest, "open", &p))
    }

    /// A small blob (manifest, config) read whole and checked against its digest again:
    /// these steer everything else, and re-hashing a few kilobytes is cheap.
    pub fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .take(max + 1)
            .read_to_end(&mut bytes)
            .at("read", &self.blob_path(digest))?;
        if bytes.len() as u64 > max {
            return Err(Error::invalid(
                format!("blob {digest}"),
                format!("larger than {max} bytes"),
            ));
        }
        let actual = Digest::of(&bytes);
        digest.verify(
            &format!("stored blob {digest}"),
            &actual,
            bytes.len() as u64,
            bytes.len() as u64,
        )?;
        Ok(bytes)
    }

    pub(crate) fn blob_size(&self, digest: &Digest) -> u64 {
        fs::metadata(self.blob_path(digest))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Every stored blob; files whose names are not digests (none should exist) are skipped.
    pub(crate) fn list_blobs(&self) -> Result<Vec<Digest>> {
        list_digests(self.root.join("blobs/sha256"))
    }

    pub(crate) fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at("remove", &p),
            _ => Ok(()),
        }
    }
}

pub(super) fn list_digests(dir: PathBuf) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).at("read", &dir)? {
        let e = e.at("read", &dir)?;
        if let Some(d) = e
            .file_name()
            .to_str()
            .and_then(|n| Digest::from_hex(n).ok())
        {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}
