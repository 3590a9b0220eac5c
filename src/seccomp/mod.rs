//! `linux.seccomp`: the OCI profile compiled to a classic-BPF filter by rt
//! itself, installed with seccomp(2).
//!
//! # Why rt has its own compiler
//!
//! An OCI profile mixes actions freely: ERRNO with per-rule errno values,
//! ALLOW, LOG, TRACE, TRAP, KILL_*, NOTIFY, each rule with its own
//! argument conditions. seccompiler builds filters with one match action
//! and one mismatch action, has no NOTIFY and no i386 or x32 (measured:
//! bench/seccompiler, README "Dependencies"), and libseccomp is C.
//! A seccomp filter is a small, well-specified program, so rt generates it:
//!
//! 1. `profile` checks the profile and resolves it: actions become
//!    SECCOMP_RET_* values (ERRNO/TRACE data = errnoRet, EPERM by default),
//!    and for each architecture every name becomes a number from the
//!    kernel's tables in `syscalls` (x86_64, i386, x32; unknown names are
//!    skipped with a debug line, like libseccomp and runc do).
//! 2. `bpf` generates the program: a check of `seccomp_data.arch` (foreign
//!    architectures are killed, libseccomp's default), then per
//!    architecture a binary search over ranges of system call numbers that
//!    share an outcome, so a plain allow-list costs one instruction per run
//!    of numbers and ~log2(runs) at run time. Calls with argument
//!    conditions get a block of rules.
//! 3. `asm` lays the program out: labels, and `ja` hops for conditional
//!    jumps beyond their 8-bit reach.
//!
//! Each step is linear in the profile (the layout O(n log n)), and a
//! program longer than the kernel takes (4096 instructions) is refused as
//! soon as generation has counted past it, before any layout: a profile of
//! 100 000 rules fails in moments, not minutes.
//!
//! Docker's default profile (x86_64, i386, x32) compiles to about 370
//! instructions — the kernel takes 4096 — of which a system call runs at
//! most 16; the unit tests run every program in a BPF interpreter.
//!
//! # Semantics
//!
//! As runc with libseccomp, except where noted:
//! - conditions of a rule must all hold; several conditions on the same
//!   argument make one rule each, any of which may match (as runc does);
//! - 64-bit arguments compare as two 32-bit words, high word first; i386
//!   and x32 compare the low words only (libseccomp before 2.6.1 could
//!   merge the comparisons of two rules wrongly, GHSA-4q85-33p6-j5g6);
//! - of the rules of one system call the first that matches, in profile
//!   order, decides (libseccomp orders overlapping rules its own way);
//! - a system call numbered above the highest one the profile names on its
//!   architecture gets ENOSYS, not the default action, unless that is
//!   ALLOW, LOG or TRACE: runc's patch of libseccomp's program (patchbpf),
//!   so that programs fall back from calls newer than the profile;
//! - SCMP_ACT_NOTIFY needs `listenerPath`, is refused as the default action
//!   and for `sendmsg` and `write`, which rt needs to hand the fd over.
//!
//! When init compiles the profile, connects the agent and installs the
//! filter — and why then — is written in the `init` module doc; this
//! module provides [`compile`], [`Seccomp::connect_agent`] and
//! [`Seccomp::install`], and `notify` the message to the agent.

#[cfg(any(test, feature = "test-support"))]
pub mod docker;

mod arch;
mod asm;
mod bpf;
mod features;
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

pub use features::features;

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
        return Err(bad("rt builds seccomp filters for x86_64 hosts only"));
    }
    let plan = profile::Plan::new(profile)?;
    let listener = listener(profile, plan.notify)?;
    let program = bpf::generate(&plan)?;
    Ok(Seccomp {
        program,
        flags: plan.flags,
        listener,
        agent: None,
    })
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Seccomp(msg.into())
}

/// Where the listener fd goes when the profile notifies. The runtime spec:
/// without SCMP_ACT_NOTIFY `listenerPath` is ignored, and
/// `listenerMetadata` needs `listenerPath`.
fn listener(profile: &LinuxSeccomp, notify: bool) -> Result<Option<Listener>> {
    let metadata = profile.listener_metadata().clone();
    let Some(path) = profile.listener_path().clone() else {
        return match (notify, metadata) {
            (_, Some(_)) => Err(bad("listenerMetadata is set without listenerPath")),
            (true, None) => Err(bad(
                "SCMP_ACT_NOTIFY needs listenerPath to hand the fd to an agent",
            )),
            (false, None) => Ok(None),
        };
    };
    if !notify {
        return Ok(None);
    }
    if !path.is_absolute() {
        return Err(bad(format!(
            "listenerPath {} must be absolute",
            path.display()
        )));
    }
    Ok(Some(Listener { path, metadata }))
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
    /// The fds this filter holds until it is installed (the connection to
    /// the seccomp agent): kept when the init closes the rest.
    pub fn held_fds(&self) -> Option<std::os::fd::RawFd> {
        self.agent.as_ref().map(notify::Agent::as_raw_fd)
    }

    /// The SECCOMP_FILTER_FLAG_* bits `install` passes to seccomp(2).
    fn install_flags(&self) -> libc::c_ulong {
        match self.listener {
            Some(_) => self.flags | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            None => self.flags,
        }
    }

    /// The `--debug` line naming the flags `install` will pass, in runc's
    /// words (runc's tests read the number from it).
    pub fn flags_note(&self) -> String {
        format!("seccomp filter flags: {}", self.install_flags())
    }

    pub fn install(self) -> Result<()> {
        if self.listener.is_some() && self.agent.is_none() {
            return Err(Error::Init(
                "the seccomp filter notifies an agent rt is not connected to".into(),
            ));
        }
        let flags = self.install_flags();
        let fd = syscall::seccomp_set_mode_filter(flags, &self.program)
            .ctx(|| "cannot install the seccomp filter")?;
        match (self.agent, fd) {
            (Some(agent), Some(fd)) => agent.send(fd),
            _ => Ok(()),
        }
    }
}
