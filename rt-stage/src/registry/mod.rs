//! The OCI distribution API v2: pull, push, search and login against a registry.
//!
//! Supported: OCI and Docker v2 schema 2 manifests and indexes (manifest lists), blob
//! GETs with digest and size checks and Range resume, monolithic (POST + PUT) and
//! chunked (PATCH ... + PUT) uploads, cross-repository blob mounts, Basic and bearer
//! token authentication, catalog and tag listing, Docker's per-registry TLS trust
//! (`<certs dir>/<host:port>/`), plain HTTP only on loopback and only when the registry
//! does not speak TLS.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;
pub mod search;
pub mod tls;
pub mod url;

pub use auth::Credentials;
pub use client::Client;

use std::path::Path;

use crate::error::Result;

/// A token scope: `repository:<name>:<actions>`.
pub fn scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}

pub fn manifest_url(repository: &str, selector: &str) -> String {
    format!("/v2/{repository}/manifests/{selector}")
}

/// `login`: checks the credentials against the registry's /v2/ endpoint (answering its
/// challenge with them), so a typo is reported now rather than at the next push.
pub fn check_login(registry: &str, certs_dir: &Path, creds: &Credentials) -> Result<()> {
    let client = Client::new(registry, certs_dir, Some(creds.clone()), vec![])?;
    let resp = client.get("/v2/", &[])?;
    client.check(resp, |_| format!("login to {registry}"))?;
    Ok(())
}
