//! Residue checks for the reliability tests, beyond the harness's: there a
//! container is known by its pid file, which a create that died or failed
//! never writes. Here every process of a container carries a mark in its
//! environment — rt's own processes and the init before exec inherit it
//! from the command line, the container's program gets it from
//! `process.env` — so an orphan is found in the process table whatever
//! stage it was left at.

// Each test binary compiles its own copy of this module and uses only part.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::residue::{self, Tracked};
use crate::common::{procfs, Container, Outcome};

/// The environment variable that marks a container's processes.
pub const MARK: &str = "RT_TEST_MARK";

/// An init that lost its `rt create` exits by itself once it sees the sync
/// socket close; give it that long before calling it an orphan.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

/// Put the mark in the container's `process.env`.
pub fn mark(c: &mut Container) {
    c.push("/process/env", format!("{MARK}={}", c.id).into());
}

/// Write `c.config` to the bundle, for a create this test spawns itself
/// (`Container::launch` writes it only for the commands it runs to the end).
pub fn write_config(c: &Container) {
    fs::write(
        c.bundle().join("config.json"),
        serde_json::to_vec_pretty(&c.config).expect("encode config"),
    )
    .expect("write config");
}

/// `cmd` with the mark of `c` in its environment.
pub fn marked(c: &Container, mut cmd: Command) -> Command {
    cmd.env(MARK, &c.id);
    cmd
}

/// Live processes that carry the mark of container `id`.
pub fn marked_pids(id: &str) -> Vec<i32> {
    let want = format!("{MARK}={id}");
    procfs::pids()
        .into_iter()
        .filter(|pid| {
            // Zombies have an empty environ; a process that is gone has none.
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == want.as_bytes()))
        })
        .collect()
}

/// The init pid recorded in the container's state.json, if rt wrote one.
pub fn recorded_init(c: &Container) -> Option<Tracked> {
    let data = fs::read(c.state_root().join(&c.id).join("state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&data).ok()?;
    let pid = v["pid"].as_i64().filter(|p| *p > 0)? as i32;
    let start = v["pid_start_time"].as_u64().filter(|s| *s > 0);
    Some(Tracked { pid, start })
}

/// Everything container `c` left after its delete: the harness's checks
/// (state directory, cgroup in every hierarchy, host mounts, `pids`), plus
/// marked processes, mounts under the state root, and any entry of the
/// state root that names the id (temporary files, fifos, sockets).
pub fn residue(c: &Container, pids: &[Tracked]) -> Vec<String> {
    let state_dir = c.state_root().join(&c.id);
    let mut out = residue::problems(&c.id, &state_dir, &c.cgroup_name(), c.scratch(), pids);
    out.extend(
        residue::mounts_mentioning(c.state_root())
            .into_iter()
            .map(|m| format!("host mount is left: {m}")),
    );
    out.extend(
        root_entries(c.state_root(), &c.id)
            .into_iter()
            .map(|e| format!("state root entry is left: {e}")),
    );
    out.extend(
        orphans(&c.id)
            .into_iter()
            .map(|p| format!("process {p} ({}) is still alive", describe(p))),
    );
    out
}

/// An `rt state` answer: Some((status, pid)), or None when the container
/// does not exist. Any other answer (another error, not JSON, another id)
/// fails the test.
pub fn parse_state(id: &str, out: &Outcome, what: &str) -> Option<(String, i32)> {
    if out.code != 0 {
        out.fails_with(&format!("container {id} does not exist"));
        return None;
    }
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: state is not JSON ({e}):\n{out}"));
    assert_eq!(v["id"], id, "{what}: {out}");
    let status = v["status"].as_str().unwrap_or_default().to_string();
    let pid = v["pid"].as_i64().unwrap_or(-1) as i32;
    match status.as_str() {
        "stopped" => assert_eq!(pid, 0, "{what}: a stopped container names pid {pid}"),
        // Before clone: no pid yet.
        "creating" => assert!(pid >= 0, "{what}: {out}"),
        "created" | "running" | "paused" => assert!(pid > 0, "{what}: {out}"),
        other => panic!("{what}: status {other:?}:\n{out}"),
    }
    Some((status, pid))
}

/// `rt state` of `c`: its status, checked against the process the answer
/// names, or None when the container does not exist.
pub fn checked_status(c: &Container, what: &str) -> Option<String> {
    let (status, pid) = parse_state(&c.id, &c.rt(&["state", &c.id]), what)?;
    // The init may die between the answer and this check; then the next
    // answer must say so.
    if status != "stopped" && pid > 0 && procfs::start_time(pid).is_none() {
        let again = checked_status(c, what);
        assert!(
            matches!(again.as_deref(), None | Some("stopped")),
            "{what}: {status} names dead pid {pid}, then {again:?}"
        );
    }
    Some(status)
}

/// Panic with the list unless `problems` is empty.
pub fn assert_clean(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what} left residue:\n{}",
        problems.join("\n")
    );
}

