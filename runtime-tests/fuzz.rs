//! Fuzzing on stable Rust (cargo-fuzz needs nightly): a seeded mutation
//! fuzzer over everything rt parses from outside — config.json, state.json,
//! signal names, container ids, mount options, seccomp profiles. Inputs are
//! valid documents mutated both as JSON trees (values swapped for edge
//! cases, members dropped or duplicated, known field names planted) and as
//! bytes (flips, cuts, splices), plus plain random bytes. Nothing may
//! panic, errors must be one line, and what is accepted must survive the
//! round trip rt puts it through.
//!
//! `RT_FUZZ_CASES` sets the cases per target (default 2000, a few seconds
//! in all; `just fuzz` runs many more); `RT_FUZZ_SEED` replays a run. A
//! panicking input is written to target/fuzz-failures/ and named in the
//! failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fastrand::Rng;
use serde_json::{json, Value};

fn cases() -> usize {
    match std::env::var("RT_FUZZ_CASES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("RT_FUZZ_CASES={v:?} is not a count")),
        Err(_) => 2000,
    }
}

fn seed() -> u64 {
    match std::env::var("RT_FUZZ_SEED") {
        Ok(s) => s.parse().expect("RT_FUZZ_SEED is a number"),
        Err(_) => fastrand::u64(..),
    }
}

/// Run `check` on `cases()` inputs from `gen`; a panic fails the test with
/// the input saved, the seed and the case number. `check` says whether the
/// input was accepted: the share that gets past the parser shows how deep
/// the mutants reach.
fn fuzz(target: &str, mut gen: impl FnMut(&mut Rng) -> Vec<u8>, check: impl Fn(&[u8]) -> bool) {
    let (n, seed) = (cases(), seed());
    let mut rng = Rng::with_seed(seed);
    let started = std::time::Instant::now();
    let mut accepted = 0;
    for case in 0..n {
        let input = gen(&mut rng);
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{target}-{seed}-{case}"));
                let _ = std::fs::write(&file, &input);
                panic!(
                    "{target}: case {case} of RT_FUZZ_SEED={seed} panicked; input in {}",
                    file.display()
                );
            }
        }
    }
    eprintln!(
        "{target}: {n} cases ({accepted} accepted), no panic, in {:?} (RT_FUZZ_SEED={seed})",
        started.elapsed()
    );
}

/// Whether `r` is Ok; an error must be one line on rt's stderr: no
/// newline inside, never empty.
fn accepted<T>(r: &rt::Result<T>) -> bool {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(
            !msg.is_empty() && !msg.contains('\n'),
            "error is not one line: {msg:?}"
        );
    }
    r.is_ok()
}

/// Values that break parsers and validators.
fn edge_value(rng: &mut Rng) -> Value {
    match rng.u8(..8) {
        0 => Value::String("a".repeat(rng.usize(1000..70_000))),
        // Built by hand: json!([v]) would copy the whole tree at each level.
        1 => (0..rng.usize(1..300)).fold(json!(0), |v, _| Value::Array(vec![v])),
        _ => {
            let picks = [
                json!(null),
                json!(true),
                json!(0),
                json!(-1),
                json!(1),
                json!(i64::MIN),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(u32::MAX as u64 + 1),
                json!(1e308),
                json!(-0.5),
                json!(""),
                json!("/"),
                json!(".."),
                json!("../../../etc"),
                json!("/proc/self/fd/3"),
                json!("a\u{0}b"),
                json!("é☃\u{202e}"),
                json!("\n"),
                json!([]),
                json!({}),
                json!({"type": "pid"}),
                json!([{"type": "user"}, {"type": "user"}]),
                json!({"containerID": 0, "hostID": u32::MAX, "size": u32::MAX}),
            ];
            picks[rng.usize(..picks.len())].clone()
        }
    }
}

