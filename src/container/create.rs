//! `rt create`: validate the bundle, claim the id, make the cgroup, clone
//! the init process into its namespaces and wait until it reports Ready.
//!
//! Whatever fails, `create` undoes what it did (init killed, cgroups and
//! state directory removed) before it reports the error. If `create` itself
//! is killed, the state written right after clone names the init pid and the
//! cgroups, so `rt delete --force` can clean up.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use super::undo::Undo;
use crate::cgroups::{self, CgroupPaths, Driver, Layout};
use crate::error::{Context, Error, Result};
use crate::fault;
use crate::init::{self, Channel, ConsoleSocket, InitArgs, Msg, NamespacePlan};
use crate::logging;
use crate::spec;
use crate::state::{self, Locked, State, Status, Store, EXEC_FIFO};
use crate::syscall::{self, Forked};

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    /// Keep the caller's session keyring (see `init::keyring`).
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// `--systemd-cgroup`: the container's cgroup is a systemd scope (see
    /// `cgroups::systemd`).
    pub systemd_cgroup: bool,
    /// Used by `run` to receive the pty master itself.
    pub console_fd: Option<OwnedFd>,
    /// `--pidfd-socket`: where a pidfd of the init goes once it is ready.
    pub pidfd_socket: Option<PathBuf>,
    /// `--rootless`: cgroups the caller may not make are skipped (the
    /// container runs in the caller's cgroup, without limits) instead of
    /// failing create; see [`rootless_cgroups`].
    pub rootless_cgroups: bool,
}

/// `--rootless auto`, decided as runc decides it: a caller other than root,
/// or root of a user namespace without the systemd driver, may lack the
/// right to make cgroups; the real root has it.
pub fn rootless_cgroups(systemd: bool) -> bool {
    rootless() || (in_user_namespace() && !systemd)
}

/// Whether rt runs in a user namespace other than the host's: the
/// initial one maps every id to itself.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// What `run` needs to supervise a container it created.
pub struct Created {
    pub pid: Pid,
    pub state: State,
    /// Still held: `run` starts the container before anyone else can.
    pub lock: Locked,
}

/// prepare → claim → spawn → handshake → commit: each stage below says what
/// it does and why it comes where it does. Nothing is made before `claim`;
/// from there on the [`Undo`] guard removes whatever a failure leaves.
pub fn create(store: &Store, mut opts: CreateOptions) -> Result<Created> {
    let plan = prepare(&mut opts)?;
    let mut c = claim(store, &opts, plan)?;
    spawn(&mut c).map_err(|e| start_failed(false, e))?;
    handshake(&mut c).map_err(|e| start_failed(true, e))?;
    commit(c, &opts)
}

/// What `create` works out from the bundle and the options before anything
/// is made: a config that cannot work fails here, with nothing to undo
/// (the seccomp profile is compiled, the namespace files are opened, the
/// console and pidfd sockets connected).
struct Plan {
    spec: oci_spec::runtime::Spec,
    bundle: spec::Bundle,
    namespaces: NamespacePlan,
    console: Option<ConsoleSocket>,
    pidfd_socket: Option<UnixStream>,
    resctrl: Option<PathBuf>,
    seccomp: Option<crate::seccomp::Seccomp>,
    driver: Driver,
    cgroups: CgroupPaths,
}

