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

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

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

pub fn create(store: &Store, opts: CreateOptions) -> Result<Created> {
    state::validate_id(&opts.id)?;
    let bundle = spec::load(&opts.bundle)?;
    let spec = bundle.spec;
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
    let console = match (terminal, opts.console_fd, &opts.console_socket) {
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
    // Before anything is made: a bad profile costs no cgroup and no clone.
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;

    let (driver, mut cg) = place.plan(&Layout::detect()?);

    let locked = store.claim(&opts.id)?;
    let mut guard = Cleanup {
        store,
        id: &opts.id,
        cgroups: None,
        driver: driver.clone(),
        child: None,
        intel_rdt: Default::default(),
        armed: true,
    };
    // After the claim: a create that lost a race for the id must say so,
    // not that the winner's cgroup is in use.
    cg.check_unused()?;
    fault::point("create:claimed")?;

    let mut st = initial_state(&opts.id, &bundle.dir, &bundle.rootfs, owner(), &spec, &cg);
    st.no_new_keyring = opts.no_new_keyring;
    // Saved before the first cgroup directory exists: a create killed from
    // here on leaves a state naming every directory it may have made, for
    // `delete --force` (the Cleanup guard only runs if create survives).
    store.save(&st)?;
    let resources = linux.resources().clone().unwrap_or_default();
    let created = driver.create(&mut cg, &resources, opts.rootless_cgroups);
    guard.cgroups = Some(cg.clone());
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
    // `start` without a path or procfs of the host (init step 16).
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&fifo_path)
        .ctx(|| format!("cannot open {}", fifo_path.display()))?;

    // Saved with the pid, after clone: until then the state saved above
    // names every directory made.
    st.cgroups = cg.clone();
    let (mut parent_end, child_end) = init::sync_pair()?;
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
    // namespace: rt makes it the one its children get, writes them, lets
    // the clone below enter it, then gets its own back for what it starts
    // later (hooks run in rt's namespaces).
    let own_time_ns = if namespaces.creates(LinuxNamespaceType::Time) {
        flags.remove(init::clone_flag(LinuxNamespaceType::Time));
        Some(enter_time_namespace(linux.time_offsets().as_ref())?)
    } else {
        None
    };
    let flags = flags.bits();
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    let new_userns = namespaces.creates(LinuxNamespaceType::User);
    // Written right after clone, or once the init says Unshared.
    let maps_after_clone = new_userns && !unshares;
    // Before clone: the init inherits the trees (see init::idmap).
    let idmapped =
        init::prepare_idmapped(spec.mounts().as_deref().unwrap_or_default(), &bundle.dir)?;
    let in_userns = namespaces.has(LinuxNamespaceType::User) || in_user_namespace();
    let mut args = InitArgs {
        idmapped,
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
    };

    // Born in its cgroup2 directory; where the kernel refuses (a v2 parent
    // with processes of its own, an old kernel), rt moves it after clone.
    let into = driver.clone_target(&st.cgroups)?;
    // Unless rt has work to do for the init between clone and `Go` (below),
    // `Go` is queued before the init exists: it starts setting up at once
    // instead of waiting for clone(2) to return here.
    let mut go_sent = !maps_after_clone && resctrl.is_none() && !driver.acts_after_clone();
    if go_sent {
        tell(&parent_end, &Msg::Go)?;
    }
    let forked = match into
        .as_ref()
        .map(|fd| syscall::clone3_process(flags as u64, Some(std::os::fd::AsFd::as_fd(fd))))
    {
        Some(Ok(f)) => Ok((f, true)),
        refused => {
            if refused.is_some() && go_sent {
                // Not born in its cgroup2 directory: the init must wait
                // until rt has moved it, on a socket without the early Go.
                let (p, c) = init::sync_pair()?;
                parent_end = p;
                args.sync = c;
                go_sent = false;
            }
            syscall::clone_process(flags).map(|f| (f, false))
        }
    };
    // Back in the parent's time namespace for its later children (a clone
    // that failed included); the child stays where it was born.
    let child_side = matches!(forked, Ok((Forked::Child, _)));
    if let (false, Some(own)) = (child_side, &own_time_ns) {
        nix::sched::setns(own, init::clone_flag(LinuxNamespaceType::Time))
            .ctx(|| "cannot return to rt's time namespace")?;
    }
    let (forked, born_in_cgroup) = forked.ctx(|| "cannot clone the container process")?;
    let mut pid = match forked {
        Forked::Child => {
            // The lock's open file description is shared with the parent:
            // keeping it here would hold the container lock until exec,
            // and unlocking it would release the parent's.
            locked.close_in_child();
            drop(parent_end);
            init::run(args)
        }
        Forked::Parent(pid) => pid,
    };
    drop(args);
    guard.child = Some(pid);
    st.pid = pid.as_raw();
    st.pid_start_time = state::process_start_time(pid.as_raw()).unwrap_or(0);
    if let (Some(root), Some(rdt)) = (
        &resctrl,
        st.config
            .linux()
            .as_ref()
            .and_then(|l| l.intel_rdt().as_ref()),
    ) {
        st.intel_rdt = crate::intelrdt::apply(root, rdt, &st.id, pid.as_raw())?;
        guard.intel_rdt = st.intel_rdt.clone();
    }
    // Into its cgroup2 directory: born there, moved by rt, or put into its
    // new scope by systemd. The init joins its v1 cgroups itself (init
    // step 1).
    driver.adopt(
        &st.cgroups,
        pid.as_raw(),
        born_in_cgroup,
        &st.id,
        &resources,
    )?;
    if maps_after_clone {
        write_id_maps(pid, &uid_maps, &gid_maps)?;
    }
    if !go_sent {
        tell(&parent_end, &Msg::Go)?;
    }
    // The pid is saved while the init sets up: should rt die before the
    // save, the init finds the socket closed at its next step and exits.
    store.save(&st)?;
    fault::point("create:cloned")?;
    if !unshares {
        move_net_devices(&st, pid)?;
    }
    // Ready, and Forked when the init forks into its pid namespace (joined,
    // or made at init Step::Unshare), in either order (two processes send
    // them); EOF once both are done: then nothing of rt's but the exec
    // fifo is open in the container.
    let mut ready = false;
    loop {
        match parent_end.recv()? {
            Some(Msg::MountsDone) => {
                // The runtime spec defines `created` as "after step 2 in the
                // lifecycle" (the environment is built) and these hooks are
                // steps 3-5, so their state says `created`, as crun's does
                // and the runtime-tools suite (hooks_stdin) checks. runc
                // sends `creating`; no client we know reads the status here
                // (hooks read id, pid, bundle, annotations).
                crate::hooks::run_runtime_hooks(&st, Status::Created)?;
                let json = String::from_utf8_lossy(&crate::hooks::state_json(&st, Status::Created))
                    .into_owned();
                tell(&parent_end, &Msg::Continue(json))?;
            }
            Some(Msg::Unshared) => {
                // The init's new namespaces exist: its maps and devices.
                if new_userns {
                    write_id_maps(pid, &uid_maps, &gid_maps)?;
                }
                move_net_devices(&st, pid)?;
                tell(&parent_end, &Msg::Go)?;
            }
            Some(Msg::MountSource(index)) => {
                let mounts = st.config.mounts().as_deref().unwrap_or_default();
                match init::open_bind_source(mounts, &st.bundle, index, pid) {
                    Some(Ok(fd)) => parent_end.send_with_fd(&Msg::SourceOpened, fd.as_fd())?,
                    Some(Err(e)) => tell(&parent_end, &Msg::SourceRefused(e.to_string()))?,
                    None => tell(&parent_end, &Msg::SourceRefused(String::new()))?,
                }
            }
            Some(Msg::Ready(timings)) => {
                log_steps(&opts.id, &timings);
                ready = true;
            }
            Some(Msg::Forked(child)) => {
                // The first init is done; the container's process is its
                // child, born in the joined pid namespace, and ours.
                let _ = waitpid(pid, None);
                pid = Pid::from_raw(child);
                guard.child = Some(pid);
                st.pid = pid.as_raw();
                st.pid_start_time = state::process_start_time(pid.as_raw()).unwrap_or(0);
                store.save(&st)?;
            }
            Some(Msg::Failed(step, msg)) => return Err(init_failed(&opts.id, &step, msg)),
            Some(other) => {
                return Err(Error::Init(format!(
                    "unexpected {other:?} from the container's init"
                )))
            }
            None if ready => break,
            None => {
                return Err(Error::Init(format!(
                    "container init exited during setup ({})",
                    exit_text(pid)
                )))
            }
        }
    }
    if let Some(sock) = &pidfd_socket {
        super::pidfd_socket::send(sock, pid, super::pidfd_socket::Kind::Init)?;
    }
    fault::point("create:ready")?;
    st.phase = Status::Created;
    store.save(&st)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    guard.armed = false;
    logging::debug(&format!("created container {} with init pid {pid}", st.id));
    Ok(Created {
        pid,
        state: st,
        lock: locked,
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
    let mut out = Vec::new();
    for dir in cg.dirs.iter().filter(|d| !cg.made_by_systemd(d)) {
        let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
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

/// The error an init reported, logged with the step it failed at.
pub fn init_failed(id: &str, step: &str, msg: String) -> Error {
    logging::debug(&format!("{id}: init failed at step {step}"));
    Error::Init(msg)
}

/// `--debug`: the init's notes as it wrote them (their words are what
/// tools grep for), and how long each step took — the Ready report.
pub fn log_steps(id: &str, report: &str) {
    let mut lines = report.lines();
    let timings = lines.next().unwrap_or_default();
    for note in lines {
        logging::debug(note);
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
fn write_id_maps(pid: Pid, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
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
    if own(gids, nix::unistd::getegid().as_raw()) {
        let path = format!("/proc/{pid}/setgroups");
        std::fs::write(&path, "deny").ctx(|| format!("cannot write {path}"))?;
        write_id_map(pid, "gid_map", gids)
    } else {
        id_map_helper("newgidmap", pid, gids)
    }
}

fn id_map_helper(helper: &str, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        Error::Init(format!(
            "rootless: the mappings need {helper} (package uidmap), which cannot run: {e}"
        ))
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Init(format!("rootless: {helper} refused the mappings ({why}); /etc/subuid and /etc/subgid must grant them")));
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

/// Undo a failed create: kill init, remove cgroups and the state directory.
struct Cleanup<'a> {
    store: &'a Store,
    id: &'a str,
    cgroups: Option<CgroupPaths>,
    driver: Driver,
    child: Option<Pid>,
    intel_rdt: crate::intelrdt::Groups,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Err(e) = self.intel_rdt.remove() {
            logging::warn(&format!("cleanup of {}: {e}", self.id));
        }
        if let Some(cg) = &self.cgroups {
            if let Err(e) = self.driver.undo(cg) {
                logging::warn(&format!("cleanup of {}: {e}", self.id));
            }
        }
        if let Err(e) = self.store.remove(self.id) {
            logging::warn(&format!("cleanup of {}: {e}", self.id));
        }
    }
}

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
