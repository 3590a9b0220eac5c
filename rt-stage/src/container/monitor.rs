//! Starting a container and staying with it until it ends, as containerd's shim or
//! conmon do for Docker and Podman:
//!
//! 1. become a child subreaper, so the container's init (whose parent, `rt create`,
//!    exits) is reparented to us and we get its exit status;
//! 2. mount the root filesystem, set up the network, write config.json;
//! 3. `rt create` with the container's stdio on pipes (or a pty via the console
//!    socket), then `rt start`, and record the state as running;
//! 4. copy the output into the log (and to our own stdout/stderr when attached),
//!    forward stdin and signals when attached, until the init exits;
//! 5. tear everything down (rt's container, network, overlay mount) and record the
//!    exit status; with `--rm`, remove the container.
//!
//! A failure at any step of 2-3 undoes the steps before it.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::log::{LogWriter, Stream, LOG};
use super::terminal::{self, ConsoleSocket, RawMode};
use super::{cgroup, runtime, spec, teardown, union, user, Engine};
use crate::error::{Error, IoContext, Result};
use crate::network::{self, ipam::RUN_DIR, proxy};
use crate::record::{self, Container, Status};

pub const BUNDLE: &str = "bundle";
pub const PID_FILE: &str = "pid";
pub const RT_LOG: &str = "rt.log";
pub const MONITOR_LOG: &str = "monitor.log";

/// Signals relayed to the container when attached (the rest of the set is blocked so
/// that they reach the loop, not the default handler).
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// What the supervision loop polls besides its signalfd.
#[derive(Clone, Copy)]
enum Source {
    Out(Stream),
    Pty,
    Stdin,
}

/// A started container, its output still to be collected.
pub struct Running {
    pid: Pid,
    signals: SignalFd,
    stdout: Option<File>,
    stderr: Option<File>,
    master: Option<File>,
    /// The write end of the container's stdin (`-i` without `-t`).
    stdin: Option<File>,
    /// Our stdin goes to the container (`-i`, attached).
    forward_stdin: bool,
}

fn block_signals() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(s);
    }
    // Before any thread exists (the proxy's), so all of them inherit the mask.
    set.thread_block().ctx(|| "block signals".into())?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .ctx(|| "create a signalfd".into())
}

/// Steps 1-3. `attached` keeps stdin for the container when it asked for it.
pub fn launch(e: &Engine, c: &Container, attached: bool) -> Result<Running> {
    let signals = block_signals()?;
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "become a child subreaper".into())?;
    let lock = e.store.lock_container(&c.id)?;
    // Whatever an earlier run left (it may have died without cleaning up).
    teardown::release(e, &c.id)?;
    let started = setup(e, c, attached, signals);
    if started.is_err() {
        if let Err(t) = teardown::release(e, &c.id) {
            tracing::warn!("cleaning up after a failed start: {t}");
        }
    }
    drop(lock);
    started
}

