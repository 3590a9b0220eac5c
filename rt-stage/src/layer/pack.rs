//! The other direction of [`super::apply`]: a directory into a layer tar. For an
//! overlay upper directory, overlayfs's markers become the image spec's whiteouts
//! again: a 0:0 character device NAME is written as an empty `.wh.NAME`, a directory
//! with `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry. overlayfs's own xattrs
//! are left out; others (security.capability, user.*) go into PAX records.
//!
//! The tree may belong to a running container, so it is walked through directory fds
//! and every name opened with O_NOFOLLOW: a directory swapped for a symlink meanwhile
//! cannot make the walk read anything outside it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use tar::{EntryType, Header};

use super::safe_fs::list_dir;
use super::{OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::error::{Error, IoContext, Result};

pub struct Packer<W: Write> {
    tar: tar::Builder<W>,
    overlay: bool,
    /// (dev, inode) of files with several links → the path written first.
    links: HashMap<(u64, u64), PathBuf>,
}

fn tar_err(e: std::io::Error, path: &Path) -> Error {
    Error::Io {
        context: format!("write layer entry {}", path.display()),
        source: e,
    }
}

/// xattrs worth keeping, from an open fd.
fn xattrs(fd: BorrowedFd<'_>) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::flistxattr(fd, &mut names[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::fgetxattr(fd, name, &mut value[..]) {
            value.truncate(len);
            out.push((name.to_string(), value));
        }
    }
    out
}

fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::fgetxattr(fd, OVERLAY_OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}

impl<W: Write> Packer<W> {
    /// `overlay`: the tree is an overlay upper dir (markers become whiteouts).
    pub fn new(out: W, overlay: bool) -> Packer<W> {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Packer {
            tar,
            overlay,
            links: HashMap::new(),
        }
    }

    /// Writes every entry below `root` (not the root itself), names sorted.
    pub fn pack(mut self, root: &Path) -> Result<W> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .at("open", root)?;
        self.dir(fd.as_fd(), Path::new(""))?;
        self.tar.into_inner().map_err(|e| tar_err(e, root))
    }

    fn header(st: &rustix::fs::Stat, kind: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid.into());
        h.set_gid(st.st_gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn pax(&mut self, x: &[(String, Vec<u8>)], path: &Path) -> Result<()> {
        if x.is_empty() {
            return Ok(());
        }
        let records: Vec<(String, &[u8])> = x
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| tar_err(e, path))
    }

    fn empty(&mut self, path: &Path, mut h: Header) -> Result<()> {
        self.tar
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| tar_err(e, path))
    }

    fn dir(&mut self, dir: BorrowedFd<'_>, rel: &Path) -> Result<()> {
        let mut names = list_dir(dir)?;
        names.sort();
        for name in names {
            self.entry(dir, rel, &name)?;
        }
        Ok(())
    }

    fn entry(&mut self, dir: BorrowedFd<'_>, rel: &Path, name: &OsStr) -> Result<()> {
        let path = rel.join(name);
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).at("stat", &path)?;
        let open = |flags: OFlags| -> Result<OwnedFd> {
            rustix::fs::openat(
                dir,
                name,
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .at("open", &path)
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = open(OFlags::RDONLY | OFlags::DIRECTORY)?;
                self.pax(&xattrs(fd.as_fd()), &path)?;
                self.empty(&path, Self::header(&st, EntryType::Directory))?;
                if self.overlay && is_opaque(fd.as_fd()) {
                    let mut h = Self::header(&st, EntryType::Regular);
                    h.set_mode(0o644);
                    self.empty(&path.join(OPAQUE_WHITEOUT), h)?;
                }
                self.dir(fd.as_fd(), &path)?;
            }
            FileType::CharacterDevice if self.overlay && st.st_rdev == 0 => {
                let mut wh = WHITEOUT_PREFIX.as_bytes().to_vec();
                wh.extend_from_slice(name.as_bytes());
                let mut h = Self::header(&st, EntryType::Regular);
                h.set_mode(0o644);
                self.empty(&rel.join(OsStr::from_bytes(&wh)), h)?;
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = Self::header(&st, EntryType::Link);
                        return self
                            .tar
                            .append_link(&mut h, &path, &first)
                            .map_err(|e| tar_err(e, &path));
                    }
                    self.links.insert(key, path.clone());
                }
                let f = File::from(open(OFlags::RDONLY)?);
                self.pax(&xattrs(f.as_fd()), &path)?;
                let mut h = Self::header(&st, EntryType::Regular);
                h.set_size(st.st_size as u64);
                self.tar
                    .append_data(&mut h, &path, f)
                    .map_err(|e| tar_err(e, &path))?;
            }
            FileType::Symlink => {
                let target =
                    rustix::fs::readlinkat(dir, name, Vec::new()).at("read link", &path)?;
                let mut h = Self::header(&st, EntryType::Symlink);
                self.tar
                    .append_link(&mut h, &path, OsStr::from_bytes(target.as_bytes()))
                    .map_err(|e| tar_err(e, &path))?;
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let t = match kind {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = Self::header(&st, t);
                if t != EntryType::Fifo {
                    let _ = h.set_device_major(rustix::fs::major(st.st_rdev));
                    let _ = h.set_device_minor(rustix::fs::minor(st.st_rdev));
                }
                self.empty(&path, h)?;
            }
            // Sockets are not part of a filesystem image.
            _ => {}
        }
        Ok(())
    }
}
