//! The state store: one directory per container under `--root`.
//!
//! `<root>/<id>/state.json` is replaced atomically (write + rename), so a
//! reader never sees a half-written file. Commands that change a container
//! hold an exclusive `flock` on its directory; `create` wins an id by
//! `mkdir`, which is atomic, so of N racing creates exactly one succeeds.
//! The status is never trusted from disk alone: it is derived from the
//! recorded pid *and* that process's start time, so a recycled pid is not
//! mistaken for the container.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupPaths;
use crate::error::{Context, Error, Result};
// The format of state.json's `created`.
pub use crate::time::now_rfc3339;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What rt records about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// `Creating` until the init process reports it is ready, then `Created`;
    /// later statuses are derived, never stored.
    pub phase: Status,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat when the container was created.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub cgroups: CgroupPaths,
    /// Whether the container has a pid namespace of its own: then killing
    /// init kills everything, otherwise `delete` must sweep the cgroup.
    pub own_pid_ns: bool,
    /// The resctrl groups `delete` removes (`linux.intelRdt`).
    #[serde(default, flatten)]
    pub intel_rdt: crate::intelrdt::Groups,
    /// `--no-new-keyring` at create: exec keeps the caller's keyring too.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// The config the container was created from (exec takes its process
    /// defaults from it; delete its poststop hooks).
    #[serde(default)]
    pub config: oci_spec::runtime::Spec,
}

/// The OCI state document (runtime spec, "State"), plus the fields runc
/// adds, in the order runc writes them (`state`, `list --format json`):
/// scripts match the text.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
    pub owner: &'a str,
}

pub const OCI_VERSION: &str = "1.3.0";

/// Container ids become directory names: allow what runc allows.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidId {
            id: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id == "." || id == ".." {
        return bad("reserved name");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

pub struct Store {
    root: PathBuf,
}

/// A container directory held under an exclusive lock.
pub struct Locked {
    pub dir: PathBuf,
    _lock: Flock<File>,
}

impl Locked {
    /// In a child forked while the lock was held: close the child's copy
    /// of the descriptor and keep the lock. A flock belongs to the open
    /// file description, which parent and child share, so dropping `Flock`
    /// here (it unlocks) would release the parent's lock too.
    pub fn close_in_child(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // The descriptor is still owned by the ManuallyDrop'ed Flock, which
        // never runs its destructor: nothing else will close it.
        let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(&*me._lock));
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn ensure_root(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .ctx(|| format!("cannot create state root {}", self.root.display()))
    }

    /// Claim `id`: exactly one caller can succeed, the rest get `Exists`.
    pub fn claim(&self, id: &str) -> Result<Locked> {
        validate_id(id)?;
        self.ensure_root()?;
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(Error::io(format!("cannot create {}", dir.display()), e)),
        }
        let lock = lock_dir(&dir)?;
        Ok(Locked { dir, _lock: lock })
    }

    /// Lock an existing container's directory. Fails with `NotFound` if it
    /// vanished, including while we waited for the lock.
    pub fn lock(&self, id: &str) -> Result<Locked> {
        validate_id(id)?;
        let dir = self.dir(id);
        let lock = match lock_dir(&dir) {
            Ok(l) => l,
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e),
        };
        // A concurrent delete may have removed the directory while we waited.
        if !dir.exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(Locked { dir, _lock: lock })
    }

    pub fn load(&self, id: &str) -> Result<State> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            // A directory without state.json is a create between its claim
            // and its first save, or one killed there: nothing to report
            // yet, as runc says too (`delete --force` removes the directory).
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::CorruptState {
            id: id.to_string(),
            why: e.to_string(),
        })
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state)
            .map_err(|e| Error::Init(format!("cannot encode state: {e}")))?;
        // The state lives on a tmpfs (/run) and dies with the machine:
        // atomic is enough, durable is not needed.
        crate::atomic::write(&self.dir(&state.id).join(STATE_FILE), &data, 0o600, false)
    }

    /// Remove a container's directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<()> {
        match fs::remove_dir_all(self.dir(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("cannot remove state of {id}"), e)),
        }
    }

    /// Ids of every container directory, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("cannot list {}", self.root.display()), e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Is some process (a running `create`) holding this container's lock?
    pub fn is_locked(&self, id: &str) -> bool {
        let Ok(f) = File::open(self.dir(id)) else {
            return false;
        };
        Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err()
    }
}

fn lock_dir(dir: &Path) -> Result<Flock<File>> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .ctx(|| format!("cannot open {}", dir.display()))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("cannot lock {}", dir.display()), e))
}

/// Start time (clock ticks since boot) of `pid`, or None if it does not exist
/// or is a zombie (a zombie container has exited: only its status remains).
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); starttime is field 22.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether process `pid` has a descriptor open on `path`'s inode; true when
/// its fd table cannot be read, so that callers fall back to the path.
pub fn holds_file(pid: i32, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = fs::metadata(path) else {
        return false;
    };
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    // metadata() follows each /proc/<pid>/fd link to the open file itself.
    fds.flatten().any(|fd| {
        fs::metadata(fd.path()).is_ok_and(|m| m.dev() == want.dev() && m.ino() == want.ino())
    })
}

impl State {
    /// Is the recorded init process still the live container process?
    pub fn alive(&self) -> bool {
        self.pid > 0 && process_start_time(self.pid) == Some(self.pid_start_time)
    }

    pub fn status(&self, store: &Store) -> Status {
        if self.phase == Status::Creating {
            // Before clone the pid is 0 and a create at work holds the lock.
            // After it, an init whose create died stays half-made until
            // `delete` kills it (it waits at the exec fifo for ever once
            // Ready): creating while it lives, never stopped with a live pid.
            let working = self.alive() || (self.pid == 0 && store.is_locked(&self.id));
            return if working {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !self.alive() {
            return Status::Stopped;
        }
        let fifo = store.dir(&self.id).join(EXEC_FIFO);
        // A start killed after it released the init leaves the fifo behind:
        // created only while the init still holds it (exec(2) closes it).
        if fifo.exists() && holds_file(self.pid, &fifo) {
            return Status::Created;
        }
        if self.cgroups.is_frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn oci<'a>(&'a self, status: Status) -> OciState<'a> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_id(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn own_start_time_is_read() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }
}
