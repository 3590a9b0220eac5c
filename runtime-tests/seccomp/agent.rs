//! The test's seccomp agent: it listens where `listenerPath` points, takes
//! the listener fd and the container process state rt sends, and answers
//! one notification.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What the test's seccomp agent saw.
pub struct Agent {
    pub state: Value,
    pub nr: i32,
}

/// Accept one connection on `listener`, take the fd and the state, answer
/// one notification with errno `answer`.
pub fn serve(listener: UnixListener, answer: i32) -> Agent {
    let deadline = Instant::now() + Duration::from_secs(30);
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("the agent got no connection: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking stream");
    let mut payload = Vec::new();
    let mut fd = None;
    loop {
        let mut buf = [0u8; 4096];
        let msg = rt::syscall::recv_with_fd(stream.as_fd(), &mut buf).expect("recvmsg");
        if msg.fd.is_some() {
            fd = msg.fd;
        }
        let n = msg.bytes;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    let state: Value = serde_json::from_slice(&payload).expect("container process state JSON");
    let fd = fd.expect("no seccomp fd in SCM_RIGHTS");
    let nr = answer_one(&fd, answer);
    Agent { state, nr }
}

/// SECCOMP_IOCTL_NOTIF_RECV one notification and fail it with `errno`.
fn answer_one(fd: &OwnedFd, errno: i32) -> i32 {
    let notif = rt::syscall::seccomp_notif_recv(fd.as_fd()).expect("NOTIF_RECV");
    let resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    rt::syscall::seccomp_notif_send(fd.as_fd(), &resp).expect("NOTIF_SEND");
    notif.data.nr
}
