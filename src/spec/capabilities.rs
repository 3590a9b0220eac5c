//! Capability names no kernel rt knows of (a typo, or one newer than rt)
//! are ignored with a warning, as runc ≥ 1.2 does (runtime spec ≥ 1.1:
//! "unknown or unsupported capabilities ... MUST be logged as a warning"),
//! not refused: an engine that asks for a capability of a newer kernel
//! must still get its container.

use oci_spec::runtime::Capability;
use serde_json::Value;

use crate::logging;

/// [`drop_unknown`] for the `capabilities` of a `process` object (of
/// config.json, or `exec --process`), before it is parsed.
pub fn drop_unknown_in_process(process: &mut Value) {
    let mut unknown = Vec::new();
    for (key, caps) in process.as_object_mut().into_iter().flatten() {
        // Go matches field names without regard to case.
        if key.eq_ignore_ascii_case("capabilities") {
            unknown.extend(drop_unknown(caps));
        }
    }
    warn(unknown);
}

/// Remove unknown names from every set of `caps` (a `capabilities` object
/// as config.json spells it) and return them. Entries that are not strings
/// are left for the parser to refuse.
fn drop_unknown(caps: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    for (key, set) in caps.as_object_mut().into_iter().flatten() {
        let is_set = [
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ]
        .iter()
        .any(|s| key.eq_ignore_ascii_case(s));
        let Some(names) = set.as_array_mut().filter(|_| is_set) else {
            continue;
        };
        names.retain(|n| match n.as_str() {
            Some(name) if !is_known(name) => {
                unknown.push(name.to_string());
                false
            }
            _ => true,
        });
    }
    unknown
}

/// The known capabilities of `names` (`exec --cap`), with a warning about
/// the rest.
pub fn known(names: &[String]) -> Vec<Capability> {
    let mut unknown = Vec::new();
    let known = names
        .iter()
        .filter_map(|n| {
            let cap = parse(n);
            if cap.is_none() {
                unknown.push(n.clone());
            }
            cap
        })
        .collect();
    warn(unknown);
    known
}

fn parse(name: &str) -> Option<Capability> {
    serde_json::from_value(Value::String(name.into())).ok()
}

fn is_known(name: &str) -> bool {
    parse(name).is_some()
}

/// runc's warning: the names sorted, once each, as Go prints a list.
fn warn(mut unknown: Vec<String>) {
    if unknown.is_empty() {
        return;
    }
    unknown.sort();
    unknown.dedup();
    logging::warn(&format!(
        "ignoring unknown or unavailable capabilities: [{}]",
        unknown.join(" ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_names_leave_every_set() {
        let mut process = json!({"args": ["true"], "Capabilities": {
            "bounding": ["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"],
            "Effective": ["CAP_UNKNOWN", "CAP_CHOWN"],
            "permitted": [],
            "ambient": [7]
        }});
        drop_unknown_in_process(&mut process);
        assert_eq!(
            process["Capabilities"],
            json!({"bounding": ["CAP_KILL"], "Effective": ["CAP_CHOWN"], "permitted": [], "ambient": [7]})
        );
        let names = ["CAP_SYSLOG".to_string(), "CAP_NOPE".to_string()];
        assert_eq!(known(&names), [Capability::Syslog]);
    }
}
