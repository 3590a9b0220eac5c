//! `rt migrate ID --to ROOT`: move a running container to another rt state
//! root (beyond runc), with nothing lost if any step fails.
//!
//! 1. Pre-dumps while the container runs: the first copies all its memory,
//!    each next one only the pages dirtied since (criu's memory tracking),
//!    so the final pause is short.
//! 2. The container is frozen (its cgroup), then dumped with
//!    `leave_running`: criu leaves a frozen cgroup frozen, so the original
//!    stays intact, stopped at exactly the dumped point.
//! 3. Its frozen processes move to a frozen sibling cgroup, which frees the
//!    container's cgroup path for the copy (both use the config's
//!    cgroupsPath), and the copy is restored under ROOT.
//! 4. Only then is the original killed and its state removed; the copy takes
//!    over the cgroup directories the original had created.
//!
//! If a step fails the original goes back to its cgroup and is thawed (left
//! paused if it was paused): it runs on from where it stopped, and the
//! failed restore has already removed what it made.

use std::path::{Path, PathBuf};

use crate::cgroups::{CgroupPaths, Layout, Remove};
use crate::error::{Error, Result};
use crate::logging;
use crate::state::{self, Status, Store};

use super::checkpoint::{self as ck, CheckpointOptions};
use super::restore::{self, RestoreOptions};

/// Suffix of the cgroup that holds the frozen original during the restore.
const HOLD_SUFFIX: &str = ".rt-migrate";

#[derive(Default)]
pub struct MigrateOptions {
    pub id: String,
    /// The rt state root the container moves to.
    pub to: PathBuf,
    /// Id under the new root (default: the same).
    pub new_id: Option<String>,
    /// Where the images go (default: a fresh directory in $TMPDIR, removed
    /// afterwards unless `keep_images`).
    pub image_path: Option<PathBuf>,
    pub keep_images: bool,
    /// Pre-dump iterations before the final dump.
    pub pre_dumps: u32,
    /// A bundle whose config.json the copy uses (default: the original's).
    pub bundle: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: Option<String>,
}

/// What a migration did (for the caller's report).
pub struct Migrated {
    pub pid: i32,
    /// Page bytes written by each pre-dump, then by the final dump.
    pub page_bytes: Vec<u64>,
}

pub fn migrate(store: &Store, opts: &MigrateOptions) -> Result<Migrated> {
    let new_id = opts.new_id.clone().unwrap_or_else(|| opts.id.clone());
    state::validate_id(&new_id)?;
    let target = Store::new(&opts.to);
    if same_dir(store.root(), target.root()) && new_id == opts.id {
        return Err(Error::Usage(format!(
            "--to {}: the container is already there (give another root or --new-id)",
            opts.to.display()
        )));
    }
    if target.dir(&new_id).exists() {
        return Err(Error::Exists(format!(
            "{new_id} under {}",
            opts.to.display()
        )));
    }
    let _locked = store.lock(&opts.id)?;
    let (st, status) = super::load_in(
        store,
        &opts.id,
        &[Status::Running, Status::Paused],
        "migrate a container that is not running",
    )?;
    let was_paused = status == Status::Paused;
    if has_child_cgroups(&st.cgroups) {
        return Err(Error::Usage(format!(
            "container {} has cgroups of its own below its cgroup: migrate cannot move them",
            opts.id
        )));
    }
    // A directory of rt's own: whoever can change the images between dump
    // and restore decides what the copy runs (see checkpoint::open_dir).
    let (images, temporary) = match &opts.image_path {
        Some(p) => (p.clone(), false),
        None => (
            crate::atomic::private_dir(&std::env::temp_dir(), &format!("rt-migrate-{}-", opts.id))?,
            true,
        ),
    };
    if let Err(e) = ck::open_dir(&images, true) {
        if temporary {
            let _ = std::fs::remove_dir_all(&images);
        }
        return Err(e);
    }
    let result = run(store, &target, &st, &new_id, &images, was_paused, opts);
    if (temporary || result.is_ok()) && !opts.keep_images {
        let _ = std::fs::remove_dir_all(&images);
    }
    result
}

