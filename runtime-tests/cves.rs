//! Every known escape from runc (and from its peers crun and youki, which
//! had the same bugs) replayed against rt: each test sets up the attack its
//! advisory describes and checks that it fails. The attacks are built so
//! that a runtime with the bug would fail the test: one that resolves a
//! path by name, keeps a host fd open, or stays dumpable.
//!
//! Races run for a bounded number of containers, with a host thread in the
//! role of the second container that shares a volume with the victim.
//! Attacks on rt's binary (CVE-2019-5736) run against a copy of it, so a
//! success cannot break the rest of the suite.
//!
//! Covered elsewhere: only stdio and --preserve-fds reach the container's
//! process (CVE-2024-21626), in process.rs and exec.rs.

use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::common::procfs::{self, MountLine};
use crate::common::rootless::{rootless_wrapped, User};
use crate::common::{run_with_deadline, tempdir, wait_for, Container, Outcome, RT};
use nix::fcntl::{renameat2, RenameFlags};
use serde_json::{json, Value};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Helpers

/// `binary --root <c's state root> args`, with its output kept next to c's.
fn run_as(binary: &Path, c: &Container, args: &[&str]) -> Outcome {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut cmd = Command::new(binary);
    cmd.arg("--root").arg(c.state_root()).args(args);
    run_with_deadline(
        cmd,
        &c.scratch()
            .join(format!("cve-call{}", N.fetch_add(1, Ordering::Relaxed))),
    )
}

/// A copy of rt's binary in c's scratch dir, to attack instead of the one
/// the suite runs.
fn rt_copy(c: &Container) -> PathBuf {
    let copy = c.scratch().join("rt-copy");
    fs::copy(RT, &copy).expect("copy rt");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod rt copy");
    copy
}

fn fingerprint(path: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    fs::read(path).expect("read binary").hash(&mut h);
    h.finish()
}

/// The dynamic loader and libraries `binary` needs, copied into `rootfs`
/// (any real image has them), so that rt's binary can run in the container.
fn copy_libraries(binary: &str, rootfs: &Path) {
    let ldd = crate::common::host("ldd", &[binary]);
    for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let dest = rootfs.join(lib.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().expect("library dir")).expect("mkdir library dir");
        fs::copy(lib, &dest).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
}

/// `path` relative to the host's /, for a container to reach through `..`.
fn from_root(path: &Path) -> String {
    path.to_str()
        .expect("utf-8 path")
        .trim_start_matches('/')
        .to_string()
}

/// A host directory holding one file, `marker`, that must stay alone.
fn marked_dir() -> TempDir {
    let d = tempdir();
    fs::write(d.path().join("marker"), "host").expect("write marker");
    d
}

/// Everything below `dir`, as relative paths, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let p = e.expect("entry").path();
            out.push(
                p.strip_prefix(dir)
                    .expect("below dir")
                    .display()
                    .to_string(),
            );
            if fs::symlink_metadata(&p).expect("lstat").is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `dir` is exactly as `marked_dir` made it, and no host mount names it.
fn assert_untouched(dir: &Path) {
    assert_eq!(
        tree(dir),
        ["marker"],
        "{} changed on the host",
        dir.display()
    );
    assert_eq!(
        fs::read_to_string(dir.join("marker")).expect("marker"),
        "host"
    );
    assert!(
        crate::common::residue::mounts_mentioning(dir).is_empty(),
        "a host mount names {}",
        dir.display()
    );
}

/// The racing container: swaps each pair of paths (RENAME_EXCHANGE, so
/// both names always exist) in a loop until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// One race at a time: on 2 cores, spinning swappers of several tests at
/// once starve the containers they race against until the tests time out.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static RACES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RACES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Swapper {
    fn start(pairs: Vec<(PathBuf, PathBuf)>) -> Swapper {
        let serial = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    renameat2(None, a, None, b, RenameFlags::RENAME_EXCHANGE).expect("swap");
                    swaps += 1;
                }
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
            _serial: serial,
        }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let swaps = t.join().unwrap_or(0);
            if !std::thread::panicking() {
                assert!(swaps > 0, "the racing thread never ran");
            }
        }
    }
}

/// A directory `dir/name` and a symlink `dir/name.alt` -> `target`, which a
/// [`Swapper`] exchanges.
fn dir_or_symlink(dir: &Path, name: &str, target: &Path) -> (PathBuf, PathBuf) {
    let (real, alt) = (dir.join(name), dir.join(format!("{name}.alt")));
    fs::create_dir(&real).expect("mkdir");
    symlink(target, &alt).expect("symlink");
    (real, alt)
}

fn bind(source: &Path, destination: &str, options: &[&str]) -> Value {
    let mut opts = vec!["bind"];
    opts.extend_from_slice(options);
    json!({"destination": destination, "type": "bind", "source": source, "options": opts})
}

/// Put `m` first in c's mounts (a volume the later mounts go through).
fn mount_first(c: &mut Container, m: Value) {
    c.config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .insert(0, m);
}

/// Drop every mount at or below `dest` from c's config.
fn drop_mounts(c: &mut Container, dest: &str) {
    let below = format!("{dest}/");
    c.config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| {
            m["destination"]
                .as_str()
                .is_some_and(|d| d != dest && !d.starts_with(&below))
        });
}

/// Replace the rootfs's `name` (a top-level directory) by a symlink.
fn replace_by_symlink(c: &Container, name: &str, target: &Path) {
    let p = c.rootfs().join(name);
    let _ = fs::remove_dir(&p);
    symlink(target, &p).expect("symlink in rootfs");
}

fn mounts_of(c: &Container) -> Vec<MountLine> {
    procfs::mountinfo(&c.proc_file("mountinfo"))
}

/// c without maskedPaths and readonlyPaths: they too refuse a symlinked
/// /proc (resolved without following links), and a test of the mount
/// itself must not pass on their account.
fn without_masks(mut c: Container) -> Container {
    c.set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]));
    c
}

/// The host's kernel.core_pattern, which the /proc attacks aim at.
fn core_pattern() -> String {
    procfs::read("/proc/sys/kernel/core_pattern")
}

// ---------------------------------------------------------------------------
// CVE-2019-5736: overwriting the runtime's binary through /proc/<pid>/exe

/// CVE-2019-5736 (GHSA-gxmr-w5mj-v8hh): a process of the container opens
/// /proc/<pid>/exe of a runtime process that is in the container — here the
/// init of a created container, which waits for `start` as rt's own binary
/// and with the container's final credentials — to write the binary once
/// rt has exited. rt's processes are non-dumpable until they exec: the
/// open must fail.
#[test]
fn cve_2019_5736_a_waiting_init_exe_cannot_be_opened() {
    let c = Container::sleeper();
    let rt = rt_copy(&c);
    let before = fingerprint(&rt);
    let mut create = Command::new(&rt);
    create
        .arg("--root")
        .arg(c.state_root())
        .arg("create")
        .arg("--bundle")
        .arg(c.bundle());
    create.arg("--pid-file").arg(c.pid_file()).arg(&c.id);
    c.launch(create).ok();
    let script = "readlink /proc/1/exe && echo LINK-READ; cat /proc/1/exe > /dev/null && echo EXE-OPENED; exit 0";
    let out = run_as(&rt, &c, &["exec", &c.id, "sh", "-c", script]).ok();
    assert!(
        !out.stdout.contains("LINK-READ") && !out.stdout.contains("EXE-OPENED"),
        "the init's exe is reachable:\n{out}"
    );
    c.start().ok();
    c.wait_exec();
    assert_eq!(fingerprint(&rt), before);
}

/// CVE-2019-5736, at its root: the init a create leaves waiting runs rt
/// from a read-only mount, not from rt's file, whatever rt's environment.
/// rt's entry point re-executes with up to 1024 environment entries; with
/// more, `main` does it (rt::exeseal).
#[test]
fn cve_2019_5736_the_init_runs_a_read_only_binary() {
    for fillers in [0, 1100] {
        let c = Container::sleeper();
        let mut create = c.launch_command("create", &[]);
        for i in 0..fillers {
            create.env(format!("RT_TEST_FILLER_{i}"), "x");
        }
        c.launch(create).ok();
        let pid = c.state()["pid"].as_i64().expect("pid");
        let exe = format!("/proc/{pid}/exe");
        let link = fs::read_link(&exe).expect("readlink the init's exe");
        assert_ne!(
            fs::canonicalize(RT).expect("rt's path"),
            link,
            "with {fillers} extra variables the init runs rt's own file"
        );
        let fs_flags = nix::sys::statvfs::statvfs(exe.as_str())
            .expect("statvfs")
            .flags();
        assert!(
            fs_flags.contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            "with {fillers} extra variables the init's binary ({}) is on a writable mount",
            link.display()
        );
    }
}

