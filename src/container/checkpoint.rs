//! `rt checkpoint`: dump a running container with criu, as runc does.
//!
//! criu freezes the container's cgroup, dumps every process of its tree and
//! the namespaces they created into the image directory, then (unless
//! `--leave-running` or `--pre-dump`) kills them; rt then removes the
//! container (cgroups, state), as runc does, so that `rt restore` can bring
//! it back under the same id. Beside criu's images rt writes
//! `rt-checkpoint.json` (the container's state and config, how its stdio and
//! mounts were dumped) and a copy of `config.json`: all that restore needs
//! besides the rootfs and the sources of bind mounts.
//!
//! What criu cannot see from inside the container is declared external, so
//! that restore can supply it: bind mounts and the cgroup mount (by their
//! destination), a network namespace joined by path, and stdio that is not a
//! file of the container (a host file or terminal: `file[...]`/`tty[...]`;
//! pipes need nothing at dump).
//!
//! If criu fails, the container is left as it was: criu thaws what it froze
//! and kills nothing before its images are complete. A host whose kernel
//! this criu cannot handle (what `criu check` reports) gets one line saying
//! so.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use crate::criu::{self, rpc, Worker};
use crate::error::{Context, Error, Result};
use crate::logging;
use crate::state::{State, Status, Store};

/// rt's own file in an image directory.
pub const META_FILE: &str = "rt-checkpoint.json";
const META_VERSION: u32 = 1;
/// The key criu gets for a network namespace joined by path (runc's name).
pub const EXT_NETNS: &str = "extRootNetNS";

/// What `rt restore` needs besides criu's images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub version: u32,
    /// The container as it was dumped (id, bundle, rootfs, config, cgroups).
    pub state: State,
    /// fds 0-2 of the init, as dumped.
    pub stdio: Vec<StdioFd>,
    /// Destinations of the mounts dumped as external (bind and cgroup
    /// mounts); restore maps each to its source.
    pub ext_mounts: Vec<ExtMount>,
    /// The network namespace was joined by path: restore joins the
    /// config's path again.
    pub external_netns: bool,
    /// process.terminal: criu hands restore a new pty master.
    pub terminal: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub empty_netns: bool,
    /// criu's network lock method (restore must unlock with the same).
    pub network_lock: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StdioFd {
    pub fd: i32,
    /// readlink of /proc/<pid>/fd/<fd>: `pipe:[123]`, `/dev/null`, ...
    pub link: String,
    /// The key criu dumped it under when it was external
    /// (`file[mnt:ino]`, `tty[rdev:dev]`).
    pub external: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtMount {
    /// Mount point inside the container (criu's key).
    pub dest: String,
    /// What it is, so restore can find its new source.
    pub kind: ExtKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtKind {
    /// A bind mount from config: its `source`.
    Bind,
    /// The container's cgroup (unified, or one v1 hierarchy by name).
    Cgroup { hierarchy: Option<String> },
}

/// `--manage-cgroups-mode`, as runc spells it.
pub fn cgroups_mode(s: &str) -> Result<rpc::Criu_cg_mode> {
    Ok(match s {
        "soft" => rpc::Criu_cg_mode::SOFT,
        "full" => rpc::Criu_cg_mode::FULL,
        "strict" => rpc::Criu_cg_mode::STRICT,
        "ignore" => rpc::Criu_cg_mode::IGNORE,
        other => {
            return Err(Error::Usage(format!(
                "--manage-cgroups-mode {other:?}: soft, full, strict or ignore"
            )))
        }
    })
}

/// `--empty-ns`: criu can leave only the network namespace empty.
pub fn empty_ns(names: &[String]) -> Result<bool> {
    let mut net = false;
    for n in names {
        match n.as_str() {
            "network" | "net" => net = true,
            other => {
                return Err(Error::Usage(format!(
                    "--empty-ns {other:?}: criu supports only \"network\""
                )))
            }
        }
    }
    Ok(net)
}

/// `--parent-path` names the images of an earlier pre-dump relative to
/// `--image-path` (criu resolves it there): checked before criu runs, so a
/// wrong one is named, as runc names it, instead of criu's "invalid
/// request".
fn check_parent(images: &Path, parent: &Path) -> Result<()> {
    if parent.is_absolute() {
        return Err(Error::Usage(format!(
            "--parent-path {} must be relative to --image-path",
            parent.display()
        )));
    }
    let dir = images.join(parent);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Usage(format!(
            "invalid --parent-path: {} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(Error::Usage(format!(
            "invalid --parent-path: {}: {e}",
            dir.display()
        ))),
    }
}

