//! The container's init process: everything between clone(2) and exec(2).
//!
//! `rt create` clones this process straight into its new namespaces (no
//! re-exec of rt, one fork), then [`run`] walks the pipeline: the variants
//! of [`Step`], in order, each documented with the reason it sits where it
//! does. That order is written there and nowhere else; [`Steps::enter`]
//! refuses (in debug builds, which the tests run) a step that comes before
//! the current one, so the code cannot drift from it.
//!
//! ## The fd rule (CVE-2024-21626 and its twins)
//!
//! From the moment another process of the container could reach it — the
//! init waiting for `start` (an `rt exec` process, or anything sharing a
//! pid namespace the container joined, can open its /proc/<pid>/fd with
//! CAP_SYS_PTRACE), an `rt exec` process in the container's pid namespace
//! — and at execve, no process of rt holds an fd that names a file or
//! directory of the host beyond stdio, `--preserve-fds` and the exec fifo:
//! they are closed, not marked close-on-exec, because execve resolves a
//! `#!` interpreter or PT_INTERP, and follows magic links such as
//! /proc/self/fd/N, before it closes close-on-exec fds. So:
//! - everything that needs the host (its /proc, cgroup directories, the
//!   bundle, namespace files) is done by 11, where the rest is closed;
//! - a process that joins the container's pid namespace (`rt exec`, or an
//!   init whose pid namespace is given by path) does its host work outside
//!   it and forks into it only after 11, with nothing of the host left
//!   (`rt exec`'s, which shares rt's memory until it is gone where it can,
//!   `syscall::clone_vm`, forks an ordinary copy: nothing the container can
//!   reach shares memory with rt);
//!   a new pid namespace has no other process before Ready;
//! - the working directory is never left on the host (the host /proc is
//!   the working directory during setup: 11 moves it to the root);
//! - the program is checked once, without magic links, from where execve
//!   starts. execve then resolves the same name in a process whose root
//!   and working directory are the container's and which has no fd left
//!   through which a magic link could lead out: whatever that resolution
//!   finds, the container could have put there itself. (execveat on the
//!   checked fd would name the process after the fd, "3", on kernels
//!   before 6.14, and a script would get /dev/fd/N as its $0.)
//!
//! `runtime-tests/cves.rs` replays the escapes this rule closes, and
//! audits the fds of a waiting init and of an `rt exec` process.
//!
//! `rt exec` runs a subset through [`exec::run`]: [`Step::WaitParent`]
//! (the seccomp agent connected while host paths still resolve),
//! [`Step::JoinNamespaces`] (the host /proc opened first, every namespace
//! of the container joined by the same code, the container's session
//! keyring joined by name, and its pty from the container's devpts,
//! without /dev/console), then everything from
//! [`Step::LeaveHost`] on but the wait for `start` and its hooks — those
//! steps live in `Launch` and are shared, so an exec'd process gets the
//! same rlimits, user, capabilities, no_new_privs and seccomp filter as
//! init.
//!
//! Both start by making the process non-dumpable (a rootless init once its
//! id maps are written, at [`Step::WaitParent`]: see `InitArgs::rootless_maps`): until exec it runs rt's
//! own binary inside the container's pid namespace, and a dumpable process
//! would let the container open /proc/<pid>/exe and overwrite rt on the host
//! (CVE-2019-5736). exec(2) resets the flag for the container's program.
//! That alone is not enough — the container can have the exec run rt's own
//! binary (`#!/proc/self/exe`) as its dumpable process — so rt runs from a
//! binary no container can write (`crate::exeseal`).

mod attributes;
mod bindsource;
mod capabilities;
mod detached;
mod devices;
mod environment;
mod idmap;
mod inroot;
mod keyring;
mod lsm;
mod mount_options;
mod mounts;
mod namespaces;
mod paths;
mod process;
mod procfs;
mod rootfs;
mod step;
mod sync;
mod sysctl;
mod template;
mod terminal;
mod uts;

pub mod exec;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::sys::stat::Mode;
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{Linux, LinuxNamespaceType, Process, Spec};
use pathrs::Root;

use crate::cgroups::CgroupPaths;
use crate::error::{Context, Error, Result};
use crate::seccomp::Seccomp;
use crate::syscall;