/// The container's side of the attack below: find a process whose exe is
/// not busybox (rt's binary, run by the container), keep its exe open in a
/// helper, let it exit, then write the binary through the helper's fd.
const OVERWRITE_RT: &str = r#"
i=0
while [ $i -lt 600 ]; do
  for p in /proc/[0-9]*; do
    e=$(readlink $p/exe 2>/dev/null) || continue
    [ "$e" = /bin/busybox ] && continue
    sleep 1000 3<"$p/exe" &
    h=$!
    echo "opened $p $e" > /report
    cat /fifo > /dev/null
    while [ -d $p ]; do sleep 0.05; done
    sleep 0.5
    if echo PWNED > /proc/$h/fd/3; then echo written >> /report; else echo refused >> /report; fi
    kill $h
    echo done >> /report
    exec sleep 1000
  done
  i=$((i+1))
  sleep 0.05
done
echo "nothing to open" > /report
echo done >> /report
exec sleep 1000
"#;

/// CVE-2019-5736, the advisory's attack: the container makes the runtime
/// execute its own binary as the container's process — a `#!/proc/self/exe`
/// script — and, that process being the container's, opens its
/// /proc/<pid>/exe and writes rt's binary once it has exited. Here rt,
/// started with `--root` from the script's line, is kept running by a log
/// fifo until the exe is open. rt runs from a read-only (or sealed) copy of
/// itself, so the write fails and the binary is unchanged. rt also refuses
/// /proc/self/exe as the program itself.
#[test]
fn cve_2019_5736_rt_run_by_the_container_cannot_be_overwritten() {
    let _serial = serial();
    let mut c = Container::sh(OVERWRITE_RT);
    c.set("/root/readonly", false);
    copy_libraries(RT, &c.rootfs());
    nix::unistd::mkfifo(
        &c.rootfs().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let evil = c.rootfs().join("evil");
    fs::write(&evil, "#!/proc/self/exe --root\n").expect("write script");
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).expect("chmod script");
    c.start_ok();
    let rt = rt_copy(&c);
    let before = fingerprint(&rt);

    let direct = run_as(&rt, &c, &["exec", &c.id, "/proc/self/exe", "--version"]);
    assert!(
        direct.code != 0 && !direct.stdout.contains("rt "),
        "rt ran itself as the container's program:\n{direct}"
    );

    // rt then runs `rt --root /evil --log /fifo state x`, which blocks
    // opening the fifo to log its error.
    run_as(
        &rt,
        &c,
        &[
            "exec", "--detach", &c.id, "/evil", "--log", "/fifo", "state", "x",
        ],
    )
    .ok();
    let report = c.rootfs().join("report");
    let text = wait_for("the attack to finish", || {
        fs::read_to_string(&report)
            .ok()
            .filter(|t| t.contains("done"))
    });
    assert!(
        text.contains("opened"),
        "rt's binary never ran in the container, nothing was attacked:\n{text}"
    );
    assert!(
        text.contains("refused") && !text.contains("written"),
        "the container wrote rt's binary:\n{text}"
    );
    assert_eq!(fingerprint(&rt), before, "rt's binary changed");
}

// ---------------------------------------------------------------------------
// CVE-2024-21626: leaked host fds

/// A script that prints what a process whose working directory is on the
/// host would see: the host file `secret` (reached through `..`), and the
/// command line of pid 1 in the procfs it stands in.
fn probe_host(secret: &Path) -> String {
    let up = "../".repeat(12);
    format!(
        "cat {up}{} 2>/dev/null; tr '\\0' ' ' < 1/cmdline 2>/dev/null; echo; exit 0",
        from_root(secret)
    )
}

/// The output of a process that was denied the host: neither the secret
/// nor the host's pid 1.
fn assert_no_host(out: &Outcome, secret_text: &str, what: &str) {
    let host_init = procfs::read("/proc/1/cmdline").replace('\0', " ");
    if out.code == 0 {
        assert!(
            !out.stdout.contains(secret_text),
            "{what} read a host file:\n{out}"
        );
        assert!(
            !out.stdout.contains(host_init.trim()),
            "{what} sees the host's procfs:\n{out}"
        );
    }
}

/// CVE-2024-21626 (GHSA-xr7r-f8xq-vfvv), attack 1: process.cwd set to
/// /proc/self/fd/N, where N is a directory of the host that the runtime
/// still has open while it sets the process up (the host's /proc, say),
/// leaves the process with a working directory on the host. For every N,
/// for the init and for `exec --cwd`: setting up must fail, or the process
/// must see neither a host file nor the host's procfs.
#[test]
fn cve_2024_21626_cwd_through_a_leaked_fd_never_reaches_the_host() {
    let host = tempdir();
    let secret = host.path().join("secret");
    let secret_text = format!("host-secret-{}", std::process::id());
    fs::write(&secret, &secret_text).expect("write secret");
    let probe = probe_host(&secret);
    let running = Container::sleeper();
    running.start_ok();
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let mut c = Container::sh(&probe);
        c.set("/process/cwd", cwd.as_str());
        assert_no_host(&c.run(), &secret_text, &format!("init with cwd {cwd}"));
        let out = running.rt(&["exec", "--cwd", &cwd, &running.id, "sh", "-c", &probe]);
        assert_no_host(&out, &secret_text, &format!("exec with cwd {cwd}"));
    }
}

/// CVE-2024-21626, attack 3: the program's path goes through the leaked fd
/// to a binary of the host — up with `..` from the leaked directory, or,
/// from a leaked host procfs, through the root of the host's pid 1 (which
/// CAP_SYS_PTRACE may open). A host binary (busybox copied to a host
/// directory as `echo`, so that it echoes its arguments) must never run,
/// for the init or an exec.
#[test]
fn cve_2024_21626_program_through_a_leaked_fd_never_runs() {
    let host = tempdir();
    let binary = host.path().join("echo");
    fs::copy("/bin/busybox", &binary).expect("copy busybox");
    let marker = format!("ESCAPED-{}", std::process::id());
    let ptrace = json!(["CAP_SYS_PTRACE"]);
    let with_ptrace = |c: &mut Container| {
        for set in ["bounding", "effective", "permitted"] {
            c.set(&format!("/process/capabilities/{set}"), ptrace.clone());
        }
    };
    let mut running = Container::sleeper();
    with_ptrace(&mut running);
    running.start_ok();
    for n in 3..=20 {
        for via in ["../".repeat(12), "1/root/".to_string()] {
            let program = format!("/proc/self/fd/{n}/{via}{}", from_root(&binary));
            let mut c = Container::new(&[program.as_str(), marker.as_str()]);
            with_ptrace(&mut c);
            let out = c.run();
            assert!(
                !out.stdout.contains(&marker),
                "init ran a host binary as {program}:\n{out}"
            );
            let out = running.rt(&["exec", &running.id, &program, &marker]);
            assert!(
                !out.stdout.contains(&marker),
                "exec ran a host binary as {program}:\n{out}"
            );
        }
    }
}

/// A host directory with busybox copied in as `echo`: a host binary that,
/// if a container ever ran it, would print its arguments.
fn host_echo() -> (TempDir, PathBuf) {
    let host = tempdir();
    let binary = host.path().join("echo");
    fs::copy("/bin/busybox", &binary).expect("copy busybox");
    (host, binary)
}

fn with_ptrace(c: &mut Container) {
    for set in ["bounding", "effective", "permitted"] {
        c.set(
            &format!("/process/capabilities/{set}"),
            json!(["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"]),
        );
    }
}