#[derive(Default, Clone)]
pub struct CheckpointOptions {
    pub id: String,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    /// Images of a previous pre-dump, relative to `image_path` (criu's rule).
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
    /// `ADDRESS:PORT` criu serves pages from (lazy pages) or sends them to.
    pub page_server: Option<String>,
    /// An fd of ours criu writes a byte to once lazy pages can be served.
    pub status_fd: Option<i32>,
}

/// What one dump produced, for `migrate`'s accounting.
pub struct Dumped {
    /// Bytes of page images written by this dump (pages-*.img).
    pub page_bytes: u64,
}

pub fn checkpoint(store: &Store, opts: &CheckpointOptions) -> Result<Dumped> {
    let _locked = store.lock(&opts.id)?;
    let (st, _) = super::load_in(
        store,
        &opts.id,
        &[Status::Running, Status::Paused],
        "checkpoint a container that is not running",
    )?;
    let dumped = dump(&st, opts)?;
    if !opts.leave_running && !opts.pre_dump {
        // criu killed every process of the container once its images were
        // complete; the container is gone, as after runc's checkpoint.
        if !super::wait_exit(&st, 10_000)? {
            return Err(Error::Init(format!(
                "container {} still runs after criu dumped it",
                st.id
            )));
        }
        super::delete::destroy(store, &st)?;
    }
    Ok(dumped)
}