/// Field names of the runtime spec and rt's state, to plant where they
/// are not expected (or are, with the wrong value).
const FIELDS: &[&str] = &[
    "ociVersion",
    "root",
    "path",
    "readonly",
    "process",
    "args",
    "cwd",
    "env",
    "user",
    "uid",
    "gid",
    "umask",
    "additionalGids",
    "terminal",
    "consoleSize",
    "capabilities",
    "bounding",
    "effective",
    "permitted",
    "rlimits",
    "type",
    "soft",
    "hard",
    "noNewPrivileges",
    "oomScoreAdj",
    "ioPriority",
    "scheduler",
    "execCPUAffinity",
    "hostname",
    "domainname",
    "mounts",
    "destination",
    "source",
    "options",
    "uidMappings",
    "gidMappings",
    "containerID",
    "hostID",
    "size",
    "linux",
    "namespaces",
    "devices",
    "major",
    "minor",
    "fileMode",
    "cgroupsPath",
    "resources",
    "memory",
    "limit",
    "cpu",
    "shares",
    "quota",
    "pids",
    "sysctl",
    "seccomp",
    "defaultAction",
    "syscalls",
    "names",
    "action",
    "index",
    "value",
    "valueTwo",
    "op",
    "errnoRet",
    "maskedPaths",
    "readonlyPaths",
    "rootfsPropagation",
    "timeOffsets",
    "personality",
    "netDevices",
    "hooks",
    "prestart",
    "poststop",
    "timeout",
    "annotations",
    "id",
    "phase",
    "pid",
    "pid_start_time",
    "bundle",
    "rootfs",
    "cgroups",
    "dirs",
    "created",
    "freezer",
    "own_pid_ns",
];

/// A random node of `v` (visiting each level with some chance of stopping).
fn pick_node<'a>(v: &'a mut Value, rng: &mut Rng) -> &'a mut Value {
    let stop = rng.u8(..4) == 0;
    let len = match &*v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if stop || len == 0 {
        return v;
    }
    let i = rng.usize(..len);
    match v {
        Value::Object(m) => pick_node(m.values_mut().nth(i).expect("member"), rng),
        Value::Array(a) => pick_node(&mut a[i], rng),
        _ => unreachable!("only containers have children"),
    }
}

