//! Files and directories rt makes in directories others may write to (a
//! `--pid-file` in /tmp, `rt migrate`'s images in $TMPDIR, a checkpoint's
//! directory): each is new, made under a name nobody can predict and
//! created exclusively, so nothing planted there beforehand — a symlink to
//! a file rt must not write, a directory of another user — is written
//! through or adopted (issue 16, F5 and F6).

use std::fs::{self, File};
use std::hash::BuildHasher;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Names tried before giving up: another one is taken only if someone
/// planted it, or by a 64-bit coincidence.
const TRIES: usize = 16;

/// 16 hex digits from the standard library's randomly keyed SipHash (its
/// keys come from the kernel's random pool once per thread, then count
/// up): unpredictable to anyone else, and no `unsafe` needed here.
fn random_suffix() -> String {
    let n = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    format!("{n:016x}")
}

/// Replace `path` with `data` so that a reader sees the old or the new
/// content, never a part: written to a new temporary file in the same
/// directory (`mode`, less the umask), then renamed over `path` (which
/// replaces a symlink there rather than following it). `durable` also
/// fsyncs it first.
pub fn write(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let (tmp, mut f) = create_new(
        || path.with_file_name(format!(".{name}.{}.tmp", random_suffix())),
        mode,
    )
    .ctx(|| format!("cannot write {}", path.display()))?;
    let written = f
        .write_all(data)
        .and_then(|()| if durable { f.sync_all() } else { Ok(()) })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}

/// A file at a path `name` makes, created by this call: O_CREAT|O_EXCL
/// (never an existing file, nor the target of a symlink) and O_NOFOLLOW.
fn create_new(name: impl Fn() -> PathBuf, mode: u32) -> std::io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TRIES {
        let p = name();
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
}

/// A new directory `<parent>/<prefix><random>`, mode 0700, made by this
/// call (mkdtemp(3)'s contract): an existing one is never used.
pub fn private_dir(parent: &Path, prefix: &str) -> Result<PathBuf> {
    for _ in 0..TRIES {
        let dir = parent.join(format!("{prefix}{}", random_suffix()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(format!("cannot create {}", dir.display()), e)),
        }
    }
    Err(Error::Init(format!(
        "cannot create a directory {prefix}* in {}: every name tried exists",
        parent.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!("rt-atomic-test-{}", random_suffix()));
        fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn never_writes_through_a_planted_name() {
        let d = scratch();
        let victim = d.join("victim");
        fs::write(&victim, "precious").unwrap();
        let planted = d.join(".pid.planted.tmp");
        symlink(&victim, &planted).unwrap();
        // Every name tried is the planted one: the write fails cleanly.
        let err = create_new(|| planted.clone(), 0o600).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        fs::write(d.join("plain"), "theirs").unwrap();
        assert!(create_new(|| d.join("plain"), 0o600).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(d.join("plain")).unwrap(), "theirs");

        // A symlink at the final name is replaced, not followed.
        let target = d.join("pid");
        symlink(&victim, &target).unwrap();
        write(&target, b"42", 0o644, false).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&target).unwrap(), "42");
        assert!(!fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink());
        // No temporary file is left.
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn private_dirs_are_new_and_private() {
        let d = scratch();
        let a = private_dir(&d, "x-").unwrap();
        let b = private_dir(&d, "x-").unwrap();
        assert_ne!(a, b);
        for p in [&a, &b] {
            let m = fs::metadata(p).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o700);
        }
        fs::remove_dir_all(&d).unwrap();
    }
}