fn prepare(opts: &mut CreateOptions) -> Result<Plan> {
    state::validate_id(&opts.id)?;
    let mut bundle = spec::load(&opts.bundle)?;
    let spec = std::mem::take(&mut bundle.spec);
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Config("linux section is missing".into()))?;
    if let Some(sysctl) = linux.sysctl() {
        let namespaces = linux.namespaces().as_deref().unwrap_or_default();
        init::check_sysctl(sysctl, namespaces).map_err(Error::Config)?;
    }
    let namespaces = NamespacePlan::new(linux.namespaces().as_deref().unwrap_or_default())?;
    init::check_joined_sysctl(linux.sysctl().as_ref(), &namespaces)?;
    if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        crate::netdev::check(devices, namespaces.has(LinuxNamespaceType::Network))?;
        // Moving a host device needs the host's CAP_NET_ADMIN (runc's rule).
        if rootless() || opts.rootless_cgroups {
            return Err(Error::Config(
                "network devices are not supported for rootless containers".into(),
            ));
        }
    }
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let pidfd_socket = opts
        .pidfd_socket
        .as_deref()
        .map(super::pidfd_socket::connect)
        .transpose()?;
    let console = match (terminal, opts.console_fd.take(), &opts.console_socket) {
        (true, Some(fd), _) => Some(ConsoleSocket {
            fd,
            relayed_by_rt: true,
        }),
        (true, None, Some(path)) => Some(ConsoleSocket {
            fd: connect_console(path)?,
            relayed_by_rt: false,
        }),
        (true, None, None) => {
            return Err(Error::Usage(
                "process.terminal is set: --console-socket is required".into(),
            ))
        }
        (false, _, _) => None,
    };
    if let Some(p) = spec.process() {
        // On the host: the init, past pivot_root, would read the
        // container's /sys.
        init::check_lsm(
            p.apparmor_profile().as_deref(),
            p.selinux_label().as_deref(),
        )?;
    }
    let place = cgroups::placement(
        linux.cgroups_path().as_deref(),
        &opts.id,
        opts.systemd_cgroup,
    )?;
    let resctrl = crate::intelrdt::check(linux.intel_rdt().as_ref())?;
    // A bad profile costs no cgroup and no clone.
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;
    let (driver, cgroups) = place.plan(&Layout::detect()?);
    Ok(Plan {
        spec,
        bundle,
        namespaces,
        console,
        pidfd_socket,
        resctrl,
        seccomp,
        driver,
        cgroups,
    })
}

/// A container being made, from the claimed id to Ready: what is made so
/// far is in `undo`.
struct Making<'a> {
    store: &'a Store,
    id: &'a str,
    /// Held until `commit` hands it to the caller (taken by the child
    /// side of `spawn`).
    locked: Option<Locked>,
    undo: Undo<'a>,
    st: State,
    driver: Driver,
    resources: oci_spec::runtime::LinuxResources,
    /// Taken by `spawn`.
    init_args: Option<InitArgs>,
    /// What `handshake` needs to make the idmapped trees the init asks for.
    idmap_at_mount_time: init::IdmapAtMountTime,
    namespaces_unshared_by_init: bool,
    new_userns: bool,
    own_time_ns: Option<std::fs::File>,
    clone_flags: libc::c_int,
    resctrl: Option<PathBuf>,
    pidfd_socket: Option<UnixStream>,
    /// The parent's end of the sync socket (taken by the stage that uses
    /// it, put back for the next).
    chan: Option<Channel>,
    /// The container's process: the init, or once it forked into its pid
    /// namespace, its child.
    pid: Pid,
}

