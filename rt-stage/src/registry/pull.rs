//! `pull`: manifest (an index resolved to one platform), then blobs, through the same
//! verified ingest as local imports.
//!
//! Blob downloads go to tmp/partial/<hex> and resume from there with a Range request,
//! within a pull (a dropped connection is retried) and across pulls (the file survives a
//! failed run). A partial file is never trusted: the complete file is hashed before it
//! is staged, and a mismatch deletes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use indicatif::ProgressBar;

use super::client::{header, Client};
use super::{manifest_url, scope};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::ingest::{self, BlobSource, ManifestBlob, Names, Outcome};
use crate::manifest::{self, media_type, Descriptor, Document, MAX_MANIFEST_BYTES};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Staging, Store};

/// Attempts per blob within one pull; connection drops and 5xx answers are retried.
const ATTEMPTS: u32 = 4;

pub struct Pulled {
    pub outcome: Outcome,
    /// The digest the reference resolved to (an index's, for a multi-platform image).
    pub digest: Digest,
}

pub fn pull(
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    certs_dir: &Path,
    credentials: Option<super::Credentials>,
    progress: &Progress,
) -> Result<Pulled> {
    let client = Client::new(
        &reference.registry,
        certs_dir,
        credentials,
        vec![scope(&reference.repository, "pull")],
    )?;
    let (bytes, media, digest) = fetch_manifest(&client, reference, &reference.selector())?;
    let manifest = match manifest::parse(&bytes, Some(&media))? {
        Document::Manifest(_) => ManifestBlob {
            bytes,
            media_type: media,
            digest: digest.clone(),
        },
        Document::Index(index) => {
            let chosen = index.select(platform)?;
            let (bytes, media, got) =
                fetch_manifest(&client, reference, &chosen.digest.to_string())?;
            let n = bytes.len() as u64;
            chosen
                .digest
                .verify(&format!("manifest {}", chosen.digest), &got, chosen.size, n)?;
            ManifestBlob {
                bytes,
                media_type: media,
                digest: got,
            }
        }
    };
    // Fail on an unknown media type before any blob is fetched.
    manifest.parse()?;
    let names = Names {
        names: reference
            .tag
            .as_ref()
            .map(|_| reference.to_string())
            .into_iter()
            .collect(),
        repo_digests: vec![format!("{}@{digest}", reference.name())],
    };
    let mut source = RegistryBlobs {
        client: &client,
        repository: &reference.repository,
        partial_dir: store.partial_dir(),
    };
    let outcome = ingest::ingest(
        Staging::new(store)?,
        &mut source,
        &manifest,
        names,
        progress,
    )?;
    Ok(Pulled { outcome, digest })
}

/// GET a manifest by tag or digest: its bytes, media type and digest. A digest
/// selector, and a Docker-Content-Digest header, must match the bytes received.
pub fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    selector: &str,
) -> Result<(Vec<u8>, String, Digest)> {
    let accept = media_type::ACCEPT_MANIFESTS.join(", ");
    let resp = client.get(
        &manifest_url(&reference.repository, selector),
        &[("accept", accept)],
    )?;
    let shown = reference.familiar();
    let mut resp = client.check(resp, |status| match status {
        404 => format!("manifest for {shown} not found"),
        _ => format!("manifest for {shown}"),
    })?;
    let media = header(&resp, "content-type").unwrap_or_default();
    let sent_digest = header(&resp, "docker-content-digest");
    let bytes = client.read_body(&mut resp, MAX_MANIFEST_BYTES, "manifest")?;
    let digest = Digest::of(&bytes);
    let n = bytes.len() as u64;
    for expected in [
        selector.parse::<Digest>().ok(),
        sent_digest.and_then(|d| d.parse().ok()),
    ]
    .into_iter()
    .flatten()
    {
        expected.verify(&format!("manifest {}", reference.familiar()), &digest, n, n)?;
    }
    Ok((bytes, media, digest))
}

struct RegistryBlobs<'c> {
    client: &'c Client,
    repository: &'c str,
    partial_dir: PathBuf,
}

