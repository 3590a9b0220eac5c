//! The container's output: `containers/<id>/container.log`, one JSON object per line
//! in Docker's json-file shape (`{"stream":"stdout","log":"hi\n","time":"..."}`), so
//! `logs` can replay stdout and stderr to their own streams in their original order.
//! Output that is not UTF-8 is stored lossily, as Docker's is.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};

pub const LOG: &str = "container.log";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Serialize, Deserialize)]
struct Record {
    stream: Stream,
    log: String,
    time: String,
}

pub struct LogWriter {
    file: File,
}

impl LogWriter {
    pub fn open(path: &Path) -> Result<LogWriter> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .at("open", path)?;
        Ok(LogWriter { file })
    }

    /// One record per line of `bytes` (a trailing partial line is a record too).
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        let time = crate::record::now();
        let mut out = Vec::new();
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let r = Record {
                stream,
                log: String::from_utf8_lossy(piece).into_owned(),
                time: time.clone(),
            };
            if serde_json::to_writer(&mut out, &r).is_ok() {
                out.push(b'\n');
            }
        }
        // A full disk loses log lines, not the container.
        if let Err(e) = self.file.write_all(&out) {
            tracing::warn!("container log: {e}");
        }
    }
}

/// Replays the log to stdout/stderr; with `follow`, keeps reading while `running()`.
pub fn replay(path: &Path, follow: bool, running: impl Fn() -> bool) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) => return Err(e).at("open", path),
    };
    let mut reader = BufReader::new(file);
    let mut pending = String::new();
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    loop {
        let alive = follow && running();
        loop {
            let n = reader.read_line(&mut pending).at("read", path)?;
            if n == 0 || !pending.ends_with('\n') {
                break;
            }
            if let Ok(r) = serde_json::from_str::<Record>(&pending) {
                let w: &mut dyn Write = match r.stream {
                    Stream::Stdout => &mut out,
                    Stream::Stderr => &mut err,
                };
                // A closed reader (`logs | head`) ends the replay quietly.
                if w.write_all(r.log.as_bytes())
                    .and_then(|()| w.flush())
                    .is_err()
                {
                    return Ok(());
                }
            }
            pending.clear();
        }
        if !alive {
            return Ok(());
        }
        // A partial line stays in `pending`; the next read goes on after it.
        std::thread::sleep(Duration::from_millis(100));
    }
}
