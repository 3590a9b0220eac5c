//! Cgroups in full: every resource read back from the cgroup files, limits
//! that bite (OOM, pids, cpu quota), pause/resume, ps, update, events, the
//! v2 device filter, and the same values as runc writes.
//!
//! This machine is hybrid: the v1 controllers carry the limits, the
//! controller-less cgroup2 mount only tracks. Tests that need the v1
//! controllers say so and skip elsewhere.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{procfs, residue, wait_for, Container, Runtime};

const MIB: i64 = 1 << 20;

/// Whether a v1 hugetlb hierarchy is mounted: by its cgroup.procs, not its
/// directory, which an interrupted experiment can leave behind empty.
fn hugetlb_mounted() -> bool {
    Path::new("/sys/fs/cgroup/hugetlb/cgroup.procs").exists()
}

/// Limits are written to the v1 controllers: only meaningful where they are
/// mounted (hybrid or v1 hosts).
fn v1_controllers() -> bool {
    let present = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    if !present {
        eprintln!("skipped: this host has no cgroup v1 memory controller");
    }
    present
}

/// The container's directory in the hierarchy of `controller`.
fn cgroup_dir(c: &Container, controller: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("rt-test")
        .join(c.cgroup_name())
}

fn read(c: &Container, controller: &str, file: &str) -> String {
    let path = cgroup_dir(c, controller).join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn read_u64(c: &Container, controller: &str, file: &str) -> u64 {
    let text = read(c, controller, file);
    text.parse()
        .unwrap_or_else(|_| panic!("{controller}/{file} holds {text:?}"))
}

/// major:minor of a real block device (loop devices as a last resort).
fn block_device() -> (u64, u64) {
    let mut devs: Vec<(bool, String)> = fs::read_dir("/sys/block")
        .expect("list /sys/block")
        .flatten()
        .filter_map(|e| {
            let loop_dev = e.file_name().to_string_lossy().starts_with("loop");
            Some((
                loop_dev,
                fs::read_to_string(e.path().join("dev"))
                    .ok()?
                    .trim()
                    .to_string(),
            ))
        })
        .collect();
    devs.sort();
    let dev = &devs.first().expect("a block device").1;
    let (major, minor) = dev.split_once(':').expect("major:minor");
    (major.parse().expect("major"), minor.parse().expect("minor"))
}

/// The blkio weight file where BFQ or CFQ provides one (their counters
/// show in the hierarchy root; the weight only in child cgroups).
fn blkio_weight_file() -> Option<&'static str> {
    let root = Path::new("/sys/fs/cgroup/blkio");
    if root.join("blkio.bfq.io_service_bytes").exists() {
        Some("blkio.bfq.weight")
    } else if root.join("blkio.io_service_bytes").exists() {
        Some("blkio.weight")
    } else {
        None
    }
}

/// The OCI blockIO throttle lists and the v1 file each one lands in.
const THROTTLES: [(&str, &str); 4] = [
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    (
        "throttleWriteIOPSDevice",
        "blkio.throttle.write_iops_device",
    ),
];

/// A blockIO object throttling device `(major, minor)` at `rates`, in the
/// order of [`THROTTLES`].
fn throttled_block_io((major, minor): (u64, u64), rates: [u64; 4]) -> Value {
    let lists = THROTTLES.iter().zip(rates).map(|((key, _), rate)| {
        (
            key.to_string(),
            json!([{"major": major, "minor": minor, "rate": rate}]),
        )
    });
    Value::Object(lists.collect())
}

fn stats(c: &Container) -> Value {
    let out = c.rt(&["events", "--stats", &c.id]).ok();
    let line: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats is not JSON ({e}):\n{out}"));
    assert_eq!(line["type"], "stats", "{line}");
    assert_eq!(line["id"], c.id.as_str(), "{line}");
    line["data"].clone()
}