/// Issue 16, F1 (CVE-2024-21626's twin): execve resolves a script's `#!`
/// interpreter before it closes close-on-exec fds, so a runtime that only
/// marks its fds lets `#!/proc/self/fd/N/../../<host path>` run a host
/// binary as the container's process. For every N, through `..` and
/// through pid 1's root (CAP_SYS_PTRACE): the host binary never runs, for
/// run, create + start, exec and exec -d.
#[test]
fn f1_shebang_through_a_leaked_fd_never_runs_a_host_binary() {
    let (_host, binary) = host_echo();
    let marker = format!("ESCAPED-{}", std::process::id());
    let mut running = Container::sleeper();
    with_ptrace(&mut running);
    let scripts: Vec<(String, String)> = (3..=24)
        .flat_map(|n| {
            ["../".repeat(12), "1/root/".to_string()]
                .into_iter()
                .enumerate()
                .map(move |(v, via)| (format!("/esc-{n}-{v}"), format!("/proc/self/fd/{n}/{via}")))
        })
        .map(|(name, prefix)| {
            let line = format!("#!{prefix}{} {marker}\n", from_root(&binary));
            (name, line)
        })
        .collect();
    let plant = |c: &Container| {
        for (name, line) in &scripts {
            let path = c.rootfs().join(name.trim_start_matches('/'));
            fs::write(&path, line).expect("write script");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
        }
    };
    plant(&running);
    running.start_ok();
    for (name, _) in &scripts {
        let mut c = Container::new(&[name.as_str()]);
        with_ptrace(&mut c);
        plant(&c);
        let out = c.run();
        assert!(
            !out.stdout.contains(&marker),
            "run ran a host binary through {name}:\n{out}"
        );

        let mut c = Container::new(&[name.as_str()]);
        with_ptrace(&mut c);
        plant(&c);
        if c.create().code == 0 {
            c.start();
            c.wait_exec();
            let _ = wait_gone(c.pid());
            let out = c.output();
            assert!(
                !out.stdout.contains(&marker),
                "start ran a host binary through {name}:\n{out}"
            );
        }

        let out = running.rt(&["exec", &running.id, name]);
        assert!(
            !out.stdout.contains(&marker),
            "exec ran a host binary through {name}:\n{out}"
        );

        let pid_file = running.scratch().join("exec-d.pid");
        let _ = fs::remove_file(&pid_file);
        let mut cmd = running.command(&["exec", "-d", "--pid-file"]);
        cmd.arg(&pid_file).arg(&running.id).arg(name);
        let call = running.scratch().join("exec-d");
        let out = run_with_deadline(cmd, &call);
        if let Ok(pid) = fs::read_to_string(&pid_file) {
            wait_gone(pid.trim().parse().expect("pid"));
        }
        let printed = fs::read_to_string(call.with_extension("stdout")).unwrap_or_default();
        assert!(
            !printed.contains(&marker),
            "exec -d ran a host binary through {name}:\n{out}"
        );
    }
}

/// Wait (bounded) until `pid` has exited.
fn wait_gone(pid: i32) -> bool {
    for _ in 0..500 {
        if procfs::start_time(pid).is_none() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Issue 16, F1c: a relative program is resolved by execve against
/// process.cwd, so it must be checked there too: `p-N` in the working
/// directory is a symlink through /proc/self/fd/N up to the host's root
/// (while `/p-N/<host path>` is a harmless decoy, where a check relative
/// to the root would look), and the program `p-N/<host path>` must never
/// run a host binary.
#[test]
fn f1c_relative_program_through_a_symlink_in_cwd_never_runs() {
    let (_host, binary) = host_echo();
    let marker = format!("ESCAPED-{}", std::process::id());
    let mut running = Container::sleeper();
    with_ptrace(&mut running);
    // A harmless decoy where a check relative to the root would look.
    let plant = |c: &Container| {
        let w = c.rootfs().join("w");
        fs::create_dir_all(&w).expect("mkdir w");
        for n in 3..=24 {
            let _ = symlink(
                format!("/proc/self/fd/{n}/{}", "../".repeat(12)),
                w.join(format!("p-{n}")),
            );
            let decoy = c.rootfs().join(format!("p-{n}")).join(from_root(&binary));
            fs::create_dir_all(decoy.parent().expect("decoy dir")).expect("mkdir decoy");
            fs::write(&decoy, "#!/bin/sh\necho decoy\n").expect("write decoy");
            fs::set_permissions(&decoy, fs::Permissions::from_mode(0o755)).expect("chmod decoy");
        }
    };
    plant(&running);
    running.start_ok();
    for n in 3..=24 {
        let program = format!("p-{n}/{}", from_root(&binary));
        let mut c = Container::new(&[program.as_str(), marker.as_str()]);
        c.set("/process/cwd", "/w");
        with_ptrace(&mut c);
        plant(&c);
        let out = c.run();
        assert!(
            !out.stdout.contains(&marker),
            "run ran a host binary as {program}:\n{out}"
        );
        let out = running.rt(&["exec", "--cwd", "/w", &running.id, &program, &marker]);
        assert!(
            !out.stdout.contains(&marker),
            "exec ran a host binary as {program}:\n{out}"
        );
    }
}

/// The fds of `pid`, read from the host: (number, target), stdio and the
/// fds in `allowed` left out.
fn unexpected_fds(pid: i32, allowed: &[i32]) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .flatten()
    {
        let n: i32 = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .expect("fd number");
        if n <= 2 || allowed.contains(&n) {
            continue;
        }
        let target = fs::read_link(e.path())
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        out.push((n, target));
    }
    out
}

/// The fd of `pid` open on the exec fifo in `c`'s state directory.
fn fifo_fd(c: &Container, pid: i32) -> Vec<i32> {
    let fifo = c.state_root().join(&c.id).join("exec.fifo");
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .flatten()
        .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t == fifo))
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Issue 16, F1 and F1b, the audit: the init waiting for `start` — which
/// an `rt exec` process, or a container sharing its pid namespace, can
/// reach (/proc/1/fd with CAP_SYS_PTRACE) — holds stdio, the preserved
/// fds and the exec fifo, and nothing else: no host /proc, cgroup
/// directory, rootfs, namespace file, log file or socket. The same for an
/// init that joined another container's pid namespace.
#[test]
fn f1_audit_a_waiting_init_holds_only_stdio_preserved_fds_and_the_fifo() {
    let extra = tempdir();
    let passed = extra.path().join("passed");
    let mut c = Container::sleeper();
    with_ptrace(&mut c);
    let log = c.scratch().join("rt.log");
    let mut cmd = c.command(&["--log".as_ref(), log.as_os_str(), "create".as_ref()]);
    cmd.arg("--bundle")
        .arg(c.bundle())
        .arg("--pid-file")
        .arg(c.pid_file())
        .args(["--preserve-fds", "1", &c.id]);
    // fd 3, a host file the caller passes on purpose: the shell opens it.
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("exec \"$@\" 3>>{}", passed.display()))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    c.launch(sh).ok();
    let pid = c.pid();
    let mut allowed = vec![3];
    allowed.extend(fifo_fd(&c, pid));
    assert_eq!(allowed.len(), 2, "the waiting init has no exec fifo open");
    assert_eq!(
        unexpected_fds(pid, &allowed),
        vec![],
        "the waiting init of {} holds more",
        c.id
    );
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd"),
        Path::new("/"),
        "the waiting init's working directory is not the container's root"
    );
    // From inside, with CAP_SYS_PTRACE: nothing of the host through
    // /proc/1/fd of the waiting init.
    let secret = extra.path().join("secret");
    let secret_text = format!("host-secret-{}", std::process::id());
    fs::write(&secret, &secret_text).expect("write secret");
    let probe = format!(
        "for n in $(seq 3 30); do cat /proc/1/fd/$n/{up}{s} /proc/1/fd/$n/../{s} 2>/dev/null; ls /proc/1/fd/$n/ 2>/dev/null; done; true",
        up = "../".repeat(12),
        s = from_root(&secret)
    );
    let out = c.rt(&["exec", &c.id, "sh", "-c", &probe]).ok();
    assert!(
        !out.stdout.contains(&secret_text),
        "exec read the host through the waiting init:\n{out}"
    );

    // An init in a pid namespace joined by path: born there, it would be
    // reachable from the start; it must hold no more than the first.
    let owner_ns = format!("/proc/{pid}/ns/pid");
    let mut joined = c.sibling(&["sleep", "1000"]);
    with_ptrace(&mut joined);
    joined.add_namespace("pid", Some(&owner_ns));
    joined.create().ok();
    let jpid = joined.pid();
    assert_eq!(
        procfs::ns_link(&jpid.to_string(), "pid"),
        procfs::ns_link(&pid.to_string(), "pid"),
        "the init did not join the pid namespace"
    );
    let allowed = fifo_fd(&joined, jpid);
    assert_eq!(allowed.len(), 1, "the joined init has no exec fifo open");
    assert_eq!(
        unexpected_fds(jpid, &allowed),
        vec![],
        "the joined init holds more"
    );
    joined.start().ok();
    joined.wait_exec();
    assert_eq!(joined.status(), "running");
}

