//! Process attributes: ioPriority, scheduler, personality, execCPUAffinity,
//! checked on the running container from the host.

use crate::common::{host, procfs, Container};
use serde_json::json;

fn started(configure: impl FnOnce(&mut Container)) -> (Container, String) {
    let mut c = Container::new(&["sleep", "1000"]);
    configure(&mut c);
    let pid = c.start_ok().to_string();
    (c, pid)
}

#[test]
fn io_priority() {
    let (c, pid) = started(|c| {
        c.set(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
        );
    });
    assert_eq!(host("ionice", &["-p", &pid]).trim(), "best-effort: prio 6");
    // exec'd processes: the config's, or their process file's.
    let exec_ionice = |extra: &[&str]| {
        let pid_file = c.scratch().join("exec.pid");
        let mut args = vec!["exec", "-d", "--pid-file"];
        let pid_path = pid_file.to_string_lossy().into_owned();
        args.push(&pid_path);
        args.extend(extra);
        args.push(&c.id);
        if extra.is_empty() {
            args.extend(["sleep", "1000"]);
        }
        c.rt(&args).ok();
        let pid = std::fs::read_to_string(&pid_file).expect("exec pid");
        host("ionice", &["-p", pid.trim()]).trim().to_string()
    };
    assert_eq!(exec_ionice(&[]), "best-effort: prio 6");
    let file = c.scratch().join("process.json");
    let process = json!({"args": ["sleep", "1000"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                         "ioPriority": {"class": "IOPRIO_CLASS_IDLE"}});
    std::fs::write(&file, process.to_string()).expect("write process.json");
    assert_eq!(exec_ionice(&["--process", &file.to_string_lossy()]), "idle");
}

#[test]
fn scheduler_policy_and_nice() {
    let (_c, pid) = started(|c| {
        c.set(
            "/process/scheduler",
            json!({"policy": "SCHED_BATCH", "nice": 7}),
        );
    });
    let out = host("chrt", &["-p", &pid]);
    assert!(out.contains("SCHED_BATCH"), "{out}");
    let stat = procfs::read(&format!("/proc/{pid}/stat"));
    let nice = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().nth(16))
        .expect("nice field");
    assert_eq!(nice, "7");
}

