//! `rt exec`: run another process inside a running container.
//!
//! The process joins every namespace the container's init has (opened from
//! /proc/<pid>/ns and checked against the init's start time, so a recycled
//! pid cannot redirect us), its cgroup, and its root (joining the mount
//! namespace lands in the container's root). Its defaults — env, cwd, user,
//! capabilities, rlimits, no_new_privs — come from the container's config,
//! overridden by the command line or replaced by `--process`.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxCapabilities, LinuxNamespaceType, Process};

use super::attach::{self, Signals};
use crate::cgroups::{CgroupPaths, Driver};
use crate::error::{Context, Error, Result};
use crate::init::exec::{self as child, ExecArgs};
use crate::init::{namespace_file, sync_pair, ConsoleSocket, Msg};
use crate::state::{State, Status, Store};
use crate::syscall::{self, Forked};

/// Command-line overrides of the container's process defaults.
#[derive(Default)]
pub struct Overrides {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

pub struct ExecOptions {
    pub id: String,
    /// `--process`: a full OCI process object; replaces the overrides.
    pub process_file: Option<PathBuf>,
    pub overrides: Overrides,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// `--cgroup`: sub-cgroups to run in (see [`target_cgroups`]).
    pub cgroup: Vec<String>,
    /// `--pidfd-socket`: where a pidfd of the process goes once it is ready.
    pub pidfd_socket: Option<PathBuf>,
}

pub fn exec(store: &Store, opts: ExecOptions) -> Result<i32> {
    // Neither is freed: rt exits when this returns, and a free after the
    // clone writes to heap pages the clone write-protected (a fault each,
    // and a copy while the child shares them).
    let opts = std::mem::ManuallyDrop::new(opts);
    let st = std::mem::ManuallyDrop::new(store.load(&opts.id)?);
    let status = st.status(store);
    if status == Status::Paused && !opts.ignore_paused {
        super::check_status(
            &st,
            status,
            &[],
            "exec in a paused container (see --ignore-paused)",
        )?;
    }
    super::check_status(
        &st,
        status,
        &[Status::Running, Status::Created, Status::Paused],
        "exec in a container that is not running",
    )?;
    let process = match &opts.process_file {
        Some(path) => read_process(path)?,
        None => merge(&st, &opts.overrides)?,
    };
    // Whichever way the user came (-u, -g, --process, the config's own).
    crate::spec::check_user(process.user()).map_err(Error::Usage)?;
    crate::spec::check_exec_affinity(&process)?;
    let initial = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
        .and_then(|list| crate::bitlist::parse(list).ok());
    // On the host: the exec'd child reads the container's /sys.
    crate::init::check_lsm(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::Usage(
            "cannot allocate a tty for a detached exec without --console-socket".into(),
        ));
    }
    let driver = Driver::of(&st.cgroups);
    let target = target_cgroups(&st.cgroups, &opts.cgroup)?;
    // Compiled before anything is made: a bad profile costs no clone.
    let seccomp = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::compile)
        .transpose()?;
    let pidfd_socket = opts
        .pidfd_socket
        .as_deref()
        .map(super::pidfd_socket::connect)
        .transpose()?;
    let join = container_namespaces(&st)?;
    let in_userns = join.iter().any(|(t, _)| *t == LinuxNamespaceType::User)
        || super::create::in_user_namespace();
    let signals = if opts.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    let (console, console_end) = match (terminal, &opts.console_socket) {
        (false, _) => (None, None),
        (true, Some(path)) => {
            let fd = connect(path)?;
            let socket = ConsoleSocket {
                fd,
                relayed_by_rt: false,
            };
            (Some(socket), None)
        }
        (true, None) => {
            let (ours, theirs) = attach::console_pair()?;
            let socket = ConsoleSocket {
                fd: theirs,
                relayed_by_rt: true,
            };
            (Some(socket), Some(ours))
        }
    };
    // setns(2) refuses a user or time namespace to a process whose memory
    // another one shares (EINVAL, EUSERS).
    let shares_memory = join.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid)
        && !join
            .iter()
            .any(|(t, _)| matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Time))
        && initial.is_none()
        && !driver.acts_after_clone();
    let (parent_end, child_end) = sync_pair()?;
    let args = ExecArgs {
        process,
        sync: child_end,
        console,
        preserve_fds: opts.preserve_fds,
        in_userns,
        shared: crate::init::Shared::of(st.config.linux().as_ref()),
        seccomp: seccomp.into(),
        state_json: String::from_utf8_lossy(&crate::hooks::state_json(&st, Status::Running))
            .into_owned(),
        join,
        cgroup_tasks: driver.tasks(&target),
        session_keyring: (!st.no_new_keyring).then(|| crate::init::session_keyring_name(&st.id)),
        umask: st.config.process().as_ref().and_then(|p| p.user().umask()),
    };
    // Into the container's cgroups as the init goes: born in the cgroup2
    // directory (moved there where clone3 refuses), joining v1 itself.
    let v2 = driver.clone_target(&target)?;
    let v2 = v2.as_ref().map(std::os::fd::AsFd::as_fd);
    // The child only joins the namespaces and forks into the container's pid
    // namespace, where no process of the container can reach it (its pid is
    // the host's). Where rt has nothing to do between the clone and `Go`, it
    // shares rt's memory and rt sleeps until it is gone (see
    // `syscall::clone_vm`): no copy of rt's page tables, none of its pages
    // faulted in again, no teardown. A child that execs itself (no pid
    // namespace to fork into) or joins a user or time namespace is forked
    // as before.
    let shared = match v2 {
        Some(cgroup) if shares_memory => {
            // First: rt sleeps while the child runs.
            parent_end.send(&Msg::Go)?;
            let fds = args.raw_fds();
            match syscall::clone_vm(Some(cgroup), (args, parent_end.as_raw_fd()), run_shared) {
                Ok(pid) => {
                    // Our copies; the rest of `args` went with the child.
                    for fd in fds {
                        let _ = nix::unistd::close(fd);
                    }
                    // Its step 11 stopped the logger it shared with us.
                    crate::logging::reattach();
                    Ok(pid)
                }
                Err((_, (args, _))) => {
                    // No child: take the `Go` back, for the fork below gets
                    // it once rt has done its part.
                    args.sync.recv()?;
                    Err(args)
                }
            }
        }
        _ => Err(args),
    };
    // The `Go` is sent where the child shared our memory, and only there.
    let go_sent = shared.is_ok();
    let (child, born_in_cgroup) = match shared {
        Ok(pid) => (pid, true),
        Err(args) => {
            let forked = match v2.map(|fd| syscall::clone3_process(0, Some(fd))) {
                Some(Ok(f)) => Ok((f, true)),
                _ => syscall::clone_process(0).map(|f| (f, false)),
            };
            let (forked, born_in_cgroup) = forked.ctx(|| "cannot fork the exec process")?;
            match forked {
                Forked::Child => {
                    drop(parent_end);
                    child::run(args)
                }
                Forked::Parent(pid) => {
                    args.leave_to_child();
                    (pid, born_in_cgroup)
                }
            }
        }
    };
    // The child, or once it forked into the container's pid namespace
    // (see `init::Launch`), the grandchild it reports: also ours.
    let mut pid = child;
    let kill_child = |pid: Pid, e: Error| {
        for p in [child, pid] {
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        e
    };
    let resources = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    driver
        .adopt(&target, child.as_raw(), born_in_cgroup, &st.id, &resources)
        .map_err(|e| kill_child(pid, e))?;
    // execCPUAffinity.initial: the CPUs the process works on until it is
    // in its cgroups, where it settles (init::attributes::settle_affinity).
    if let Some(mask) = &initial {
        syscall::set_affinity(child.as_raw(), mask)
            .ctx(|| "cannot set the initial cpu affinity")
            .map_err(|e| kill_child(pid, e))?;
    }
    if !go_sent {
        parent_end.send(&Msg::Go).map_err(|e| kill_child(pid, e))?;
    }
    // Ready, and Forked when the child forks: in either order (they come
    // from two processes). The socket reaches EOF once both are done with it.
    let mut ready = false;
    loop {
        match parent_end.recv().map_err(|e| kill_child(pid, e))? {
            Some(Msg::Ready(timings)) => {
                super::create::log_steps(&opts.id, &timings);
                ready = true;
            }
            Some(Msg::Forked(p)) => {
                let _ = nix::sys::wait::waitpid(child, None);
                pid = Pid::from_raw(p);
            }
            Some(Msg::Failed(step, msg)) => {
                let e = super::create::init_failed(&opts.id, &step, msg);
                return Err(kill_child(pid, super::create::start_failed(false, e)));
            }
            Some(other) => {
                return Err(kill_child(
                    pid,
                    Error::Init(format!("unexpected {other:?} from the exec process")),
                ))
            }
            None if ready => break,
            None => {
                return Err(kill_child(
                    pid,
                    Error::Init("exec process exited during setup".into()),
                ))
            }
        }
    }
    // The process runs meanwhile.
    crate::exeseal::release();
    let kill_child = |e: Error| kill_child(pid, e);
    if let Some(sock) = &pidfd_socket {
        super::pidfd_socket::send(sock, pid, super::pidfd_socket::Kind::Exec)
            .map_err(kill_child)?;
    }
    let master = match &console_end {
        Some(sock) => Some(attach::receive_master(sock).map_err(kill_child)?),
        None => None,
    };
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    match signals {
        None => Ok(0),
        Some(s) => attach::supervise(Pid::from_raw(pid.as_raw()), &s.fd, master.as_ref()),
    }
}