// ---------------------------------------------------------------------------
// /proc and /sys: symlinks, fake files, racing volumes

/// CVE-2019-16884 and CVE-2023-28642 (runc), CVE-2025-54867 (youki): /proc
/// or /sys in the image is a symlink, so procfs or sysfs would be mounted
/// where it points — a directory the image controls, which then receives
/// the LSM labels and sysctls written through "/proc". rt refuses a symlink
/// in a proc or sysfs destination, absolute or relative, and mounts nothing.
#[test]
fn cve_2019_16884_symlinked_proc_and_sys_are_refused() {
    for (dir, target) in [
        ("proc", "/evil"),
        ("proc", "evil"),
        ("sys", "/evil"),
        ("sys", "./evil"),
    ] {
        let c = without_masks(Container::sh("true"));
        fs::create_dir(c.rootfs().join("evil")).expect("mkdir evil");
        replace_by_symlink(&c, dir, Path::new(target));
        let out = c.run();
        assert_ne!(out.code, 0, "/{dir} -> {target} was accepted:\n{out}");
        assert!(
            out.stderr.contains(&format!("/{dir}")),
            "the error does not name /{dir}:\n{out}"
        );
        assert_eq!(
            tree(&c.rootfs().join("evil")),
            Vec::<String>::new(),
            "something was mounted or made in /evil"
        );
    }
}

/// CVE-2019-19921 and its regression CVE-2023-27561: /proc in the image is
/// a symlink into a volume another container keeps swapping between a
/// directory and a symlink, to race procfs (and the remounts after it) onto
/// a path of its choice. rt refuses a symlink in a procfs destination, so
/// every attempt fails, however the race goes, and nothing is mounted in
/// the volume.
#[test]
fn cve_2019_19921_proc_through_a_racing_volume_is_refused() {
    let volume = tempdir();
    let elsewhere = marked_dir();
    let pair = dir_or_symlink(volume.path(), "level1", elsewhere.path());
    let _race = Swapper::start(vec![pair]);
    for _ in 0..8 {
        let mut c = without_masks(Container::sh("true"));
        mount_first(&mut c, bind(volume.path(), "/vol", &[]));
        replace_by_symlink(&c, "proc", Path::new("/vol/level1"));
        let out = c.run();
        assert_ne!(out.code, 0, "/proc -> /vol/level1 was accepted:\n{out}");
    }
    drop(_race);
    assert_untouched(elsewhere.path());
    assert!(crate::common::residue::mounts_mentioning(volume.path()).is_empty());
}

/// A directory of fake /proc files, all reading "fake", for the tests of
/// writes that must reach the kernel instead.
fn fake_proc() -> TempDir {
    let d = tempdir();
    for f in [
        "sys/net/ipv4/ip_forward",
        "thread-self/oom_score_adj",
        "self/oom_score_adj",
        "thread-self/attr/exec",
        "self/attr/exec",
    ] {
        let p = d.path().join(f);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir fake proc");
        fs::write(&p, "fake\n").expect("write fake proc file");
    }
    d
}

/// CVE-2019-16884 (a volume over /proc makes the LSM label write miss) and
/// CVE-2025-52881 (writes to /proc redirected, through racing shared
/// mounts, to files the container chose; youki's CVE-2025-62596,
/// GHSA-vf95-55w6-qmrf, "arbitrary write gadgets and procfs write
/// redirects", is the same attack): rt writes sysctls, oom_score_adj
/// and LSM labels through the host procfs it opened before any container
/// mount, for the init and for `exec`. With a fake /proc mounted over the
/// real one, the kernel still gets every value and no fake file changes.
/// (AppArmor and SELinux are off here; their attr files take the same path
/// as oom_score_adj.)
#[test]
fn cve_2025_52881_writes_to_proc_bypass_a_fake_proc() {
    let fake = fake_proc();
    // No masked or read-only paths: the fake has none of them, and pathrs
    // 0.2.6 panics describing a failed lookup when /proc is no procfs.
    let mut c = without_masks(Container::sleeper());
    c.push("/mounts", bind(fake.path(), "/proc", &["rbind"]))
        .set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}))
        .set("/process/oomScoreAdj", 123);
    let pid = c.start_ok();
    assert_eq!(c.proc_file("oom_score_adj").trim(), "123");
    let netns = format!("--net=/proc/{pid}/ns/net");
    assert_eq!(
        crate::common::host("nsenter", &[&netns, "cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );

    let process = json!({"args": ["sleep", "1000"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "oomScoreAdj": 321});
    let file = c.scratch().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let pid_file = c.scratch().join("exec.pid");
    c.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        "--process",
        file.to_str().expect("utf-8"),
        &c.id,
    ])
    .ok();
    let exec_pid = fs::read_to_string(&pid_file).expect("exec pid file");
    assert_eq!(
        procfs::read(&format!("/proc/{}/oom_score_adj", exec_pid.trim())).trim(),
        "321"
    );

    for f in tree(fake.path())
        .iter()
        .filter(|f| fake.path().join(f).is_file())
    {
        assert_eq!(
            fs::read_to_string(fake.path().join(f)).expect("fake file"),
            "fake\n",
            "rt wrote the fake /proc/{f}"
        );
    }
}

/// CVE-2023-25809 (GHSA-m8cg-xc2p-r3fc): an unprivileged user runs the
/// config `spec --rootless` writes, from a cgroup it owns (systemd
/// delegates one to each user). That config binds /sys with `rbind, ro`,
/// whose "ro" covers only /sys itself, so the hierarchies below it — the
/// user's own cgroup among them — were writable in the container. What
/// runc guarantees since 1.1.5 (its mounts.bats checks it as here, the top
/// mount of each mount point the container reaches): every cgroup
/// hierarchy the container sees is read-only — cgroup v1 shows the
/// caller's own cgroups bound read-only, cgroup v2 masks /sys/fs/cgroup
/// with a read-only tmpfs — and the delegated cgroup takes no write.
#[test]
fn cve_2023_25809_rootless_spec_leaves_no_writable_cgroup() {
    let user = User::new();
    let delegated = Delegated::new(&user);
    let script =
        "for m in $(awk '$2 ~ \"^/sys/fs/cgroup\" {print $2}' /proc/self/mounts | sort -u); do \
           test -e $m && grep \" $m \" /proc/self/mounts | tail -n1; done; \
         for m in $(awk '$3 ~ \"^cgroup\" {print $2}' /proc/self/mounts); do \
           test -e $m && mkdir $m/escape 2>/dev/null && echo wrote $m; done; true";
    let procs = delegated.host.join("cgroup.procs");
    let (_c, _xdg, out) = rootless_wrapped(
        &user,
        &[],
        script,
        false,
        |_| {},
        |cmd| {
            // Started in the delegated cgroup, as the user's session is.
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("echo $$ > {} && exec \"$@\"", procs.display()))
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .env_clear()
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
            sh
        },
    );
    let out = out.ok();
    let tops: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("wrote"))
        .collect();
    let cgroups: Vec<&&str> = tops
        .iter()
        .filter(|l| l.split(' ').nth(2).is_some_and(|t| t.starts_with("cgroup")))
        .collect();
    let mask = tops
        .iter()
        .find(|l| l.split(' ').nth(1) == Some("/sys/fs/cgroup"))
        .unwrap_or_else(|| panic!("nothing mounted at /sys/fs/cgroup:\n{out}"));
    assert!(
        !cgroups.is_empty()
            || mask
                .split(' ')
                .nth(3)
                .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "neither a cgroup hierarchy nor a read-only mask at /sys/fs/cgroup:\n{out}"
    );
    for m in &cgroups {
        let opts = m.split(' ').nth(3).unwrap_or("");
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "writable in the container: {m}\n{out}"
        );
    }
    assert!(!out.stdout.contains("wrote"), "{out}");
    assert!(
        !delegated.host.join("escape").exists(),
        "the container wrote the user's cgroup on the host"
    );
}

