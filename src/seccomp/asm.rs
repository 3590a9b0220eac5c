//! A small classic-BPF assembler: the instructions a seccomp filter needs,
//! with forward jumps to labels resolved at the end.
//!
//! A conditional jump holds 8-bit offsets, so one whose target lies more
//! than 255 instructions ahead is routed through a `ja` (32-bit offset)
//! placed right behind it. Only conditional jumps precede those `ja`s, and
//! they never fall through, so the insertion changes no control flow.

use libc::sock_filter;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Debug, Clone, Copy)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A = 32-bit word at this offset of seccomp_data.
    Load(u32),
    And(u32),
    Jump {
        cmp: Cmp,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Goto(Label),
    Ret(u32),
}

#[derive(Default)]
pub struct Asm {
    ops: Vec<Op>,
    /// The op each label stands before, once bound.
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Make `l` point at the next instruction emitted.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.ops.len());
    }

    pub fn load(&mut self, offset: u32) {
        self.ops.push(Op::Load(offset));
    }

    pub fn and(&mut self, k: u32) {
        self.ops.push(Op::And(k));
    }

    /// `if A <cmp> k goto jt else goto jf`
    pub fn jump(&mut self, cmp: Cmp, k: u32, jt: Label, jf: Label) {
        self.ops.push(Op::Jump { cmp, k, jt, jf });
    }

    pub fn goto(&mut self, l: Label) {
        self.ops.push(Op::Goto(l));
    }

    pub fn ret(&mut self, k: u32) {
        self.ops.push(Op::Ret(k));
    }

    /// Emit `items` in order. `emit` gets the label to continue at once
    /// its item is done: one bound right behind it, or `last` for the last.
    pub fn chain<T>(
        &mut self,
        items: &[T],
        last: Label,
        mut emit: impl FnMut(&mut Asm, &T, Label),
    ) {
        for (i, item) in items.iter().enumerate() {
            if i + 1 == items.len() {
                emit(self, item, last);
            } else {
                let next = self.label();
                emit(self, item, next);
                self.bind(next);
            }
        }
    }

    /// Instructions emitted so far: a lower bound of the program's length
    /// (laying it out only adds `ja` hops).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Lay out the program, adding `ja` hops where jumps are too far.
    ///
    /// The hops are those of the rule "take the first conditional jump
    /// with a branch beyond reach (the true branch first), put a hop to
    /// that branch's target right behind it, repeat" — but without
    /// rescanning the program after each hop. A hop lengthens only the
    /// jumps that span it, which lie at most 256 instructions before it,
    /// and no jump before the one just fixed was too far: so the scan goes
    /// back 256 instructions and on from there. Positions come from a
    /// Fenwick tree of hop counts, which makes the layout O(n log n).
    pub fn finish(self) -> Result<Vec<sock_filter>> {
        let n = self.ops.len();
        let mut layout = Layout {
            hops: vec![Vec::new(); n],
            hopped: vec![[None; 2]; n],
            counts: Fenwick::new(n),
        };
        let mut at = 0;
        while at < n {
            let Some(far) = self.far_branch(&layout, at)? else {
                at += 1;
                continue;
            };
            let k = layout.hops[at].len();
            layout.hops[at].push(far);
            if let Op::Jump { jt, jf, .. } = self.ops[at] {
                for (branch, target) in [jt, jf].into_iter().enumerate() {
                    if target == far && layout.hopped[at][branch].is_none() {
                        layout.hopped[at][branch] = Some(k);
                    }
                }
            }
            layout.counts.add(at);
            // Back to the first instruction that a jump spanning the new
            // hop can stand at (this jump itself may need a second hop).
            let hop_at = layout.position(at) + 1;
            while at > 0 && layout.position(at - 1) + usize::from(u8::MAX) + 1 >= hop_at {
                at -= 1;
            }
        }
        let total = n + layout.counts.total();
        let mut out = Vec::with_capacity(total);
        for (i, op) in self.ops.iter().enumerate() {
            let here = layout.position(i);
            out.push(match *op {
                Op::Load(k) => insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, k),
                Op::And(k) => insn(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, k),
                Op::Jump { cmp, k, jt, jf } => {
                    let code = match cmp {
                        Cmp::Eq => libc::BPF_JEQ,
                        Cmp::Gt => libc::BPF_JGT,
                        Cmp::Ge => libc::BPF_JGE,
                    };
                    let mut offsets = [0u8; 2];
                    for (branch, target) in [jt, jf].into_iter().enumerate() {
                        let skip = match layout.hopped[i][branch] {
                            // The hops behind a jump: the latest first.
                            Some(k) => layout.hops[i].len() - 1 - k,
                            None => self.skip(&layout, here, target)?,
                        };
                        offsets[branch] =
                            u8::try_from(skip).map_err(|_| internal("jump offset overflow"))?;
                    }
                    insn(
                        libc::BPF_JMP | code | libc::BPF_K,
                        offsets[0],
                        offsets[1],
                        k,
                    )
                }
                Op::Goto(l) => goto(self.skip(&layout, here, l)?)?,
                Op::Ret(k) => insn(libc::BPF_RET | libc::BPF_K, 0, 0, k),
            });
            for (j, &target) in layout.hops[i].iter().rev().enumerate() {
                out.push(goto(self.skip(&layout, here + 1 + j, target)?)?);
            }
        }
        Ok(out)
    }

    /// The target of the first branch of instruction `at` (a conditional
    /// jump; the true branch first) that is beyond 8-bit reach and has no
    /// hop yet.
    fn far_branch(&self, layout: &Layout, at: usize) -> Result<Option<Label>> {
        let Op::Jump { jt, jf, .. } = self.ops[at] else {
            return Ok(None);
        };
        for (branch, target) in [jt, jf].into_iter().enumerate() {
            if layout.hopped[at][branch].is_none()
                && self.skip(layout, layout.position(at), target)? > usize::from(u8::MAX)
            {
                return Ok(Some(target));
            }
        }
        Ok(None)
    }

    /// Instructions skipped by a jump at position `from` to `l`; BPF jumps
    /// only forward.
    fn skip(&self, layout: &Layout, from: usize, l: Label) -> Result<usize> {
        let id = self.labels[l.0].ok_or_else(|| internal("unbound label"))?;
        if id >= self.ops.len() {
            return Err(internal("label past the end"));
        }
        layout
            .position(id)
            .checked_sub(from + 1)
            .ok_or_else(|| internal("backward jump"))
    }
}

