//! The OCI profile checked and resolved for the code generator: actions as
//! SECCOMP_RET_* values, and per architecture each system call number with
//! its rules in the order the profile lists them.

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompOperator as Op, LinuxSyscall,
};

use super::arch::Arch;
use super::syscalls;
use crate::error::{Error, Result};
use crate::logging;

/// A comparison of one system call argument; `value` is the mask and
/// `value_two` the expected value for SCMP_CMP_MASKED_EQ, as in libseccomp.
#[derive(Debug, Clone, Copy)]
pub struct Cond {
    pub arg: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

impl Cond {
    /// A masked compare whose mask is empty (in the compared width) always
    /// holds; libseccomp drops it too.
    pub fn is_noop(&self, wide: bool) -> bool {
        let mask = if wide {
            self.value
        } else {
            self.value & 0xffff_ffff
        };
        self.op == Op::ScmpCmpMaskedEq && mask == 0
    }
}

/// Conditions (all must hold) and the SECCOMP_RET_* value when they do.
#[derive(Debug, Clone)]
pub struct Rule {
    pub conds: Vec<Cond>,
    pub action: u32,
}

/// Each system call's rules, in profile order, by number.
pub type Table = BTreeMap<u32, Vec<Rule>>;

pub struct Plan {
    pub default: u32,
    /// In [`Arch`] order; the native x86_64 is always there, as libseccomp
    /// always keeps the native architecture in a filter.
    pub arches: Vec<(Arch, Table)>,
    /// SECCOMP_FILTER_FLAG_* bits from `flags`, without NEW_LISTENER.
    pub flags: libc::c_ulong,
    /// Whether the profile uses SCMP_ACT_NOTIFY: the filter then needs a
    /// listener fd for the seccomp agent.
    pub notify: bool,
    /// Whether a system call numbered above the highest one the profile
    /// names on its architecture gets ENOSYS instead of the default action
    /// (see [`enosys_for_newer_calls`]).
    pub enosys_for_newer: bool,
}

/// System calls rt itself makes between installing the filter and handing
/// the listener fd to the agent (`notify::Agent::send`: sendmsg, then
/// write for a rest the socket did not take): notifying them would wait
/// forever. runc refuses write for the same reason.
const NEVER_NOTIFY: &[&str] = &["sendmsg", "write"];

impl Plan {
    pub fn new(profile: &LinuxSeccomp) -> Result<Plan> {
        let default = ret_value(
            profile.default_action(),
            profile.default_errno_ret(),
            "defaultAction",
        )?;
        if default == libc::SECCOMP_RET_USER_NOTIF {
            return bad(concat!(
                "SCMP_ACT_NOTIFY cannot be used as default action: rt's own system ",
                "calls after installing the filter would wait for an agent without the fd"
            ));
        }
        let mut arches = vec![Arch::X86_64];
        for oci in profile.architectures().iter().flatten() {
            match Arch::from_oci(*oci) {
                Some(a) if !arches.contains(&a) => arches.push(a),
                Some(_) => {}
                None => logging::debug(&format!(
                    "seccomp: {oci} cannot run on an x86_64 kernel; no rules for it"
                )),
            }
        }
        arches.sort();
        let mut tables: Vec<(Arch, Table)> =
            arches.into_iter().map(|a| (a, Table::new())).collect();
        let mut notify = false;
        let mut numbers = Numbers::new();
        for (i, entry) in profile.syscalls().iter().flatten().enumerate() {
            let what = format!("syscalls[{i}]");
            let action = ret_value(entry.action(), entry.errno_ret(), &what)?;
            notify |= action == libc::SECCOMP_RET_USER_NOTIF;
            add_entry(&mut tables, &mut numbers, entry, action, &what)?;
        }
        let flags = flag_bits(profile, notify)?;
        Ok(Plan {
            default,
            arches: tables,
            flags,
            notify,
            enosys_for_newer: enosys_for_newer_calls(default),
        })
    }
}

/// runc's rule (libcontainer/seccomp/patchbpf): a profile cannot name
/// system calls newer than itself, and a program calling one must see
/// ENOSYS — "this kernel has no such call" — to fall back to an older
/// call, as glibc does for clone3 or faccessat2; EPERM or a kill would
/// break it. So numbers above the highest one the profile names for an
/// architecture get ENOSYS, whatever the default action — also an errno
/// other than ENOSYS (runc's exception for defaultErrnoRet ENOSYS changes
/// nothing: the outcome is the same) — unless the default lets calls
/// through (ALLOW, LOG, or TRACE: a tracer handles new calls itself).
fn enosys_for_newer_calls(default: u32) -> bool {
    let action = default & libc::SECCOMP_RET_ACTION_FULL;
    ![
        libc::SECCOMP_RET_ALLOW,
        libc::SECCOMP_RET_LOG,
        libc::SECCOMP_RET_TRACE,
    ]
    .contains(&action)
}

fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Seccomp(msg.into()))
}

