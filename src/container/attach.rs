//! Staying attached to a process rt started in a container (`run`, and
//! `exec` without `--detach`): signals are forwarded to it, its pty (when
//! rt holds the master) is relayed to rt's own terminal in raw mode, and
//! its exit status becomes rt's.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::syscall;

/// Signals relayed to the container (everything a user can send that does
/// not stop rt itself).
pub fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGTSTP,
    ] {
        set.remove(s);
    }
    set
}

/// Block the forwarded signals and read them from a signalfd instead. The
/// child process unblocks them first thing (see `init`).
pub struct Signals {
    pub set: SigSet,
    pub fd: SignalFd,
}

impl Signals {
    pub fn block() -> Result<Signals> {
        let set = forwarded();
        set.thread_block().ctx(|| "cannot block signals")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .ctx(|| "cannot create signalfd")?;
        Ok(Signals { set, fd })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&self.set), None);
    }
}

/// When rt itself must hold the pty master (no `--console-socket`), the
/// init or exec child sends it over this pair.
pub fn console_pair() -> Result<(UnixStream, OwnedFd)> {
    let (ours, theirs) = UnixStream::pair().ctx(|| "cannot create console socket pair")?;
    Ok((ours, theirs.into()))
}

pub fn receive_master(sock: &UnixStream) -> Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let got = crate::syscall::recv_with_fd(sock.as_fd(), &mut buf)
        .ctx(|| "cannot receive the pty master")?;
    got.fd
        .ok_or_else(|| Error::Init("no pty master received from the container".into()))
}

/// Restores the terminal mode when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

pub fn supervise(init: Pid, sfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let _raw = master.and_then(|_| RawMode::enter(stdin.as_fd()));
    if let Some(m) = master {
        if let Ok((rows, cols)) = syscall::window_size(stdin.as_fd()) {
            let _ = syscall::set_window_size(m.as_fd(), rows, cols);
        }
    }
    let mut stdin_open = master.is_some();
    let mut status = None;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        let timeout = if status.is_some() {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if let Some(m) = master {
            if master_ready {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(std::io::stdout().as_fd(), &buf[..n]),
                    _ => {
                        if let Some(code) = status {
                            return Ok(code);
                        }
                    }
                }
            } else if let Some(code) = status {
                return Ok(code);
            }
            if stdin_ready {
                match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(m.as_fd(), &buf[..n]),
                    _ => stdin_open = false,
                }
            }
        } else if let Some(code) = status {
            return Ok(code);
        }
        if !sig_ready {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                loop {
                    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(ws) if ws.pid() == Some(init) => status = exit_code(ws).or(status),
                        Ok(_) => {}
                    }
                }
            } else if sig == libc::SIGWINCH {
                if let (Some(m), Ok((rows, cols))) = (master, syscall::window_size(stdin.as_fd())) {
                    let _ = syscall::set_window_size(m.as_fd(), rows, cols);
                }
            } else if let Ok(s) = Signal::try_from(sig) {
                let _ = kill(init, s);
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}
