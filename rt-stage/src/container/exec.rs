//! `exec`: another process in a running container, through `rt exec` with our own
//! stdio (rt relays a pty itself for `-t`).

use std::process::Stdio;

use super::{union, user, Engine};
use crate::error::{Error, Result};
use crate::record::Container;

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub cmd: Vec<String>,
}

/// Runs the command; its exit status is returned (0 when detached).
pub fn exec(e: &Engine, c: &Container, o: &ExecOptions) -> Result<i32> {
    if !e.store.container_state(&c.id)?.is_running() {
        return Err(Error::Usage(format!("Container {} is not running", c.id)));
    }
    if o.cmd.is_empty() {
        return Err(Error::Usage("exec needs a command".into()));
    }
    let mut cmd = e.rt.command();
    cmd.arg("exec");
    if o.tty {
        cmd.arg("-t");
    }
    if o.detach {
        cmd.arg("-d");
    }
    if let Some(w) = &o.workdir {
        cmd.args(["--cwd", w]);
    }
    for v in &o.env {
        cmd.args(["-e", v]);
    }
    if let Some(u) = &o.user {
        let rootfs = union::rootfs_path(&e.store.container_dir(&c.id)?, c.driver);
        let u = user::resolve(&rootfs, u)?;
        cmd.args(["-u", &format!("{}:{}", u.uid, u.gid)]);
        for g in u.additional_gids {
            cmd.args(["-g", &g.to_string()]);
        }
    }
    cmd.arg(&c.id).args(&o.cmd);
    if !o.interactive {
        cmd.stdin(Stdio::null());
    }
    let status = cmd.status().map_err(|err| Error::Runtime {
        command: "exec".into(),
        message: format!("cannot run {}: {err}", e.rt.bin.display()),
    })?;
    Ok(status.code().unwrap_or(128 + 9))
}