pub use attributes::Shared;
pub use bindsource::open_for as open_bind_source;
pub use idmap::{prepare as prepare_idmapped, AtMountTime as IdmapAtMountTime, Idmapped};
pub use keyring::name as session_keyring_name;
pub use lsm::check as check_lsm;
pub use mount_options::{parse_options, Options as MountOptions};
pub use namespaces::{clone_flag, proc_name as namespace_file, Plan as NamespacePlan};
pub use process::resource as rlimit_resource;
pub use procfs::mount_id as fdinfo_mount_id;
pub use step::Step;
pub use sync::{pair as sync_pair, Channel, Msg};
pub use sysctl::{check as check_sysctl, check_joined as check_joined_sysctl};
pub use template::{fits as template_fits, open as open_mount_template, Fit as TemplateFit};
pub use terminal::ConsoleSocket;

/// Everything the init process needs, prepared by `create` before clone.
pub struct InitArgs {
    pub spec: Spec,
    pub rootfs: PathBuf,
    pub bundle: PathBuf,
    pub sync: Channel,
    /// The exec fifo in the state directory, open read-write.
    pub fifo: OwnedFd,
    /// Where the pty master goes, when `process.terminal` is set.
    pub console: Option<ConsoleSocket>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub namespaces: NamespacePlan,
    pub cgroups: CgroupPaths,
    /// Idmapped copies of the bind mounts that ask for one, made on the
    /// host by `create` (see `idmap`; the others are asked of it at mount
    /// time). Taken by Step::Mounts, each closed once mounted.
    pub idmapped: std::cell::Cell<Vec<Idmapped>>,
    /// `tasks` files of the container's v1 cgroups, which init joins itself
    /// (step 1).
    pub cgroup_tasks: Vec<PathBuf>,
    /// The init runs in a user namespace — the container's, or the one rt
    /// itself runs in (rootless Podman): device nodes are bind-mounted from
    /// the host (mknod needs the host's root), and setgroups may be denied.
    pub in_userns: bool,
    /// The session keyring to join (at Step::UserRoot); None with
    /// --no-new-keyring.
    pub session_keyring: Option<String>,
    /// linux.seccomp, compiled by `create` before anything was made
    /// (taken once, by the pipeline).
    pub seccomp: std::cell::Cell<Option<Seccomp>>,
    /// A rootless parent writes our uid/gid maps through /proc/<pid>,
    /// which only root may open while we are non-dumpable: we stay
    /// dumpable (as cloned) until the Go that follows them (the first, or
    /// with `Plan::unshares` the one after Unshared). The container has no
    /// process of its own yet, and rt's binary is sealed (CVE-2019-5736); a
    /// same-user process that could reach us gains nothing the user does
    /// not have. `create` decides it before clone: an init that read its
    /// own euid after the uid map was written saw root, made itself
    /// non-dumpable, and the gid map could no longer be written.
    pub rootless_maps: bool,
    /// The mount template (see `template`), when the spec lets the init
    /// make its mount namespace from it: `create` then clones the init
    /// without CLONE_NEWNS. Taken by Step::Mounts.
    pub mount_template: std::cell::Cell<Option<OwnedFd>>,
}

/// Join v1 cgroups by writing 0 to their `tasks`: a thread moving itself
/// skips the kernel's global threadgroup lock that a write of another
/// process's pid to cgroup.procs takes (whose first writer can wait for an
/// RCU grace period, ~10 ms).
fn join_cgroups(tasks: &[PathBuf]) -> Result<()> {
    use crate::cgroups::at;
    // A host directory: dropped on return, or, where rt had opened none
    // before the fork (exec on a v1-only host), kept until this process
    // closes rt's fds before it enters the container (see cgroups::at).
    let root = at::Root::open();
    for t in tasks {
        at::write(root.as_ref(), t, "0").ctx(|| format!("cannot join cgroup {}", t.display()))?;
    }
    Ok(())
}

/// Run the container's init; never returns.
pub fn run(args: InitArgs) -> ! {
    finish(&args.sync, args.rootless_maps, |steps| {
        // The init of a pid namespace ignores every signal it has no
        // handler for, even from the host; runc's init (a Go program) dies
        // of these while it sets up and waits for `start`, and so must
        // ours: `kill` of a created container, and a pidfd client's
        // SIGTERM, end it.
        use nix::sys::signal::Signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        syscall::exit_on(&[SIGHUP, SIGINT, SIGQUIT, SIGTERM])
            .ctx(|| "cannot handle the signals that end the init")?;
        pipeline(&args, steps)
    })
}