/// Claim the id (from here on, `undo` cleans up), then make what the init
/// needs before it exists: the state (saved before the first cgroup
/// directory, so that a killed create leaves what `delete --force`
/// needs), the cgroups with their limits (no process in them yet), the
/// exec fifo, and the init's arguments.
fn claim<'a>(store: &'a Store, opts: &'a CreateOptions, plan: Plan) -> Result<Making<'a>> {
    let Plan {
        spec,
        bundle,
        namespaces,
        console,
        pidfd_socket,
        resctrl,
        seccomp,
        driver,
        cgroups: mut cg,
    } = plan;
    let locked = store.claim(&opts.id)?;
    let mut undo = Undo::new(store, &opts.id, driver.clone());
    // After the claim: a create that lost a race for the id must say so,
    // not that the winner's cgroup is in use.
    cg.check_unused()?;
    fault::point("create:claimed")?;

    let mut st = initial_state(&opts.id, &bundle.dir, &bundle.rootfs, owner(), &spec, &cg);
    st.no_new_keyring = opts.no_new_keyring;
    store.save(&st)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let resources = linux.resources().clone().unwrap_or_default();
    let created = driver.create(&mut cg, &resources, opts.rootless_cgroups);
    undo.cgroups = Some(cg.clone());
    created?;
    if cg.dirs.is_empty() && !st.cgroups.dirs.is_empty() {
        // Rootless without cgroups (see Driver::create): the directories
        // the state names are gone.
        st.cgroups = cg.clone();
        store.save(&st)?;
    }
    fault::point("create:cgroups")?;

    let fifo_path = locked.dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .ctx(|| format!("cannot create {}", fifo_path.display()))?;
    // Read-write, so that opening it never blocks: the init waits on it for
    // `start` without a path or procfs of the host (init Step::WaitStart).
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&fifo_path)
        .ctx(|| format!("cannot open {}", fifo_path.display()))?;

    // Saved with the pid, after clone: until then the state saved above
    // names every directory made.
    st.cgroups = cg.clone();
    // The init makes them itself after its joins (init Step::Unshare).
    let unshares = namespaces.unshares();
    let mut flags = if unshares {
        nix::sched::CloneFlags::empty()
    } else {
        namespaces.new
    };
    // The init creates its cgroup namespace itself once it is in its cgroup.
    flags.remove(init::clone_flag(LinuxNamespaceType::Cgroup));
    // Offsets can only be written before any process enters a new time
    // namespace: rt makes it the one its children get (see `spawn`).
    let new_time_ns = namespaces.creates(LinuxNamespaceType::Time);
    if new_time_ns {
        flags.remove(init::clone_flag(LinuxNamespaceType::Time));
    }
    let new_userns = namespaces.creates(LinuxNamespaceType::User);
    let in_userns = namespaces.has(LinuxNamespaceType::User) || in_user_namespace();
    // The init's mount namespace made from the mount template, not copied
    // from ours (see init::template): it creates it itself.
    let fits_template = init::template_fits(&init::TemplateFit {
        spec: &spec,
        rootfs: &bundle.rootfs,
        new_mountns: namespaces.creates(LinuxNamespaceType::Mount)
            && !namespaces.joins(LinuxNamespaceType::Mount),
        in_userns,
        unshares,
        no_pivot: opts.no_pivot,
        has_cgroups: !cg.dirs.is_empty(),
    });
    let mount_template = fits_template.then(init::open_mount_template).flatten();
    if mount_template.is_some() {
        flags.remove(init::clone_flag(LinuxNamespaceType::Mount));
    }
    // Before clone: the init inherits the trees made on the host, and
    // asks for the others at mount time (see init::idmap).
    let idmapped = init::prepare_idmapped(
        spec.mounts().as_deref().unwrap_or_default(),
        spec.linux().as_ref(),
        &bundle.dir,
        &bundle.rootfs,
        namespaces.joins(LinuxNamespaceType::Mount),
    )?;
    let own_time_ns = if new_time_ns {
        Some(enter_time_namespace(linux.time_offsets().as_ref())?)
    } else {
        None
    };
    let (chan, child_end) = init::sync_pair()?;
    let init_args = InitArgs {
        idmapped: idmapped.trees.into(),
        spec,
        rootfs: bundle.rootfs,
        bundle: bundle.dir,
        sync: child_end,
        fifo: fifo.into(),
        console,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        namespaces,
        cgroup_tasks: driver.tasks(&cg),
        in_userns,
        cgroups: cg,
        seccomp: seccomp.into(),
        session_keyring: (!opts.no_new_keyring).then(|| init::session_keyring_name(&opts.id)),
        rootless_maps: new_userns && rootless(),
        mount_template: mount_template.into(),
    };
    Ok(Making {
        store,
        id: &opts.id,
        locked: Some(locked),
        undo,
        st,
        driver,
        resources,
        init_args: Some(init_args),
        idmap_at_mount_time: idmapped.at_mount_time,
        namespaces_unshared_by_init: unshares,
        new_userns,
        own_time_ns,
        clone_flags: flags.bits(),
        resctrl,
        pidfd_socket,
        chan: Some(chan),
        pid: Pid::from_raw(0),
    })
}

