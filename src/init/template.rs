//! The empty mount namespace a container's is made from.
//!
//! clone(2) or unshare(2) with CLONE_NEWNS copies every mount of the
//! creator's namespace — on a Kubernetes node, thousands (each pod's
//! secrets, config maps and volumes) — then setup makes each copy a slave
//! and pivot_root's old root detaches them all again: work that grows with
//! the host's mount table, for mounts the container never sees (issue 19:
//! +30 % per run at 1000 host mounts).
//!
//! So rt keeps one mount namespace that holds nothing but an empty,
//! read-only tmpfs — the template — pinned at [`PIN`] (an nsfs bind mount
//! on a private mount of its own, as `ip netns` pins network namespaces),
//! and an init whose spec allows it ([`fits`]) makes its namespace as a
//! copy of that one:
//! 1. still in the host's namespace, it clones the rootfs with the mounts
//!    below it ([`Clones`]; open_tree(OPEN_TREE_CLONE): a mount of another
//!    namespace cannot be cloned);
//! 2. it enters the template and unshares a namespace of its own, copying
//!    two mounts ([`enter`]); a fresh tmpfs goes over the template's root
//!    and becomes the process's root, so nothing is ever written to the
//!    shared template;
//! 3. the rootfs is attached at its host path, so that every later step —
//!    the rootfs handle, pivot_root — names it as before, and what
//!    pivot_root detaches is that tmpfs alone;
//! 4. a bind source outside the rootfs, and the cgroup directories bound
//!    into /sys/fs/cgroup, are cloned when their entry is mounted, back in
//!    the host's namespace for the clone ([`Hop`]), as the copy clones them
//!    then.
//!
//! Propagation stays exactly runc's (the table in
//! runtime-tests/compare_runc.rs): runc's container holds copies of the
//! host's mounts made `rootfsPropagation` (rslave by default), the mount
//! the rootfs lies on made private; a bind is a clone of such a copy. Here
//! each clone is made of the host's mount itself, so the same propagation
//! is set on it once attached: `rootfsPropagation` on all of it, then
//! private on a clone of the mount the rootfs lies on. One difference
//! remains: runc's rslave also makes an unbindable host mount bindable in
//! its copy, so it can bind one; here its clone fails (EINVAL).
//!
//! Anything else the init reads by a host path before pivot_root keeps the
//! copy: hooks that run before pivot_root, a seccomp agent's socket, a user
//! namespace (id-mapped or unmapped sources, /dev nodes bound from the
//! host), --no-pivot, filesystems whose source is a host path. So do an
//! init whose rootfs cannot be cloned (it unshares the host's namespace and
//! goes the old way, which reports the error as it always did), and a host
//! where the pin cannot be made: the template is an optimisation, never a
//! requirement.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Context, Error, Result};

use super::detached::{Attached, Attrs, Detached};
use super::mount_options::{normalize, parse_options};
use super::procfs::{open_path, HostProc, InHostProc};

/// Where the template is pinned, in the caller's mount namespace: a file
/// in [`PIN_DIR`]. Remove it with `umount /run/rt-mntns/mnt
/// /run/rt-mntns/exe /run/rt-mntns` (the second is rt's binary, see
/// rt::exeseal::ATTACHED); the next `create` makes them again.
pub const PIN: &str = "/run/rt-mntns/mnt";

/// The pin's directory, a private mount of its own (bound onto itself):
/// the kernel refuses to propagate a mount namespace's file, so a pin on a
/// shared mount with peers or slaves — /run on a systemd host — fails
/// (EINVAL), as util-linux's `unshare --mount=FILE` documents.
pub const PIN_DIR: &str = "/run/rt-mntns";

/// Filesystems whose source is a name, not a host path: the only ones,
/// with binds, an init made from the template mounts.
const NAMED_SOURCE: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "ramfs",
    "devpts",
    "mqueue",
    "cgroup",
    "cgroup2",
    "hugetlbfs",
    "bpf",
    "securityfs",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "pstore",
    "efivarfs",
];

/// What the spec and the caller leave possible (see the module doc).
pub struct Fit<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// The container creates a mount namespace (and joins none).
    pub new_mountns: bool,
    /// The container has a user namespace, or rt runs in one.
    pub in_userns: bool,
    /// The init creates its namespaces itself (`NamespacePlan::unshares`).
    pub unshares: bool,
    pub no_pivot: bool,
    /// The container has cgroup directories of its own to bind.
    pub has_cgroups: bool,
}

