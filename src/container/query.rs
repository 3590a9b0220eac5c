//! `rt state` and `rt list`.

use std::io::Write;

use crate::error::{Error, Result};
use crate::state::{OciState, State, Status, Store};

pub fn state_json(store: &Store, id: &str) -> Result<String> {
    let st = store.load(id)?;
    let status = st.status(store);
    serde_json::to_string_pretty(&st.oci(status))
        .map_err(|e| Error::Init(format!("cannot encode state: {e}")))
}

pub enum ListFormat {
    Table,
    Json,
}

/// `root_given`: the state root was named (`--root`), so it must exist, as
/// with runc; the default one may not exist yet (no container was made).
pub fn list(
    store: &Store,
    root_given: bool,
    format: ListFormat,
    quiet: bool,
    out: &mut impl Write,
) -> Result<()> {
    if root_given {
        std::fs::metadata(store.root())
            .map_err(|e| Error::io(format!("cannot list {}", store.root().display()), e))?;
    }
    let mut rows: Vec<(State, Status)> = Vec::new();
    for id in store.ids()? {
        // A container whose state is unreadable is listed by id only in -q
        // mode and skipped otherwise, as runc does.
        match store.load(&id) {
            Ok(st) => {
                let status = st.status(store);
                rows.push((st, status));
            }
            Err(_) if quiet => {
                let _ = writeln!(out, "{id}");
            }
            Err(_) => {}
        }
    }
    let w = |e: std::io::Error| Error::io("cannot write output", e);
    if quiet {
        for (st, _) in &rows {
            writeln!(out, "{}", st.id).map_err(w)?;
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            let docs: Vec<OciState<'_>> = rows.iter().map(|(st, s)| st.oci(*s)).collect();
            let text = serde_json::to_string(&docs).map_err(|e| Error::Init(e.to_string()))?;
            writeln!(out, "{text}").map_err(w)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<12} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            )
            .map_err(w)?;
            for (st, s) in &rows {
                let pid = if *s == Status::Stopped { 0 } else { st.pid };
                writeln!(
                    out,
                    "{:<12} {:<8} {:<10} {:<40} {:<32} {}",
                    st.id,
                    pid,
                    s,
                    st.bundle.display(),
                    st.created,
                    st.owner
                )
                .map_err(w)?;
            }
        }
    }
    Ok(())
}