/// The exec child that shares rt's memory (`syscall::clone_vm`): its copy
/// of rt's end of the socket goes (rt reads EOF once the exec'd process
/// holds none), then the same child as a forked one.
fn run_shared((args, parent_end): (ExecArgs, Option<std::os::fd::RawFd>)) -> ! {
    if let Some(fd) = parent_end {
        let _ = nix::unistd::close(fd);
    }
    child::run(args)
}

/// The cgroups the process joins: the container's, or with `--cgroup`
/// (runc's flag) existing sub-cgroups of them — `path` for every
/// hierarchy, `controller[,controller]:path` for those controllers'
/// (cgroup v1 only; a later entry wins). A path is taken as runc takes it,
/// inside the container's cgroup (`/` is the cgroup itself), and the
/// errors are runc's.
fn target_cgroups(cg: &CgroupPaths, specs: &[String]) -> Result<CgroupPaths> {
    let mut every: Option<PathBuf> = None;
    let mut per: HashMap<&str, PathBuf> = HashMap::new();
    for spec in specs {
        let (controllers, path) = match spec.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, spec.as_str()),
        };
        let sub = sub_cgroup(path)?;
        match controllers {
            None => every = Some(sub),
            Some(_) if cg.unified => {
                return Err(Error::Usage(format!(
                    "--cgroup {spec:?}: controller:path is for cgroup v1; on cgroup v2 give a path"
                )))
            }
            Some(list) => {
                for c in list.split(',') {
                    if !cg.controllers.contains_key(c) {
                        return Err(Error::Usage(format!(
                            "--cgroup {spec:?}: unknown controller {c} (the container has no cgroup for it)"
                        )));
                    }
                    per.insert(c, sub.clone());
                }
            }
        }
    }
    let join = |dir: &PathBuf, sub: Option<&PathBuf>| -> Result<PathBuf> {
        let Some(sub) = sub else {
            return Ok(dir.clone());
        };
        let target = dir.join(sub);
        // In runc's words (its tests of 1.1 and 1.5 match them): the pid
        // would go to the cgroup's cgroup.procs, which is not there.
        let procs = target.join("cgroup.procs");
        match std::fs::metadata(&target) {
            Ok(m) if m.is_dir() => Ok(target),
            Ok(_) => Err(Error::Usage(format!(
                "error adding pid to cgroups: {}: not a directory",
                procs.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Usage(format!(
                "error adding pid to cgroups: {}: no such file or directory",
                procs.display()
            ))),
            Err(e) => Err(Error::Usage(format!(
                "error adding pid to cgroups: {}: {e}",
                procs.display()
            ))),
        }
    };
    let mut moved: HashMap<&PathBuf, PathBuf> = HashMap::new();
    for d in &cg.dirs {
        let named = cg
            .controllers
            .iter()
            .filter(|(_, dir)| dir.as_os_str() == d.as_os_str())
            .find_map(|(c, _)| per.get(c.as_str()));
        moved.insert(d, join(d, named.or(every.as_ref()))?);
    }
    let to = |d: &PathBuf| moved.get(d).cloned().unwrap_or_else(|| d.clone());
    Ok(CgroupPaths {
        dirs: cg.dirs.iter().map(to).collect(),
        controllers: cg
            .controllers
            .iter()
            .map(|(c, d)| (c.clone(), to(d)))
            .collect(),
        freezer: cg.freezer.as_ref().map(to),
        created: Vec::new(),
        ..cg.clone()
    })
}

/// A `--cgroup` path made relative to the container's cgroup, as a path
/// joined under it and cleaned: `/` and `` are the cgroup itself, `a/../b`
/// is `b`, and a path that climbs out of it is refused.
fn sub_cgroup(path: &str) -> Result<PathBuf> {
    let mut sub = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => sub.push(n),
            Component::ParentDir if sub.pop() => {}
            Component::ParentDir => {
                return Err(Error::Usage(format!(
                    "bad sub cgroup path: {path} is not a sub cgroup path of the container's cgroup"
                )))
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(sub)
}

fn connect(path: &std::path::Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("cannot connect to console socket {}", path.display()))?;
    Ok(s.into())
}

fn read_process(path: &std::path::Path) -> Result<Process> {
    let data =
        std::fs::read(path).ctx(|| format!("cannot read process file {}", path.display()))?;
    let bad = |e: serde_json::Error| Error::Config(format!("process file {}: {e}", path.display()));
    let mut value: serde_json::Value = serde_json::from_slice(&data).map_err(bad)?;
    crate::spec::capabilities::drop_unknown_in_process(&mut value);
    // Without "user" the process runs as uid 0, gid 0, as runc reads it
    // (the spec makes the field required; runc and its users do not).
    if let Some(obj) = value.as_object_mut() {
        if crate::gojson::field(&serde_json::Value::Object(obj.clone()), "user").is_none() {
            obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
        }
    }
    let p: Process = crate::gojson::from_value(value, &data).map_err(bad)?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Config(format!(
            "process file {}: args must name a program",
            path.display()
        )));
    }
    Ok(p)
}