/// Entries of the state root whose name contains `id`.
fn root_entries(root: &Path, id: &str) -> Vec<String> {
    fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(id))
        .collect()
}

/// Marked processes still alive after the grace period.
fn orphans(id: &str) -> Vec<i32> {
    let deadline = Instant::now() + ORPHAN_GRACE;
    loop {
        let pids = marked_pids(id);
        if pids.is_empty() || Instant::now() > deadline {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// "comm, state" of a process, for residue reports.
fn describe(pid: i32) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |f: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(f))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    format!(
        "{}, {}, ppid {}",
        field("Name:"),
        field("State:"),
        field("PPid:")
    )
}

/// Host-wide counters a leak would make grow across many containers.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Open fds of this test process.
    pub own_fds: usize,
    /// Allocated file handles of the whole system (/proc/sys/fs/file-nr).
    pub system_files: i64,
    /// Lines of the host's mountinfo.
    pub mounts: i64,
    /// Kernel slab memory in kB (namespaces, cgroups, mounts, files).
    pub slab_kb: i64,
    /// Memory cgroups the kernel holds, removed ones included: a removed
    /// v1 memory cgroup whose pages are still charged lives on, dying,
    /// until they are reclaimed. Reported, not checked: the kernel's lag.
    pub memcgs: i64,
}

impl Gauges {
    pub fn read() -> Gauges {
        let meminfo = procfs::read("/proc/meminfo");
        let slab = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("Slab:"))
            .unwrap_or("0 kB");
        Gauges {
            own_fds: fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0),
            system_files: procfs::read("/proc/sys/fs/file-nr")
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            mounts: procfs::read("/proc/self/mountinfo").lines().count() as i64,
            slab_kb: slab
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0),
            memcgs: procfs::read("/proc/cgroups")
                .lines()
                .find_map(|l| l.strip_prefix("memory\t"))
                .and_then(|rest| rest.split('\t').nth(1)?.parse().ok())
                .unwrap_or(0),
        }
    }

    /// `self - before`, one line.
    pub fn growth(&self, before: &Gauges) -> String {
        format!(
            "own fds {:+}, system files {:+}, host mounts {:+}, slab {:+} kB, memory cgroups (dying included) {:+}",
            self.own_fds as i64 - before.own_fds as i64,
            self.system_files - before.system_files,
            self.mounts - before.mounts,
            self.slab_kb - before.slab_kb,
            self.memcgs - before.memcgs
        )
    }

    /// Fail on growth that other activity cannot explain. Only for runs of
    /// `n` >= 100 containers (`just stress`, one test at a time): then this
    /// process's fds must come back exactly, and the system-wide numbers,
    /// which move with whatever else runs, must stay far below what one
    /// leaked object per container would add. Shorter runs share the
    /// process with parallel tests and only report.
    pub fn assert_no_growth(&self, before: &Gauges, n: usize) {
        let what = self.growth(before);
        eprintln!("{n} containers: {what}");
        let n = n as i64;
        if n >= 100 {
            assert_eq!(
                self.own_fds, before.own_fds,
                "test process fds grew: {what}"
            );
            assert!(
                self.system_files - before.system_files < n,
                "file handles grew by one per container: {what}"
            );
            assert!(
                self.mounts - before.mounts < n / 2,
                "host mounts grew: {what}"
            );
            assert!(
                self.slab_kb - before.slab_kb < 64 * n,
                "slab grew by 64 kB per container: {what}"
            );
        }
    }
}

/// Cgroup directories below /rt-test, in any hierarchy, whose name starts
/// with `prefix`.
pub fn cgroups_with_prefix(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for e in fs::read_dir(h.path().join("rt-test"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// A count from the environment (`RT_STRESS_RUNS=200`), or `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a count")),
        Err(_) => default,
    }
}
