//! The steps of the init pipeline, in the order they run: the one place the
//! order is written, each step with the reason it sits where it does. The
//! name of a step is what `--debug` timings, fault-injection points
//! (`init:<name>`) and failure reports use.

/// One step of [`super::run`] (and of `rt exec`'s subset, see the module
/// doc of `init`), in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing has run yet.
    Start,
    /// **Wait for the parent**, which writes our uid/gid maps (nothing
    /// privileged works before them; with [`Step::Unshare`], later), **then join the container's v1
    /// cgroups** by writing `0` to their `tasks` files: a thread moving
    /// itself skips the kernel's global threadgroup lock, whose first writer
    /// waits for an RCU grace period. We were born in the cgroup2 directory
    /// (clone3 CLONE_INTO_CGROUP). Every later step is charged to the
    /// container, and [`Step::UserRoot`]'s cgroup namespace is rooted
    /// there. Then the CPU affinity: every CPU the cpuset allows, not
    /// rt's own (an exec'd process: its execCPUAffinity), which only works
    /// once in the cpuset. (linux.seccomp was compiled by `create` before it
    /// made anything, so a bad profile costs no clone; the filter goes in
    /// at [`Step::SeccompEarly`] or [`Step::SeccompLate`].)
    WaitParent,
    /// **Join namespaces by path**, in runc's order (`namespaces::join`):
    /// the others with the caller's credentials first, then the user
    /// namespace, then those only its root may join. rt itself never joins
    /// one, so its hooks run in its own namespaces; a joined pid namespace
    /// takes effect at [`Step::LeaveHost`].
    JoinNamespaces,
    /// **Create the namespaces clone could not**: after the joins, so that
    /// a joined user namespace owns them, or a new one comes after joins
    /// that need the host's credentials (`namespaces::Plan::unshares`;
    /// nothing to do otherwise). rt then writes the new user namespace's
    /// maps; a new pid namespace gets the container's process forked into
    /// it, as its first process.
    Unshare,
    /// **Become root of the container's user namespace** (setresuid 0: a
    /// new one once mapped; a joined one, where rt's own ids mean nothing),
    /// and create the cgroup namespace: it is rooted at the cgroup its
    /// creator is in, so it must come after [`Step::WaitParent`] (clone
    /// cannot create it). Bring up `lo` of a new network namespace. Then
    /// join the container's own session keyring (`keyring`, unless
    /// --no-new-keyring; created with the process's SELinux label where
    /// SELinux runs), as its root: the caller's would be shared with
    /// the container, and every later step runs with the new one.
    UserRoot,
    /// **Open the host /proc**, checked to be procfs, before any container
    /// mount can shadow it. It is closed at [`Step::LeaveHost`].
    HostProc,
    /// **Rootfs and mounts**: the container's mount namespace, made here
    /// from the mount template when `create` cloned the init without one
    /// (`template`: the rootfs cloned on the host first; a bind source
    /// outside it is cloned on the host when its entry comes); the tree's
    /// propagation first (a slave of the host's, or rootfsPropagation, with
    /// the rootfs's own mount private),
    /// then the rootfs bind, `mounts` in config order, /dev nodes and symlinks (they
    /// need the /dev tmpfs from `mounts`), and a missing process.cwd made
    /// (before pivot_root: a failing pathrs call reads the process's /proc
    /// to describe its error, and after [`Step::PivotRoot`] that is the
    /// container's).
    Mounts,
    /// **Hooks**: the parent runs prestart and createRuntime, then
    /// createContainer runs here, in the rootfs as runc runs it — all after
    /// the mounts and before pivot_root (runtime spec). With SCMP_ACT_NOTIFY, connect to the
    /// seccomp agent's listenerPath: a host path, which resolves only
    /// before pivot_root.
    Hooks,
    /// **pivot_root** (or MS_MOVE + chroot with --no-pivot), then
    /// rootfsPropagation on the new tree.
    PivotRoot,
    /// **sysctl, hostname**, in the container's namespaces; sysctl before
    /// readonlyPaths turns /proc/sys read-only. Only keys of namespaces the
    /// container has of its own get here (`sysctl::check`, at create).
    SysctlHostname,
    /// **Console**: the pty comes from the container's devpts (mounted in
    /// [`Step::Mounts`]), bound over /dev/console before the root can go
    /// read-only. Stdio that is the host's /dev/null is reopened on the
    /// container's, read-write.
    Console,
    /// **`ro` tmpfs mounts, readonlyPaths, maskedPaths, root.readonly**
    /// (runc's order, which clients see in the mount table): the last
    /// changes to the tree. A tmpfs turns read-only only here, as in runc,
    /// so the steps before may fill it (an `ro` /dev gets its nodes and
    /// mount points, createContainer hooks may mount in it).
    MaskedReadonly,
    /// **Leave the host** (the fd rule, in the module doc of `init`):
    /// oom_score_adj and LSM exec labels through the host /proc; then the
    /// working directory becomes the container's root, and every fd but
    /// stdio, `--preserve-fds`, the sync socket, the exec fifo, the pty and
    /// a seccomp agent's connection is closed — the host /proc, the rootfs
    /// and cgroup handles, namespace files, the log file, whatever rt
    /// inherited. With a pid namespace joined by path, fork into it here
    /// (it applies to children only): the forked process, born with no fd
    /// of the host, goes on; this one reports its pid and exits.
    LeaveHost,
    /// **rlimits, io priority, scheduler, personality, memory policy,
    /// bounding set**: they need the privileges dropped at
    /// [`Step::UserCaps`]. The **environment** (HOME from the container's
    /// /etc/passwd, which is now the root's), the confinement checks of
    /// process.cwd and the program, and the pty or stdio **given to the
    /// process's uid** (runc's fixStdioPermissions) — before any filter,
    /// which may deny openat2 or fchown.
    RlimitsBounding,
    /// **The seccomp filter, if no_new_privs is off**: the kernel accepts a
    /// filter from a process without no_new_privs only with CAP_SYS_ADMIN,
    /// which [`Step::UserCaps`] drops.
    SeccompEarly,
    /// **cwd entered as root** where root may (runc's order: a 0700 /root
    /// works for uid 42), **then user, groups, capability sets.** An
    /// ambient capability the kernel will not raise, like one rt cannot
    /// grant, is a warning (runc's), which goes to the caller with Ready:
    /// the process cannot log since [`Step::LeaveHost`].
    UserCaps,
    /// **cwd as the final user** if root was refused (a directory only the
    /// user's id may enter); either way checked to be the directory
    /// resolved inside the root. Umask (with or without a mount namespace;
    /// unset: 0022 for the init, the container's or else the caller's for
    /// an exec'd process, as runc), and the program looked up now so
    /// `create` reports a missing binary: each candidate resolved without
    /// magic links from where execve starts (the root for an absolute
    /// name, the cwd for a relative one), and executable with the effective
    /// ids and capabilities, as execve judges.
    CwdProgram,
    /// **no_new_privs.**
    NoNewPrivs,
    /// **The seccomp filter, if no_new_privs is on**: as late as `create`
    /// (or `exec`) can still report its failure — before Ready, as runc
    /// loads it before it closes its sync pipe. So what follows runs under
    /// it, as with runc: the Ready message and the close (sendto, close),
    /// the pty or a new session, the fifo read, startContainer hooks (a
    /// profile that kills mkdir kills a hook's mkdir) and execve; a
    /// profile must allow those. At either seccomp step a seccomp agent
    /// gets the listener fd as the filter goes in (sendmsg, write: so
    /// SCMP_ACT_NOTIFY may not take them).
    SeccompLate,
    /// **Report Ready** (with the debug notes and warnings), close the sync
    /// socket (`create` waits for it to close), switch stdio to the pty.
    Ready,
    /// **Wait for `start`**: a blocking read of the exec fifo, which
    /// `create` opened read-write for us. The fifo stays open: exec closes
    /// it, and that tells `start` the program runs.
    WaitStart,
    /// **startContainer hooks**, in the container, after start, under the
    /// seccomp filter (either step), with the process's environment
    /// (HOME included) when they set none, as runc ≥ 1.2.
    StartHooks,
    /// **exec** the container's program.
    Exec,
}

