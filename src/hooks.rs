//! OCI hooks: each gets the container state on stdin and runs with exactly
//! the `path`, `args` and `env` it was given, killed after `timeout` seconds.
//!
//! Where each kind runs and what its failure means (runtime spec,
//! "Lifecycle"): prestart and createRuntime run in the runtime namespace
//! after the mounts and before pivot_root, createContainer in the container
//! namespace at the same point, startContainer in the container just before
//! exec — a failure of any of these fails the operation. poststart runs
//! once the user program runs (runc 1.6 moved it there): its failure fails
//! `start` and stops the container, as runc 1.6 and runtime-spec 1.3 have
//! it. poststop runs after delete: its failures are logged only.
//!
//! As runc's: a hook's stdout and stderr are collected, not passed on, and
//! shown only in its failure, which reads "error running <kind> hook #<n>:
//! error running hook: exit status 1, stdout: ..., stderr: ..." (n counts
//! from 0 per kind). Clients and runc's tests match these words: runc ≥ 1.2
//! names the kind ("error running <kind> hook #<n>: exit status 1, ..."),
//! runc 1.1 did not ("error running hook #<n>: error running hook: exit
//! status 1, ..."); the message holds what each version's users look for.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::logging;
use crate::state::{State, Status};
use crate::syscall;

/// What is kept of each output stream of a hook: enough for an error
/// message; the rest is read and dropped, so the hook never blocks on it.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Run `hooks` in order; the first failure stops them. `default_env` is
/// the environment of a hook whose `env` is empty (startContainer hooks get
/// the process's, as with runc ≥ 1.2).
pub fn run_all(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    default_env: Option<&[String]>,
) -> Result<()> {
    for (index, hook) in hooks.iter().enumerate() {
        let env = match hook.env().as_deref() {
            Some(env) if !env.is_empty() => env,
            _ => default_env.unwrap_or_default(),
        };
        run(hook, env, state_json).map_err(|why| Error::Hook { kind, index, why })?;
    }
    Ok(())
}

/// One hook: Ok, or why it failed in runc's words.
fn run(hook: &Hook, env: &[String], state_json: &[u8]) -> std::result::Result<(), String> {
    let path = hook.path();
    let mut cmd = Command::new(path);
    let args = hook.args().clone().unwrap_or_default();
    if let Some(argv0) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        let why = e.raw_os_error().map_or_else(
            || e.to_string(),
            |n| nix::Error::from_raw(n).desc().to_lowercase(),
        );
        format!("fork/exec {}: {why}", path.display())
    })?;
    let pidfd = syscall::pidfd_open(nix::unistd::Pid::from_raw(child.id() as i32));
    let io = match (pidfd, Io::new(&mut child, state_json)) {
        (Ok(pidfd), Ok(io)) => io.pump(&pidfd, hook.timeout()),
        (Err(e), _) | (_, Err(e)) => Err(e.desc().to_lowercase()),
    };
    let mut io = match io {
        Ok(io) => io,
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(why);
        }
    };
    let status = child.wait().map_err(|e| e.to_string())?;
    io.drain();
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "error running hook: {}, stdout: {}, stderr: {}",
        describe(status),
        io.stdout.text(),
        io.stderr.text()
    ))
}

/// The hook's three pipes: the state written to its stdin, its output
/// read, all without blocking, so that neither side waits on the other.
struct Io<'a> {
    stdin: Option<std::process::ChildStdin>,
    state: &'a [u8],
    stdout: Output<ChildStdout>,
    stderr: Output<ChildStderr>,
}

struct Output<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
}

impl<'a> Io<'a> {
    fn new(child: &mut std::process::Child, state: &'a [u8]) -> nix::Result<Io<'a>> {
        let io = Io {
            stdin: child.stdin.take(),
            state,
            stdout: Output::new(child.stdout.take()),
            stderr: Output::new(child.stderr.take()),
        };
        let fds = [
            io.stdin.as_ref().map(|p| p.as_raw_fd()),
            io.stdout.pipe.as_ref().map(|p| p.as_raw_fd()),
            io.stderr.pipe.as_ref().map(|p| p.as_raw_fd()),
        ];
        for fd in fds.into_iter().flatten() {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        }
        Ok(io)
    }

    /// Move data until the hook exits (its pidfd turns readable), or kill
    /// it at its timeout.
    fn pump(mut self, pidfd: &std::os::fd::OwnedFd, timeout: Option<i64>) -> Result<Self, String> {
        let deadline = timeout
            .filter(|t| *t > 0)
            .map(|t| Instant::now() + Duration::from_secs(t as u64));
        loop {
            let wait_ms = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(u16::MAX as u128) as u16,
                None => u16::MAX,
            };
            let [exited, writable, out, err] = {
                let wanted = [
                    (Some(pidfd.as_fd()), PollFlags::POLLIN),
                    (self.stdin.as_ref().map(|p| p.as_fd()), PollFlags::POLLOUT),
                    (
                        self.stdout.pipe.as_ref().map(|p| p.as_fd()),
                        PollFlags::POLLIN,
                    ),
                    (
                        self.stderr.pipe.as_ref().map(|p| p.as_fd()),
                        PollFlags::POLLIN,
                    ),
                ];
                let mut fds = Vec::new();
                let mut at = [None; 4];
                for (i, (fd, flags)) in wanted.into_iter().enumerate() {
                    if let Some(fd) = fd {
                        at[i] = Some(fds.len());
                        fds.push(PollFd::new(fd, flags));
                    }
                }
                match poll(&mut fds, PollTimeout::from(wait_ms)) {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(e.desc().to_lowercase()),
                }
                at.map(|i| {
                    i.and_then(|i| fds[i].revents())
                        .is_some_and(|r| !r.is_empty())
                })
            };
            if writable {
                self.feed();
            }
            if out {
                self.stdout.read();
            }
            if err {
                self.stderr.read();
            }
            if exited {
                return Ok(self);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(format!(
                    "hook ran past specified timeout of {:.1}s",
                    timeout.unwrap_or(0) as f64
                ));
            }
        }
    }

