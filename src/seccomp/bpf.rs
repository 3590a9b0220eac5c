//! Code generation: a [`Plan`] becomes one classic-BPF program.
//!
//! ```text
//!   A = arch; one `jeq` per AUDIT_ARCH value; else return bad-arch (kill)
//! section (one per AUDIT_ARCH value):
//!   A = nr; binary search over number ranges, each leading to a return or
//!   to a rule block; rule blocks; the section's returns
//! ```
//!
//! A section splits the whole 32-bit number space into ranges of equal
//! outcome: runs of syscalls with the same unconditional action, gaps that
//! take the default action, a rule block per syscall with argument
//! conditions, for x86_64 the x32 half (numbers with the x32 bit) when
//! x32 is not allowed, and the numbers above the highest one the profile
//! names, which get ENOSYS unless the default lets calls through
//! (`profile::enosys_for_newer_calls`). A balanced tree of `jge` over the
//! range starts costs one instruction per range and about log2(ranges) at
//! run time.

use std::collections::HashMap;

use libc::sock_filter;
use oci_spec::runtime::LinuxSeccompOperator as Op;

use super::arch::{Arch, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::asm::{Asm, Cmp, Label};
use super::profile::{Cond, Plan, Rule, Table};
use crate::error::{Error, Result};

/// What libseccomp does with a foreign architecture by default.
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;
/// Offsets in struct seccomp_data.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARGS: u32 = 16;

/// The longest filter the kernel takes (BPF_MAXINSNS).
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// The program for `plan`, or an error naming the kernel's limit when it
/// would be longer. Generation is linear in the plan; a program already
/// too long before its layout (which only adds hops) is refused right
/// there, so a profile of 100 000 rules fails in moments.
pub fn generate(plan: &Plan) -> Result<Vec<sock_filter>> {
    let mut asm = Asm::default();
    // x86_64 (native) first: most system calls are checked by one `jeq`.
    let mut audits: Vec<u32> = Vec::new();
    for (arch, _) in &plan.arches {
        if !audits.contains(&arch.audit()) {
            audits.push(arch.audit());
        }
    }
    asm.load(ARCH);
    let starts: Vec<Label> = audits.iter().map(|_| asm.label()).collect();
    for (audit, &start) in audits.iter().zip(&starts) {
        let next = asm.label();
        asm.jump(Cmp::Eq, *audit, start, next);
        asm.bind(next);
    }
    asm.ret(BAD_ARCH);
    for (audit, start) in audits.iter().zip(starts) {
        asm.bind(start);
        Section::new(plan, *audit).emit(&mut asm);
        if asm.len() > MAX_INSNS {
            return Err(too_long(&format!("at least {}", asm.len())));
        }
    }
    let program = asm.finish()?;
    if program.len() > MAX_INSNS {
        return Err(too_long(&program.len().to_string()));
    }
    Ok(program)
}

fn too_long(n: &str) -> Error {
    Error::Seccomp(format!(
        "the filter needs {n} instructions; the kernel takes at most {MAX_INSNS}"
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Ret(u32),
    /// Index into `Section::blocks`.
    Block(usize),
}

/// Conditional rules of one system call, then the action when none match.
struct Block<'a> {
    rules: &'a [Rule],
    fallback: u32,
    wide: bool,
}

struct Section<'a> {
    /// (first number, outcome) of consecutive ranges covering 0..=u32::MAX.
    ranges: Vec<(u32, Target)>,
    blocks: Vec<Block<'a>>,
    /// Return instructions of this section, emitted at its end in this
    /// order, and each one's label by its value.
    rets: Vec<(u32, Label)>,
    ret_labels: HashMap<u32, Label>,
}

impl<'a> Section<'a> {
    fn new(plan: &'a Plan, audit: u32) -> Section<'a> {
        let has = |arch| plan.arches.iter().any(|(a, _)| *a == arch);
        let default = Target::Ret(plan.default);
        // Above the highest number the profile names on an ABI: ENOSYS
        // (profile::enosys_for_newer_calls); runc tells none when the
        // highest is 0 (a profile of `read` alone on x86_64).
        let newer = |arch| {
            let (_, table) = plan.arches.iter().find(|(a, _)| *a == arch)?;
            let last = table.keys().next_back().copied();
            last.filter(|&n| n > 0 && plan.enosys_for_newer)
        };
        let enosys = Target::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        // Numbers of an ABI the profile does not allow are a foreign arch;
        // -1 (a tracer skipping the call) is not, as in libseccomp.
        let base = if audit == AUDIT_ARCH_X86_64 {
            let abi = |arch| {
                if has(arch) {
                    default
                } else {
                    Target::Ret(BAD_ARCH)
                }
            };
            // runc tells the two ABIs apart by the x32 bit alone, so the
            // numbers with bit 31 set count as x86_64 without it and as
            // x32 with it, -1 among them.
            let (last64, last32) = (newer(Arch::X86_64), newer(Arch::X32));
            let beyond = |last: Option<u32>, otherwise| last.map_or(otherwise, |_| enosys);
            let mut base = vec![(0, abi(Arch::X86_64))];
            base.extend(last64.map(|n| (n + 1, enosys)));
            base.push((X32_SYSCALL_BIT, abi(Arch::X32)));
            base.extend(last32.map(|n| (n + 1, enosys)));
            base.push((0x8000_0000, beyond(last64, abi(Arch::X32))));
            base.push((
                0x8000_0000 | X32_SYSCALL_BIT,
                beyond(last32, abi(Arch::X32)),
            ));
            base.push((u32::MAX, beyond(last32, default)));
            base
        } else {
            let mut base = vec![(0, default)];
            base.extend(newer(Arch::X86).map(|n| (n + 1, enosys)));
            base
        };
        let mut section = Section {
            ranges: Vec::new(),
            blocks: Vec::new(),
            rets: Vec::new(),
            ret_labels: HashMap::new(),
        };
        let mut points = Vec::new();
        for (arch, table) in plan.arches.iter().filter(|(a, _)| a.audit() == audit) {
            section.classify(*arch, table, plan.default, &mut points);
        }
        points.sort_by_key(|p| p.0);
        section.ranges = overlay(&base, &points);
        section
    }

    /// The outcome of each system call of `table`: a plain return when its
    /// rules come down to one action, else a rule block.
    fn classify(
        &mut self,
        arch: Arch,
        table: &'a Table,
        default: u32,
        points: &mut Vec<(u32, Target)>,
    ) {
        let wide = arch.wide_args();
        for (&nr, rules) in table {
            // First match wins: rules after one without (effective)
            // conditions never run, and its action is the fallback.
            let cut = rules
                .iter()
                .position(|r| r.conds.iter().all(|c| c.is_noop(wide)));
            let (mut rules, fallback) = match cut {
                Some(i) => (&rules[..i], rules[i].action),
                None => (&rules[..], default),
            };
            // A last rule with the fallback's action changes nothing.
            while let Some((last, rest)) = rules.split_last() {
                if last.action != fallback {
                    break;
                }
                rules = rest;
            }
            let target = if rules.is_empty() {
                Target::Ret(fallback)
            } else {
                self.blocks.push(Block {
                    rules,
                    fallback,
                    wide,
                });
                Target::Block(self.blocks.len() - 1)
            };
            points.push((nr, target));
        }
    }

    fn emit(mut self, asm: &mut Asm) {
        let block_labels: Vec<Label> = self.blocks.iter().map(|_| asm.label()).collect();
        let ranges = std::mem::take(&mut self.ranges);
        asm.load(NR);
        self.tree(asm, &ranges, &block_labels);
        let blocks = std::mem::take(&mut self.blocks);
        for (block, label) in blocks.iter().zip(block_labels) {
            asm.bind(label);
            self.block(asm, block);
        }
        for (k, label) in self.rets {
            asm.bind(label);
            asm.ret(k);
        }
    }

    fn ret_label(&mut self, asm: &mut Asm, k: u32) -> Label {
        if let Some(&l) = self.ret_labels.get(&k) {
            return l;
        }
        let l = asm.label();
        self.rets.push((k, l));
        self.ret_labels.insert(k, l);
        l
    }

    fn target_label(&mut self, asm: &mut Asm, t: Target, blocks: &[Label]) -> Label {
        match t {
            Target::Ret(k) => self.ret_label(asm, k),
            Target::Block(i) => blocks[i],
        }
    }

    /// Dispatch A (the number) over `ranges`: split at the middle range's
    /// start; a side holding a single range jumps straight to its outcome.
    fn tree(&mut self, asm: &mut Asm, ranges: &[(u32, Target)], blocks: &[Label]) {
        if let [(_, only)] = ranges {
            let l = self.target_label(asm, *only, blocks);
            asm.goto(l);
            return;
        }
        let (low, high) = ranges.split_at(ranges.len() / 2);
        let mut side = |asm: &mut Asm, part: &[(u32, Target)]| match part {
            [(_, only)] => self.target_label(asm, *only, blocks),
            _ => asm.label(),
        };
        let (lo_label, hi_label) = (side(asm, low), side(asm, high));
        asm.jump(Cmp::Ge, high[0].0, hi_label, lo_label);
        for (part, label) in [(low, lo_label), (high, hi_label)] {
            if part.len() > 1 {
                asm.bind(label);
                self.tree(asm, part, blocks);
            }
        }
    }

    /// Rules in order: the first whose conditions all hold decides.
    fn block(&mut self, asm: &mut Asm, b: &Block) {
        let fallback = self.ret_label(asm, b.fallback);
        asm.chain(b.rules, fallback, |asm, rule, next_rule| {
            let pass = self.ret_label(asm, rule.action);
            let conds: Vec<&Cond> = rule.conds.iter().filter(|c| !c.is_noop(b.wide)).collect();
            asm.chain(&conds, pass, |asm, c, ok| {
                compare(asm, c, b.wide, ok, next_rule)
            });
        });
    }
}

/// Lay `points` (sorted, distinct) over the `base` ranges and merge
/// neighbours with the same outcome.
fn overlay(base: &[(u32, Target)], points: &[(u32, Target)]) -> Vec<(u32, Target)> {
    let mut out: Vec<(u32, Target)> = Vec::new();
    let mut push = |start: u32, t: Target| {
        if out.last().map(|r| r.1) != Some(t) {
            out.push((start, t));
        }
    };
    let mut points = points.iter().peekable();
    for (i, &(start, t)) in base.iter().enumerate() {
        let end = base
            .get(i + 1)
            .map_or(u64::from(u32::MAX) + 1, |b| u64::from(b.0));
        let mut next = u64::from(start);
        while let Some(&&(nr, pt)) = points.peek() {
            if u64::from(nr) >= end {
                break;
            }
            points.next();
            if u64::from(nr) > next {
                push(next as u32, t);
            }
            push(nr, pt);
            next = u64::from(nr) + 1;
        }
        if next < end {
            push(next as u32, t);
        }
    }
    out
}

/// Jump to `pass` if the condition holds, else to `fail`. A 64-bit
/// argument is two 32-bit words (little-endian: low word first); the high
/// words decide unless equal, as in libseccomp. 32-bit ABIs compare the
/// low word only, with the value truncated.
fn compare(asm: &mut Asm, c: &Cond, wide: bool, pass: Label, fail: Label) {
    let lo_at = ARGS + 8 * c.arg;
    let hi_at = lo_at + 4;
    let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    if c.op == Op::ScmpCmpMaskedEq {
        let want = c.value_two & c.value;
        let mut words = Vec::new();
        if wide && hi != 0 {
            words.push((hi_at, hi, (want >> 32) as u32));
        }
        if lo != 0 {
            words.push((lo_at, lo, want as u32));
        }
        asm.chain(&words, pass, |asm, &(at, mask, want), ok| {
            asm.load(at);
            if mask != u32::MAX {
                asm.and(mask);
            }
            asm.jump(Cmp::Eq, want, ok, fail);
        });
        return;
    }
    if wide {
        let low_word = asm.label();
        asm.load(hi_at);
        // Where an unequal high word sends us: (above, below).
        let (above, below) = match c.op {
            Op::ScmpCmpGt | Op::ScmpCmpGe => (pass, fail),
            Op::ScmpCmpLt | Op::ScmpCmpLe => (fail, pass),
            Op::ScmpCmpNe => (pass, pass),
            _ => (fail, fail),
        };
        if above != below {
            let equal = asm.label();
            asm.jump(Cmp::Gt, hi, above, equal);
            asm.bind(equal);
        }
        asm.jump(Cmp::Eq, hi, low_word, below);
        asm.bind(low_word);
    }
    asm.load(lo_at);
    let (cmp, on_true, on_false) = match c.op {
        Op::ScmpCmpNe => (Cmp::Eq, fail, pass),
        Op::ScmpCmpLt => (Cmp::Ge, fail, pass),
        Op::ScmpCmpLe => (Cmp::Gt, fail, pass),
        Op::ScmpCmpGt => (Cmp::Gt, pass, fail),
        Op::ScmpCmpGe => (Cmp::Ge, pass, fail),
        Op::ScmpCmpEq | Op::ScmpCmpMaskedEq => (Cmp::Eq, pass, fail),
    };
    asm.jump(cmp, lo, on_true, on_false);
}
