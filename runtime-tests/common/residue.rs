//! What a deleted container must not leave behind: its state directory, a
//! cgroup in any hierarchy, a mount on the host, a live process.

use std::fs;
use std::path::Path;

use super::procfs;

/// A process that belonged to a container.
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    pub pid: i32,
    /// Known when the process was seen alive; identifies it if its pid is
    /// recycled later.
    pub start: Option<u64>,
}

/// Every cgroup hierarchy root: /sys/fs/cgroup itself (unified) and each
/// directory below it (v1 controllers, hybrid's unified).
pub fn hierarchies() -> Vec<std::path::PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut all = vec![base.to_path_buf()];
    all.extend(
        fs::read_dir(base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    all
}

/// Directories named /sys/fs/cgroup/*/rt-test/<name>.
pub fn cgroup_dirs(name: &str) -> Vec<String> {
    hierarchies()
        .into_iter()
        .map(|h| h.join("rt-test").join(name))
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect()
}

/// Host mounts whose line mentions `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy();
    procfs::read("/proc/self/mountinfo")
        .lines()
        .filter(|l| l.contains(needle.as_ref()))
        .map(str::to_string)
        .collect()
}

/// Is the tracked process still running? Without a recorded start time, a
/// live process with that pid is the container's only if it is still in the
/// container's cgroup (a recycled pid is not).
fn alive(t: &Tracked, cgroup_name: &str) -> bool {
    let Some(start) = procfs::start_time(t.pid) else {
        return false;
    };
    match t.start {
        Some(s) => s == start,
        None => fs::read_to_string(format!("/proc/{}/cgroup", t.pid))
            .is_ok_and(|c| c.contains(&format!("/rt-test/{cgroup_name}\n"))),
    }
}

/// Processes of container `id` found by scanning /proc, for when its pids
/// are unknown (a failed create): those still in its cgroup, and inits that
/// never got there, which still carry rt's command line naming the id.
pub fn processes_of(id: &str, cgroup_name: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let in_cgroup = format!("/rt-test/{cgroup_name}\n");
    procfs::pids()
        .into_iter()
        .filter(|pid| *pid != me && procfs::start_time(*pid).is_some())
        .filter(|pid| {
            let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            cmdline.split('\0').any(|arg| arg == id) || cgroup.contains(&in_cgroup)
        })
        .collect()
}

/// Everything left of container `id` after its delete, one line each.
pub fn problems(
    id: &str,
    state_dir: &Path,
    cgroup_name: &str,
    tmp: &Path,
    pids: &[Tracked],
) -> Vec<String> {
    let mut out = Vec::new();
    if state_dir.exists() {
        out.push(format!("state directory {} is left", state_dir.display()));
    }
    out.extend(
        cgroup_dirs(cgroup_name)
            .into_iter()
            .map(|d| format!("cgroup {d} is left")),
    );
    out.extend(
        mounts_mentioning(tmp)
            .into_iter()
            // rt's binary, kept mounted between starts (rt::exeseal::ATTACHED):
            // a test that runs a copy of rt from its tmp dir attaches that.
            .filter(|m| m.split(' ').nth(4) != Some("/run/rt-mntns/exe"))
            .map(|m| format!("host mount is left: {m}")),
    );
    out.extend(
        pids.iter()
            .filter(|t| alive(t, cgroup_name))
            .map(|t| format!("process {} is still alive", t.pid)),
    );
    out.extend(
        processes_of(id, cgroup_name)
            .into_iter()
            .map(|p| format!("process {p} of the container is still alive")),
    );
    out
}
