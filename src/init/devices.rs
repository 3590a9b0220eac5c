//! /dev inside the container: the default devices every container gets
//! (runtime spec, "Default Devices"), `linux.devices`, and the standard
//! symlinks. Nodes are made with mknodat in their directory resolved inside
//! the rootfs (`inroot`);
//! in a user namespace, where mknod is not allowed, the host's node is
//! bind-mounted instead.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use pathrs::Root;

use crate::error::{Context, Error, Result};

use super::inroot::{self, Entry};
use super::procfs::{fd_path, open_path, InHostProc};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Char,
    Block,
    /// A named pipe (type `p`): no major/minor, and mkfifo needs no
    /// privilege, so it is made even in a user namespace.
    Fifo,
}

pub struct Device {
    pub path: PathBuf,
    pub kind: Kind,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The runtime spec's default devices.
pub fn defaults() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Device {
        path: PathBuf::from("/dev").join(name),
        kind: Kind::Char,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn from_spec(d: &LinuxDevice) -> Result<Device> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
        LinuxDeviceType::B => Kind::Block,
        LinuxDeviceType::P => Kind::Fifo,
        other => {
            return Err(Error::Config(format!(
                "linux.devices {}: type {other:?} cannot be created",
                d.path().display()
            )))
        }
    };
    if !d.path().is_absolute() {
        return Err(Error::Config(format!(
            "linux.devices path {:?} must be absolute",
            d.path()
        )));
    }
    Ok(Device {
        path: d.path().clone(),
        kind,
        major: d.major(),
        minor: d.minor(),
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Create `dev` in the rootfs. `bind` replaces mknod with a bind mount of
/// the host's node at the same path (user namespaces).
pub fn create(at: InHostProc<'_>, root: &Root, dev: &Device, bind: bool) -> Result<()> {
    let entry = match Entry::new(root.as_fd(), &dev.path, false) {
        Some(e) => e,
        None => {
            if let Some(parent) = dev.path.parent() {
                inroot::mkdir_all(root, parent, false)?;
            }
            Entry::new(root.as_fd(), &dev.path, false)
                .ok_or_else(|| Error::Init(format!("cannot resolve {}", dev.path.display())))?
        }
    };
    // A node of the image (or an earlier entry) at this path is replaced.
    let _ = entry.unlink();
    if bind && dev.kind != Kind::Fifo {
        let target = entry
            .file(dev.mode)
            .ctx(|| format!("cannot create {}", dev.path.display()))?;
        let src = open_path(&dev.path, 0)?;
        return mount(
            Some(fd_path(at, &src).as_str()),
            fd_path(at, &target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("cannot bind-mount device {}", dev.path.display()));
    }
    let kind = match dev.kind {
        Kind::Char => SFlag::S_IFCHR,
        Kind::Block => SFlag::S_IFBLK,
        Kind::Fifo => SFlag::S_IFIFO,
    };
    // The init cleared its umask before setup: the mode is exact.
    entry
        .mknod(kind, dev.mode, makedev(dev.major as u64, dev.minor as u64))
        .ctx(|| format!("cannot create device {}", dev.path.display()))?;
    if dev.uid != 0 || dev.gid != 0 {
        entry
            .chown(dev.uid, dev.gid)
            .ctx(|| format!("cannot chown {}", dev.path.display()))?;
    }
    Ok(())
}

/// /dev/fd, stdio links and /dev/ptmx → pts/ptmx.
pub fn symlinks(root: &Root) -> Result<()> {
    let mut links = vec![
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/dev/core", "/proc/kcore"));
    }
    for (link, target) in links {
        let entry = Entry::new(root.as_fd(), Path::new(link), false)
            .ok_or_else(|| Error::Init(format!("cannot resolve {link}")))?;
        let _ = entry.unlink();
        match entry.symlink(target) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("cannot create symlink {link}"), e)),
        }
    }
    Ok(())
}
