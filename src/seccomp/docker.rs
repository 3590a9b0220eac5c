//! Docker's seccomp profile format (moby's profiles/seccomp/default.json)
//! turned into the OCI `linux.seccomp` object the way moby does it before it
//! writes a config.json: `archMap` gives the native architecture and its
//! sub-architectures, and a syscall entry stays only if its `includes` /
//! `excludes` (capabilities in the bounding set, architecture, minimum
//! kernel) select it. rt itself never reads this format when it runs a
//! container, so it is built only for tests (feature `test-support`).

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// moby's name for x86_64 in `includes`/`excludes` arches.
const NATIVE: &str = "amd64";
const NATIVE_OCI: &str = "SCMP_ARCH_X86_64";

/// Convert `profile` for a container whose bounding set is `bounding`,
/// on the running kernel.
pub fn to_oci(profile: &[u8], bounding: &[String]) -> Result<LinuxSeccomp> {
    let kernel = kernel_version()?;
    let bad = |what: String| Error::Seccomp(format!("Docker profile: {what}"));
    let mut p: Value = serde_json::from_slice(profile).map_err(|e| bad(e.to_string()))?;
    let obj = p
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    if let Some(map) = obj.remove("archMap") {
        let native = map
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["architecture"] == NATIVE_OCI);
        if let Some(entry) = native {
            let mut arches = vec![entry["architecture"].clone()];
            arches.extend(
                entry["subArchitectures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            obj.insert("architectures".into(), Value::Array(arches));
        }
    }
    let mut syscalls = Vec::new();
    for entry in obj
        .remove("syscalls")
        .and_then(|s| s.as_array().cloned())
        .unwrap_or_default()
    {
        let Value::Object(mut entry) = entry else {
            return Err(bad("a syscalls entry is not an object".into()));
        };
        if selected(&entry, bounding, kernel)? {
            for key in ["includes", "excludes", "comment"] {
                entry.remove(key);
            }
            if let Some(name) = entry.remove("name") {
                entry.insert("names".into(), Value::Array(vec![name]));
            }
            syscalls.push(Value::Object(entry));
        }
    }
    obj.insert("syscalls".into(), Value::Array(syscalls));
    serde_json::from_value(p).map_err(|e| bad(e.to_string()))
}

/// moby's rule: every `includes` condition holds and no `excludes` one.
fn selected(entry: &Map<String, Value>, bounding: &[String], kernel: (u32, u32)) -> Result<bool> {
    for (key, want) in [("includes", true), ("excludes", false)] {
        let Some(cond) = entry.get(key) else { continue };
        let arches: Vec<&str> = strings(&cond["arches"]);
        let caps: Vec<&str> = strings(&cond["caps"]);
        let min_kernel =
            match cond["minKernel"].as_str() {
                Some(v) => Some(parse_version(v).ok_or_else(|| {
                    Error::Seccomp(format!("Docker profile: bad minKernel {v:?}"))
                })?),
                None => None,
            };
        let has_cap = |c: &&str| bounding.iter().any(|b| b == c);
        let holds = if want {
            (arches.is_empty() || arches.contains(&NATIVE))
                && caps.iter().all(has_cap)
                && min_kernel.is_none_or(|m| kernel >= m)
        } else {
            !arches.contains(&NATIVE)
                && !caps.iter().any(has_cap)
                && min_kernel.is_none_or(|m| kernel < m)
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// "6.18.44-foo" → (6, 18).
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().unwrap_or(0);
    Some((major, minor))
}

fn kernel_version() -> Result<(u32, u32)> {
    let path = "/proc/sys/kernel/osrelease";
    let release =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("cannot read {path}"), e))?;
    parse_version(release.trim())
        .ok_or_else(|| Error::Seccomp(format!("cannot parse the kernel release {release:?}")))
}
