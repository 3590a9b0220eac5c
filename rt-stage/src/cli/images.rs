//! load, import, images, tag, rmi, prune, inspect, unpack.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::format;
use crate::error::{Error, IoContext, Result};
use crate::image_config::ImageConfig;
use crate::import::{self, tarball};
use crate::ingest::{Outcome, MAX_CONFIG_BYTES};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::rootfs;
use crate::store::{ImageRecord, RemoveEvent, Store};

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// OCI layout directory, oci-archive or docker save tar
    #[arg(short, long)]
    pub input: PathBuf,
    /// Name the loaded image (archives holding one image)
    #[arg(short, long)]
    pub tag: Option<String>,
    /// Which image of a multi-platform index (os/arch[/variant])
    #[arg(long, default_value_t = Platform::host())]
    pub platform: Platform,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Root filesystem tarball (plain, gzip or zstd); - for stdin
    pub file: String,
    /// REPOSITORY[:TAG] for the new image
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Commit message for the history entry
    #[arg(short, long)]
    pub message: Option<String>,
    #[arg(long, default_value_t = Platform::host())]
    pub platform: Platform,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only images of this REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Accepted for Docker compatibility (there are no intermediate images)
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of an image with several names
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images no container uses, not just nameless ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt (rt-stage never prompts)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UnpackArgs {
    pub image: String,
    /// Directory to create (must be absent or empty)
    pub dir: PathBuf,
}

pub fn load(store: &Store, a: LoadArgs) -> Result<()> {
    let progress = if a.quiet {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    let loaded = import::load(store, &a.input, a.tag.as_deref(), &a.platform, &progress);
    progress.close();
    for o in loaded? {
        if !a.quiet {
            for line in loaded_lines(&o) {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Docker's lines: one per name, or the id for a nameless image.
fn loaded_lines(o: &Outcome) -> Vec<String> {
    if o.record.names.is_empty() {
        return vec![format!("Loaded image ID: {}", o.record.id)];
    }
    o.record
        .names
        .iter()
        .map(|n| format!("Loaded image: {}", familiar(n)))
        .collect()
}

pub fn import(store: &Store, a: ImportArgs) -> Result<()> {
    let opts = tarball::ImportOptions {
        name: a
            .reference
            .as_deref()
            .map(Reference::parse_defaulted)
            .transpose()?,
        changes: &a.changes,
        message: a.message,
        platform: a.platform,
    };
    let input: Box<dyn Read> = if a.file == "-" {
        Box::new(io::stdin().lock())
    } else {
        let p = PathBuf::from(&a.file);
        Box::new(File::open(&p).at("open", &p)?)
    };
    let progress = Progress::auto();
    let o = tarball::import(store, input, &opts, &progress);
    progress.close();
    let o = o?;
    println!("{}", o.record.id);
    Ok(())
}

pub fn images(store: &Store, a: ImagesArgs) -> Result<()> {
    let records = store.records()?;
    let filter = a
        .reference
        .as_deref()
        .map(|r| r.parse::<Reference>())
        .transpose()?;
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for img in &records.images {
        let names: Vec<Option<Reference>> = if img.names.is_empty() {
            vec![None]
        } else {
            img.names.iter().map(|n| n.parse().ok()).collect()
        };
        for r in names {
            if let Some(f) = &filter {
                let Some(r) = &r else { continue };
                if r.name() != f.name() || (f.tag.is_some() && r.tag != f.tag) {
                    continue;
                }
            }
            let id = if a.no_trunc {
                img.id.to_string()
            } else {
                img.id.short().to_string()
            };
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
            let (repo, tag) = match &r {
                Some(r) => (
                    r.familiar_name(),
                    r.tag.clone().unwrap_or_else(|| "<none>".into()),
                ),
                None => ("<none>".into(), "<none>".into()),
            };
            let mut row = vec![repo, tag];
            if a.digests {
                row.push(
                    img.repo_digests
                        .first()
                        .and_then(|d| d.split('@').nth(1))
                        .unwrap_or("<none>")
                        .to_string(),
                );
            }
            row.extend([
                id,
                format::ago(img.created.as_deref()),
                format::size(img.size),
            ]);
            rows.push(row);
        }
    }
    if a.quiet {
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    let mut headers = vec!["REPOSITORY", "TAG"];
    if a.digests {
        headers.push("DIGEST");
    }
    headers.extend(["IMAGE ID", "CREATED", "SIZE"]);
    print!("{}", format::table(&headers, &rows));
    Ok(())
}

pub fn tag(store: &Store, a: TagArgs) -> Result<()> {
    let target = Reference::parse_defaulted(&a.target)?;
    if target.digest.is_some() {
        return Err(Error::InvalidReference(format!(
            "a tag cannot hold a digest: {:?}",
            a.target
        )));
    }
    store.update_records(|r| {
        let id = r.get(&a.source)?.id.clone();
        r.tag(&id, target.to_string());
        Ok(())
    })
}

pub fn rmi(store: &Store, a: RmiArgs) -> Result<()> {
    // Like Docker: every argument is tried, the first error is reported at the end.
    let mut first_error = None;
    for image in &a.images {
        match store.remove_image(image, a.force) {
            Ok(events) => {
                for e in events {
                    match e {
                        RemoveEvent::Untagged(n) => println!("Untagged: {n}"),
                        RemoveEvent::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => eprintln!("rt-stage: {e}"),
        }
    }
    first_error.map_or(Ok(()), Err)
}

pub fn prune(store: &Store, a: PruneArgs) -> Result<()> {
    let r = store.prune(a.all)?;
    if !r.images.is_empty() || !r.layers.is_empty() {
        println!("Deleted Images:");
        for d in r.images.iter().chain(&r.layers) {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::size(r.reclaimed));
    Ok(())
}

pub(super) fn inspect_one(store: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    let config = ImageConfig::parse(&store.read_blob(&img.id, MAX_CONFIG_BYTES)?)?;
    Ok(json!({
        "Id": img.id,
        "RepoTags": img.names.iter().map(|n| familiar(n)).collect::<Vec<_>>(),
        "RepoDigests": img.repo_digests,
        "Created": config.created,
        "Author": config.author,
        "Architecture": config.architecture,
        "Os": config.os,
        "Variant": config.variant,
        "Size": img.size,
        "Config": config.config,
        "RootFS": {"Type": "layers", "Layers": config.rootfs.diff_ids},
        "Manifest": {"Digest": img.manifest, "MediaType": img.manifest_media_type},
    }))
}

pub fn unpack(store: &Store, a: UnpackArgs) -> Result<()> {
    let progress = Progress::auto();
    let img = rootfs::unpack(store, &a.image, &a.dir, &progress);
    progress.close();
    let img = img?;
    println!("{}", img.id);
    Ok(())
}

fn familiar(full: &str) -> String {
    Reference::parse_defaulted(full)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full.to_string())
}
