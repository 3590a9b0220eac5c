//! Concurrency and load: many rt commands at once on one --root, racing
//! creates of one id, kill and delete racing the container's own exit,
//! `state` polled through a whole lifecycle, and long runs that must not
//! grow fds, memory, mounts or cgroups.
//!
//! The long variants run under `just stress`: `RT_STRESS_LIFECYCLES`
//! sequential lifecycles (default 30, 1000 there) and
//! `RT_STRESS_CONTAINERS` containers running at once (default 10, 100
//! there).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Container, Outcome};

/// One command of a job, with the file prefix its output goes to.
type Step = (Command, PathBuf);

/// Run each job's commands in order, every job on its own thread; the
/// outcomes by job.
fn parallel(jobs: Vec<Vec<Step>>) -> Vec<Vec<Outcome>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|steps| {
                s.spawn(move || {
                    steps
                        .into_iter()
                        .map(|(cmd, out)| crate::common::run_with_deadline(cmd, &out))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("job thread"))
            .collect()
    })
}

/// `rt <args>` of `c` as a job step, its output under the container's
/// scratch directory.
fn step(c: &Container, name: &str, args: &[&str]) -> Step {
    (
        crate::leaks::marked(c, c.command(args)),
        c.scratch().join(name),
    )
}

/// A create of `c` as a job step (its config written now).
fn create_step(c: &Container) -> Step {
    crate::leaks::write_config(c);
    (
        crate::leaks::marked(c, c.launch_command("create", &[])),
        c.scratch().join("create"),
    )
}

/// `n` marked containers running `args`, in one --root.
fn siblings(n: usize, args: &[&str]) -> Vec<Container> {
    let mut first = Container::new(args);
    crate::leaks::mark(&mut first);
    let mut all = vec![first];
    for _ in 1..n {
        let mut c = all[0].sibling(args);
        crate::leaks::mark(&mut c);
        all.push(c);
    }
    all
}

/// After every container is deleted: nothing of any is left, and the
/// --root they shared is empty.
fn assert_all_clean(all: &[Container]) {
    for c in all {
        crate::leaks::assert_clean(&c.id, &crate::leaks::residue(c, &[]));
    }
    let left: Vec<_> = std::fs::read_dir(all[0].state_root())
        .expect("read root")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "--root still holds {left:?}");
}

#[test]
fn fifty_parallel_lifecycles() {
    let all = siblings(50, &["sleep", "1000"]);
    let started = Instant::now();
    let jobs = all
        .iter()
        .map(|c| {
            vec![
                create_step(c),
                step(c, "start", &["start", &c.id]),
                step(c, "state", &["state", &c.id]),
                step(c, "delete", &["delete", "--force", &c.id]),
            ]
        })
        .collect();
    let results = parallel(jobs);
    eprintln!(
        "50 parallel create/start/state/delete in {:?}",
        started.elapsed()
    );
    for (c, outs) in all.iter().zip(&results) {
        for out in outs {
            assert_eq!(out.code, 0, "{}:\n{out}", c.id);
        }
        let (status, _) =
            crate::leaks::parse_state(&c.id, &outs[2], &c.id).expect("state after start");
        // The init may be between release and exec: still rt, running.
        assert_eq!(status, "running", "{}", c.id);
    }
    assert_all_clean(&all);
}

