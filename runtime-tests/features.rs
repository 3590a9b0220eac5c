//! `rt features` against `runc features` of runc main (76d9cf5da, the
//! coming 1.6; kept in runtime-tests/data/runc-features.json): every field
//! runc has, every value of its lists and every annotation key must be in
//! rt's document too, and every boolean runc sets must be set — unless
//! README's list of what is deliberately absent names it, with the reason.
//! The list is read from README itself, and an entry for something rt has
//! fails too, so the two cannot drift apart.

use std::process::Command;

use crate::common::RT;
use serde_json::Value;

const README: &str = include_str!("../README.md");
const BEGIN: &str = "<!-- features-absent: runtime-tests/features.rs reads this list -->";
const END: &str = "<!-- /features-absent -->";

fn rt_features() -> Value {
    let out = Command::new(RT)
        .arg("features")
        .output()
        .expect("rt features");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("rt features is JSON")
}

fn runc_features() -> Value {
    serde_json::from_str(include_str!("data/runc-features.json")).expect("runc's document parses")
}

/// What runc's document has that rt's lacks, by name: `a.b.c` for a field
/// or a boolean rt does not set, `a.b[value]` for a list value or an
/// annotation key.
fn gaps(runc: &Value, rt: &Value, path: &str, out: &mut Vec<String>) {
    match runc {
        Value::Object(fields) => {
            for (key, value) in fields {
                if path == "annotations" {
                    if rt.get(key).is_none() {
                        out.push(format!("annotations[{key}]"));
                    }
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match rt.get(key) {
                    None | Some(Value::Null) => out.push(child),
                    Some(theirs) => gaps(value, theirs, &child, out),
                }
            }
        }
        Value::Array(items) => {
            let ours = rt.as_array().cloned().unwrap_or_default();
            for item in items {
                if !ours.contains(item) {
                    let name = item
                        .as_str()
                        .map_or_else(|| item.to_string(), str::to_owned);
                    out.push(format!("{path}[{name}]"));
                }
            }
        }
        Value::Bool(true) if rt != &Value::Bool(true) => out.push(path.to_string()),
        Value::String(_) if rt != runc => out.push(path.to_string()),
        _ => {}
    }
}

/// README's entries: (name, reason).
fn absent() -> Vec<(String, String)> {
    let start = README
        .find(BEGIN)
        .expect("README has the features-absent list")
        + BEGIN.len();
    let end = start + README[start..].find(END).expect("the list ends");
    README[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .map(|l| {
            let (name, rest) = l.split_once('`').expect("- `name` — reason");
            let reason = rest.trim_start_matches([' ', '—', '-', ':']).trim();
            (name.to_string(), reason.to_string())
        })
        .collect()
}

#[test]
fn rt_has_everything_runc_has_or_readme_says_why_not() {
    let mut missing = Vec::new();
    gaps(&runc_features(), &rt_features(), "", &mut missing);
    let listed: Vec<String> = absent().into_iter().map(|(n, _)| n).collect();
    let unexplained: Vec<&String> = missing.iter().filter(|m| !listed.contains(m)).collect();
    assert!(
        unexplained.is_empty(),
        "rt features lacks what runc's has, and README does not say why: {unexplained:#?}"
    );
}

#[test]
fn readme_lists_only_real_gaps_each_with_a_reason() {
    let mut missing = Vec::new();
    gaps(&runc_features(), &rt_features(), "", &mut missing);
    for (name, reason) in absent() {
        assert!(
            missing.contains(&name),
            "README says `{name}` is absent from rt features, but rt has it: remove the entry"
        );
        assert!(reason.len() > 10, "README gives no reason for `{name}`");
    }
}

/// The comparison itself: a field, a list value, an annotation and a
/// boolean that rt's side lacks are each found, by the names README uses.
#[test]
fn gaps_are_named_as_readme_names_them() {
    let runc: Value = serde_json::json!({
        "hooks": ["poststart"],
        "linux": {"intelRdt": {"enabled": true, "schemata": true}, "netDevices": {"enabled": true}},
        "annotations": {"org.example": "1"},
        "ociVersionMax": "1.3.0",
    });
    let rt: Value = serde_json::json!({
        "hooks": [],
        "linux": {"intelRdt": {"enabled": true, "schemata": false}},
        "annotations": {},
        "ociVersionMax": "1.2.0",
    });
    let mut out = Vec::new();
    gaps(&runc, &rt, "", &mut out);
    assert_eq!(
        out,
        [
            "hooks[poststart]",
            "linux.intelRdt.schemata",
            "linux.netDevices",
            "annotations[org.example]",
            "ociVersionMax"
        ]
    );
}
