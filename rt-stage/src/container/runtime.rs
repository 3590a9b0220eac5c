//! Driving the `rt` binary: rt-stage never links rt, it runs it, as Docker runs runc.
//! rt's state lives in the store (`<root>/rt`), so each store has its own containers.
//!
//! Which binary: `--rt PATH`, else $RT, else `rt` on PATH.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct Rt {
    pub bin: PathBuf,
    pub root: PathBuf,
}

/// The rt binary from the option (or $RT, which clap folds into it), else PATH.
pub fn locate(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(Error::Usage(format!("rt binary {} not found", p.display())))
        };
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("rt"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            Error::Usage("the rt runtime was not found on PATH: give --rt PATH or set RT".into())
        })
}

/// rt's message from its stderr (`rt: ...`), or the status if it said nothing.
fn message(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("rt: ").unwrap_or(l).to_string())
        .unwrap_or_else(|| format!("rt exited with {}", out.status))
}

/// The last error rt wrote to its `--log` file (JSON lines), for commands whose
/// stderr went elsewhere (`create`: the container's own stderr).
pub fn last_logged_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["level"] == "error").then(|| v["msg"].as_str().unwrap_or_default().to_string())
    })
}

impl Rt {
    pub fn new(bin: PathBuf, store: &Store) -> Rt {
        Rt {
            bin,
            root: store.root().join("rt"),
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    fn run(&self, what: &str, args: &[&str]) -> Result<Output> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Runtime {
                command: what.into(),
                message: format!("cannot run {}: {e}", self.bin.display()),
            })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(Error::Runtime {
                command: what.into(),
                message: message(&out),
            })
        }
    }

    /// `rt create`, its stdio given by the caller (they become the container's).
    pub fn create_command(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        log: &Path,
        console_socket: Option<&Path>,
    ) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.arg("--log")
            .arg(log)
            .args(["--log-format", "json", "create", "--bundle"]);
        c.arg(bundle).arg("--pid-file").arg(pid_file);
        if let Some(s) = console_socket {
            c.arg("--console-socket").arg(s);
        }
        c.arg(id);
        c
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.run("start", &["start", id]).map(drop)
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.run("kill", &["kill", id, signal]).map(drop)
    }

    /// Removes rt's container (killing it first); one that does not exist is fine.
    pub fn delete(&self, id: &str) -> Result<()> {
        match self.run("delete", &["delete", "--force", id]) {
            Err(Error::Runtime { message, .. }) if message.contains("does not exist") => Ok(()),
            r => r.map(drop),
        }
    }
}