/// Dump (or pre-dump) `st` into `opts.image_path`; the caller holds the
/// container's lock. The container keeps running when `leave_running` or
/// `pre_dump` is set.
pub fn dump(st: &State, opts: &CheckpointOptions) -> Result<Dumped> {
    // What depends on the options and the config alone, before anything
    // is written.
    let empty_netns = empty_ns(&opts.empty_ns)?;
    if opts.pre_dump && opts.lazy_pages {
        return Err(Error::Usage(
            "--pre-dump and --lazy-pages cannot be combined".into(),
        ));
    }
    let mode = opts
        .manage_cgroups_mode
        .as_deref()
        .map(cgroups_mode)
        .transpose()?;
    for m in external_mounts_of(&st.config) {
        criu_key(&clean_dest(m.destination()))?;
    }
    // Made next, as runc makes it: --parent-path is resolved under it.
    let images = open_dir(&opts.image_path, true)?;
    if let Some(parent) = &opts.parent_path {
        check_parent(&opts.image_path, parent)?;
    }
    let criu = criu::locate()?;
    if opts.pre_dump || opts.lazy_pages {
        let f = match criu::features(&criu) {
            Ok(f) => f,
            Err(e) => return Err(host_or(&criu, e)),
        };
        // A kernel criu cannot probe reports every feature missing: name
        // the real cause.
        let missing = (opts.pre_dump && !f.mem_track) || (opts.lazy_pages && !f.lazy_pages);
        if missing {
            if let Some(e) = criu::host_unsupported(&criu) {
                return Err(e);
            }
        }
        if opts.pre_dump && !f.mem_track {
            return Err(Error::Usage(
                "--pre-dump: criu reports no memory tracking (soft-dirty bits) on this kernel"
                    .into(),
            ));
        }
        if opts.lazy_pages && !f.lazy_pages {
            return Err(Error::Usage(
                "--lazy-pages: criu reports no lazy-pages support (userfaultfd) on this kernel"
                    .into(),
            ));
        }
    }
    let work_dir = opts
        .work_path
        .clone()
        .unwrap_or_else(|| opts.image_path.clone());
    let work = open_dir(&work_dir, true)?;
    let log_name = if opts.pre_dump {
        "pre-dump.log"
    } else {
        "dump.log"
    };
    let log = work_dir.join(log_name);
    let before = page_bytes(&opts.image_path);

    let terminal = st
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mounts = mount_points(st.pid)?;
    let stdio = stdio(st.pid, &mounts)?;
    let ext_mounts = external_mounts(st, &mounts);
    let external_netns = joined_netns(&st.config);
    // An init that is not the leader of its own session (a container
    // started without a terminal keeps its caller's session) can only be
    // dumped as a shell job: criu then leaves session and process group to
    // whoever restores it.
    let shell_job = opts.shell_job || !session_leader(st.pid)?;

    let mut o = criu::base_opts(&images, &work, log_name, st.config.annotations().as_ref());
    o.set_pid(st.pid);
    o.set_root(st.rootfs.to_string_lossy().into_owned());
    o.set_manage_cgroups(true);
    if let Some(m) = mode {
        o.set_manage_cgroups_mode(m);
    }
    if let Some(dir) = &st.cgroups.freezer {
        // Freezing the cgroup stops every task at once (and new forks);
        // criu leaves a cgroup that was frozen (paused) frozen.
        o.set_freeze_cgroup(dir.to_string_lossy().into_owned());
    }
    o.set_leave_running(opts.leave_running);
    o.set_tcp_established(opts.tcp_established);
    o.set_ext_unix_sk(opts.ext_unix_sk);
    o.set_shell_job(shell_job);
    o.set_file_locks(opts.file_locks);
    o.set_auto_dedup(opts.auto_dedup);
    o.set_orphan_pts_master(terminal);
    let lock = network_lock_for(st.pid)?;
    o.set_network_lock(lock_method(&lock));
    if empty_netns {
        o.set_empty_ns(libc::CLONE_NEWNET as u32);
    }
    if let Some(parent) = &opts.parent_path {
        o.set_parent_img(parent.to_string_lossy().into_owned());
    }
    if opts.pre_dump || opts.parent_path.is_some() {
        o.set_track_mem(true);
    }
    if opts.lazy_pages {
        o.set_lazy_pages(true);
        if let Some(fd) = opts.status_fd {
            o.set_status_fd(fd);
        }
    }
    if let Some(ps) = &opts.page_server {
        o.ps = protobuf::MessageField::some(page_server(ps)?);
    }
    for m in &ext_mounts {
        let mut e = rpc::Ext_mount_map::new();
        e.set_key(m.dest.clone());
        e.set_val(m.dest.clone());
        o.ext_mnt.push(e);
    }
    o.external
        .extend(stdio.iter().filter_map(|s| s.external.clone()));
    if external_netns {
        let ns = fs::metadata(format!("/proc/{}/ns/net", st.pid))
            .ctx(|| "cannot stat the container's network namespace")?;
        o.external.push(format!("net[{}]:{EXT_NETNS}", ns.ino()));
    }

    let kind = if opts.pre_dump {
        rpc::Criu_req_type::PRE_DUMP
    } else {
        rpc::Criu_req_type::DUMP
    };
    let op = if opts.pre_dump { "pre-dump" } else { "dump" };
    let worker = Worker::spawn(&criu, op)?;
    let resp = worker.call(&criu::request(kind, Some(o)), &mut |_, _, _| Ok(()))?;
    if !resp.success() {
        if criu::kernel_unsupported(&log) {
            if let Some(e) = criu::host_unsupported(&criu) {
                return Err(e);
            }
        }
        return Err(Error::Criu {
            op,
            why: criu::explain(&resp, &log),
        });
    }
    let dumped = Dumped {
        page_bytes: page_bytes(&opts.image_path).saturating_sub(before),
    };
    if opts.pre_dump {
        return Ok(dumped);
    }
    let meta = Meta {
        version: META_VERSION,
        state: st.clone(),
        stdio,
        ext_mounts,
        external_netns,
        terminal,
        tcp_established: opts.tcp_established,
        ext_unix_sk: opts.ext_unix_sk,
        shell_job,
        file_locks: opts.file_locks,
        empty_netns,
        network_lock: lock,
    };
    write_meta(&opts.image_path, &meta)?;
    logging::debug(&format!(
        "checkpointed {} into {}",
        st.id,
        opts.image_path.display()
    ));
    Ok(dumped)
}

