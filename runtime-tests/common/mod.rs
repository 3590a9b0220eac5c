//! The harness every runtime test uses: a bundle per container (busybox
//! rootfs, config.json made by `rt spec`), the rt (or runc) command line with
//! a deadline, and a guard that deletes the container when the test ends —
//! even on panic — and fails the test if anything of it is left.

pub mod json;
pub mod older_kernel;
pub mod procfs;
pub mod residue;
pub mod rootfs;
pub mod rootless;

use std::cell::RefCell;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use residue::Tracked;

pub const RT: &str = env!("CARGO_BIN_EXE_rt");
pub const RUNC: &str = "/usr/sbin/runc";

/// Long enough for a loaded 2-core machine, short enough that a hung rt
/// fails its test instead of the whole suite.
const DEADLINE: Duration = Duration::from_secs(30);

/// The OCI runtime a container runs under.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Runtime {
    Rt,
    Runc,
}

impl Runtime {
    fn binary(self) -> &'static str {
        match self {
            Runtime::Rt => RT,
            Runtime::Runc => RUNC,
        }
    }

    /// The cgroup of container `id`, always below /rt-test: the machine's
    /// own service lives in cgroups that tests must never touch.
    fn cgroup_name(self, id: &str) -> String {
        match self {
            Runtime::Rt => id.to_string(),
            Runtime::Runc => format!("{id}-runc"),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Panics with the command's output unless it exited 0.
    pub fn ok(self) -> Outcome {
        assert_eq!(self.code, 0, "command failed:\n{self}");
        self
    }

    /// Panics unless the command failed with exactly one line on stderr
    /// containing `needle`; returns that line.
    pub fn fails_with(&self, needle: &str) -> String {
        assert_ne!(self.code, 0, "command succeeded:\n{self}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "want one stderr line:\n{self}");
        assert!(
            lines[0].contains(needle),
            "want {needle:?} on stderr:\n{self}"
        );
        lines[0].to_string()
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `cmd` with stdout/stderr sent to files `<out>.stdout`/`.stderr`.
/// Files, not pipes: a container created by the command keeps its stdio
/// open long after the command exits.
pub fn run_with_deadline(mut cmd: Command, out: &Path) -> Outcome {
    let (so, se) = (out.with_extension("stdout"), out.with_extension("stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&so).expect("create stdout file"))
        .stderr(File::create(&se).expect("create stderr file"));
    let code = spawn_and_wait(&mut cmd);
    Outcome {
        code,
        stdout: read_lossy(&so),
        stderr: read_lossy(&se),
    }
}

/// Run `cmd` to its end, for at most the deadline; its exit code (128 +
/// signal when killed).
fn spawn_and_wait(cmd: &mut Command) -> i32 {
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    })
}

/// Everything readable from a pty master until its last slave is closed
/// (EIO) or the deadline passes.
fn read_terminal(master: File) -> String {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    use std::os::fd::AsFd;
    let deadline = Instant::now() + DEADLINE;
    let mut master = master;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).expect("poll the pty") == 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned()
}

/// A container id unique in this machine: the test's name (the test
/// harness names each test's thread after it), pid and a counter.
pub fn unique_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let thread = std::thread::current();
    let name: String = thread
        .name()
        .unwrap_or("test")
        .rsplit("::")
        .next()
        .unwrap_or("test")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temp dir the container processes (possibly another uid in a user
/// namespace) can traverse.
pub fn tempdir() -> TempDir {
    let d = tempfile::Builder::new()
        .prefix("rt-test.")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    d
}

/// One container and everything it owns; dropping it is the cleanup.
pub struct Container {
    pub id: String,
    pub runtime: Runtime,
    /// config.json, written to the bundle before each create/run.
    pub config: Value,
    config_text: Option<String>,
    tmp: Option<TempDir>,
    /// The `--root` state directory, shared by containers made with `sibling`.
    root: Rc<TempDir>,
    pids: RefCell<Vec<Tracked>>,
    /// stdout/stderr files of the create that started the container: its
    /// processes keep writing there.
    create_out: RefCell<Option<PathBuf>>,
    calls: RefCell<usize>,
}

/// `["sh", "-c", script]`.
pub fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

impl Container {
    /// A container running `args`, with rt's default config otherwise.
    pub fn new<S: AsRef<str>>(args: &[S]) -> Container {
        Self::build(Runtime::Rt, Rc::new(tempdir()), args)
    }

    /// A long-running container (`sleep 1000`) to inspect from the host.
    pub fn sleeper() -> Container {
        Self::new(&["sleep", "1000"])
    }

    /// A container running `sh -c script`.
    pub fn sh(script: &str) -> Container {
        Self::new(&sh(script))
    }

    pub fn with_runtime<S: AsRef<str>>(runtime: Runtime, args: &[S]) -> Container {
        Self::build(runtime, Rc::new(tempdir()), args)
    }

    /// Another container in the same `--root`.
    pub fn sibling<S: AsRef<str>>(&self, args: &[S]) -> Container {
        Self::build(self.runtime, Rc::clone(&self.root), args)
    }

    fn build<S: AsRef<str>>(runtime: Runtime, root: Rc<TempDir>, args: &[S]) -> Container {
        let id = unique_id();
        let tmp = tempdir();
        let bundle = tmp.path().join("bundle");
        fs::create_dir(&bundle).expect("create bundle");
        rootfs::copy_linked(&bundle.join("rootfs"));
        let mut spec = Command::new(RT);
        spec.arg("spec").arg("--bundle").arg(&bundle);
        run_with_deadline(spec, &tmp.path().join("spec")).ok();
        let config =
            serde_json::from_slice(&fs::read(bundle.join("config.json")).expect("read config"))
                .expect("parse config");
        let mut c = Container {
            id,
            runtime,
            config,
            config_text: None,
            tmp: Some(tmp),
            root,
            pids: RefCell::new(Vec::new()),
            create_out: RefCell::new(None),
            calls: RefCell::new(0),
        };
        c.set("/process/terminal", false);
        c.set(
            "/process/args",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        );
        let cgroup = format!("/rt-test/{}", runtime.cgroup_name(&c.id));
        c.set("/linux/cgroupsPath", cgroup);
        c
    }

    pub fn set(&mut self, pointer: &str, value: impl Into<Value>) -> &mut Self {
        json::set(&mut self.config, pointer, value);
        self
    }

    pub fn push(&mut self, pointer: &str, value: Value) -> &mut Self {
        json::push(&mut self.config, pointer, value);
        self
    }

    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        json::remove(&mut self.config, pointer);
        self
    }

    /// Add a namespace of `typ` (new, or joined when `path` is given).
    pub fn add_namespace(&mut self, typ: &str, path: Option<&str>) -> &mut Self {
        let mut ns = serde_json::json!({ "type": typ });
        if let Some(p) = path {
            ns["path"] = p.into();
        }
        self.remove_namespace(typ).push("/linux/namespaces", ns)
    }

    pub fn remove_namespace(&mut self, typ: &str) -> &mut Self {
        if let Some(list) = self
            .config
            .pointer_mut("/linux/namespaces")
            .and_then(Value::as_array_mut)
        {
            list.retain(|n| n["type"] != typ);
        }
        self
    }

    /// A scratch directory of this container, outside its bundle.
    pub fn scratch(&self) -> &Path {
        self.tmp.as_ref().expect("container tmp").path()
    }

    pub fn bundle(&self) -> PathBuf {
        self.scratch().join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    pub fn state_root(&self) -> &Path {
        self.root.path()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.scratch().join("pid")
    }

    pub fn cgroup_name(&self) -> String {
        self.runtime.cgroup_name(&self.id)
    }

    /// Replace the rootfs by a real copy owned by `uid:gid` (user
    /// namespaces: the container's root must own its files).
    pub fn chown_rootfs(&mut self, uid: u32, gid: u32) -> &mut Self {
        fs::remove_dir_all(self.rootfs()).expect("remove rootfs copy");
        rootfs::copy_owned(&self.rootfs(), uid, gid);
        self
    }

    /// Use `text` as config.json verbatim (it need not be valid JSON)
    /// instead of `config`.
    pub fn set_config_text(&mut self, text: String) -> &mut Self {
        self.config_text = Some(text);
        self
    }

    fn write_config(&self) {
        let text = match &self.config_text {
            Some(t) => t.clone().into_bytes(),
            None => serde_json::to_vec_pretty(&self.config).expect("encode config"),
        };
        fs::write(self.bundle().join("config.json"), text).expect("write config");
    }

    fn next_out(&self) -> PathBuf {
        let mut n = self.calls.borrow_mut();
        *n += 1;
        self.scratch().join(format!("call{n}"))
    }

    /// The runtime's command line with `--root`, without running it.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(self.runtime.binary());
        cmd.arg("--root").arg(self.state_root()).args(args);
        cmd
    }

    /// `rt --root <root> args...`
    pub fn rt<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Outcome {
        run_with_deadline(self.command(args), &self.next_out())
    }

    /// Run `cmd` (built by [`Container::command`]) as a create/run of this
    /// container: config written first, the pid recorded after.
    pub fn launch(&self, cmd: Command) -> Outcome {
        self.write_config();
        let out = self.next_out();
        let result = while_creating(|| run_with_deadline(cmd, &out));
        *self.create_out.borrow_mut() = Some(out);
        self.track_pid_file();
        result
    }

    /// The `run` or `create` command line with the bundle, pid file and
    /// `extra` flags, for [`Container::launch`].
    pub fn launch_command(&self, verb: &str, extra: &[&str]) -> Command {
        let mut cmd = self.command(&[verb]);
        cmd.arg("--bundle")
            .arg(self.bundle())
            .arg("--pid-file")
            .arg(self.pid_file())
            .args(extra)
            .arg(&self.id);
        cmd
    }

    fn launch_verb(&self, verb: &str, extra: &[&str]) -> Outcome {
        self.launch(self.launch_command(verb, extra))
    }

    /// `run` in the foreground: the container's exit code and output.
    pub fn run(&self) -> Outcome {
        self.launch_verb("run", &[])
    }

    /// `run` with stdin, stdout and stderr on a pseudo-terminal of its own,
    /// as runc's suite runs under `script`: the exit code, and in `stdout`
    /// everything that came out of that terminal (stdout and stderr).
    pub fn run_on_terminal(&self) -> Outcome {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        use std::os::fd::AsRawFd;
        self.write_config();
        let pty = nix::pty::openpty(None, None).expect("openpty");
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("cloexec");
        }
        let master = File::from(pty.master);
        let reader = std::thread::spawn(move || read_terminal(master));
        let slave = File::from(pty.slave);
        let mut cmd = self.launch_command("run", &[]);
        cmd.stdin(slave.try_clone().expect("dup the pty"))
            .stdout(slave.try_clone().expect("dup the pty"))
            .stderr(slave);
        let code = while_creating(|| spawn_and_wait(&mut cmd));
        // The Command holds the last copies of the slave.
        drop(cmd);
        self.track_pid_file();
        Outcome {
            code,
            stdout: reader.join().expect("pty reader"),
            stderr: String::new(),
        }
    }

    /// `run` with stdout and stderr on pipes, as engines give them.
    pub fn run_through_pipes(&self) -> Outcome {
        use std::io::Read;
        self.write_config();
        let read_all = |end: std::os::fd::OwnedFd| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = File::from(end).read_to_string(&mut text);
                text
            })
        };
        let (out_r, out_w) = nix::unistd::pipe().expect("pipe");
        let (err_r, err_w) = nix::unistd::pipe().expect("pipe");
        let (stdout, stderr) = (read_all(out_r), read_all(err_r));
        let mut cmd = self.launch_command("run", &[]);
        cmd.stdin(Stdio::null())
            .stdout(File::from(out_w))
            .stderr(File::from(err_w));
        let code = while_creating(|| spawn_and_wait(&mut cmd));
        // The Command holds the last copies of the write ends.
        drop(cmd);
        self.track_pid_file();
        Outcome {
            code,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    pub fn run_with(&self, extra: &[&str]) -> Outcome {
        self.launch_verb("run", extra)
    }

    pub fn create(&self) -> Outcome {
        self.launch_verb("create", &[])
    }

    pub fn create_with(&self, extra: &[&str]) -> Outcome {
        self.launch_verb("create", extra)
    }

    /// Create, panicking on failure; the init pid.
    pub fn create_ok(&self) -> i32 {
        self.create().ok();
        self.pid()
    }

    pub fn start(&self) -> Outcome {
        self.rt(&["start", &self.id])
    }

    /// Create and start, panicking on failure; the container's pid, once
    /// it runs the configured program.
    pub fn start_ok(&self) -> i32 {
        let pid = self.create_ok();
        self.start().ok();
        self.wait_exec();
        pid
    }

    /// Wait until the init has exec'd the container program (or exited):
    /// `start` returns once init is released, a moment before its exec, as
    /// with runc. Before the exec, init still has the runtime's command
    /// line; in the middle of it, an empty one.
    pub fn wait_exec(&self) {
        let path = format!("/proc/{}/cmdline", self.pid());
        wait_for(&format!("{} to exec", self.id), || {
            let Ok(cmdline) = fs::read_to_string(&path) else {
                return Some(());
            };
            let argv0 = cmdline.split('\0').next().unwrap_or_default();
            let execd = !argv0.is_empty() && ![RT, RUNC, "runc"].contains(&argv0);
            (execd || procfs::start_time(self.pid()).is_none()).then_some(())
        });
    }

    /// Output of the container's processes after a create (they inherit
    /// the create's stdout and stderr).
    pub fn output(&self) -> Outcome {
        let out = self
            .create_out
            .borrow()
            .clone()
            .expect("container was not created");
        Outcome {
            code: 0,
            stdout: read_lossy(&out.with_extension("stdout")),
            stderr: read_lossy(&out.with_extension("stderr")),
        }
    }

    /// Wait until the container's stdout contains `needle`.
    pub fn wait_output(&self, needle: &str) -> String {
        wait_for(&format!("{needle:?} in the output of {}", self.id), || {
            let out = self.output().stdout;
            out.contains(needle).then_some(out)
        })
    }

    fn track_pid_file(&self) {
        let Ok(text) = fs::read_to_string(self.pid_file()) else {
            return;
        };
        let pid: i32 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid file holds {text:?}"));
        self.pids.borrow_mut().push(Tracked {
            pid,
            start: procfs::start_time(pid),
        });
    }

    /// The init pid from the pid file.
    pub fn pid(&self) -> i32 {
        self.pids
            .borrow()
            .last()
            .map(|t| t.pid)
            .expect("no pid file was written")
    }

    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().expect("status").to_string()
    }

    /// Wait until the state reports `status`.
    pub fn wait_status(&self, status: &str) {
        wait_for(&format!("{} to be {status}", self.id), || {
            (self.status() == status).then_some(())
        });
    }

    pub fn kill(&self, signal: &str) -> Outcome {
        self.rt(&["kill", &self.id, signal])
    }

    pub fn delete(&self) -> Outcome {
        self.rt(&["delete", &self.id])
    }

    /// /proc/<pid>/<file> of the container's init, read from the host.
    pub fn proc_file(&self, file: &str) -> String {
        procfs::read(&format!("/proc/{}/{file}", self.pid()))
    }

    /// Delete and report what is left; the temp dirs are removed unless a
    /// mount is left in them (removing would recurse into the mount).
    fn cleanup(&mut self) -> Vec<String> {
        let del = self.rt(&["delete", "--force", &self.id]);
        let mut problems = Vec::new();
        if del.code != 0 {
            problems.push(format!("delete --force failed:\n{del}"));
        }
        let tmp = self.tmp.take().expect("container tmp");
        let state_dir = self.root.path().join(&self.id);
        problems.extend(residue::problems(
            &self.id,
            &state_dir,
            &self.cgroup_name(),
            tmp.path(),
            &self.pids.borrow(),
        ));
        remove_shared_cgroup_parent();
        if residue::mounts_mentioning(tmp.path()).is_empty() {
            let _ = tmp.close();
        } else {
            let _ = tmp.keep();
        }
        problems
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let problems = self.cleanup();
        if problems.is_empty() {
            return;
        }
        let msg = format!(
            "container {} left residue:\n{}",
            self.id,
            problems.join("\n")
        );
        // A second panic while unwinding would abort the whole test binary.
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Poll `f` until it returns Some, for at most the harness deadline.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run a host command, panicking unless it succeeds; its stdout.
pub fn host(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Held (shared) by every create or run while it runs: the runtime may be
/// between making /rt-test and making the container's cgroup below it.
static CGROUP_PARENT_USERS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// `f`, a command that may create a container, while the shared cgroup
/// parent cannot be removed under it.
fn while_creating<T>(f: impl FnOnce() -> T) -> T {
    let _creating = CGROUP_PARENT_USERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    f()
}

/// The /rt-test parent is shared by every test's container, so no single
/// delete may remove it: the last test to finish does (an rmdir fails
/// harmlessly while other containers are still in it). Not while another
/// test's create may have just made it, still empty: a runtime that finds
/// its parent gone fails (runc does), which is not what that test tests.
fn remove_shared_cgroup_parent() {
    let Ok(_no_create) = CGROUP_PARENT_USERS.try_write() else {
        return;
    };
    let Ok(entries) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in entries.flatten() {
        let _ = fs::remove_dir(e.path().join("rt-test"));
    }
    let _ = fs::remove_dir("/sys/fs/cgroup/rt-test");
}

/// The test thread's own mount namespace, every mount in it private, for
/// a container without a mount namespace of its own: rt mounts in its
/// caller's namespace, as runc does, and leaves the mounts there. The
/// namespace goes with the thread (each test has its own); dropping this
/// first unmounts `rootfs` with everything below it, before the
/// container's directory is removed.
pub struct PrivateMountNs {
    rootfs: PathBuf,
}

impl PrivateMountNs {
    pub fn enter(rootfs: &Path) -> PrivateMountNs {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .expect("unshare the mount namespace");
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .expect("make the test's mounts private");
        PrivateMountNs {
            rootfs: rootfs.to_path_buf(),
        }
    }

    /// This thread's mounts, as mountinfo lines.
    pub fn mounts(&self) -> String {
        procfs::read("/proc/thread-self/mountinfo")
    }
}

impl Drop for PrivateMountNs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.rootfs, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Accept one connection on `listener` and receive one message with an fd
/// (SCM_RIGHTS): the message's bytes and the fd.
pub fn receive_fd(listener: &std::os::unix::net::UnixListener) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::AsFd;
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 64];
    let msg = rt::syscall::recv_with_fd(conn.as_fd(), &mut buf).expect("recvmsg");
    let fd = msg.fd.expect("an fd in the message");
    (buf[..msg.bytes].to_vec(), fd)
}

/// The pid a pidfd refers to (its fdinfo's `Pid:`), -1 once it has exited.
pub fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    let info = procfs::read(&format!("/proc/self/fdinfo/{}", fd.as_raw_fd()));
    procfs::status_field(&info, "Pid")
        .trim()
        .parse()
        .expect("Pid in fdinfo")
}

/// A network namespace made with `ip netns add`, deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let name = format!("rt-test-{}", unique_id());
        host("ip", &["netns", "add", &name]);
        NetNs { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
