//! The child side of `rt exec`: join the running container and launch a
//! process in it, through the same steps 11–18 as init (see the module doc
//! of `init`).

use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::{
    expect, finish, namespaces, open_terminal, procfs, Channel, ConsoleSocket, Launch, Msg, Step,
};

pub struct ExecArgs {
    pub process: Process,
    pub sync: Channel,
    pub console: Option<ConsoleSocket>,
    pub preserve_fds: u32,
    /// The container's namespaces to join in the child (in
    /// `namespaces::join`'s order); the pid namespace applies to its child
    /// (see `Launch`).
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// In a user namespace (the container's, or rt's own): setgroups may
    /// be denied.
    pub in_userns: bool,
    /// What of the container's `linux` section an exec'd process gets.
    pub shared: super::attributes::Shared,
    /// The container's profile: an exec'd process is filtered like init.
    pub seccomp: std::cell::Cell<Option<crate::seccomp::Seccomp>>,
    /// The container's state, for a seccomp agent.
    pub state_json: String,
    /// The `tasks` files of the container's v1 cgroups: the child joins
    /// them itself, as the init does (see `init::pipeline`).
    pub cgroup_tasks: Vec<std::path::PathBuf>,
    /// The container's session keyring; None with --no-new-keyring.
    pub session_keyring: Option<String>,
    /// The container's `process.user.umask`, for a process without one.
    pub umask: Option<u32>,
}

impl ExecArgs {
    /// The fds the child gets, by number: after a child that shared rt's
    /// memory (`syscall::clone_vm`) took these arguments, the parent closes
    /// its own copies by number and touches nothing else of them.
    pub fn raw_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<_> = self.join.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        fds.extend(self.sync.as_raw_fd());
        fds.extend(self.console.as_ref().map(|c| c.fd.as_raw_fd()));
        fds
    }

    /// The parent's copy, once the child has its own: the fds are closed
    /// (the parent sees EOF on the socket only when the child's end is the
    /// child's alone), the memory is left to rt's exit. Freeing it wrote to
    /// heap pages the clone had write-protected and the child still shared:
    /// a fault and a page copy each, ~24 per exec (perf's page-fault
    /// tracepoint over 20 execs).
    pub fn leave_to_child(mut self) {
        self.sync.close();
        drop(self.console.take());
        drop(std::mem::take(&mut self.join));
        std::mem::forget(self);
    }
}

pub fn run(a: ExecArgs) -> ! {
    finish(&a.sync, false, |steps| {
        steps.enter(Step::WaitParent)?;
        expect(&a.sync, Msg::Go)?;
        steps.note_start("exec", "the exec process joins the container's namespaces");
        super::join_cgroups(&a.cgroup_tasks)?;
        super::attributes::settle_affinity(a.process.exec_cpu_affinity().as_ref())?;
        let mut seccomp = a.seccomp.take();
        if let Some(filter) = &seccomp {
            steps.note(filter.flags_note());
        }
        if let Some(filter) = seccomp.as_mut() {
            filter.connect_agent(&a.state_json)?;
        }
        steps.enter(Step::JoinNamespaces)?;
        // Opened while the host's mount namespace is still ours.
        let proc = procfs::HostProc::open()?;
        if a.session_keyring.is_some() {
            // Its keys get the process's SELinux label (runc's order).
            super::lsm::label_keys(a.process.selinux_label().as_deref())?;
        }
        namespaces::join(&a.join)?;
        if let Some(name) = &a.session_keyring {
            super::keyring::join(name, super::keyring::Joiner::Exec)?;
        }
        let pty = open_terminal(&a.process, a.console.as_ref(), None, &proc)?;
        let launch = Launch {
            process: &a.process,
            shared: &a.shared,
            in_userns: a.in_userns,
            sync: &a.sync,
            preserve_fds: a.preserve_fds,
            pty,
            proc,
            gate: None,
            fork_into_pid_ns: a.join.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid),
            umask: a.umask,
        };
        launch.run(steps, seccomp)
    })
}
