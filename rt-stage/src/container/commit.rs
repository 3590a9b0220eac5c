//! `commit`: a container's changes become a new image. With overlay, the upper
//! directory is the change set: packed into a layer tar (whiteouts converted back, see
//! [`crate::layer::pack`]), stored like an imported layer (digested, unpacked,
//! verified), and the image's manifest and config extended by it. A copy-driver
//! container has no separate change set: its whole root filesystem becomes the one
//! layer of a flattened image.
//!
//! The new config is the container's: its command, environment, working directory,
//! user, ports and labels, then any `--change` instructions.

use std::collections::BTreeMap;
use std::fs::File;

use super::union::{COPY, UPPER};
use super::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image_config::{ContainerConfig, History, ImageConfig};
use crate::import::changes;
use crate::import::tarball::{stage_layer, Staged};
use crate::ingest::{self, ManifestBlob, Names, MAX_CONFIG_BYTES};
use crate::layer::pack::Packer;
use crate::manifest::{self, Document, MAX_MANIFEST_BYTES};
use crate::progress::Progress;
use crate::record::{Container, Driver};
use crate::reference::Reference;
use crate::store::{ImageRecord, Staging};

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
}

fn container_config(c: &Container, base: Option<ContainerConfig>) -> ContainerConfig {
    let mut cc = base.unwrap_or_default();
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    cc.entrypoint = some(&c.config.entrypoint);
    cc.cmd = some(&c.config.cmd);
    cc.env = some(&c.config.env);
    cc.working_dir = Some(c.config.working_dir.clone());
    cc.user = (!c.config.user.is_empty()).then(|| c.config.user.clone());
    cc.labels = (!c.config.labels.is_empty()).then(|| c.config.labels.clone());
    if !c.config.exposed_ports.is_empty() {
        let ports: BTreeMap<String, serde_json::Value> = c
            .config
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), serde_json::json!({})))
            .collect();
        cc.exposed_ports = Some(ports);
    }
    cc
}

pub fn commit(e: &Engine, c: &Container, o: &CommitOptions) -> Result<ImageRecord> {
    let store = e.store;
    let name = o
        .reference
        .as_deref()
        .map(Reference::parse_defaulted)
        .transpose()?;
    let parent = store
        .records()?
        .by_id(&c.image_id)
        .cloned()
        .ok_or_else(|| Error::NoSuchImage(c.image_id.to_string()))?;
    let mut config = ImageConfig::parse(&store.read_blob(&parent.id, MAX_CONFIG_BYTES)?)?;
    let Document::Manifest(parent_manifest) = manifest::parse(
        &store.read_blob(&parent.manifest, MAX_MANIFEST_BYTES)?,
        Some(&parent.manifest_media_type),
    )?
    else {
        return Err(Error::invalid("stored image", "manifest is an index"));
    };
    let mut cc = container_config(c, config.config.take());
    for ch in &o.changes {
        changes::apply(&mut cc, ch)?;
    }

    let dir = store.container_dir(&c.id)?;
    let (tree, overlay) = match c.driver {
        Driver::Overlay => (dir.join(UPPER), true),
        Driver::Copy => (dir.join(COPY), false),
    };
    let mut staging = Staging::new(store)?;
    let scratch = staging.scratch("commit.tar");
    let out = File::create(&scratch).at("create", &scratch)?;
    Packer::new(out, overlay).pack(&tree)?;
    let tar = File::open(&scratch).at("open", &scratch)?;
    let (layer, diff_id, _) = stage_layer(&mut staging, tar, &Progress::hidden())?;

    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let (mut layers, history_base) = match c.driver {
        Driver::Overlay => (parent_manifest.layers.clone(), config.history.clone()),
        Driver::Copy => {
            config.rootfs.diff_ids.clear();
            (Vec::new(), Vec::new())
        }
    };
    layers.push(layer);
    config.rootfs.diff_ids.push(diff_id);
    config.history = history_base;
    config.history.push(History {
        created: Some(created.clone()),
        created_by: Some(format!("rt-stage commit {}", c.name)),
        comment: o.message.clone(),
        empty_layer: false,
    });
    config.created = Some(created);
    if o.author.is_some() {
        config.author = o.author.clone();
    }
    config.config = Some(cc);
    let config_bytes = serde_json::to_vec(&config).map_err(|err| Error::json("config", err))?;
    ingest::stage_bytes(&mut staging, &config_bytes)?;
    let manifest = ManifestBlob::oci(&config_bytes, layers)?;
    let names = Names {
        names: name.iter().map(|n| n.to_string()).collect(),
        repo_digests: Vec::new(),
    };
    Ok(ingest::ingest(staging, &mut Staged, &manifest, names, &Progress::hidden())?.record)
}