/// Report the outcome of a pipeline and exit. Failures before Ready go to
/// the parent over the sync socket; later ones (exec) to the container's
/// stderr, as the bare message runc prints there, with the exit codes
/// shells use (127 not found, 126 otherwise).
fn finish(
    sync: &Channel,
    dumpable_until_go: bool,
    body: impl FnOnce(&mut Steps) -> Result<Error>,
) -> ! {
    let mut steps = Steps::new();
    let err = match prepare_process(dumpable_until_go).and_then(|()| body(&mut steps)) {
        Ok(e) | Err(e) => e,
    };
    if steps.ready {
        let _ = writeln!(std::io::stderr(), "{err}");
        let code = match &err {
            Error::Exec {
                errno: nix::Error::ENOENT,
                ..
            } => 127,
            _ => 126,
        };
        syscall::exit_now(code);
    }
    let _ = sync.send(&Msg::Failed(steps.current.name().into(), err.to_string()));
    syscall::exit_now(1)
}

/// First thing in every child: no blocked signals (rt blocks them while it
/// supervises), SIGPIPE not ignored, and not dumpable (CVE-2019-5736, see
/// the module doc) — except, until Go, a rootless init (see
/// `InitArgs::rootless_maps`).
///
/// rt ignores SIGPIPE (a write to a closed pipe fails with EPIPE instead of
/// killing rt), and an ignored signal stays ignored across execve: the
/// container's process would inherit it, where runc's starts with the
/// default (`yes | head -1` would then loop on EPIPE errors).
fn prepare_process(dumpable_until_go: bool) -> Result<()> {
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
    .ctx(|| "cannot reset the signal mask")?;
    syscall::default_disposition(nix::sys::signal::Signal::SIGPIPE)
        .ctx(|| "cannot restore the default action of SIGPIPE")?;
    if dumpable_until_go {
        return Ok(());
    }
    syscall::set_dumpable(false).ctx(|| "cannot make the process non-dumpable")
}

fn expect(sync: &Channel, want: Msg) -> Result<()> {
    match sync.recv()? {
        Some(m) if m == want => Ok(()),
        Some(other) => Err(Error::Init(format!("unexpected {other:?} from rt"))),
        None => Err(Error::Init("rt went away during setup".into())),
    }
}

