//! Reading and writing cgroup interface files, with errors that name the
//! file and the value so a rejected limit can be acted on.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Write `value` to `dir/file`. A missing file means the kernel or the
/// controller lacks the feature: say so instead of a bare ENOENT.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    // Without O_CREAT: cgroupfs answers a create with EACCES, hiding that
    // the file simply is not there.
    let root = super::at::Root::open();
    let written =
        super::at::open_write(root.as_ref(), &path).and_then(|mut f| f.write_all(value.as_bytes()));
    written.map_err(|e| {
        if e.kind() == ErrorKind::NotFound && dir.exists() {
            Error::Resource(format!(
                "cannot set {file} to {value:?}: {} does not exist on this kernel",
                path.display()
            ))
        } else {
            Error::io(format!("cannot write {value:?} to {}", path.display()), e)
        }
    })
}

/// Write each `(file, value)` in order, one write(2) per value, opening
/// each file of `dir` once: v1's devices.allow and devices.deny take one
/// rule per write, and a container has a dozen.
pub fn write_each<'a>(
    dir: &Path,
    writes: impl IntoIterator<Item = (&'a str, String)>,
) -> Result<()> {
    let mut open: Vec<(&str, fs::File)> = Vec::new();
    for (file, value) in writes {
        let i = match open.iter().position(|(f, _)| *f == file) {
            Some(i) => i,
            None => {
                let path = dir.join(file);
                let root = super::at::Root::open();
                let f = super::at::open_write(root.as_ref(), &path)
                    .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
                open.push((file, f));
                open.len() - 1
            }
        };
        open[i].1.write_all(value.as_bytes()).map_err(|e| {
            Error::io(
                format!("cannot write {value:?} to {}", dir.join(file).display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// The errno of a failed write, to tell the kernel's reasons apart.
pub fn errno(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Write `before` and then `anchor`, for values the kernel validates
/// against each other (a CFS period against the current quota): a `before`
/// value refused with EINVAL is written again once `anchor` is in place.
pub fn write_around(
    dir: &Path,
    before: &[(&str, String)],
    anchor: Option<(&str, String)>,
) -> Result<()> {
    let mut retry = Vec::new();
    for (name, value) in before {
        match write(dir, name, value) {
            Err(e) if anchor.is_some() && errno(&e) == Some(libc::EINVAL) => {
                retry.push((name, value))
            }
            other => other?,
        }
    }
    if let Some((name, value)) = &anchor {
        write(dir, name, value)?;
    }
    for (name, value) in retry {
        write(dir, name, value)?;
    }
    Ok(())
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
        Err(e) => Err(Error::io(
            format!("cannot read {}", dir.join(file).display()),
            e,
        )),
    }
}

/// A single number; `max` (v2's "no limit") reads as `u64::MAX`.
pub fn parse_u64(dir: &Path, file: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| {
        Error::Resource(format!(
            "unexpected content {t:?} in {}",
            dir.join(file).display()
        ))
    })
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
    let value = key_values(&text)
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, v)| v);
    Ok(value)
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