impl RegistryBlobs<'_> {
    fn blob_url(&self, d: &Digest) -> String {
        format!("/v2/{}/blobs/{d}", self.repository)
    }

    /// One GET of the rest of the blob, appended to `partial` as it arrives, so a
    /// dropped connection still leaves what did arrive for the next attempt.
    fn download(&self, desc: &Descriptor, partial: &Path, bar: &ProgressBar) -> Result<()> {
        let have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let have = if have > desc.size { 0 } else { have };
        let mut headers = Vec::new();
        if have > 0 {
            headers.push(("range", format!("bytes={have}-")));
        }
        let resp = self.client.get(&self.blob_url(&desc.digest), &headers)?;
        let status = resp.status().as_u16();
        let mut resp = self.client.check(resp, |_| {
            format!(
                "blob {} from {}/{}",
                desc.digest,
                self.client.registry(),
                self.repository
            )
        })?;
        // 206 continues where we are; 200 (Range ignored) starts over.
        let resumed =
            status == 206 && content_range_start(&header(&resp, "content-range")) == Some(have);
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(!resumed)
            .append(resumed)
            .open(partial)
            .at("open", partial)?;
        bar.set_position(if resumed { have } else { 0 });
        let limit = desc.size - if resumed { have } else { 0 };
        let mut body = resp.body_mut().as_reader().take(limit + 1);
        let copied = io::copy(&mut bar.wrap_read(&mut body), &mut file);
        file.flush().at("write", partial)?;
        copied.map_err(|e| Error::Http {
            method: "GET".into(),
            url: self.client.url(&self.blob_url(&desc.digest)),
            detail: format!(
                "{e} (after {} of {} bytes)",
                fs::metadata(partial).map(|m| m.len()).unwrap_or(0),
                desc.size
            ),
        })?;
        Ok(())
    }

    /// Downloads until `partial` has the blob's size, retrying what may pass.
    fn download_with_retries(
        &self,
        desc: &Descriptor,
        partial: &Path,
        bar: &ProgressBar,
    ) -> Result<()> {
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            if fs::metadata(partial).map(|m| m.len()).unwrap_or(0) == desc.size {
                return Ok(());
            }
            if attempt > 0 {
                thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            match self.download(desc, partial, bar) {
                Ok(()) => last_error = None,
                Err(e) if retryable(&e) => {
                    tracing::info!("blob {}: {e}; retrying", desc.digest.short());
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        last_error.map_or(Ok(()), Err)
    }
}

impl BlobSource for RegistryBlobs<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.client.registry(), self.repository)
    }

    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        let resp = self.client.get(&self.blob_url(&desc.digest), &[])?;
        let resp = self
            .client
            .check(resp, |_| format!("blob {}", desc.digest))?;
        Ok(Box::new(resp.into_body().into_reader()))
    }

    fn fetch(&mut self, desc: &Descriptor, dest: &Path, bar: &ProgressBar) -> Result<()> {
        let partial = self.partial_dir.join(desc.digest.hex());
        // Two pulls of the same blob must not write one file together: the lock is held
        // until the file is verified and moved. The lock file stays (removing it would let
        // a third process lock a new inode while a second holds the old); prune removes it.
        let lock_path = self.partial_dir.join(format!("{}.lock", desc.digest.hex()));
        let lock = File::create(&lock_path).at("create", &lock_path)?;
        lock.lock().at("lock", &lock_path)?;
        self.download_with_retries(desc, &partial, bar)?;
        let what = format!("blob {} from {}", desc.digest, self.name());
        let (digest, n) = HashingReader::new(File::open(&partial).at("open", &partial)?)
            .finish()
            .at("read", &partial)?;
        if let Err(e) = desc.digest.verify(&what, &digest, desc.size, n) {
            // Wrong bytes, not missing ones: resuming from them would never succeed.
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
        fs::rename(&partial, dest).at("stage", &partial)
    }
}

/// Connection failures and server-side (5xx) errors may pass; anything else will not.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Http { .. } => true,
        Error::Registry { status, .. } => *status >= 500,
        _ => false,
    }
}

/// `bytes 100-199/200` → 100.
fn content_range_start(h: &Option<String>) -> Option<u64> {
    h.as_deref()?
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_range() {
        assert_eq!(
            super::content_range_start(&Some("bytes 100-199/200".into())),
            Some(100)
        );
        assert_eq!(
            super::content_range_start(&Some("bytes */200".into())),
            None
        );
        assert_eq!(super::content_range_start(&None), None);
    }
}