/// Steps 1–10; returns only on failure (the Ok value is an exec error).
fn pipeline(a: &InitArgs, steps: &mut Steps) -> Result<Error> {
    let spec = &a.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process is missing".into()))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Config("linux section is missing".into()))?;
    let ns = &a.namespaces;

    steps.enter(Step::WaitParent)?;
    expect(&a.sync, Msg::Go)?;
    steps.note_start("init", "the init is in its new namespaces");
    let unshares = ns.unshares();
    if a.rootless_maps && !unshares {
        syscall::set_dumpable(false).ctx(|| "cannot make the process non-dumpable")?;
    }
    // Born in its cgroup2 directory (clone3 CLONE_INTO_CGROUP); the v1
    // ones it joins itself.
    join_cgroups(&a.cgroup_tasks)?;
    // execCPUAffinity is not the init's (runtime spec).
    attributes::settle_affinity(None)?;
    let mut seccomp = a.seccomp.take();
    if let Some(filter) = &seccomp {
        steps.note(filter.flags_note());
    }
    steps.enter(Step::JoinNamespaces)?;
    namespaces::join(&ns.join)?;
    steps.enter(Step::Unshare)?;
    if unshares {
        unshare_namespaces(a)?;
    }
    steps.enter(Step::UserRoot)?;
    if ns.has(LinuxNamespaceType::User) {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .ctx(|| "cannot become gid 0 in the user namespace")?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .ctx(|| "cannot become uid 0 in the user namespace")?;
    }
    if ns.creates(LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(clone_flag(LinuxNamespaceType::Cgroup))
            .ctx(|| "cannot create the cgroup namespace")?;
    }
    // A new network namespace starts with `lo` down; runc and crun bring it
    // up, and programs expect 127.0.0.1 to work.
    if ns.creates(LinuxNamespaceType::Network) {
        syscall::set_interface_up("lo").ctx(|| "cannot bring up lo")?;
    }
    if let Some(name) = &a.session_keyring {
        // The keyring is created with the process's SELinux label.
        lsm::label_keys(process.selinux_label().as_deref())?;
        let in_userns = ns.has(LinuxNamespaceType::User);
        keyring::join(name, keyring::Joiner::Init { in_userns })?;
    }
    // Exact modes for the nodes and directories setup creates.
    nix::sys::stat::umask(Mode::empty());
    steps.enter(Step::HostProc)?;
    let proc = procfs::HostProc::open()?;

    steps.enter(Step::Mounts)?;
    let has_mountns = ns.has(LinuxNamespaceType::Mount);
    let readonly_later = mount_rootfs(a, linux, process, &proc)?;

    steps.enter(Step::Hooks)?;
    a.sync.send(&Msg::MountsDone)?;
    let state_json = match a.sync.recv()? {
        Some(Msg::Continue(json)) => json,
        Some(other) => return Err(Error::Init(format!("unexpected {other:?} from rt create"))),
        None => return Err(Error::Init("rt create went away".into())),
    };
    let hooks = spec.hooks().clone().unwrap_or_default();
    let create_container = hooks.create_container().as_deref().unwrap_or_default();
    if !create_container.is_empty() {
        // In the rootfs, as runc runs them: hooks name paths relative to it
        // (`touch ./lib/x && mount --bind ... ./lib/x`).
        let root = procfs::open_path(&a.rootfs, libc::O_DIRECTORY)?;
        nix::unistd::fchdir(root.as_raw_fd())
            .ctx(|| format!("cannot enter {}", a.rootfs.display()))?;
    }
    crate::hooks::run_all(
        "createContainer",
        create_container,
        state_json.as_bytes(),
        None,
    )?;
    if let Some(filter) = seccomp.as_mut() {
        filter.connect_agent(&state_json)?;
    }

    steps.enter(Step::PivotRoot)?;
    if has_mountns {
        if a.no_pivot {
            rootfs::move_root(&a.rootfs, &proc)?;
        } else {
            rootfs::pivot(&a.rootfs)?;
        }
        if let Some(p) = linux.rootfs_propagation().as_deref() {
            rootfs::set_propagation(rootfs::propagation(p)?)?;
        }
    } else {
        nix::unistd::chroot(&a.rootfs).ctx(|| "cannot chroot into rootfs")?;
    }
    let at = proc.enter()?;

    steps.enter(Step::SysctlHostname)?;
    if let Some(s) = linux.sysctl() {
        sysctl::apply(&proc, s)?;
    }
    uts::apply(spec.hostname().as_deref(), spec.domainname().as_deref())?;

    steps.enter(Step::Console)?;
    let pty = open_terminal(process, a.console.as_ref(), Some(at), &proc)?;
    paths::reopen_null_stdio(&proc)?;

    steps.enter(Step::MaskedReadonly)?;
    for m in readonly_later {
        m.apply(at)?;
    }
    // readonlyPaths first, as runc: clients compare the mount tables.
    paths::make_readonly(at, linux.readonly_paths().as_deref().unwrap_or_default())?;
    paths::mask(at, linux.masked_paths().as_deref().unwrap_or_default())?;
    let readonly_root = spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly().unwrap_or(false));
    if has_mountns && readonly_root {
        rootfs::make_root_readonly()?;
    }

    let launch = Launch {
        process,
        shared: &attributes::Shared::of(Some(linux)),
        in_userns: a.in_userns,
        sync: &a.sync,
        preserve_fds: a.preserve_fds,
        pty,
        proc,
        gate: Some(Gate {
            fifo: &a.fifo,
            hooks: hooks.start_container().clone().unwrap_or_default(),
            state_json,
        }),
        fork_into_pid_ns: ns.joins(LinuxNamespaceType::Pid),
        umask: Some(0o022),
    };
    launch.run(steps, seccomp)
}

