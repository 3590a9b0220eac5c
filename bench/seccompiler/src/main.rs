//! rt's seccomp compiler (src/seccomp) against seccompiler 0.5 (rust-vmm's, the one
//! Firecracker uses): what an OCI profile asks for that each can express, read off
//! the programs they generate (run here in a small classic-BPF interpreter), and, on
//! the part of Docker's default profile both can compile, compile time and size.
//!
//! cargo run --release --manifest-path bench/seccompiler/Cargo.toml > bench/seccompiler/results.md

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use oci_spec::runtime::LinuxSeccomp;
use seccompiler::{SeccompAction, TargetArch};
use serde_json::{json, Value};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_BIT: u32 = 0x4000_0000;
const RET_ACTION: u32 = 0xffff_0000;
const DOCKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../spec-fixtures/seccomp/docker-default.json"
);

type Insn = (u16, u8, u8, u32);

/// Runs a seccomp classic-BPF program on one system call: its SECCOMP_RET_* value.
fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    exec(prog, arch, nr, args).0
}

/// Instructions executed for a call with zero arguments.
fn steps(prog: &[Insn], arch: u32, nr: u32) -> usize {
    exec(prog, arch, nr, [0; 6]).1
}

/// The SECCOMP_RET_* value, and how many instructions ran.
fn exec(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
    let mut data = Vec::with_capacity(64);
    data.extend(nr.to_le_bytes());
    data.extend(arch.to_le_bytes());
    data.extend(0u64.to_le_bytes());
    for a in args {
        data.extend(a.to_le_bytes());
    }
    let word = |k: u32| {
        let k = k as usize;
        u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]])
    };
    let (mut acc, mut pc, mut ran) = (0u32, 0usize, 0usize);
    loop {
        let (code, jt, jf, k) = prog[pc];
        pc += 1;
        ran += 1;
        match code {
            0x20 => acc = word(k),
            0x54 => acc &= k,
            0x05 => pc += k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let hit = match code {
                    0x15 => acc == k,
                    0x25 => acc > k,
                    0x35 => acc >= k,
                    _ => acc & k != 0,
                };
                pc += if hit { jt } else { jf } as usize;
            }
            0x06 => return (k, ran),
            other => panic!("BPF opcode {other:#x} not interpreted"),
        }
    }
}

fn rt_program(profile: &Value) -> Result<Vec<Insn>, String> {
    let p: LinuxSeccomp = serde_json::from_value(profile.clone()).map_err(|e| e.to_string())?;
    let f = rt::seccomp::compile(&p).map_err(|e| e.to_string())?;
    Ok(f.program()
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect())
}

/// seccompiler's JSON front end: one filter named "f".
fn sc_program(filter: &Value) -> Result<Vec<Insn>, String> {
    let text = json!({ "f": filter }).to_string();
    let mut map = seccompiler::compile_from_json(text.as_bytes(), TargetArch::x86_64)
        .map_err(|e| e.to_string())?;
    let prog = map.remove("f").ok_or("no filter")?;
    Ok(prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect())
}

/// Every action seccompiler has (no wildcard: a new variant breaks this build).
fn sc_actions() -> Vec<(SeccompAction, &'static str)> {
    use SeccompAction::*;
    let all = [
        Allow,
        Errno(1),
        KillThread,
        KillProcess,
        Log,
        Trace(0),
        Trap,
    ];
    all.into_iter()
        .map(|a| {
            let name = match a {
                Allow => "Allow",
                Errno(_) => "Errno",
                KillThread => "KillThread",
                KillProcess => "KillProcess",
                Log => "Log",
                Trace(_) => "Trace",
                Trap => "Trap",
            };
            (a, name)
        })
        .collect()
}

