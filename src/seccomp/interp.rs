//! A classic-BPF interpreter for the tests: runs a filter on a
//! seccomp_data the way the kernel would, after the checks the kernel makes
//! when a filter is loaded (length, instruction set, aligned loads inside
//! seccomp_data, jumps inside the program, a return at the end).

use libc::sock_filter;

/// The fields of struct seccomp_data a filter may read.
#[derive(Debug, Clone, Copy)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub args: [u64; 6],
}

const SECCOMP_DATA_SIZE: u32 = 64;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// What the kernel checks before it accepts a filter.
pub fn check(prog: &[sock_filter]) -> Result<(), String> {
    if prog.is_empty() || prog.len() > libc::BPF_MAXINSNS as usize {
        return Err(format!("{} instructions", prog.len()));
    }
    for (pc, i) in prog.iter().enumerate() {
        let rest = prog.len() - pc - 1;
        let fits = |off: usize| off < rest;
        let ok = match i.code {
            LD_W_ABS => i.k % 4 == 0 && i.k < SECCOMP_DATA_SIZE,
            AND_K | RET_K => true,
            JA => fits(i.k as usize),
            JEQ_K | JGT_K | JGE_K => fits(i.jt.into()) && fits(i.jf.into()),
            _ => false,
        };
        if !ok {
            return Err(format!("bad instruction {pc}: {i:?}"));
        }
    }
    match prog.last() {
        Some(last) if last.code == RET_K => Ok(()),
        _ => Err("the program does not end with a return".into()),
    }
}

/// Run `prog` on `d`: the SECCOMP_RET_* value it returns.
pub fn run(prog: &[sock_filter], d: &Data) -> Result<u32, String> {
    trace(prog, d).map(|(ret, _)| ret)
}

/// [`run`], also counting the instructions executed.
pub fn trace(prog: &[sock_filter], d: &Data) -> Result<(u32, usize), String> {
    check(prog)?;
    let mut bytes = Vec::with_capacity(SECCOMP_DATA_SIZE as usize);
    bytes.extend(d.nr.to_le_bytes());
    bytes.extend(d.arch.to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    for a in d.args {
        bytes.extend(a.to_le_bytes());
    }
    let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
    loop {
        let i = prog.get(pc).ok_or("ran off the end")?;
        pc += 1;
        steps += 1;
        let branch = |taken: bool| if taken { i.jt as usize } else { i.jf as usize };
        match i.code {
            LD_W_ABS => {
                let at = i.k as usize;
                a = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            }
            AND_K => a &= i.k,
            JA => pc += i.k as usize,
            JEQ_K => pc += branch(a == i.k),
            JGT_K => pc += branch(a > i.k),
            JGE_K => pc += branch(a >= i.k),
            RET_K => return Ok((i.k, steps)),
            _ => return Err(format!("unknown instruction {i:?}")),
        }
    }
}