/// The container's process, with the command line's changes.
fn merge(st: &State, o: &Overrides) -> Result<Process> {
    let mut p = st.config.process().clone().unwrap_or_default();
    if o.args.is_empty() {
        return Err(Error::Usage("exec needs a command (or --process)".into()));
    }
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &o.env {
            let key = kv.split('=').next().unwrap_or(kv);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(user) = &o.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        let bad = || Error::Usage(format!("--user {user:?}: expected uid[:gid] as numbers"));
        let mut u = p.user().clone();
        u.set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(g) = gid {
            u.set_gid(g.parse().map_err(|_| bad())?);
        }
        p.set_user(u);
    }
    if !o.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(o.additional_gids.clone()));
        p.set_user(u);
    }
    if !o.caps.is_empty() {
        // No capabilities object means none at all (init::capabilities),
        // not oci-spec's default sets.
        let none = || {
            let mut c = LinuxCapabilities::default();
            c.set_bounding(None)
                .set_effective(None)
                .set_inheritable(None)
                .set_permitted(None)
                .set_ambient(None);
            c
        };
        let caps = p.capabilities().clone().unwrap_or_else(none);
        p.set_capabilities(Some(add_caps(caps, &o.caps)));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor.clone());
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label.clone());
    }
    Ok(p)
}

