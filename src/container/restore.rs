//! `rt restore`: bring a checkpointed container back with criu.
//!
//! rt does what `create` does up to the clone — claim the id, record the
//! state, make the cgroup with its limits — then lets criu build the rest
//! from the images: namespaces, mounts (each external bind mount mapped to
//! its source in the config, the cgroup mount to the new cgroup), processes.
//! The criu process is put in the container's cgroup before it restores
//! anything, and the cgroup is given to criu as the root of the dumped
//! cgroup tree (`cg_root`), so the restored tasks land in the container's
//! cgroup whatever path it had at dump time. With `rst_sibling` the restored
//! init becomes rt's child, as a created one is.
//!
//! criu needs the rootfs as a mount point to pivot into: rt binds it in a
//! mount namespace of its own (made private), so the bind vanishes with rt
//! and nothing is left in the host's mount table even if rt is killed.
//!
//! Whatever fails, restore undoes what it did (processes killed, cgroups and
//! state directory removed) before reporting the error; the state written
//! before criu runs names the cgroups, so `rt delete --force` cleans up after
//! a restore that was itself killed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::attach::{self, Signals};
use super::checkpoint::{self as ck, ExtKind, Meta};
use super::undo::Undo;
use crate::cgroups::{self, CgroupPaths, Layout};
use crate::criu::{self, rpc, Worker};
use crate::error::{Context, Error, Result};
use crate::logging;
use crate::state::{self, State, Status, Store};

#[derive(Default)]
pub struct RestoreOptions {
    pub id: String,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    /// A bundle whose config.json replaces the one saved in the images.
    pub bundle: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: criu builds the mount tree and
    /// always pivots into the root itself.
    pub no_pivot: bool,
    pub manage_cgroups_mode: Option<String>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
}

/// What restore made, for `migrate`.
pub struct Restored {
    pub pid: Pid,
    pub state: State,
}

pub fn restore(store: &Store, opts: &RestoreOptions) -> Result<i32> {
    let signals = if opts.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    let (restored, master) = restore_container(store, opts)?;
    let Some(signals) = signals else { return Ok(0) };
    // Attached, as `run`: forward signals, relay the terminal, return the
    // container's exit status, then delete it.
    let result = attach::supervise(restored.pid, &signals.fd, master.as_ref());
    let cleanup = super::delete::delete(store, &opts.id, true);
    let code = result?;
    cleanup?;
    Ok(code)
}