#[test]
fn twenty_racing_creates_of_one_id() {
    let all = siblings(20, &["sleep", "1000"]);
    let id = all[0].id.clone();
    let cgroup = format!("/rt-test/{id}");
    let jobs = all
        .iter()
        .map(|c| {
            let mut c_cfg = c.config.clone();
            crate::common::json::set(&mut c_cfg, "/linux/cgroupsPath", cgroup.as_str());
            std::fs::write(
                c.bundle().join("config.json"),
                serde_json::to_vec(&c_cfg).expect("encode"),
            )
            .expect("write config");
            let mut cmd = c.command(&["create", "--bundle"]);
            cmd.arg(c.bundle())
                .arg("--pid-file")
                .arg(c.pid_file())
                .arg(&id)
                .env(crate::leaks::MARK, &id);
            vec![(cmd, c.scratch().join("create"))]
        })
        .collect();
    let results: Vec<Outcome> = parallel(jobs).into_iter().flatten().collect();
    let winners: Vec<usize> = (0..results.len())
        .filter(|i| results[*i].code == 0)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create must win:\n{results:#?}"
    );
    for (i, out) in results.iter().enumerate() {
        if i != winners[0] {
            out.fails_with(&format!("container with id {id} already exists"));
        }
    }
    // Only the winner's init runs, and the losers left its cgroup alone.
    let winner = &all[winners[0]];
    let pid: i32 = std::fs::read_to_string(winner.pid_file())
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(
        crate::leaks::marked_pids(&id),
        vec![pid],
        "processes of {id}"
    );
    assert_eq!(all[0].status(), "created");
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{cgroup}/cgroup.procs"))
        .expect("winner's cgroup");
    assert_eq!(procs.trim(), pid.to_string());
    for (i, c) in all.iter().enumerate() {
        assert!(
            i == winners[0] || !c.pid_file().exists(),
            "a losing create wrote its pid file"
        );
    }
    all[0].rt(&["delete", "--force", &id]).ok();
    assert_all_clean(&all);
}

/// Containers whose program exits a moment after start, with `kill` and
/// `delete --force` (or a plain `delete`) fired at that moment.
#[test]
fn kill_and_delete_race_the_exit() {
    let rounds = 12;
    let mut rng = fastrand::Rng::new();
    for round in 0..rounds {
        let ms = rng.u32(0..20);
        let mut c = Container::sh(&format!("sleep 0.{ms:03}; exit 3"));
        crate::leaks::mark(&mut c);
        c.start_ok();
        let force = round % 2 == 0;
        let delete: &[&str] = if force {
            &["delete", "--force", &c.id]
        } else {
            &["delete", &c.id]
        };
        let jobs = vec![
            vec![step(&c, "kill", &["kill", &c.id, "KILL"])],
            vec![step(&c, "kill-all", &["kill", "--all", &c.id, "TERM"])],
            vec![step(&c, "delete", delete)],
            vec![step(&c, "state", &["state", &c.id])],
        ];
        let outs: Vec<Outcome> = parallel(jobs).into_iter().flatten().collect();
        let what = format!("round {round}, exit after {ms} ms");
        for kill in &outs[..2] {
            if kill.code != 0 {
                // Stopped, or already deleted.
                let line = kill.fails_with("");
                assert!(
                    line.contains("not running") || line.contains("does not exist"),
                    "{what}: {kill}"
                );
            }
        }
        let del = &outs[2];
        if force || del.code == 0 {
            assert_eq!(del.code, 0, "{what}: {del}");
        } else {
            del.fails_with("running");
            c.wait_status("stopped");
            c.delete().ok();
        }
        crate::leaks::parse_state(&c.id, &outs[3], &what);
        crate::leaks::assert_clean(&what, &crate::leaks::residue(&c, &[]));
    }
}

/// The order statuses may appear in; `None` (does not exist) comes before
/// create and after delete.
fn rank(status: Option<&str>, deleted: bool) -> usize {
    match (status, deleted) {
        (None, false) => 0,
        (Some("creating"), _) => 1,
        (Some("created"), _) => 2,
        (Some("running"), _) => 3,
        (Some("stopped"), _) => 4,
        (None, true) => 5,
        (other, _) => panic!("unexpected status {other:?}"),
    }
}

#[test]
fn state_polled_through_a_lifecycle() {
    for round in 0..3 {
        let mut c = Container::sh("sleep 0.1");
        crate::leaks::mark(&mut c);
        let mut poll = c.command(&["state", &c.id]);
        let done = std::sync::atomic::AtomicBool::new(false);
        let answers = std::thread::scope(|s| {
            let poller = s.spawn(|| {
                let mut answers = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = poll.output().expect("rt state");
                    answers.push(Outcome {
                        code: out.status.code().unwrap_or(-1),
                        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    });
                }
                answers
            });
            c.create().ok();
            c.start().ok();
            c.wait_status("stopped");
            c.delete().ok();
            // A few answers after the delete.
            std::thread::sleep(Duration::from_millis(20));
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            poller.join().expect("poller")
        });
        let mut last = 0;
        let mut seen = Vec::new();
        for out in &answers {
            let status =
                crate::leaks::parse_state(&c.id, out, &format!("round {round}")).map(|(s, _)| s);
            let r = rank(status.as_deref(), last >= 1);
            assert!(
                r >= last,
                "round {round}: {status:?} after rank {last}; seen {seen:?}"
            );
            if r > last || seen.is_empty() {
                seen.push(status.unwrap_or_else(|| "does not exist".into()));
            }
            last = r;
        }
        eprintln!(
            "round {round}: {} answers: {}",
            answers.len(),
            seen.join(" → ")
        );
        assert!(
            seen.len() >= 3,
            "round {round}: too few statuses seen: {seen:?}"
        );
    }
}

