//! Rootless rt: a throw-away unprivileged user, and a container made by
//! `rt spec --rootless` as that user and run by it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::procfs;
use super::{tempdir, Container, Outcome};

/// A throw-away unprivileged user (useradd gives it /etc/subuid and
/// /etc/subgid ranges); userdel'd on drop.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// useradd and userdel lock /etc/passwd and fail, rather than wait, when
/// another holds it: the tests take turns.
static USERDB: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl User {
    pub fn new() -> User {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "rt-rootless-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let _turn = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        super::host(
            "useradd",
            &["--no-create-home", "--shell", "/bin/sh", &name],
        );
        let id = |flag: &str| {
            super::host("id", &[flag, &name])
                .trim()
                .parse()
                .expect("numeric id")
        };
        User {
            uid: id("-u"),
            gid: id("-g"),
            name: name.clone(),
        }
    }

    /// First subordinate uid of the user (/etc/subuid).
    pub fn subordinate(&self, file: &str) -> u32 {
        let text = procfs::read(file);
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{}:", self.name)))
            .unwrap_or_else(|| panic!("{} has no range in {file}", self.name));
        line.split(':')
            .nth(1)
            .expect("start")
            .parse()
            .expect("numeric start")
    }

    /// `setpriv` running `rt args...` as this user, with XDG_RUNTIME_DIR set
    /// and no --root.
    pub fn rt(&self, xdg: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(super::RT)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("XDG_RUNTIME_DIR", xdg);
        cmd
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _turn = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A bundle made by `rt spec --rootless` as `user`, run by `user`: the state
/// goes to $XDG_RUNTIME_DIR/rt, the cgroup (not writable) is skipped, and
/// the container's root is the user. `tweak` edits the config last;
/// `detach` runs it with `run --detach`.
pub fn rootless(
    user: &User,
    script: &str,
    detach: bool,
    tweak: impl FnOnce(&mut Container),
) -> (Container, tempfile::TempDir, Outcome) {
    rootless_with(user, &[], script, detach, tweak)
}

/// [`rootless`], with global flags before `run`.
pub fn rootless_with(
    user: &User,
    globals: &[&str],
    script: &str,
    detach: bool,
    tweak: impl FnOnce(&mut Container),
) -> (Container, tempfile::TempDir, Outcome) {
    rootless_wrapped(user, globals, script, detach, tweak, |cmd| cmd)
}

/// [`rootless_with`], the user's `rt run` command line passed through
/// `wrap` (to start it somewhere else).
pub fn rootless_wrapped(
    user: &User,
    globals: &[&str],
    script: &str,
    detach: bool,
    tweak: impl FnOnce(&mut Container),
    wrap: impl FnOnce(Command) -> Command,
) -> (Container, tempfile::TempDir, Outcome) {
    let xdg = tempdir();
    std::os::unix::fs::chown(xdg.path(), Some(user.uid), Some(user.gid)).expect("chown xdg");
    fs::set_permissions(xdg.path(), fs::Permissions::from_mode(0o700)).expect("chmod xdg");
    let mut c = Container::sh(script);
    let spec_dir = c.scratch().join("spec");
    fs::create_dir(&spec_dir).expect("mkdir spec");
    std::os::unix::fs::chown(&spec_dir, Some(user.uid), Some(user.gid)).expect("chown spec dir");
    let spec_dir_arg = spec_dir.to_str().expect("utf-8");
    let out = super::run_with_deadline(
        user.rt(
            xdg.path(),
            &["spec", "--rootless", "--bundle", spec_dir_arg],
        ),
        &c.scratch().join("spec-call"),
    );
    out.ok();
    let spec: Value =
        serde_json::from_slice(&fs::read(spec_dir.join("config.json")).expect("rootless config"))
            .expect("config JSON");
    let args = c.config["process"]["args"].clone();
    let cgroup = c.config["linux"]["cgroupsPath"].clone();
    c.config = spec;
    c.set("/process/args", args)
        .set("/process/terminal", false)
        .set("/linux/cgroupsPath", cgroup);
    c.set("/root/readonly", false);
    tweak(&mut c);
    c.chown_rootfs(user.uid, user.gid);
    std::os::unix::fs::chown(c.scratch(), Some(user.uid), Some(user.gid)).expect("chown scratch");
    let bundle = c.bundle();
    let pid_file = c.pid_file();
    let mut args = globals.to_vec();
    args.extend([
        "run",
        "--bundle",
        bundle.to_str().expect("utf-8"),
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
    ]);
    if detach {
        args.push("--detach");
    }
    args.push(&c.id);
    let cmd = wrap(user.rt(xdg.path(), &args));
    let out = c.launch(cmd);
    (c, xdg, out)
}
