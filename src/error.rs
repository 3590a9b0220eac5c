//! One error type for the library: every failure carries the context a user
//! needs to act on it, rendered as a single line.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },

    #[error("container {0} does not exist")]
    NotFound(String),

    #[error("container with id {0} already exists")]
    Exists(String),

    #[error("container {id} is {status}: cannot {op}")]
    WrongState {
        id: String,
        status: String,
        op: &'static str,
    },

    #[error("cannot signal {0}: container not running")]
    NotRunning(String),

    #[error("invalid config.json: {0}")]
    Config(String),

    #[error("cannot read config {path}: {source}")]
    ConfigRead { path: PathBuf, source: io::Error },

    #[error("invalid signal {0:?}")]
    Signal(String),

    #[error("corrupt state for container {id}: {why}")]
    CorruptState { id: String, why: String },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("{what}: {errno}")]
    Sys { what: String, errno: nix::Error },

    #[error("{0}")]
    Init(String),

    /// Starting the container's process failed (runc's words, which
    /// containerd passes on to its users): `init` when the init or the
    /// hooks rt ran for it reported the error.
    #[error(
        "unable to start container process: {}{}",
        if *.init { "error during container init: " } else { "" },
        .msg
    )]
    ContainerStart { init: bool, msg: String },
    /// A hook failed (`why`: its exit status and output, or the timeout),
    /// in runc's words; `index` counts the hooks of `kind` from 0.
    #[error("error running {kind} hook #{index}: {why}")]
    Hook {
        kind: &'static str,
        index: usize,
        why: String,
    },

    /// execve(2) of the container's program failed. runc's words ("exec
    /// /run.sh: no such file or directory"), which clients match; the
    /// errno decides the exit status.
    #[error("exec {}: {}", program.display(), errno.desc().to_lowercase())]
    Exec { program: PathBuf, errno: nix::Error },

    /// A `linux.seccomp` profile rt cannot compile; found before `create`
    /// sets anything up.
    #[error("invalid linux.seccomp: {0}")]
    Seccomp(String),

    /// The container's cgroup already holds processes or is frozen (runc's
    /// words).
    #[error("container's cgroup {0}")]
    CgroupInUse(String),

    /// A resource limit the cgroup rejected or this host cannot express.
    #[error("cgroup resources: {0}")]
    Resource(String),

    #[error("{0}")]
    Usage(String),

    /// Rootless: newuidmap or newgidmap (package uidmap) could not run or
    /// refused the container's id mappings.
    #[error("rootless: {helper} {why}")]
    IdMapHelper { helper: &'static str, why: String },

    /// No criu binary to checkpoint or restore with.
    #[error("criu not found: {0}")]
    CriuMissing(String),

    /// criu cannot work on this host at all (what `criu check` reports).
    #[error("criu check fails on this host: {0}")]
    CriuCheck(String),

    /// A criu request failed; `why` names criu's reason and its log.
    #[error("criu {op} failed: {why}")]
    Criu { op: &'static str, why: String },
}

impl Error {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn sys(what: impl Into<String>, errno: nix::Error) -> Self {
        Error::Sys {
            what: what.into(),
            errno,
        }
    }
}

/// Attach a description of the failed step to io and nix results.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::sys(what(), e))
    }
}

impl<T> Context<T> for std::result::Result<T, pathrs::error::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Init(format!("{}: {}", what().into(), pathrs_text(&e))))
    }
}

/// A pathrs error with its causes: its own text alone ("openat2 subpath
/// failed") does not say why.
pub fn pathrs_text(e: &pathrs::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