impl Step {
    /// Every step, in pipeline order.
    pub const ALL: [Step; 23] = [
        Step::Start,
        Step::WaitParent,
        Step::JoinNamespaces,
        Step::Unshare,
        Step::UserRoot,
        Step::HostProc,
        Step::Mounts,
        Step::Hooks,
        Step::PivotRoot,
        Step::SysctlHostname,
        Step::Console,
        Step::MaskedReadonly,
        Step::LeaveHost,
        Step::RlimitsBounding,
        Step::SeccompEarly,
        Step::UserCaps,
        Step::CwdProgram,
        Step::NoNewPrivs,
        Step::SeccompLate,
        Step::Ready,
        Step::WaitStart,
        Step::StartHooks,
        Step::Exec,
    ];

    /// The step's name in `--debug` timings, fault points and reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::WaitParent => "wait-parent",
            Step::JoinNamespaces => "join-namespaces",
            Step::Unshare => "unshare",
            Step::UserRoot => "user-root",
            Step::HostProc => "host-proc",
            Step::Mounts => "mounts",
            Step::Hooks => "hooks",
            Step::PivotRoot => "pivot-root",
            Step::SysctlHostname => "sysctl-hostname",
            Step::Console => "console",
            Step::MaskedReadonly => "masked-readonly",
            Step::LeaveHost => "leave-host",
            Step::RlimitsBounding => "rlimits-bounding",
            Step::SeccompEarly => "seccomp-early",
            Step::UserCaps => "user-caps",
            Step::CwdProgram => "cwd-program",
            Step::NoNewPrivs => "no-new-privs",
            Step::SeccompLate => "seccomp-late",
            Step::Ready => "ready",
            Step::WaitStart => "wait-start",
            Step::StartHooks => "start-hooks",
            Step::Exec => "exec",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Step;

    #[test]
    fn every_step_is_listed_once_in_order() {
        let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a name is used twice: {names:?}");
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?} is out of pipeline order");
        }
    }
}
