//! Reading and writing cgroup interface files, with errors that name the
//! file and the value so a rejected limit can be acted on.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Error, Result};

/// Write `value` to `dir/file`. A missing file means the kernel or the
/// controller lacks the feature: say so instead of a bare ENOENT.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| {
        if e.kind() == ErrorKind::NotFound && dir.exists() {
            Error::Resource(format!("cannot set {file} to {value:?}: {} does not exist on this kernel", path.display()))
        } else {
            Error::io(format!("cannot write {value:?} to {}", path.display()), e)
        }
    })
}

/// Does `dir/file` exist (the feature is available)?
pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))
}

/// Read a file, or `None` when it does not exist (a feature this kernel or
/// hierarchy lacks, which stats report as zero).
pub fn read_optional(dir: &Path, file: &str) -> Result<Option<String>> {
    match fs::read_to_string(dir.join(file)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", dir.join(file).display()), e)),
    }
}

/// A single number; `max` (v2's "no limit") reads as `u64::MAX`.
pub fn parse_u64(dir: &Path, file: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse()
        .map_err(|_| Error::Resource(format!("unexpected content {t:?} in {}", dir.join(file).display())))
}

pub fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    parse_u64(dir, file, &read(dir, file)?)
}

/// A missing file reads as zero.
pub fn read_u64_or_zero(dir: &Path, file: &str) -> Result<u64> {
    match read_optional(dir, file)? {
        Some(text) => parse_u64(dir, file, &text),
        None => Ok(0),
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events ...). Lines that
/// do not fit are skipped: kernels add fields over time.
pub fn key_values(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

/// One key of a `key value` file, or zero when the key or file is absent.
pub fn keyed_u64(dir: &Path, file: &str, key: &str) -> Result<u64> {
    let text = read_optional(dir, file)?.unwrap_or_default();
    Ok(key_values(&text).find(|(k, _)| *k == key).map(|(_, v)| v).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed() {
        let kv: Vec<_> = key_values("cache 10\nrss 20\nbogus\nx y\n").collect();
        assert_eq!(kv, vec![("cache", 10), ("rss", 20)]);
    }

    #[test]
    fn numbers() {
        let d = Path::new("/x");
        assert_eq!(parse_u64(d, "f", "max\n").ok(), Some(u64::MAX));
        assert_eq!(parse_u64(d, "f", " 42\n").ok(), Some(42));
        assert!(parse_u64(d, "f", "abc").is_err());
    }
}
