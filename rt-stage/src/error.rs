//! The library's one error type. Messages follow Docker's wording where Docker has one
//! ("No such image: ...", "conflict: ...", "manifest unknown"), because scripts and people
//! already know those texts. A leaf: it names no other module of the crate (a digest is
//! in it as text), so that every module can use it.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),

    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    #[error("invalid reference format: {0}")]
    InvalidReference(String),

    #[error("No such image: {0}")]
    NoSuchImage(String),

    #[error("unsupported {what} media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },

    #[error(
        "no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform { wanted: String, available: String },

    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },

    #[error("layer entry {entry:?} escapes the layer directory")]
    Escape { entry: String },

    #[error("layer entry {entry:?}: {detail}")]
    BadEntry { entry: String, detail: String },

    #[error("{}: not an OCI image layout, oci-archive or docker save archive", .0.display())]
    UnknownArchive(PathBuf),

    #[error("{what} is truncated")]
    Truncated { what: String },

    #[error("{what} {digest} not found in {source_name}")]
    MissingBlob {
        what: String,
        digest: String,
        source_name: String,
    },

    #[error("conflict: {0}")]
    Conflict(String),

    #[error("{0}")]
    Usage(String),

    /// An error response from a registry, with the distribution API's error code.
    #[error("{context}: {message}")]
    Registry {
        context: String,
        status: u16,
        code: String,
        message: String,
    },

    /// The request never got a complete answer (refused, dropped, timed out).
    #[error("{method} {url:?}: {detail}")]
    Http {
        method: String,
        url: String,
        detail: String,
    },

    /// TLS was spoken and failed (certificate not verified, client certificate refused):
    /// never a reason to fall back to plain HTTP.
    #[error("TLS with registry {registry} failed: {reason}")]
    Tls { registry: String, reason: String },

    #[error("No such container: {0}")]
    NoSuchContainer(String),

    #[error("get {0}: no such volume")]
    NoSuchVolume(String),

    /// `rt` refused or failed; `message` is its own error line.
    #[error("OCI runtime {command} failed: {message}")]
    Runtime { command: String, message: String },

    #[error("overlay filesystem unavailable: {0}")]
    OverlayUnavailable(String),

    /// Bridge, addresses, nftables: what could not be set up and why.
    #[error("network: {0}")]
    Network(String),

    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    pub fn bad_entry(entry: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::BadEntry {
            entry: entry.into(),
            detail: detail.into(),
        }
    }
}

/// Attaches what was being done to an io::Error, so every message names its file.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
    fn at(self, what: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }

    fn at(self, what: &str, path: &Path) -> Result<T> {
        self.ctx(|| format!("{what} {}", path.display()))
    }
}

impl<T> IoContext<T> for std::result::Result<T, nix::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(io::Error::from).ctx(context)
    }

    fn at(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(io::Error::from).at(what, path)
    }
}

impl<T> IoContext<T> for std::result::Result<T, rustix::io::Errno> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(io::Error::from).ctx(context)
    }

    fn at(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(io::Error::from).at(what, path)
    }
}
