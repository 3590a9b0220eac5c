//! `process.terminal`: a pseudo-terminal created inside the container's own
//! devpts, whose master goes to the caller over `--console-socket` (the
//! protocol runc uses and containerd relies on: one SCM_RIGHTS message).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use pathrs::Root;

use crate::error::{Context, Error, Result};
use crate::syscall;

use super::procfs::fd_path;

pub struct Pty {
    pub slave: OwnedFd,
}

/// Open a pty in the container's /dev/ptmx, bind its slave over
/// /dev/console (init only; an exec'd process leaves the console alone), and
/// send the master over `socket`.
pub fn create(socket: &OwnedFd, size: Option<(u16, u16)>, bind_console_too: bool) -> Result<Pty> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).ctx(|| "cannot open /dev/ptmx")?;
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let slave = syscall::open_pty_peer(master.as_fd()).ctx(|| "cannot open the pty slave")?;
    if let Some((rows, cols)) = size {
        syscall::set_window_size(slave.as_fd(), rows, cols).ctx(|| "cannot set the console size")?;
    }
    if bind_console_too {
        bind_console(&slave)?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let name = b"/dev/ptmx";
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(name)], &cmsg, MsgFlags::empty(), None)
        .ctx(|| "cannot send the pty master over the console socket")?;
    Ok(Pty { slave })
}

/// /dev/console is the container's terminal (runtime spec, "Default Devices").
fn bind_console(slave: &OwnedFd) -> Result<()> {
    let root = Root::open("/").ctx(|| "cannot open /")?;
    let perm = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    match root.create_file("/dev/console", pathrs::flags::OpenFlags::O_CREAT | pathrs::flags::OpenFlags::O_CLOEXEC, &perm) {
        Ok(_) => {}
        Err(e) if e.kind() == pathrs::error::ErrorKind::OsError(Some(libc::EEXIST)) => {}
        Err(e) => return Err(Error::Init(format!("cannot create /dev/console: {e}"))),
    }
    let console = root.resolve_nofollow("/dev/console").ctx(|| "cannot resolve /dev/console")?;
    mount(Some(fd_path(slave).as_str()), fd_path(&console).as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .ctx(|| "cannot bind the pty over /dev/console")
}

impl Pty {
    /// Make the pty this process's stdio and controlling terminal.
    pub fn attach(&self) -> Result<()> {
        nix::unistd::setsid().ctx(|| "setsid")?;
        syscall::set_controlling_terminal(self.slave.as_fd()).ctx(|| "cannot set the controlling terminal")?;
        for fd in 0..3 {
            nix::unistd::dup2(self.slave.as_raw_fd(), fd).ctx(|| "cannot attach stdio to the pty")?;
        }
        Ok(())
    }
}
