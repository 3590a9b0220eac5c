//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA memory policy of the
//! container's processes, set with set_mempolicy(2) in the init and in each
//! exec'd process before exec, as runc does. Checked here, with runc's
//! words, before anything is made.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyModeType};
use serde_json::Value;

use crate::bitlist;
use crate::error::{Error, Result};

/// The modes, as config.json names them, and the kernel's numbers.
pub const MODES: [(&str, i32); 7] = [
    ("MPOL_BIND", 2),
    ("MPOL_DEFAULT", 0),
    ("MPOL_INTERLEAVE", 3),
    ("MPOL_LOCAL", 4),
    ("MPOL_PREFERRED", 1),
    ("MPOL_PREFERRED_MANY", 5),
    ("MPOL_WEIGHTED_INTERLEAVE", 6),
];

/// The mode flags, likewise.
pub const FLAGS: [(&str, i32); 3] = [
    ("MPOL_F_NUMA_BALANCING", 1 << 13),
    ("MPOL_F_RELATIVE_NODES", 1 << 14),
    ("MPOL_F_STATIC_NODES", 1 << 15),
];

/// What set_mempolicy(2) gets: the mode with its flags, and the node mask
/// (empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: i32,
    pub nodes: Vec<u64>,
}

/// The names in `linux.memoryPolicy` of a config as written, before
/// oci-spec reads it (it has no words of runc's for a missing or unknown
/// mode or flag).
pub fn check_names(policy: &Value) -> Result<()> {
    let mode = crate::gojson::field(policy, "mode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !MODES.iter().any(|(name, _)| *name == mode) {
        return Err(Error::Config(format!(
            "invalid memory policy mode {mode:?}"
        )));
    }
    let flags = crate::gojson::field(policy, "flags").and_then(Value::as_array);
    for flag in flags.into_iter().flatten() {
        let known = flag
            .as_str()
            .is_some_and(|f| FLAGS.iter().any(|(name, _)| *name == f));
        if !known {
            return Err(Error::Config(format!(
                "invalid memory policy flag {}",
                flag
            )));
        }
    }
    Ok(())
}

/// The policy `p` asks for, checked as runc checks it.
pub fn plan(p: &LinuxMemoryPolicy) -> Result<Policy> {
    let name = crate::spec::name(&p.mode());
    let mode = MODES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
        .ok_or_else(|| Error::Config(format!("invalid memory policy mode {name:?}")))?;
    let nodes = match p.nodes().as_deref().filter(|n| !n.is_empty()) {
        Some(list) => bitlist::parse(list)
            .map_err(|why| Error::Config(format!("invalid memory policy nodes {list:?}: {why}")))?,
        None => Vec::new(),
    };
    let count = bitlist::count(&nodes);
    match p.mode() {
        MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal if count != 0 => {
            return Err(Error::Config(format!(
                "memory policy mode requires 0 nodes but got {count}"
            )))
        }
        MemoryPolicyModeType::MpolBind
        | MemoryPolicyModeType::MpolInterleave
        | MemoryPolicyModeType::MpolPreferredMany
        | MemoryPolicyModeType::MpolWeightedInterleave
            if count == 0 =>
        {
            return Err(Error::Config(
                "memory policy mode requires at least one node but got 0".into(),
            ))
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        let name = crate::spec::name(f);
        flags |= FLAGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bit)| *bit)
            .ok_or_else(|| Error::Config(format!("invalid memory policy flag {name:?}")))?;
    }
    Ok(Policy {
        mode: mode | flags,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Result<Policy> {
        check_names(&v)?;
        let text = v.to_string();
        plan(&crate::gojson::from_value(v, text.as_bytes()).expect("checked names"))
    }

    fn error(v: serde_json::Value) -> String {
        policy(v).expect_err("invalid").to_string()
    }

    #[test]
    fn policies() {
        let p = policy(
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}),
        );
        assert_eq!(
            p.ok(),
            Some(Policy {
                mode: 2 | 1 << 15,
                nodes: vec![0b11]
            })
        );
        let p = policy(serde_json::json!({"mode": "MPOL_PREFERRED"}));
        assert_eq!(p.ok().map(|p| (p.mode, p.nodes)), Some((1, vec![])));
        let p = policy(serde_json::json!({"Mode": "MPOL_DEFAULT", "nodes": ""}));
        assert_eq!(p.ok().map(|p| p.mode), Some(0));
    }

    #[test]
    fn runc_errors() {
        for (v, want) in [
            (serde_json::json!({}), "invalid memory policy mode \"\""),
            (
                serde_json::json!({"mode": "INTERLEAVE", "nodes": "0"}),
                "invalid memory policy mode \"INTERLEAVE\"",
            ),
            (
                serde_json::json!({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_RELATIVE_NODES", "badflag"]}),
                "invalid memory policy flag \"badflag\"",
            ),
            (
                serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
                "memory policy mode requires 0 nodes but got 8",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": ""}),
                "memory policy mode requires at least one node but got 0",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
                "invalid memory policy nodes \"0-9876543210\"",
            ),
        ] {
            let e = error(v.clone());
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
