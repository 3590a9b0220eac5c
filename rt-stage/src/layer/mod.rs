//! Unpacking layer tars: one layer into its own directory (the form overlayfs takes as a
//! lowerdir), or layer after layer into one merged root filesystem (the copy form).
//!
//! Whiteouts differ between the two. In a layer directory they become what overlayfs
//! reads: `.wh.NAME` a 0:0 character device NAME, `.wh..wh..opq` the xattr
//! `trusted.overlay.opaque=y` on its directory. Merged, they delete what lower layers put
//! there. Either way they only hide lower layers: what the same layer adds stays (OCI
//! image spec, "Whiteouts").
//!
//! Entries keep their owner, mode (with setuid/setgid/sticky), xattrs and mtime; hard
//! links, symlinks, device nodes and fifos are recreated. Paths are confined with
//! [`safe_fs`]; an entry that would land outside the directory fails the whole layer.

mod metadata;
pub mod pack;
pub mod safe_fs;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, XattrFlags};
use tar::EntryType;

use crate::error::{Error, IoContext, Result};
use metadata::Meta;
use safe_fs::{file_type_at, remove_all_at, EntryPath, Root};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// aufs-internal names (`.wh..wh.plnk` and the like) that carry nothing for us.
const AUFS_META_PREFIX: &str = ".wh..wh.";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A layer alone in its directory: whiteouts become overlayfs markers.
    Overlay,
    /// Applied on top of the layers below it: whiteouts delete.
    Merge,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of regular-file content.
    pub size: u64,
    pub entries: u64,
}

/// Applies the (uncompressed) tar stream `tar` to directory `dest`.
pub fn apply(tar: impl Read, dest: &Path, target: Target) -> Result<Stats> {
    Unpacker {
        root: Root::open(dest)?,
        target,
        added: HashSet::new(),
        dir_times: Vec::new(),
        stats: Stats::default(),
    }
    .run(tar)
}

struct Unpacker {
    root: Root,
    target: Target,
    /// What this layer itself has put in place, which its own whiteouts must not hide.
    added: HashSet<EntryPath>,
    /// Directory mtimes, set last: creating children changes them.
    dir_times: Vec<(EntryPath, i64)>,
    stats: Stats,
}