fn ret_name(r: u32) -> String {
    let data = r & 0xffff;
    match r & RET_ACTION {
        0x8000_0000 => "KILL_PROCESS".into(),
        0x0000_0000 => "KILL_THREAD".into(),
        0x0003_0000 => "TRAP".into(),
        0x0005_0000 => format!("ERRNO({data})"),
        0x7fc0_0000 => "USER_NOTIF".into(),
        0x7ff0_0000 => "TRACE".into(),
        0x7ffc_0000 => "LOG".into(),
        0x7fff_0000 => "ALLOW".into(),
        other => format!("{other:#x}"),
    }
}

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..201)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn one_rule(action: &str) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["getpid"], "action": action}]
    })
}

fn main() {
    let getpid = libc::SYS_getpid as u32;
    println!("# rt's seccomp compiler and seccompiler 0.5\n");
    println!("Written by `bench/seccompiler` (`cargo run --release --manifest-path bench/seccompiler/Cargo.toml`).\n");

    // 1. Actions: a profile with `getpid` under each OCI action, compiled by rt; the
    //    return values seccompiler can put in a program at all.
    let sc_rets: BTreeMap<u32, &str> = sc_actions()
        .into_iter()
        .map(|(a, n)| (u32::from(a) & RET_ACTION, n))
        .collect();
    println!(
        "## Actions\n\n| OCI action | rt's program returns | seccompiler |\n| --- | --- | --- |"
    );
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ] {
        let rt = rt_program(&one_rule(a))
            .map(|p| run(&p, AUDIT_ARCH_X86_64, getpid, [0; 6]))
            .map(ret_name)
            .unwrap_or_else(|e| format!("refused: {e}"));
        let wanted = rt_program(&one_rule(a))
            .map(|p| run(&p, AUDIT_ARCH_X86_64, getpid, [0; 6]) & RET_ACTION)
            .ok();
        let sc = wanted
            .and_then(|w| sc_rets.get(&w))
            .map(|n| format!("`SeccompAction::{n}`"))
            .unwrap_or_else(|| "no such action".into());
        println!("| {a} | {rt} | {sc} |");
    }

    // 2. Mixed actions: one profile, five outcomes.
    let mixed = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    });
    let outcomes = |p: &[Insn]| -> BTreeSet<String> {
        (0..=470)
            .map(|nr| ret_name(run(p, AUDIT_ARCH_X86_64, nr, [0; 6])))
            .collect()
    };
    let rt_mixed = outcomes(&rt_program(&mixed).expect("rt compiles the mixed profile"));
    let sc_mixed = outcomes(
        &sc_program(&json!({
            "mismatch_action": {"errno": 1}, "match_action": "allow",
            "filter": [{"syscall": "read"}, {"syscall": "write"}, {"syscall": "mkdir"},
                       {"syscall": "clone3"}, {"syscall": "ptrace"}]
        }))
        .expect("seccompiler compiles"),
    );
    println!("\n## Several actions in one filter\n");
    println!("A profile with ALLOW, LOG, ERRNO(38), KILL_PROCESS rules and an ERRNO(1) default; outcomes over x86_64 calls 0-470:\n");
    println!("- rt: {} ({})", rt_mixed.len(), fmt_set(&rt_mixed));
    println!("- seccompiler: {} ({}): `SeccompFilter::new` takes one `match_action` and one `mismatch_action`; several actions need several filters, where the kernel takes the most restrictive result of all, not the rule's", sc_mixed.len(), fmt_set(&sc_mixed));

    // 3. Architectures.
    println!("\n## Architectures\n");
    let archs: Vec<String> = ["x86_64", "x86", "i386", "x32", "aarch64", "riscv64"]
        .iter()
        .map(|a| {
            let ok = TargetArch::try_from(*a).is_ok();
            format!("{a} {}", if ok { "yes" } else { "no" })
        })
        .collect();
    println!(
        "- seccompiler `TargetArch::try_from`: {}; one architecture per filter",
        archs.join(", ")
    );

    // 4. Docker's default profile, converted as moby does (empty bounding set: the
    //    spec-fixtures/valid conversion).
    let bytes = std::fs::read(DOCKER).expect("read Docker's profile");
    let docker = rt::seccomp::docker::to_oci(&bytes, &[]).expect("convert");
    let docker = serde_json::to_value(&docker).expect("encode");
    let names: BTreeSet<String> = docker["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["names"].as_array().into_iter().flatten())
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    let empty_len = rt_program(
        &json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"]}),
    )
    .expect("empty")
    .len();
    let rt_known: BTreeSet<&String> = names
        .iter()
        .filter(|n| {
            rt_program(
                &json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": [n], "action": "SCMP_ACT_ALLOW"}]}),
            )
            .is_ok_and(|p| p.len() > empty_len)
        })
        .collect();
    let sc_known: BTreeSet<&String> = names
        .iter()
        .filter(|n| {
            sc_program(
                &json!({"mismatch_action": {"errno": 1}, "match_action": "allow",
                "filter": [{"syscall": n}]}),
            )
            .is_ok()
        })
        .collect();
    let only_rt: Vec<&str> = rt_known.difference(&sc_known).map(|s| s.as_str()).collect();

    // The part seccompiler can express: x86_64, the ALLOW entries, names it knows.
    let mut rt_syscalls = Vec::new();
    let mut sc_rules = Vec::new();
    let mut dropped = Vec::new();
    for s in docker["syscalls"].as_array().into_iter().flatten() {
        if s["action"] != "SCMP_ACT_ALLOW" {
            dropped.push(format!("{} {}", s["names"], ret_label(s)));
            continue;
        }
        let known: Vec<&Value> = s["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| {
                n.as_str()
                    .is_some_and(|n| sc_known.contains(&n.to_string()))
            })
            .collect();
        let mut entry = s.clone();
        entry["names"] = json!(known);
        rt_syscalls.push(entry);
        let conds: Vec<Value> = s["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                // OCI leaves out a zero value or valueTwo.
                let value = c["value"].as_u64().unwrap_or(0);
                let (op, val) = match c["op"].as_str() {
                    Some("SCMP_CMP_MASKED_EQ") => (
                        json!({ "masked_eq": value }),
                        c["valueTwo"].as_u64().unwrap_or(0),
                    ),
                    Some(op) => (
                        json!(op.trim_start_matches("SCMP_CMP_").to_lowercase()),
                        value,
                    ),
                    None => panic!("no op"),
                };
                json!({"index": c["index"], "type": "qword", "op": op, "val": val})
            })
            .collect();
        // rt (as runc): conditions on the same argument are alternatives.
        let same_arg = conds.len() > 1
            && conds
                .iter()
                .map(|c| c["index"].to_string())
                .collect::<BTreeSet<_>>()
                .len()
                < conds.len();
        for n in &known {
            if same_arg {
                for c in &conds {
                    sc_rules.push(json!({"syscall": n, "args": [c]}));
                }
            } else if conds.is_empty() {
                sc_rules.push(json!({"syscall": n}));
            } else {
                sc_rules.push(json!({"syscall": n, "args": conds}));
            }
        }
    }
    let rt_subset = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rt_syscalls
    });
    let sc_subset =
        json!({"mismatch_action": {"errno": 1}, "match_action": "allow", "filter": sc_rules});
    let rt_p = rt_program(&rt_subset).expect("rt compiles the subset");
    let sc_p = sc_program(&sc_subset).expect("seccompiler compiles the subset");
    let full_p = rt_program(&docker).expect("rt compiles Docker's profile");

    // The two programs decide alike on every x86_64 call 0-470 with these arguments.
    let probes: [[u64; 6]; 5] = [
        [0; 6],
        [8; 6],
        [0x2_0008; 6],
        [0xffff_ffff; 6],
        [0x1_0000_0000; 6],
    ];
    let mut checked = 0;
    let mut differ = Vec::new();
    for nr in 0..=470 {
        for args in probes {
            checked += 1;
            let (a, b) = (
                run(&rt_p, AUDIT_ARCH_X86_64, nr, args),
                run(&sc_p, AUDIT_ARCH_X86_64, nr, args),
            );
            if a != b {
                differ.push(format!(
                    "nr {nr} args[0] {:#x}: rt {} seccompiler {}",
                    args[0],
                    ret_name(a),
                    ret_name(b)
                ));
            }
        }
    }

    println!("\n## Docker's default profile\n");
    println!("`spec-fixtures/seccomp/docker-default.json` converted as moby does (`rt::seccomp::docker`, empty bounding set): default ERRNO(1), architectures x86_64, x86 and x32, {} system call names.\n", names.len());
    println!(
        "- names rt's x86_64 table knows: {}; seccompiler's: {}; known to rt only: {}",
        rt_known.len(),
        sc_known.len(),
        if only_rt.is_empty() {
            "none".to_string()
        } else {
            only_rt.join(", ")
        }
    );
    println!("- entries with another action than the match action (left out of seccompiler's filter): {}", dropped.join("; "));
    println!(
        "- i386 `getpid` (int 0x80, nr 20): rt {}, seccompiler {}",
        ret_name(run(&full_p, AUDIT_ARCH_I386, 20, [0; 6])),
        ret_name(run(&sc_p, AUDIT_ARCH_I386, 20, [0; 6]))
    );
    println!(
        "- x32 `read` (nr 0 | __X32_SYSCALL_BIT): rt {}, seccompiler {}",
        ret_name(run(&full_p, AUDIT_ARCH_X86_64, X32_BIT, [0; 6])),
        ret_name(run(&sc_p, AUDIT_ARCH_X86_64, X32_BIT, [0; 6]))
    );
    println!("- a call newer than the profile (x86_64 nr 600): rt {}, seccompiler {} (runc answers ENOSYS for a call numbered above the highest of the profile; neither does)", ret_name(run(&full_p, AUDIT_ARCH_X86_64, 600, [0; 6])), ret_name(run(&sc_p, AUDIT_ARCH_X86_64, 600, [0; 6])));
    println!("\nThe part both express (x86_64, the ALLOW entries, names seccompiler knows): the two programs decide alike on {} of {checked} (call, arguments) probes{}.\n", checked - differ.len(), if differ.is_empty() { String::new() } else { format!(" (differ: {})", differ.join("; ")) });

    let rt_text = rt_subset.to_string();
    let sc_text = json!({"f": sc_subset}).to_string();
    let full_text = docker.to_string();
    let rt_us = median_us(|| {
        let p: LinuxSeccomp = serde_json::from_str(&rt_text).expect("parse");
        rt::seccomp::compile(&p).expect("compile");
    });
    let sc_us = median_us(|| {
        seccompiler::compile_from_json(sc_text.as_bytes(), TargetArch::x86_64).expect("compile");
    });
    let full_us = median_us(|| {
        let p: LinuxSeccomp = serde_json::from_str(&full_text).expect("parse");
        rt::seccomp::compile(&p).expect("compile");
    });
    println!("| compiler, input | BPF instructions | JSON to program, median of 201 |\n| --- | --- | --- |");
    println!("| rt, the common part | {} | {rt_us:.0} µs |", rt_p.len());
    println!(
        "| seccompiler, the common part | {} | {sc_us:.0} µs |",
        sc_p.len()
    );
    println!(
        "| rt, the whole profile (3 architectures, every action) | {} | {full_us:.0} µs |",
        full_p.len()
    );
    let most = |p: &[Insn], arch: u32| (0..=470).map(|nr| steps(p, arch, nr)).max().unwrap_or(0);
    println!(
        "\nInstructions run per x86_64 call, at most: rt {} (whole profile {}), seccompiler {}.",
        most(&rt_p, AUDIT_ARCH_X86_64),
        most(&full_p, AUDIT_ARCH_X86_64),
        most(&sc_p, AUDIT_ARCH_X86_64)
    );
}

fn ret_label(s: &Value) -> String {
    match s["errnoRet"].as_u64() {
        Some(e) => format!("{}({e})", s["action"].as_str().unwrap_or("?")),
        None => s["action"].as_str().unwrap_or("?").to_string(),
    }
}

fn fmt_set(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}
