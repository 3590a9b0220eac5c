//! `rt exec`: run another process inside a running container.
//!
//! The process joins every namespace the container's init has (opened from
//! /proc/<pid>/ns and checked against the init's start time, so a recycled
//! pid cannot redirect us), its cgroup, and its root (joining the mount
//! namespace lands in the container's root). Its defaults — env, cwd, user,
//! capabilities, rlimits, no_new_privs — come from the container's config,
//! overridden by the command line or replaced by `--process`.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxCapabilities, LinuxNamespaceType, Process};

use super::attach::{self, Signals};
use crate::cgroups::CgroupPaths;
use crate::error::{Context, Error, Result};
use crate::init::exec::{self as child, ExecArgs};
use crate::init::{namespace_file, sync_pair, Msg};
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
}

pub fn exec(store: &Store, opts: ExecOptions) -> Result<i32> {
    let st = store.load(&opts.id)?;
    match st.status(store) {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(Error::WrongState {
                id: opts.id,
                status: "paused".into(),
                op: "exec in a paused container (see --ignore-paused)",
            })
        }
        s => {
            return Err(Error::WrongState {
                id: opts.id,
                status: s.to_string(),
                op: "exec in a container that is not running",
            })
        }
    }
    let process = match &opts.process_file {
        Some(path) => read_process(path)?,
        None => merge(&st, &opts.overrides)?,
    };
    // Whichever way the user came (-u, -g, --process, the config's own).
    crate::spec::check_user(process.user()).map_err(Error::Usage)?;
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
    let (v2_dir, v1) = target_cgroups(&st.cgroups, &opts.cgroup)?;
    // Compiled before anything is made: a bad profile costs no clone.
    let seccomp = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::compile)
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
        (true, Some(path)) => (Some(connect(path)?), None),
        (true, None) => {
            let (ours, theirs) = attach::console_pair()?;
            (Some(theirs), Some(ours))
        }
    };
    let (parent_end, child_end) = sync_pair()?;
    let args = ExecArgs {
        process,
        sync: child_end,
        console,
        preserve_fds: opts.preserve_fds,
        in_userns,
        personality: st
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.personality().clone()),
        seccomp: seccomp.into(),
        state_json: String::from_utf8_lossy(&crate::hooks::state_json(&st, Status::Running))
            .into_owned(),
        join,
        cgroup_tasks: v1.iter().map(|d| d.join("tasks")).collect(),
        session_keyring: (!st.no_new_keyring).then(|| crate::init::session_keyring_name(&st.id)),
    };
    // Into the container's cgroups as the init goes: born in the cgroup2
    // directory (moved there where clone3 refuses), joining v1 itself.
    let v2 = match &v2_dir {
        Some(dir) => Some(super::create::cgroup_dir_fd(dir)?),
        None => None,
    };
    let forked = match v2
        .as_ref()
        .map(|fd| syscall::clone3_process(0, Some(std::os::fd::AsFd::as_fd(fd))))
    {
        Some(Ok(f)) => Ok((f, true)),
        _ => syscall::clone_process(0).map(|f| (f, false)),
    };
    let (forked, born_in_cgroup) = forked.ctx(|| "cannot fork the exec process")?;
    let child = match forked {
        Forked::Child => {
            drop(parent_end);
            child::run(args)
        }
        Forked::Parent(pid) => pid,
    };
    drop(args);
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
    if let (false, Some(dir)) = (born_in_cgroup, &v2_dir) {
        crate::cgroups::add_pid(dir, child.as_raw()).map_err(|e| kill_child(pid, e))?;
    }
    parent_end.send(&Msg::Go).map_err(|e| kill_child(pid, e))?;
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
                return Err(kill_child(
                    pid,
                    super::create::init_failed(&opts.id, &step, msg),
                ))
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
    let kill_child = |e: Error| kill_child(pid, e);
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

