//! cgroup v2 has no devices.allow: device access is decided by a
//! BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. This module
//! compiles the rule list into such a program, loads it and attaches it.
//!
//! Semantics: for each requested access bit (read, write, mknod) the last
//! rule in the list that matches the device and names that bit decides;
//! a bit no rule names is denied. The program walks the rules backwards and
//! keeps the still-undecided bits in a register, so it stops at the first
//! deciding rule.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;

use super::devices::{Kind, Rule, ALL_ACCESS};
use crate::error::{Error, Result};
use crate::syscall::{self, bpf};

/// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
/// where access_type = access << 16 | device type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2; // device type
const R3: u8 = 3; // access bits not decided yet
const R4: u8 = 4; // major
const R5: u8 = 5; // minor

// Opcodes (class | operation | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JNE32_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JEQ32_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction's 8 bytes as the kernel reads them from memory.
    pub fn encode(&self) -> u64 {
        // dst_reg and src_reg are 4-bit fields of one byte, dst first in
        // memory order, so which nibble it is depends on the byte order.
        let regs = if cfg!(target_endian = "little") {
            self.dst | (self.src << 4)
        } else {
            (self.dst << 4) | self.src
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        u64::from_ne_bytes([
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ])
    }
}

/// Compile `rules` (in the order they take effect) into a program.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_W, R2, R1, 0, 0),
        Insn::new(AND32_K, R2, 0, 0, 0xffff),
        Insn::new(LDX_W, R3, R1, 0, 0),
        Insn::new(RSH32_K, R3, 0, 0, 16),
        Insn::new(LDX_W, R4, R1, 4, 0),
        Insn::new(LDX_W, R5, R1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        p.extend(rule_block(rule));
    }
    p.extend(ret(false));
    p
}

fn ret(allow: bool) -> [Insn; 2] {
    [
        Insn::new(MOV32_K, R0, 0, 0, i32::from(allow)),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]
}

/// One rule: if the device matches and the rule decides a pending bit,
/// either deny now, or clear the bits it allows and allow once none is
/// left. Every jump goes to the end of the block (the next rule).
fn rule_block(rule: &Rule) -> Vec<Insn> {
    let mut b = Vec::new();
    match rule.kind {
        Kind::All => {}
        Kind::Char => b.push(Insn::new(JNE32_K, R2, 0, 0, DEV_CHAR)),
        Kind::Block => b.push(Insn::new(JNE32_K, R2, 0, 0, DEV_BLOCK)),
    }
    // Jump immediates are compared as u32 (JMP32), so the cast keeps
    // numbers above i32::MAX intact.
    if let Some(major) = rule.major {
        b.push(Insn::new(JNE32_K, R4, 0, 0, major as i32));
    }
    if let Some(minor) = rule.minor {
        b.push(Insn::new(JNE32_K, R5, 0, 0, minor as i32));
    }
    let access = (rule.access & ALL_ACCESS) as i32;
    if rule.allow {
        b.push(Insn::new(AND32_K, R3, 0, 0, !access));
        b.push(Insn::new(JNE32_K, R3, 0, 0, 0));
    } else {
        b.push(Insn::new(MOV32_X, R1, R3, 0, 0));
        b.push(Insn::new(AND32_K, R1, 0, 0, access));
        b.push(Insn::new(JEQ32_K, R1, 0, 0, 0));
    }
    b.extend(ret(rule.allow));
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if insn.code == JNE32_K || insn.code == JEQ32_K {
            insn.off = (len - i - 1) as i16;
        }
    }
    b
}

/// Load the program for `rules` and attach it to the cgroup at `dir`.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let insns: Vec<u64> = program(rules).iter().map(Insn::encode).collect();
    let prog = load(&insns)?;
    let cg: OwnedFd = syscall::openat_mode(None, dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
        .map_err(|e| Error::sys(format!("cannot open cgroup {}", dir.display()), e))?;
    syscall::bpf_prog_attach(
        cg.as_fd(),
        prog.as_fd(),
        bpf::ATTACH_CGROUP_DEVICE,
        bpf::F_ALLOW_MULTI,
    )
    .map_err(|e| {
        Error::sys(
            format!("cannot attach the device filter to {}", dir.display()),
            e,
        )
    })
}

