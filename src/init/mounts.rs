//! The `mounts` array of config.json: option parsing and mounting one entry.
//!
//! # Paths inside the container: one class of bugs, closed in one way
//!
//! The image, and any container that shares a volume with this one, own
//! every name inside the rootfs and can change it while rt works: a
//! directory becomes a symlink between the moment a runtime checks a path
//! and the moment it hands the same name to the kernel again. Each runtime
//! that resolved, checked, then mounted (or created, opened, wrote) by name
//! was sent outside the rootfs or onto the wrong file: in runc
//! CVE-2019-16884, CVE-2019-19921, CVE-2021-30465, CVE-2023-27561,
//! CVE-2023-28642, CVE-2024-45310, CVE-2025-31133, CVE-2025-52565,
//! CVE-2025-52881, CVE-2026-41579, and the same bugs in crun and youki.
//! rt closes the class, not each bug, with four rules:
//!
//! 1. **Resolve once, confined.** A path inside the rootfs (before
//!    pivot_root) or the container's root (after) is resolved with openat2
//!    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS into an O_PATH fd (`inroot`).
//!    Symlinks are followed as if the rootfs were `/`, `..` stops at it,
//!    and magic links (/proc/self/fd/N, /proc/self/exe) never resolve. A
//!    missing entry is made by its *at(2) call in its parent resolved the
//!    same way, which never follows the new name; several missing levels
//!    go to pathrs's mkdir_all. Where nothing may be followed (proc and
//!    sysfs destinations, maskedPaths, readonlyPaths, /dev/console, the
//!    /dev/null that masks bind) the lookup refuses symlinks and the fd's
//!    type is checked.
//! 2. **Act on the fd, never on the name again.** mount(2) takes names, so
//!    source and target are named `thread-self/fd/N` relative to the host
//!    procfs (see `procfs`): a name that goes through no directory of the
//!    container and that the kernel resolves to exactly the inode resolved
//!    in 1, whatever has been renamed since. chmod, chown, statvfs and
//!    reopening go the same way; mount_setattr and move_mount take the fd
//!    itself; tmpcopyup copies with *at calls and O_NOFOLLOW.
//!    **Attributes go on the detached mount.** A mount is built where no
//!    name reaches it — a clone of the source (open_tree) or a new
//!    filesystem (fsopen/fsmount) — and its flags, recursive options,
//!    tmpfs mode and tmpcopyup are set on it there; then it is attached
//!    onto the destination fd of 1 (move_mount), and propagation goes on
//!    through the new mount's own fd, as does a tmpfs's `ro`, which waits
//!    until setup is done with it (`ReadonlyLater`). Nothing looks the
//!    destination up again to find the new mount: a second lookup is what
//!    a racing container redirects (issue 16 F4, crun CVE-2026-133553).
//!    See `detached`, and for kernels without mount_setattr its fallback,
//!    which also goes through the new mount's own fd.
//! 3. **Writes to /proc go through the host's procfs**, opened before any
//!    container mount can shadow it and checked with fstatfs to be procfs
//!    (`procfs::HostProc`): sysctls, oom_score_adj, LSM attributes, the
//!    exec fifo. Never through the container's /proc, which the image or a
//!    racing shared mount can fake (CVE-2019-16884, CVE-2025-52881).
//! 4. **No fd of rt's reaches the container.** rt opens everything
//!    O_CLOEXEC; before exec every fd above stdio and --preserve-fds is
//!    marked close-on-exec; the host procfs handle is closed before the
//!    exec and before the program is looked up, and process.cwd is entered
//!    through a confined fd (CVE-2024-21626). rt itself runs from a binary
//!    the container cannot write (`crate::exeseal`, CVE-2019-5736).
//!
//! What still goes by name: host paths that come from the caller, not the
//! container (the bundle and rootfs, bind sources outside the rootfs — one
//! below it is the image's, resolved as in 1 —, namespace files, hooks,
//! the state directory; a bind source out of reach of a user-namespaced
//! init is opened by `create` as the host's root, see `bindsource`); and
//! the container's program, which execve(2) can only take by name — it
//! runs as the final user after the host procfs is closed, and rt first
//! checks that the name resolves confined.
//!
//! **Review rule:** a new operation that hands a path inside the rootfs or
//! the container's root to the kernel or to std::fs by name (mount, mkdir,
//! open, chmod, unlink, symlink, write) is a review failure: resolve it with
//! `inroot` and act on the fd. So is finding a mount just made by looking
//! its destination up again (to remount it, set its propagation, fill it):
//! build it detached. runtime-tests/cves.rs replays each CVE above.
//!
//! A limit of pathrs 0.2.6: to describe a failed call it reads
//! /proc/thread-self of the process's own /proc, which after pivot_root is
//! the container's, and panics when that is not a procfs. rt calls pathrs
//! only before pivot_root, and only when a path lacks several levels.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;
use pathrs::{Handle, Root};

