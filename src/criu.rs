//! A small client for criu's RPC: `criu swrk <fd>` serves one request
//! (DUMP, PRE_DUMP, RESTORE, FEATURE_CHECK, VERSION) over a SOCK_SEQPACKET
//! socketpair, one protobuf message per packet, and sends NOTIFY messages
//! (each acknowledged) until the final answer.
//!
//! The messages are the types the `rust-criu` crate generates from criu's
//! rpc.proto. Its high-level `Criu` API is not used: it cannot return the
//! restored pid, has no pre-dump, memory tracking or cgroup roots, takes
//! notify callbacks as plain fn pointers (no state, so no console socket or
//! hooks), and the cgroup of the criu process cannot be chosen before the
//! request goes out (restore puts it in the container's cgroup first, so the
//! restored tasks start there). The transport here needs no `unsafe`: nix
//! wraps socketpair and SCM_RIGHTS.

use std::collections::HashMap;
use std::io::{BufRead, ErrorKind};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use protobuf::{Message, MessageField};

use crate::error::{Context, Error, Result};

pub use rust_criu::rust_criu_protobuf::rpc;

/// Where to look for criu: `$RT_CRIU` (tests, odd installs), then PATH,
/// then the sbin directories a non-login root shell may lack in PATH.
pub fn locate() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("RT_CRIU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::CriuMissing(format!(
                "RT_CRIU names {}, which does not exist",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let p = dir.join("criu");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::CriuMissing(
        "checkpoint and restore need the criu binary in PATH (Debian: apt-get install criu)".into(),
    ))
}

/// A NOTIFY handler: script name, pid (0 when criu sends none), the fd
/// sent along.
pub type Notify<'a> = dyn FnMut(&str, i32, Option<OwnedFd>) -> Result<()> + 'a;

/// A running `criu swrk`, waiting for its request.
pub struct Worker {
    child: Child,
    sock: OwnedFd,
    /// For error messages: which criu, for which operation.
    op: &'static str,
}

