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

    /// Lay out the program, adding `ja` hops where jumps are too far.
    pub fn finish(mut self) -> Result<Vec<sock_filter>> {
        // Ops keep their index (labels refer to it); `order` is the layout.
        let mut order: Vec<usize> = (0..self.ops.len()).collect();
        while let Some((at, far)) = self.far_jump(&order)? {
            let id = order[at];
            self.ops.push(Op::Goto(far));
            self.labels.push(Some(self.ops.len() - 1));
            let hop = Label(self.labels.len() - 1);
            if let Op::Jump { jt, jf, .. } = &mut self.ops[id] {
                for target in [jt, jf] {
                    if *target == far {
                        *target = hop;
                    }
                }
            }
            order.insert(at + 1, self.ops.len() - 1);
        }
        let pos = positions(&order, self.ops.len());
        let mut out = Vec::with_capacity(order.len());
        for (at, &id) in order.iter().enumerate() {
            let offset = |l: Label| self.offset(&pos, at, l);
            out.push(match self.ops[id] {
                Op::Load(k) => insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, k),
                Op::And(k) => insn(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, k),
                Op::Jump { cmp, k, jt, jf } => {
                    let code = match cmp {
                        Cmp::Eq => libc::BPF_JEQ,
                        Cmp::Gt => libc::BPF_JGT,
                        Cmp::Ge => libc::BPF_JGE,
                    };
                    let short =
                        |o: u32| u8::try_from(o).map_err(|_| internal("jump offset overflow"));
                    insn(
                        libc::BPF_JMP | code | libc::BPF_K,
                        short(offset(jt)?)?,
                        short(offset(jf)?)?,
                        k,
                    )
                }
                Op::Goto(l) => insn(libc::BPF_JMP | libc::BPF_JA, 0, 0, offset(l)?),
                Op::Ret(k) => insn(libc::BPF_RET | libc::BPF_K, 0, 0, k),
            });
        }
        Ok(out)
    }

    /// The first conditional jump (its place in `order`) with a branch
    /// beyond 8-bit reach, and that branch's label.
    fn far_jump(&self, order: &[usize]) -> Result<Option<(usize, Label)>> {
        let pos = positions(order, self.ops.len());
        for (at, &id) in order.iter().enumerate() {
            if let Op::Jump { jt, jf, .. } = self.ops[id] {
                for l in [jt, jf] {
                    if self.offset(&pos, at, l)? > u8::MAX.into() {
                        return Ok(Some((at, l)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Instructions skipped by a jump at `at` to `l`; BPF jumps only forward.
    fn offset(&self, pos: &[usize], at: usize, l: Label) -> Result<u32> {
        let id = self.labels[l.0].ok_or_else(|| internal("unbound label"))?;
        let to = pos
            .get(id)
            .copied()
            .ok_or_else(|| internal("label past the end"))?;
        let skip = to
            .checked_sub(at + 1)
            .ok_or_else(|| internal("backward jump"))?;
        u32::try_from(skip).map_err(|_| internal("jump too long"))
    }
}

fn positions(order: &[usize], ops: usize) -> Vec<usize> {
    let mut pos = vec![usize::MAX; ops];
    for (at, &id) in order.iter().enumerate() {
        pos[id] = at;
    }
    pos
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