/// Mutate a JSON tree once. Most mutations keep the node's type, so the
/// document still deserializes and the validation behind it is reached.
fn mutate_tree(v: &mut Value, rng: &mut Rng) {
    let node = pick_node(v, rng);
    if rng.u8(..5) == 0 {
        *node = edge_value(rng);
        return;
    }
    match &mut *node {
        Value::Object(m) if rng.bool() && !m.is_empty() => {
            let k = m.keys().nth(rng.usize(..m.len())).expect("key").clone();
            m.shift_remove(&k);
        }
        Value::Object(m) => {
            m.insert(
                FIELDS[rng.usize(..FIELDS.len())].to_string(),
                edge_value(rng),
            );
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.usize(..a.len());
            if rng.bool() {
                a.remove(i);
            } else {
                let dup = a[i].clone();
                a.push(dup);
            }
        }
        Value::String(s) => {
            let cut = floor_char_boundary(s, rng.usize(..=s.len()));
            s.truncate(cut);
            s.push_str(
                [
                    "",
                    "/..",
                    "\u{0}",
                    "é",
                    "=",
                    "+99999999999",
                    "-",
                    "CAP_",
                    "SCMP_",
                    "/",
                    "\n",
                ][rng.usize(..11)],
            );
        }
        Value::Number(_) => {
            *node = [
                json!(0),
                json!(-1),
                json!(1),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(u32::MAX),
                json!(4096),
                json!(65536),
            ][rng.usize(..8)]
            .clone()
        }
        Value::Bool(b) => *b = !*b,
        _ => *node = edge_value(rng),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Mutate serialized bytes once.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Rng) {
    if b.is_empty() {
        b.push(rng.u8(..));
        return;
    }
    let i = rng.usize(..b.len());
    match rng.u8(..6) {
        0 => b[i] ^= 1 << rng.u8(..8),
        1 => b.truncate(i),
        2 => {
            let end = rng.usize(i..=b.len());
            b.drain(i..end);
        }
        3 => {
            let token: &[u8] = [
                &b"\\u0000"[..],
                b"\\ud800",
                b"1e999",
                b"-0",
                b"99999999999999999999999",
                b"\xff",
                b"{",
                b"]",
            ][rng.usize(..8)];
            b.splice(i..i, token.iter().copied());
        }
        4 => {
            let end = rng.usize(i..=b.len().min(i + 64));
            let chunk = b[i..end].to_vec();
            let at = rng.usize(..=b.len());
            b.splice(at..at, chunk);
        }
        _ => b[i] = rng.u8(..),
    }
}

/// A generator over `corpus`: tree mutations, byte mutations or random
/// bytes.
fn mutants(corpus: Vec<Value>) -> impl FnMut(&mut Rng) -> Vec<u8> {
    move |rng| {
        let mut v = corpus[rng.usize(..corpus.len())].clone();
        match rng.u8(..10) {
            0 => (0..rng.usize(..512)).map(|_| rng.u8(..)).collect(),
            1..=6 => {
                for _ in 0..rng.usize(1..4) {
                    mutate_tree(&mut v, rng);
                }
                serde_json::to_vec(&v).expect("encode")
            }
            _ => {
                let mut b = serde_json::to_vec(&v).expect("encode");
                for _ in 0..rng.usize(1..8) {
                    mutate_bytes(&mut b, rng);
                }
                b
            }
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec-fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// rt's default config and every JSON fixture (valid or not).
fn config_corpus() -> Vec<Value> {
    let mut corpus =
        vec![rt::container::spec_template::default_spec(false, 0, 0, false).expect("default spec")];
    corpus.push(
        rt::container::spec_template::default_spec(true, 1000, 1000, false).expect("rootless spec"),
    );
    corpus.extend(
        fixtures("valid")
            .iter()
            .chain(fixtures("broken").iter())
            .filter_map(|p| read_json(p)),
    );
    corpus
}

#[test]
fn config_json() {
    fuzz("config", mutants(config_corpus()), |data| {
        let parsed = rt::spec::parse(data);
        if let Ok(spec) = &parsed {
            // rt keeps an accepted config in state.json: it must come back.
            let again = serde_json::to_vec(spec).expect("encode spec");
            if let Err(e) = serde_json::from_slice::<oci_spec::runtime::Spec>(&again) {
                panic!("accepted config does not round-trip: {e}");
            }
            // Its cgroup stays below the hierarchy root.
            let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
            let text = cgroups_path
                .as_deref()
                .map(|p| p.to_string_lossy().into_owned());
            let paths = [
                rt::cgroups::container_path(cgroups_path.as_deref(), "fuzz").ok(),
                rt::cgroups::systemd::Unit::parse(text.as_deref(), "fuzz")
                    .ok()
                    .map(|u| u.cgroup_path()),
            ];
            for p in paths.into_iter().flatten() {
                let below = p
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                assert!(below, "cgroup {p:?}");
            }
        }
        accepted(&parsed)
    });
}

/// A state.json as rt writes it, for a container made from the default
/// config.
fn state_corpus() -> Vec<Value> {
    let config =
        rt::container::spec_template::default_spec(false, 0, 0, false).expect("default spec");
    let cg = json!({
        "dirs": ["/sys/fs/cgroup/memory/rt-test/x", "/sys/fs/cgroup/unified/rt-test/x"],
        "created": ["/sys/fs/cgroup/memory/rt-test/x"],
        "freezer": "/sys/fs/cgroup/freezer/rt-test/x",
        "unified": false,
        "rel": "rt-test/x",
        "controllers": {"memory": "/sys/fs/cgroup/memory/rt-test/x"}
    });
    let st = json!({
        "id": "x", "phase": "created", "pid": 4242, "pid_start_time": 123456, "bundle": "/b", "rootfs": "/b/rootfs",
        "created": "2026-01-01T00:00:00.000000000Z", "owner": "root", "annotations": {"a": "b"}, "cgroups": cg,
        "own_pid_ns": true, "config": config
    });
    serde_json::from_value::<rt::state::State>(st.clone()).expect("the corpus state is valid");
    vec![st]
}

#[test]
fn state_json() {
    fuzz("state", mutants(state_corpus()), |data| {
        let Ok(st) = serde_json::from_slice::<rt::state::State>(data) else {
            return false;
        };
        // What `state` and `list` print, and what `save` writes back.
        serde_json::to_vec(&st.oci(rt::state::Status::Running)).expect("encode OCI state");
        let again = serde_json::to_vec(&st).expect("encode state");
        if let Err(e) = serde_json::from_slice::<rt::state::State>(&again) {
            panic!("loaded state does not round-trip: {e}");
        }
        true
    });
}

/// Random text from pieces signal names and numbers are made of.
fn signal_text(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "SIG",
        "sig",
        "RTMIN",
        "RTMAX",
        "+",
        "-",
        "KILL",
        "TERM",
        "HUP",
        "USR1",
        "0",
        "1",
        "9",
        "34",
        "64",
        "65",
        "2147483647",
        "-2147483648",
        "4294967296",
        "99999999999999999999",
        " ",
        "\u{0}",
        "é",
        "",
    ];
    if rng.u8(..8) == 0 {
        return (0..rng.usize(..24)).map(|_| rng.u8(..)).collect();
    }
    (0..rng.usize(1..5))
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect::<String>()
        .into_bytes()
}

#[test]
fn signal_names() {
    fuzz("signal", signal_text, |data| {
        let s = String::from_utf8_lossy(data);
        let parsed = rt::signal::parse(&s);
        if let Ok(n) = parsed {
            // 0 probes (kill(2)'s "is it there"), as runc takes it.
            assert!((0..=libc::SIGRTMAX()).contains(&n), "{s:?} gave signal {n}");
        }
        accepted(&parsed)
    });
}

/// Random ids: mostly the allowed alphabet, with path pieces and bytes.
fn id_text(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "a", "Z", "0", "_", "+", "-", ".", "..", "/", "\\", " ", "\u{0}", "é", "\n",
    ];
    let mut s: String = (0..rng.usize(..12))
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect();
    if rng.u8(..16) == 0 {
        s.push_str(&"x".repeat(rng.usize(1000..1100)));
    }
    s.into_bytes()
}

#[test]
fn container_ids() {
    let root = Path::new("/run/rt-fuzz-root");
    fuzz("id", id_text, |data| {
        let id = String::from_utf8_lossy(data);
        let valid = rt::state::validate_id(&id);
        // An accepted id is one directory right below --root.
        if valid.is_ok() {
            let dir = rt::state::Store::new(root).dir(&id);
            assert_eq!(dir.parent(), Some(root), "{id:?} escapes --root");
            assert!(
                id != "." && id != ".." && id.len() <= 1024,
                "{id:?} accepted"
            );
        }
        accepted(&valid)
    });
}

/// A random mount option list, mostly known keywords.
fn option_list(rng: &mut Rng) -> Vec<u8> {
    const KNOWN: &[&str] = &[
        "defaults",
        "ro",
        "rw",
        "nosuid",
        "suid",
        "nodev",
        "dev",
        "noexec",
        "exec",
        "sync",
        "async",
        "remount",
        "bind",
        "rbind",
        "private",
        "rprivate",
        "shared",
        "rslave",
        "unbindable",
        "noatime",
        "relatime",
        "strictatime",
        "mode=755",
        "size=65536k",
        "uid=0",
        "",
        ",",
        "=",
        "é",
        "\u{0}",
    ];
    let opts: Vec<String> = (0..rng.usize(..10))
        .map(|_| match rng.u8(..8) {
            0 => String::from_utf8_lossy(
                &(0..rng.usize(..16)).map(|_| rng.u8(..)).collect::<Vec<_>>(),
            )
            .into_owned(),
            _ => KNOWN[rng.usize(..KNOWN.len())].to_string(),
        })
        .collect();
    serde_json::to_vec(&opts).expect("encode")
}

#[test]
fn mount_options() {
    use nix::mount::MsFlags;
    fuzz("mount-options", option_list, |data| {
        let opts: Vec<String> = serde_json::from_slice(data).expect("generated list");
        let parsed = rt::init::parse_options(&opts);
        // The last of ro/rw decides.
        match opts
            .iter()
            .rev()
            .find(|o| *o == "ro" || *o == "rw")
            .map(String::as_str)
        {
            Some("ro") => assert!(parsed.flags.contains(MsFlags::MS_RDONLY), "{opts:?}"),
            Some(_) => assert!(!parsed.flags.contains(MsFlags::MS_RDONLY), "{opts:?}"),
            None => {}
        }
        true
    });
}

/// OCI seccomp profiles: a small hand-made one with argument conditions,
/// and Docker's default converted the way moby does.
fn seccomp_corpus() -> Vec<Value> {
    let mut corpus = vec![json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
            {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["no_such_call"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}
        ]
    })];
    let docker =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("spec-fixtures/seccomp/docker-default.json");
    if let Ok(bytes) = std::fs::read(docker) {
        let bounding = vec!["CAP_CHOWN".to_string(), "CAP_SYS_ADMIN".to_string()];
        let oci = rt::seccomp::docker::to_oci(&bytes, &bounding)
            .expect("docker default profile converts");
        corpus.push(serde_json::to_value(oci).expect("encode profile"));
    }
    corpus
}

#[test]
fn seccomp_profiles() {
    fuzz("seccomp", mutants(seccomp_corpus()), |data| {
        let Ok(profile) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) else {
            return false;
        };
        let compiled = rt::seccomp::compile(&profile);
        if let Ok(filter) = &compiled {
            assert!(
                filter.program().len() <= 4096,
                "{} instructions",
                filter.program().len()
            );
        }
        accepted(&compiled)
    });
}

#[test]
fn docker_seccomp_profiles() {
    let Some(profile) = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("spec-fixtures/seccomp/docker-default.json"),
    ) else {
        return;
    };
    let bounding = vec!["CAP_SYS_ADMIN".to_string()];
    // No panic is all this one asks: its errors quote serde's raw message,
    // newlines and all — a tool's path, never a container's.
    fuzz("docker-seccomp", mutants(vec![profile]), |data| {
        rt::seccomp::docker::to_oci(data, &bounding).is_ok()
    });
}