/// Step::Mounts: the rootfs and everything mounted or made in it; the
/// tmpfs mounts whose `ro` waits for Step::MaskedReadonly. The rootfs
/// handle is closed on return, long before the fd rule's Step::LeaveHost.
fn mount_rootfs(
    a: &InitArgs,
    linux: &Linux,
    process: &Process,
    proc: &procfs::HostProc,
) -> Result<Vec<mounts::ReadonlyLater>> {
    let ns = &a.namespaces;
    let mut readonly_later = Vec::new();
    let mut hop = None;
    if ns.has(LinuxNamespaceType::Mount) {
        let propagation = linux
            .rootfs_propagation()
            .as_deref()
            .map(rootfs::propagation)
            .transpose()?;
        match a.mount_template.take() {
            Some(t) => hop = from_template(a, t, proc, propagation)?,
            None => rootfs::prepare(&a.rootfs, propagation)?,
        }
    } else {
        // Without a mount namespace of its own the container's mounts are
        // made in the caller's, as runc makes them (and leaves them); rt
        // leaves the propagation of the caller's mounts alone, which runc
        // changes (README).
        rootfs::bind_onto_itself(&a.rootfs)?;
    }
    let at = proc.enter()?;
    let root =
        Root::open(&a.rootfs).ctx(|| format!("cannot open rootfs {}", a.rootfs.display()))?;
    let ctx = mounts::MountContext {
        proc,
        at,
        pid_ns: ns
            .join
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::Pid)
            .map(|(_, fd)| std::os::fd::AsFd::as_fd(fd)),
        root: &root,
        rootfs: &a.rootfs,
        bundle: &a.bundle,
        cgroups: &a.cgroups,
        new_cgroupns: ns.creates(LinuxNamespaceType::Cgroup),
        mount_label: lsm::mount_label(linux.mount_label().as_deref()),
        userns: ns.has(LinuxNamespaceType::User),
        sync: &a.sync,
        hop: hop.as_ref(),
    };
    let entries = a.spec.mounts().as_deref().unwrap_or_default();
    let mut idmapped = a.idmapped.take();
    for (n, m) in entries.iter().enumerate() {
        let tree = idmapped
            .iter()
            .position(|i| i.index == n)
            .map(|at| idmapped.swap_remove(at).tree);
        readonly_later.extend(mounts::mount_entry(&ctx, n, m, tree)?);
    }
    let devs = devices::plan(entries, linux.devices().as_deref().unwrap_or_default())?;
    if !devs.is_empty() {
        for d in &devs {
            devices::create(at, &root, d, a.in_userns)?;
        }
        devices::symlinks(&root)?;
    }
    // A missing process.cwd is created, as runc does, before the root
    // can turn read-only — and before pivot_root: to describe a failed
    // call, pathrs reads /proc/thread-self of the process's /proc,
    // which after pivot_root is the container's (and if that is not a
    // procfs, pathrs 0.2.6 panics).
    inroot::mkdir_all(&root, process.cwd(), false).map_err(|e| {
        Error::Init(format!(
            "cannot create process.cwd {}: {e}",
            process.cwd().display()
        ))
    })?;
    Ok(readonly_later)
}

/// Step::Mounts, an init cloned without CLONE_NEWNS because its spec lets
/// it start from the mount template (see `template`): the rootfs cloned,
/// its own namespace made from the template, the rootfs attached. Where
/// the rootfs cannot be cloned it makes its namespace as a copy of the
/// host's instead, as clone would have, whose setup meets the same
/// failure and reports it as it always did.
fn from_template(
    a: &InitArgs,
    template: OwnedFd,
    proc: &procfs::HostProc,
    propagation: Option<nix::mount::MsFlags>,
) -> Result<Option<template::Hop>> {
    use nix::mount::MsFlags;
    match template::Clones::make(proc, &a.rootfs) {
        Ok(clones) => {
            let flags = propagation.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
            template::enter(template, proc, &a.rootfs, clones, flags).map(Some)
        }
        Err(_) => {
            nix::sched::unshare(clone_flag(LinuxNamespaceType::Mount))
                .ctx(|| "cannot create the container's mount namespace")?;
            rootfs::prepare(&a.rootfs, propagation)?;
            Ok(None)
        }
    }
}

/// Step::Unshare: create the namespaces clone did not (see
/// `namespaces::Plan::unshares`), the user namespace first (one unshare(2)
/// call makes it first). rt writes the new user namespace's id maps and
/// moves `netDevices` into the new network namespace, then says Go. A new
/// pid namespace applies to children: the container's process is forked
/// into it as its pid 1, the first process of that namespace.
fn unshare_namespaces(a: &InitArgs) -> Result<()> {
    let ns = &a.namespaces;
    let flags =
        ns.new - clone_flag(LinuxNamespaceType::Cgroup) - clone_flag(LinuxNamespaceType::Time);
    nix::sched::unshare(flags).ctx(|| "cannot create the container's namespaces")?;
    a.sync.send(&Msg::Unshared)?;
    expect(&a.sync, Msg::Go)?;
    if a.rootless_maps {
        syscall::set_dumpable(false).ctx(|| "cannot make the process non-dumpable")?;
    }
    if ns.creates(LinuxNamespaceType::Pid) {
        fork_into_pid_ns(&a.sync)?;
    }
    Ok(())
}