/// Restore and record the container; returns it and, when rt holds the
/// terminal itself (attached, no console socket), the pty master.
pub fn restore_container(
    store: &Store,
    opts: &RestoreOptions,
) -> Result<(Restored, Option<OwnedFd>)> {
    state::validate_id(&opts.id)?;
    let empty_netns = ck::empty_ns(&opts.empty_ns)?;
    let mode = ck::cgroups_mode(opts.manage_cgroups_mode.as_deref().unwrap_or("soft"))?;
    // First: criu reaches the directories below through our fds and
    // mounts inside them (its cgroup yard), which works only in the mount
    // namespace the fds were opened in.
    private_mount_namespace()?;
    let images = ck::open_dir(&opts.image_path, false)?;
    let work_dir = opts
        .work_path
        .clone()
        .unwrap_or_else(|| opts.image_path.clone());
    let work = ck::open_dir(&work_dir, true)?;
    ck::check_parents(&opts.image_path)?;
    let meta = ck::read_meta(&images, &opts.image_path)?;
    let log = work_dir.join("restore.log");
    let (bundle_dir, rootfs, spec) = match &opts.bundle {
        Some(b) => {
            let b = crate::spec::load(b)?;
            (b.dir, b.rootfs, b.spec)
        }
        None => (
            meta.state.bundle.clone(),
            meta.state.rootfs.clone(),
            meta.state.config.clone(),
        ),
    };
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Config("linux section is missing".into()))?;
    let console = match (meta.terminal, &opts.console_socket, opts.detach) {
        (true, Some(path), _) => Some(
            UnixStream::connect(path)
                .ctx(|| format!("cannot connect to console socket {}", path.display()))?,
        ),
        (true, None, true) => {
            return Err(Error::Usage(
                "the checkpoint has a terminal: --console-socket is required with --detach".into(),
            ))
        }
        _ => None,
    };
    let place = cgroups::placement(linux.cgroups_path().as_deref(), &opts.id, false)?;
    let criu = criu::locate()?;
    let (driver, mut cg) = place.plan(&Layout::detect()?);
    let ext_mnt = external_mount_sources(&meta, &spec, &bundle_dir, &cg)?;
    let netns = match (meta.external_netns, netns_path(&spec)) {
        (true, Some(p)) => Some(inheritable(&p)?),
        (true, None) => {
            return Err(Error::Config(
                "the checkpoint joined a network namespace by path; the config names none".into(),
            ))
        }
        _ => None,
    };

    let locked = store.claim(&opts.id)?;
    let mut guard = Undo::new(store, &opts.id, driver.clone());
    // The cgroups held nothing before criu ran (checked below): whatever
    // is there after a failure is a half-restored task.
    guard.sweep_cgroups = true;
    // The guard kills whatever is in the cgroup when restore fails: it must
    // hold nothing but what criu restores. After the claim, as in create.
    cg.check_unused()?;
    let mut st = super::create::initial_state(
        &opts.id,
        &bundle_dir,
        &rootfs,
        meta.state.owner.clone(),
        &spec,
        &cg,
    );
    // Saved before the first cgroup exists, as create does: a restore
    // killed from here on leaves what `delete --force` needs.
    store.save(&st)?;
    let made = driver.create(
        &mut cg,
        linux
            .resources()
            .as_ref()
            .unwrap_or(&oci_spec::runtime::LinuxResources::default()),
        super::create::rootless_cgroups(matches!(driver, crate::cgroups::Driver::Systemd { .. })),
    );
    guard.cgroups = Some(cg.clone());
    made?;
    st.cgroups = cg.clone();
    store.save(&st)?;

    let root = locked.dir.join("criu-root");
    std::fs::create_dir(&root).ctx(|| format!("cannot create {}", root.display()))?;
    guard.root = Some(root.clone());
    mount(
        Some(&rootfs),
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("cannot bind the rootfs {} for criu", rootfs.display()))?;
    make_mount_points(&rootfs, &spec, &bundle_dir)?;

    // The restored init gets rt's stdio where it had a pipe or a host file
    // or terminal. criu gets copies at other numbers (dup(2) leaves
    // close-on-exec off, so they survive its exec), not as its own stdio:
    // what criu and libnftables print must not reach the container's.
    let mut handed = Vec::new();
    for s in &meta.stdio {
        let key = match &s.external {
            Some(k) => k.clone(),
            None if s.link.starts_with("pipe:") => s.link.clone(),
            None => continue,
        };
        let copy = crate::syscall::dup_inherited(s.fd)
            .ctx(|| format!("cannot duplicate fd {} for criu", s.fd))?;
        handed.push((key, copy));
    }
    let worker = Worker::spawn(&criu, "restore")?;
    // Restored tasks are forked by criu: they start in its cgroup.
    driver.enter(&cg, worker.pid())?;
    let mut o = criu::base_opts(&images, &work, "restore.log", spec.annotations().as_ref());
    o.set_root(root.to_string_lossy().into_owned());
    o.set_rst_sibling(true);
    // criu 3.17's new mount engine restores a mount that was a slave of a
    // host mount (an external bind, the cgroup mount) by copying the peer
    // group from its source, which the kernel allows only from a mount
    // root that is shared or a slave (MOVE_MOUNT_SET_GROUP): never true of
    // a bind source directory. The old engine binds external mounts as
    // they are.
    o.set_mntns_compat_mode(true);
    o.set_evasive_devices(true);
    o.set_notify_scripts(true);
    o.set_manage_cgroups(true);
    o.set_manage_cgroups_mode(mode);
    for (ctrl, path) in cgroup_roots(worker.pid())? {
        let mut r = rpc::Cgroup_root::new();
        if !ctrl.is_empty() {
            r.set_ctrl(ctrl);
        }
        r.set_path(path);
        o.cg_root.push(r);
    }
    o.set_orphan_pts_master(meta.terminal);
    o.set_tcp_established(opts.tcp_established || meta.tcp_established);
    o.set_ext_unix_sk(opts.ext_unix_sk || meta.ext_unix_sk);
    o.set_shell_job(opts.shell_job || meta.shell_job);
    o.set_file_locks(opts.file_locks || meta.file_locks);
    o.set_auto_dedup(opts.auto_dedup);
    o.set_lazy_pages(opts.lazy_pages);
    o.set_network_lock(ck::lock_method(&meta.network_lock));
    if empty_netns || meta.empty_netns {
        o.set_empty_ns(libc::CLONE_NEWNET as u32);
    }
    for (key, val) in ext_mnt {
        let mut e = rpc::Ext_mount_map::new();
        e.set_key(key);
        e.set_val(val);
        o.ext_mnt.push(e);
    }
    for (key, fd) in &handed {
        let mut i = rpc::Inherit_fd::new();
        i.set_key(key.clone());
        i.set_fd(fd.as_raw_fd());
        o.inherit_fd.push(i);
    }
    if let Some(ns) = &netns {
        let mut i = rpc::Inherit_fd::new();
        i.set_key(ck::EXT_NETNS.into());
        i.set_fd(ns.as_raw_fd());
        o.inherit_fd.push(i);
    }

    let keep_master = meta.terminal && console.is_none();
    // The lock table criu made at dump time, in a namespace it dumped.
    let stale_lock =
        (meta.network_lock == "nftables" && !meta.external_netns && own_netns(&meta.state.config))
            .then(|| format!("CRIU-{}", meta.state.pid));
    let mut master: Option<OwnedFd> = None;
    let mut hook_state = st.clone();
    let resp = {
        // Not every notification names the restored root (network-unlock
        // does not): remember it from those that do.
        let mut root_pid = 0;
        let mut on_notify = |script: &str, pid: i32, fd: Option<OwnedFd>| -> Result<()> {
            if pid > 0 {
                root_pid = pid;
            }
            let pid = root_pid;
            match script {
                // Namespaces exist, processes not yet: where runc runs
                // prestart and createRuntime hooks.
                "setup-namespaces" => {
                    hook_state.pid = pid;
                    crate::hooks::run_runtime_hooks(&hook_state, Status::Created)
                }
                "orphan-pts-master" => {
                    let fd = fd.ok_or_else(|| Error::Init("criu sent no pty master".into()))?;
                    if let Some(sock) = &console {
                        send_master(sock, &fd)?;
                    } else if keep_master {
                        master = Some(fd);
                    }
                    Ok(())
                }
                // The tasks are restored, not yet resumed: the moment to
                // lift the lock criu 3.17 restored with the namespace's
                // rules (see criu::delete_nft_table).
                "network-unlock" if stale_lock.is_some() => {
                    if let Some(name) = &stale_lock {
                        match criu::delete_nft_table(pid, name) {
                            Ok(_) => {}
                            Err(e) => logging::warn(&format!(
                                "the restored network may stay blocked: {e}"
                            )),
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        };
        worker.call(
            &criu::request(rpc::Criu_req_type::RESTORE, Some(o)),
            &mut on_notify,
        )?
    };
    drop(netns);
    drop(handed);
    if !resp.success() {
        if criu::kernel_unsupported(&log) {
            if let Some(e) = criu::host_unsupported(&criu) {
                return Err(e);
            }
        }
        return Err(Error::Criu {
            op: "restore",
            why: criu::explain(&resp, &log),
        });
    }
    let pid = Pid::from_raw(resp.restore.pid());
    guard.pid = Some(pid);
    st.pid = pid.as_raw();
    st.pid_start_time = state::process_start_time(pid.as_raw()).unwrap_or(0);
    if st.pid_start_time == 0 {
        return Err(Error::Init(format!(
            "the restored init (pid {pid}) is already gone"
        )));
    }
    // No exec fifo: the restored container is running (State::status).
    st.phase = Status::Created;
    store.save(&st)?;
    guard.unmount_root();
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
    {
        crate::hooks::run_logged("poststart", &h, &st, Status::Running);
    }
    guard.disarm();
    logging::debug(&format!("restored container {} with init pid {pid}", st.id));
    Ok((Restored { pid, state: st }, master))
}

/// The config creates a network namespace (criu dumped it with its rules).
fn own_netns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
}

/// rt's own mount namespace, cut from the host's propagation, so the
/// rootfs bind for criu never shows (or stays) on the host.
fn private_mount_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .ctx(|| "cannot create a mount namespace for the restore")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "cannot make / private")
}

