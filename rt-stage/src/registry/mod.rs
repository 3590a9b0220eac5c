//! The OCI distribution API v2: pull, push, search and login against a registry.
//!
//! Supported: OCI and Docker v2 schema 2 manifests and indexes (manifest lists), blob
//! GETs with digest and size checks and Range resume, monolithic (POST + PUT) and
//! chunked (PATCH ... + PUT) uploads, cross-repository blob mounts, Basic and bearer
//! token authentication, catalog and tag listing, plain HTTP only on loopback.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;
pub mod search;

pub use auth::Credentials;
pub use client::Client;

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
pub fn check_login(registry: &str, creds: &Credentials) -> Result<()> {
    let client = Client::new(registry, Some(creds.clone()), vec![]);
    let resp = client.get("/v2/", &[])?;
    client.check(resp, |_| format!("login to {registry}"))?;
    Ok(())
}
