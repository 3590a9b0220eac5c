//! `push`: blobs the registry lacks (mounted from another repository of the same
//! registry when the store knows one that has them), then the manifest, byte for byte
//! as stored so its digest does not change.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::client::{header, Body, Client};
use super::{manifest_url, scope};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{self, Descriptor, Document, MAX_MANIFEST_BYTES};
use crate::progress::{self, Progress};
use crate::reference::Reference;
use crate::store::Store;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobStatus {
    AlreadyExists,
    /// Cross-repository mount from this repository.
    Mounted(String),
    Pushed,
}

pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
    pub blobs: Vec<(Digest, BlobStatus)>,
}

pub struct PushOptions {
    /// Upload blobs larger than this in PATCH chunks of this size; None: one PUT each.
    pub chunk_size: Option<u64>,
}

pub fn push(
    store: &Store,
    reference: &Reference,
    opts: &PushOptions,
    certs_dir: &Path,
    credentials: Option<super::Credentials>,
    progress: &Progress,
) -> Result<Pushed> {
    // Shared GC lock: a prune must not delete the blobs while they are being sent.
    let _lock = store.lock_shared()?;
    let records = store.records()?;
    let img = records.get(&reference.to_string())?;
    let manifest_bytes = store.read_blob(&img.manifest, MAX_MANIFEST_BYTES)?;
    let m = match manifest::parse(&manifest_bytes, Some(&img.manifest_media_type))? {
        Document::Manifest(m) => m,
        Document::Index(_) => return Err(Error::invalid("stored image", "manifest is an index")),
    };
    let mounts = mount_sources(store, reference)?;
    let mut scopes = vec![scope(&reference.repository, "pull,push")];
    let mut from: Vec<&String> = mounts.values().collect();
    from.sort();
    from.dedup();
    scopes.extend(from.iter().map(|r| scope(r, "pull")));
    let client = Client::new(&reference.registry, certs_dir, credentials, scopes)?;

    let mut blobs = Vec::new();
    let descs: Vec<&Descriptor> = m.layers.iter().chain(std::iter::once(&m.config)).collect();
    for desc in descs {
        let status = push_blob(
            store,
            &client,
            reference,
            desc,
            mounts.get(&desc.digest),
            opts,
            progress,
        )?;
        blobs.push((desc.digest.clone(), status));
    }

    let resp = client.send(
        "PUT",
        &manifest_url(&reference.repository, &reference.selector()),
        &[("content-type", img.manifest_media_type.clone())],
        &Body::Bytes(&manifest_bytes),
    )?;
    let resp = client.check(resp, |_| format!("push manifest {}", reference.familiar()))?;
    let digest = Digest::of(&manifest_bytes);
    if let Some(sent) =
        header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
    {
        let n = manifest_bytes.len() as u64;
        digest.verify("pushed manifest (registry's digest)", &sent, n, n)?;
    }
    let repo_digest = format!("{}@{digest}", reference.name());
    store.update_records(|r| {
        if let Some(i) = r.images.iter_mut().find(|i| i.manifest == img.manifest) {
            if !i.repo_digests.contains(&repo_digest) {
                i.repo_digests.push(repo_digest.clone());
            }
        }
        Ok(())
    })?;
    Ok(Pushed {
        digest,
        size: manifest_bytes.len() as u64,
        blobs,
    })
}

fn push_blob(
    store: &Store,
    client: &Client,
    target: &Reference,
    desc: &Descriptor,
    mount_from: Option<&String>,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<BlobStatus> {
    let repo = &target.repository;
    let what = |_: u16| format!("blob {} to {}", desc.digest, target.name());
    let resp = client.send(
        "HEAD",
        &format!("/v2/{repo}/blobs/{}", desc.digest),
        &[],
        &Body::Empty,
    )?;
    if resp.status().is_success() {
        return Ok(BlobStatus::AlreadyExists);
    }
    let start = match mount_from {
        Some(src) => format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={}",
            desc.digest, src
        ),
        None => format!("/v2/{repo}/blobs/uploads/"),
    };
    let resp = client.send("POST", &start, &[], &Body::Bytes(&[]))?;
    let resp = client.check(resp, what)?;
    if resp.status() == 201 {
        if let Some(src) = mount_from {
            return Ok(BlobStatus::Mounted(src.clone()));
        }
    }
    let mut location = location(&resp)?;
    let path = store.blob_path(&desc.digest);
    let bar = progress.bytes(desc.digest.short(), "Pushing", desc.size);
    let finish = match opts.chunk_size {
        Some(chunk) if desc.size > chunk && chunk > 0 => {
            let mut file = File::open(&path).at("open", &path)?;
            let mut offset = 0u64;
            let mut buf = vec![0u8; usize::try_from(chunk).unwrap_or(usize::MAX).min(64 << 20)];
            while offset < desc.size {
                let n = read_full(&mut file, &mut buf).at("read", &path)?;
                if n == 0 {
                    return Err(Error::Truncated {
                        what: format!("stored blob {}", desc.digest),
                    });
                }
                let range = format!("{offset}-{}", offset + n as u64 - 1);
                let headers = [
                    ("content-type", "application/octet-stream".to_string()),
                    ("content-range", range),
                ];
                let resp = client.send("PATCH", &location, &headers, &Body::Bytes(&buf[..n]))?;
                let resp = client.check(resp, what)?;
                // Each answer names where the next chunk goes.
                location = header(&resp, "location").unwrap_or(location);
                offset += n as u64;
                bar.set_position(offset);
            }
            client.send(
                "PUT",
                &with_digest(&location, &desc.digest),
                &[],
                &Body::Bytes(&[]),
            )?
        }
        _ => {
            let headers = [("content-type", "application/octet-stream".to_string())];
            client.send(
                "PUT",
                &with_digest(&location, &desc.digest),
                &headers,
                &Body::File(path),
            )?
        }
    };
    let resp = client.check(finish, what)?;
    if let Some(sent) =
        header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
    {
        desc.digest.verify(
            "uploaded blob (registry's digest)",
            &sent,
            desc.size,
            desc.size,
        )?;
    }
    progress::finish(&bar, "Pushed");
    Ok(BlobStatus::Pushed)
}

/// For each blob, another repository of the same registry that the store knows holds
/// it (an image pulled from or pushed to there): the registry can link it instead of
/// receiving it again.
fn mount_sources(store: &Store, target: &Reference) -> Result<HashMap<Digest, String>> {
    let mut out = HashMap::new();
    for img in store.records()?.images {
        let repos: Vec<Reference> = img
            .names
            .iter()
            .chain(&img.repo_digests)
            .filter_map(|n| n.parse::<Reference>().ok())
            .filter(|r| r.registry == target.registry && r.repository != target.repository)
            .collect();
        let Some(src) = repos.first() else { continue };
        let bytes = store.read_blob(&img.manifest, MAX_MANIFEST_BYTES)?;
        if let Document::Manifest(m) = manifest::parse(&bytes, Some(&img.manifest_media_type))? {
            for d in m.layers.iter().chain(std::iter::once(&m.config)) {
                out.entry(d.digest.clone())
                    .or_insert_with(|| src.repository.clone());
            }
        }
    }
    Ok(out)
}

fn location(resp: &ureq::http::Response<ureq::Body>) -> Result<String> {
    header(resp, "location").ok_or_else(|| Error::invalid("upload response", "no Location header"))
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// Fills `buf` unless the file ends first.
fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
