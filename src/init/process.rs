//! The last steps of init: process attributes (rlimits, oom score, user and
//! groups, umask, working directory), finding the program, and exec.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd::{faccessat, setgroups, setresgid, setresuid, AccessFlags, Gid, Uid};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType, User};

use crate::error::{Context, Error, Result};
use crate::syscall;

pub fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        setrlimit(resource(r.typ()), r.soft(), r.hard()).ctx(|| {
            format!(
                "cannot set {} to soft {} hard {} (raising a hard limit needs CAP_SYS_RESOURCE)",
                crate::spec::name(&r.typ()),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

pub fn set_oom_score_adj(proc: &super::procfs::HostProc, score: i32) -> Result<()> {
    proc.write("thread-self/oom_score_adj", &score.to_string())
        .ctx(|| format!("cannot set oom_score_adj to {score}"))
}

/// The process's terminal, or without one its stdio, owned by the user it
/// runs as, as runc does (fixStdioPermissions): a non-root program must be
/// able to reopen its tty and /dev/stdout. Only the owner changes (the
/// group is the devpts mount's `gid=`); what the user owns already, and
/// what we may not chown (EPERM: an owner outside our user namespace;
/// EROFS), are left alone, as runc leaves them.
///
/// Of stdio, only pipes and sockets are given: their inodes have no path,
/// so the chown grants nothing but reopening them through /proc/self/fd
/// (engines pass pipes). runc also chowns a host file or terminal it is
/// handed as stdio (`runc run -d > log`, or from a shell): that would give
/// a host path — a log file, the caller's own terminal — to the
/// container's uid, so rt leaves those as they are (README).
pub fn give_stdio(uid: u32, pty: Option<&OwnedFd>) -> Result<()> {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let fds = match pty {
        Some(slave) => vec![slave.as_fd()],
        None => stdio
            .into_iter()
            .filter(|fd| {
                // A closed stdio fd fails fstatfs: nothing to give.
                nix::sys::statfs::fstatfs(fd).is_ok_and(|fs| {
                    // The field's C type differs between C libraries.
                    let magic = i128::from(fs.filesystem_type().0);
                    magic == PIPEFS_MAGIC || magic == SOCKFS_MAGIC
                })
            })
            .collect(),
    };
    for fd in fds {
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| "cannot stat the process's stdio")?;
        if st.st_uid == uid {
            continue;
        }
        match nix::unistd::fchown(fd.as_raw_fd(), Some(Uid::from_raw(uid)), None) {
            Ok(()) | Err(nix::Error::EPERM | nix::Error::EROFS) => {}
            Err(e) => {
                return Err(Error::sys(
                    format!("cannot give the process's stdio to uid {uid}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// linux/magic.h: the filesystems of anonymous pipes and of sockets.
const PIPEFS_MAGIC: i128 = 0x5049_5045;
const SOCKFS_MAGIC: i128 = 0x534f_434b;

/// Switch to the container user, keeping the permitted capabilities so the
/// configured sets can be applied afterwards.
pub fn switch_user(user: &User, in_userns: bool) -> Result<()> {
    syscall::set_keep_caps(true).ctx(|| "cannot keep capabilities across setuid")?;
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace whose setgroups is denied, setgroups fails; only
    // an explicit request for supplementary groups makes that an error.
    match setgroups(&gids) {
        Ok(()) => {}
        Err(_) if in_userns && gids.is_empty() => {}
        Err(e) => return Err(Error::sys("cannot set supplementary groups", e)),
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("cannot set gid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("cannot set uid {uid}"))?;
    syscall::set_keep_caps(false).ctx(|| "cannot reset keep-caps")
}

/// Whether process.cwd and every path the program may be found at resolve
/// inside the process's root (openat2 RESOLVE_IN_ROOT), with no magic link
/// (/proc/self/fd/N could name a directory or binary of the host that rt
/// still has open: CVE-2024-21626, CVE-2019-5736) and no `..` above it.
///
/// Worked out by [`confine`] before the seccomp filter of step 11 (see
/// `init/mod.rs`): pathrs needs openat2, and when a call fails it reads
/// /proc/thread-self to describe it (faccessat2...); a profile that denies
/// these (the runtime-tools suite's, older Docker ones) made pathrs panic
/// and the init die with SIGSEGV. The answer depends on the path only, not
/// on who asks, so it is found as root; chdir (as root first, see
/// [`enter_cwd_as_root`]) and the final user's execute check come later,
/// with plain syscalls.
pub struct Confined {
    /// Device and inode of the confined process.cwd.
    cwd: (u64, u64),
    /// Each candidate of [`find_program`], and whether it resolves confined.
    programs: Vec<(PathBuf, std::result::Result<(), String>)>,
}

pub fn confine(cwd: &Path, prog: &str, env: &[String]) -> Result<Confined> {
    let root = std::fs::File::open("/").ctx(|| "cannot open /")?;
    let what = || format!("cannot enter process.cwd {}", cwd.display());
    let dir = resolve(root.as_fd(), cwd, true).ctx(what)?;
    let st = nix::sys::stat::fstat(dir.as_fd().as_raw_fd()).ctx(what)?;
    // execve resolves a relative name against the working directory: so
    // does the check (F1c: a relative program through a symlink in
    // process.cwd).
    let programs = candidates(prog, env)
        .into_iter()
        .map(|p| {
            let start = if p.is_absolute() {
                root.as_fd()
            } else {
                dir.as_fd()
            };
            let confined = resolve(start, &p, p.is_absolute())
                .map(drop)
                .map_err(|e| format!("{}: {}", p.display(), e.desc().to_lowercase()));
            (p, confined)
        })
        .collect();
    Ok(Confined {
        cwd: (st.st_dev, st.st_ino),
        programs,
    })
}

/// An O_PATH handle on `path` without magic links, resolved from `start`:
/// inside it as a root when `in_root`, else as a relative name is (see
/// `inroot`). Plain openat2 rather than pathrs: after pivot_root pathrs
/// describes a failed lookup through the container's /proc, which the
/// image may fake (and pathrs 0.2 panics when it is not a procfs).
fn resolve(start: BorrowedFd<'_>, path: &Path, in_root: bool) -> nix::Result<OwnedFd> {
    if in_root {
        super::inroot::resolve(start, path, false)
    } else {
        super::inroot::resolve_relative(start, path)
    }
}

/// Make `cwd` the working directory before the user switch, with root's
/// privileges, as runc does: a cwd that root may enter but the user may
/// not (a 0700 /root for uid 42) works. False when root is refused (root
/// squashed on NFS, a directory only the user's id may enter): then
/// [`enter_cwd`] tries again as the user.
pub fn enter_cwd_as_root(cwd: &Path, confined: &Confined) -> Result<bool> {
    match nix::unistd::chdir(cwd) {
        Ok(()) => check_cwd(cwd, confined).map(|()| true),
        Err(nix::Error::EACCES | nix::Error::EPERM) => Ok(false),
        Err(e) => Err(Error::sys(
            format!("cannot enter process.cwd {}", cwd.display()),
            e,
        )),
    }
}

/// Make `cwd` the working directory as the final user.
pub fn enter_cwd(cwd: &Path, confined: &Confined) -> Result<()> {
    nix::unistd::chdir(cwd).ctx(|| format!("cannot enter process.cwd {}", cwd.display()))?;
    check_cwd(cwd, confined)
}

/// The working directory entered must be the directory [`confine`]
/// resolved inside the root.
fn check_cwd(cwd: &Path, confined: &Confined) -> Result<()> {
    let what = || format!("cannot enter process.cwd {}", cwd.display());
    let st = nix::sys::stat::stat(".").ctx(what)?;
    if (st.st_dev, st.st_ino) != confined.cwd {
        return Err(Error::Init(format!(
            "{}: it changed while rt entered it",
            what()
        )));
    }
    Ok(())
}

pub fn set_umask(umask: u32) {
    nix::sys::stat::umask(Mode::from_bits_truncate(umask));
}

/// Find `prog` as execvp would, in the container's PATH, checking that the
/// final user may execute it. Errors read like runc's, which clients parse
/// (a missing file, a file that may not run).
pub fn find_program(prog: &str, env: &[String], confined: &Confined) -> Result<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        check_executable(&p, confined)
            .map_err(|e| Error::Init(format!("exec: {prog:?}: {}", e.text)))?;
        return Ok(p);
    }
    let mut denied = None;
    for candidate in candidates(prog, env) {
        match check_executable(&candidate, confined) {
            Ok(()) => return Ok(candidate),
            // As execvp: EACCES is remembered and reported if nothing
            // runnable comes later in PATH.
            Err(e) if e.errno == nix::Error::EACCES => denied = Some(e),
            Err(_) => {}
        }
    }
    match denied {
        Some(e) => Err(Error::Init(format!("exec: {prog:?}: {}", e.text))),
        None => Err(Error::Init(format!(
            "exec: {prog:?}: executable file not found in $PATH: no such file or directory"
        ))),
    }
}

/// Where execvp would look for `prog`: itself when it holds a slash, else
/// each directory of the container's PATH.
fn candidates(prog: &str, env: &[String]) -> Vec<PathBuf> {
    if prog.contains('/') {
        return vec![PathBuf::from(prog)];
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(prog))
        .collect()
}

/// Why a candidate cannot run: the errno execve would fail with, and
/// runc's words for it.
struct NotRunnable {
    errno: nix::Error,
    text: String,
}

fn check_executable(p: &Path, confined: &Confined) -> std::result::Result<(), NotRunnable> {
    let io = |e: std::io::Error| NotRunnable {
        errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        text: format!("stat {}: {}", p.display(), lower(&e)),
    };
    let meta = std::fs::metadata(p).map_err(io)?;
    // It must also resolve confined to the container's root: no magic link
    // (under /proc/self/fd/N or at /proc/self/exe a program can be a host
    // binary: CVE-2024-21626, CVE-2019-5736), no `..` above the root.
    let refused = |text: String| NotRunnable {
        errno: nix::Error::ELOOP,
        text,
    };
    match confined.programs.iter().find(|(c, _)| c == p) {
        Some((_, verdict)) => verdict.clone().map_err(refused)?,
        None => {
            return Err(refused(format!(
                "{}: not checked for confinement",
                p.display()
            )))
        }
    }
    if meta.is_dir() {
        return Err(NotRunnable {
            errno: nix::Error::EACCES,
            text: format!("{} is a directory: permission denied", p.display()),
        });
    }
    // With the effective ids and capabilities, which execve checks: a
    // file only root's execute bit allows runs with CAP_DAC_OVERRIDE
    // (access(2) would judge by the real uid without capabilities).
    let verdict = match faccessat(None, p, AccessFlags::X_OK, AtFlags::AT_EACCESS) {
        // glibc asks faccessat2, which an allow-list older than the call
        // denies (EPERM: runtime-tools' conformance profile, Docker's
        // before 20.10) once the filter of a process without no_new_privs
        // is in place: judge by the mode, as runc (Go's exec.LookPath) does.
        Err(nix::Error::EPERM | nix::Error::ENOSYS) => executable_by_mode(&meta),
        other => other,
    };
    verdict.map_err(|errno| NotRunnable {
        errno,
        text: format!("{}: {}", p.display(), errno.desc().to_lowercase()),
    })
}

/// Whether the effective ids may execute a file of this mode: root
/// (CAP_DAC_OVERRIDE) needs one execute bit, anyone else the bit of the
/// class they fall in.
fn executable_by_mode(meta: &std::fs::Metadata) -> nix::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    let euid = nix::unistd::geteuid();
    let bit = if euid.is_root() {
        0o111
    } else if meta.uid() == euid.as_raw() {
        0o100
    } else {
        let egid = nix::unistd::getegid();
        let groups = nix::unistd::getgroups().unwrap_or_default();
        if meta.gid() == egid.as_raw() || groups.iter().any(|g| g.as_raw() == meta.gid()) {
            0o010
        } else {
            0o001
        }
    };
    if mode & bit != 0 {
        Ok(())
    } else {
        Err(nix::Error::EACCES)
    }
}

fn lower(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

fn cstrings<'a>(items: impl Iterator<Item = &'a [u8]>) -> Result<Vec<CString>> {
    items
        .map(|b| {
            CString::new(b).map_err(|_| {
                Error::Config("process.args and env must not contain NUL bytes".into())
            })
        })
        .collect()
}

/// Replace this process with the container program. Returns only on error.
pub fn exec(program: &Path, args: &[String], env: &[String]) -> Error {
    let prepared = (|| -> Result<(CString, Vec<CString>, Vec<CString>)> {
        let path = CString::new(program.as_os_str().as_bytes())
            .map_err(|_| Error::Config("program path has a NUL byte".into()))?;
        Ok((
            path,
            cstrings(args.iter().map(|a| a.as_bytes()))?,
            cstrings(env.iter().map(|e| e.as_bytes()))?,
        ))
    })();
    match prepared {
        Ok((path, argv, envp)) => match nix::unistd::execve(&path, &argv, &envp) {
            Err(errno) => Error::Exec {
                program: program.to_path_buf(),
                errno,
            },
            Ok(never) => match never {},
        },
        Err(e) => e,
    }
}