use crate::cgroups::{at, CgroupPaths};
use crate::error::{Context, Error, Result};

use super::bindsource;
use super::detached::{Attached, Attrs, Detached};
use super::idmap;
use super::inroot::{self, Entry};
use super::mount_options::{normalize, parse_options, Options};
use super::procfs::{fd_path, open_path, HostProc, InHostProc};
use super::sync::{Channel, Msg};
use super::template::Hop;

/// Everything the mount step needs besides the entry itself.
pub struct MountContext<'a> {
    /// The host procfs, and the working directory being it (see
    /// `procfs`): mount(2) names fds through it.
    pub proc: &'a HostProc,
    pub at: InHostProc<'a>,
    /// The pid namespace joined by path, if any (see `Detached::procfs_of`).
    pub pid_ns: Option<BorrowedFd<'a>>,
    pub root: &'a Root,
    /// The rootfs path `root` is open on (canonical).
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroups: &'a CgroupPaths,
    pub new_cgroupns: bool,
    /// linux.mountLabel, where SELinux is enabled (see `lsm`).
    pub mount_label: Option<&'a str>,
    /// The container has a user namespace: a bind source out of the
    /// init's reach is asked of `create` (see `bindsource`).
    pub userns: bool,
    /// To `create`, which answers those requests and makes the idmapped
    /// trees that wait for mount time (see `idmap`).
    pub sync: &'a Channel,
    /// The way back to the host's namespace of an init made from the mount
    /// template, where host sources are cloned (see `template`); None when
    /// the namespace is a copy of the host's, which shows them.
    pub hop: Option<&'a Hop>,
}

/// A mount destination resolved inside the root, once: everything the
/// mount step does there goes through this fd.
struct Target {
    handle: Handle,
    /// No mount point of the right type was there: rt made one.
    made: bool,
}

impl AsFd for Target {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.handle.as_fd()
    }
}

fn resolve_target(root: &Root, dest: &Path, want_file: bool, no_symlinks: bool) -> Result<Target> {
    if let Some(handle) = existing_target(root, dest, want_file, no_symlinks) {
        return Ok(Target {
            handle,
            made: false,
        });
    }
    make_target(root, dest, want_file, no_symlinks).map(|handle| Target { handle, made: true })
}

/// The mount point `dest`, created (with its missing parents) where it is
/// missing.
fn make_target(root: &Root, dest: &Path, want_file: bool, no_symlinks: bool) -> Result<Handle> {
    // A destination reached through symlinks to paths the image lacks is
    // created where the links lead, inside the rootfs (as runc does).
    let resolved;
    let dest = if no_symlinks || inroot::resolve(root.as_fd(), dest, false).is_ok() {
        dest
    } else {
        resolved = follow_in_root(root, dest)?;
        resolved.as_path()
    };
    if !want_file {
        return inroot::mkdir_all(root, dest, no_symlinks).map_err(|e| {
            Error::Init(format!("cannot create mount point {}: {e}", dest.display()))
        });
    }
    if let Ok(fd) = inroot::resolve(root.as_fd(), dest, no_symlinks) {
        return Ok(Handle::from_fd(fd));
    }
    let entry = match Entry::new(root.as_fd(), dest, no_symlinks) {
        Some(e) => e,
        None => {
            let parent = dest.parent().unwrap_or(Path::new("/"));
            inroot::mkdir_all(root, parent, no_symlinks).map_err(|e| {
                Error::Init(format!(
                    "cannot create mount point {}: {e}",
                    parent.display()
                ))
            })?;
            Entry::new(root.as_fd(), dest, no_symlinks).ok_or_else(|| {
                Error::Init(format!("cannot resolve mount point {}", dest.display()))
            })?
        }
    };
    entry
        .file(0o644)
        .map(Handle::from_fd)
        .ctx(|| format!("cannot create mount point {}", dest.display()))
}

/// The common case, an existing mount point, in one openat2(2): the same
/// confinement as pathrs (RESOLVE_IN_ROOT, no magic links) without its extra
/// verification syscalls, which made up most of the mount step's time.
/// None sends the caller down the creating path.
fn existing_target(root: &Root, dest: &Path, want_file: bool, no_symlinks: bool) -> Option<Handle> {
    let fd = inroot::resolve(root.as_fd(), dest, no_symlinks).ok()?;
    let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).ok()?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    (is_dir != want_file).then(|| Handle::from_fd(fd))
}

