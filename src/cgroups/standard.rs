//! The host's cgroup layout found without /proc/self/mountinfo, whose
//! read costs time in proportion to every mount of the host (3.5 ms at
//! 1000 mounts on a 2-core VM, for the dozen lines rt needs) on every
//! create. Read instead: the filesystem type (statfs) of /sys/fs/cgroup
//! and of each directory in it, and the hierarchies /proc/self/cgroup
//! lists.
//!
//! Only the standard layout is recognised, where every answer is certain:
//! a cgroup2 mount at /sys/fs/cgroup, or a tmpfs there with each v1
//! hierarchy mounted below it under the name of its controllers (as
//! systemd and cgroupfs-mount name them: `cpu,cpuacct`, `systemd` for
//! `name=systemd`) and at most one cgroup2 mount, each showing its
//! hierarchy's root. Anything else — a hierarchy mounted elsewhere or
//! twice, a cgroup namespace's or a bound sub-cgroup's mount (which only
//! mountinfo places in its hierarchy), an unknown name — is `None`, and
//! the caller reads mountinfo.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{fstatfs, statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC, TMPFS_MAGIC};

use super::at::{self, ROOT};
use super::{v1_controllers, Hierarchy, Layout};

/// The layout, if /sys/fs/cgroup holds the standard one.
pub fn detect() -> Option<Layout> {
    let root = Path::new(ROOT);
    let open = at::Root::open();
    let at = open.as_ref();
    let kind = match at {
        Some(r) => fstatfs(r.fd()),
        None => statfs(root),
    }
    .ok()?
    .filesystem_type();
    if kind == CGROUP2_SUPER_MAGIC {
        let unified = v2(at, root)?;
        return Some(Layout {
            hierarchies: vec![unified],
        });
    }
    if kind != TMPFS_MAGIC {
        return None;
    }
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    split(at, root, &own)
}

/// A tmpfs at `root` with one directory per hierarchy; `own` is
/// /proc/self/cgroup, which names every v1 hierarchy of the host.
fn split(at: Option<&at::Root>, root: &Path, own: &str) -> Option<Layout> {
    let wanted = v1_hierarchies(own);
    let mut found: Vec<(u32, Hierarchy)> = Vec::new();
    let mut unified = None;
    for (name, is_dir) in at::entries(at, root).ok()? {
        // `cpu` -> `cpu,cpuacct` and the like are symbolic links.
        if !is_dir {
            continue;
        }
        let dir = root.join(&name);
        let kind = fstatfs(at::open_dir(at, &dir).ok()?)
            .ok()?
            .filesystem_type();
        if kind == CGROUP2_SUPER_MAGIC {
            if unified.is_some() {
                return None;
            }
            unified = Some(v2(at, &dir)?);
        } else if kind == CGROUP_SUPER_MAGIC {
            let claimed = named(&name);
            let (id, controllers) = wanted.iter().find(|(_, c)| same_set(c, &claimed))?;
            // Only a hierarchy's root cgroup has this file.
            let at_root = at::exists(at, &dir.join("cgroup.sane_behavior"));
            if !at_root || found.iter().any(|(i, _)| i == id) {
                return None;
            }
            found.push((*id, hierarchy(controllers.clone(), dir, false)));
        }
        // Anything else is an empty directory of the tmpfs.
    }
    if found.len() != wanted.len() {
        return None;
    }
    found.sort_by_key(|(id, _)| *id);
    let mut hierarchies: Vec<Hierarchy> = found.into_iter().map(|(_, h)| h).collect();
    hierarchies.extend(unified);
    (!hierarchies.is_empty()).then_some(Layout { hierarchies })
}

/// The cgroup2 mount at `dir`, if it shows the hierarchy's root: below
/// the root every cgroup has `cgroup.type`.
fn v2(at: Option<&at::Root>, dir: &Path) -> Option<Hierarchy> {
    let below_root = at::exists(at, &dir.join("cgroup.type"));
    (!below_root).then(|| hierarchy(Vec::new(), dir.to_path_buf(), true))
}

fn hierarchy(controllers: Vec<String>, mount_point: PathBuf, v2: bool) -> Hierarchy {
    Hierarchy {
        controllers,
        mount_point,
        mount_root: PathBuf::from("/"),
        v2,
    }
}

/// The v1 hierarchies of /proc/self/cgroup (`id:controllers:path`; id 0
/// is cgroup2), with the controllers rt knows, as mountinfo gives them.
fn v1_hierarchies(own: &str) -> Vec<(u32, Vec<String>)> {
    own.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let id: u32 = fields.next()?.parse().ok()?;
            let controllers = fields.next()?;
            (id != 0).then(|| (id, v1_controllers(controllers.split(','))))
        })
        .collect()
}