fn run(
    store: &Store,
    target: &Store,
    st: &state::State,
    new_id: &str,
    images: &Path,
    was_paused: bool,
    opts: &MigrateOptions,
) -> Result<Migrated> {
    let base = CheckpointOptions {
        id: st.id.clone(),
        tcp_established: opts.tcp_established,
        ext_unix_sk: opts.ext_unix_sk,
        shell_job: opts.shell_job,
        file_locks: opts.file_locks,
        manage_cgroups_mode: opts.manage_cgroups_mode.clone(),
        ..Default::default()
    };
    let mut page_bytes = Vec::new();
    let mut parent: Option<String> = None;
    for i in 1..=opts.pre_dumps {
        let dir = format!("pre-{i}");
        let d = ck::dump(
            st,
            &CheckpointOptions {
                image_path: images.join(&dir),
                parent_path: parent.as_ref().map(|p| PathBuf::from(format!("../{p}"))),
                pre_dump: true,
                ..base.clone()
            },
        )?;
        logging::debug(&format!(
            "migrate {}: pre-dump {i} wrote {} bytes of pages",
            st.id, d.page_bytes
        ));
        page_bytes.push(d.page_bytes);
        parent = Some(dir);
    }

    if !was_paused {
        st.cgroups.set_frozen(true)?;
    }
    let thaw = |e: Error| {
        if !was_paused {
            if let Err(t) = st.cgroups.thaw() {
                logging::warn(&format!(
                    "migrate {}: cannot thaw after failure: {t}",
                    st.id
                ));
            }
        }
        e
    };
    let final_dir = images.join("final");
    let d = ck::dump(
        st,
        &CheckpointOptions {
            image_path: final_dir.clone(),
            parent_path: parent.as_ref().map(|p| PathBuf::from(format!("../{p}"))),
            leave_running: true,
            ..base.clone()
        },
    )
    .map_err(thaw)?;
    logging::debug(&format!(
        "migrate {}: final dump wrote {} bytes of pages",
        st.id, d.page_bytes
    ));
    page_bytes.push(d.page_bytes);
    if !st.cgroups.is_frozen() {
        return Err(thaw(Error::Init(format!(
            "container {} was thawed during its dump; not migrating",
            st.id
        ))));
    }

    // Free the cgroup path for the copy.
    let hold = match hold_aside(st) {
        Ok(h) => h,
        Err(e) => return Err(thaw(e)),
    };
    let restored = restore::restore_container(
        target,
        &RestoreOptions {
            id: new_id.to_string(),
            image_path: final_dir,
            bundle: opts.bundle.clone(),
            detach: true,
            pid_file: opts.pid_file.clone(),
            console_socket: opts.console_socket.clone(),
            manage_cgroups_mode: opts.manage_cgroups_mode.clone(),
            ..Default::default()
        },
    );
    let restored = match restored {
        Ok((r, _)) => r,
        Err(e) => {
            let back = bring_back(st, &hold, was_paused);
            return Err(match back {
                Ok(()) => Error::Init(format!(
                    "migrate of {} failed, the container runs on under {}: {e}",
                    st.id,
                    store.root().display()
                )),
                Err(b) => Error::Init(format!(
                    "migrate of {} failed ({e}) and the original could not be resumed: {b}",
                    st.id
                )),
            });
        }
    };

    // The copy runs: the original goes. Its cgroup directories now belong
    // to the copy, which must remove them when it is deleted.
    kill_held(&hold);
    if let Err(e) = hold.remove_dirs(Remove::Used) {
        logging::warn(&format!("migrate {}: {e}", st.id));
    }
    let mut copy = restored.state;
    let mut created = st.cgroups.created.clone();
    created.extend(
        copy.cgroups
            .created
            .iter()
            .filter(|d| !st.cgroups.created.contains(d))
            .cloned(),
    );
    copy.cgroups.created = created;
    {
        let _l = target.lock(new_id)?;
        target.save(&copy)?;
    }
    store.remove(&st.id)?;
    Ok(Migrated {
        pid: restored.pid.as_raw(),
        page_bytes,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn has_child_cgroups(cg: &CgroupPaths) -> bool {
    cg.dirs.iter().any(|d| {
        std::fs::read_dir(d)
            .map(|e| e.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir())))
            .unwrap_or(false)
    })
}

/// Move the frozen original into a frozen sibling cgroup (`<leaf>.rt-migrate`).
fn hold_aside(st: &state::State) -> Result<CgroupPaths> {
    let leaf = st
        .cgroups
        .rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rel = st
        .cgroups
        .rel
        .with_file_name(format!("{leaf}{HOLD_SUFFIX}"));
    let mut hold = CgroupPaths::plan(&Layout::detect()?, &rel);
    let made = hold.create();
    let moved = made
        .and_then(|()| hold.set_frozen(true))
        .and_then(|()| move_all(&st.cgroups, &hold));
    if let Err(e) = moved {
        let _ = move_all(&hold, &st.cgroups);
        let _ = hold.remove_dirs(Remove::Used);
        return Err(e);
    }
    // Empty now; a frozen cgroup would freeze the restored tasks.
    st.cgroups.thaw()?;
    Ok(hold)
}

/// Undo `hold_aside` after a failed restore, and resume the original.
fn bring_back(st: &state::State, hold: &CgroupPaths, was_paused: bool) -> Result<()> {
    st.cgroups.set_frozen(true)?;
    move_all(hold, &st.cgroups)?;
    if let Err(e) = hold.remove_dirs(Remove::Used) {
        logging::warn(&format!("migrate {}: {e}", st.id));
    }
    if !was_paused {
        st.cgroups.thaw()?;
    }
    Ok(())
}

fn move_all(from: &CgroupPaths, to: &CgroupPaths) -> Result<()> {
    for pid in from.pids()? {
        match to.add_process(pid) {
            Ok(()) => {}
            // Gone meanwhile (it was frozen, but SIGKILL still works).
            Err(_) if state::process_start_time(pid).is_none() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// SIGKILL every held process (a v1 frozen task dies only once thawed).
fn kill_held(hold: &CgroupPaths) {
    for _ in 0..200 {
        let pids = hold.pids().unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = hold.thaw();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
