//! The words of `mounts[].options` (runc's, and the kernel's flags and
//! propagation keywords) as flags, recursive attributes and filesystem
//! data; and the lexical form of a destination. Pure functions: `mounts`,
//! `idmap`, `paths`, `rootfs` and `features` share them.

use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use super::detached::NOSYMFOLLOW;

#[derive(Debug, PartialEq)]
pub struct Options {
    pub flags: MsFlags,
    /// Flags an option asked to clear (`rw`, `dev`, `atime`, ...): a bind
    /// with any of them gets its flags set exactly, as runc does.
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    /// `tmpcopyup` (runc's extension, which Podman sends for /tmp, /run and
    /// /var/tmp): a tmpfs starts with a copy of what the image has there.
    pub copy_up: bool,
    /// `rro`, `rnosuid`, ... (runc's recursive options): MOUNT_ATTR_* bits
    /// set and cleared, with mount_setattr(2), on the mount and every mount
    /// below it.
    pub recursive_set: u64,
    pub recursive_clear: u64,
    /// `idmap` (Some(false): the top mount only) or `ridmap` (Some(true):
    /// every mount of an `rbind`): an idmapped bind, with the entry's
    /// uidMappings and gidMappings or else the container's user namespace.
    pub idmap: Option<bool>,
}

impl Options {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that need a remount after a bind mount to take effect.
    pub fn remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        copy_up: false,
        recursive_set: 0,
        recursive_clear: 0,
        idmap: None,
    };
    for opt in opts {
        if let Some((attr, on)) = recursive_attr(opt) {
            let atime = attr & libc::MOUNT_ATTR__ATIME == attr;
            if atime {
                // One access-time mode replaces another: mount_setattr
                // takes exactly one, with MOUNT_ATTR__ATIME cleared.
                o.recursive_set &= !libc::MOUNT_ATTR__ATIME;
            }
            let (add, del) = if on {
                (&mut o.recursive_set, &mut o.recursive_clear)
            } else {
                (&mut o.recursive_clear, &mut o.recursive_set)
            };
            *add |= attr;
            *del &= !attr;
            if atime {
                o.recursive_clear |= libc::MOUNT_ATTR__ATIME;
            }
            continue;
        }
        let set = |f: MsFlags| (f, false);
        let clear = |f: MsFlags| (f, true);
        let (flag, unset) = match opt.as_str() {
            "defaults" => continue,
            "ro" => set(MsFlags::MS_RDONLY),
            "rw" => clear(MsFlags::MS_RDONLY),
            "nosuid" => set(MsFlags::MS_NOSUID),
            "suid" => clear(MsFlags::MS_NOSUID),
            "nodev" => set(MsFlags::MS_NODEV),
            "dev" => clear(MsFlags::MS_NODEV),
            "noexec" => set(MsFlags::MS_NOEXEC),
            "exec" => clear(MsFlags::MS_NOEXEC),
            "sync" => set(MsFlags::MS_SYNCHRONOUS),
            "async" => clear(MsFlags::MS_SYNCHRONOUS),
            "dirsync" => set(MsFlags::MS_DIRSYNC),
            "remount" => set(MsFlags::MS_REMOUNT),
            "mand" => set(MsFlags::MS_MANDLOCK),
            "nomand" => clear(MsFlags::MS_MANDLOCK),
            "atime" => clear(MsFlags::MS_NOATIME),
            "noatime" => set(MsFlags::MS_NOATIME),
            "diratime" => clear(MsFlags::MS_NODIRATIME),
            "nodiratime" => set(MsFlags::MS_NODIRATIME),
            "relatime" => set(MsFlags::MS_RELATIME),
            "norelatime" => clear(MsFlags::MS_RELATIME),
            "strictatime" => set(MsFlags::MS_STRICTATIME),
            "nostrictatime" => clear(MsFlags::MS_STRICTATIME),
            // Superblock flags (runc's table): lazytime goes to a new
            // filesystem; i_version is the filesystem's own choice (ext4,
            // xfs, btrfs and tmpfs keep it unasked on current kernels, and
            // a new mount has no way to ask); silent only quiets mount(2).
            "lazytime" => set(MsFlags::MS_LAZYTIME),
            "nolazytime" => clear(MsFlags::MS_LAZYTIME),
            "iversion" => set(MsFlags::MS_I_VERSION),
            "noiversion" => clear(MsFlags::MS_I_VERSION),
            "silent" => set(MsFlags::MS_SILENT),
            "loud" => clear(MsFlags::MS_SILENT),
            "nosymfollow" => set(NOSYMFOLLOW),
            "symfollow" => clear(NOSYMFOLLOW),
            "bind" => set(MsFlags::MS_BIND),
            "rbind" => set(MsFlags::MS_BIND | MsFlags::MS_REC),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation
                    .push(propagation(opt).unwrap_or(MsFlags::MS_PRIVATE));
                continue;
            }
            // rt's options, not the filesystem's: never passed to mount(2).
            "tmpcopyup" | "notmpcopyup" => {
                o.copy_up = opt == "tmpcopyup";
                continue;
            }
            "idmap" | "ridmap" => {
                o.idmap = Some(opt == "ridmap");
                continue;
            }
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        if unset {
            o.flags.remove(flag);
            o.cleared.insert(flag);
        } else {
            o.flags.insert(flag);
            o.cleared.remove(flag);
        }
    }
    // "ro" on an `rbind` covers its top mount only, as in runc: `rro` asks
    // for all of it (Docker and Kubernetes' recursiveReadOnly send it). The
    // cgroup hierarchies below a `spec --rootless` /sys are masked instead
    // (`mount_cgroup`, CVE-2023-25809).
    o
}