/// A cgroup of the host owned by `user`, as systemd delegates one to each
/// user: in the v1 pids hierarchy, or in cgroup2 on a unified host;
/// removed on drop, once its processes are gone.
struct Delegated {
    host: PathBuf,
}

impl Delegated {
    fn new(user: &User) -> Delegated {
        let mounts = procfs::mountinfo(&procfs::read("/proc/self/mountinfo"));
        let hierarchy = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == "pids"))
            .or_else(|| {
                mounts
                    .iter()
                    .find(|m| m.mount_point == "/sys/fs/cgroup" && m.fstype == "cgroup2")
            })
            .expect("a pids or unified cgroup hierarchy")
            .mount_point
            .clone();
        let host =
            Path::new(&hierarchy).join(format!("rt-test/{}-delegated", crate::common::unique_id()));
        // /rt-test is shared: another test's cleanup may remove it between
        // the two mkdirs.
        crate::common::wait_for("the delegated cgroup", || {
            let _ = fs::create_dir_all(host.parent().expect("parent"));
            fs::create_dir(&host).ok()
        });
        for p in [host.clone(), host.join("cgroup.procs")] {
            std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).expect("delegate");
        }
        Delegated { host }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let _ = fs::remove_dir(self.host.join("escape"));
        crate::common::wait_for("the delegated cgroup to empty", || {
            fs::remove_dir(&self.host)
                .ok()
                .or_else(|| (!self.host.exists()).then_some(()))
        });
    }
}

// ---------------------------------------------------------------------------
// Mount destinations raced through shared volumes

/// CVE-2021-30465 (GHSA-c3xm-pvg7-gh7r): bind mount destinations in a
/// volume that another container swaps between a directory and a symlink
/// to a host path, so that a runtime which checks a path and then mounts
/// by name mounts outside the rootfs. rt mounts onto the fd it resolved:
/// every bind shows up inside the container (where the symlink leads,
/// inside the rootfs, when it saw the symlink) and the host path is
/// untouched.
#[test]
fn cve_2021_30465_raced_bind_destinations_stay_in_the_rootfs() {
    const BINDS: usize = 8;
    let volume = tempdir();
    let host = marked_dir();
    let source = marked_dir();
    let pairs = (0..BINDS)
        .map(|k| dir_or_symlink(volume.path(), &format!("m{k}"), host.path()))
        .collect();
    let race = Swapper::start(pairs);
    let source_name = source
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut created = 0;
    for _ in 0..10 {
        let mut c = Container::sleeper();
        c.push("/mounts", bind(volume.path(), "/vol", &[]));
        for k in 0..BINDS {
            c.push("/mounts", bind(source.path(), &format!("/vol/m{k}"), &[]));
        }
        // pathrs may see a directory turn into a symlink and fail the
        // create: that is fine, mounting outside the rootfs is not.
        if c.create().code != 0 {
            continue;
        }
        created += 1;
        let binds = mounts_of(&c)
            .into_iter()
            .filter(|m| m.root.ends_with(&source_name))
            .count();
        assert_eq!(
            binds, BINDS,
            "a bind mount landed outside the container's root"
        );
    }
    drop(race);
    assert!(
        created > 0,
        "the race failed every create: nothing was checked"
    );
    assert_untouched(host.path());
}

/// The bind mounts of c whose source is `source`, as mountinfo lines.
fn binds_of(c: &Container, source: &Path) -> Vec<MountLine> {
    let name = source
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    mounts_of(c)
        .into_iter()
        .filter(|m| m.root.ends_with(&name))
        .collect()
}

/// CVE-2021-30465's other half (issue 16, F4): a read-only bind must not
/// lose `ro` to the same race. Two bind mounts go into a volume that
/// another container keeps swapping (two directories, RENAME_EXCHANGE): a
/// runtime that binds onto the destination it resolved but then remounts
/// `ro` by the destination's name again remounts whatever is there by then
/// — the other bind — and leaves the source that was asked to be read-only
/// writable in the container (13 of 60 creates, in the report). rt sets
/// every attribute on the new mount itself, before it is attached or (on
/// kernels without mount_setattr, emulated here with seccomp) through its
/// own fd: each create either fails or gives the read-only source a
/// read-only mount and the other a writable one.
#[test]
fn cve_2021_30465_read_only_binds_keep_ro_under_a_racing_swap() {
    let volume = tempdir();
    let (a, b) = (volume.path().join("a"), volume.path().join("b"));
    fs::create_dir(&a).expect("mkdir a");
    fs::create_dir(&b).expect("mkdir b");
    let (writable, read_only) = (marked_dir(), marked_dir());
    let race = Swapper::start(vec![(a, b)]);
    for (old_kernel, runs) in [(false, 60), (true, 20)] {
        let mut created = 0;
        for _ in 0..2 * runs {
            if created == runs {
                break;
            }
            let mut c = Container::sleeper();
            c.push("/mounts", bind(volume.path(), "/vol", &[]))
                .push("/mounts", bind(writable.path(), "/vol/a", &[]))
                .push("/mounts", bind(read_only.path(), "/vol/b", &["ro"]));
            let mut cmd = c.launch_command("create", &[]);
            if old_kernel {
                crate::common::older_kernel::without_mount_setattr(&mut cmd);
            }
            // Losing the race may fail the create; a writable mount may not.
            if c.launch(cmd).code != 0 {
                continue;
            }
            created += 1;
            let ro = binds_of(&c, read_only.path());
            assert!(!ro.is_empty(), "the read-only source is not mounted");
            for m in &ro {
                assert!(
                    m.has_option("ro"),
                    "run {created} (old kernel {old_kernel}): the read-only source is writable at {}",
                    m.mount_point
                );
            }
            for m in binds_of(&c, writable.path()) {
                assert!(
                    !m.has_option("ro"),
                    "run {created} (old kernel {old_kernel}): another mount took the ro at {}",
                    m.mount_point
                );
            }
        }
        assert!(
            created >= runs / 2,
            "only {created} creates survived the race: too little was checked"
        );
    }
    drop(race);
    assert_untouched(read_only.path());
}