/// criu's `cg_root`s: the cgroup criu's process is in, per hierarchy
/// (controllers as /proc/<pid>/cgroup names them; "" for cgroup v2).
fn cgroup_roots(pid: i32) -> Result<Vec<(String, String)>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).ctx(|| format!("cannot read {path}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            let ctrl = f.next()?;
            let path = f.next()?;
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect())
}

/// For each mount criu dumped as external: (key, source on this host).
fn external_mount_sources(
    meta: &Meta,
    spec: &Spec,
    bundle: &Path,
    cg: &CgroupPaths,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for m in &meta.ext_mounts {
        ck::criu_key(&m.dest)?;
        let src = match &m.kind {
            ExtKind::Bind => {
                let found = spec
                    .mounts()
                    .iter()
                    .flatten()
                    .find(|x| ck::is_bind(x) && ck::clean_dest(x.destination()) == m.dest);
                let x = found.ok_or_else(|| {
                    Error::Config(format!(
                        "the checkpoint has a bind mount at {}; the config has none there",
                        m.dest
                    ))
                })?;
                let s = x
                    .source()
                    .clone()
                    .ok_or_else(|| Error::Config(format!("mount {}: source is missing", m.dest)))?;
                if s.is_absolute() {
                    s
                } else {
                    bundle.join(s)
                }
            }
            ExtKind::Cgroup { hierarchy: None } => cg
                .dirs
                .first()
                .cloned()
                .ok_or_else(|| Error::Init("the container has no cgroup".into()))?,
            ExtKind::Cgroup {
                hierarchy: Some(name),
            } => cg
                .dirs
                .iter()
                .find(|d| {
                    cg.hierarchy_name(d)
                        .is_ok_and(|n| n.to_string_lossy() == name.as_str())
                })
                .cloned()
                .ok_or_else(|| Error::Init(format!("no {name} cgroup hierarchy on this host")))?,
        };
        // The cgroup is made later, by restore itself.
        if m.kind == ExtKind::Bind && !src.exists() {
            return Err(Error::Config(format!(
                "mount {}: source {} does not exist",
                m.dest,
                src.display()
            )));
        }
        out.push((m.dest.clone(), src.to_string_lossy().into_owned()));
    }
    Ok(out)
}