/// Clone the init into its namespaces and cgroup, and do what only the
/// parent can before the init may go on: intelRdt, the cgroup the kernel
/// would not clone it into (or systemd's scope), the uid/gid maps. `Go` is
/// queued before clone when there is nothing to do in between, so the init
/// starts setting up at once.
fn spawn(c: &mut Making<'_>) -> Result<()> {
    let mut args = c
        .init_args
        .take()
        .ok_or_else(|| Error::Init("the init's arguments were taken".into()))?;
    let mut chan = c
        .chan
        .take()
        .ok_or_else(|| Error::Init("no sync socket to the init".into()))?;
    let config_linux = c.st.config.linux().clone().unwrap_or_default();
    let maps_after_clone = c.new_userns && !c.namespaces_unshared_by_init;
    // Born in its cgroup2 directory; where the kernel refuses (a v2 parent
    // with processes of its own, an old kernel), rt moves it after clone.
    let into = c.driver.clone_target(&c.st.cgroups)?;
    let mut go_sent = !maps_after_clone && c.resctrl.is_none() && !c.driver.acts_after_clone();
    if go_sent {
        tell(&chan, &Msg::Go)?;
    }
    let flags = c.clone_flags;
    let forked = match into
        .as_ref()
        .map(|fd| syscall::clone3_process(flags as u64, Some(std::os::fd::AsFd::as_fd(fd))))
    {
        Some(Ok(f)) => Ok((f, true)),
        refused => {
            if refused.is_some() && go_sent {
                // Not born in its cgroup2 directory: the init must wait
                // until rt has moved it, on a socket without the early Go.
                let (p, ch) = init::sync_pair()?;
                chan = p;
                args.sync = ch;
                go_sent = false;
            }
            syscall::clone_process(flags).map(|f| (f, false))
        }
    };
    // Back in the parent's time namespace for its later children (a clone
    // that failed included); the child stays where it was born.
    let child_side = matches!(forked, Ok((Forked::Child, _)));
    if let (false, Some(own)) = (child_side, &c.own_time_ns) {
        nix::sched::setns(own, init::clone_flag(LinuxNamespaceType::Time))
            .ctx(|| "cannot return to rt's time namespace")?;
    }
    let (forked, born_in_cgroup) = forked.ctx(|| "cannot clone the container process")?;
    let pid = match forked {
        Forked::Child => {
            // The lock's open file description is shared with the parent:
            // keeping it here would hold the container lock until exec,
            // and unlocking it would release the parent's.
            if let Some(locked) = c.locked.take() {
                locked.close_in_child();
            }
            drop(chan);
            init::run(args)
        }
        Forked::Parent(pid) => pid,
    };
    drop(args);
    c.pid = pid;
    c.undo.pid = Some(pid);
    c.st.pid = pid.as_raw();
    c.st.pid_start_time = state::process_start_time(pid.as_raw()).unwrap_or(0);
    if let (Some(root), Some(rdt)) = (&c.resctrl, config_linux.intel_rdt().as_ref()) {
        c.st.intel_rdt = crate::intelrdt::apply(root, rdt, &c.st.id, pid.as_raw())?;
        c.undo.intel_rdt = c.st.intel_rdt.clone();
    }
    // Into its cgroup2 directory: born there, moved by rt, or put into its
    // new scope by systemd. The init joins its v1 cgroups itself (init
    // Step::WaitParent).
    c.driver.adopt(
        &c.st.cgroups,
        pid.as_raw(),
        born_in_cgroup,
        &c.st.id,
        &c.resources,
    )?;
    if maps_after_clone {
        write_id_maps(pid, &config_linux)?;
    }
    if !go_sent {
        tell(&chan, &Msg::Go)?;
    }
    // The pid is saved while the init sets up: should rt die before the
    // save, the init finds the socket closed at its next step and exits.
    c.store.save(&c.st)?;
    fault::point("create:cloned")?;
    if !c.namespaces_unshared_by_init {
        move_net_devices(&c.st, pid)?;
    }
    c.chan = Some(chan);
    Ok(())
}