fn setup(e: &Engine, c: &Container, attached: bool, signals: SignalFd) -> Result<Running> {
    let dir = e.store.container_dir(&c.id)?;
    union::mount_rootfs(e.store, c)?;
    let rootfs = union::rootfs_path(&dir, c.driver);
    let who = if c.config.user.is_empty() {
        "0"
    } else {
        c.config.user.as_str()
    };
    let user = user::resolve(&rootfs, who)?;
    let endpoint = network::setup(e.store, c)?;
    if let Some(ep) = endpoint.as_ref().filter(|ep| ep.proxied) {
        proxy::start(&ep.ports, ep.ip)?;
    }
    let bundle = dir.join(BUNDLE);
    fs::create_dir_all(&bundle).at("create", &bundle)?;
    let config = spec::generate(c, &dir, &rootfs, &user);
    let bytes =
        serde_json::to_vec_pretty(&config).map_err(|err| Error::json("config.json", err))?;
    fs::write(bundle.join("config.json"), bytes).at("write", &bundle.join("config.json"))?;

    let pid_file = dir.join(PID_FILE);
    let _ = fs::remove_file(&pid_file);
    let rt_log = dir.join(RT_LOG);
    let _ = fs::remove_file(&rt_log);
    let console = if c.config.tty {
        Some(ConsoleSocket::bind(Path::new(RUN_DIR), &c.id)?)
    } else {
        None
    };
    let mut cmd = e.rt.create_command(
        &c.id,
        &bundle,
        &pid_file,
        &rt_log,
        console.as_ref().map(|s| s.path.as_path()),
    );
    let (mut stdout, mut stderr, mut stdin) = (None, None, None);
    if console.is_some() {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else {
        let (out_r, out_w) = io::pipe().ctx(|| "create a pipe".into())?;
        let (err_r, err_w) = io::pipe().ctx(|| "create a pipe".into())?;
        cmd.stdout(out_w).stderr(err_w);
        stdout = Some(File::from(OwnedFd::from(out_r)));
        stderr = Some(File::from(OwnedFd::from(err_r)));
        // Detached with -i, the write end stays open (unused) so stdin never ends.
        if c.config.open_stdin {
            let (in_r, in_w) = io::pipe().ctx(|| "create a pipe".into())?;
            cmd.stdin(in_r);
            stdin = Some(File::from(OwnedFd::from(in_w)));
        } else {
            cmd.stdin(Stdio::null());
        }
    }
    let status = {
        let _cgroups = cgroup::hold_for_create()?;
        // The Command holds the pipes' other ends: dropped with it right after.
        let status = cmd.status();
        drop(cmd);
        status.map_err(|err| Error::Runtime {
            command: "create".into(),
            message: format!("cannot run {}: {err}", e.rt.bin.display()),
        })?
    };
    if !status.success() {
        return Err(Error::Runtime {
            command: "create".into(),
            message: runtime::last_logged_error(&rt_log)
                .unwrap_or_else(|| format!("rt exited with {status}")),
        });
    }
    let pid: i32 = fs::read_to_string(&pid_file)
        .at("read", &pid_file)?
        .trim()
        .parse()
        .map_err(|_| Error::invalid(pid_file.display().to_string(), "not a pid"))?;
    let master = match &console {
        Some(s) => {
            let m = s.receive_master()?;
            terminal::copy_size(io::stdin().as_fd(), &m);
            Some(File::from(m))
        }
        None => None,
    };
    drop(console);
    e.rt.start(&c.id)?;
    let now = record::now();
    e.store.update_container_state(&c.id, |s| {
        s.status = Status::Running;
        s.pid = pid;
        s.pid_start = record::process_start(pid).unwrap_or(0);
        s.monitor = std::process::id() as i32;
        s.exit_code = 0;
        s.started_at = Some(now);
        s.endpoint = endpoint;
        s.error = None;
    })?;
    Ok(Running {
        pid: Pid::from_raw(pid),
        signals,
        stdout,
        stderr,
        master,
        stdin,
        forward_stdin: attached && c.config.open_stdin,
    })
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Reads what is there; None once the other side has closed (EIO for a pty).
fn read_some(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    match f.read(buf) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

impl Running {
    /// Reaps children; Some(code) once the init is among them.
    fn reap(&self) -> Option<i32> {
        let mut code = None;
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return code,
                Ok(ws) if ws.pid() == Some(self.pid) => code = exit_code(ws).or(code),
                Ok(_) => {}
            }
        }
    }

    /// Signals that arrived: SIGCHLD only wakes the loop; SIGWINCH resizes the pty;
    /// the rest are the container's when attached (a detached monitor ignores them:
    /// only `stop` and `kill` end a container).
    fn handle_signals(&self, attached: bool, stdin: &io::Stdin) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match sig {
                Signal::SIGCHLD => {}
                Signal::SIGWINCH => {
                    if let Some(Ok(fd)) = self.master.as_ref().map(File::try_clone) {
                        terminal::copy_size(stdin.as_fd(), &OwnedFd::from(fd));
                    }
                }
                s if attached => {
                    let _ = kill(self.pid, s);
                }
                _ => {}
            }
        }
    }

    /// Step 4: until the init exits and its output is drained. Returns its status.
    pub fn supervise(mut self, log: &mut LogWriter, attached: bool) -> i32 {
        let stdin = io::stdin();
        let _raw = match (&self.master, attached) {
            (Some(_), true) => RawMode::enter(stdin.as_fd()),
            _ => None,
        };
        let mut stdin_open = self.forward_stdin;
        let mut code = None;
        let mut exited_at: Option<Instant> = None;
        let mut buf = vec![0u8; 16384];
        loop {
            let outputs_open =
                self.stdout.is_some() || self.stderr.is_some() || self.master.is_some();
            if let Some(c) = code {
                // Output still held by some process after the init is gone (it cannot
                // be ours: the pid namespace ends with its init) is not waited for long.
                if !outputs_open || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2))
                {
                    return c;
                }
            }
            let sources: Vec<Source> = [
                self.stdout.as_ref().map(|_| Source::Out(Stream::Stdout)),
                self.stderr.as_ref().map(|_| Source::Out(Stream::Stderr)),
                self.master.as_ref().map(|_| Source::Pty),
                stdin_open.then_some(Source::Stdin),
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            for src in &sources {
                let fd = match src {
                    Source::Out(Stream::Stdout) => self.stdout.as_ref().map(|f| f.as_fd()),
                    Source::Out(Stream::Stderr) => self.stderr.as_ref().map(|f| f.as_fd()),
                    Source::Pty => self.master.as_ref().map(|f| f.as_fd()),
                    Source::Stdin => Some(stdin.as_fd()),
                };
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
            }
            let timeout = PollTimeout::from(if code.is_some() { 100u16 } else { 1000u16 });
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if ready[0] {
                self.handle_signals(attached, &stdin);
            }
            if code.is_none() {
                if let Some(c) = self.reap() {
                    code = Some(c);
                    exited_at = Some(Instant::now());
                } else if !Path::new(&format!("/proc/{}", self.pid)).exists() {
                    // Gone without our reaping it (a zombie child of ours still has
                    // its /proc entry): not our child after all, status unknown.
                    code = Some(255);
                    exited_at = Some(Instant::now());
                }
            }
            for (src, _) in sources.iter().zip(&ready[1..]).filter(|(_, r)| **r) {
                match *src {
                    Source::Out(_) | Source::Pty => {
                        let (slot, stream) = match *src {
                            Source::Out(Stream::Stdout) => (&mut self.stdout, Stream::Stdout),
                            Source::Out(Stream::Stderr) => (&mut self.stderr, Stream::Stderr),
                            _ => (&mut self.master, Stream::Stdout),
                        };
                        let Some(f) = slot.as_mut() else { continue };
                        match read_some(f, &mut buf) {
                            Some(n) => {
                                log.write(stream, &buf[..n]);
                                if attached {
                                    relay(stream, &buf[..n]);
                                }
                            }
                            None => *slot = None,
                        }
                    }
                    Source::Stdin => {
                        let n = stdin.lock().read(&mut buf).unwrap_or(0);
                        let target = self.master.as_mut().or(self.stdin.as_mut());
                        match (n, target) {
                            (0, _) | (_, None) => {
                                stdin_open = false;
                                // End of our input is the end of the container's.
                                self.stdin = None;
                            }
                            (n, Some(t)) => {
                                if t.write_all(&buf[..n]).is_err() {
                                    stdin_open = false;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn relay(stream: Stream, bytes: &[u8]) {
    let _ = match stream {
        Stream::Stdout => io::stdout()
            .lock()
            .write_all(bytes)
            .and_then(|()| io::stdout().flush()),
        Stream::Stderr => io::stderr().lock().write_all(bytes),
    };
}

/// Step 5: teardown, then the exit status recorded (in that order, so that whoever
/// waits for "exited" finds everything gone).
pub fn finish(e: &Engine, c: &Container, code: i32) -> Result<()> {
    let released = {
        let _lock = e.store.lock_container(&c.id)?;
        let released = teardown::release(e, &c.id);
        e.store
            .update_container_state(&c.id, |s| s.mark_exited(code))?;
        released
    };
    if c.host.auto_remove {
        teardown::remove(e, c, true)?;
    }
    released
}

/// A detached container's start: a monitor process (`rt-stage monitor ID`) of its own,
/// in its own session, which reports one line once the container runs or has failed.
pub fn spawn(e: &Engine, c: &Container) -> Result<()> {
    let dir = e.store.container_dir(&c.id)?;
    let exe = std::env::current_exe().ctx(|| "find rt-stage's own binary".into())?;
    let log_path = dir.join(MONITOR_LOG);
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .at("open", &log_path)?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(e.store.root())
        .arg("--rt")
        .arg(&e.rt.bin);
    if e.debug {
        cmd.arg("--debug");
    }
    cmd.args(["monitor", &c.id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = cmd.spawn().ctx(|| "start the container's monitor".into())?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    match line.trim_end().split_once(' ') {
        _ if line.trim_end() == "ok" => Ok(()),
        Some(("error", msg)) => Err(Error::Usage(msg.to_string())),
        _ => {
            let _ = child.wait();
            Err(Error::Usage(format!(
                "the container's monitor ended without starting it: see {}",
                log_path.display()
            )))
        }
    }
}

/// The monitor process's body (the hidden `monitor` command).
pub fn run_detached(e: &Engine, id: &str) -> Result<()> {
    // Its own session: the terminal of whoever started it cannot signal it.
    let _ = nix::unistd::setsid();
    let c = e.store.container_record(id)?;
    let mut log = LogWriter::open(&e.store.container_dir(id)?.join(LOG))?;
    let running = match launch(e, &c, false) {
        Ok(r) => r,
        Err(err) => {
            let msg = err.to_string().replace('\n', " ");
            e.store
                .update_container_state(id, |s| s.error = Some(msg.clone()))?;
            println!("error {msg}");
            return Ok(());
        }
    };
    println!("ok");
    let _ = io::stdout().flush();
    // Nobody reads our stdout any more.
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), io::stdout().as_raw_fd());
    }
    let code = running.supervise(&mut log, false);
    finish(e, &c, code)
}
