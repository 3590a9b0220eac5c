//! `rt spec`: the default config.json, the same document `runc spec` writes
//! (so bundles made for one work with the other; as runc ≥ 1.2's, without
//! an ambient set, which is not inheritable and would only warn), with
//! runc's rootless variant.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

const DEFAULT: &str = include_str!("default-config.json");

/// `cgroup2`: the host runs cgroup v2 alone, where runc's default gives
/// the container a cgroup namespace of its own.
pub fn default_spec(rootless: bool, uid: u32, gid: u32, cgroup2: bool) -> Result<Value> {
    let mut v: Value =
        serde_json::from_str(DEFAULT).map_err(|e| Error::Init(format!("built-in config: {e}")))?;
    if cgroup2 {
        if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    if rootless {
        make_rootless(&mut v, uid, gid);
    }
    Ok(v)
}

/// runc's rootless changes: a user namespace mapping the caller, no network
/// namespace, /sys bound from the host, no gid option on devpts, no cgroup
/// device rules.
fn make_rootless(v: &mut Value, uid: u32, gid: u32) {
    let linux = &mut v["linux"];
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
        obj.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        obj.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
    }
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
    // Move the mappings before namespaces, where runc has them.
    if let Some(obj) = v["linux"].as_object_mut() {
        if let Some(ns) = obj.shift_remove("namespaces") {
            obj.insert("namespaces".into(), ns);
        }
        for key in ["maskedPaths", "readonlyPaths"] {
            if let Some(x) = obj.shift_remove(key) {
                obj.insert(key.into(), x);
            }
        }
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev/pts" {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "gid=5");
                }
            }
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
        }
    }
}

/// runc indents config.json with tabs.
pub fn to_pretty(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser)
        .map_err(|e| Error::Init(format!("cannot encode config: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_as_valid_spec() {
        let v = default_spec(false, 0, 0, false).unwrap();
        crate::spec::parse(&to_pretty(&v).unwrap()).unwrap();
        let r = default_spec(true, 1000, 1000, true).unwrap();
        crate::spec::parse(&to_pretty(&r).unwrap()).unwrap();
        assert_eq!(r["linux"]["uidMappings"][0]["hostID"], 1000);
        assert!(r["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["type"] != "network"));
        let types: Vec<&str> = r["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
    }
}