/// Where the hops go: per instruction, the targets of the hops behind it
/// (in the order they were added; laid out latest first) and which hop
/// each branch of a conditional jump takes.
struct Layout {
    hops: Vec<Vec<Label>>,
    hopped: Vec<[Option<usize>; 2]>,
    /// Hops behind each instruction, for positions.
    counts: Fenwick,
}

impl Layout {
    /// Position of instruction `i` in the laid-out program.
    fn position(&self, i: usize) -> usize {
        i + self.counts.before(i)
    }
}

/// Counts per index with prefix sums in O(log n).
struct Fenwick(Vec<usize>);

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick(vec![0; n + 1])
    }

    fn add(&mut self, i: usize) {
        let mut i = i + 1;
        while i < self.0.len() {
            self.0[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// The sum of the counts of indices below `i`.
    fn before(&self, i: usize) -> usize {
        let mut i = i.min(self.0.len() - 1);
        let mut sum = 0;
        while i > 0 {
            sum += self.0[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }

    fn total(&self) -> usize {
        self.before(self.0.len() - 1)
    }
}

fn goto(skip: usize) -> Result<sock_filter> {
    let k = u32::try_from(skip).map_err(|_| internal("jump too long"))?;
    Ok(insn(libc::BPF_JMP | libc::BPF_JA, 0, 0, k))
}

fn insn(code: u32, jt: u8, jf: u8, k: u32) -> sock_filter {
    // Every BPF code fits 16 bits; the constants are u32 only in libc.
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// A bug in the code generator, not in the profile.
fn internal(what: &str) -> Error {
    Error::Seccomp(format!("internal error in the BPF assembler: {what}"))
}
