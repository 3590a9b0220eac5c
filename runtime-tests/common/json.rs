//! Editing config.json by JSON pointer ("/linux/cgroupsPath"), creating the
//! objects on the way, so a test states only the fields it changes.

use serde_json::{Map, Value};

/// The value at `pointer`, created as `null` (with its parents as objects)
/// when missing.
fn slot<'a>(doc: &'a mut Value, pointer: &str) -> &'a mut Value {
    let mut cur = doc;
    for key in pointer.split('/').skip(1) {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        cur = match cur {
            Value::Object(m) => m.entry(key.to_string()).or_insert(Value::Null),
            Value::Array(a) => {
                let i: usize = key
                    .parse()
                    .unwrap_or_else(|_| panic!("{pointer}: {key:?} is not an array index"));
                &mut a[i]
            }
            other => panic!("{pointer}: cannot descend into {other}"),
        };
    }
    cur
}

pub fn set(doc: &mut Value, pointer: &str, value: impl Into<Value>) {
    *slot(doc, pointer) = value.into();
}

/// Append to the array at `pointer` (created when missing).
pub fn push(doc: &mut Value, pointer: &str, value: Value) {
    let s = slot(doc, pointer);
    if s.is_null() {
        *s = Value::Array(Vec::new());
    }
    s.as_array_mut()
        .unwrap_or_else(|| panic!("{pointer} is not an array"))
        .push(value);
}

/// Remove the object member at `pointer`; absent members are fine.
pub fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
    if let Some(Value::Object(m)) = doc.pointer_mut(parent) {
        m.shift_remove(key);
    }
}
