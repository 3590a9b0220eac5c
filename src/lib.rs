//! rt: a low-level OCI container runtime.
//!
//! Layout (dependencies point downwards only):
//! - `container` — one module per command (create, start, kill, ...): the
//!   lifecycle as seen from the host.
//! - `init` — the in-container setup pipeline, from clone to exec; its
//!   module doc is the one place the order of the steps is written.
//! - `cgroups`, `state`, `spec` (with `gojson`, JSON read as runc reads
//!   it), `signal`, `hooks` — the host-side pieces.
//! - `syscall` — the only place with `unsafe`: thin system call wrappers.

pub mod atomic;
pub mod bitlist;
pub mod cgroups;
pub mod container;
pub mod criu;
pub mod error;
pub mod exeseal;
pub mod fault;
pub mod gojson;
pub mod hooks;
pub mod init;
pub mod intelrdt;
pub mod logging;
pub mod netdev;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod syscall;
pub mod time;

pub use error::{Error, Result};