/// Serve the init until it is Ready: the hooks rt runs (prestart,
/// createRuntime) once the mounts are done, the maps and devices of
/// namespaces the init made itself, bind sources only the host's root can
/// open and idmapped trees made at mount time (both in the mount namespace
/// the init sends with its request); and Forked when the init forks into
/// its pid namespace (joined, or made at init Step::Unshare). Ready and Forked come from two processes,
/// in either order; EOF once both are done: then nothing of rt's but the
/// exec fifo is open in the container.
fn handshake(c: &mut Making<'_>) -> Result<()> {
    let chan = c
        .chan
        .take()
        .ok_or_else(|| Error::Init("no sync socket to the init".into()))?;
    let mut ready = false;
    loop {
        match chan.recv_with_fd()? {
            Some((Msg::MountsDone, _)) => {
                // The runtime spec defines `created` as "after step 2 in the
                // lifecycle" (the environment is built) and these hooks are
                // steps 3-5, so their state says `created`, as crun's does
                // and the runtime-tools suite (hooks_stdin) checks. runc
                // sends `creating`; no client we know reads the status here
                // (hooks read id, pid, bundle, annotations).
                crate::hooks::run_runtime_hooks(&c.st, Status::Created)?;
                let json =
                    String::from_utf8_lossy(&crate::hooks::state_json(&c.st, Status::Created))
                        .into_owned();
                tell(&chan, &Msg::Continue(json))?;
            }
            Some((Msg::Unshared, _)) => {
                // The init's new namespaces exist: its maps and devices.
                if c.new_userns {
                    let linux = c.st.config.linux().clone().unwrap_or_default();
                    write_id_maps(c.pid, &linux)?;
                }
                move_net_devices(&c.st, c.pid)?;
                tell(&chan, &Msg::Go)?;
            }
            Some((Msg::MountSource(index), Some(mnt_ns))) => {
                let mounts = c.st.config.mounts().as_deref().unwrap_or_default();
                match init::open_bind_source(mounts, &c.st.bundle, index, &mnt_ns) {
                    Some(Ok(fd)) => chan.send_with_fd(&Msg::SourceOpened, fd.as_fd())?,
                    Some(Err(e)) => tell(&chan, &Msg::SourceRefused(e.to_string()))?,
                    None => tell(&chan, &Msg::SourceRefused(String::new()))?,
                }
            }
            Some((Msg::IdmappedSource(index), Some(mnt_ns))) => {
                let mounts = c.st.config.mounts().as_deref().unwrap_or_default();
                let made = c
                    .idmap_at_mount_time
                    .make(mounts, &c.st.bundle, index, &mnt_ns);
                match made {
                    Ok(tree) => chan.send_with_fd(&Msg::SourceOpened, tree.as_fd())?,
                    Err(e) => tell(&chan, &Msg::SourceRefused(e.to_string()))?,
                }
            }
            Some((Msg::Ready(timings), _)) => {
                log_steps(c.id, &timings);
                ready = true;
            }
            Some((Msg::Forked(child), _)) => {
                // The first init is done; the container's process is its
                // child, born in its pid namespace, and ours.
                let _ = waitpid(c.pid, None);
                c.pid = Pid::from_raw(child);
                c.undo.pid = Some(c.pid);
                c.st.pid = c.pid.as_raw();
                c.st.pid_start_time = state::process_start_time(c.pid.as_raw()).unwrap_or(0);
                c.store.save(&c.st)?;
            }
            Some((Msg::Failed(step, msg), _)) => return Err(init_failed(c.id, &step, msg)),
            Some((other, _)) => {
                return Err(Error::Init(format!(
                    "unexpected {other:?} from the container's init"
                )))
            }
            None if ready => return Ok(()),
            None => {
                return Err(Error::Init(format!(
                    "container init exited during setup ({})",
                    exit_text(c.pid)
                )))
            }
        }
    }
}