/// Each name's number on each architecture of the tables, looked up in
/// the kernel's tables once per name (profiles repeat names).
type Numbers<'p> = HashMap<&'p str, Vec<Option<u32>>>;

/// Resolve the entry's names on every architecture and append its rules.
fn add_entry<'p>(
    tables: &mut [(Arch, Table)],
    numbers: &mut Numbers<'p>,
    entry: &'p LinuxSyscall,
    action: u32,
    what: &str,
) -> Result<()> {
    if entry.names().is_empty() {
        return bad(format!("{what}: names must list at least one system call"));
    }
    let rules = rules(entry, action, what)?;
    for name in entry.names() {
        if action == libc::SECCOMP_RET_USER_NOTIF && NEVER_NOTIFY.contains(&name.as_str()) {
            let why = "rt needs it to hand the listener fd to the agent";
            return bad(format!(
                "{what}: SCMP_ACT_NOTIFY cannot be used for the {name} syscall: {why}"
            ));
        }
        let nrs = numbers.entry(name).or_insert_with(|| {
            tables
                .iter()
                .map(|(arch, _)| syscalls::number(*arch, name))
                .collect()
        });
        let mut known = false;
        for ((_, table), nr) in tables.iter_mut().zip(nrs.iter()) {
            if let Some(nr) = nr {
                known = true;
                table.entry(*nr).or_default().extend(rules.iter().cloned());
            }
        }
        if !known {
            // libseccomp and runc skip names they do not know: profiles
            // list system calls of newer kernels and other architectures.
            logging::debug(&format!("seccomp: unknown system call {name:?} skipped"));
        }
    }
    Ok(())
}

/// The entry's conditions as one rule, all of which must hold — except
/// that runc turns conditions on a repeated argument index into one rule
/// each, any of which may match; profiles written for runc expect that.
fn rules(entry: &LinuxSyscall, action: u32, what: &str) -> Result<Vec<Rule>> {
    let mut conds = Vec::new();
    for (j, a) in entry.args().iter().flatten().enumerate() {
        let arg = u32::try_from(a.index()).ok().filter(|&i| i < 6);
        let Some(arg) = arg else {
            return bad(format!(
                "{what}.args[{j}]: index {} is not an argument (0-5)",
                a.index()
            ));
        };
        conds.push(Cond {
            arg,
            op: a.op(),
            value: a.value(),
            value_two: a.value_two().unwrap_or(0),
        });
    }
    let mut seen = 0u8;
    let mut repeated = false;
    for c in &conds {
        repeated |= seen & (1 << c.arg) != 0;
        seen |= 1 << c.arg;
    }
    if repeated {
        return Ok(conds
            .into_iter()
            .map(|c| Rule {
                conds: vec![c],
                action,
            })
            .collect());
    }
    Ok(vec![Rule { conds, action }])
}

/// The SECCOMP_RET_* value of an action; `errno` is the data of ERRNO and
/// TRACE (EPERM when unset) and an error on any other action.
fn ret_value(action: Action, errno: Option<u32>, what: &str) -> Result<u32> {
    let data = match (action, errno) {
        (Action::ScmpActErrno | Action::ScmpActTrace, e) => e.unwrap_or(libc::EPERM as u32),
        (_, None) => 0,
        (_, Some(_)) => {
            let only = "an errno return is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE";
            return bad(format!("{what}: {only}, not {action}"));
        }
    };
    if data > libc::SECCOMP_RET_DATA {
        return bad(format!(
            "{what}: errno return {data} does not fit the 16 bits seccomp passes"
        ));
    }
    let ret = match action {
        Action::ScmpActKill | Action::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        Action::ScmpActErrno => libc::SECCOMP_RET_ERRNO,
        Action::ScmpActTrace => libc::SECCOMP_RET_TRACE,
        Action::ScmpActLog => libc::SECCOMP_RET_LOG,
        Action::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        Action::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
    };
    Ok(ret | data)
}

/// `flags` as SECCOMP_FILTER_FLAG_* bits. Matched by name so that flags a
/// newer oci-spec knows (WAIT_KILLABLE_RECV) work without code changes.
/// As with runc: TSYNC is accepted and not passed (the process that
/// installs the filter is single-threaded, there is nothing to sync), and
/// without `flags` at all SPEC_ALLOW is the default (an empty list means
/// none).
fn flag_bits(profile: &LinuxSeccomp, notify: bool) -> Result<libc::c_ulong> {
    let Some(flags) = profile.flags() else {
        return Ok(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    };
    let mut bits = 0;
    for flag in flags {
        bits |= match flag.to_string().as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" if notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => {
                // The kernel rejects it without a listener; it would mean nothing.
                logging::debug("seccomp: WAIT_KILLABLE_RECV ignored: no SCMP_ACT_NOTIFY rule");
                0
            }
            other => return bad(format!("flag {other} is not supported")),
        };
    }
    Ok(bits)
}