/// `dest` with every symlink along it replaced by its target, interpreted
/// inside the rootfs (absolute targets from the rootfs's root, `..` never
/// above it). Lexical only: pathrs still confines the final operations.
pub fn follow_in_root(root: &Root, dest: &Path) -> Result<PathBuf> {
    let mut path = normalize(dest);
    for _ in 0..40 {
        let mut prefix = PathBuf::from("/");
        let mut replaced = None;
        let parts: Vec<_> = path.components().skip(1).collect();
        for (i, part) in parts.iter().enumerate() {
            prefix.push(part);
            let Ok(target) = root.readlink(&prefix) else {
                continue;
            };
            let base = if target.is_absolute() {
                PathBuf::from("/")
            } else {
                prefix.parent().unwrap_or(Path::new("/")).to_path_buf()
            };
            let mut next = base.join(target);
            for rest in &parts[i + 1..] {
                next.push(rest);
            }
            replaced = Some(normalize(&next));
            break;
        }
        match replaced {
            Some(p) => path = p,
            None => return Ok(path),
        }
    }
    Err(Error::Init(format!(
        "mount destination {}: too many levels of symbolic links",
        dest.display()
    )))
}

fn do_mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &Path,
) -> Result<()> {
    mount(src, target, fstype, flags, data).ctx(|| format!("cannot mount {}", what.display()))
}

/// Where a bind's tree comes from.
enum BindSource {
    /// Cloned in the host's namespace by an init made from the template
    /// (`template::Hop`); true: of the mount the rootfs lies on.
    Cloned(Detached, bool),
    /// An idmapped tree `create` made.
    Idmapped(OwnedFd),
    /// The source, opened here: cloned once the destination is resolved.
    Open(OwnedFd),
}

/// Mount `mounts[index]`, `m`, inside the rootfs. Requires the host procfs
/// to be the working directory (see `procfs::HostProc::enter`). `idmapped`
/// is the entry's idmapped tree when `create` made it on the host; one it
/// did not is asked of it now (see `idmap`). Either is closed on return.
///
/// The destination is resolved once; the mount is built detached with all
/// its attributes and attached onto that fd (see `detached`). An `ro`
/// tmpfs comes back to be made read-only later.
pub fn mount_entry(
    ctx: &MountContext<'_>,
    index: usize,
    m: &Mount,
    idmapped: Option<OwnedFd>,
) -> Result<Option<ReadonlyLater>> {
    let dest = m.destination();
    let mut opts = parse_options(m.options().as_deref().unwrap_or_default());
    let fstype = m.typ().as_deref().unwrap_or("");
    if fstype == "cgroup" || fstype == "cgroup2" {
        return mount_cgroup(ctx, m, &opts).map(|()| None);
    }
    if let Some(label) = ctx.mount_label {
        // linux.mountLabel labels what a new filesystem holds (SELinux
        // `context=`), as runc labels it: not a bind (its files keep
        // theirs), nor proc, sysfs or mqueue (their labels are the
        // kernel's).
        if !opts.is_bind() && !matches!(fstype, "proc" | "sysfs" | "mqueue") {
            opts.data.push(super::lsm::mount_context(label));
        }
    }
    let no_symlinks = matches!(fstype, "proc" | "sysfs");
    let mut attrs = Attrs {
        top: None,
        recursive_set: opts.recursive_set,
        recursive_clear: opts.recursive_clear,
    };
    let attached = if opts.is_bind() {
        let source = bindsource::path(m, ctx.bundle)
            .ok_or_else(|| Error::Config(format!("bind mount {} has no source", dest.display())))?;
        // Opened once: its type picks the mount point's, and the clone is
        // of this very file. An idmapped entry's tree `create` made.
        let is_idmapped = idmap::wanted(m, &opts);
        // A clone made on the host (see `template`), or the source opened
        // here and cloned once the destination is known.
        let src = match idmapped {
            Some(tree) => BindSource::Idmapped(tree),
            None if is_idmapped => BindSource::Idmapped(idmap::request(ctx.sync, ctx.proc, index)?),
            None => match ctx.hop {
                Some(hop) if bindsource::below_rootfs(&source, ctx.rootfs).is_none() => {
                    let recursive = opts.flags.contains(MsFlags::MS_REC);
                    let (tree, on_rootfs) = hop.in_host(ctx.proc, || {
                        let fd = open_source(ctx, index, &source)?;
                        hop.clone_host(ctx.proc, fd.as_fd(), recursive, dest)
                    })?;
                    BindSource::Cloned(tree, on_rootfs)
                }
                _ => BindSource::Open(open_source(ctx, index, &source)?),
            },
        };
        let stat_fd = match &src {
            BindSource::Cloned(tree, _) => tree.fd().as_raw_fd(),
            BindSource::Idmapped(fd) | BindSource::Open(fd) => fd.as_raw_fd(),
        };
        let is_dir = nix::sys::stat::fstat(stat_fd)
            .map_err(|e| Error::Init(format!("bind mount source {}: {e}", source.display())))?
            .st_mode
            & libc::S_IFMT
            == libc::S_IFDIR;
        let target = resolve_target(ctx.root, dest, !is_dir, no_symlinks)?;
        let (tree, settle) = match src {
            BindSource::Cloned(tree, rootfs_mount) => (tree, Some(rootfs_mount)),
            BindSource::Idmapped(fd) => (Detached::adopt(fd), None),
            BindSource::Open(fd) => {
                let recursive = opts.flags.contains(MsFlags::MS_REC);
                (Detached::clone_of(fd.as_fd(), recursive, dest)?, None)
            }
        };
        // A bind takes the source's flags; options replace them, exactly,
        // as a bind remount would — also when the only option clears a
        // flag (runc; mount(8) would keep the source's then).
        let flags = opts.remount_flags();
        if !flags.is_empty() || !opts.cleared.is_empty() {
            attrs.top = bind_flags(&tree, flags, &opts, &source, dest)?;
        }
        let attached = tree.attach(ctx.at, target.as_fd(), &attrs, dest)?;
        if let (Some(on_rootfs), Some(hop)) = (settle, ctx.hop) {
            hop.settle(ctx.at, &attached, on_rootfs, dest)?;
        }
        attached
    } else {
        let source = m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| fstype.to_string());
        if no_symlinks {
            ordinary_directory(ctx.root, dest, fstype, &source)?;
        }
        let target = resolve_target(ctx.root, dest, false, no_symlinks)?;
        if opts.flags.contains(MsFlags::MS_REMOUNT) {
            // `remount`: the mount already at the destination, which the
            // resolved fd is open on.
            let data = opts.data.join(",");
            let data = (!data.is_empty()).then_some(data.as_str());
            let fs = (!fstype.is_empty()).then_some(fstype);
            do_mount(
                Some(&source),
                &fd_path(ctx.at, &target),
                fs,
                opts.flags,
                data,
                dest,
            )?;
            return remounted(ctx.at, target, &attrs, &opts, dest).map(|()| None);
        }
        if fstype == "tmpfs" {
            let tree = tmpfs(ctx.proc, &target, &source, dest, &opts)?;
            let attached = tree.attach(ctx.at, target.as_fd(), &attrs, dest)?;
            attached.propagate(ctx.at, &opts.propagation, dest)?;
            let later = opts
                .flags
                .contains(MsFlags::MS_RDONLY)
                .then(|| ReadonlyLater {
                    mount: attached,
                    flags: opts.flags,
                    dest: dest.to_path_buf(),
                });
            return Ok(later);
        }
        let tree = match (fstype, ctx.pid_ns) {
            // A pid namespace joined by path is the children's only: the
            // procfs must be that namespace's, not this process's.
            ("proc", Some(ns)) => Detached::procfs_of(ns, &source, opts.flags, &opts.data, dest)?,
            _ => Detached::new_fs(fstype, &source, opts.flags, &opts.data, dest)?,
        };
        tree.attach(ctx.at, target.as_fd(), &attrs, dest)?
    };
    attached
        .propagate(ctx.at, &opts.propagation, dest)
        .map(|()| None)
}