/// Whether the init may make its mount namespace from the template.
pub fn fits(f: &Fit<'_>) -> bool {
    if !f.new_mountns || f.in_userns || f.unshares || f.no_pivot {
        return false;
    }
    // Host paths by name before pivot_root: hooks, a seccomp agent.
    if let Some(h) = f.spec.hooks() {
        let any = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v| !v.is_empty());
        #[allow(deprecated)]
        let prestart = any(h.prestart());
        if prestart || any(h.create_runtime()) || any(h.create_container()) {
            return false;
        }
    }
    let linux = f.spec.linux().as_ref();
    if linux
        .and_then(|l| l.seccomp().as_ref())
        .is_some_and(|s| s.listener_path().is_some())
    {
        return false;
    }
    // The recursive propagation types, or none (rslave): a flag that
    // leaves the mounts below unchanged, or unbindable (binds of it fail
    // where runc's copy, made a slave, would not), takes the copy.
    match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("rslave" | "rshared" | "rprivate") => {}
        Some(_) => return false,
    }
    let plain = f
        .rootfs
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !plain {
        return false;
    }
    let mounts = f.spec.mounts().as_deref().unwrap_or_default();
    mounts
        .iter()
        .all(|m| mount_fits(m, f.rootfs, f.has_cgroups))
}

fn mount_fits(m: &Mount, rootfs: &Path, has_cgroups: bool) -> bool {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let fstype = m.typ().as_deref().unwrap_or("");
    if super::idmap::wanted(m, &opts) {
        return false;
    }
    if opts.is_bind() {
        // A recursive bind of a directory above the rootfs would bring a
        // clone of the rootfs's own mount, which runc's copy has private.
        let Some(source) = m.source().as_deref() else {
            return true;
        };
        return !(opts.flags.contains(MsFlags::MS_REC)
            && source.is_absolute()
            && rootfs.starts_with(normalize(source)));
    }
    if opts.flags.contains(MsFlags::MS_REMOUNT) {
        return true;
    }
    if matches!(fstype, "cgroup" | "cgroup2") && !has_cgroups {
        // Without cgroups of its own the init finds the host's layout by
        // path (rootless).
        return false;
    }
    NAMED_SOURCE.contains(&fstype)
}

/// The template, pinned at [`PIN`] (made there first if need be). None
/// where it cannot be had — /run not writable, another rt making it right
/// now, no pivot_root (rt in a chroot): the init then copies the caller's
/// namespace, as it always did.
pub fn open() -> Option<OwnedFd> {
    let pin = Path::new(PIN);
    let ns = open_pinned(pin).or_else(|| make(Path::new(PIN_DIR), pin).ok().flatten())?;
    // The pin's directory is a private mount: rt's binary stays mounted
    // there too (see rt::exeseal).
    crate::exeseal::persist();
    Some(ns)
}

/// The mount namespace pinned at `pin`, if that is one.
fn open_pinned(pin: &Path) -> Option<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(pin)
        .ok()?;
    let fd = OwnedFd::from(f);
    is_mount_ns(&fd).then_some(fd)
}

fn is_mount_ns(fd: &OwnedFd) -> bool {
    crate::syscall::namespace_type(fd.as_fd()) == Ok(libc::CLONE_NEWNS)
}