/// `--cap` adds to the bounding, effective and permitted sets (not the
/// inheritable one: CVE-2022-29162), and, as runc ≥ 1.2, to the ambient
/// set when the process has an inheritable set at all (an ambient
/// capability needs to be inheritable; one that is not is refused by the
/// kernel, with a warning). Unknown names are ignored with runc's warning.
fn add_caps(mut c: LinuxCapabilities, caps: &[String]) -> LinuxCapabilities {
    let parsed = crate::spec::capabilities::known(caps);
    let add = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut s = set.clone().unwrap_or_default();
        s.extend(parsed.iter().copied());
        Some(s)
    };
    c.set_bounding(add(c.bounding()));
    c.set_effective(add(c.effective()));
    c.set_permitted(add(c.permitted()));
    if c.inheritable().is_some() {
        c.set_ambient(add(c.ambient()));
    }
    c
}

type NsFds = Vec<(LinuxNamespaceType, OwnedFd)>;

/// The init's namespaces that differ from ours, for the child to join, the
/// user namespace first.
fn container_namespaces(st: &State) -> Result<NsFds> {
    let types = [
        LinuxNamespaceType::User,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Time,
    ];
    // Each name is looked up in the two ns directories, opened once, and
    // compared by the links' text ("mnt:[<inode>]"): no walk of
    // /proc/<pid> and no nsfs dentry per name.
    let dir = |path: &str| syscall::openat_mode(None, path, OFlag::O_PATH | OFlag::O_DIRECTORY, 0);
    let (Ok(theirs_dir), Ok(ours_dir)) =
        (dir(&format!("/proc/{}/ns", st.pid)), dir("/proc/self/ns"))
    else {
        return alive_or_gone(st, Vec::new());
    };
    let mut join = Vec::new();
    for t in types {
        let name = namespace_file(t);
        let link = |d: &OwnedFd| nix::fcntl::readlinkat(Some(d.as_raw_fd()), name);
        let (Ok(a), Ok(b)) = (link(&theirs_dir), link(&ours_dir)) else {
            continue;
        };
        if a == b {
            continue;
        }
        let fd = syscall::openat(theirs_dir.as_fd(), name, OFlag::O_RDONLY)
            .map_err(std::io::Error::from)
            .ctx(|| format!("cannot open /proc/{}/ns/{name}", st.pid))?;
        join.push((t, fd));
    }
    alive_or_gone(st, join)
}

/// The namespace files were opened by pid: `join`, if that pid is still
/// the container's init.
fn alive_or_gone(st: &State, join: NsFds) -> Result<NsFds> {
    // The files were opened by pid: make sure it is still the container.
    if !st.alive() {
        return Err(Error::NotRunning(st.id.clone()));
    }
    Ok(join)
}
