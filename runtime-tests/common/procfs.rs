//! Reading what a container did from /proc text: status fields, mountinfo
//! lines, process identity. The same parsers serve output printed inside a
//! container and files read from the host.

use std::fs;
use std::path::Path;

/// The value of `Field:` in /proc/<pid>/status text.
pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in status:\n{status}"))
        .trim()
        .to_string()
}

/// One line of /proc/<pid>/mountinfo.
#[derive(Debug, Clone)]
pub struct MountLine {
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, ...).
    pub options: Vec<String>,
    /// Propagation tags (shared:N, master:N, ...).
    pub tags: Vec<String>,
    pub fstype: String,
    /// Per-superblock options (size=, mode=, ...).
    pub super_options: Vec<String>,
}

impl MountLine {
    pub fn has_option(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }

    pub fn has_super_option(&self, o: &str) -> bool {
        self.super_options.iter().any(|x| x == o)
    }

    pub fn has_tag(&self, prefix: &str) -> bool {
        self.tags.iter().any(|t| t.starts_with(prefix))
    }
}

fn split_commas(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

/// Parse mountinfo text; lines that are not mountinfo (other output of the
/// same container) are skipped.
pub fn mountinfo(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(MountLine {
                root: l[3].to_string(),
                mount_point: l[4].to_string(),
                options: split_commas(l[5]),
                tags: l[6..].iter().map(|s| s.to_string()).collect(),
                fstype: r[0].to_string(),
                super_options: split_commas(r[2]),
            })
        })
        .collect()
}

/// The last (topmost) mount at `mount_point`.
pub fn mount_at(mounts: &[MountLine], mount_point: &str) -> MountLine {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .cloned()
        .unwrap_or_else(|| panic!("no mount at {mount_point} in {mounts:#?}"))
}

/// The fields of /proc/<pid>/stat after the command name (field 3, the
/// state, first; field 4, the parent's pid, next), or None when the
/// process is gone.
pub fn stat(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split(' ').map(str::to_owned).collect())
}

/// The pids /proc lists now.
pub fn pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Field 22 of /proc/<pid>/stat (start time in clock ticks), or None when
/// the process is gone or a zombie (it has exited then).
pub fn start_time(pid: i32) -> Option<u64> {
    let rest = stat(pid)?;
    if matches!(rest.first().map(String::as_str), Some("Z") | Some("X")) {
        return None;
    }
    rest.get(19)?.parse().ok()
}

/// The namespace link of `pid` ("net:[4026531840]").
pub fn ns_link(pid: &str, ns: &str) -> String {
    let path = format!("/proc/{pid}/ns/{ns}");
    fs::read_link(&path)
        .unwrap_or_else(|e| panic!("readlink {path}: {e}"))
        .to_string_lossy()
        .into_owned()
}

pub fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The lines of /proc/<pid>/cgroup text (`4:memory:/x`) whose hierarchy
/// this mount namespace mounts in /sys/fs/cgroup: cgroup2's (id 0), and
/// each v1 hierarchy's mounted in one of its directories. A v1 hierarchy
/// can live on mounted only in another mount namespace; neither rt nor
/// runc can place a container in it, nor find it without mountinfo.
pub fn cgroup_lines_mounted_here(cgroup: &str) -> Vec<&str> {
    let mounts = mountinfo(&read("/proc/self/mountinfo"));
    let mounted = |controllers: &str| {
        mounts.iter().any(|m| {
            m.fstype == "cgroup"
                && Path::new(&m.mount_point).parent() == Some(Path::new("/sys/fs/cgroup"))
                && controllers.split(',').all(|c| m.has_super_option(c))
        })
    };
    cgroup
        .lines()
        .filter(|line| {
            let mut fields = line.splitn(3, ':');
            match (fields.next(), fields.next()) {
                (Some("0"), Some(_)) => true,
                (Some(_), Some(controllers)) => mounted(controllers),
                _ => false,
            }
        })
        .collect()
}