/// The container is made: its pidfd to `--pidfd-socket`, the state says
/// `created`, the pid file is written, and nothing is undone any more.
fn commit(mut c: Making<'_>, opts: &CreateOptions) -> Result<Created> {
    if let Some(sock) = &c.pidfd_socket {
        super::pidfd_socket::send(sock, c.pid, super::pidfd_socket::Kind::Init)?;
    }
    fault::point("create:ready")?;
    c.st.phase = Status::Created;
    c.store.save(&c.st)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, c.pid)?;
    }
    let lock = c
        .locked
        .take()
        .ok_or_else(|| Error::Init("the container's lock was lost".into()))?;
    c.undo.disarm();
    logging::debug(&format!(
        "created container {} with init pid {}",
        c.st.id, c.pid
    ));
    Ok(Created {
        pid: c.pid,
        state: c.st,
        lock,
    })
}

/// Send `msg` to the init. If it has gone, the report it left on the
/// socket says why; EPIPE would not.
fn tell(chan: &Channel, msg: &Msg) -> Result<()> {
    chan.send(msg).map_err(|e| match e {
        Error::Sys {
            errno: nix::Error::EPIPE | nix::Error::ECONNRESET,
            ..
        } => match chan.recv() {
            Ok(Some(Msg::Failed(_, why))) => Error::Init(why),
            _ => e,
        },
        e => e,
    })
}

/// The state of a container about to get its cgroups and init (create and
/// restore): it names every cgroup directory that may be made, so that
/// `delete --force` can clean up after a killed rt.
pub(crate) fn initial_state(
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    owner: String,
    spec: &oci_spec::runtime::Spec,
    cg: &CgroupPaths,
) -> State {
    let own_pid_ns = spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none());
    State {
        id: id.to_string(),
        phase: Status::Creating,
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        created: state::now_rfc3339(),
        owner,
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroups: CgroupPaths {
            created: missing_dirs(cg),
            ..cg.clone()
        },
        own_pid_ns,
        intel_rdt: Default::default(),
        no_new_keyring: false,
        config: spec.clone(),
    }
}

/// The directories `cg.create()` is about to make: each missing leaf and
/// its missing parents, parents first.
pub(crate) fn missing_dirs(cg: &CgroupPaths) -> Vec<PathBuf> {
    let root = cgroups::at::Root::open();
    let mut out = Vec::new();
    for dir in cg.dirs.iter().filter(|d| !cg.made_by_systemd(d)) {
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|d| !cgroups::at::exists(root.as_ref(), d))
            .collect();
        out.extend(missing.into_iter().rev().map(Path::to_path_buf));
    }
    out
}

/// `linux.netDevices`, into the network namespace of the init `pid`.
fn move_net_devices(st: &State, pid: Pid) -> Result<()> {
    let Some(linux) = st.config.linux() else {
        return Ok(());
    };
    match linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        Some(devices) => crate::netdev::move_into(devices, &container_netns(linux, pid)?),
        None => Ok(()),
    }
}

/// The network namespace the init is in, or will join.
fn container_netns(linux: &oci_spec::runtime::Linux, pid: Pid) -> Result<std::fs::File> {
    let ns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network);
    let path = match ns {
        None => {
            return Err(Error::Config(
                "linux.netDevices needs a network namespace".into(),
            ))
        }
        Some(n) => n
            .path()
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/proc/{pid}/ns/net"))),
    };
    std::fs::File::open(&path).ctx(|| format!("cannot open network namespace {}", path.display()))
}

/// An error of the container's process start, in runc's words (`init`:
/// reported by the init, or by what rt ran for it while it waited).
pub fn start_failed(init: bool, e: Error) -> Error {
    match e {
        e @ Error::ContainerStart { .. } => e,
        e => Error::ContainerStart {
            init,
            msg: e.to_string(),
        },
    }
}

/// The error an init reported, logged with the step it failed at.
pub fn init_failed(id: &str, step: &str, msg: String) -> Error {
    logging::debug(&format!("{id}: init failed at step {step}"));
    Error::Init(msg)
}