/// Step 9: a pty from the container's devpts when `process.terminal` is set.
fn open_terminal(
    process: &Process,
    console: Option<&ConsoleSocket>,
    bind_console: Option<procfs::InHostProc<'_>>,
    proc: &procfs::HostProc,
) -> Result<Option<terminal::Pty>> {
    match (process.terminal().unwrap_or(false), console) {
        (true, Some(sock)) => {
            let size = process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            Ok(Some(terminal::create(sock, size, bind_console, proc)?))
        }
        (true, None) => Err(Error::Usage(
            "process.terminal needs --console-socket".into(),
        )),
        (false, _) => Ok(None),
    }
}

/// Where the pipeline is: timings, notes for `--debug` and warnings (sent to the
/// parent with Ready, which logs them: the log file is closed at
/// [`Step::LeaveHost`]), the fault-injection points `init:<step>`, and the
/// step a failure is reported at.
pub struct Steps {
    current: Step,
    since: std::time::Instant,
    done: Vec<(Step, std::time::Duration)>,
    /// Debug lines, logged as they are, and warnings (`warning` true),
    /// logged at that level. Some debug lines carry the name runc gives
    /// the same step ("nsexec container setup"), which tools grep for.
    notes: Vec<(bool, String)>,
    /// Ready was sent: the parent is gone, errors go to stderr.
    ready: bool,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            current: Step::Start,
            since: std::time::Instant::now(),
            done: Vec::new(),
            notes: Vec::new(),
            ready: false,
        }
    }

    fn note(&mut self, line: impl Into<String>) {
        self.notes.push((false, line.into()));
    }

    /// A warning for the caller of create or exec (the process can no
    /// longer log itself: see [`Step::LeaveHost`]).
    fn warn(&mut self, line: impl Into<String>) {
        self.notes.push((true, line.into()));
    }

    /// The notes of a process (`who`: init or exec) that has just got Go:
    /// where it is, and its CPU affinity (the first 64 CPUs) before it
    /// joins its v1 cgroups (a cpuset resets it), i.e.
    /// execCPUAffinity.initial if the parent set one.
    fn note_start(&mut self, who: &str, what: &str) {
        self.note(format!("nsexec container setup: {what}"));
        if let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
            let mask = (0..64u32)
                .filter(|&cpu| set.is_set(cpu as usize).unwrap_or(false))
                .fold(0u64, |m, cpu| m | 1 << cpu);
            self.note(format!("{who}: affinity: {mask:#x}"));
        }
        self.note("child process in init(): the setup pipeline starts");
    }

    fn enter(&mut self, step: Step) -> Result<()> {
        debug_assert!(
            step as usize > self.current as usize,
            "init step {step:?} entered after {:?}: the pipeline's order is Step's",
            self.current
        );
        let now = std::time::Instant::now();
        self.done.push((self.current, now - self.since));
        self.current = step;
        self.since = now;
        crate::fault::point(&format!("init:{}", step.name()))
    }

    /// `step=microseconds` pairs, space-separated, then a line per note,
    /// its level (`debug`, `warning`) first (see
    /// `container::create::log_steps`).
    fn report(&self) -> String {
        let timings = self
            .done
            .iter()
            .map(|(s, d)| format!("{}={}", s.name(), d.as_micros()))
            .collect::<Vec<_>>()
            .join(" ");
        let notes = self.notes.iter().map(|(warning, n)| {
            let level = if *warning { "warning" } else { "debug" };
            format!("{level} {}", n.replace('\n', " "))
        });
        std::iter::once(timings)
            .chain(notes)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Init waits at the exec fifo for `start`, then runs startContainer hooks.
struct Gate<'a> {
    /// The exec fifo, open read-write (create opened it): no host path or
    /// procfs is needed to wait on it.
    fifo: &'a OwnedFd,
    hooks: Vec<oci_spec::runtime::Hook>,
    state_json: String,
}

