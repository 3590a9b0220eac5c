//! `linux.seccomp`: the OCI profile compiled to a classic-BPF filter by rt
//! itself, installed with seccomp(2).
//!
//! # Why rt has its own compiler
//!
//! An OCI profile mixes actions freely: ERRNO with per-rule errno values,
//! ALLOW, LOG, TRACE, TRAP, KILL_*, NOTIFY, each rule with its own
//! argument conditions. seccompiler builds filters with one match action
//! and one mismatch action and lacks LOG and NOTIFY, and libseccomp is C.
//! A seccomp filter is a small, well-specified program, so rt generates it:
//!
//! 1. [`profile`] checks the profile and resolves it: actions become
//!    SECCOMP_RET_* values (ERRNO/TRACE data = errnoRet, EPERM by default),
//!    and for each architecture every name becomes a number from the
//!    kernel's tables in [`syscalls`] (x86_64, i386, x32; unknown names are
//!    skipped with a debug line, like libseccomp and runc do). The rules of
//!    one system call keep profile order: the first that matches decides.
//! 2. [`bpf`] generates the program: a check of `seccomp_data.arch`
//!    (foreign architectures are killed, libseccomp's default), then per
//!    architecture a binary search over ranges of system call numbers that
//!    share an outcome, so a plain allow-list costs one instruction per run
//!    of numbers and ~log2(runs) at run time. Calls with argument
//!    conditions get a block comparing 64-bit arguments as two 32-bit words
//!    (x86_64; i386 and x32 compare the low word, as libseccomp does).
//! 3. [`asm`] lays the program out: labels, and `ja` hops for conditional
//!    jumps beyond their 8-bit reach.
//!
//! Docker's default profile compiles to about 150 instructions (the kernel
//! takes 4096); the unit tests run every program in a BPF interpreter.
//!
//! # Where it is installed
//!
//! The init pipeline (see `init`) compiles the profile before any setup,
//! so a bad profile fails `create`, and installs the filter as late as it
//! can: right before exec with no_new_privs, else before capabilities are
//! dropped (the kernel then demands CAP_SYS_ADMIN). With SCMP_ACT_NOTIFY,
//! init connects to `listenerPath` — a host path — before pivot_root and,
//! once the filter is in, sends the listener fd there ([`notify`]).

pub mod docker;

mod arch;
mod asm;
mod bpf;
mod notify;
mod profile;
mod syscalls;

#[cfg(test)]
mod interp;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use oci_spec::runtime::LinuxSeccomp;

use crate::error::{Context, Error, Result};
use crate::syscall;

/// A compiled filter waiting to be installed.
pub struct Seccomp {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    /// Set when the profile uses SCMP_ACT_NOTIFY.
    listener: Option<Listener>,
    agent: Option<notify::Agent>,
}

struct Listener {
    path: PathBuf,
    metadata: Option<String>,
}

/// Check and compile `profile`; nothing is installed yet.
pub fn compile(profile: &LinuxSeccomp) -> Result<Seccomp> {
    if !cfg!(target_arch = "x86_64") {
        return Err(Error::Seccomp(
            "rt builds seccomp filters for x86_64 hosts only".into(),
        ));
    }
    let plan = profile::Plan::new(profile)?;
    let listener =
        match (
            plan.notify,
            profile.listener_path(),
            profile.listener_metadata(),
        ) {
            (_, None, Some(_)) => {
                return Err(Error::Seccomp(
                    "listenerMetadata is set without listenerPath".into(),
                ))
            }
            (true, None, _) => return Err(Error::Seccomp(
                "SCMP_ACT_NOTIFY needs listenerPath: nothing else could receive the listener fd"
                    .into(),
            )),
            (true, Some(p), _) if !p.is_absolute() => {
                return Err(Error::Seccomp(format!(
                    "listenerPath {} must be absolute",
                    p.display()
                )))
            }
            (true, Some(p), metadata) => Some(Listener {
                path: p.clone(),
                metadata: metadata.clone(),
            }),
            // The runtime spec: without SCMP_ACT_NOTIFY the listener is ignored.
            (false, _, _) => None,
        };
    let program = bpf::generate(&plan)?;
    if program.len() > libc::BPF_MAXINSNS as usize {
        return Err(Error::Seccomp(format!(
            "the filter needs {} instructions; the kernel takes at most {}",
            program.len(),
            libc::BPF_MAXINSNS
        )));
    }
    Ok(Seccomp {
        program,
        flags: plan.flags,
        listener,
        agent: None,
    })
}

impl Seccomp {
    /// The BPF program, for diagnostics and tests.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// With SCMP_ACT_NOTIFY, connect to the agent now, while the host path
    /// `listenerPath` resolves; a no-op otherwise.
    pub fn connect_agent(&mut self, state_json: &str) -> Result<()> {
        if let Some(l) = &self.listener {
            self.agent = Some(notify::connect(&l.path, l.metadata.as_deref(), state_json)?);
        }
        Ok(())
    }

    /// Install the filter on this thread (and the programs it execs); hand
    /// the listener fd to the agent if there is one.
    pub fn install(self) -> Result<()> {
        let mut flags = self.flags;
        if self.listener.is_some() {
            if self.agent.is_none() {
                return Err(Error::Init(
                    "the seccomp filter notifies an agent rt is not connected to".into(),
                ));
            }
            flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        }
        let fd = syscall::seccomp_set_mode_filter(flags, &self.program)
            .ctx(|| "cannot install the seccomp filter")?;
        match (self.agent, fd) {
            (Some(agent), Some(fd)) => agent.send(fd),
            _ => Ok(()),
        }
    }
}