/// Kernel caches fill up on first use and stay full; the objects of a
/// removed container are freed after an RCU grace period or by a worker.
/// So the growth that counts is between a warmed-up, settled baseline and
/// a settled end.
fn settled() -> crate::leaks::Gauges {
    std::thread::sleep(Duration::from_secs(1));
    crate::leaks::Gauges::read()
}

#[test]
fn sequential_lifecycles_do_not_grow() {
    let n = crate::leaks::env_count("RT_STRESS_LIFECYCLES", 30);
    let warm_up = (n / 10).max(1);
    let mut before = None;
    let started = Instant::now();
    let mut prefix = String::new();
    for i in 0..n {
        if i == warm_up {
            before = Some(settled());
        }
        let mut c = Container::new(&["sleep", "1000"]);
        crate::leaks::mark(&mut c);
        if i == 0 {
            prefix =
                c.id.rsplit_once('-')
                    .map(|(p, _)| p.to_string())
                    .expect("id with a counter");
        }
        c.start_ok();
        c.rt(&["delete", "--force", &c.id]).ok();
        crate::leaks::assert_clean(&c.id, &crate::leaks::residue(&c, &[]));
    }
    eprintln!("{n} lifecycles in {:?}", started.elapsed());
    assert!(crate::leaks::cgroups_with_prefix(&prefix).is_empty());
    if let Some(before) = before {
        settled().assert_no_growth(&before, n - warm_up);
    }
}

/// `n` containers up at once, then all deleted at once; checks each
/// container's fds while they run.
fn up_and_down(n: usize, round: usize) {
    let all = siblings(n, &["sleep", "1000"]);
    let started = Instant::now();
    let results = parallel(
        all.iter()
            .map(|c| vec![create_step(c), step(c, "start", &["start", &c.id])])
            .collect(),
    );
    for (c, outs) in all.iter().zip(&results) {
        for out in outs {
            assert_eq!(out.code, 0, "{}:\n{out}", c.id);
        }
    }
    let up = started.elapsed();
    let list = all[0].rt(&["list", "--format", "json"]).ok();
    let docs: serde_json::Value = serde_json::from_str(&list.stdout).expect("list json");
    let docs = docs.as_array().expect("array");
    assert_eq!(docs.len(), n);
    assert!(docs.iter().all(|d| d["status"] == "running"), "{list}");
    // Each container's program holds only its stdio: nothing of rt leaked
    // into it, however many containers rt juggled.
    for d in docs {
        let pid = d["pid"].as_i64().expect("pid");
        let fds = crate::common::wait_for("the exec", || {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "sleep").then(|| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
        });
        assert_eq!(fds, 3, "container init {pid} holds {fds} fds");
    }
    let results = parallel(
        all.iter()
            .map(|c| vec![step(c, "delete", &["delete", "--force", &c.id])])
            .collect(),
    );
    for (c, outs) in all.iter().zip(&results) {
        assert_eq!(outs[0].code, 0, "{}:\n{}", c.id, outs[0]);
    }
    eprintln!(
        "round {round}: {n} containers up in {up:?}, all down in {:?}",
        started.elapsed() - up
    );
    assert_all_clean(&all);
}

#[test]
fn many_containers_at_once() {
    let n = crate::leaks::env_count("RT_STRESS_CONTAINERS", 10);
    // The first round warms the caches up.
    up_and_down(n, 1);
    let before = settled();
    up_and_down(n, 2);
    settled().assert_no_growth(&before, n);
}
