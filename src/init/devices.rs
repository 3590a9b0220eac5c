//! /dev inside the container: the default devices every container gets
//! (runtime spec, "Default Devices"), `linux.devices`, and the standard
//! symlinks. Nodes are created with mknod inside the rootfs through pathrs;
//! in a user namespace, where mknod is not allowed, the host's node is
//! bind-mounted instead.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::makedev;
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use pathrs::{InodeType, Root};

use crate::error::{Context, Error, Result};

use super::procfs::{fd_path, open_path};

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
pub fn create(root: &Root, dev: &Device, bind: bool) -> Result<()> {
    if let Some(parent) = dev.path.parent() {
        root.mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
            .ctx(|| format!("cannot create {}", parent.display()))?;
    }
    // A node of the image (or an earlier entry) at this path is replaced.
    let _ = root.remove_file(&dev.path);
    let perm = std::fs::Permissions::from_mode(dev.mode);
    if bind && dev.kind != Kind::Fifo {
        root.create_file(
            &dev.path,
            pathrs::flags::OpenFlags::O_CREAT | pathrs::flags::OpenFlags::O_CLOEXEC,
            &perm,
        )
        .ctx(|| format!("cannot create {}", dev.path.display()))?;
        let target = root
            .resolve(&dev.path)
            .ctx(|| format!("cannot resolve {}", dev.path.display()))?;
        let src = open_path(&dev.path, 0)?;
        return mount(
            Some(fd_path(&src).as_str()),
            fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("cannot bind-mount device {}", dev.path.display()));
    }
    let rdev = makedev(dev.major as u64, dev.minor as u64);
    let kind = match dev.kind {
        Kind::Char => InodeType::CharacterDevice(perm, rdev),
        Kind::Block => InodeType::BlockDevice(perm, rdev),
        Kind::Fifo => InodeType::Fifo(perm),
    };
    root.create(&dev.path, &kind)
        .ctx(|| format!("cannot create device {}", dev.path.display()))?;
    let h = root
        .resolve_nofollow(&dev.path)
        .ctx(|| format!("cannot resolve {}", dev.path.display()))?;
    // mknod applies the umask; chmod through the handle to get the exact mode.
    std::fs::set_permissions(fd_path(&h), std::fs::Permissions::from_mode(dev.mode))
        .ctx(|| format!("cannot chmod {}", dev.path.display()))?;
    fchownat(
        None,
        fd_path(&h).as_str(),
        Some(Uid::from_raw(dev.uid)),
        Some(Gid::from_raw(dev.gid)),
        AtFlags::empty(),
    )
    .ctx(|| format!("cannot chown {}", dev.path.display()))
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
        let _ = root.remove_file(link);
        match root.create(link, &InodeType::Symlink(PathBuf::from(target))) {
            Ok(()) => {}
            Err(e) if e.kind() == pathrs::error::ErrorKind::OsError(Some(libc::EEXIST)) => {}
            Err(e) => {
                return Err(Error::Init(format!(
                    "cannot create symlink {link}: {}",
                    crate::error::pathrs_text(&e)
                )))
            }
        }
    }
    Ok(())
}