/// The runtime spec's flag names (oci-spec spells SCHED_RESET_ON_FORK):
/// runc's tests and tools write them.
#[test]
fn scheduler_flags_by_the_spec_names() {
    let (_c, pid) = started(|c| {
        c.set(
            "/process/scheduler",
            json!({"policy": "SCHED_BATCH", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
        );
    });
    let out = host("chrt", &["-p", &pid]);
    assert!(out.contains("SCHED_BATCH|SCHED_RESET_ON_FORK"), "{out}");
}

/// SCHED_DEADLINE needs an affinity spanning the root domain: with a
/// cpuset the kernel says EPERM, and rt says why in runc's words.
#[test]
fn deadline_scheduler_with_a_cpuset_is_refused_as_runc_does() {
    if !std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists()
        || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
    {
        eprintln!("skipped: needs a v1 cpuset and two cpus");
        return;
    }
    let mut c = Container::new(&["true"]);
    c.set("/linux/resources/cpu", json!({"cpus": "0", "mems": "0"}));
    c.set(
        "/process/scheduler",
        json!({"policy": "SCHED_DEADLINE", "runtime": 42000, "deadline": 1000000, "period": 1000000}),
    );
    c.create()
        .fails_with("process scheduler can't be used together with AllowedCPUs");
}

#[test]
fn personality_linux32() {
    let mut c = Container::new(&["busybox", "uname", "-m"]);
    c.set("/linux/personality", json!({"domain": "LINUX32"}));
    assert_eq!(c.run().ok().stdout.trim(), "i686");
}

/// This test thread's CPU list, and a guard that pins the thread (and so
/// every rt it starts) to CPU 0 until dropped.
struct PinnedToCpu0 {
    was: nix::sched::CpuSet,
}

impl PinnedToCpu0 {
    fn new() -> PinnedToCpu0 {
        let me = nix::unistd::Pid::from_raw(0);
        let was = nix::sched::sched_getaffinity(me).expect("affinity");
        let mut cpu0 = nix::sched::CpuSet::new();
        cpu0.set(0).expect("cpu 0");
        nix::sched::sched_setaffinity(me, &cpu0).expect("pin to cpu 0");
        PinnedToCpu0 { was }
    }
}

impl Drop for PinnedToCpu0 {
    fn drop(&mut self) {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.was);
    }
}

/// The CPUs a process may run on, as /proc/<pid>/status lists them.
fn cpus_of(status: &str) -> String {
    procfs::status_field(status, "Cpus_allowed_list")
}

fn two_cpus() -> bool {
    let two = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if !two {
        eprintln!("skipped: needs two cpus");
    }
    two
}

/// A container's processes never run on rt's own CPU affinity (a caller
/// under `taskset`): they get every CPU their cpuset allows, as with runc
/// ≥ 1.2 — the init and exec'd processes alike.
#[test]
fn processes_do_not_inherit_rts_cpu_affinity() {
    if !two_cpus() {
        return;
    }
    let all = cpus_of(&procfs::read("/proc/self/status"));
    let cpuset = std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists();
    for cpus in [None, Some("1"), Some("0-1")]
        .into_iter()
        .filter(|c| cpuset || c.is_none())
    {
        let mut c = Container::new(&["sleep", "1000"]);
        if let Some(cpus) = cpus {
            c.set("/linux/resources/cpu", json!({"cpus": cpus, "mems": "0"}));
        }
        let pinned = PinnedToCpu0::new();
        c.start_ok();
        let exec = c.rt(&[
            "exec",
            &c.id,
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ]);
        drop(pinned);
        let want = cpus.map_or(all.clone(), str::to_string);
        assert_eq!(
            cpus_of(&c.proc_file("status")),
            want,
            "init, cpuset {cpus:?}"
        );
        assert_eq!(cpus_of(&exec.ok().stdout), want, "exec, cpuset {cpus:?}");
    }
}

/// execCPUAffinity is for exec'd processes, not the init (runtime spec):
/// `final` once in the cgroup; `initial` alone stays; lists beyond
/// cpu_set_t's 1024 CPUs are taken (runtime-spec 1.3).
#[test]
fn exec_cpu_affinity_is_for_exec() {
    if !two_cpus() {
        return;
    }
    let all = cpus_of(&procfs::read("/proc/self/status"));
    let (c, _) = started(|c| {
        c.set(
            "/process/execCPUAffinity",
            json!({"initial": "0", "final": "1"}),
        );
    });
    assert_eq!(cpus_of(&c.proc_file("status")), all, "init");
    let status = |process: Option<serde_json::Value>| {
        let out = match process {
            None => c.rt(&["exec", &c.id, "cat", "/proc/self/status"]),
            Some(p) => {
                let file = c.scratch().join("process.json");
                std::fs::write(&file, p.to_string()).expect("write process.json");
                c.rt(&["exec", "--process", &file.to_string_lossy(), &c.id])
            }
        };
        cpus_of(&out.ok().stdout)
    };
    assert_eq!(status(None), "1", "exec with the config's");
    let process = |affinity: serde_json::Value| {
        Some(json!({"args": ["cat", "/proc/self/status"], "cwd": "/",
                    "user": {"uid": 0, "gid": 0}, "execCPUAffinity": affinity}))
    };
    assert_eq!(
        status(process(json!({"initial": "1"}))),
        "1",
        "initial only"
    );
    assert_eq!(
        status(process(json!({"initial": "1", "final": "0,2000"}))),
        "0",
        "a list past 1024 CPUs"
    );
    let file = c.scratch().join("bad.json");
    let bad = process(json!({"final": "0-70000"})).expect("process");
    std::fs::write(&file, bad.to_string()).expect("write process.json");
    c.rt(&["exec", "--process", &file.to_string_lossy(), &c.id])
        .fails_with("values larger than 65535 are not supported");
}

/// The policy field of the first line of numa_maps, as runc's tests read
/// it: "interleave:0", "bind=static:0", "default" ...
const FIRST_POLICY: &str = "head -n 1 /proc/self/numa_maps | cut -d ' ' -f 2";

/// linux.memoryPolicy (runtime-spec 1.3), set in the init and in exec'd
/// processes; this host's one NUMA node is node 0.
#[test]
fn memory_policy_is_set_for_init_and_exec() {
    for (policy, want) in [
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
    ] {
        let mut c = Container::sh(FIRST_POLICY);
        c.set("/linux/memoryPolicy", policy.clone());
        assert_eq!(c.run().ok().stdout.trim(), want, "{policy}");
    }
    let (c, _) = started(|c| {
        c.set(
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
        );
    });
    let out = c.rt(&["exec", &c.id, "sh", "-c", FIRST_POLICY]).ok();
    assert_eq!(out.stdout.trim(), "prefer=relative:0");
}

/// Bad policies fail create with runc's words, before anything is made; a
/// node the host lacks fails where the kernel says so.
#[test]
fn bad_memory_policies_are_refused_as_runc_refuses_them() {
    for (policy, want) in [
        (json!({}), "invalid memory policy mode \"\""),
        (json!({"nodes": "0-7"}), "invalid memory policy mode"),
        (
            json!({"mode": "INTERLEAVE", "nodes": "0"}),
            "invalid memory policy mode \"INTERLEAVE\"",
        ),
        (
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES", "badflag"]}),
            "invalid memory policy flag \"badflag\"",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "memory policy mode requires 0 nodes but got 8",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210", "flags": []}),
            "invalid memory policy nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "1000"}),
            "set_mempolicy: EINVAL",
        ),
    ] {
        let mut c = Container::new(&["true"]);
        c.set("/linux/memoryPolicy", policy.clone());
        c.create().fails_with(want);
    }
    let features: serde_json::Value =
        serde_json::from_str(&host(crate::common::RT, &["features"])).expect("features JSON");
    assert_eq!(
        features["linux"]["memoryPolicy"]["flags"],
        json!([
            "MPOL_F_NUMA_BALANCING",
            "MPOL_F_RELATIVE_NODES",
            "MPOL_F_STATIC_NODES"
        ])
    );
    assert_eq!(
        features["linux"]["memoryPolicy"]["modes"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
}

#[test]
fn bad_io_priority_is_a_clear_error() {
    let mut c = Container::new(&["true"]);
    c.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
    );
    c.create()
        .fails_with("process.ioPriority.priority 9 is not 0-7");
}
