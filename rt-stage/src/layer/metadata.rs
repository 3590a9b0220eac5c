//! An entry's owner, mode, xattrs and mtime, read from its tar header and PAX records,
//! and applied to what was created for it.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, Gid, Mode, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use crate::error::{Error, IoContext, Result};

const PAX_XATTR: &str = "SCHILY.xattr.";

pub struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    pub mtime: i64,
    pub dev_major: u32,
    pub dev_minor: u32,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    pub fn from_entry<R: Read>(entry: &mut tar::Entry<R>, shown: &str) -> Result<Meta> {
        let bad = |what: &str| Error::bad_entry(shown, format!("invalid {what} in tar header"));
        let h = entry.header();
        let mut uid = h.uid().map_err(|_| bad("uid"))?;
        let mut gid = h.gid().map_err(|_| bad("gid"))?;
        let mut mtime = h.mtime().map_err(|_| bad("mtime"))? as i64;
        let mode = h.mode().map_err(|_| bad("mode"))? & 0o7777;
        // Only device entries have meaningful device fields (GNU tar leaves others blank).
        let (dev_major, dev_minor) = match h.entry_type() {
            tar::EntryType::Char | tar::EntryType::Block => (
                h.device_major()
                    .map_err(|_| bad("device major"))?
                    .unwrap_or(0),
                h.device_minor()
                    .map_err(|_| bad("device minor"))?
                    .unwrap_or(0),
            ),
            _ => (0, 0),
        };
        let mut xattrs = Vec::new();
        // PAX records override the header's fields (ids past 2^21, sub-second times).
        if let Some(pax) = entry.pax_extensions().map_err(|_| bad("PAX header"))? {
            for ext in pax {
                let ext = ext.map_err(|_| bad("PAX record"))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let number = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.split('.').next())
                        .and_then(|v| v.parse::<i64>().ok())
                        .ok_or_else(|| bad(key))
                };
                match key {
                    "uid" => uid = number()? as u64,
                    "gid" => gid = number()? as u64,
                    "mtime" => mtime = number()?,
                    _ => {
                        if let Some(name) = key.strip_prefix(PAX_XATTR) {
                            xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        // -1 means "unchanged" to chown(2); anything that large is not an id.
        let id = |v: u64, what: &str| {
            u32::try_from(v)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| bad(what))
        };
        Ok(Meta {
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            mode,
            mtime,
            dev_major,
            dev_minor,
            xattrs,
        })
    }

    /// For a regular file or directory opened as `fd`. chown comes before chmod (it
    /// clears setuid/setgid) and before xattrs (it clears security.capability).
    pub fn apply_fd(&self, fd: BorrowedFd<'_>, shown: &str, times: bool) -> Result<()> {
        rustix::fs::fchown(
            fd,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
        )
        .ctx(|| format!("chown {shown}"))?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(self.mode)).ctx(|| format!("chmod {shown}"))?;
        for (name, value) in &self.xattrs {
            if wanted_xattr(name, shown) {
                xattr_result(
                    rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()),
                    name,
                    shown,
                )?;
            }
        }
        if times {
            set_times_fd(fd, self.mtime).ctx(|| format!("set times on {shown}"))?;
        }
        Ok(())
    }

    /// For a symlink, device node or fifo `name` in `dir`, without following it.
    pub fn apply_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        shown: &str,
        symlink: bool,
    ) -> Result<()> {
        rustix::fs::chownat(
            dir,
            name,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(|| format!("chown {shown}"))?;
        if !symlink {
            // Symlinks have no mode of their own; a device node is not followed by chmod.
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(self.mode), AtFlags::empty())
                .ctx(|| format!("chmod {shown}"))?;
        }
        if !self.xattrs.is_empty() {
            // No fd can be opened on these without following or opening a device, so the
            // parent's fd is named through /proc and the last step is not followed (l*).
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(name.as_bytes());
            for (xname, value) in &self.xattrs {
                if wanted_xattr(xname, shown) {
                    let r = rustix::fs::lsetxattr(
                        OsStr::from_bytes(&path),
                        xname.as_str(),
                        value,
                        XattrFlags::empty(),
                    );
                    xattr_result(r, xname, shown)?;
                }
            }
        }
        let t = timestamps(self.mtime);
        rustix::fs::utimensat(dir, name, &t, AtFlags::SYMLINK_NOFOLLOW)
            .ctx(|| format!("set times on {shown}"))
    }
}

/// overlayfs's own xattrs in a layer would steer the mount (opaque dirs, redirects to
/// other paths); only our whiteout conversion may set them.
fn wanted_xattr(name: &str, shown: &str) -> bool {
    if name.starts_with("trusted.overlay.") {
        tracing::warn!("{shown}: ignoring xattr {name}");
        return false;
    }
    true
}

/// An xattr the filesystem cannot hold (EOPNOTSUPP) is dropped with a warning, as tar
/// does; other failures fail the layer.
fn xattr_result(r: std::result::Result<(), Errno>, name: &str, shown: &str) -> Result<()> {
    match r {
        Err(Errno::OPNOTSUPP) => {
            tracing::warn!("{shown}: xattr {name} not supported here, dropped");
            Ok(())
        }
        other => other.ctx(|| format!("set xattr {name} on {shown}")),
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let ts = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

pub fn set_times_fd(fd: impl std::os::fd::AsFd, mtime: i64) -> std::io::Result<()> {
    rustix::fs::futimens(fd, &timestamps(mtime)).map_err(Into::into)
}
