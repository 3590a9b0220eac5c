//! The busybox root filesystem the containers run on.
//!
//! One tree is built per test binary from Debian's static /bin/busybox;
//! each bundle gets its own copy of it (hard links, so a copy costs a few
//! dozen inodes), because rt creates mount points inside the rootfs and
//! tests must not see each other's changes. A user-namespace test gets a
//! real copy instead, chowned to the ids its container root maps to.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The applets the tests call inside containers.
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "ls", "id", "sleep", "hostname", "stat", "readlink", "touch", "mkdir",
    "grep", "env", "pwd", "tty", "test", "uptime", "wc", "head", "tr", "cut", "sort", "true",
    "false", "printf", "awk", "sed", "rm", "umount", "stty", "mount", "unshare",
];

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\nrtextra:x:1234:\nnogroup:x:65534:\n";

/// The rootfs built for this test binary, under the system temp dir.
pub fn shared() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let base = std::env::temp_dir();
        sweep_stale(&base);
        let dir = base.join(format!("{STALE_PREFIX}{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        build(&dir.join("rootfs"));
        dir.join("rootfs")
    })
}

/// Statics are never dropped, so the tree of a test binary outlives it;
/// the next binary removes the trees whose process is gone.
const STALE_PREFIX: &str = "rt-tests-rootfs.";

fn sweep_stale(base: &Path) {
    for entry in fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(STALE_PREFIX) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn build(root: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root", "mnt"] {
        fs::create_dir_all(root.join(d)).expect("create rootfs dir");
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod /tmp");
    fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copy /bin/busybox (package busybox-static)");
    for applet in APPLETS {
        symlink("busybox", root.join("bin").join(applet)).expect("applet symlink");
    }
    fs::write(root.join("etc/passwd"), PASSWD).expect("write passwd");
    fs::write(root.join("etc/group"), GROUP).expect("write group");
}

/// Copy the shared tree to `dest`: directories and symlinks recreated,
/// regular files hard-linked.
pub fn copy_linked(dest: &Path) {
    copy_tree(shared(), dest, &|src, dst| {
        fs::hard_link(src, dst).expect("hard-link rootfs file");
    });
}

/// Copy the shared tree to `dest` with real file copies, every entry owned
/// by `uid:gid` (a hard link would chown the shared file too).
pub fn copy_owned(dest: &Path, uid: u32, gid: u32) {
    copy_tree(shared(), dest, &|src, dst| {
        fs::copy(src, dst).expect("copy rootfs file");
    });
    chown_tree(dest, uid, gid);
}

fn copy_tree(src: &Path, dest: &Path, file: &dyn Fn(&Path, &Path)) {
    fs::create_dir_all(dest).expect("create rootfs copy");
    fs::set_permissions(dest, fs::metadata(src).expect("stat rootfs").permissions())
        .expect("chmod rootfs copy");
    for entry in fs::read_dir(src).expect("read rootfs") {
        let entry = entry.expect("rootfs entry");
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type().expect("rootfs entry type");
        if kind.is_dir() {
            copy_tree(&from, &to, file);
        } else if kind.is_symlink() {
            symlink(fs::read_link(&from).expect("readlink"), &to).expect("symlink");
        } else {
            file(&from, &to);
        }
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).expect("lchown");
    if fs::symlink_metadata(path).expect("stat").is_dir() {
        for entry in fs::read_dir(path).expect("read dir") {
            chown_tree(&entry.expect("entry").path(), uid, gid);
        }
    }
}

/// Owner uid of `path` on the host.
pub fn owner(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .uid()
}