/// Set a bind's per-mount `flags` on the detached `tree`. In a user
/// namespace the kernel locks the flags a mount of the host had (ro,
/// nosuid, nodev, noexec, atime: EPERM to clear them); then, as runc does,
/// those of the source are kept unless an option asked to clear one or to
/// change the atime, which fails in runc's words. Returns the flags still
/// to set after the attach, on kernels without mount_setattr.
fn bind_flags(
    tree: &Detached,
    flags: MsFlags,
    opts: &Options,
    source_path: &Path,
    dest: &Path,
) -> Result<Option<MsFlags>> {
    let failed = |e: String| {
        Error::Init(format!(
            "error mounting {:?} to rootfs at {:?}: {e}",
            source_path.display().to_string(),
            dest.display().to_string()
        ))
    };
    match tree.set_flags(flags) {
        Ok(()) => return Ok(None),
        Err(Errno::ENOSYS) => return Ok(Some(flags)),
        Err(Errno::EPERM) => {}
        Err(e) => return Err(Error::sys(format!("cannot mount {}", dest.display()), e)),
    }
    // Go's words for errnos, which runc's messages (and clients) carry.
    let says = |e: Errno| e.desc().to_lowercase();
    // The clone has the source's flags, locks and all.
    let st = nix::sys::statvfs::fstatvfs(tree.fd())
        .map_err(|e| failed(format!("cannot statfs the source: {}", says(e))))?;
    let src = locked::statfs_flags(st.flags());
    let cannot_clear = src & opts.cleared & locked::LOCKABLE;
    if !cannot_clear.is_empty() {
        return Err(failed(format!(
            "cannot clear locked flags {}: {}",
            locked::names(cannot_clear),
            says(Errno::EPERM)
        )));
    }
    let atime = flags & locked::ATIME;
    if !atime.is_empty() && atime != src & locked::ATIME {
        return Err(failed(format!(
            "cannot change locked atime flags {}: {}",
            locked::names(src & locked::ATIME),
            says(Errno::EPERM)
        )));
    }
    let with_locked = flags | (src & locked::LOCKABLE);
    tree.set_flags(with_locked).map_err(|e| {
        failed(format!(
            "remount with locked flags {} re-applied: {}",
            locked::names(src & locked::LOCKABLE),
            says(e)
        ))
    })?;
    Ok(None)
}

