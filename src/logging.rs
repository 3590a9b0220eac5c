//! `--log` and `--log-format`: runc's log shape, so containerd's shim can
//! read rt's errors from log.json. Each line is one JSON object with level,
//! msg and time (or logfmt-like text). Without `--log`, logs go to stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    /// Opened once: a fifo given as `--log` must see one writer, not one
    /// open per line (a reader that took the first line and left would
    /// block the next open forever).
    file: Mutex<Option<File>>,
    /// Set by [`detach`]: nothing more is written anywhere.
    detached: std::sync::atomic::AtomicBool,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(file: Option<PathBuf>, format: Format, debug: bool) {
    // The file exists from the start, even if nothing is logged, as runc's
    // does: engines read it after every call (Podman's oci-log, containerd's
    // log.json) and report a missing one instead of rt's error.
    let file = file.and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok());
    let _ = LOGGER.set(Logger {
        file: Mutex::new(file),
        detached: std::sync::atomic::AtomicBool::new(false),
        format,
        debug,
    });
}

#[derive(Serialize)]
struct Line<'a> {
    level: &'a str,
    msg: &'a str,
    time: String,
}

fn render(format: Format, level: &str, msg: &str) -> String {
    let time = crate::time::now_rfc3339();
    match format {
        Format::Json => serde_json::to_string(&Line { level, msg, time }).unwrap_or_default(),
        Format::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
    }
}

/// Write nothing more: a container's init or exec'd process, which must
/// hold no file of the host once the container can see it (`init/mod.rs`,
/// step 11), reports its later errors on its stderr. The log file's fd goes
/// with the others step 11 closes; the `File` stays, unused, so that rt's
/// own logger is whole again after an exec child that shared its memory
/// ([`reattach`]).
pub fn detach() {
    if let Some(l) = LOGGER.get() {
        l.detached.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// rt logs again after an exec child that shared rt's memory detached the
/// logger in it (`syscall::clone_vm`); rt's fd table kept the file.
pub fn reattach() {
    if let Some(l) = LOGGER.get() {
        l.detached
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else { return };
    if l.detached.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let line = render(l.format, level, msg);
    let mut file = match l.file.lock() {
        Ok(f) => f,
        Err(_) => return,
    };
    if let Some(f) = file.as_mut() {
        let _ = writeln!(f, "{line}");
    } else if level != "error" {
        // Errors are printed to stderr by main; other levels go there only
        // when no log file is given.
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line() {
        let line = render(Format::Json, "error", "container x does not exist");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container x does not exist");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