/// Steps 11–18, shared by init and exec'd processes.
struct Launch<'a> {
    process: &'a Process,
    shared: &'a attributes::Shared,
    in_userns: bool,
    sync: &'a Channel,
    preserve_fds: u32,
    pty: Option<terminal::Pty>,
    /// Dropped at 11, with every other fd of the host (see the fd rule).
    proc: procfs::HostProc,
    gate: Option<Gate<'a>>,
    /// A pid namespace was joined by path: the process that goes on from
    /// Step::LeaveHost is a child of this one, forked into it.
    fork_into_pid_ns: bool,
    /// The umask when `process.user.umask` is unset, as runc sets it:
    /// 0022 for the init, the container's own for an exec'd process — and
    /// where the container has none either, the caller's, kept (runtime
    /// spec: an unset umask is not changed).
    umask: Option<u32>,
}

impl Launch<'_> {
    fn run(self, steps: &mut Steps, seccomp: Option<Seccomp>) -> Result<Error> {
        let process = self.process;
        // Installed at Step::SeccompEarly or Step::SeccompLate.
        let (early, late) = if process.no_new_privileges().unwrap_or(false) {
            (None, seccomp)
        } else {
            (seccomp, None)
        };
        steps.enter(Step::LeaveHost)?;
        // Written through the host procfs.
        if let Some(score) = process.oom_score_adj() {
            process::set_oom_score_adj(&self.proc, score)?;
        }
        lsm::apply_on_exec(
            &self.proc,
            process.apparmor_profile().as_deref(),
            process.selinux_label().as_deref(),
        )?;
        let keep: Vec<_> = [
            self.sync.as_raw_fd(),
            self.gate.as_ref().map(|g| g.fifo.as_raw_fd()),
            self.pty.as_ref().map(|p| p.slave.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        .chain(early.iter().chain(late.iter()).flat_map(Seccomp::held_fds))
        .collect();
        leave_host(self.proc, self.preserve_fds, &keep)?;
        if self.fork_into_pid_ns {
            fork_into_pid_ns(self.sync)?;
        }

        steps.enter(Step::RlimitsBounding)?;
        process::set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
        attributes::apply(process, self.shared)?;
        let mut warnings = Vec::new();
        let caps = capabilities::Sets::from_spec(process.capabilities().as_ref(), &mut warnings)?;
        caps.apply_bounding()?;
        // Reading the container's /etc/passwd, the checks of process.cwd
        // and the program, and the chown of stdio go before the filter: a
        // profile may deny openat2 (see process::Confined) or fchown.
        let uid = process.user().uid();
        let env = environment::prepare(process.env().as_deref(), uid)?;
        let args = process.args().clone().unwrap_or_default();
        let first = args
            .first()
            .ok_or_else(|| Error::Config("process.args must name a program".into()))?;
        let confined = process::confine(process.cwd(), first, &env)?;
        process::give_stdio(uid, self.pty.as_ref().map(|p| &p.slave))?;
        if let Some(filter) = early {
            steps.enter(Step::SeccompEarly)?;
            filter.install()?;
        }

        steps.enter(Step::UserCaps)?;
        let in_cwd = process::enter_cwd_as_root(process.cwd(), &confined)?;
        process::switch_user(process.user(), self.in_userns)?;
        caps.apply(&mut warnings)?;
        warnings.into_iter().for_each(|w| steps.warn(w));

        steps.enter(Step::CwdProgram)?;
        if !in_cwd {
            process::enter_cwd(process.cwd(), &confined)?;
        }
        if let Some(mask) = process.user().umask().or(self.umask) {
            process::set_umask(mask);
        }
        let program = process::find_program(first, &env, &confined)?;

        steps.enter(Step::NoNewPrivs)?;
        if process.no_new_privileges().unwrap_or(false) {
            syscall::set_no_new_privs().ctx(|| "cannot set no_new_privs")?;
        }
        if let Some(filter) = late {
            steps.enter(Step::SeccompLate)?;
            filter.install()?;
        }

        steps.enter(Step::Ready)?;
        steps.note(match self.gate {
            Some(_) => "init: closing the pipe to signal completion (the sync socket)",
            None => "setns_init: about to exec",
        });
        self.sync.send(&Msg::Ready(steps.report()))?;
        steps.ready = true;
        // Nothing more to say, and nothing of rt's but the fifo is left
        // open while the container can see this process.
        self.sync.close();
        if let Some(pty) = &self.pty {
            pty.attach()?;
        } else {
            // A session of its own, as runc's init and exec'd processes get
            // (nsexec): criu cannot dump a process whose session leader is
            // outside its pid namespace, and the caller's terminal must not
            // signal it directly. A fresh clone is never a group leader, so
            // this cannot fail with EPERM; if it did, only checkpoints
            // would suffer.
            let _ = nix::unistd::setsid();
        }

        if let Some(gate) = &self.gate {
            steps.enter(Step::WaitStart)?;
            wait_for_start(gate.fifo)?;
            steps.enter(Step::StartHooks)?;
            let state = gate.state_json.as_bytes();
            crate::hooks::run_all("startContainer", &gate.hooks, state, Some(&env))?;
        }
        steps.enter(Step::Exec)?;
        Ok(process::exec(&program, &args, &env))
    }
}

/// Step 11, the fd rule: from here on the process holds nothing of the
/// host. Its working directory (the host procfs until now) becomes the
/// container's root, the procfs handle and the log file are closed, and so
/// is every other fd but stdio, `--preserve-fds` and `keep` (the sync
/// socket, the exec fifo, the pty, a seccomp agent's connection).
fn leave_host(proc: procfs::HostProc, preserve_fds: u32, keep: &[RawFd]) -> Result<()> {
    nix::unistd::chdir("/").ctx(|| "cannot change directory to the container's root")?;
    drop(proc);
    let first = RawFd::try_from(3 + u64::from(preserve_fds))
        .map_err(|_| Error::Usage(format!("--preserve-fds {preserve_fds} is too large")))?;
    // Its fd goes with the rest, below.
    crate::logging::detach();
    // Only the caller's fds pass: where it left a gap among them, an fd of
    // rt's own took the number (a namespace, the host /proc, its sealed
    // binary) and goes too.
    let mut kept = PASSED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    kept.retain(|&fd| fd < first);
    kept.extend_from_slice(keep);
    syscall::close_fds_except(3, &kept).ctx(|| "cannot close the fds rt inherited")
}

/// The fds among the first `--preserve-fds` (from 3) that were open when
/// rt started: the caller's, which the container gets.
static PASSED: std::sync::Mutex<Vec<RawFd>> = std::sync::Mutex::new(Vec::new());

/// Record which of the `n` fds from 3 the caller passed; called before rt
/// opens any fd of its own (the handle of its sealed binary, open since
/// the entry point, is rt's).
pub fn note_passed_fds(n: u32) {
    let last = RawFd::try_from(3 + u64::from(n)).unwrap_or(RawFd::MAX);
    let ours = crate::exeseal::kept();
    // An fd past the limit cannot be open.
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| RawFd::try_from(soft).unwrap_or(RawFd::MAX))
        .unwrap_or(RawFd::MAX);
    let open = (3..last.min(limit))
        .filter(|&fd| Some(fd) != ours)
        .filter(|&fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok())
        .collect();
    *PASSED.lock().unwrap_or_else(|e| e.into_inner()) = open;
}