fn load(insns: &[u64]) -> Result<OwnedFd> {
    const LICENSE: &CStr = c"Apache";
    let load = |log| {
        syscall::bpf_prog_load(
            bpf::PROG_TYPE_CGROUP_DEVICE,
            bpf::ATTACH_CGROUP_DEVICE,
            insns,
            LICENSE,
            log,
        )
    };
    match load(None) {
        Ok(fd) => Ok(fd),
        // Ask again with a log buffer so the error says why.
        Err(e @ (nix::Error::EINVAL | nix::Error::EACCES)) => {
            let mut log = vec![0u8; 64 * 1024];
            let again = load(Some(&mut log));
            let text = String::from_utf8_lossy(&log);
            let why = text
                .trim_end_matches('\0')
                .lines()
                .last()
                .unwrap_or("")
                .to_string();
            match again {
                Ok(fd) => Ok(fd),
                Err(_) => Err(Error::Resource(format!(
                    "the kernel rejected the device filter program ({e}): {why}"
                ))),
            }
        }
        Err(e) => Err(Error::sys("cannot load the device filter program", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{self, MKNOD, READ, WRITE};

    /// Runs the subset of eBPF that `program` emits.
    fn run(p: &[Insn], kind: i32, access: u32, major: u32, minor: u32) -> u32 {
        let ctx = [(access << 16) | kind as u32, major, minor];
        let mut r = [0u32; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s, k) = (i.dst as usize, i.src as usize, i.imm as u32);
            pc += 1;
            let jump = |cond: bool, pc: &mut usize| {
                if cond {
                    *pc = (*pc as isize + i.off as isize) as usize;
                }
            };
            match i.code {
                LDX_W => r[d] = ctx[i.off as usize / 4],
                AND32_K => r[d] &= k,
                RSH32_K => r[d] >>= k,
                MOV32_K => r[d] = k,
                MOV32_X => r[d] = r[s],
                JNE32_K => jump(r[d] != k, &mut pc),
                JEQ32_K => jump(r[d] == k, &mut pc),
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    /// The semantics written plainly: per bit, the last matching rule wins.
    fn reference(rules: &[Rule], kind: Kind, access: u32, major: u32, minor: u32) -> u32 {
        let allowed = [READ, WRITE, MKNOD]
            .iter()
            .filter(|b| access & **b != 0)
            .all(|bit| {
                rules
                    .iter()
                    .rev()
                    .find(|r| {
                        (r.kind == Kind::All || r.kind == kind)
                            && r.major.is_none_or(|m| m == major)
                            && r.minor.is_none_or(|m| m == minor)
                            && r.access & bit != 0
                    })
                    .is_some_and(|r| r.allow)
            });
        u32::from(allowed)
    }

    fn config(json: &str) -> Vec<Rule> {
        let oci: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(json).expect("test rules are valid JSON");
        devices::rules(Some(&oci)).expect("valid rules")
    }

    #[test]
    fn matches_reference() {
        let sets = [
            config("[]"),
            config(
                r#"[{"allow": true, "type": "c", "major": 4, "access": "rw"},
                       {"allow": false, "type": "c", "major": 4, "minor": 2, "access": "w"}]"#,
            ),
            config(
                r#"[{"allow": true, "access": "rwm"}, {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "r"}]"#,
            ),
            config(
                r#"[{"allow": true, "type": "b", "major": 3000000000, "minor": 1, "access": "m"}]"#,
            ),
        ];
        let devs = [
            (Kind::Char, 1, 3),
            (Kind::Char, 1, 4),
            (Kind::Char, 4, 2),
            (Kind::Char, 4, 7),
            (Kind::Block, 8, 0),
            (Kind::Block, 8, 1),
            (Kind::Char, 136, 9),
            (Kind::Block, 3_000_000_000, 1),
        ];
        for rules in &sets {
            let p = program(rules);
            for &(kind, major, minor) in &devs {
                let code = if kind == Kind::Block {
                    DEV_BLOCK
                } else {
                    DEV_CHAR
                };
                for access in 1..=ALL_ACCESS {
                    assert_eq!(
                        run(&p, code, access, major, minor),
                        reference(rules, kind, access, major, minor),
                        "{kind:?} {major}:{minor} access {access} rules {rules:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn defaults() {
        let p = program(&config("[]"));
        assert_eq!(run(&p, DEV_CHAR, READ | WRITE, 1, 3), 1, "/dev/null");
        assert_eq!(
            run(&p, DEV_CHAR, READ, 8, 0),
            0,
            "a char device nobody allowed"
        );
        assert_eq!(
            run(&p, DEV_BLOCK, MKNOD, 8, 0),
            1,
            "mknod is always allowed"
        );
        assert_eq!(run(&p, DEV_BLOCK, READ | MKNOD, 8, 0), 0);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn encoding() {
        let i = Insn::new(LDX_W, R2, R1, 4, -1);
        assert_eq!(
            i.encode().to_ne_bytes(),
            [0x61, 0x12, 4, 0, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