/// Make the template and pin it. The pin file is locked while it is made:
/// a create that finds it locked does not wait (Ok(None)).
fn make(dir: &Path, pin: &Path) -> Result<Option<OwnedFd>> {
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e).ctx(|| format!("cannot create {}", dir.display()));
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(pin)
        .ctx(|| format!("cannot create {}", pin.display()))?;
    let _locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err(_) => return Ok(None),
    };
    // Made by another while this one opened the file.
    if let Some(fd) = open_pinned(pin) {
        return Ok(Some(fd));
    }
    if !is_mount_point(dir)? {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .ctx(|| format!("cannot bind {} onto itself", dir.display()))?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| format!("cannot make {} private", dir.display()))?;
    // The kernel takes a pin for a loop unless the namespace is newer than
    // ours by its sequence number, which 6.18 hands out from per-CPU
    // batches: a namespace made on one CPU can number below ours, made
    // earlier on another (EINVAL, about 1 in 4 here). So the template is
    // made on each CPU in turn until its pin takes; on ours it always does.
    let cpus = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .ctx(|| "cannot read the CPU affinity")?;
    let mut last = Error::Init("no CPU to make the mount template on".into());
    for cpu in (0..nix::sched::CpuSet::count()).filter(|c| cpus.is_set(*c).unwrap_or(false)) {
        match make_on(cpu, dir, pin) {
            Ok(ns) => return Ok(Some(ns)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Make the template on `cpu` and pin it at `pin`. It is pinned as soon
/// as it is cut off from ours, before it is emptied: once pivot_root has
/// detached its copies, the kernel refuses the bind where our mounts have
/// slaves elsewhere (a systemd host's).
fn make_on(cpu: usize, dir: &Path, pin: &Path) -> Result<OwnedFd> {
    let (to_main, from_thread) = std::sync::mpsc::channel::<Result<OwnedFd>>();
    let (to_thread, from_main) = std::sync::mpsc::channel::<bool>();
    std::thread::scope(|s| {
        let builder = s.spawn(move || -> Result<()> {
            let mut one = nix::sched::CpuSet::new();
            let cut = one
                .set(cpu)
                .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &one))
                .ctx(|| format!("cannot move to CPU {cpu}"))
                .and_then(|()| cut_off());
            let ok = cut.is_ok();
            let _ = to_main.send(cut);
            if ok && from_main.recv().unwrap_or(false) {
                empty(dir)
            } else {
                Ok(())
            }
        });
        let ns = from_thread
            .recv()
            .map_err(|_| Error::Init("the thread making the mount template stopped".into()))
            .and_then(|r| r);
        let pinned = ns.and_then(|ns| {
            let source = format!("/proc/self/fd/{}", ns.as_raw_fd());
            mount(
                Some(source.as_str()),
                pin,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .ctx(|| format!("cannot pin the mount template at {}", pin.display()))
            .map(|()| ns)
        });
        let _ = to_thread.send(pinned.is_ok());
        let emptied = builder
            .join()
            .map_err(|_| Error::Init("the thread making the mount template panicked".into()))
            .and_then(|r| r);
        match (pinned, emptied) {
            (Ok(ns), Ok(())) => Ok(ns),
            (Ok(_), Err(e)) => {
                // Half made: not for anyone to use.
                let _ = umount2(pin, MntFlags::MNT_DETACH);
                Err(e)
            }
            (Err(e), _) => Err(e),
        }
    })
}

/// Whether `dir` is the root of a mount (its mount is not its parent's).
fn is_mount_point(dir: &Path) -> Result<bool> {
    let id = |p: &Path| -> Result<u64> {
        let fd = open_path(p, libc::O_DIRECTORY)?;
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
            .ctx(|| "cannot read an fd's mount id")?;
        mount_id_in(&info)
    };
    Ok(id(dir)? != id(&dir.join(".."))?)
}

/// On a thread of its own (its own filesystem context): a new mount
/// namespace, cut off from the caller's (private) before anything is
/// mounted in it. Returns its file (readable: setns(2) takes no O_PATH
/// fd).
fn cut_off() -> Result<OwnedFd> {
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .ctx(|| "cannot create the mount template")?;
    let ns = std::fs::File::open("/proc/thread-self/ns/mnt")
        .ctx(|| "cannot open the mount template's namespace")?
        .into();
    mount(
        None::<&str>,
        Path::new("/"),
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "cannot make the mount template private")?;
    Ok(ns)
}

/// Then, on the same thread: a tmpfs over `dir` becomes the namespace's
/// root and the copies of the caller's mounts go with the old root; the
/// root turns read-only.
fn empty(dir: &Path) -> Result<()> {
    let root = Path::new("/");
    mount(
        Some("rt-mntns"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755,size=4k,nr_inodes=16"),
    )
    .ctx(|| "cannot mount the mount template's tmpfs")?;
    chdir(dir).ctx(|| "cannot enter the mount template's tmpfs")?;
    pivot_root(".", ".").ctx(|| "cannot pivot into the mount template")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "cannot detach the template's old root")?;
    chdir(root).ctx(|| "cannot enter /")?;
    mount(
        None::<&str>,
        root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ctx(|| "cannot make the mount template read-only")
}

/// The init's way back to the host's namespace, for the clones of host
/// mounts the mount step makes (a mount of another namespace cannot be
/// cloned). Each clone is made when its entry is mounted, as in the copy:
/// mountinfo lists a namespace's mounts in the order they were made, which
/// tells clients which of two mounts on one mount point is on top.
pub struct Hop {
    host: OwnedFd,
    own: OwnedFd,
    /// The new root (the fresh tmpfs): setns(2) leaves the root at the
    /// namespace's.
    root: OwnedFd,
    /// The mount the rootfs lies on (its mount id), which runc makes
    /// private before it binds anything.
    rootfs_mount: u64,
    /// `rootfsPropagation` (rslave when unset).
    propagation: MsFlags,
}

impl Hop {
    /// `f` run in the host's mount namespace, with the host's root; back in
    /// the container's after it (also when it fails), the host procfs the
    /// working directory again.
    pub fn in_host<T>(&self, proc: &HostProc, f: impl FnOnce() -> Result<T>) -> Result<T> {
        setns(&self.host, CloneFlags::CLONE_NEWNS)
            .ctx(|| "cannot return to the host's mount namespace")?;
        let out = f();
        setns(&self.own, CloneFlags::CLONE_NEWNS)
            .ctx(|| "cannot return to the container's mount namespace")?;
        fchdir(self.root.as_raw_fd()).ctx(|| "cannot enter the new root")?;
        chroot(".").ctx(|| "cannot change root to the new root")?;
        proc.enter()?;
        out
    }

    /// Clone `source` (open on a host mount), with the mounts below it
    /// when `recursive`; true with it: the clone is of the mount the rootfs
    /// lies on. Call in [`Hop::in_host`].
    pub fn clone_host(
        &self,
        proc: &HostProc,
        source: BorrowedFd<'_>,
        recursive: bool,
        what: &Path,
    ) -> Result<(Detached, bool)> {
        let on_rootfs = mount_id(proc, source)? == self.rootfs_mount;
        Ok((Detached::clone_of(source, recursive, what)?, on_rootfs))
    }

    /// Once a clone is attached: the propagation runc's copy had.
    pub fn settle(
        &self,
        at: InHostProc<'_>,
        attached: &Attached,
        on_rootfs: bool,
        what: &Path,
    ) -> Result<()> {
        attached.propagate(at, &[self.propagation], what)?;
        if on_rootfs {
            attached.propagate(at, &[MsFlags::MS_PRIVATE], what)?;
        }
        Ok(())
    }
}

/// The mount id of the mount `fd` is on.
fn mount_id(proc: &HostProc, fd: BorrowedFd<'_>) -> Result<u64> {
    let info = proc
        .open_at(
            &format!("thread-self/fdinfo/{}", fd.as_raw_fd()),
            OFlag::O_RDONLY,
        )
        .ctx(|| "cannot read an fd's mount id")?;
    let text = std::io::read_to_string(std::fs::File::from(info))
        .ctx(|| "cannot read an fd's mount id")?;
    mount_id_in(&text)
}

fn mount_id_in(fdinfo: &str) -> Result<u64> {
    super::procfs::mount_id(fdinfo).ok_or_else(|| Error::Init("fdinfo has no mnt_id".into()))
}

/// What [`enter`] clones of the host before it leaves: the rootfs, with
/// the mounts below it, and the host's procfs, for the new root until
/// pivot_root (pathrs finds /proc/thread-self through the process's /proc,
/// as it did in the host's copy).
pub struct Clones {
    rootfs: Detached,
    proc: Detached,
    rootfs_mount: u64,
}

impl Clones {
    /// Err: take the copy instead, whose setup reports the failure as it
    /// always did.
    pub fn make(proc: &HostProc, rootfs: &Path) -> Result<Clones> {
        let root_dir = open_path(rootfs, libc::O_DIRECTORY)?;
        Ok(Clones {
            rootfs_mount: mount_id(proc, root_dir.as_fd())?,
            rootfs: Detached::clone_of(root_dir.as_fd(), true, rootfs)?,
            proc: Detached::clone_of(proc.fd(), false, Path::new("/proc"))?,
        })
    }
}

/// Steps 2 and 3 of the module doc: enter the template, make the
/// container's own namespace from it, and attach the rootfs at `rootfs`
/// with the propagation runc's rootfs bind has (`propagation`: the
/// rootfsPropagation, rslave when unset).
pub fn enter(
    template: OwnedFd,
    proc: &HostProc,
    rootfs: &Path,
    clones: Clones,
    propagation: MsFlags,
) -> Result<Hop> {
    let host = proc
        .open_at("thread-self/ns/mnt", OFlag::O_RDONLY)
        .ctx(|| "cannot open the host's mount namespace")?;
    setns(&template, CloneFlags::CLONE_NEWNS).ctx(|| "cannot enter the mount template")?;
    drop(template);
    unshare(CloneFlags::CLONE_NEWNS).ctx(|| "cannot create the container's mount namespace")?;
    let own = proc
        .open_at("thread-self/ns/mnt", OFlag::O_RDONLY)
        .ctx(|| "cannot open the container's mount namespace")?;
    let slash = Path::new("/");
    let under = open_path(slash, libc::O_DIRECTORY)?;
    let scratch = Detached::new_fs(
        "tmpfs",
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        &["mode=755".to_string()],
        slash,
    )?;
    let at = proc.enter()?;
    let scratch = scratch.attach(at, under.as_fd(), &Attrs::default(), slash)?;
    drop(under);
    fchdir(scratch.fd().as_raw_fd()).ctx(|| "cannot enter the new root")?;
    chroot(".").ctx(|| "cannot change root to the new root")?;
    let root = open_path(slash, libc::O_DIRECTORY)?;
    drop(scratch);
    let hop = Hop {
        host,
        own,
        root,
        rootfs_mount: clones.rootfs_mount,
        propagation,
    };
    let proc_dir = Path::new("/proc");
    let point = make_dir(proc_dir)?;
    let at = proc.enter()?;
    let host_proc = clones
        .proc
        .attach(at, point.as_fd(), &Attrs::default(), proc_dir)?;
    host_proc.propagate(at, &[MsFlags::MS_PRIVATE], proc_dir)?;
    // make_dir leaves the working directory (the host procfs) alone.
    let point = make_dir(rootfs)?;
    let attached = clones
        .rootfs
        .attach(at, point.as_fd(), &Attrs::default(), rootfs)?;
    hop.settle(at, &attached, true, rootfs)?;
    Ok(hop)
}

/// `path` made (with its parents) in the fresh root, and opened.
fn make_dir(path: &Path) -> Result<OwnedFd> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .ctx(|| format!("cannot create {}", path.display()))?;
    open_path(path, libc::O_DIRECTORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rt spec`'s document with `edit` applied, and whether it fits.
    fn fits_with(edit: impl FnOnce(&mut serde_json::Value), no_pivot: bool) -> bool {
        let mut doc: serde_json::Value =
            serde_json::from_str(include_str!("../container/default-config.json"))
                .expect("the default config");
        edit(&mut doc);
        let spec: Spec = serde_json::from_value(doc).expect("a spec");
        fits(&Fit {
            spec: &spec,
            rootfs: Path::new("/var/lib/b/rootfs"),
            new_mountns: true,
            in_userns: false,
            unshares: false,
            no_pivot,
            has_cgroups: true,
        })
    }

    fn add_mount(doc: &mut serde_json::Value, m: serde_json::Value) {
        if let Some(list) = doc["mounts"].as_array_mut() {
            list.push(m);
        }
    }

    #[test]
    fn the_default_spec_and_plain_binds_fit() {
        assert!(fits_with(|_| {}, false));
        assert!(fits_with(
            |d| add_mount(
                d,
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/srv/v", "options": ["rbind"]})
            ),
            false
        ));
        assert!(fits_with(
            |d| d["linux"]["rootfsPropagation"] = "rshared".into(),
            false
        ));
    }

    #[test]
    fn what_reads_host_paths_before_pivot_root_takes_the_copy() {
        assert!(!fits_with(|_| {}, true), "--no-pivot");
        assert!(!fits_with(
            |d| d["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/true"}]}),
            false
        ));
        assert!(!fits_with(
            |d| d["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true"}]}),
            false
        ));
        assert!(!fits_with(
            |d| add_mount(
                d,
                serde_json::json!({"destination": "/data", "type": "ext4", "source": "/dev/sdb1"})
            ),
            false
        ));
        assert!(
            !fits_with(
                |d| add_mount(
                    d,
                    serde_json::json!({"destination": "/h", "type": "bind", "source": "/var/lib", "options": ["rbind"]})
                ),
                false
            ),
            "an rbind of a directory above the rootfs"
        );
        assert!(!fits_with(
            |d| d["linux"]["rootfsPropagation"] = "slave".into(),
            false
        ));
    }
}
