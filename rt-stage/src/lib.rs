//! rt-stage: images, layers, union filesystems, volumes and networking above the rt
//! runtime. rt never depends on it, and it never links rt: containers (issue 11) are
//! run by calling the `rt` binary.
//!
//! Part 1 (issue 10), images:
//! - [`digest`], [`reference`], [`manifest`], [`platform`], [`image_config`]: the data.
//! - [`store`]: the content-addressed store (blobs by digest, unpacked layers by
//!   diff-id, image records, container references), with atomic commits.
//! - [`layer`]: unpacking layer tars safely, whiteouts included; [`compression`].
//! - [`ingest`]: the one verified path every image takes into the store.
//! - [`import`]: OCI layouts, oci-archives, docker save tars, rootfs tarballs.
//! - [`registry`]: the distribution API (pull, push, search, auth).
//! - [`rootfs`]: an image's layers merged into a plain directory.
//! - [`cli`], [`progress`]: the command line.
//!
//! Part 2 (issue 11), containers:
//! - [`record`]: what the store knows of a container (container.json, state.json).
//! - [`container`]: overlay or copied root filesystems, config.json from the image
//!   config, the lifecycle through the `rt` binary, logs, exec, commit.
//! - [`volume`]: named and anonymous volumes, bind mounts, tmpfs, volumes-from.
//! - [`network`]: the bridge, addresses, veth pairs, published ports, /etc/hosts.

pub mod cli;
pub mod compression;
pub mod container;
pub mod digest;
pub mod error;
pub mod image_config;
pub mod import;
pub mod ingest;
pub mod layer;
pub mod manifest;
pub mod network;
pub mod platform;
pub mod progress;
pub mod record;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod volume;

pub use error::{Error, Result};