/// crun CVE-2026-133553: "tmpcopyup follows a second path lookup and copies
/// image files onto the host". Tmpfs mounts with tmpcopyup go into a
/// volume whose directories another container swaps with symlinks to host
/// directories the container has as writable volumes: a runtime that
/// mounts a tmpfs and then looks its destination up again to fill it
/// chmods that host directory and copies the volume's files into it. rt
/// fills each tmpfs through its own fd before attaching it: the host
/// directories keep their files and modes, whatever the race does. (Each
/// tmpfs is one try at the race, which a second lookup loses a few times
/// in a hundred.)
#[test]
fn cve_2026_133553_tmpcopyup_never_fills_a_second_lookup() {
    use std::os::unix::fs::PermissionsExt;
    const TMPFS: usize = 16;
    let volume = tempdir();
    let hosts: Vec<TempDir> = (0..TMPFS).map(|_| marked_dir()).collect();
    let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    let host_mode = mode(hosts[0].path());
    let pairs = (0..TMPFS)
        .map(|k| {
            let (dir, link) = dir_or_symlink(
                volume.path(),
                &format!("t{k}"),
                Path::new(&format!("/host{k}")),
            );
            fs::write(dir.join("payload"), "from the volume").expect("write payload");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
            (dir, link)
        })
        .collect();
    let race = Swapper::start(pairs);
    let mut created = 0;
    for _ in 0..20 {
        let mut c = Container::sleeper();
        c.push("/mounts", bind(volume.path(), "/vol", &[]));
        for (k, host) in hosts.iter().enumerate() {
            c.push("/mounts", bind(host.path(), &format!("/host{k}"), &[]))
                .push("/mounts", json!({"destination": format!("/vol/t{k}"), "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}));
        }
        if c.create().code == 0 {
            created += 1;
        }
        for host in &hosts {
            assert_eq!(tree(host.path()), ["marker"], "tmpcopyup wrote to the host");
            assert_eq!(
                mode(host.path()),
                host_mode,
                "a host directory was chmodded"
            );
        }
    }
    drop(race);
    assert!(
        created > 0,
        "the race failed every create: nothing was checked"
    );
    for host in &hosts {
        assert_untouched(host.path());
    }
}

/// CVE-2024-45310 (GHSA-jfvp-7x6p-h2pv): the missing directories of mount
/// destinations are made below a path that another container swaps for a
/// symlink to a host directory, so that a runtime's `mkdir -p` creates
/// empty directories on the host. rt makes them with pathrs, inside the
/// rootfs: the host directory stays as it was.
#[test]
fn cve_2024_45310_racing_mkdir_creates_nothing_on_the_host() {
    let volume = tempdir();
    let host = marked_dir();
    let source = marked_dir();
    let race = Swapper::start(vec![dir_or_symlink(volume.path(), "a", host.path())]);
    for _ in 0..6 {
        let mut c = Container::sleeper();
        c.push("/mounts", bind(volume.path(), "/vol", &[]));
        for k in 0..6 {
            c.push(
                "/mounts",
                bind(source.path(), &format!("/vol/a/b/d{k}"), &[]),
            );
        }
        // The race may fail the create (a directory turns into a symlink
        // under pathrs's feet); it must never write to the host.
        let _ = c.create();
    }
    drop(race);
    assert_untouched(host.path());
}

// ---------------------------------------------------------------------------
// /dev: /dev/null for maskedPaths, /dev/console, /dev itself

/// A host directory to bind at /dev (a /dev the container shares), with a
/// real null device at `null.dev` and a symlink to the host's
/// core_pattern at `null`, for a [`Swapper`] to exchange.
fn shared_dev() -> (TempDir, (PathBuf, PathBuf)) {
    let dev = tempdir();
    let node = dev.path().join("null.dev");
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        mode,
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod null");
    let link = dev.path().join("null");
    symlink("/proc/sys/kernel/core_pattern", &link).expect("symlink null");
    (dev, (link, node))
}

/// The masked files of c's config that have a mount in the container: each
/// must be the null device, never a procfs or sysfs file.
fn assert_masks_are_null(c: &Container) {
    let mounts = mounts_of(c);
    let masked = c.config["linux"]["maskedPaths"]
        .as_array()
        .expect("maskedPaths");
    for m in mounts.iter().filter(|m| {
        masked
            .iter()
            .any(|p| p.as_str() == Some(m.mount_point.as_str()))
    }) {
        assert!(
            m.fstype != "proc" && m.fstype != "sysfs",
            "{} is masked with {} {}",
            m.mount_point,
            m.fstype,
            m.root
        );
    }
}

/// CVE-2025-31133 (GHSA-9493-h29p-rfm2), and youki's CVE-2025-62161
/// (GHSA-4g74-7cff-xcv8, "container escape via masked path abuse due to
/// mount race conditions", the same attack): maskedPaths bind the container's
/// /dev/null over files. A /dev/null that is a symlink to a procfs file
/// (here, in a /dev that another container shares and keeps swapping
/// between a real null device and the symlink) has a runtime bind that
/// file, read-write, at a masked path: kernel.core_pattern writable as
/// /proc/timer_list, a host escape. rt binds only a 1:3 character device it
/// opened without following links: each container either fails or masks
/// with the null device, and core_pattern is unchanged.
#[test]
fn cve_2025_31133_masks_never_bind_a_redirected_dev_null() {
    let pattern = core_pattern();
    let (dev, pair) = shared_dev();
    let race = Swapper::start(vec![pair]);
    for _ in 0..10 {
        let mut c = Container::sleeper();
        drop_mounts(&mut c, "/dev");
        c.push("/mounts", bind(dev.path(), "/dev", &[]));
        if c.create().code == 0 {
            assert_masks_are_null(&c);
        }
    }
    drop(race);
    assert_eq!(core_pattern(), pattern);
}

/// CVE-2025-52565 (GHSA-qw9x-cqr3-wc7r): /dev/console is bound before
/// maskedPaths and readonlyPaths, and a runtime that reaches the pty or the
/// console by a path the container controls can be made to bind a procfs
/// file such as core_pattern, writable, at /dev/console (or the pty over
/// it). rt takes the pty from its master (TIOCGPTPEER, no path) and binds
/// onto /dev/console only if it reached a file there without following
/// links. With /dev/console in a shared /dev that another container swaps
/// between a file and a symlink to core_pattern, each container fails or
/// gets the pty on that file (at /dev/console, or wherever the swap has
/// moved it), and nothing covers core_pattern.
#[test]
fn cve_2025_52565_console_never_binds_onto_a_symlink_target() {
    let pattern = core_pattern();
    let dev = tempdir();
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(
        &dev.path().join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        mode,
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod null");
    symlink("pts/ptmx", dev.path().join("ptmx")).expect("symlink ptmx");
    let (console, link) = (dev.path().join("console"), dev.path().join("console.alt"));
    fs::write(&console, "").expect("create console");
    symlink("/proc/sys/kernel/core_pattern", &link).expect("symlink console");
    let race = Swapper::start(vec![(console, link)]);
    let mut created = 0;
    for _ in 0..40 {
        if created >= 3 {
            break;
        }
        let mut c = Container::sleeper();
        drop_mounts(&mut c, "/dev");
        c.push("/mounts", bind(dev.path(), "/dev", &[]))
            .push("/mounts", json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}))
            .set("/process/terminal", true);
        let socket = c.scratch().join("console.sock");
        // Never accepted: create's one message waits in the queue.
        let _listener = UnixListener::bind(&socket).expect("bind console socket");
        if c.create_with(&["--console-socket", socket.to_str().expect("utf-8")])
            .code
            != 0
        {
            continue;
        }
        created += 1;
        let mounts = mounts_of(&c);
        assert!(
            mounts
                .iter()
                .all(|m| m.mount_point != "/proc/sys/kernel/core_pattern"),
            "a mount covers core_pattern"
        );
        // The file rt bound the pty onto may have been renamed since.
        let pty = mounts
            .iter()
            .find(|m| m.fstype == "devpts" && m.mount_point.starts_with("/dev/console"));
        assert!(
            pty.is_some(),
            "the pty is not bound at /dev/console: {mounts:#?}"
        );
    }
    drop(race);
    assert_eq!(core_pattern(), pattern);
    if created == 0 {
        // Under load every create may lose the race (rt refuses a console
        // that is not a file): check the same setup once without it.
        let (console, link) = (dev.path().join("console"), dev.path().join("console.alt"));
        if fs::symlink_metadata(&console).is_ok_and(|m| m.file_type().is_symlink()) {
            renameat2(None, &console, None, &link, RenameFlags::RENAME_EXCHANGE)
                .expect("swap back");
        }
        let mut c = Container::sleeper();
        drop_mounts(&mut c, "/dev");
        c.push("/mounts", bind(dev.path(), "/dev", &[]))
            .push("/mounts", json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}))
            .set("/process/terminal", true);
        let socket = c.scratch().join("console.sock");
        let _listener = UnixListener::bind(&socket).expect("bind console socket");
        c.create_with(&["--console-socket", socket.to_str().expect("utf-8")])
            .ok();
        let mounts = mounts_of(&c);
        assert!(
            mounts
                .iter()
                .any(|m| m.fstype == "devpts" && m.mount_point == "/dev/console"),
            "the pty is not bound at /dev/console: {mounts:#?}"
        );
        assert_eq!(core_pattern(), pattern);
    }
}

