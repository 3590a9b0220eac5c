//! What the store knows of a container: `containers/<id>/container.json` (how it was
//! asked for, fixed at `create`) and `state.json` (what it is doing now, rewritten at
//! each transition). Both are written atomically; lookups go by id, unique id prefix or
//! name, as Docker's do.
//!
//! Data only, below [`crate::container`], [`crate::network`] and [`crate::volume`],
//! which all read it; the network settings it holds are in [`net`].

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::store::{lock_file, Store};

pub mod net;
pub use net::{Link, NetworkMode, PortBinding, Proto};

pub const RECORD: &str = "container.json";
pub const STATE: &str = "state.json";

/// How the root filesystem is made: an overlay mount over the stored layers, or a copy
/// of the merged layers (where overlayfs is unavailable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Overlay,
    Copy,
}

/// The process and environment, from the image config merged with the command line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    pub hostname: String,
    pub user: String,
    pub env: Vec<String>,
    /// The full command: entrypoint followed by cmd (Docker keeps them apart for
    /// `inspect`; both are here too).
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
}

impl Config {
    pub fn args(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

/// One mount of the container besides its root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host path: the volume's data directory or the bound path (empty for tmpfs).
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
    /// tmpfs mount options (size=, mode=).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// An anonymous volume made for this container (removed with `rm -v` and `--rm`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// Resources and wiring: Docker's HostConfig.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HostConfig {
    pub network: NetworkMode,
    pub ports: Vec<PortBinding>,
    pub links: Vec<Link>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub auto_remove: bool,
    pub volumes_from: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as named on the command line, and what it resolved to.
    pub image: String,
    pub image_id: Digest,
    pub layers: Vec<Digest>,
    pub driver: Driver,
    pub config: Config,
    pub host: HostConfig,
    pub mounts: Vec<MountPoint>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// The container's place on the bridge while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub veth: String,
    /// Published ports with the host port each got.
    pub ports: Vec<PortBinding>,
    /// Ports served by the monitor's userland proxy instead of nftables.
    #[serde(default)]
    pub proxied: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's init (host pid) and its start time in clock ticks, which tells
    /// it apart from a later process that got the same pid.
    pub pid: i32,
    pub pid_start: u64,
    /// The rt-stage process supervising it (see `monitor`).
    pub monitor: i32,
    pub exit_code: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub error: Option<String>,
    pub restart_count: u32,
}

impl State {
    /// Running, and the process recorded is still the one alive under that pid.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running && process_alive(self.pid, self.pid_start)
    }

    /// The container has ended with `code`: nothing of its run is left.
    pub fn mark_exited(&mut self, code: i32) {
        self.status = Status::Exited;
        self.exit_code = code;
        self.pid = 0;
        self.pid_start = 0;
        self.monitor = 0;
        self.endpoint = None;
        self.finished_at = Some(now());
    }
}

/// Start time (field 22 of /proc/PID/stat) of a live process.
pub fn process_start(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); a zombie has exited already.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

pub fn process_alive(pid: i32, start: u64) -> bool {
    process_start(pid).is_some_and(|s| start == 0 || s == start)
}

pub fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// 64 random hex digits, Docker's id form.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .at("read", Path::new("/dev/urandom"))?;
    Ok(hex::encode(bytes))
}

/// A name when none is given: adjective_scientist, as Docker's are, picked by bytes of
/// the id; one not in `taken` (with part of the id appended if all picks are).
pub fn random_name(id: &str, taken: &[&str]) -> String {
    const LEFT: [&str; 16] = [
        "admiring", "brave", "calm", "dazzling", "eager", "focused", "gallant", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "quirky", "serene", "vibrant",
    ];
    const RIGHT: [&str; 16] = [
        "babbage", "curie", "dijkstra", "euler", "fermi", "goodall", "hopper", "lamport",
        "lovelace", "mccarthy", "noether", "pike", "ritchie", "shannon", "thompson", "turing",
    ];
    let bytes = hex::decode(id).unwrap_or_default();
    let picks = bytes.chunks(2).filter(|p| p.len() == 2).map(|p| {
        format!(
            "{}_{}",
            LEFT[p[0] as usize % LEFT.len()],
            RIGHT[p[1] as usize % RIGHT.len()]
        )
    });
    let mut first = None;
    for name in picks {
        if !taken.contains(&name.as_str()) {
            return name;
        }
        first.get_or_insert(name);
    }
    format!(
        "{}_{}",
        first.unwrap_or_else(|| "container".into()),
        &id[..8.min(id.len())]
    )
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::json(path.display().to_string(), e)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at("read", path),
    }
}

/// A record is only trusted with the id form rt-stage writes (64 hex digits), which
/// the rest of the code shortens and puts into names and paths.
fn checked(c: Container, path: &Path) -> Result<Container> {
    if c.id.len() == 64 && c.id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(c)
    } else {
        Err(Error::invalid(
            path.display().to_string(),
            format!("container id {:?}", c.id),
        ))
    }
}

impl Store {
    pub fn container_record(&self, id: &str) -> Result<Container> {
        let p = self.container_dir(id)?.join(RECORD);
        let c = read_json(&p)?.ok_or_else(|| Error::NoSuchContainer(id.to_string()))?;
        checked(c, &p)
    }

    pub fn save_container_record(&self, c: &Container) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(c).map_err(|e| Error::json(RECORD, e))?;
        self.write_file_atomic(&self.container_dir(&c.id)?.join(RECORD), &bytes, 0o600)
    }

    /// The state; a container created but never started has the default one.
    pub fn container_state(&self, id: &str) -> Result<State> {
        Ok(read_json(&self.container_dir(id)?.join(STATE))?.unwrap_or_default())
    }

    pub fn save_container_state(&self, id: &str, s: &State) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| Error::json(STATE, e))?;
        self.write_file_atomic(&self.container_dir(id)?.join(STATE), &bytes, 0o600)
    }

    /// Read-modify-write of the state (callers hold the container's lock when it
    /// matters that nobody else writes in between).
    pub fn update_container_state(&self, id: &str, f: impl FnOnce(&mut State)) -> Result<State> {
        let mut s = self.container_state(id)?;
        f(&mut s);
        self.save_container_state(id, &s)?;
        Ok(s)
    }

    /// Every container with a record, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let dir = self.root().join("containers");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at("read", &dir)? {
            let p = e.at("read", &dir)?.path().join(RECORD);
            if let Some(c) = read_json::<Container>(&p)? {
                out.push(checked(c, &p)?);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// A container by full id, name (with or without Docker's leading '/') or unique
    /// id prefix.
    pub fn find_container(&self, query: &str) -> Result<Container> {
        let all = self.containers()?;
        let name = query.strip_prefix('/').unwrap_or(query);
        if let Some(c) = all.iter().find(|c| c.id == query || c.name == name) {
            return Ok(c.clone());
        }
        let hits: Vec<&Container> = if query.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|c| c.id.starts_with(query)).collect()
        };
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(query.to_string())),
            _ => Err(Error::Usage(format!(
                "multiple containers found with provided prefix: {query}"
            ))),
        }
    }

    /// Held while names are checked and records written, so two `create`s cannot take
    /// the same name, and while a container is removed.
    pub fn lock_containers(&self) -> Result<File> {
        lock_file(&self.root().join("containers.lock"))
    }

    /// One container's lock: held by whoever starts or tears it down.
    pub fn lock_container(&self, id: &str) -> Result<File> {
        lock_file(&self.container_dir(id)?.join("lock"))
    }
}