/// The cgroup2 directory and the v1 directories the process joins: the
/// container's, or with `--cgroup` (runc's flag) existing sub-cgroups of
/// them — `path` for every hierarchy, `controller[,controller]:path` for
/// those controllers' (cgroup v1 only; a later entry wins).
fn target_cgroups(cg: &CgroupPaths, specs: &[String]) -> Result<(Option<PathBuf>, Vec<PathBuf>)> {
    let mut every: Option<&str> = None;
    let mut per: HashMap<&str, &str> = HashMap::new();
    for spec in specs {
        let (controllers, path) = match spec.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, spec.as_str()),
        };
        let relative = Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if path.is_empty() || !relative {
            return Err(Error::Usage(format!(
                "--cgroup {spec:?}: the path must be relative to the container's cgroup, without \"..\""
            )));
        }
        match controllers {
            None => every = Some(path),
            Some(_) if cg.unified => {
                return Err(Error::Usage(format!(
                    "--cgroup {spec:?}: controller:path is for cgroup v1; on cgroup v2 give a path"
                )))
            }
            Some(list) => {
                for c in list.split(',') {
                    if !cg.controllers.contains_key(c) {
                        return Err(Error::Usage(format!(
                            "--cgroup {spec:?}: the container has no cgroup for controller {c:?}"
                        )));
                    }
                    per.insert(c, path);
                }
            }
        }
    }
    let sub = |dir: &PathBuf, path: Option<&str>| -> Result<PathBuf> {
        let Some(path) = path else {
            return Ok(dir.clone());
        };
        let target = dir.join(path);
        if !target.is_dir() {
            return Err(Error::Usage(format!(
                "--cgroup: sub-cgroup {} does not exist",
                target.display()
            )));
        }
        Ok(target)
    };
    let v2 = cg.v2_dir().map(|d| sub(d, every)).transpose()?;
    let v1 = cg
        .v1_dirs()
        .into_iter()
        .map(|d| {
            let named = cg
                .controllers
                .iter()
                .filter(|(_, dir)| *dir == d)
                .find_map(|(c, _)| per.get(c.as_str()).copied());
            sub(d, named.or(every))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((v2, v1))
}

fn connect(path: &std::path::Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("cannot connect to console socket {}", path.display()))?;
    Ok(s.into())
}

fn read_process(path: &std::path::Path) -> Result<Process> {
    let data =
        std::fs::read(path).ctx(|| format!("cannot read process file {}", path.display()))?;
    let p: Process = serde_json::from_slice(&data)
        .map_err(|e| Error::Config(format!("process file {}: {e}", path.display())))?;
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
        p.set_capabilities(Some(add_caps(
            p.capabilities().clone().unwrap_or_default(),
            &o.caps,
        )?));
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
/// inheritable one: CVE-2022-29162).
fn add_caps(mut c: LinuxCapabilities, caps: &[String]) -> Result<LinuxCapabilities> {
    let mut parsed = Vec::new();
    for name in caps {
        let cap: oci_spec::runtime::Capability =
            serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error::Usage(format!("--cap {name}: unknown capability")))?;
        parsed.push(cap);
    }
    let add = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut s = set.clone().unwrap_or_default();
        s.extend(parsed.iter().copied());
        Some(s)
    };
    c.set_bounding(add(c.bounding()));
    c.set_effective(add(c.effective()));
    c.set_permitted(add(c.permitted()));
    Ok(c)
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
    let mut join = Vec::new();
    for t in types {
        let name = namespace_file(t);
        let theirs = format!("/proc/{}/ns/{name}", st.pid);
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let fd: OwnedFd = std::fs::File::open(&theirs)
            .ctx(|| format!("cannot open {theirs}"))?
            .into();
        join.push((t, fd));
    }
    // The files were opened by pid: make sure it is still the container.
    if !st.alive() {
        return Err(Error::NotRunning(st.id.clone()));
    }
    Ok(join)
}