impl Unpacker {
    fn run(mut self, tar: impl Read) -> Result<Stats> {
        let mut archive = tar::Archive::new(tar);
        let entries = archive.entries().map_err(tar_error)?;
        for entry in entries {
            let mut entry = entry.map_err(tar_error)?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let path = EntryPath::parse(&raw)?;
            self.entry(&mut entry, &path, &shown)?;
            self.stats.entries += 1;
        }
        for (path, mtime) in self.dir_times.iter().rev() {
            if let Some(fd) = self.root.open_dir(path.as_path(), &path.display())? {
                metadata::set_times_fd(safe_fs::reopen_dir(fd.as_fd())?, *mtime)
                    .at("set times on", path.as_path())?;
            }
        }
        Ok(self.stats)
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        path: &EntryPath,
        shown: &str,
    ) -> Result<()> {
        let kind = entry.header().entry_type();
        let Some((parent, name)) = path.split() else {
            // "./": the layer's root directory; its metadata belongs to the image's root,
            // which the runtime sets up, so it is not applied to the store's directory.
            return Ok(());
        };
        if parent.iter().any(|c| {
            c.as_encoded_bytes()
                .starts_with(AUFS_META_PREFIX.as_bytes())
        }) {
            return Ok(());
        }
        let name_bytes = name.as_encoded_bytes();
        if name_bytes == OPAQUE_WHITEOUT.as_bytes() {
            return self.opaque(parent, shown);
        }
        if name_bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
            return Ok(());
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() {
                return Err(Error::bad_entry(shown, "whiteout without a name"));
            }
            let hidden = OsStr::from_bytes(hidden);
            return self.whiteout(parent, hidden, shown);
        }
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }

        let meta = Meta::from_entry(entry, shown)?;
        let dir = self.root.mkdir_all(parent, shown)?;
        let dir = dir.as_fd();
        let existing = file_type_at(dir, name)?;
        // Whatever is there goes, except a directory that stays a directory (merging with
        // a lower layer's). Never written through: a symlink is replaced, not followed.
        let keep_dir = kind == EntryType::Directory && existing == Some(FileType::Directory);
        if existing.is_some() && !keep_dir {
            remove_all_at(dir, name)?;
        }
        match kind {
            EntryType::Directory => {
                if !keep_dir {
                    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                        .ctx(|| format!("mkdir {shown}"))?;
                }
                let fd = rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ctx(|| format!("open {shown}"))?;
                meta.apply_fd(fd.as_fd(), shown, false)?;
                self.dir_times.push((path.clone(), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = rustix::fs::openat(
                    dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .ctx(|| format!("create {shown}"))?;
                let mut file = File::from(fd);
                let n = io::copy(entry, &mut file).map_err(tar_error)?;
                // The tar reader ends an entry quietly when the stream does.
                if n != entry.size() {
                    return Err(Error::Truncated {
                        what: "layer".into(),
                    });
                }
                self.stats.size += n;
                meta.apply_fd(file.as_fd(), shown, true)?;
            }
            EntryType::Symlink => {
                let target = link_name(entry, shown)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), dir, name)
                    .ctx(|| format!("symlink {shown}"))?;
                meta.apply_at(dir, name, shown, true)?;
            }
            EntryType::Link => {
                let target = EntryPath::parse(&link_name(entry, shown)?)?;
                let (tparent, tname) = target
                    .split()
                    .ok_or_else(|| Error::bad_entry(shown, "hard link to the layer root"))?;
                let tdir = self.root.open_dir(tparent, shown)?.ok_or_else(|| {
                    Error::bad_entry(
                        shown,
                        format!("hard link target {} missing", target.display()),
                    )
                })?;
                rustix::fs::linkat(tdir.as_fd(), tname, dir, name, rustix::fs::AtFlags::empty())
                    .ctx(|| format!("hard link {shown} to {}", target.display()))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ftype = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(meta.dev_major, meta.dev_minor);
                rustix::fs::mknodat(dir, name, ftype, Mode::from_raw_mode(0o600), dev)
                    .ctx(|| format!("mknod {shown}"))?;
                meta.apply_at(dir, name, shown, false)?;
            }
            other => {
                return Err(Error::bad_entry(
                    shown,
                    format!("unsupported tar entry type {other:?}"),
                ))
            }
        }
        self.added.insert(path.clone());
        Ok(())
    }

    /// `.wh.NAME`: hides NAME of the layers below.
    fn whiteout(&mut self, parent: &Path, hidden: &OsStr, shown: &str) -> Result<()> {
        let path = EntryPath::parse(parent.as_os_str().as_encoded_bytes())?.join(hidden);
        if self.added.contains(&path) {
            return Ok(());
        }
        match self.target {
            Target::Overlay => {
                let dir = self.root.mkdir_all(parent, shown)?;
                remove_all_at(dir.as_fd(), hidden)?;
                rustix::fs::mknodat(
                    dir.as_fd(),
                    hidden,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .ctx(|| format!("whiteout {shown}"))?;
            }
            Target::Merge => {
                if let Some(dir) = self.root.open_dir(parent, shown)? {
                    remove_all_at(dir.as_fd(), hidden)?;
                }
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq`: the directory shows nothing of the layers below.
    fn opaque(&mut self, dir_path: &Path, shown: &str) -> Result<()> {
        let dir = self.root.mkdir_all(dir_path, shown)?;
        match self.target {
            Target::Overlay => {
                let fd = safe_fs::reopen_dir(dir.as_fd())?;
                rustix::fs::fsetxattr(&fd, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty()).ctx(
                    || {
                        format!(
                            "mark {} opaque (needs root for trusted.* xattrs)",
                            dir_path.display()
                        )
                    },
                )?;
            }
            Target::Merge => {
                let base = EntryPath::parse(dir_path.as_os_str().as_encoded_bytes())?;
                for child in safe_fs::list_dir(dir.as_fd())? {
                    if !self.added.contains(&base.join(&child)) {
                        remove_all_at(dir.as_fd(), &child)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn link_name<R: Read>(entry: &tar::Entry<R>, shown: &str) -> Result<Vec<u8>> {
    match entry.link_name_bytes() {
        Some(l) if !l.is_empty() => Ok(l.into_owned()),
        _ => Err(Error::bad_entry(shown, "link without a target")),
    }
}

/// A damaged or cut-off tar stream (or compressed stream under it).
fn tar_error(e: io::Error) -> Error {
    // The tar crate reports a short archive as a plain error with this text.
    let short =
        e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF");
    match e.kind() {
        _ if short => Error::Truncated {
            what: "layer".into(),
        },
        _ => Error::Io {
            context: "read layer".into(),
            source: e,
        },
    }
}