    /// Write what the pipe takes of the state; close stdin when all is
    /// written or the hook closed its end (it need not read the state).
    fn feed(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        match stdin.write(self.state) {
            Ok(n) if n < self.state.len() => self.state = &self.state[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
            Ok(_) | Err(_) => self.stdin = None,
        }
    }

    /// What the hook wrote but no poll saw before it exited. A process it
    /// left behind may keep the pipes open: take what is there, never wait
    /// for their end.
    fn drain(&mut self) {
        self.stdin = None;
        self.stdout.read();
        self.stderr.read();
    }
}

impl<R: Read> Output<R> {
    fn new(pipe: Option<R>) -> Output<R> {
        Output {
            pipe,
            kept: Vec::new(),
        }
    }

    /// Read until the pipe is empty (or at its end: then close it).
    fn read(&mut self) {
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break self.pipe = None,
                Ok(n) => {
                    let room = OUTPUT_LIMIT.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break self.pipe = None,
            }
        }
    }

    /// The output as one line of an error message.
    fn text(&self) -> String {
        crate::spec::single_line(&String::from_utf8_lossy(&self.kept))
    }
}

/// A hook's exit status as Go prints it ("exit status 1", "signal: killed"),
/// which runc's errors carry.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    let text = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal: {}", signal_name(sig)),
        (None, None) => status.to_string(),
    };
    if status.core_dumped() {
        format!("{text} (core dumped)")
    } else {
        text
    }
}

/// Go's names of the Linux signals (package syscall), lower case.
fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 31] = [
        "hangup",
        "interrupt",
        "quit",
        "illegal instruction",
        "trace/breakpoint trap",
        "aborted",
        "bus error",
        "floating point exception",
        "killed",
        "user defined signal 1",
        "segmentation fault",
        "user defined signal 2",
        "broken pipe",
        "alarm clock",
        "terminated",
        "stack fault",
        "child exited",
        "continued",
        "stopped (signal)",
        "stopped",
        "stopped (tty input)",
        "stopped (tty output)",
        "urgent I/O condition",
        "CPU time limit exceeded",
        "file size limit exceeded",
        "virtual timer expired",
        "profiling timer expired",
        "window changed",
        "I/O possible",
        "power failure",
        "bad system call",
    ];
    usize::try_from(sig - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("signal {sig}"), |n| n.to_string())
}

pub fn state_json(st: &State, status: Status) -> Vec<u8> {
    serde_json::to_vec(&st.oci(status)).unwrap_or_default()
}

/// prestart (deprecated, still run) then createRuntime, in rt's namespaces.
pub fn run_runtime_hooks(st: &State, status: Status) -> Result<()> {
    let Some(hooks) = st.config.hooks() else {
        return Ok(());
    };
    let json = state_json(st, status);
    #[allow(deprecated)]
    run_all(
        "prestart",
        hooks.prestart().as_deref().unwrap_or_default(),
        &json,
        None,
    )?;
    run_all(
        "createRuntime",
        hooks.create_runtime().as_deref().unwrap_or_default(),
        &json,
        None,
    )
}

/// poststart and poststop: failures are logged, not fatal; the hooks after
/// a failed one still run.
pub fn run_logged(kind: &'static str, hooks: &[Hook], st: &State, status: Status) {
    let json = state_json(st, status);
    for (index, hook) in hooks.iter().enumerate() {
        let env = hook.env().clone().unwrap_or_default();
        if let Err(why) = run(hook, &env, &json) {
            logging::warn(&Error::Hook { kind, index, why }.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_gos() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe(ExitStatus::from_raw(1 << 8)), "exit status 1");
        assert_eq!(describe(ExitStatus::from_raw(9)), "signal: killed");
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGSYS | 0x80)),
            "signal: bad system call (core dumped)"
        );
        assert_eq!(signal_name(64), "signal 64");
    }
}