/// CVE-2026-41579 (GHSA-xjvp-4fhw-gc47, runc) and the same flaw in crun's
/// /dev setup (/dev/console created, /dev/null reopened, through a
/// symlink): /dev in the image is a symlink to a host directory, so a
/// runtime deletes the host's `ptmx` there and creates the /dev symlinks,
/// device nodes and the console in it. rt resolves every /dev path inside
/// the rootfs: with and without a /dev tmpfs, with a terminal, the host
/// directory is untouched.
#[test]
fn cve_2026_41579_dev_symlink_in_the_image_stays_in_the_rootfs() {
    for (with_tmpfs, terminal) in [(true, false), (false, false), (true, true), (false, true)] {
        let host = marked_dir();
        fs::write(host.path().join("ptmx"), "host ptmx").expect("write ptmx");
        let mut c = Container::sh("true");
        replace_by_symlink(&c, "dev", host.path());
        if !with_tmpfs {
            drop_mounts(&mut c, "/dev");
        }
        c.set("/process/terminal", terminal);
        let socket = c.scratch().join("console.sock");
        let _listener = UnixListener::bind(&socket).expect("bind console socket");
        let _ = c.create_with(&["--console-socket", socket.to_str().expect("utf-8")]);
        assert_eq!(
            tree(host.path()),
            ["marker", "ptmx"],
            "/dev setup wrote to the host (tmpfs {with_tmpfs}, terminal {terminal})"
        );
        assert_eq!(
            fs::read_to_string(host.path().join("ptmx")).expect("ptmx"),
            "host ptmx"
        );
        assert!(crate::common::residue::mounts_mentioning(host.path()).is_empty());
    }
}

/// crun CVE-2026-88264: with no mount over /dev, the image's /dev/console
/// is a symlink (absolute, or climbing with `..`) to a host path, and a
/// runtime that sets up the terminal before pivot_root creates a root-owned
/// file there — also through its bind fallback for a read-only rootfs. rt
/// binds the console after pivot_root, onto what it finds at /dev/console
/// without following it: the host path is never created, with a read-only
/// root or not.
#[test]
fn cve_2026_88264_dev_console_symlink_creates_nothing_on_the_host() {
    let host = marked_dir();
    let victim = host.path().join("console");
    let climb = format!("../../../../../../../../../..{}", victim.display());
    for (target, readonly) in [
        (victim.display().to_string(), true),
        (victim.display().to_string(), false),
        (climb.clone(), true),
    ] {
        let mut c = Container::sleeper();
        drop_mounts(&mut c, "/dev");
        c.push("/mounts", json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}))
            .set("/process/terminal", true)
            .set("/root/readonly", readonly);
        symlink(&target, c.rootfs().join("dev/console")).expect("symlink console");
        let socket = c.scratch().join("console.sock");
        let _listener = UnixListener::bind(&socket).expect("bind console socket");
        let _ = c.create_with(&["--console-socket", socket.to_str().expect("utf-8")]);
        assert_untouched(host.path());
    }
}

/// crun CVE-2026-88265: the image's /dev/null is a symlink to a host file
/// the container has as a writable bind mount, and a runtime that reopens
/// stdio on "/dev/null" (when the caller passed its own /dev/null) follows
/// it: the container's stdin becomes that host file, which the runtime
/// then chowns to the container's user. rt reopens only a 1:3 device it
/// reached without following links: with no /dev mount the image's link
/// is replaced by a real node (default devices), with /dev shared from the
/// host the create fails; the host file keeps its owner and content.
#[test]
fn cve_2026_88265_dev_null_symlink_never_becomes_stdio() {
    use std::os::unix::fs::MetadataExt;
    let data = marked_dir();
    let file = data.path().join("marker");
    let owner = |f: &Path| {
        let m = fs::metadata(f).expect("stat");
        (m.uid(), m.gid())
    };
    let before = owner(&file);
    // The image's own /dev.
    let mut c = Container::sh("readlink /proc/self/fd/0; stat -c '%t:%T' /dev/null");
    drop_mounts(&mut c, "/dev");
    c.push("/mounts", bind(data.path(), "/data", &[]))
        .set("/process/user", json!({"uid": 1000, "gid": 1000}));
    symlink("/data/marker", c.rootfs().join("dev/null")).expect("symlink null");
    let out = c.run().ok();
    assert_eq!(out.lines(), ["/dev/null", "1:3"], "{out}");
    // A /dev bound from the host, where nothing is recreated.
    let dev = tempdir();
    symlink("/data/marker", dev.path().join("null")).expect("symlink null");
    let mut c = Container::sh("readlink /proc/self/fd/0");
    drop_mounts(&mut c, "/dev");
    c.push("/mounts", bind(dev.path(), "/dev", &[]))
        .push("/mounts", bind(data.path(), "/data", &[]))
        .set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = c.run();
    assert!(
        out.code != 0 || !out.stdout.contains("/data/marker"),
        "stdin is the host file:\n{out}"
    );
    assert_eq!(owner(&file), before, "the host file was chowned");
    assert_untouched(data.path());
}

/// crun CVE-2026-47766: devices of `linux.devices` are made under the
/// image's /dev, which is a symlink to a host directory (or has one as a
/// subdirectory a device goes into): a runtime that opens /dev without
/// confining the lookup to the rootfs creates the nodes on the host. rt
/// resolves every device's parent inside the rootfs: the host directories
/// stay as they were.
#[test]
fn cve_2026_47766_devices_under_a_symlinked_dev_stay_in_the_rootfs() {
    let devices = json!([
        {"path": "/dev/rt-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
        {"path": "/dev/sub/rt-fifo", "type": "p", "fileMode": 420}
    ]);
    for symlinked in ["dev", "dev/sub"] {
        let host = marked_dir();
        let mut c = Container::sh("true");
        drop_mounts(&mut c, "/dev");
        c.set("/linux/devices", devices.clone());
        let link = c.rootfs().join(symlinked);
        let _ = fs::remove_dir(&link);
        symlink(host.path(), &link).expect("symlink");
        let _ = c.run();
        assert_untouched(host.path());
    }
}

/// crun CVE-2026-115521: read-only remounts resolved their target through
/// /proc/self/fd of the container's /proc after pivot_root, which an image
/// (or a volume over /proc) controls: pointed at another mount, they left
/// the rootfs — and, on kernels without mount_setattr, any read-only mount
/// — writable. rt names mounts through the host procfs it opened before
/// any container mount (and the root as `/`). With a fake /proc whose
/// fd links all lead to a decoy mount, the root, a read-only bind and a
/// readonlyPaths entry end up read-only and the decoy writable, with and
/// without mount_setattr.
#[test]
fn cve_2026_115521_read_only_remounts_never_go_through_the_container_proc() {
    let fake = tempdir();
    for dir in ["self/fd", "thread-self/fd"] {
        let d = fake.path().join(dir);
        fs::create_dir_all(&d).expect("mkdir fake fd");
        for n in 0..64 {
            symlink("/decoy", d.join(n.to_string())).expect("fake fd link");
        }
    }
    let source = marked_dir();
    for old_kernel in [false, true] {
        let mut c = without_masks(Container::sleeper());
        fs::create_dir(c.rootfs().join("ro-path")).expect("mkdir ro-path");
        c.push("/mounts", json!({"destination": "/decoy", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}))
            .push("/mounts", bind(fake.path(), "/proc", &["rbind"]))
            .push("/mounts", bind(source.path(), "/ro-bind", &["ro"]))
            .set("/linux/readonlyPaths", json!(["/ro-path"]))
            .set("/root/readonly", true);
        let mut cmd = c.launch_command("create", &[]);
        if old_kernel {
            crate::common::older_kernel::without_mount_setattr(&mut cmd);
        }
        c.launch(cmd).ok();
        let mounts = mounts_of(&c);
        for at in ["/", "/ro-bind", "/ro-path"] {
            assert!(
                procfs::mount_at(&mounts, at).has_option("ro"),
                "{at} is writable (old kernel {old_kernel})"
            );
        }
        assert!(
            !procfs::mount_at(&mounts, "/decoy").has_option("ro"),
            "the decoy was remounted (old kernel {old_kernel})"
        );
    }
    assert_untouched(source.path());
}

/// crun CVE-2026-135844, as issue 16 names it: "unbounded /etc/passwd read:
/// bound every file rt reads from the image". No advisory text for this id
/// was found in any source searched (CVE records, crun's releases and
/// history, issue trackers); this is a test of the class the issue
/// describes: a file of the image, read by the runtime, as large as the
/// image likes at no cost to it (a sparse file).
///
/// rt reads no user or group database of the image: `process.user` is
/// numeric and HOME is not looked up, so a 64 GiB /etc/passwd and
/// /etc/group cost nothing. The one place rt reads image files is
/// tmpcopyup, which copies what the image has where a tmpfs goes: it keeps
/// holes, so a 64 GiB sparse file costs the container's memory only its
/// data (before, it was written out as zeros until the tmpfs or the memory
/// cgroup ran out, failing the create).
#[test]
fn image_files_are_never_read_unbounded() {
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    const HUGE: u64 = 64 << 30;
    let sparse = |p: &Path, tail: &[u8]| {
        let _ = fs::remove_file(p);
        let mut f = fs::File::create(p).expect("create sparse file");
        f.set_len(HUGE).expect("set_len");
        f.seek(SeekFrom::Start(HUGE - tail.len() as u64))
            .expect("seek");
        f.write_all(tail).expect("write tail");
    };
    let mut c = Container::sleeper();
    sparse(
        &c.rootfs().join("etc/passwd"),
        b"\nu:x:1000:1000::/home/u:/bin/sh\n",
    );
    sparse(&c.rootfs().join("etc/group"), b"\ng:x:1234:\n");
    let huge = c.rootfs().join("tmp/huge");
    sparse(&huge, b"end");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .expect("open huge");
    f.seek(SeekFrom::Start(1 << 30)).expect("seek");
    f.write_all(b"middle").expect("write middle");
    drop(f);
    c.push("/mounts", json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "nosuid"]}))
        .set("/process/user", json!({"uid": 1000, "gid": 1000, "additionalGids": [1234]}))
        .set("/linux/resources/memory", json!({"limit": 256 << 20}));
    let started = std::time::Instant::now();
    let pid = c.start_ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the container took {:?} to start",
        started.elapsed()
    );
    let status = c.proc_file("status");
    assert_eq!(
        procfs::status_field(&status, "Uid")
            .split_whitespace()
            .next(),
        Some("1000")
    );
    assert_eq!(procfs::status_field(&status, "Groups"), "1234");
    // The copy, read from the host through the container's root.
    let copy = PathBuf::from(format!("/proc/{pid}/root/tmp/huge"));
    let meta = fs::metadata(&copy).expect("stat the copy");
    assert_eq!(meta.len(), HUGE);
    assert!(
        meta.blocks() < 1024,
        "the copy is not sparse: {} blocks",
        meta.blocks()
    );
    let mut f = fs::File::open(&copy).expect("open the copy");
    let mut at = |offset: u64, len: usize| {
        let mut buf = vec![0; len];
        f.seek(SeekFrom::Start(offset)).expect("seek the copy");
        f.read_exact(&mut buf).expect("read the copy");
        buf
    };
    assert_eq!(at(1 << 30, 6), b"middle");
    assert_eq!(at(HUGE - 3, 3), b"end");
    assert_eq!(at(4096, 4), [0; 4]);
}

