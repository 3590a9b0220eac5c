//! Process attributes: ioPriority, scheduler, personality, execCPUAffinity,
//! checked on the running container from the host.

mod common;

use common::{host, procfs, Container};
use serde_json::json;

fn started(configure: impl FnOnce(&mut Container)) -> (Container, String) {
    let mut c = Container::new(&["sleep", "1000"]);
    configure(&mut c);
    let pid = c.start_ok().to_string();
    (c, pid)
}

#[test]
fn io_priority() {
    let (_c, pid) = started(|c| {
        c.set(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
        );
    });
    assert_eq!(host("ionice", &["-p", &pid]).trim(), "best-effort: prio 6");
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

#[test]
fn exec_cpu_affinity_final() {
    let (c, _) = started(|c| {
        c.set(
            "/process/execCPUAffinity",
            json!({"initial": "0", "final": "1"}),
        );
    });
    assert_eq!(
        procfs::status_field(&c.proc_file("status"), "Cpus_allowed_list"),
        "1"
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
