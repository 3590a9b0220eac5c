//! File operations confined to one directory tree.
//!
//! Every path inside a layer is resolved from a directory fd with openat2(2) and
//! RESOLVE_BENEATH: the kernel refuses (EXDEV) any resolution that would leave the tree,
//! whether through `..` or through a symlink (absolute symlinks are always refused), and
//! it does so atomically, so a symlink planted by an earlier entry cannot redirect a later
//! one to the host. The last component of an entry is never resolved at all: it is
//! created, replaced or removed relative to its parent's fd with *at() calls that do not
//! follow symlinks.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{openat2, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{Error, IoContext, Result};

const DIR_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// A directory that entries are confined to.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// A path inside a layer, checked lexically: relative, no `..`, no empty components.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryPath(PathBuf);

impl EntryPath {
    /// Cleans a tar entry name: a leading `/` and `./` components are dropped (tar
    /// writers differ); `..` is refused outright, as resolving it would need the kernel's
    /// view of symlinks that this layer may itself have planted.
    pub fn parse(raw: &[u8]) -> Result<EntryPath> {
        let shown = || String::from_utf8_lossy(raw).into_owned();
        let mut clean = PathBuf::new();
        let mut depth: i32 = 0;
        let mut climbs = false;
        for c in Path::new(OsStr::from_bytes(raw)).components() {
            match c {
                Component::Normal(n) => {
                    clean.push(n);
                    depth += 1;
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(Error::Escape { entry: shown() });
                    }
                    climbs = true;
                }
            }
        }
        if climbs {
            return Err(Error::bad_entry(shown(), "path contains \"..\""));
        }
        Ok(EntryPath(clean))
    }

    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// Parent directory and final name; None for the root itself.
    pub fn split(&self) -> Option<(&Path, &OsStr)> {
        Some((self.0.parent()?, self.0.file_name()?))
    }

    pub fn join(&self, name: &OsStr) -> EntryPath {
        EntryPath(self.0.join(name))
    }

    pub fn display(&self) -> String {
        self.0.display().to_string()
    }
}

impl Root {
    pub fn open(path: &Path) -> Result<Root> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty()).at("open", path)?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens directory `rel` beneath the root; Ok(None) if it does not exist.
    pub fn open_dir(&self, rel: &Path, entry: &str) -> Result<Option<OwnedFd>> {
        if rel.as_os_str().is_empty() {
            return self.dup().map(Some);
        }
        match openat2(&self.fd, rel, DIR_FLAGS, Mode::empty(), RESOLVE) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(self.resolve_error(e, rel, entry)),
        }
    }

    /// Opens directory `rel`, creating missing components (mode 0755, like tar).
    pub fn mkdir_all(&self, rel: &Path, entry: &str) -> Result<OwnedFd> {
        if let Some(fd) = self.open_dir(rel, entry)? {
            return Ok(fd);
        }
        let mut cur = self.dup()?;
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            prefix.push(c);
            cur = match self.open_dir(&prefix, entry)? {
                Some(fd) => fd,
                None => {
                    match rustix::fs::mkdirat(&cur, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.resolve_error(e, &prefix, entry)),
                    }
                    // Reopened through the root so a racing symlink is still confined.
                    self.open_dir(&prefix, entry)?.ok_or_else(|| {
                        Error::bad_entry(
                            entry,
                            format!("{} is a dangling symlink", prefix.display()),
                        )
                    })?
                }
            };
        }
        Ok(cur)
    }

    fn dup(&self) -> Result<OwnedFd> {
        rustix::io::fcntl_dupfd_cloexec(&self.fd, 0).at("dup", &self.path)
    }

    fn resolve_error(&self, e: Errno, rel: &Path, entry: &str) -> Error {
        match e {
            // EXDEV: resolution left the root; ELOOP: a symlink loop or a magic link.
            Errno::XDEV | Errno::LOOP => Error::Escape {
                entry: entry.to_string(),
            },
            Errno::NOTDIR => {
                Error::bad_entry(entry, format!("{} is not a directory", rel.display()))
            }
            other => Error::Io {
                context: format!("resolve {} in {}", rel.display(), self.path.display()),
                source: other.into(),
            },
        }
    }
}

/// The type of `name` in `dir`, without following a symlink; None if absent.
pub fn file_type_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<FileType>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e).ctx(|| format!("stat {}", Path::new(name).display())),
    }
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following
/// symlinks. Absent is fine.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    let what = || format!("remove {}", Path::new(name).display());
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        // unlink(2) of a directory: EISDIR on Linux.
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e).ctx(what),
    }
    let child = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(what)?;
    for n in list_dir(child.as_fd())? {
        remove_all_at(child.as_fd(), &n)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).ctx(what)
}

/// A readable fd for a directory held as O_PATH (reading entries, xattrs, times need one).
pub fn reopen_dir(dir: BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open directory".to_string())
}

/// Names in a directory, without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    let d = Dir::new(reopen_dir(dir)?).ctx(|| "read directory".to_string())?;
    for ent in d {
        let ent = ent.ctx(|| "read directory".to_string())?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_cleaned_or_refused() {
        let p = |s: &str| EntryPath::parse(s.as_bytes());
        assert_eq!(p("./a/b/").unwrap().as_path(), Path::new("a/b"));
        assert_eq!(p("/etc/passwd").unwrap().as_path(), Path::new("etc/passwd"));
        assert!(p("./").unwrap().is_root());
        assert!(matches!(p("../x"), Err(Error::Escape { .. })));
        assert!(matches!(p("a/../../x"), Err(Error::Escape { .. })));
        assert!(matches!(p("a/../x"), Err(Error::BadEntry { .. })));
    }

    #[test]
    fn symlinks_cannot_lead_out() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", t.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", t.path().join("up")).unwrap();
        std::fs::create_dir(t.path().join("usr")).unwrap();
        std::os::unix::fs::symlink("usr", t.path().join("lib")).unwrap();
        let root = Root::open(t.path()).unwrap();
        for bad in ["abs/etc", "up/tmp", "abs"] {
            let e = root.mkdir_all(Path::new(bad), bad).err().unwrap();
            assert!(matches!(e, Error::Escape { .. }), "{bad}: {e}");
        }
        // A relative symlink that stays inside is an ordinary parent.
        root.mkdir_all(Path::new("lib/x"), "lib/x").unwrap();
        assert!(t.path().join("usr/x").is_dir());
        assert!(!Path::new("/etc/x").exists());
    }

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        std::fs::create_dir_all(t.path().join("d/e")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("d/link")).unwrap();
        let root = Root::open(t.path()).unwrap();
        let fd = root.open_dir(Path::new(""), "").unwrap().unwrap();
        remove_all_at(fd.as_fd(), OsStr::new("d")).unwrap();
        assert!(!t.path().join("d").exists());
        assert!(outside.path().join("keep").exists());
    }
}