/// A pid namespace joined by path, or created by unshare, applies to
/// children only: fork the container's process into it (as a child of rt,
/// CLONE_PARENT), tell rt its pid, and leave. The child goes on with
/// everything set so far; forked at Step::LeaveHost it is born holding
/// only what `leave_host` kept.
fn fork_into_pid_ns(sync: &Channel) -> Result<()> {
    let forked = syscall::clone_process(libc::CLONE_PARENT)
        .ctx(|| "cannot fork into the container's pid namespace")?;
    let pid = match forked {
        syscall::Forked::Child => return Ok(()),
        syscall::Forked::Parent(pid) => pid,
    };
    let code = match sync.send(&Msg::Forked(pid.as_raw())) {
        Ok(()) => 0,
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            1
        }
    };
    syscall::exit_now(code)
}

/// Step 16: block until `rt start` writes its byte to the exec fifo. The
/// fifo stays open until exec(2) closes it: that tells `start` the program
/// runs (or the init died), after which it runs poststart hooks.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fifo.as_raw_fd(), &mut byte) {
            Ok(1) => return Ok(()),
            // We hold a writer ourselves: EOF cannot happen.
            Ok(_) => return Err(Error::Init("the exec fifo was closed".into())),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("cannot wait on the exec fifo", e)),
        }
    }
}