/// The controllers a directory's name stands for: `cpu,cpuacct`, or a
/// named hierarchy (`systemd` is `name=systemd`).
fn named(name: &str) -> Vec<String> {
    let controllers = v1_controllers(name.split(','));
    if !name.is_empty() && controllers.len() == name.split(',').count() {
        controllers
    } else {
        vec![format!("name={name}")]
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && a.len() == b.len() && a.iter().all(|c| b.contains(c))
}

#[cfg(test)]
mod tests {
    use super::super::cgroup_mounts;
    use super::*;

    const OWN: &str = "\
10:hugetlb:/
9:name=systemd:/
4:memory:/process_api/x
2:cpu,cpuacct:/
0::/
";

    #[test]
    fn names() {
        assert_eq!(named("cpu,cpuacct"), vec!["cpu", "cpuacct"]);
        assert_eq!(named("systemd"), vec!["name=systemd"]);
        assert_eq!(named("cpu,bogus"), vec!["name=cpu,bogus"]);
        let v1 = v1_hierarchies(OWN);
        assert_eq!(v1.len(), 4);
        assert_eq!(v1[1], (9, vec!["name=systemd".to_string()]));
        assert!(same_set(&v1[3].1, &named("cpuacct,cpu")));
        assert!(!same_set(&v1[3].1, &named("cpu")));
    }

    /// Whether mountinfo shows the standard layout: every cgroup mount
    /// shows its hierarchy's root at /sys/fs/cgroup or in a directory of
    /// it named for its controllers, no hierarchy twice, at most one
    /// cgroup2, and every v1 hierarchy `own` lists is mounted (one may
    /// live on, unseen here, in another mount namespace's mount or through
    /// cgroups left in it).
    fn standard_per_mountinfo(info: &str, own: &str) -> bool {
        let (mut v1, mut v2): (Vec<Vec<String>>, u32) = (Vec::new(), 0);
        for mount in cgroup_mounts(info) {
            let point = mount.mount_point.as_path();
            let placed = point == Path::new(ROOT) || point.parent() == Some(Path::new(ROOT));
            if mount.mount_root != Path::new("/") || !placed {
                return false;
            }
            if mount.v2 {
                v2 += 1;
                continue;
            }
            let name = point.file_name().map(|n| n.to_string_lossy());
            let misnamed = !name.is_some_and(|n| same_set(&named(&n), &mount.controllers));
            if misnamed || v1.iter().any(|c| same_set(c, &mount.controllers)) {
                return false;
            }
            v1.push(mount.controllers);
        }
        let wanted = v1_hierarchies(own);
        v2 <= 1
            && v1.len() == wanted.len()
            && wanted
                .iter()
                .all(|(_, c)| v1.iter().any(|m| same_set(m, c)))
    }

    const INFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_oracle_tells_standard_from_not() {
        let own = OWN.replace("10:hugetlb:/\n", "");
        assert!(standard_per_mountinfo(INFO, &own));
        // hugetlb's hierarchy exists but is mounted in no directory here.
        assert!(!standard_per_mountinfo(INFO, OWN));
        let elsewhere = format!("{INFO}50 23 0:40 / /run/hugetlb rw - cgroup cgroup rw,hugetlb\n");
        assert!(!standard_per_mountinfo(&elsewhere, OWN));
        let bound = INFO.replace(
            "0:32 / /sys/fs/cgroup/memory",
            "0:32 /x /sys/fs/cgroup/memory",
        );
        assert!(!standard_per_mountinfo(&bound, &own));
        let misnamed = INFO.replace("/sys/fs/cgroup/memory", "/sys/fs/cgroup/mem");
        assert!(!standard_per_mountinfo(&misnamed, &own));
        let twice = format!("{INFO}51 31 0:32 / /sys/fs/cgroup/mem rw - cgroup cgroup rw,memory\n");
        assert!(!standard_per_mountinfo(&twice, &own));
    }

    /// Where mountinfo shows the standard layout (this project's machines,
    /// the cgroup2 VM) the answer is mountinfo's, without reading it;
    /// elsewhere there is no answer and the caller reads mountinfo.
    #[test]
    fn agrees_with_mountinfo() {
        let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let own = fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
        let from_mountinfo = Layout::parse(&info);
        let Some(standard) = detect() else {
            assert!(
                !standard_per_mountinfo(&info, &own),
                "the standard layout was not recognised:\n{info}\n{own}"
            );
            return;
        };
        assert!(
            standard_per_mountinfo(&info, &own),
            "recognised a layout mountinfo calls not standard"
        );
        let mut a = standard.hierarchies.clone();
        let mut b = from_mountinfo.hierarchies.clone();
        a.sort_by(|x, y| x.mount_point.cmp(&y.mount_point));
        b.sort_by(|x, y| x.mount_point.cmp(&y.mount_point));
        assert_eq!(a, b);
    }
}