#[test]
fn resources_are_written_to_every_controller() {
    if !v1_controllers() {
        return;
    }
    let (major, minor) = block_device();
    let rates = [1048576, 2097152, 100, 200];
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/linux/resources",
        json!({
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
            ],
            "memory": {"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB, "swappiness": 20,
                       "disableOOMKiller": true, "useHierarchy": true},
            "cpu": {"shares": 512, "quota": 30000, "period": 50000, "burst": 1000, "idle": 0,
                    "realtimePeriod": 900000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 77},
            "blockIO": throttled_block_io((major, minor), rates)
        }),
    );
    // Optional here: another hierarchy layout may lack them.
    let hugetlb = hugetlb_mounted();
    if hugetlb {
        c.set(
            "/linux/resources/hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 4 * MIB}]),
        );
    }
    let weight = blkio_weight_file();
    if weight.is_some() {
        c.set("/linux/resources/blockIO/weight", 300);
    }
    c.start_ok();
    let mut expect = vec![
        ("memory", "memory.limit_in_bytes", (64 * MIB).to_string()),
        (
            "memory",
            "memory.soft_limit_in_bytes",
            (32 * MIB).to_string(),
        ),
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            (96 * MIB).to_string(),
        ),
        ("memory", "memory.swappiness", "20".into()),
        ("memory", "memory.use_hierarchy", "1".into()),
        ("cpu", "cpu.shares", "512".into()),
        ("cpu", "cpu.cfs_quota_us", "30000".into()),
        ("cpu", "cpu.cfs_period_us", "50000".into()),
        ("cpu", "cpu.cfs_burst_us", "1000".into()),
        ("cpu", "cpu.idle", "0".into()),
        ("cpu", "cpu.rt_period_us", "900000".into()),
        ("cpuset", "cpuset.cpus", "0".into()),
        ("cpuset", "cpuset.mems", "0".into()),
        ("pids", "pids.max", "77".into()),
    ];
    for ((_, file), rate) in THROTTLES.iter().zip(rates) {
        expect.push(("blkio", file, format!("{major}:{minor} {rate}")));
    }
    if let Some(file) = weight {
        expect.push(("blkio", file, "300".into()));
    }
    if hugetlb {
        expect.push((
            "hugetlb",
            "hugetlb.2MB.limit_in_bytes",
            (4 * MIB).to_string(),
        ));
    }
    for (controller, file, want) in expect {
        assert_eq!(read(&c, controller, file), want, "{controller}/{file}");
    }
    assert!(read(&c, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
    let devices = read(&c, "devices", "devices.list");
    for rule in [
        "c 1:11 r",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 136:* rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c *:* m",
    ] {
        assert!(
            devices.lines().any(|l| l == rule),
            "{rule:?} missing from devices.list:\n{devices}"
        );
    }
    assert!(
        !devices.contains("a *:*"),
        "devices are not limited:\n{devices}"
    );
    // The process really is in each controller's cgroup.
    let procs = read(&c, "memory", "cgroup.procs");
    assert!(
        procs.lines().any(|p| p == c.pid().to_string()),
        "init not in the memory cgroup: {procs}"
    );
}

/// Opens /dev/null, then /dev/loop0 (a harmless block device) for reading
/// and writing, and /dev/loop1 for reading, to see what the rules let by.
const LOOP_PROBE: &str = "cat /dev/null && echo null-ok; (: < /dev/loop0) 2>/dev/null && echo loop0-read; \
    (: > /dev/loop0) 2>/dev/null || echo loop0-no-write; (: < /dev/loop1) 2>/dev/null || echo loop1-no-read";
/// Its output when only reading loop0 is allowed.
const LOOP_PROBE_ALLOWED_READ: &str = "null-ok\nloop0-read\nloop0-no-write\nloop1-no-read\n";

/// [`LOOP_PROBE`] run with reading loop0 allowed by a rule of `access`.
fn loop_probe(access: &str) -> crate::common::Outcome {
    let mut c = Container::sh(LOOP_PROBE);
    c.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "b", "major": 7, "minor": 0, "access": access}),
    );
    for minor in [0, 1] {
        c.push(
            "/linux/devices",
            json!({"path": format!("/dev/loop{minor}"), "type": "b", "major": 7, "minor": minor}),
        );
    }
    c.run().ok()
}

#[test]
fn device_rules_are_enforced() {
    if !v1_controllers() {
        return;
    }
    let out = loop_probe("r");
    assert_eq!(out.stdout, LOOP_PROBE_ALLOWED_READ, "{out}");
}

/// Access letters other than r, w and m mean nothing to the kernel; runc
/// drops them (runc's tests write "rwa"), and so does rt, with a warning.
#[test]
fn device_access_letters_beyond_rwm_are_dropped() {
    if !v1_controllers() {
        return;
    }
    let out = loop_probe("ra");
    assert_eq!(out.stdout, LOOP_PROBE_ALLOWED_READ, "{out}");
    assert!(
        out.stderr.contains("only r, w and m are device access"),
        "{out}"
    );
}

#[test]
fn missing_controllers_fail_clearly() {
    if !v1_controllers() {
        return;
    }
    // (field, value, what the single error line must say); each is absent
    // from this kernel or hierarchy layout.
    let mut cases = vec![
        (
            "/linux/resources/network",
            json!({"classID": 1048577}),
            "no net_cls cgroup hierarchy is mounted",
        ),
        (
            "/linux/resources/network",
            json!({"priorities": [{"name": "lo", "priority": 2}]}),
            "no net_prio cgroup hierarchy is mounted",
        ),
        (
            "/linux/resources/blockIO",
            json!({"leafWeight": 500}),
            "blkio.leaf_weight does not exist on this kernel",
        ),
        (
            "/linux/resources/unified",
            json!({"memory.high": "100000000"}),
            "invalid configuration: linux.resources.unified needs cgroup v2",
        ),
    ];
    if blkio_weight_file().is_none() {
        cases.push((
            "/linux/resources/blockIO",
            json!({"weight": 500}),
            "blkio.weight does not exist on this kernel",
        ));
    }
    if !hugetlb_mounted() {
        cases.push((
            "/linux/resources/hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 2097152}]),
            "no hugetlb cgroup hierarchy is mounted",
        ));
    }
    for (pointer, value, needle) in cases {
        let mut c = Container::new(&["true"]);
        c.set(pointer, value.clone());
        let line = c.create().fails_with(needle);
        assert!(line.contains("cgroup"), "{line}");
        assert!(
            residue::cgroup_dirs(&c.cgroup_name()).is_empty(),
            "{pointer}: cgroups left after the failed create"
        );
    }
}

