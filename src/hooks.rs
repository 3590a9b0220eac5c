//! OCI hooks: each gets the container state on stdin and runs with exactly
//! the `path`, `args` and `env` it was given, killed after `timeout` seconds.
//!
//! Where each kind runs and what its failure means (runtime spec,
//! "Lifecycle"): prestart and createRuntime run in the runtime namespace
//! after the mounts and before pivot_root, createContainer in the container
//! namespace at the same point, startContainer in the container just before
//! exec — a failure of any of these fails the operation. poststart runs
//! once the user program runs (runc 1.6 moved it there): its failure fails
//! `start` too, which kills the container (runtime-spec 1.3). poststop runs
//! after delete: its failures are logged only.
//!
//! A failure reads as runc's, `error running <kind> hook #<n>: ...` (n
//! counts from 0 within its kind): clients and runc's tests look for it.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::logging;
use crate::state::{State, Status};
use crate::syscall;

pub fn run(kind: &str, n: usize, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let path = hook.path();
    let fail = |why: String| {
        Error::Init(format!(
            "error running {kind} hook #{n}: {}: {why}",
            path.display()
        ))
    };
    let mut cmd = Command::new(path);
    let args = hook.args().clone().unwrap_or_default();
    if let Some(argv0) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin; that is not an error.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let pidfd = syscall::pidfd_open(nix::unistd::Pid::from_raw(child.id() as i32))
        .map_err(|e| fail(e.to_string()))?;
    loop {
        let wait_ms = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(u16::MAX as u128) as u16,
            None => u16::MAX,
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(wait_ms)) {
            Ok(n) if n > 0 => break,
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("failed with {status}")));
    }
    Ok(())
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
    )?;
    run_all(
        "createRuntime",
        hooks.create_runtime().as_deref().unwrap_or_default(),
        &json,
    )
}

/// The hooks of one kind in order, up to the first that fails.
pub fn run_all(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    hooks
        .iter()
        .enumerate()
        .try_for_each(|(n, h)| run(kind, n, h, state_json))
}

/// poststop (and a restored container's poststart): failures are logged,
/// not fatal.
pub fn run_logged(kind: &str, hooks: &[Hook], st: &State, status: Status) {
    let json = state_json(st, status);
    for (n, h) in hooks.iter().enumerate() {
        if let Err(e) = run(kind, n, h, &json) {
            logging::warn(&e.to_string());
        }
    }
}
