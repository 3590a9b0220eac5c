//! The channel between `rt create` (parent) and the container's init (child):
//! a SOCK_SEQPACKET socketpair, so each message arrives whole. The child
//! blocks at each sync point until the parent answers; if the parent dies
//! the child reads EOF and gives up, so a killed `create` leaves no init
//! running unattended.

use std::cell::RefCell;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recv, send, sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

use crate::error::{Context, Error, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent → child: the child is in its cgroup and its id maps are written.
    Go,
    /// child → parent: mounts are done, pivot_root comes next; the parent
    /// runs prestart and createRuntime hooks now.
    MountsDone,
    /// parent → child: hooks ran, carry on; carries the state JSON that the
    /// in-container hooks receive.
    Continue(String),
    /// child → parent: everything is set up; init now waits for `start`.
    /// Carries the step timings (see `init::Steps`).
    Ready(String),
    /// child → parent: setup failed at this step (its name) with this
    /// message.
    Failed(String, String),
    /// child → parent: the namespaces clone did not create exist now (see
    /// `init::unshare_namespaces`); the parent writes the id maps of a new
    /// user namespace and moves netDevices, then sends Go.
    Unshared,
    /// child → parent: open the source of bind mount `mounts[N]`, which
    /// the init cannot reach (see `init::bindsource`).
    MountSource(usize),
    /// parent → child: the source, opened; its O_PATH fd comes with this
    /// message (SCM_RIGHTS).
    SourceOpened,
    /// parent → child: the source could not be opened, and why (empty: rt
    /// is rootless, the init's own error stands).
    SourceRefused(String),
    /// child → parent: the process that joined a pid namespace by path, or
    /// created one with unshare, forked the container's process into it
    /// (see `init::fork_into_pid_ns`); this is its pid, and the sender
    /// exits.
    Forked(i32),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => b"G".to_vec(),
            Msg::MountsDone => b"M".to_vec(),
            Msg::Continue(state) => [b"C", state.as_bytes()].concat(),
            Msg::Ready(t) => [b"R", t.as_bytes()].concat(),
            Msg::Failed(step, m) => [b"F", step.as_bytes(), b"\0", m.as_bytes()].concat(),
            Msg::Forked(pid) => [b"P", pid.to_string().as_bytes()].concat(),
            Msg::Unshared => b"U".to_vec(),
            Msg::MountSource(i) => [b"S", i.to_string().as_bytes()].concat(),
            Msg::SourceOpened => b"O".to_vec(),
            Msg::SourceRefused(why) => [b"X", why.as_bytes()].concat(),
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        Some(match b.first()? {
            b'G' => Msg::Go,
            b'M' => Msg::MountsDone,
            b'C' => Msg::Continue(String::from_utf8_lossy(&b[1..]).into_owned()),
            b'R' => Msg::Ready(String::from_utf8_lossy(&b[1..]).into_owned()),
            b'F' => {
                let text = String::from_utf8_lossy(&b[1..]);
                let (step, msg) = text.split_once('\0')?;
                Msg::Failed(step.into(), msg.into())
            }
            b'U' => Msg::Unshared,
            b'S' => Msg::MountSource(std::str::from_utf8(&b[1..]).ok()?.parse().ok()?),
            b'O' => Msg::SourceOpened,
            b'X' => Msg::SourceRefused(String::from_utf8_lossy(&b[1..]).into_owned()),
            b'P' => Msg::Forked(std::str::from_utf8(&b[1..]).ok()?.parse().ok()?),
            _ => return None,
        })
    }
}

pub struct Channel {
    /// None once [`Channel::close`]d: the child's end goes before it waits
    /// for `start` or execs, so that it holds nothing but the fds the
    /// container may see.
    fd: RefCell<Option<OwnedFd>>,
}

/// A connected pair: (parent end, child end). Both are close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "cannot create sync socket")?;
    Ok((Channel::new(a), Channel::new(b)))
}

