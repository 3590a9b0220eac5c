//! Crashes: rt SIGKILLed at random moments of create, start and delete, and
//! state files left corrupt or truncated (what a crash or a full disk
//! leaves). rt's own commands must answer clearly and clean up; nothing of
//! the container may be left in mountinfo, any cgroup hierarchy, the
//! process table or --root.
//!
//! `RT_STRESS_RUNS` sets the number of random kills (200 under
//! `just stress`); `RT_STRESS_SEED` replays a run.

use std::fs::{self, File};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::residue::Tracked;
use crate::common::{procfs, Container};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Create,
    Start,
    Delete,
}

/// What the random kills hit.
#[derive(Default, Debug)]
struct Tally {
    runs: usize,
    /// rt died of the SIGKILL (the others had finished before it came).
    killed: usize,
    by_phase: [usize; 3],
    /// Status `rt state` gave for the half-made container, by name.
    statuses: std::collections::BTreeMap<String, usize>,
}

fn seed() -> u64 {
    match std::env::var("RT_STRESS_SEED") {
        Ok(s) => s.parse().expect("RT_STRESS_SEED is a number"),
        Err(_) => fastrand::u64(..),
    }
}

#[test]
fn killed_at_random_moments() {
    let runs = crate::leaks::env_count("RT_STRESS_RUNS", 20);
    let seed = seed();
    eprintln!("RT_STRESS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    let started = Instant::now();
    for run in 0..runs {
        let phase = [Phase::Create, Phase::Start, Phase::Delete][rng.usize(..3)];
        let delay = Duration::from_micros(rng.u64(0..=30_000));
        kill_once(
            phase,
            delay,
            &mut tally,
            &format!("run {run} (seed {seed}): {phase:?} killed after {delay:?}"),
        );
    }
    eprintln!("{tally:?} in {:?}", started.elapsed());
    assert_eq!(tally.runs, runs);
}

/// One container, one rt command SIGKILLed after `delay`; then the
/// answers, `delete --force` and the residue.
fn kill_once(phase: Phase, delay: Duration, tally: &mut Tally, what: &str) {
    let mut c = Container::new(&["sleep", "1000"]);
    crate::leaks::mark(&mut c);
    let cmd = match phase {
        Phase::Create => {
            crate::leaks::write_config(&c);
            c.launch_command("create", &[])
        }
        Phase::Start => {
            c.create_ok();
            c.command(&["start", &c.id])
        }
        Phase::Delete => {
            c.start_ok();
            c.command(&["delete", "--force", &c.id])
        }
    };
    let log = c.scratch().join("killed.log");
    let mut child = crate::leaks::marked(&c, cmd)
        .stdin(Stdio::null())
        .stdout(File::create(&log).expect("log"))
        .stderr(File::create(&log).expect("log"))
        .spawn()
        .expect("spawn rt");
    std::thread::sleep(delay);
    // Only the rt process this test started; a finished one is a zombie
    // until the wait below, so the pid cannot have been reused.
    let _ = child.kill();
    let status = child.wait().expect("wait rt");
    tally.runs += 1;
    tally.by_phase[phase as usize] += 1;
    if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
        tally.killed += 1;
    }

    let status = crate::leaks::checked_status(&c, what).unwrap_or_else(|| "does not exist".into());
    *tally.statuses.entry(status).or_default() += 1;
    c.rt(&["list"]).ok();
    let mut pids: Vec<Tracked> = crate::leaks::recorded_init(&c).into_iter().collect();
    if let Ok(text) = fs::read_to_string(c.pid_file()) {
        let pid: i32 = text.trim().parse().expect("pid file");
        pids.push(Tracked { pid, start: None });
    }
    let del = c.rt(&["delete", "--force", &c.id]);
    assert_eq!(del.code, 0, "{what}: delete --force:\n{del}");
    crate::leaks::assert_clean(what, &crate::leaks::residue(&c, &pids));
}

/// A damaged state.json and what it does to each command: (name, damage).
type Damage = (&'static str, fn(&[u8]) -> Vec<u8>);

const DAMAGE: &[Damage] = &[
    ("truncated to half", |s| s[..s.len() / 2].to_vec()),
    ("truncated to one byte", |s| s[..1].to_vec()),
    ("empty", |_| Vec::new()),
    ("binary garbage", |s| {
        s.iter()
            .map(|b| b.wrapping_mul(31).wrapping_add(7))
            .collect()
    }),
    ("an empty object", |_| b"{}".to_vec()),
    ("null", |_| b"null".to_vec()),
    ("a wrong type", |s| {
        String::from_utf8_lossy(s)
            .replacen("\"pid\":", "\"pid\":\"x\",\"_\":", 1)
            .into_bytes()
    }),
    ("invalid UTF-8", |s| {
        [&s[..s.len() / 2], b"\xff\xfe", &s[s.len() / 2..]].concat()
    }),
];

#[test]
fn corrupt_state_gives_one_line_and_force_delete_works() {
    for (i, (name, damage)) in DAMAGE.iter().enumerate() {
        let mut c = Container::new(&["sleep", "1000"]);
        crate::leaks::mark(&mut c);
        // Half of them running, half only created.
        let pid = if i % 2 == 0 {
            c.start_ok()
        } else {
            c.create_ok()
        };
        let path = c.state_root().join(&c.id).join("state.json");
        let good = fs::read(&path).expect("read state.json");
        fs::write(&path, damage(&good)).expect("damage state.json");

        let want = format!("corrupt state for container {}", c.id);
        for args in [
            &["state"][..],
            &["start"],
            &["kill"],
            &["kill", "--all"],
            &["delete"],
        ] {
            let mut argv = args.to_vec();
            argv.push(&c.id);
            c.rt(&argv).fails_with(&want);
        }
        let listed = c.rt(&["list", "-q"]).ok();
        assert!(
            listed.lines().contains(&c.id.as_str()),
            "{name}: list -q:\n{listed}"
        );
        c.rt(&["list"]).ok();

        let del = c.rt(&["delete", "--force", &c.id]).ok();
        assert!(del.stderr.lines().count() <= 1, "{name}: {del}");
        assert!(
            !c.state_root().join(&c.id).exists(),
            "{name}: state directory is left"
        );
        c.rt(&["state", &c.id]).fails_with("does not exist");

        // What the state named cannot be known from it: rt leaves the init
        // and the cgroups. Remove them here, then nothing else may be left.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill init");
        crate::common::wait_for("the init to die", || {
            procfs::start_time(pid).is_none().then_some(())
        });
        for dir in crate::common::residue::cgroup_dirs(&c.cgroup_name()) {
            crate::common::wait_for("the cgroup to empty", || {
                fs::remove_dir(&dir).is_ok().then_some(())
            });
        }
        crate::leaks::assert_clean(name, &crate::leaks::residue(&c, &[]));
    }
}

#[test]
fn missing_state_json_is_does_not_exist() {
    let mut c = Container::new(&["true"]);
    crate::leaks::mark(&mut c);
    // What a create killed between its claim and its first save leaves.
    fs::create_dir_all(c.state_root().join(&c.id)).expect("mkdir");
    for verb in ["state", "start", "kill", "delete"] {
        c.rt(&[verb, &c.id])
            .fails_with(&format!("container {} does not exist", c.id));
    }
    c.rt(&["delete", "--force", &c.id]).ok();
    crate::leaks::assert_clean("empty state directory", &crate::leaks::residue(&c, &[]));
}
