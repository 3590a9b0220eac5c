//! regex-lite under regex's name, for oci-spec (the workspace's
//! `[patch.crates-io]`). oci-spec checks `process.execCPUAffinity` with one
//! ASCII pattern; regex itself brings its Unicode tables, whose pointers
//! every rt process relocates when it starts (see README, "Why
//! patches/regex"). regex-lite has the same API for what oci-spec uses
//! (`Regex::new`, `is_match`) and no tables.

pub use regex_lite::*;