/// Whether `pid` leads its session and process group (fields 5 and 6 of
/// /proc/<pid>/stat, after the command name).
fn session_leader(pid: i32) -> Result<bool> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).ctx(|| format!("cannot read {path}"))?;
    let rest = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (Some(pgrp), Some(sid)) = (f.get(2), f.get(3)) else {
        return Err(Error::Init(format!("{path}: unexpected format")));
    };
    let me = pid.to_string();
    Ok(*pgrp == me && *sid == me)
}

/// How criu keeps the network still while it dumps: nftables (through
/// libnftables inside criu: no iptables binaries or xtables modules), except
/// for a container with its own network namespace and interfaces besides
/// loopback: iptables, criu's default, as runc uses. criu 3.17 dumps its own
/// nftables lock table with the namespace's rules (restore removes it, see
/// criu::delete_nft_table); where traffic can come from outside while the
/// tasks are frozen, the lock must hold for sure.
fn network_lock_for(pid: i32) -> Result<String> {
    let theirs = fs::metadata(format!("/proc/{pid}/ns/net"))
        .ctx(|| "cannot stat the container's network namespace")?;
    let ours = fs::metadata("/proc/self/ns/net").ctx(|| "cannot stat rt's network namespace")?;
    if theirs.ino() == ours.ino() && theirs.dev() == ours.dev() {
        return Ok("nftables".into());
    }
    let dev = fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .ctx(|| "cannot list the container's network interfaces")?;
    let only_lo = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .all(|name| name.trim() == "lo");
    Ok(if only_lo { "nftables" } else { "iptables" }.into())
}

/// The criu option for a method recorded by `network_lock_for`.
pub fn lock_method(name: &str) -> rpc::Criu_network_lock_method {
    match name {
        "iptables" => rpc::Criu_network_lock_method::IPTABLES,
        _ => rpc::Criu_network_lock_method::NFTABLES,
    }
}

/// An error from criu before any dump: the host's kernel when `criu check`
/// fails, else the error itself.
pub fn host_or(criu: &Path, e: Error) -> Error {
    criu::host_unsupported(criu).unwrap_or(e)
}

fn page_server(s: &str) -> Result<rpc::Criu_page_server_info> {
    let (addr, port) = s
        .rsplit_once(':')
        .ok_or_else(|| Error::Usage(format!("--page-server {s:?}: expected ADDRESS:PORT")))?;
    let port: i32 = port
        .parse()
        .map_err(|_| Error::Usage(format!("--page-server {s:?}: bad port")))?;
    let mut ps = rpc::Criu_page_server_info::new();
    ps.set_address(addr.to_string());
    ps.set_port(port);
    Ok(ps)
}