impl Channel {
    fn new(fd: OwnedFd) -> Channel {
        Channel {
            fd: RefCell::new(Some(fd)),
        }
    }

    fn raw(&self) -> Result<RawFd> {
        self.fd
            .borrow()
            .as_ref()
            .map(|fd| fd.as_raw_fd())
            .ok_or_else(|| Error::Init("the sync socket is closed".into()))
    }

    /// The fd, for the list of those kept when the rest are closed.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.raw().ok()
    }

    /// Close our end now; the other side reads EOF once every copy is gone.
    pub fn close(&self) {
        self.fd.borrow_mut().take();
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        let buf = msg.encode();
        send(self.raw()?, &buf, MsgFlags::MSG_NOSIGNAL)
            .ctx(|| "cannot talk to the other side of create")?;
        Ok(())
    }

    /// Send `msg` with `fd` attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, msg: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        let buf = msg.encode();
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.raw()?,
            &[IoSlice::new(&buf)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx(|| "cannot talk to the other side of create")?;
        Ok(())
    }

    /// Next message and the fd that came with it, if any (close-on-exec);
    /// `None` when the other side has gone.
    pub fn recv_with_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 8192];
        let (n, fd) = loop {
            let held = self.fd.borrow();
            let sock = held
                .as_ref()
                .ok_or_else(|| Error::Init("the sync socket is closed".into()))?;
            match crate::syscall::recv_with_fd(std::os::fd::AsFd::as_fd(sock), &mut buf) {
                Ok(r) => break (r.bytes, r.fd),
                Err(nix::Error::EINTR | nix::Error::ECONNRESET) => continue,
                Err(e) => return Err(Error::sys("cannot read the sync socket", e)),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let msg = Msg::decode(&buf[..n])
            .ok_or_else(|| Error::Init("garbled message on the sync socket".into()))?;
        Ok(Some((msg, fd)))
    }

    /// Next message, or `None` when the other side has gone.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 8192];
        loop {
            match recv(self.raw()?, &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return Msg::decode(&buf[..n])
                        .map(Some)
                        .ok_or_else(|| Error::Init("garbled message on the sync socket".into()))
                }
                Err(nix::Error::EINTR) => continue,
                // The other side closed with a message of ours unread (an
                // init that failed before reading the early Go): the error
                // is reported once, before what it sent before closing.
                Err(nix::Error::ECONNRESET) => continue,
                Err(e) => return Err(Error::sys("cannot read the sync socket", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Failed("mounts".into(), "boom: x".into()))
            .unwrap();
        a.send(&Msg::Ready("mounts=12".into())).unwrap();
        a.send(&Msg::Forked(4242)).unwrap();
        assert_eq!(
            b.recv().unwrap(),
            Some(Msg::Failed("mounts".into(), "boom: x".into()))
        );
        assert_eq!(b.recv().unwrap(), Some(Msg::Ready("mounts=12".into())));
        assert_eq!(b.recv().unwrap(), Some(Msg::Forked(4242)));
        for m in [
            Msg::Unshared,
            Msg::MountSource(7),
            Msg::SourceRefused("no".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        let file = std::fs::File::open("/").unwrap();
        a.send_with_fd(&Msg::SourceOpened, std::os::fd::AsFd::as_fd(&file))
            .unwrap();
        let (m, fd) = b.recv_with_fd().unwrap().unwrap();
        assert_eq!(m, Msg::SourceOpened);
        assert!(fd.is_some());
        a.close();
        assert!(a.send(&Msg::Go).is_err());
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn message_before_close_survives_an_unread_one() {
        let (parent, child) = pair().unwrap();
        parent.send(&Msg::Go).unwrap();
        child
            .send(&Msg::Failed("start".into(), "early".into()))
            .unwrap();
        drop(child);
        assert_eq!(
            parent.recv().unwrap(),
            Some(Msg::Failed("start".into(), "early".into()))
        );
        assert_eq!(parent.recv().unwrap(), None);
    }
}
