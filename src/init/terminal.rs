//! `process.terminal`: a pseudo-terminal created inside the container's own
//! devpts, whose master goes to the caller over `--console-socket` (the
//! protocol runc uses and containerd relies on: one SCM_RIGHTS message).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};
use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};

use crate::error::{Context, Error, Result};
use crate::syscall;

use super::inroot::{self, Entry};
use super::procfs::{fd_path, open_path, HostProc, InHostProc};

pub struct Pty {
    pub slave: OwnedFd,
}

/// Where the pty master goes.
pub struct ConsoleSocket {
    pub fd: OwnedFd,
    /// The socket is rt's own (`run`, `exec` without `--console-socket`):
    /// rt relays the pty to its stdout.
    pub relayed_by_rt: bool,
}

/// Open a pty in the container's /dev/ptmx, bind its slave over
/// /dev/console (init only; an exec'd process leaves the console alone), and
/// send the master over `socket`.
pub fn create(
    socket: &ConsoleSocket,
    size: Option<(u16, u16)>,
    bind_console_too: Option<InHostProc<'_>>,
    proc: &HostProc,
) -> Result<Pty> {
    let master = open_ptmx(proc)?;
    syscall::unlock_pty(master.as_fd()).ctx(|| "cannot unlock the pty")?;
    let slave = syscall::open_pty_peer(master.as_fd()).ctx(|| "cannot open the pty slave")?;
    // What rt relays reaches its stdout byte for byte, "\n" as "\n", as
    // runc clears ONLCR on the pty it holds (scripts compare the output). A
    // master sent to the caller keeps the kernel's settings: its receiver
    // decides (runc leaves them too).
    if socket.relayed_by_rt {
        clear_onlcr(&slave)?;
    }
    if let Some((rows, cols)) = size {
        syscall::set_window_size(slave.as_fd(), rows, cols)
            .ctx(|| "cannot set the console size")?;
    }
    if let Some(at) = bind_console_too {
        bind_console(at, &slave)?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        socket.fd.as_raw_fd(),
        &[IoSlice::new(name)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "cannot send the pty master over the console socket")?;
    Ok(Pty { slave })
}

fn clear_onlcr(slave: &OwnedFd) -> Result<()> {
    let mut t = tcgetattr(slave).ctx(|| "cannot read the pty's modes")?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(slave, SetArg::TCSANOW, &t).ctx(|| "cannot set the pty's modes")
}

/// The container's /dev/ptmx, resolved inside its root (the
/// link rt makes, /dev/ptmx -> pts/ptmx, is followed there), checked to be
/// the ptmx of a devpts, and opened through the host procfs: whatever the
/// container put at /dev/ptmx or /dev/pts, rt opens no other file
/// (CVE-2025-52565). Opening a path by name would follow links the
/// container controls.
fn open_ptmx(proc: &HostProc) -> Result<OwnedFd> {
    let root = open_path(Path::new("/"), libc::O_DIRECTORY)?;
    let h = inroot::resolve(root.as_fd(), Path::new("/dev/ptmx"), false)
        .ctx(|| "cannot resolve /dev/ptmx")?;
    let fs = fstatfs(&h).ctx(|| "cannot statfs /dev/ptmx")?;
    let st = nix::sys::stat::fstat(h.as_fd().as_raw_fd()).ctx(|| "cannot stat /dev/ptmx")?;
    let is_ptmx =
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == nix::sys::stat::makedev(5, 2);
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC || !is_ptmx {
        return Err(Error::Init(
            "/dev/ptmx is not the ptmx of a devpts mount (mount devpts at /dev/pts)".into(),
        ));
    }
    proc.reopen(&h, OFlag::O_RDWR | OFlag::O_NOCTTY)
        .ctx(|| "cannot open /dev/ptmx")
}

/// /dev/console is the container's terminal (runtime spec, "Default Devices").
fn bind_console(at: InHostProc<'_>, slave: &OwnedFd) -> Result<()> {
    let root = open_path(Path::new("/"), libc::O_DIRECTORY)?;
    let entry = Entry::new(root.as_fd(), Path::new("/dev/console"), false)
        .ok_or_else(|| Error::Init("cannot resolve /dev".into()))?;
    // An existing file or node is kept; anything else fails the check below.
    let _ = entry.create_file(0o600);
    let console = entry
        .open_nofollow()
        .ctx(|| "cannot resolve /dev/console")?;
    // What was found there (not followed) must be a file or a device: a
    // symlink swapped in since the create must not be mounted onto, nor
    // through (CVE-2025-52565).
    let st =
        nix::sys::stat::fstat(console.as_fd().as_raw_fd()).ctx(|| "cannot stat /dev/console")?;
    if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFCHR) {
        return Err(Error::Init(
            "/dev/console is neither a file nor a device".into(),
        ));
    }
    mount(
        Some(fd_path(at, slave).as_str()),
        fd_path(at, &console).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| "cannot bind the pty over /dev/console")
}

impl Pty {
    /// Make the pty this process's stdio and controlling terminal.
    pub fn attach(&self) -> Result<()> {
        nix::unistd::setsid().ctx(|| "setsid")?;
        syscall::set_controlling_terminal(self.slave.as_fd())
            .ctx(|| "cannot set the controlling terminal")?;
        for fd in 0..3 {
            nix::unistd::dup2(self.slave.as_raw_fd(), fd)
                .ctx(|| "cannot attach stdio to the pty")?;
        }
        Ok(())
    }
}
