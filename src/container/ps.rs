//! `rt ps`: the container's processes, as a JSON array of pids or as the
//! host's `ps` output filtered to them (as runc does).

use std::io::Write;
use std::process::Command;

use crate::error::{Error, Result};
use crate::state::Store;

pub enum PsFormat {
    Table,
    Json,
}

pub fn ps(
    store: &Store,
    id: &str,
    format: PsFormat,
    ps_args: &[String],
    out: &mut impl Write,
) -> Result<()> {
    let st = store.load(id)?;
    let pids = st.cgroups.pids()?;
    let w = |e: std::io::Error| Error::io("cannot write output", e);
    match format {
        PsFormat::Json => {
            let text = serde_json::to_string(&pids)
                .map_err(|e| Error::Init(format!("cannot encode pids: {e}")))?;
            writeln!(out, "{text}").map_err(w)
        }
        PsFormat::Table => {
            let default = ["-ef".to_string()];
            let args = if ps_args.is_empty() {
                &default[..]
            } else {
                ps_args
            };
            let output = Command::new("ps")
                .args(args)
                .output()
                .map_err(|e| Error::io("cannot run ps", e))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(Error::Init(format!(
                    "ps {}: {}",
                    args.join(" "),
                    stderr.trim()
                )));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            for line in filter_table(&text, &pids)? {
                writeln!(out, "{line}").map_err(w)?;
            }
            Ok(())
        }
    }
}

/// The header and the lines whose PID column names one of `pids`.
fn filter_table<'a>(text: &'a str, pids: &[i32]) -> Result<Vec<&'a str>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| {
            Error::Init("ps output has no PID column: pass ps options that print it".into())
        })?;
    let mine = lines.filter(|l| {
        l.split_whitespace()
            .nth(column)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p: i32| pids.contains(&p))
    });
    Ok(std::iter::once(header).chain(mine).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let text = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep 10\nroot 43 1 42\n";
        assert_eq!(
            filter_table(text, &[42]).ok(),
            Some(vec!["UID PID PPID CMD", "root 42 1 sleep 10"])
        );
        assert!(filter_table("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