/// Create (when asked) and open a directory for criu, which reaches it
/// through /proc/<rt>/fd/N. It must be rt's caller's (root's, or the
/// rootless user's) and not writable by every user: criu writes its log
/// and images there and restore takes hooks, the rootfs and processes from
/// them, so another user who can change them can change what runs (issue
/// 16, F6). Checked on the open directory, which is what criu gets.
pub fn open_dir(path: &Path, create: bool) -> Result<fs::File> {
    if create {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .ctx(|| format!("cannot create {}", path.display()))?;
    }
    let dir = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .ctx(|| format!("cannot open {}", path.display()))?;
    let meta = dir
        .metadata()
        .ctx(|| format!("cannot stat {}", path.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::Usage(format!(
            "{} is owned by uid {}, not {me}: refusing checkpoint files another user can change",
            path.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o002 != 0 {
        return Err(Error::Usage(format!(
            "{} is writable by every user (mode {:o}): refusing checkpoint files another user can change",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(dir)
}

/// criu restores memory from the images of earlier pre-dumps through
/// `parent` links: each must pass [`open_dir`]'s check too.
pub fn check_parents(images: &Path) -> Result<()> {
    // Far more than a migration's pre-dumps; a cycle stops here.
    const DEPTH: usize = 64;
    let mut dir = images.join("parent");
    for _ in 0..DEPTH {
        if !dir.exists() {
            return Ok(());
        }
        open_dir(&dir, false)?;
        dir = dir.join("parent");
    }
    Err(Error::Usage(format!(
        "{}: more than {DEPTH} parent image directories",
        images.display()
    )))
}

/// Total size of criu's page images in `dir` (0 if none).
pub fn page_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Write the metadata and a copy of config.json, each atomically.
fn write_meta(dir: &Path, meta: &Meta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| Error::Init(format!("cannot encode {META_FILE}: {e}")))?;
    crate::atomic::write(&dir.join(META_FILE), &json, 0o600, true)?;
    let config = serde_json::to_vec_pretty(&meta.state.config)
        .map_err(|e| Error::Init(format!("cannot encode config.json: {e}")))?;
    crate::atomic::write(&dir.join("config.json"), &config, 0o600, true)
}

/// Read the metadata of an image directory opened by [`open_dir`] (shown
/// as `dir`): from that directory, not by its path again.
pub fn read_meta(images: &fs::File, dir: &Path) -> Result<Meta> {
    let path = dir.join(META_FILE);
    let read = crate::syscall::openat(
        std::os::fd::AsFd::as_fd(images),
        META_FILE,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
    )
    .map_err(std::io::Error::from)
    .and_then(|fd| {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut fs::File::from(fd), &mut data).map(|_| data)
    });
    let data = match read {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Usage(format!(
                "{} holds no complete rt checkpoint ({META_FILE} is missing)",
                dir.display()
            )))
        }
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let meta: Meta = serde_json::from_slice(&data)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    if meta.version != META_VERSION {
        return Err(Error::Usage(format!(
            "{}: version {} (this rt reads {META_VERSION})",
            path.display(),
            meta.version
        )));
    }
    Ok(meta)
}

/// One line of /proc/<pid>/mountinfo: mount id and mount point.
pub struct MountPoint {
    pub id: u64,
    pub point: String,
}

/// The mounts of the container's mount namespace, as its init sees them.
pub fn mount_points(pid: i32) -> Result<Vec<MountPoint>> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = fs::read_to_string(&path).ctx(|| format!("cannot read {path}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let point = f.nth(3)?;
            Some(MountPoint {
                id,
                point: unescape(point),
            })
        })
        .collect())
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The init's stdio, and for each fd that criu cannot reach from inside
/// the container (a host file or terminal) the external key it is dumped
/// under; restore passes rt's own fd for it.
fn stdio(pid: i32, mounts: &[MountPoint]) -> Result<Vec<StdioFd>> {
    let internal: BTreeSet<u64> = mounts.iter().map(|m| m.id).collect();
    let mut out = Vec::new();
    for fd in 0..3 {
        let Ok(link) = fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
            continue;
        };
        let link = link.to_string_lossy().into_owned();
        let mut external = None;
        if link.starts_with('/') {
            let meta = fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                .ctx(|| format!("cannot stat fd {fd} of the container"))?;
            let mnt_id = fdinfo_mnt_id(pid, fd)?;
            if !internal.contains(&mnt_id) {
                let tty =
                    meta.file_type_is_char() && matches!(major(meta.rdev()), 4 | 5 | 136..=143);
                external = Some(if tty {
                    format!("tty[{:x}:{:x}]", meta.rdev(), meta.dev())
                } else {
                    format!("file[{mnt_id:x}:{:x}]", meta.ino())
                });
            }
        }
        out.push(StdioFd { fd, link, external });
    }
    Ok(out)
}

trait CharDev {
    fn file_type_is_char(&self) -> bool;
}

impl CharDev for fs::Metadata {
    fn file_type_is_char(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.file_type().is_char_device()
    }
}

fn major(rdev: u64) -> u64 {
    ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)
}

fn fdinfo_mnt_id(pid: i32, fd: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/fdinfo/{fd}");
    let text = fs::read_to_string(&path).ctx(|| format!("cannot read {path}"))?;
    crate::init::fdinfo_mount_id(&text).ok_or_else(|| Error::Init(format!("{path} has no mnt_id")))
}

/// A destination as a clean absolute path (criu compares mount points as
/// strings).
pub fn clean_dest(p: &Path) -> String {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.to_string_lossy().into_owned()
}

/// The config's mounts whose sources live outside the container (bind and
/// cgroup mounts): criu dumps them as external, under their destination.
fn external_mounts_of(spec: &Spec) -> impl Iterator<Item = &oci_spec::runtime::Mount> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m) || matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
}