/// The Ready report: the init's warnings, and for `--debug` its notes as
/// it wrote them (their words are what tools grep for) and how long each
/// step took.
pub fn log_steps(id: &str, report: &str) {
    let mut lines = report.lines();
    let timings = lines.next().unwrap_or_default();
    for note in lines {
        match note.split_once(' ') {
            Some(("warning", msg)) => logging::warn(msg),
            Some(("debug", msg)) => logging::debug(msg),
            _ => logging::debug(note),
        }
    }
    for pair in timings.split(' ').filter(|p| !p.is_empty()) {
        let (step, us) = pair.split_once('=').unwrap_or((pair, "?"));
        logging::debug(&format!("{id}: init step {step} took {us} µs"));
    }
}

/// Make a new time namespace the one rt's children get, with `offsets`;
/// returns rt's own, to go back to.
fn enter_time_namespace(
    offsets: Option<&std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>>,
) -> Result<std::fs::File> {
    let own =
        std::fs::File::open("/proc/self/ns/time").ctx(|| "cannot open rt's time namespace")?;
    nix::sched::unshare(init::clone_flag(LinuxNamespaceType::Time))
        .ctx(|| "cannot create a time namespace")?;
    let text: String = offsets
        .into_iter()
        .flatten()
        .map(|(clock, o)| {
            format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            )
        })
        .collect();
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", &text)
            .ctx(|| "cannot write linux.timeOffsets")?;
    }
    Ok(own)
}

fn connect_console(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .ctx(|| format!("cannot connect to console socket {}", path.display()))?;
    Ok(s.into())
}

/// The caller's user name from /etc/passwd, else its uid. Read directly,
/// not through NSS: rt is linked statically, and a static glibc would load
/// NSS modules at run time for one name in `rt list`.
fn owner() -> String {
    let uid = nix::unistd::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| passwd_name(&text, uid))
        .unwrap_or_else(|| uid.to_string())
}

fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// rt run by a user other than root.
fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// The init's uid and gid maps. Root writes them. An unprivileged user may
/// write only a map of its own id (and gid_map only after denying
/// setgroups, which would let the container drop supplementary groups
/// that deny it access); any other mapping goes through the setuid
/// newuidmap and newgidmap (package uidmap), which allow the ranges
/// /etc/subuid and /etc/subgid give the user.
fn write_id_maps(pid: Pid, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    if !rootless() {
        write_id_map(pid, "uid_map", uids)?;
        return write_id_map(pid, "gid_map", gids);
    }
    let own = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
    if own(uids, nix::unistd::geteuid().as_raw()) {
        write_id_map(pid, "uid_map", uids)?;
    } else {
        id_map_helper("newuidmap", pid, uids)?;
    }
    // From here the init's euid is 0: see init::InitArgs::rootless_maps.
    crate::fault::point("rootless:uid-mapped")?;
    if own(gids, nix::unistd::getegid().as_raw()) {
        let path = format!("/proc/{pid}/setgroups");
        std::fs::write(&path, "deny").ctx(|| format!("cannot write {path}"))?;
        write_id_map(pid, "gid_map", gids)
    } else {
        id_map_helper("newgidmap", pid, gids)
    }
}

fn id_map_helper(helper: &'static str, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| Error::IdMapHelper {
        helper,
        why: format!("(package uidmap) cannot run: {e}"),
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::IdMapHelper {
            helper,
            why: format!(
                "refused the mappings ({why}); /etc/subuid and /etc/subgid must grant them"
            ),
        });
    }
    Ok(())
}

fn write_id_map(pid: Pid, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).ctx(|| format!("cannot write {path}"))
}

/// Written to a new temporary file and renamed, so a reader never sees it
/// empty; nothing planted in its directory is followed (see `atomic`).
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let path = std::path::absolute(path).ctx(|| format!("pid file {}", path.display()))?;
    crate::atomic::write(&path, pid.to_string().as_bytes(), 0o666, false)
}

fn exit_text(pid: Pid) -> String {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        _ => "status unknown".into(),
    }
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::passwd_name;

    #[test]
    fn owner_names() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