fn netns_path(spec: &Spec) -> Option<PathBuf> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)?
        .path()
        .clone()
}

/// Open `path` for criu to inherit by fd number.
fn inheritable(path: &Path) -> Result<std::fs::File> {
    let f = std::fs::File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    criu::set_inheritable(f.as_raw_fd(), true)?;
    Ok(f)
}

/// criu mounts onto the mount points in the rootfs: those of bind mounts
/// may be missing when the bundle is not the one dumped (another host).
fn make_mount_points(rootfs: &Path, spec: &Spec, bundle: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let root =
        pathrs::Root::open(rootfs).ctx(|| format!("cannot open rootfs {}", rootfs.display()))?;
    for m in spec.mounts().iter().flatten().filter(|m| ck::is_bind(m)) {
        let dest = ck::clean_dest(m.destination());
        if root.resolve(&dest).is_ok() {
            continue;
        }
        let src = m
            .source()
            .clone()
            .map(|s| if s.is_absolute() { s } else { bundle.join(s) });
        let is_file = src
            .as_ref()
            .and_then(|s| std::fs::metadata(s).ok())
            .is_some_and(|md| !md.is_dir());
        let dest = Path::new(&dest);
        if is_file {
            if let Some(parent) = dest.parent() {
                root.mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
                    .ctx(|| format!("cannot create {}", parent.display()))?;
            }
            root.create_file(
                dest,
                pathrs::flags::OpenFlags::O_CREAT | pathrs::flags::OpenFlags::O_CLOEXEC,
                &std::fs::Permissions::from_mode(0o644),
            )
            .ctx(|| format!("cannot create mount point {}", dest.display()))?;
        } else {
            root.mkdir_all(dest, &std::fs::Permissions::from_mode(0o755))
                .ctx(|| format!("cannot create mount point {}", dest.display()))?;
        }
    }
    Ok(())
}

/// The console-socket protocol (as in init/terminal.rs): one SCM_RIGHTS
/// message carrying the master.
fn send_master(sock: &UnixStream, master: &OwnedFd) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(b"/dev/ptmx")],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .ctx(|| "cannot send the pty master over the console socket")
}