// ---------------------------------------------------------------------------
// Capabilities and devices

/// A capability set of /proc/<pid>/status text, as a number.
fn cap_set(status: &str, field: &str) -> u64 {
    u64::from_str_radix(&procfs::status_field(status, field), 16).expect("capability mask")
}

/// CVE-2022-29162 (runc), CVE-2022-27650 (crun), CVE-2025-27612 (youki):
/// the default config, or `exec` (with --cap or not), gave processes
/// inheritable capabilities, which a program with file capabilities run by
/// a non-root user turns into permitted ones. `rt spec` lists none, and no
/// process rt starts — init, exec, exec --cap, exec as another user — has
/// an inheritable or ambient capability it was not given.
#[test]
fn cve_2022_29162_no_inheritable_capabilities_by_default() {
    let c = Container::sleeper();
    let caps = &c.config["process"]["capabilities"];
    assert!(
        caps.get("inheritable")
            .and_then(Value::as_array)
            .is_none_or(|s| s.is_empty()),
        "rt spec has inheritable capabilities: {caps}"
    );
    c.start_ok();
    let init = c.proc_file("status");
    assert_eq!(
        (cap_set(&init, "CapInh"), cap_set(&init, "CapAmb")),
        (0, 0),
        "init"
    );
    let status = "cat /proc/self/status";
    for extra in [
        &[][..],
        &["--cap", "CAP_SYS_ADMIN"][..],
        &["--cap", "CAP_NET_RAW", "--user", "1000:1000"][..],
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&c.id, "sh", "-c", status]);
        let out = c.rt(&args).ok();
        assert_eq!(
            (
                cap_set(&out.stdout, "CapInh"),
                cap_set(&out.stdout, "CapAmb")
            ),
            (0, 0),
            "exec {extra:?}"
        );
    }
}

/// GHSA-g54h-m393-cpwq (runc before 1.0.0-rc93): linux.resources.devices
/// was a deny-list unless it began with a deny-all rule. It is an
/// allow-list: with no rule for it, a device node the container has (here
/// /dev/fuse, made through linux.devices) cannot be opened; with a rule
/// allowing it, it can (so the test can tell).
#[test]
fn devices_cgroup_is_an_allow_list() {
    let opened = |rules: Value| {
        let mut c = Container::sh("true < /dev/rt-fuse && echo OPENED; exit 0");
        c.set("/linux/devices", json!([{"path": "/dev/rt-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]))
            .set("/linux/resources/devices", rules);
        c.run().ok().stdout.contains("OPENED")
    };
    assert!(!opened(json!([])), "a device no rule allows was opened");
    assert!(
        !opened(json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])),
        "a device no rule allows was opened"
    );
    assert!(
        opened(json!([{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}])),
        "the allowed device could not be opened"
    );
}

// ---------------------------------------------------------------------------
// Checkpoint and restore (criu runs only in the VM suite, `just test-criu`)

/// runc CVE-2026-119101 and crun CVE-2026-115520 (the CRIU external-mount
/// class): criu keeps each external mount as `mnt[KEY]:VALUE` and finds it
/// again by the text up to `]:`, so a mount key holding `]:` — a
/// destination an image chose, through its symlinks in runc's case, or a
/// volume it declares — answers for another key, and restore binds a host
/// path the config never named. rt keys mounts by their config
/// destination (never a path resolved in the image) and refuses one that
/// criu cannot read back: `checkpoint` before it writes anything, and
/// `restore` of images that name one (a crafted rt-checkpoint.json), before
/// it binds or creates anything. runc's variant, a symlink in the image
/// leading the destination to a path with `]:`, needs criu: the VM suite
/// replays it (`criu_mount_keys` in scripts/vm/criu-tests.sh).
#[test]
fn cve_2026_119101_criu_mount_keys_are_never_ambiguous() {
    let source = marked_dir();
    let mut c = Container::sleeper();
    c.push("/mounts", bind(source.path(), "/x]:/etc", &[]));
    c.start_ok();
    let images = c.scratch().join("images");
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        images.to_str().expect("utf-8"),
        &c.id,
    ]);
    let msg = out.fails_with("]:");
    assert!(msg.contains("/x]:/etc"), "{msg}");
    assert!(!images.exists(), "checkpoint wrote images");
    assert_eq!(c.status(), "running");

    // Restore: images whose rt-checkpoint.json names that key, with the
    // config that has the mount.
    let state: Value = serde_json::from_str(
        &fs::read_to_string(c.state_root().join(&c.id).join("state.json")).expect("state.json"),
    )
    .expect("state JSON");
    c.rt(&["delete", "--force", &c.id]).ok();
    fs::create_dir(&images).expect("mkdir images");
    let meta = json!({
        "version": 1, "state": state, "stdio": [],
        "ext_mounts": [{"dest": "/x]:/etc", "kind": "bind"}],
        "external_netns": false, "terminal": false, "tcp_established": false,
        "ext_unix_sk": false, "shell_job": false, "file_locks": false,
        "empty_netns": false, "network_lock": "iptables"
    });
    fs::write(images.join("rt-checkpoint.json"), meta.to_string()).expect("write meta");
    let out = c.rt(&[
        "restore",
        "--detach",
        "--image-path",
        images.to_str().expect("utf-8"),
        "--bundle",
        c.bundle().to_str().expect("utf-8"),
        &c.id,
    ]);
    let msg = out.fails_with("]:");
    assert!(msg.contains("/x]:/etc"), "{msg}");
    assert!(!c.state_root().join(&c.id).exists(), "restore left state");
    assert_untouched(source.path());
}
