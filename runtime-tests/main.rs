//! rt's runtime tests: real containers, one module per area, one binary
//! (`cargo test --test runtime <area>::`). `faults` is a binary of its own:
//! it needs rt built with the `fault-injection` feature.

mod common;
mod leaks;
/// The seccomp probe program (seccomp and security use it).
#[path = "seccomp/probe.rs"]
mod probe;

mod attributes;
mod cgroups;
mod checkpoint;
mod cli;
mod compare_runc;
mod concurrency;
mod crashes;
mod cves;
mod exec;
mod features;
mod fixtures;
mod fuzz;
mod hooks;
mod host;
mod lifecycle;
mod mounts;
mod namespaces;
mod netdev;
mod process;
mod seccomp;
mod security;
mod spec;