/// runc reads config.json with Go's case-insensitive keys: a hugepage
/// limit keyed "pagesize" (runc's own tests write it) is the pageSize; an
/// empty or malformed size is refused by name before anything is made.
#[test]
fn hugepage_limits_as_runc_reads_them() {
    if !hugetlb_mounted() {
        eprintln!("skipped: no hugetlb hierarchy");
        return;
    }
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/linux/resources/hugepageLimits",
        json!([{"pagesize": "2MB", "Limit": 4 * MIB}]),
    );
    c.start_ok();
    assert_eq!(
        read_u64(&c, "hugetlb", "hugetlb.2MB.limit_in_bytes"),
        4 << 20
    );
    if Path::new("/sys/fs/cgroup/hugetlb/hugetlb.2MB.rsvd.limit_in_bytes").exists() {
        assert_eq!(
            read_u64(&c, "hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes"),
            4 << 20,
            "reservations are limited alike"
        );
    }
    for size in ["", "2", "2mb", "MB", "2MB/x"] {
        let mut c = Container::new(&["true"]);
        c.set(
            "/linux/resources/hugepageLimits",
            json!([{"pageSize": size, "limit": MIB}]),
        );
        c.create().fails_with(&format!(
            "hugepageLimits[0].pageSize {size:?} is not a page size"
        ));
        assert!(residue::cgroup_dirs(&c.cgroup_name()).is_empty());
    }
}

#[test]
fn kernel_memory_is_ignored_with_a_warning() {
    let mut c = Container::new(&["true"]);
    c.set(
        "/linux/resources/memory",
        json!({"kernel": 64 * MIB, "kernelTCP": 16 * MIB}),
    );
    let out = c.run().ok();
    assert!(
        out.stderr
            .contains("memory.kernel and memory.kernelTCP are ignored"),
        "{out}"
    );
}

/// `rt events` streaming into a file, stopped when dropped.
struct EventStream {
    child: Child,
    out: PathBuf,
}

