//! Process attributes: `process.ioPriority`, `process.scheduler`,
//! `linux.personality` and `linux.memoryPolicy`, which need privileges
//! dropped later in the pipeline, and the CPU affinity a process settles on
//! once in its cgroups.

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, Linux, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, Process,
};

use crate::bitlist;
use crate::error::{Context, Error, Result};
use crate::spec::mempolicy;
use crate::syscall::{self, SchedAttr};

/// What of the container's `linux` section every process of it gets, the
/// init and each exec'd one alike.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub personality: Option<LinuxPersonality>,
    /// linux.resources.cpu.cpus is set (see the scheduler below).
    pub cpuset: bool,
    /// linux.memoryPolicy, checked by `spec::validate`.
    pub memory_policy: Option<mempolicy::Policy>,
}

impl Shared {
    pub fn of(linux: Option<&Linux>) -> Shared {
        Shared {
            personality: linux.and_then(|l| l.personality().clone()),
            cpuset: linux
                .and_then(|l| l.resources().as_ref())
                .and_then(|r| r.cpu().as_ref())
                .and_then(|c| c.cpus().as_deref())
                .is_some_and(|c| !c.is_empty()),
            memory_policy: linux
                .and_then(|l| l.memory_policy().as_ref())
                .and_then(|p| mempolicy::plan(p).ok()),
        }
    }
}

pub fn apply(process: &Process, shared: &Shared) -> Result<()> {
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let level = u32::try_from(io.priority()).ok().filter(|p| *p <= 7);
        let level = level.ok_or_else(|| {
            Error::Config(format!(
                "process.ioPriority.priority {} is not 0-7",
                io.priority()
            ))
        })?;
        syscall::set_io_priority(class, level).ctx(|| {
            format!(
                "cannot set io priority {} {level}",
                crate::spec::name(&io.class())
            )
        })?;
    }
    if let Some(s) = process.scheduler() {
        let mut attr = SchedAttr {
            policy: match s.policy() {
                LinuxSchedulerPolicy::SchedOther => 0,
                LinuxSchedulerPolicy::SchedFifo => 1,
                LinuxSchedulerPolicy::SchedRr => 2,
                LinuxSchedulerPolicy::SchedBatch => 3,
                LinuxSchedulerPolicy::SchedIso => 4,
                LinuxSchedulerPolicy::SchedIdle => 5,
                LinuxSchedulerPolicy::SchedDeadline => 6,
            },
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0).max(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            ..Default::default()
        };
        for f in s.flags().iter().flatten() {
            attr.flags |= match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        match syscall::set_scheduler(&mut attr) {
            // The kernel refuses SCHED_DEADLINE to a process whose affinity
            // does not span its root domain: runc's words for the cause.
            Err(nix::Error::EPERM) if shared.cpuset => {
                return Err(Error::Init(
                    "process scheduler can't be used together with AllowedCPUs (linux.resources.cpu.cpus)".into(),
                ))
            }
            other => other
                .ctx(|| format!("cannot set scheduler {}", crate::spec::name(s.policy())))?,
        }
    }
    if let Some(p) = &shared.personality {
        if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(Error::Config(
                "linux.personality.flags are not supported".into(),
            ));
        }
        let persona = match p.domain() {
            LinuxPersonalityDomain::PerLinux => 0x0000,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        syscall::set_personality(persona)
            .ctx(|| format!("cannot set personality {:?}", p.domain()))?;
    }
    if let Some(p) = &shared.memory_policy {
        // A node the host lacks is refused here (EINVAL), as with runc.
        syscall::set_mempolicy(p.mode, &p.nodes)
            .ctx(|| "cannot set linux.memoryPolicy: set_mempolicy")?;
    }
    Ok(())
}

/// Right after joining its cgroups (cpuset included): a process of the
/// container runs on the `final` CPUs of its execCPUAffinity; keeps the
/// `initial` ones rt gave it when only those are named; and otherwise on
/// every CPU its cpuset allows — never on rt's own affinity (a caller
/// under `taskset` pinned rt), as runc ≥ 1.2 resets it.
pub fn settle_affinity(affinity: Option<&ExecCPUAffinity>) -> Result<()> {
    let (initial, last) = affinity
        .map(|a| (a.initial().as_deref(), a.cpu_affinity_final().as_deref()))
        .unwrap_or_default();
    match (initial, last) {
        (_, Some(cpus)) => {
            let mask = bitlist::parse(cpus).map_err(|why| {
                Error::Config(format!("process.execCPUAffinity.final {cpus:?}: {why}"))
            })?;
            syscall::set_affinity(0, &mask).ctx(|| format!("cannot set cpu affinity {cpus}"))
        }
        (Some(_), None) => Ok(()),
        (None, None) => {
            // Every CPU there may be (8192, the largest NR_CPUS a kernel
            // is built with): the kernel keeps those the cpuset allows,
            // and the rest should the cpuset grow. It cannot refuse a full
            // mask.
            static ALL: [u64; 8192 / 64] = [u64::MAX; 8192 / 64];
            let _ = syscall::set_affinity(0, &ALL);
            Ok(())
        }
    }
}