/// The flags a user namespace locks on the mounts it inherits.
mod locked {
    use nix::mount::MsFlags;
    use nix::sys::statvfs::FsFlags;

    pub const ATIME: MsFlags = MsFlags::MS_NOATIME
        .union(MsFlags::MS_RELATIME)
        .union(MsFlags::MS_STRICTATIME)
        .union(MsFlags::MS_NODIRATIME);
    pub const LOCKABLE: MsFlags = MsFlags::MS_RDONLY
        .union(MsFlags::MS_NODEV)
        .union(MsFlags::MS_NOEXEC)
        .union(MsFlags::MS_NOSUID)
        .union(ATIME);

    /// A mount's flags as statfs(2) reports them; strictatime (which it
    /// does not report) when no other atime mode is set.
    pub fn statfs_flags(st: FsFlags) -> MsFlags {
        let mut f = MsFlags::empty();
        for (s, m) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if st.contains(s) {
                f |= m;
            }
        }
        if !f.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
            f |= MsFlags::MS_STRICTATIME;
        }
        f
    }

    /// `MS_RDONLY|MS_NODEV`, as runc names flags in its errors.
    pub fn names(f: MsFlags) -> String {
        [
            (MsFlags::MS_RDONLY, "MS_RDONLY"),
            (MsFlags::MS_NOSUID, "MS_NOSUID"),
            (MsFlags::MS_NODEV, "MS_NODEV"),
            (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
            (MsFlags::MS_NOATIME, "MS_NOATIME"),
            (MsFlags::MS_NODIRATIME, "MS_NODIRATIME"),
            (MsFlags::MS_RELATIME, "MS_RELATIME"),
            (MsFlags::MS_STRICTATIME, "MS_STRICTATIME"),
        ]
        .iter()
        .filter(|(m, _)| f.contains(*m))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
    }
}

/// A procfs or sysfs goes on a directory or nowhere: an image that has a
/// symlink or file there is refused in runc's words (CVE-2019-19921,
/// CVE-2023-27561 redirected /proc through a symlink).
fn ordinary_directory(root: &Root, dest: &Path, fstype: &str, source: &str) -> Result<()> {
    let Some(entry) = Entry::new(root.as_fd(), dest, true) else {
        return Ok(());
    };
    match entry.stat_nofollow() {
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => Err(Error::Init(format!(
            "error mounting {source:?} to rootfs at {:?}: filesystem {fstype:?} must be mounted on ordinary directory",
            dest.display().to_string()
        ))),
        _ => Ok(()),
    }
}

/// A read-only tmpfs, made read-only at `Step::MaskedReadonly` as runc
/// does: until then the steps after it may make mount points and /dev
/// nodes in it (an `ro` /dev gets its nodes, /dev/pts and /dev/shm). The
/// mount is held by its own fd, so nothing is looked up again.
pub struct ReadonlyLater {
    mount: Attached,
    flags: MsFlags,
    dest: PathBuf,
}

impl ReadonlyLater {
    /// The superblock and the mount read-only, with the entry's other
    /// per-mount flags.
    pub fn apply(self, at: InHostProc<'_>) -> Result<()> {
        self.mount.make_readonly(at, self.flags, &self.dest)
    }
}

/// An O_PATH handle on a bind mount's source. One the init may not reach
/// in its user namespace is opened by `create` (see `bindsource`).
fn open_source(ctx: &MountContext<'_>, index: usize, source: &Path) -> Result<OwnedFd> {
    if let Some(rel) = bindsource::below_rootfs(source, ctx.rootfs) {
        return inroot::resolve(ctx.root.as_fd(), &rel, false).map_err(|e| {
            Error::Init(format!(
                "bind mount source {}: {}",
                source.display(),
                std::io::Error::from(e)
            ))
        });
    }
    let err = match open_path(source, 0) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    let (own, denied) = match &err {
        Error::Io { source, .. } => (
            source.to_string(),
            source.kind() == std::io::ErrorKind::PermissionDenied,
        ),
        e => (e.to_string(), false),
    };
    let why = match ctx.userns && denied {
        true => match bindsource::request(ctx.sync, ctx.proc, &Msg::MountSource(index))? {
            Ok(fd) => return Ok(fd),
            Err(why) if !why.is_empty() => why,
            Err(_) => own,
        },
        false => own,
    };
    Err(Error::Init(format!(
        "bind mount source {}: {why}",
        source.display()
    )))
}