/// A mount destination as criu's key for an external mount, which criu
/// keeps as `mnt[KEY]:VALUE` and finds again by the text up to `]:`. A
/// destination holding `]:` cannot be read back as itself: its entry would
/// answer for a shorter key, and restore would bind a value made of the
/// rest of that text (runc CVE-2026-119101, crun CVE-2026-115520, where an
/// image's symlinks or volumes chose the destination). Such a container is
/// refused, at checkpoint and at restore.
pub fn criu_key(dest: &str) -> Result<()> {
    if dest.contains("]:") {
        return Err(Error::Config(format!(
            "mount destination {dest:?} holds \"]:\", which criu cannot tell apart in an external mount's key: refusing to checkpoint or restore it"
        )));
    }
    Ok(())
}

/// Whether an OCI mount is a bind mount (runc's rule: the type, or a bind
/// option).
pub fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The config's bind and cgroup mounts that exist in the container (their
/// sources live outside it).
fn external_mounts(st: &State, mounts: &[MountPoint]) -> Vec<ExtMount> {
    let present: BTreeSet<&str> = mounts.iter().map(|m| m.point.as_str()).collect();
    let mut out = Vec::new();
    for m in external_mounts_of(&st.config) {
        let dest = clean_dest(m.destination());
        let fstype = m.typ().as_deref().unwrap_or_default();
        if fstype == "cgroup" || fstype == "cgroup2" {
            if st.cgroups.unified {
                out.push(ExtMount {
                    dest,
                    kind: ExtKind::Cgroup { hierarchy: None },
                });
            } else {
                // v1: a tmpfs (dumped with the container) holding one bind
                // per hierarchy, named after its mount point.
                for dir in st
                    .cgroups
                    .dirs
                    .iter()
                    .filter(|d| st.cgroups.controllers.values().any(|c| c == *d))
                {
                    if let Ok(name) = st.cgroups.hierarchy_name(dir) {
                        let name = name.to_string_lossy().into_owned();
                        out.push(ExtMount {
                            dest: format!("{dest}/{name}"),
                            kind: ExtKind::Cgroup {
                                hierarchy: Some(name),
                            },
                        });
                    }
                }
            }
        } else {
            out.push(ExtMount {
                dest,
                kind: ExtKind::Bind,
            });
        }
    }
    out.retain(|m| present.contains(m.dest.as_str()));
    out.dedup_by(|a, b| a.dest == b.dest);
    out
}

/// The config joins an existing network namespace by path.
pub fn joined_netns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dests_are_clean() {
        assert_eq!(clean_dest(Path::new("/data/")), "/data");
        assert_eq!(clean_dest(Path::new("a//b/./c")), "/a/b/c");
        assert_eq!(clean_dest(Path::new("/a/../b")), "/b");
    }

    #[test]
    fn modes() {
        assert!(cgroups_mode("soft").is_ok());
        assert!(cgroups_mode("full").is_ok());
        assert!(cgroups_mode("bogus").is_err());
        assert!(empty_ns(&["network".into()]).unwrap_or(false));
        assert!(empty_ns(&["pid".into()]).is_err());
    }

    #[test]
    fn majors() {
        // /dev/pts/3 is 136:3; /dev/null 1:3.
        assert_eq!(major(libc::makedev(136, 3)), 136);
        assert_eq!(major(libc::makedev(1, 3)), 1);
    }
}