/// runc's recursive mount options: the attribute and whether it is set.
fn recursive_attr(name: &str) -> Option<(u64, bool)> {
    Some(match name {
        "rro" => (libc::MOUNT_ATTR_RDONLY, true),
        "rrw" => (libc::MOUNT_ATTR_RDONLY, false),
        "rnosuid" => (libc::MOUNT_ATTR_NOSUID, true),
        "rsuid" => (libc::MOUNT_ATTR_NOSUID, false),
        "rnodev" => (libc::MOUNT_ATTR_NODEV, true),
        "rdev" => (libc::MOUNT_ATTR_NODEV, false),
        "rnoexec" => (libc::MOUNT_ATTR_NOEXEC, true),
        "rexec" => (libc::MOUNT_ATTR_NOEXEC, false),
        "rnosymfollow" => (libc::MOUNT_ATTR_NOSYMFOLLOW, true),
        "rsymfollow" => (libc::MOUNT_ATTR_NOSYMFOLLOW, false),
        "rnodiratime" => (libc::MOUNT_ATTR_NODIRATIME, true),
        "rdiratime" => (libc::MOUNT_ATTR_NODIRATIME, false),
        // The access-time modes (MOUNT_ATTR_RELATIME is 0: relatime is
        // what remains when no other mode is set).
        "rnoatime" => (libc::MOUNT_ATTR_NOATIME, true),
        "ratime" => (libc::MOUNT_ATTR_NOATIME, false),
        "rstrictatime" => (libc::MOUNT_ATTR_STRICTATIME, true),
        "rnostrictatime" => (libc::MOUNT_ATTR_STRICTATIME, false),
        "rrelatime" => (libc::MOUNT_ATTR_RELATIME, true),
        "rnorelatime" => (libc::MOUNT_ATTR_RELATIME, false),
        _ => return None,
    })
}

/// Propagation keywords of `mounts[].options` and `linux.rootfsPropagation`.
pub fn propagation(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// Lexically clean an absolute path: no `.`, `..` clamped at `/`.
pub fn normalize(p: &Path) -> PathBuf {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &[&str]) -> Options {
        parse_options(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options() {
        let p = o(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data, vec!["mode=755", "size=65536k"]);
        let p = o(&["rbind", "ro", "rprivate"]);
        assert!(p.is_bind());
        assert!(p.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(p.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(o(&["ro", "rw"]).flags, MsFlags::empty());
        let p = o(&["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]);
        assert!(p.copy_up);
        assert!(p.data.is_empty());
        assert!(!o(&["tmpcopyup", "notmpcopyup"]).copy_up);
    }

    #[test]
    fn recursive_options() {
        let p = o(&["rbind", "rro", "rnosuid", "rdev"]);
        assert_eq!(
            p.recursive_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID
        );
        assert_eq!(p.recursive_clear, libc::MOUNT_ATTR_NODEV);
        assert!(p.data.is_empty() && !p.flags.contains(MsFlags::MS_RDONLY));
        // The later option wins.
        assert_eq!(o(&["rro", "rrw"]).recursive_set, 0);
        // rbind + ro makes the top read-only only, as runc does.
        let p = o(&["rbind", "ro"]);
        assert_eq!((p.recursive_set, p.recursive_clear), (0, 0));
        assert!(p.flags.contains(MsFlags::MS_RDONLY));
    }

    /// runc's recursive access-time options: one mode, with
    /// MOUNT_ATTR__ATIME cleared as mount_setattr(2) wants; the last one
    /// given wins; rnodiratime is a flag of its own.
    #[test]
    fn recursive_atime_options() {
        let atime = libc::MOUNT_ATTR__ATIME;
        let p = o(&["rnoatime"]);
        assert_eq!(
            (p.recursive_set, p.recursive_clear),
            (libc::MOUNT_ATTR_NOATIME, atime)
        );
        let p = o(&["rnoatime", "rstrictatime"]);
        assert_eq!(
            (p.recursive_set, p.recursive_clear),
            (libc::MOUNT_ATTR_STRICTATIME, atime)
        );
        for relatime in [
            &["rstrictatime", "rrelatime"][..],
            &["ratime"],
            &["rnorelatime"],
        ] {
            let p = o(relatime);
            assert_eq!(p.recursive_set, libc::MOUNT_ATTR_RELATIME, "{relatime:?}");
            assert_eq!(p.recursive_clear & atime, atime, "{relatime:?}");
        }
        let p = o(&["rnodiratime", "rnoatime"]);
        assert_eq!(
            p.recursive_set,
            libc::MOUNT_ATTR_NODIRATIME | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(o(&["rnodiratime", "rdiratime"]).recursive_set, 0);
        assert!(p.data.is_empty());
    }

    /// runc's superblock options are flags, never filesystem data (which
    /// a filesystem refuses: "tmpfs: Unknown parameter 'silent'").
    #[test]
    fn superblock_options_are_flags() {
        let p = o(&["lazytime", "iversion", "silent"]);
        assert!(p.data.is_empty(), "{:?}", p.data);
        assert_eq!(
            p.flags,
            MsFlags::MS_LAZYTIME | MsFlags::MS_I_VERSION | MsFlags::MS_SILENT
        );
        let p = o(&[
            "lazytime",
            "iversion",
            "silent",
            "nolazytime",
            "noiversion",
            "loud",
        ]);
        assert!(p.data.is_empty() && p.flags.is_empty());
    }
}