/// The recursive options and propagation of a `remount` entry, on the mount
/// the destination fd is open on.
fn remounted(
    at: InHostProc<'_>,
    target: Target,
    attrs: &Attrs,
    opts: &Options,
    dest: &Path,
) -> Result<()> {
    if attrs.recursive_set != 0 || attrs.recursive_clear != 0 {
        let attr = crate::syscall::MountAttr {
            attr_set: attrs.recursive_set,
            attr_clr: attrs.recursive_clear,
            propagation: 0,
            userns_fd: 0,
        };
        crate::syscall::mount_setattr(target.as_fd(), libc::AT_RECURSIVE as libc::c_uint, &attr)
            .ctx(|| {
                format!(
                    "cannot apply recursive mount options to {} (mount_setattr needs Linux 5.12)",
                    dest.display()
                )
            })?;
    }
    for p in &opts.propagation {
        do_mount(None, &fd_path(at, &target), None, *p, None, dest)?;
    }
    Ok(())
}

/// A tmpfs, as runc mounts one: when the mount point already exists, the
/// tmpfs takes its mode as a `mode=` option (an image's 0755 /run stays
/// 0755, not tmpfs's 1777, and mountinfo says so), which a `mode=` of the
/// entry's own overrides; and with `tmpcopyup` it starts with a copy of
/// what the image has there. It is writable: `ro` comes later
/// (`ReadonlyLater`).
///
/// All of it happens before the tmpfs is attached: the copy is made
/// through the detached mount's own fd, so no name the container
/// controls is looked up again (crun CVE-2026-133553 copied the image into
/// whatever a second lookup found). The image's directory is read through
/// the destination fd, which the tmpfs then covers; no scratch mount point
/// on the host is needed (runc uses one under /tmp).
fn tmpfs(
    proc: &HostProc,
    target: &Target,
    source: &str,
    dest: &Path,
    opts: &Options,
) -> Result<Detached> {
    let st = nix::sys::stat::fstat(target.as_fd().as_raw_fd())
        .ctx(|| format!("cannot stat {}", dest.display()))?;
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    let lower = match opts.copy_up {
        true => Some(
            proc.reopen(target, dir_flags)
                .ctx(|| format!("cannot open {} for tmpcopyup", dest.display()))?,
        ),
        false => None,
    };
    // A mount point rt just made has the default mode: tmpfs's own stays.
    // The entry's options come after: the last `mode=` wins.
    let inherited = (!target.made).then(|| format!("mode={:04o}", st.st_mode & 0o7777));
    let data: Vec<String> = inherited
        .into_iter()
        .chain(opts.data.iter().cloned())
        .collect();
    let tree = Detached::new_fs(
        "tmpfs",
        source,
        opts.flags - MsFlags::MS_RDONLY,
        &data,
        dest,
    )?;
    if let Some(lower) = lower {
        let upper = crate::syscall::openat(tree.fd(), ".", dir_flags)
            .ctx(|| format!("cannot open the tmpfs on {}", dest.display()))?;
        copy_tree(lower.as_fd(), upper.as_fd())
            .map_err(|e| Error::Init(format!("tmpcopyup of {}: {e}", dest.display())))?;
    }
    Ok(tree)
}