impl EventStream {
    fn start(c: &Container, interval: &str) -> EventStream {
        let out = c.scratch().join("events.out");
        let mut cmd = c.command(&["events", "--interval", interval, &c.id]);
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("create events.out"));
        EventStream {
            child: cmd.spawn().expect("spawn rt events"),
            out,
        }
    }

    fn lines(&self) -> Vec<Value> {
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait_for_type(&self, kind: &str) -> Value {
        wait_for(&format!("a {kind:?} event"), || {
            self.lines().into_iter().find(|e| e["type"] == kind)
        })
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn oom_kill_is_reported_by_events() {
    if !v1_controllers() {
        return;
    }
    // dd's 64 MiB block buffer is anonymous memory, charged as dd fills it.
    let mut c = Container::sh(
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd-exit=$?; sleep 1000",
    );
    c.set("/linux/resources/memory", json!({"limit": 32 * MIB}));
    c.create_ok();
    let events = EventStream::start(&c, "100ms");
    // The first sample proves the OOM watch is registered.
    let first = events.wait_for_type("stats");
    assert_eq!(first["data"]["memory"]["usage"]["limit"], 32 * MIB);
    c.start().ok();
    fs::write(c.rootfs().join("tmp/go"), "").expect("write the go file");

    let oom = events.wait_for_type("oom");
    assert_eq!(oom, json!({"type": "oom", "id": c.id}));
    let out = c.wait_output("dd-exit=");
    assert!(
        out.contains("dd-exit=137"),
        "dd was not killed by SIGKILL:\n{out}"
    );
    assert!(read(&c, "memory", "memory.oom_control").contains("oom_kill 1"));
    let data = stats(&c);
    assert!(
        data["memory"]["usage"]["failcnt"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{data}"
    );
    assert_eq!(
        c.status(),
        "running",
        "the shell survives: only dd was killed"
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !v1_controllers() {
        return;
    }
    // Bounded: 40 background sleeps from a child shell, which gives up at
    // the first fork the limit refuses; init itself no longer forks.
    let mut c = Container::sh("sh -c 'i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done' 2>/dev/null; echo spawned; exec sleep 1000");
    c.set("/linux/resources/pids", json!({"limit": 8}));
    // Not start_ok: init execs away from process.args.
    c.create_ok();
    c.start().ok();
    c.wait_output("spawned");
    let current = read_u64(&c, "pids", "pids.current");
    assert!((2..=8).contains(&current), "pids.current {current}");
    let refused = read(&c, "pids", "pids.events");
    assert!(
        refused
            .strip_prefix("max ")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0),
        "pids.events: {refused}"
    );
    let ps = c.rt(&["ps", "--format", "json", &c.id]).ok();
    let pids: Vec<i32> = serde_json::from_str(ps.stdout.trim()).expect("ps json");
    assert!(pids.len() <= 8, "{pids:?}");
    assert_eq!(stats(&c)["pids"], json!({"current": current, "limit": 8}));
}

#[test]
fn cpu_quota_holds_a_busy_loop_near_its_share() {
    if !v1_controllers() {
        return;
    }
    let mut c = Container::sh("while :; do :; done");
    c.set(
        "/linux/resources/cpu",
        json!({"quota": 20000, "period": 100000}),
    );
    c.start_ok();
    std::thread::sleep(Duration::from_millis(200));
    let (t0, u0) = (Instant::now(), read_u64(&c, "cpuacct", "cpuacct.usage"));
    std::thread::sleep(Duration::from_millis(1000));
    let (t1, u1) = (Instant::now(), read_u64(&c, "cpuacct", "cpuacct.usage"));
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    // 20% of one cpu; loose bounds, a loaded machine may give less.
    assert!(
        share < 0.35,
        "the busy loop got {:.0}% of a cpu",
        share * 100.0
    );
    assert!(
        share > 0.02,
        "the busy loop got {:.1}% of a cpu",
        share * 100.0
    );
    let throttling = &stats(&c)["cpu"]["throttling"];
    assert!(
        throttling["throttledPeriods"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{throttling}"
    );
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let mut c =
        Container::sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done");
    c.set("/root/readonly", false);
    c.start_ok();
    let count_file = c.rootfs().join("tmp/count");
    let count = || {
        fs::read_to_string(&count_file)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    wait_for("the counter to start", count);

    c.rt(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    let frozen = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), frozen, "the counter moved while paused");
    c.rt(&["pause", &c.id]).fails_with("is paused");

    c.rt(&["resume", &c.id]).ok();
    assert_eq!(c.status(), "running");
    wait_for("the counter to move again", || {
        (count() > frozen).then_some(())
    });
    c.rt(&["resume", &c.id]).fails_with("is running");
}

#[test]
fn ps_lists_the_container_processes() {
    let c = Container::sh("sleep 1000 & echo started; exec sleep 999");
    let init = c.create_ok();
    c.start().ok();
    c.wait_output("started");
    let json_out = c.rt(&["ps", "--format", "json", &c.id]).ok();
    let mut pids: Vec<i32> = serde_json::from_str(json_out.stdout.trim()).expect("ps json");
    pids.sort();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&init), "{pids:?} lacks init {init}");

    let table = c.rt(&["ps", &c.id]).ok();
    let lines = table.lines();
    assert!(lines[0].split_whitespace().any(|f| f == "PID"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    let custom = c.rt(&["ps", &c.id, "--", "-o", "pid,args"]).ok();
    assert!(
        custom.stdout.contains("sleep 999") && custom.stdout.contains("sleep 1000"),
        "{custom}"
    );
    for pid in pids {
        assert!(procfs::start_time(pid).is_some());
    }
}

#[test]
fn update_changes_limits() {
    if !v1_controllers() {
        return;
    }
    let mut c = Container::new(&["sleep", "1000"]);
    c.set("/linux/resources/memory", json!({"limit": 64 * MIB}));
    c.set("/linux/resources/cpu", json!({"shares": 1024}));
    c.start_ok();

    c.rt(&[
        "update",
        "--memory",
        "48m",
        "--pids-limit",
        "50",
        "--cpu-quota",
        "25000",
        &c.id,
    ])
    .ok();
    assert_eq!(read_u64(&c, "memory", "memory.limit_in_bytes"), 48 << 20);
    assert_eq!(read(&c, "pids", "pids.max"), "50");
    assert_eq!(read(&c, "cpu", "cpu.cfs_quota_us"), "25000");

    // containerd's form: every field present, zero meaning "leave it"; a
    // pids object without a limit is no pids setting (runtime-spec 1.3).
    update_from_stdin(
        &c,
        &json!({"memory": {"limit": 0, "reservation": 0, "swap": 0},
                "cpu": {"shares": 512, "quota": 0, "period": 0, "cpus": "", "mems": ""},
                "blockIO": {"weight": 0}, "pids": {}}),
    );
    assert_eq!(read(&c, "cpu", "cpu.shares"), "512");
    assert_eq!(read_u64(&c, "memory", "memory.limit_in_bytes"), 48 << 20);
    assert_eq!(read(&c, "pids", "pids.max"), "50");
    assert_eq!(read(&c, "cpu", "cpu.cfs_quota_us"), "25000");

    c.rt(&["update", "--memory", "lots", &c.id])
        .fails_with("--memory");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.rt(&["update", "--memory", "32m", &c.id])
        .fails_with("is stopped");
}

/// `rt update -r -` with `doc` on stdin; panics unless it succeeds.
fn update_from_stdin(c: &Container, doc: &Value) {
    let mut cmd = c.command(&["update", "-r", "-", &c.id]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rt update");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.to_string().as_bytes())
        .expect("write resources");
    let out = child.wait_with_output().expect("wait rt update");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pids.limit 0 is a limit since runtime-spec 1.3: runc 1.5 writes 1
/// (systemd refuses TasksMax=0), at create and at update; -1 is "max".
#[test]
fn pids_limit_zero_means_one() {
    if !v1_controllers() {
        return;
    }
    let mut c = Container::new(&["sleep", "1000"]);
    c.set("/linux/resources/pids", json!({"limit": 0}));
    c.start_ok();
    assert_eq!(read(&c, "pids", "pids.max"), "1");
    c.rt(&["update", "--pids-limit", "-1", &c.id]).ok();
    assert_eq!(read(&c, "pids", "pids.max"), "max");
    c.rt(&["update", "--pids-limit", "0", &c.id]).ok();
    assert_eq!(read(&c, "pids", "pids.max"), "1");
    c.rt(&["update", "--pids-limit", "7", &c.id]).ok();
    update_from_stdin(&c, &json!({"pids": {"limit": 0}}));
    assert_eq!(read(&c, "pids", "pids.max"), "1");
}

/// `update --cpu-burst` sets the CFS burst, 0 included; other updates
/// leave it.
#[test]
fn update_sets_the_cpu_burst() {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists() {
        eprintln!("skipped: no v1 cpu.cfs_burst_us");
        return;
    }
    let mut c = Container::new(&["sleep", "1000"]);
    c.set(
        "/linux/resources/cpu",
        json!({"quota": 500000, "period": 1000000}),
    );
    c.start_ok();
    assert_eq!(read(&c, "cpu", "cpu.cfs_burst_us"), "0");
    let update = |args: &[&str]| {
        let mut all = vec!["update"];
        all.extend(args);
        all.push(&c.id);
        c.rt(&all).ok();
    };
    update(&["--cpu-period", "900000", "--cpu-burst", "500000"]);
    assert_eq!(read(&c, "cpu", "cpu.cfs_burst_us"), "500000");
    update(&["--memory", "100M"]);
    assert_eq!(read(&c, "cpu", "cpu.cfs_burst_us"), "500000");
    update(&["--cpu-period", "900000", "--cpu-burst", "0"]);
    assert_eq!(read(&c, "cpu", "cpu.cfs_burst_us"), "0");
}

/// cpu.idle from `update -r` and `--cpu-idle`, 0 included; a value the
/// kernel refuses fails the update and leaves the old one.
#[test]
fn update_sets_cpu_idle() {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.idle").exists() {
        eprintln!("skipped: no v1 cpu.idle");
        return;
    }
    let c = Container::new(&["sleep", "1000"]);
    c.start_ok();
    assert_eq!(read(&c, "cpu", "cpu.idle"), "0");
    for idle in [1, 0, 1] {
        update_from_stdin(&c, &json!({"cpu": {"idle": idle}}));
        assert_eq!(read(&c, "cpu", "cpu.idle"), idle.to_string());
    }
    for idle in ["0", "1"] {
        c.rt(&["update", "--cpu-idle", idle, &c.id]).ok();
        assert_eq!(read(&c, "cpu", "cpu.idle"), idle);
    }
    for idle in ["-1", "2"] {
        c.rt(&["update", "--cpu-idle", idle, &c.id])
            .fails_with("cpu.idle");
        assert_eq!(read(&c, "cpu", "cpu.idle"), "1");
    }
    c.rt(&["update", "--cpu-period", "10000", &c.id]).ok();
    assert_eq!(read(&c, "cpu", "cpu.idle"), "1");
}

/// `update -r` replaces a device's throttles (v1 blkio), listed twice at
/// create or not at all.
#[test]
fn update_sets_per_device_throttles() {
    if !v1_controllers() {
        return;
    }
    let (major, minor) = block_device();
    let mut c = Container::new(&["sleep", "1000"]);
    let twice = json!({"major": major, "minor": minor, "rate": 485760});
    c.set(
        "/linux/resources/blockIO",
        json!({"throttleReadBpsDevice": [twice.clone(), twice]}),
    );
    c.start_ok();
    let rates = [10485760, 9437184, 1000, 900];
    update_from_stdin(
        &c,
        &json!({"blockIO": throttled_block_io((major, minor), rates)}),
    );
    for ((_, file), rate) in THROTTLES.iter().zip(rates) {
        assert_eq!(
            read(&c, "blkio", file),
            format!("{major}:{minor} {rate}"),
            "{file}"
        );
    }
}

#[test]
fn delete_removes_every_cgroup_after_init_is_killed() {
    let c = Container::new(&["sleep", "1000"]);
    let pid = c.start_ok();
    assert!(
        residue::cgroup_dirs(&c.cgroup_name()).len() >= 2,
        "the container has a cgroup in each hierarchy"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill init");
    c.wait_status("stopped");
    c.rt(&["events", "--stats", &c.id]).fails_with("is stopped");
    c.delete().ok();
    assert_eq!(residue::cgroup_dirs(&c.cgroup_name()), Vec::<String>::new());
}

/// `delete` removes the cgroup the container used though the caller made
/// it, as runc does: a leftover would refuse the next container there. A
/// failed create leaves the caller's cgroup alone.
#[test]
fn delete_removes_a_cgroup_rt_did_not_make() {
    // Guards: removed at the end if rt left them.
    let made_before = |c: &Container| -> Vec<TestCgroup> {
        ["memory", "pids", "unified"]
            .iter()
            .map(|h| Path::new("/sys/fs/cgroup").join(h))
            .filter(|h| h.join("cgroup.procs").exists())
            .map(|h| {
                let dir = h.join("rt-test").join(c.cgroup_name());
                fs::create_dir_all(&dir).expect("make the cgroup");
                TestCgroup(dir)
            })
            .collect()
    };
    let failing = Container::new(&["/no-such-program"]);
    let own = made_before(&failing);
    assert!(!own.is_empty(), "no cgroup hierarchy");
    failing.create().fails_with("no-such-program");
    for cg in &own {
        assert!(cg.0.exists(), "{} was removed", cg.0.display());
    }

    let c = Container::new(&["true"]);
    let dirs = made_before(&c);
    c.start_ok();
    c.wait_status("stopped");
    c.delete().ok();
    for cg in &dirs {
        assert!(!cg.0.exists(), "{} is left", cg.0.display());
    }
}

/// Concurrent creates and deletes share a parent cgroup, which a delete
/// removes the moment it is empty (rt removes the parents it made, as
/// runc does), so a create may find it going while it makes its own
/// cgroup. The kernel removes a cgroup in steps — its controllers' files
/// first (ENODEV, ENOENT), then the directory, which refuses children
/// (ENODEV) until it is gone — and rt made the parent again only where it
/// saw the directory gone: a create that filled a cpuset parent in the
/// middle failed ("cannot read .../cpuset.cpus: No such device"): here
/// within 11 to 105 of these creates, in each of six runs. A removal
/// counts as removed at every step now; only a parent removed again at
/// each of ten tries in a row fails a create.
#[test]
fn a_parent_removed_while_a_create_makes_it_is_made_again() {
    const CREATES: usize = 200;
    if !v1_controllers() {
        return;
    }
    let parent = format!("rt-test/{}", crate::common::unique_id());
    let dirs: Vec<PathBuf> = residue::hierarchies()
        .into_iter()
        .map(|h| h.join(&parent))
        .collect();
    let remover = Remover::start(dirs.clone());
    let mut c = Container::sleeper();
    c.set("/linux/cgroupsPath", format!("/{parent}/{}", c.id));
    for round in 0..CREATES {
        let out = c.create();
        assert_eq!(out.code, 0, "create {round} failed:\n{out}");
        c.delete().ok();
    }
    let removed = remover.stop();
    assert!(removed > 0, "the parent was never removed: nothing raced");
    for dir in &dirs {
        if let Err(e) = fs::remove_dir(dir) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::NotFound,
                "{}: {e}",
                dir.display()
            );
        }
    }
}

/// A thread that removes `dirs` (empty cgroups) every 0.5 ms until
/// stopped, or dropped by a failing test.
struct Remover {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Remover {
    fn start(dirs: Vec<PathBuf>) -> Remover {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut removed = 0;
            while !flag.load(Ordering::Relaxed) {
                removed += dirs.iter().filter(|d| fs::remove_dir(d).is_ok()).count();
                std::thread::sleep(Duration::from_micros(500));
            }
            removed
        });
        Remover {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop it; how many directories it removed.
    fn stop(mut self) -> usize {
        self.halt()
    }

    fn halt(&mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("remover thread"))
    }
}

impl Drop for Remover {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A cgroup directory of this test, removed when dropped.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&self.0).is_err() && self.0.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The shared parent goes when no other test uses it.
        if let Some(parent) = self.0.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// A second container in the cgroup of a running one is refused, as runc
/// 1.5 refuses it, and leaves nothing; the first runs on.
#[test]
fn create_refuses_a_cgroup_with_processes() {
    let first = Container::new(&["sleep", "1000"]);
    first.start_ok();
    let mut second = first.sibling(&["true"]);
    second.set(
        "/linux/cgroupsPath",
        format!("/rt-test/{}", first.cgroup_name()),
    );
    second
        .create()
        .fails_with("container's cgroup is not empty: 1 process(es) found");
    assert!(!second.state_root().join(&second.id).exists());
    assert_eq!(first.status(), "running");
}

/// A frozen cgroup (v1 freezer or cgroup2), or one below a frozen parent,
/// is refused before any process of rt's goes in: it would stop there, and
/// rt waiting on it with it. The cgroup is the caller's: it stays.
#[test]
fn create_refuses_a_frozen_cgroup() {
    let v2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|b| Path::new(b).join("cgroup.controllers").exists());
    let mut hierarchies = vec![];
    if Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists() {
        hierarchies.push(("/sys/fs/cgroup/freezer", "freezer.state", "FROZEN"));
    }
    if let Some(base) = v2 {
        hierarchies.push((base, "cgroup.freeze", "1"));
    }
    assert!(!hierarchies.is_empty(), "no freezer on this host");
    for (base, file, frozen) in hierarchies {
        for below in [false, true] {
            let mut c = Container::new(&["true"]);
            let dir = Path::new(base).join("rt-test").join(c.cgroup_name());
            fs::create_dir_all(&dir).expect("create the cgroup");
            let cg = TestCgroup(dir);
            fs::write(cg.0.join(file), frozen).expect("freeze the cgroup");
            if below {
                c.set(
                    "/linux/cgroupsPath",
                    format!("/rt-test/{}/inner", c.cgroup_name()),
                );
            }
            c.create()
                .fails_with("container's cgroup unexpectedly frozen");
            assert!(cg.0.exists(), "{} was removed", cg.0.display());
            assert!(!cg.0.join("inner").exists());
            assert!(!c.state_root().join(&c.id).exists());
        }
    }
}

/// The unified hierarchy of this hybrid host enforces BPF device programs
/// although it has no controllers: run rt's v2 device filter for real.
#[test]
fn v2_device_filter_is_enforced_by_the_kernel() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    let base = if unified.join("cgroup.procs").exists() {
        unified
    } else {
        Path::new("/sys/fs/cgroup")
    };
    if !base.join("cgroup.controllers").exists() {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    }
    let dir = base.join("rt-test").join(crate::common::unique_id());
    fs::create_dir_all(&dir).expect("create the cgroup2 directory");
    let cg = TestCgroup(dir);
    let config: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_value(
        json!([{"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}]),
    )
    .expect("rules");
    let rules = rt::cgroups::devices::rules(Some(&config)).expect("valid rules");
    rt::cgroups::ebpf::attach(&cg.0, &rules).expect("load and attach the device filter");

    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 9; {LOOP_PROBE}",
        cg.0.display()
    );
    let out = Command::new("/bin/busybox")
        .args(["sh", "-c", &script])
        .output()
        .expect("run busybox sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        LOOP_PROBE_ALLOWED_READ,
        "{out:?}"
    );
}

#[test]
fn rt_and_runc_write_the_same_values() {
    if !v1_controllers() || !Path::new(crate::common::RUNC).exists() {
        return;
    }
    let dev = block_device();
    let (major, minor) = dev;
    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
            {"allow": true, "type": "b", "major": major, "minor": minor, "access": "r"}
        ],
        "memory": {"limit": 64 * MIB, "reservation": 16 * MIB, "swap": 80 * MIB, "swappiness": 30,
                   "disableOOMKiller": true, "kernel": 32 * MIB, "kernelTCP": 8 * MIB},
        "cpu": {"shares": 700, "quota": 40000, "period": 80000, "realtimePeriod": 800000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 99},
        "blockIO": throttled_block_io(dev, [3145728, 4194304, 300, 400])
    });
    let mut files = vec![
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("memory", "memory.oom_control"),
        ("memory", "memory.use_hierarchy"),
        ("memory", "memory.kmem.limit_in_bytes"),
        ("memory", "memory.kmem.tcp.limit_in_bytes"),
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.cfs_burst_us"),
        ("cpu", "cpu.idle"),
        ("cpu", "cpu.rt_period_us"),
        ("cpu", "cpu.rt_runtime_us"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
        ("pids", "pids.max"),
    ];
    files.extend(THROTTLES.map(|(_, file)| ("blkio", file)));
    if let Some(file) = blkio_weight_file() {
        resources["blockIO"]["weight"] = json!(600);
        files.push(("blkio", file));
    }
    if hugetlb_mounted() {
        resources["hugepageLimits"] =
            json!([{"pageSize": "2MB", "limit": 6 * MIB}, {"pageSize": "1GB", "limit": 0}]);
        files.extend([
            ("hugetlb", "hugetlb.2MB.limit_in_bytes"),
            ("hugetlb", "hugetlb.1GB.limit_in_bytes"),
        ]);
    }
    let mut rt_c = Container::new(&["sleep", "1000"]);
    let mut runc_c = Container::with_runtime(Runtime::Runc, &["sleep", "1000"]);
    for c in [&mut rt_c, &mut runc_c] {
        c.set("/linux/resources", resources.clone());
        c.start_ok();
    }
    for (controller, file) in files {
        assert_eq!(
            read(&rt_c, controller, file),
            read(&runc_c, controller, file),
            "{controller}/{file}"
        );
    }
    // rt also allows /dev/console (5:1), which runc's list lacks.
    let device_rules = |c: &Container| {
        let mut rules: Vec<String> = read(c, "devices", "devices.list")
            .lines()
            .filter(|l| *l != "c 5:1 rwm")
            .map(str::to_string)
            .collect();
        rules.sort();
        rules
    };
    assert_eq!(device_rules(&rt_c), device_rules(&runc_c));
}

/// `cmd` (an rt command line) run under strace, which writes the files
/// rt opened to `trace` (rt's own process: the container's stay
/// untraced, or strace would wait for them).
fn traced_opens(cmd: &Command, trace: &Path) -> Command {
    let mut traced = Command::new("strace");
    traced
        .args(["-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(trace)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    traced
}

/// The host's cgroup layout comes from /sys/fs/cgroup, not from
/// /proc/self/mountinfo: reading that costs in proportion to every mount
/// of the host (a Kubernetes node has thousands), on every create. Nor
/// does exec read it.
#[test]
fn create_and_exec_read_no_mount_table() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is needed (just deps installs it)"
    );
    let c = Container::sleeper();
    let create = c.scratch().join("create.trace");
    c.launch(traced_opens(&c.launch_command("create", &[]), &create))
        .ok();
    c.start().ok();
    c.wait_exec();
    let exec = c.scratch().join("exec.trace");
    crate::common::run_with_deadline(
        traced_opens(&c.command(&["exec", &c.id, "true"]), &exec),
        &c.scratch().join("exec"),
    )
    .ok();
    for (trace, read) in [(&create, "config.json"), (&exec, "state.json")] {
        let opens = fs::read_to_string(trace).expect("read the trace");
        // The trace is rt's: it read what it always reads.
        assert!(opens.contains(read), "{opens}");
        if !opens.contains("mountinfo") {
            continue;
        }
        // Only mountinfo can place a hierarchy that is not mounted in
        // a directory of /sys/fs/cgroup.
        let unplaced = hierarchy_outside_sys_fs_cgroup();
        assert!(unplaced.is_some(), "{}:\n{opens}", trace.display());
        eprintln!("mountinfo read: {unplaced:?} is not in /sys/fs/cgroup");
    }
}

/// A v1 hierarchy the kernel lists for this process that no directory of
/// /sys/fs/cgroup mounts.
fn hierarchy_outside_sys_fs_cgroup() -> Option<String> {
    let own = procfs::read("/proc/self/cgroup");
    let mounted = procfs::cgroup_lines_mounted_here(&own);
    own.lines()
        .find(|line| !mounted.contains(line))
        .map(str::to_string)
}

/// Only the cpuset hierarchy's new directories get their cpus and mems
/// filled in: create looked for cpuset.cpus in every hierarchy's, a lookup
/// per hierarchy on every create for nothing.
#[test]
fn create_fills_cpus_only_in_the_cpuset_hierarchy() {
    if !v1_controllers() {
        return;
    }
    let c = Container::sleeper();
    let trace = c.scratch().join("create.trace");
    let create = c.launch_command("create", &[]);
    let mut cmd = Command::new("strace");
    cmd.args(["-qq", "-e", "trace=%file", "-o"])
        .arg(&trace)
        .arg(create.get_program())
        .args(create.get_args());
    c.launch(cmd).ok();
    let calls = fs::read_to_string(&trace).expect("read the trace");
    let cpuset_files: Vec<&str> = calls.lines().filter(|l| l.contains("/cpuset.")).collect();
    // By absolute path, or relative to /sys/fs/cgroup (src/cgroups/at.rs).
    let in_cpuset = |l: &&str| {
        [
            "/sys/fs/cgroup/cpuset/",
            "/sys/fs/cgroup/cpuset,",
            "\"cpuset/",
            "\"cpuset,",
        ]
        .iter()
        .any(|p| l.contains(p))
    };
    assert!(cpuset_files.iter().any(in_cpuset), "{calls}");
    let elsewhere: Vec<&&str> = cpuset_files.iter().filter(|l| !in_cpuset(l)).collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");
}

/// rt reaches the container's cgroup directories from an open
/// /sys/fs/cgroup, not by absolute path (src/cgroups/at.rs): a walk from
/// `/` takes sysfs's global lock for /sys and /sys/fs, which every network
/// namespace made or removed holds for writing, and a burst of containers
/// queued there. In a `run`, neither rt nor its init makes, removes,
/// checks or joins a cgroup by absolute path; the few calls left (the
/// root itself, the layout's look at it, the clone into the cgroup2
/// directory, the device rules) stay few.
#[test]
fn cgroup_calls_start_below_sysfs() {
    let c = Container::new(&["true"]);
    let trace = c.scratch().join("run.trace");
    let run = c.launch_command("run", &[]);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=%file", "-o"])
        .arg(&trace)
        .arg(run.get_program())
        .args(run.get_args());
    c.launch(cmd).ok();
    let calls = fs::read_to_string(&trace).expect("read the trace");
    let name = c.cgroup_name();
    // The trace is the run's: its leaves were made and removed.
    assert!(calls.contains(&name), "{calls}");
    let absolute: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("\"/sys/fs/cgroup/"))
        .collect();
    let per_hierarchy: Vec<&&str> = absolute
        .iter()
        .filter(|l| {
            ["mkdir", "rmdir", "statx", "newfstatat", "/tasks\""]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    assert!(per_hierarchy.is_empty(), "{per_hierarchy:#?}");
    assert!(absolute.len() <= 8, "{absolute:#?}");
    // rt itself walks to /sys/fs/cgroup once and keeps the directory open
    // (a run walked there seven times, and statfs'd it); the processes it
    // forks open their own.
    let rt = calls
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .expect("the trace names rt's pid");
    let walks: Vec<&str> = calls
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(rt))
        .filter(|l| l.contains("\"/sys/fs/cgroup\""))
        .collect();
    assert!(walks.len() <= 1, "{walks:#?}");
}