impl Worker {
    /// Start `criu swrk` with one end of a fresh socketpair. Other fds criu
    /// must inherit (for inherit_fd) are those the caller opened without
    /// O_CLOEXEC (see [`set_inheritable`]).
    pub fn spawn(criu: &Path, op: &'static str) -> Result<Worker> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "cannot create the criu socket pair")?;
        // criu finds its end by number: it must survive exec.
        set_inheritable(theirs.as_raw_fd(), true)?;
        let mut cmd = Command::new(criu);
        cmd.arg("swrk").arg(theirs.as_raw_fd().to_string());
        // criu writes its log file; what it or libnftables print would
        // break rt's one-line errors (or reach a container's stdout).
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::CriuMissing(format!("{} does not exist", criu.display())),
            _ => Error::io(format!("cannot run {}", criu.display()), e),
        })?;
        drop(theirs);
        Ok(Worker {
            child,
            sock: ours,
            op,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send `req` and wait for its answer; every NOTIFY on the way goes to
    /// `notify` (script name, pid, fd sent along) and is acknowledged with
    /// its outcome. A failed notify aborts the request (criu rolls back)
    /// and is the error returned. The answer is returned whether or not it
    /// says success: the caller knows where the log is.
    pub fn call(mut self, req: &rpc::Criu_req, notify: &mut Notify<'_>) -> Result<rpc::Criu_resp> {
        let bytes = req
            .write_to_bytes()
            .map_err(|e| self.fail(format!("cannot encode the request: {e}")))?;
        self.send(&bytes)?;
        let want = req.type_();
        loop {
            let (data, fd) = self.recv()?;
            let resp = rpc::Criu_resp::parse_from_bytes(&data)
                .map_err(|e| self.fail(format!("unreadable answer from criu: {e}")))?;
            if resp.type_() == rpc::Criu_req_type::NOTIFY {
                let outcome = notify(resp.notify.script(), resp.notify.pid(), fd);
                let mut ack = rpc::Criu_req::new();
                ack.set_type(rpc::Criu_req_type::NOTIFY);
                ack.set_notify_success(outcome.is_ok());
                let ack = ack
                    .write_to_bytes()
                    .map_err(|e| self.fail(format!("cannot encode a notify answer: {e}")))?;
                self.send(&ack)?;
                if let Err(e) = outcome {
                    // criu answers the refusal by rolling back; its final
                    // answer adds nothing to our error.
                    let _ = self.recv();
                    self.reap();
                    return Err(e);
                }
                continue;
            }
            if resp.type_() != want {
                return Err(self.fail(format!(
                    "criu answered {:?} to a {want:?} request",
                    resp.type_()
                )));
            }
            if want == rpc::Criu_req_type::PRE_DUMP {
                // After a pre-dump criu waits on the connection for the
                // next pre-dump or the final dump (runc kills it too): its
                // images are complete.
                let _ = self.child.kill();
            }
            self.reap();
            return Ok(resp);
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        match send(self.sock.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(_) => Err(self.fail("short write to criu".into())),
            Err(e) => Err(self.died(&format!("cannot send to criu ({e})"))),
        }
    }

    /// One packet, with the fd criu may send along (orphan-pts-master).
    fn recv(&mut self) -> Result<(Vec<u8>, Option<OwnedFd>)> {
        let mut buf = vec![0u8; 1 << 16];
        let got = loop {
            match crate::syscall::recv_with_fd(self.sock.as_fd(), &mut buf) {
                Err(nix::Error::EINTR) => continue,
                other => break other,
            }
        };
        let (n, flags, fd) = match got {
            Ok(r) => (r.bytes, r.flags, r.fd),
            Err(e) => return Err(self.died(&format!("cannot read from criu ({e})"))),
        };
        if n == 0 {
            return Err(self.died("criu closed the connection"));
        }
        if flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(self.fail("a message from criu was larger than 64 KiB".into()));
        }
        buf.truncate(n);
        Ok((buf, fd))
    }

    fn fail(&mut self, why: String) -> Error {
        let _ = self.child.kill();
        self.reap();
        Error::Criu { op: self.op, why }
    }

    /// criu went away without an answer: say how it ended.
    fn died(&mut self, what: &str) -> Error {
        let status = self
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "status unknown".into());
        Error::Criu {
            op: self.op,
            why: format!("{what}: criu ended ({status})"),
        }
    }

    fn reap(&mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    /// A worker dropped before its answer (an error on our side) must not
    /// go on restoring or dumping: kill it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clear (or set) FD_CLOEXEC: fds handed to criu by number must survive
/// its exec.
pub fn set_inheritable(fd: RawFd, on: bool) -> Result<()> {
    let flags = if on {
        FdFlag::empty()
    } else {
        FdFlag::FD_CLOEXEC
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))
        .map(drop)
        .ctx(|| format!("cannot set close-on-exec on fd {fd}"))
}

/// A request of `kind` carrying `opts`.
pub fn request(kind: rpc::Criu_req_type, opts: Option<rpc::Criu_opts>) -> rpc::Criu_req {
    let mut req = rpc::Criu_req::new();
    req.set_type(kind);
    if let Some(o) = opts {
        req.opts = MessageField::some(o);
    }
    req
}

/// Options every request starts from: the image directory (criu opens it
/// through /proc/<rt>/fd), a log file in the work directory, log level 4
/// (what runc uses: enough to diagnose a failure), and the configuration
/// file for the container's `annotations` (see [`config_file`]).
pub fn base_opts(
    images: &impl AsFd,
    work: &impl AsFd,
    log: &str,
    annotations: Option<&HashMap<String, String>>,
) -> rpc::Criu_opts {
    let mut o = rpc::Criu_opts::new();
    o.set_images_dir_fd(images.as_fd().as_raw_fd());
    o.set_work_dir_fd(work.as_fd().as_raw_fd());
    o.set_log_file(log.to_string());
    o.set_log_level(4);
    if let Some(file) = config_file(annotations) {
        o.set_config_file(file);
    }
    o
}

/// rt's own criu configuration file, as runc has /etc/criu/runc.conf.
pub const CONFIG_FILE: &str = "/etc/criu/rt.conf";
/// The annotation naming a container's own criu configuration file.
pub const CONFIG_ANNOTATION: &str = "org.criu.config";

/// The criu configuration file for a container, chosen as runc chooses it:
/// the file its `org.criu.config` annotation names, none if that is empty,
/// and [`CONFIG_FILE`] without the annotation. criu (3.11 and later) reads
/// it, its settings overriding the request's, and skips a missing file.
/// The annotation is potentially unsafe (`rt features` says so): it makes
/// criu read any file of the host.
pub fn config_file(annotations: Option<&HashMap<String, String>>) -> Option<String> {
    match annotations.and_then(|a| a.get(CONFIG_ANNOTATION)) {
        Some(file) if file.is_empty() => None,
        Some(file) => Some(file.clone()),
        None => Some(CONFIG_FILE.to_string()),
    }
}

/// Which optional kernel features criu can use here (FEATURE_CHECK).
pub struct Features {
    pub mem_track: bool,
    pub lazy_pages: bool,
}

pub fn features(criu: &Path) -> Result<Features> {
    let worker = Worker::spawn(criu, "feature check")?;
    let mut req = request(rpc::Criu_req_type::FEATURE_CHECK, None);
    let mut want = rpc::Criu_features::new();
    want.set_mem_track(true);
    want.set_lazy_pages(true);
    req.features = MessageField::some(want);
    let resp = worker.call(&req, &mut |_, _, _| Ok(()))?;
    // criu answers success=false when any asked feature is missing, with
    // each feature's verdict in `features` either way.
    Ok(Features {
        mem_track: resp.features.mem_track(),
        lazy_pages: resp.features.lazy_pages(),
    })
}

/// One line on why criu failed: its own message if it sent one, else the
/// last errors of its log (the first ones are often probes of optional
/// kernel features that criu logs as errors and goes on without).
pub fn explain(resp: &rpc::Criu_resp, log: &Path) -> String {
    let errors = log_errors(log, 2);
    let mut why = String::new();
    // criu 3.17 sends its last log error, location and newline included.
    let own = resp
        .cr_errmsg()
        .lines()
        .map(|l| error_text(l).unwrap_or_else(|| l.trim().to_string()))
        .find(|m| !m.is_empty());
    if let Some(msg) = own.filter(|m| !m.ends_with("FAILED.")) {
        why.push_str(&msg);
    } else if !errors.is_empty() {
        why.push_str(&errors.join("; "));
    } else if resp.cr_errno() != 0 {
        why.push_str(nix::Error::from_raw(resp.cr_errno()).desc());
    } else {
        why.push_str("no reason given");
    }
    // One line, whatever criu wrote.
    let why = why.replace(['\n', '\r'], " ");
    format!("{why} (log: {})", log.display())
}

/// The last `n` `Error (...)` lines of a criu log, without their source
/// location prefix and without the final "Dumping FAILED." summary.
pub fn log_errors(log: &Path, n: usize) -> Vec<String> {
    let Ok(f) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let all: Vec<String> = std::io::BufReader::new(f)
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|l| error_text(&l))
        .filter(|m| !m.ends_with("FAILED."))
        .collect();
    all[all.len().saturating_sub(n)..].to_vec()
}

