//! JSON documents written for runc, read as runc reads them: Go's
//! encoding/json matches an object key to a struct field whatever its case
//! (`"pagesize"` is `pageSize`; an exact match wins, and of two keys naming
//! one field the later does), while map keys (annotations, sysctl,
//! `unified` ...) stay as they are. Tools that write config.json by hand
//! rely on it, and runc's own tests do. Also taken: the runtime spec's
//! names where oci-spec spells a value otherwise (scheduler flags), and a
//! `pids` object without `limit` as no pids setting (runtime-spec 1.3 made
//! the limit optional, and 0 a real limit; oci-spec 0.10 reads an absent
//! one as 0), and an empty execCPUAffinity list as none (the spec's "omitted
//! or empty"; oci-spec refuses "").
//!
//! serde's derived code says at each object whether it wants a struct (with
//! its field names) or a map; [`Go`] wraps a parsed JSON value and folds the
//! keys of exactly the objects read as structs.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

/// Parse `data` as Go would into `T`.
pub fn from_slice<T: DeserializeOwned>(data: &[u8]) -> serde_json::Result<T> {
    from_value(serde_json::from_slice(data)?, data)
}

/// `value`, parsed from `text`, as Go would read it into `T`.
pub fn from_value<T: DeserializeOwned>(value: Value, text: &[u8]) -> serde_json::Result<T> {
    T::deserialize(Go(value)).map_err(|e| {
        // An error found in the parsed value carries no position; the same
        // error from a plain parse of the text does.
        match serde_json::from_slice::<T>(text) {
            Err(plain) if plain.to_string().starts_with(&e.to_string()) => plain,
            _ => e,
        }
    })
}

/// The member of `object` Go would read as struct field `name`: of the
/// keys equal to it ignoring case, the last.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The runtime spec's spelling of an enum value → oci-spec's, per enum.
const ALIASES: [(&str, &str, &str); 2] = [
    (
        "LinuxSchedulerFlag",
        "SCHED_FLAG_RESET_ON_FORK",
        "SCHED_RESET_ON_FORK",
    ),
    (
        "LinuxSchedulerFlag",
        "SCHED_FLAG_DL_OVERRUN",
        "SCHED_FLAG_D_L_OVERRUN",
    ),
];

/// A JSON value deserialized with Go's key matching.
struct Go(Value);

/// `object`'s keys as struct `fields`: exact, else the first field equal
/// ignoring case; keys that name no field stay (serde ignores them).
fn fold(object: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(object.len());
    for (key, value) in object {
        let name = if fields.contains(&key.as_str()) {
            key
        } else {
            match fields.iter().find(|f| f.eq_ignore_ascii_case(&key)) {
                Some(f) => (*f).to_string(),
                None => key,
            }
        };
        out.insert(name, value);
    }
    out
}

impl<'de> Deserializer<'de> for Go {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            Value::Object(entries) => visitor.visit_map(Entries::new(entries)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Go(other)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(entries) => {
                let mut entries = fold(entries, fields);
                if name == "ExecCPUAffinity" {
                    entries.retain(|_, v| v.as_str() != Some(""));
                }
                if name == "LinuxResources" {
                    let limitless = entries
                        .get("pids")
                        .and_then(Value::as_object)
                        .is_some_and(|p| !p.keys().any(|k| k.eq_ignore_ascii_case("limit")));
                    if limitless {
                        entries.remove("pids");
                    }
                }
                visitor.visit_map(Entries::new(entries))
            }
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let value = match self.0 {
            Value::String(s) if !variants.contains(&s.as_str()) => {
                let alias = ALIASES
                    .iter()
                    .find(|(e, spec, _)| *e == name && *spec == s)
                    .map(|(_, _, ours)| (*ours).to_string());
                Value::String(alias.unwrap_or(s))
            }
            other => other,
        };
        value.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    // Scalars: the value's own deserializer.
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_bool(v)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_i8(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_i16(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_i32(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_i64(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u8(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u16(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u32(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u64(v)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_f32(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_f64(v)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_char(v)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_str(v)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_string(v)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_bytes(v)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_byte_buf(v)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit(v)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, v)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_identifier(v)
    }
}

/// An array's elements, each read with Go's key matching.
struct Seq(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(Go(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An object's entries; values read with Go's key matching.
struct Entries {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl Entries {
    fn new(m: Map<String, Value>) -> Entries {
        Entries {
            iter: m.into_iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Go(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxResources, LinuxSchedulerFlag, Scheduler, Spec};

    use super::*;

    #[test]
    fn struct_keys_match_whatever_their_case() {
        let r: LinuxResources = from_slice(
            br#"{"hugepageLimits": [{"pagesize": "2MB", "LIMIT": 4096}],
                 "Pids": {"limit": 7},
                 "unified": {"Memory.High": "1"}}"#,
        )
        .expect("valid");
        let l = &r.hugepage_limits().clone().unwrap_or_default()[0];
        assert_eq!((l.page_size().as_str(), l.limit()), ("2MB", 4096));
        assert_eq!(r.pids().map(|p| p.limit()), Some(7));
        // A map's keys are its own.
        assert!(r
            .unified()
            .as_ref()
            .is_some_and(|u| u.contains_key("Memory.High")));
        // The exact key wins; of two case variants, the later.
        let r: LinuxResources =
            from_slice(br#"{"pids": {"LIMIT": 1, "limit": 2, "Limit": 3}}"#).expect("valid");
        assert_eq!(r.pids().map(|p| p.limit()), Some(3));
        // No limit is no pids setting; 0 is a limit.
        let r: LinuxResources = from_slice(br#"{"pids": {}}"#).expect("valid");
        assert!(r.pids().is_none());
        let r: LinuxResources = from_slice(br#"{"pids": {"limit": 0}}"#).expect("valid");
        assert_eq!(r.pids().map(|p| p.limit()), Some(0));
    }

    #[test]
    fn spec_names_of_scheduler_flags() {
        let s: Scheduler = from_slice(
            br#"{"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_RESET_ON_FORK"]}"#,
        )
        .expect("valid");
        assert_eq!(
            s.flags().clone().unwrap_or_default(),
            vec![
                LinuxSchedulerFlag::SchedResetOnFork,
                LinuxSchedulerFlag::SchedFlagDLOverrun,
                LinuxSchedulerFlag::SchedResetOnFork
            ]
        );
    }

    #[test]
    fn empty_cpu_lists_are_none() {
        let p: oci_spec::runtime::Process = from_slice(
            br#"{"cwd": "/", "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "", "final": "1"}}"#,
        )
        .expect("valid");
        let a = p.exec_cpu_affinity().clone().unwrap_or_default();
        assert_eq!(a.initial(), &None);
        assert_eq!(a.cpu_affinity_final().as_deref(), Some("1"));
    }

    #[test]
    fn errors_keep_their_position() {
        let e = from_slice::<Spec>(b"{\"ociVersion\": \"1.0.0\",\n \"process\": {\"args\": 5}}")
            .expect_err("args is no list");
        assert_eq!(e.line(), 2, "{e}");
        let e = from_slice::<Spec>(b"{\"ociVersion\": ").expect_err("truncated");
        assert!(e.is_eof(), "{e}");
    }
}