/// Copy the contents of directory `src` into directory `dst`, both open
/// fds. Every step is relative to a directory fd and never follows a
/// symlink (the image is untrusted): links are copied as links.
fn copy_tree(src_dir: BorrowedFd<'_>, dst_dir: BorrowedFd<'_>) -> Result<()> {
    let (src, dst) = (src_dir.as_raw_fd(), dst_dir.as_raw_fd());
    use nix::fcntl::{readlinkat, AtFlags, OFlag};
    use nix::sys::stat::{fchmod, fstatat, mkdirat, mknodat, Mode, SFlag};
    use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

    let mut dir = nix::dir::Dir::openat(
        Some(src),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "cannot list directory")?;
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    let open = |dirfd: BorrowedFd<'_>,
                name: &std::ffi::CStr,
                flags: OFlag,
                mode: Mode|
     -> Result<std::fs::File> {
        let fd =
            crate::syscall::openat_mode(Some(dirfd), name, flags | OFlag::O_NOFOLLOW, mode.bits())
                .ctx(|| format!("cannot open {name:?}"))?;
        Ok(std::fs::File::from(fd))
    };
    for name in &names {
        let what = || format!("cannot copy {name:?}");
        let st = fstatat(Some(src), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ctx(what)?;
        let (uid, gid) = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFDIR {
            mkdirat(Some(dst), name.as_c_str(), mode).ctx(what)?;
            let from = open(
                src_dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                Mode::empty(),
            )?;
            let to = open(
                dst_dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                Mode::empty(),
            )?;
            copy_tree(from.as_fd(), to.as_fd())?;
            fchown(to.as_raw_fd(), uid, gid).ctx(what)?;
            fchmod(to.as_raw_fd(), mode).ctx(what)?;
        } else if kind == SFlag::S_IFREG {
            let mut from = open(src_dir, name, OFlag::O_RDONLY, Mode::empty())?;
            let mut to = open(
                dst_dir,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                mode,
            )?;
            copy_data(&mut from, &mut to, st.st_size).ctx(what)?;
            fchown(to.as_raw_fd(), uid, gid).ctx(what)?;
            // After chown, which clears set-id bits.
            fchmod(to.as_raw_fd(), mode).ctx(what)?;
        } else {
            if kind == SFlag::S_IFLNK {
                let link = readlinkat(Some(src), name.as_c_str()).ctx(what)?;
                symlinkat(link.as_os_str(), Some(dst), name.as_c_str()).ctx(what)?;
            } else {
                // Device nodes, fifos and sockets: recreated, not opened.
                mknodat(Some(dst), name.as_c_str(), kind, mode, st.st_rdev).ctx(what)?;
            }
            // Neither can be opened to fchown: by name, never following.
            fchownat(
                Some(dst),
                name.as_c_str(),
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .ctx(what)?;
        }
    }
    Ok(())
}

/// Copy the data of `from` into the empty `to`, keeping holes: a sparse
/// file of the image (64 GiB for a few bytes on disk) costs the tmpfs, and
/// the container's memory, only its data, not gigabytes of zeros.
fn copy_data(from: &mut std::fs::File, to: &mut std::fs::File, size: i64) -> std::io::Result<()> {
    use nix::unistd::{lseek, Whence};
    use std::io::{Read, Seek, SeekFrom};
    let mut pos = 0;
    while pos < size {
        // Filesystems without holes report the whole file as data.
        let data = match lseek(from.as_raw_fd(), pos, Whence::SeekData) {
            Ok(d) => d,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = lseek(from.as_raw_fd(), data, Whence::SeekHole)?;
        from.seek(SeekFrom::Start(data as u64))?;
        to.seek(SeekFrom::Start(data as u64))?;
        std::io::copy(&mut Read::by_ref(from).take((hole - data) as u64), to)?;
        pos = hole;
    }
    to.set_len(size as u64)
}

/// `type: cgroup`: with a new cgroup namespace on a unified host, a fresh
/// cgroup2 mount shows exactly the container's cgroup. Otherwise rt builds
/// what runc builds: a tmpfs with one bind mount per hierarchy of the
/// container's own cgroup directory.
fn mount_cgroup(ctx: &MountContext<'_>, m: &Mount, opts: &Options) -> Result<()> {
    let dest = m.destination();
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let flags = opts.flags - MsFlags::MS_RDONLY - MsFlags::MS_BIND - MsFlags::MS_REC;
    let target = resolve_target(ctx.root, dest, false, true)?;
    let none = Attrs::default();
    if ctx.cgroups.unified && ctx.new_cgroupns {
        let fs = Detached::new_fs(
            "cgroup2",
            "cgroup2",
            opts.flags - MsFlags::MS_BIND,
            &[],
            dest,
        )?;
        return fs.attach(ctx.at, target.as_fd(), &none, dest).map(drop);
    }
    let mode = ["mode=755".to_string()];
    let v1 = if ctx.cgroups.dirs.is_empty() {
        let layout = crate::cgroups::Layout::detect()?;
        if layout.is_unified() {
            // No cgroup of its own on cgroup v2 (rootless): an empty,
            // read-only tmpfs, also with `ro` missing, as runc masks
            // /sys/fs/cgroup then — over what an `rbind` of /sys brought
            // along, whose "ro" covers only /sys itself (CVE-2023-25809:
            // `spec --rootless` binds /sys so, and the user's own cgroups
            // below were writable).
            let fs = Detached::new_fs("tmpfs", "tmpfs", flags | MsFlags::MS_RDONLY, &mode, dest)?;
            return fs.attach(ctx.at, target.as_fd(), &none, dest).map(drop);
        }
        current_v1_cgroups(&layout)?
    } else if ctx.cgroups.unified {
        let dirs = cgroup_bind_sources(ctx.cgroups, ctx.new_cgroupns);
        let Some(dir) = dirs.first() else {
            return Ok(());
        };
        let mut trees = cgroup_trees(ctx, &[(dir.as_path(), dest.to_path_buf())])?;
        return match trees.pop() {
            Some(tree) => bind_cgroup(ctx, tree, target.as_fd(), flags, ro, dest),
            None => Ok(()),
        };
    } else {
        let own = cgroup_bind_sources(ctx.cgroups, ctx.new_cgroupns).into_iter();
        own.map(|d| Ok((d.clone(), ctx.cgroups.hierarchy_name(d)?)))
            .collect::<Result<_>>()?
    };
    // The mount points go straight into the fresh tmpfs, through its own
    // fd: nothing of the image can reach into it.
    let tmpfs = Detached::new_fs("tmpfs", "tmpfs", flags, &mode, dest)?.attach(
        ctx.at,
        target.as_fd(),
        &none,
        dest,
    )?;
    // Only the v1 hierarchies: on a hybrid host runc shows containers no
    // cgroup2 mount, and clients expect what runc shows.
    let dirs: Vec<(&Path, PathBuf)> = v1
        .iter()
        .map(|(d, name)| (d.as_path(), dest.join(name)))
        .collect();
    let trees = cgroup_trees(ctx, &dirs)?;
    for ((_, name), tree) in v1.iter().zip(trees) {
        let at = dest.join(name);
        let what = || format!("cannot create {}", at.display());
        nix::sys::stat::mkdirat(
            Some(tmpfs.fd().as_raw_fd()),
            name.as_os_str(),
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .ctx(what)?;
        let point = crate::syscall::openat_mode(
            Some(tmpfs.fd()),
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            0,
        )
        .ctx(what)?;
        bind_cgroup(ctx, tree, point.as_fd(), flags, ro, &at)?;
    }
    // The tmpfs itself stays writable even when the mount asks for `ro`:
    // runc (1.1 and 1.2) makes only the hierarchies read-only, and what
    // Docker and Podman containers see in /proc/self/mounts is runc's.
    Ok(())
}

/// Without cgroups of its own (rootless: cgroup v1 gives the user none)
/// the init is in the cgroups rt was started in. runc shows the container
/// those, one bind per v1 hierarchy, as /proc/self/cgroup names them
/// (read-only when the mount asks, as Podman's does); so does rt: each
/// hierarchy's directory and the name it gets under the mount.
fn current_v1_cgroups(
    layout: &crate::cgroups::Layout,
) -> Result<Vec<(PathBuf, std::ffi::OsString)>> {
    let own =
        std::fs::read_to_string("/proc/self/cgroup").ctx(|| "cannot read /proc/self/cgroup")?;
    let mut out = Vec::new();
    for h in layout.hierarchies.iter().filter(|h| !h.v2) {
        let mut want: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
        want.sort_unstable();
        let path = own.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let controllers = fields.nth(1)?;
            let mut have: Vec<&str> = controllers.split(',').collect();
            have.sort_unstable();
            (have == want).then(|| fields.next()).flatten()
        });
        let (Some(path), Some(name)) = (path, h.mount_point.file_name()) else {
            continue;
        };
        // Relative to the cgroup mounted there (a nested host's may not be
        // its hierarchy's root).
        let rel = Path::new(path)
            .strip_prefix(&h.mount_root)
            .unwrap_or(Path::new(path));
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        out.push((h.mount_point.join(rel), name.to_os_string()));
    }
    Ok(out)
}

/// Clones of the cgroup directories `dirs` (each with the destination it
/// is for), in order — made in the host's namespace by an init made from
/// the template, in one visit (see `template::Hop`) — each with whether
/// the clone needs `Hop::settle`.
fn cgroup_trees(
    ctx: &MountContext<'_>,
    dirs: &[(&Path, PathBuf)],
) -> Result<Vec<(Detached, Option<bool>)>> {
    let clone = |root: Option<&at::Root>, (dir, dest): &(&Path, PathBuf)| {
        let src = at::open_dir(root, dir).ctx(|| format!("cannot open {}", dir.display()))?;
        match ctx.hop {
            Some(hop) => hop
                .clone_host(ctx.proc, src.as_fd(), false, dest)
                .map(|(t, on_rootfs)| (t, Some(on_rootfs))),
            None => Ok((Detached::clone_of(src.as_fd(), false, dest)?, None)),
        }
    };
    // Opened in the host's namespace, dropped before the visit ends.
    let all = || {
        let root = at::Root::open();
        dirs.iter().map(|d| clone(root.as_ref(), d)).collect()
    };
    match ctx.hop {
        Some(hop) => hop.in_host(ctx.proc, all),
        None => all(),
    }
}

/// A cgroup directory's clone bound onto `target`, with `flags` (and
/// read-only when `ro`) set as a bind remount sets them.
fn bind_cgroup(
    ctx: &MountContext<'_>,
    (tree, settle): (Detached, Option<bool>),
    target: BorrowedFd<'_>,
    flags: MsFlags,
    ro: bool,
    dest: &Path,
) -> Result<()> {
    let remount = flags
        | if ro {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
    let attrs = Attrs {
        top: (!remount.is_empty()).then_some(remount),
        ..Attrs::default()
    };
    let attached = tree.attach(ctx.at, target, &attrs, dest)?;
    if let (Some(on_rootfs), Some(hop)) = (settle, ctx.hop) {
        hop.settle(ctx.at, &attached, on_rootfs, dest)?;
    }
    Ok(())
}

/// The host cgroup directories a `cgroup` mount binds into the
/// container (none: a cgroup2 of the container's cgroup namespace is
/// mounted instead). Without cgroups of its own the init binds the ones it
/// runs in (see `current_v1_cgroups`).
pub fn cgroup_bind_sources(cgroups: &CgroupPaths, new_cgroupns: bool) -> Vec<&PathBuf> {
    match (cgroups.unified, new_cgroupns) {
        (true, true) => Vec::new(),
        (true, false) => cgroups.dirs.first().into_iter().collect(),
        (false, _) => cgroups.v1_dirs(),
    }
}