/// "(00.01) Error (criu/x.c:12): what" → "what".
fn error_text(line: &str) -> Option<String> {
    let at = line.find("Error (")?;
    let rest = &line[at..];
    Some(
        rest.split_once("): ")
            .map(|(_, m)| m)
            .unwrap_or(rest)
            .trim()
            .to_string(),
    )
}

/// Does the log say criu could not probe the kernel at all (what `criu
/// check` tests)? Then nothing was dumped and the cause is the host.
pub fn kernel_unsupported(log: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(log) else {
        return false;
    };
    text.lines().any(|l| {
        l.contains("Error (")
            && (l.contains("kerndat")
                || l.contains("vdso")
                || l.contains("kernel features detection"))
    })
}

/// Run `criu check` and return its first error, or None when it says
/// "Looks good".
pub fn check(criu: &Path) -> Option<String> {
    // Without the host's default config, which may send criu's messages
    // to a log file of its choosing (runc's checkpoint.bats leaves one that
    // does): rt reports what criu check says.
    let out = Command::new(criu)
        .args(["--no-default-config", "check"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("Error") {
        return None;
    }
    let first = text.lines().filter_map(error_text).next();
    Some(first.unwrap_or_else(|| format!("criu check exited with {}", out.status)))
}

/// `criu --version` → "3.17.1" (for messages).
pub fn version(criu: &Path) -> String {
    let out = Command::new(criu)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Version: ").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// When criu failed on a kernel it cannot probe: the `criu check`
/// failure, naming criu's version and the kernel; None when `criu check`
/// passes (then the failure is something else).
pub fn host_unsupported(criu: &Path) -> Option<Error> {
    let why = check(criu)?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Some(Error::CriuCheck(format!(
        "{why} (criu {}, kernel {kernel}): this criu cannot checkpoint or restore on this kernel",
        version(criu)
    )))
}

/// Remove nftables table `name` (family inet) from the network namespace
/// of `pid`; Ok(false) when there is no such table.
///
/// criu 3.17 dumps a container's nftables rules while its own lock table
/// (`inet CRIU-<pid at dump>`) is in place, restores it with the rest, and
/// then unlocks by a name made from the new pid: the restored network would
/// stay blocked. Restore removes the old table itself (in the
/// network-unlock notification, before the tasks resume).
pub fn delete_nft_table(pid: i32, name: &str) -> Result<bool> {
    use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
    let theirs = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .ctx(|| format!("cannot open the network namespace of {pid}"))?;
    let ours =
        std::fs::File::open("/proc/self/ns/net").ctx(|| "cannot open rt's network namespace")?;
    // A netlink socket belongs to the namespace it was made in: make it
    // there, then come straight back.
    nix::sched::setns(&theirs, nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| format!("cannot enter the network namespace of {pid}"))?;
    let made = Socket::new(NETLINK_NETFILTER);
    nix::sched::setns(&ours, nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| "cannot return to rt's network namespace")?;
    let mut sock = made.ctx(|| "cannot open a netfilter netlink socket")?;
    sock.bind_auto()
        .ctx(|| "cannot bind the netfilter netlink socket")?;
    sock.connect(&SocketAddr::new(0, 0))
        .ctx(|| "cannot connect the netfilter netlink socket")?;
    sock.send(&nft_delete_table_batch(name), 0)
        .ctx(|| "cannot send to nftables")?;
    // One answer per message that asked for an ACK: the delete.
    let mut buf = vec![0u8; 8192];
    let n = sock
        .recv(&mut &mut buf[..], 0)
        .ctx(|| "cannot read nftables' answer")?;
    match netlink_error(&buf[..n.min(buf.len())]) {
        Some(0) => Ok(true),
        Some(e) if -e == libc::ENOENT => Ok(false),
        Some(e) => Err(Error::sys(
            format!("cannot delete nftables table inet {name}"),
            nix::Error::from_raw(-e),
        )),
        None => Err(Error::Init("unexpected answer from nftables".into())),
    }
}

/// NFNL batch: begin, NFT_MSG_DELTABLE (inet, name) with an ACK, end.
fn nft_delete_table_batch(name: &str) -> Vec<u8> {
    const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    const NFNL_MSG_BATCH_END: u16 = 0x11;
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_DELTABLE: u16 = 2;
    const NFTA_TABLE_NAME: u16 = 1;
    const NFPROTO_INET: u8 = 1;
    let flags_req = libc::NLM_F_REQUEST as u16;
    let mut out = Vec::new();
    let mut msg = |kind: u16, flags: u16, family: u8, res_id: u16, attrs: &[u8], seq: u32| {
        let len = 16 + 4 + attrs.len();
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version, resource id (big endian)
        out.push(family);
        out.push(0);
        out.extend_from_slice(&res_id.to_be_bytes());
        out.extend_from_slice(attrs);
    };
    let mut attr = Vec::new();
    let value: Vec<u8> = name.bytes().chain(std::iter::once(0)).collect();
    attr.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    attr.extend_from_slice(&NFTA_TABLE_NAME.to_ne_bytes());
    attr.extend_from_slice(&value);
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    msg(
        NFNL_MSG_BATCH_BEGIN,
        flags_req,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
        1,
    );
    msg(
        (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE,
        flags_req | libc::NLM_F_ACK as u16,
        NFPROTO_INET,
        0,
        &attr,
        2,
    );
    msg(
        NFNL_MSG_BATCH_END,
        flags_req,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
        3,
    );
    out
}

/// The error code of the first NLMSG_ERROR message in `buf` (0: an ACK).
fn netlink_error(buf: &[u8]) -> Option<i32> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().ok()?);
        if kind == libc::NLMSG_ERROR as u16 {
            return Some(i32::from_ne_bytes(
                buf.get(at + 16..at + 20)?.try_into().ok()?,
            ));
        }
        if len < 16 {
            return None;
        }
        at += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_is_chosen_as_runc_chooses_it() {
        let with = |v: &str| HashMap::from([(CONFIG_ANNOTATION.to_string(), v.to_string())]);
        assert_eq!(config_file(None).as_deref(), Some("/etc/criu/rt.conf"));
        assert_eq!(
            config_file(Some(&HashMap::new())).as_deref(),
            Some("/etc/criu/rt.conf")
        );
        assert_eq!(
            config_file(Some(&with("/srv/c1.conf"))).as_deref(),
            Some("/srv/c1.conf")
        );
        assert_eq!(config_file(Some(&with(""))), None);
    }

    /// Every request carries it: dump, pre-dump and restore start here.
    #[test]
    fn requests_carry_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let fd = std::fs::File::open(dir.path()).unwrap();
        let o = base_opts(&fd, &fd, "dump.log", None);
        assert_eq!(o.config_file(), "/etc/criu/rt.conf");
        let annotations = HashMap::from([(CONFIG_ANNOTATION.to_string(), String::new())]);
        let o = base_opts(&fd, &fd, "dump.log", Some(&annotations));
        assert!(o.config_file.is_none());
    }
}
