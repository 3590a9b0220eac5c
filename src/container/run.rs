//! `rt run`: create and start a container, stay attached until it exits
//! (see `attach`), return its exit status, then delete it — unless `keep`
//! (`--keep`): then the stopped container stays, cgroups and all, for
//! `state` and a later `delete`, as with runc.

use super::attach::{self, Signals};
use super::create::{create, CreateOptions};
use super::start::start_loaded;
use crate::error::Context;
use crate::error::Result;
use crate::state::Store;
use crate::syscall;

pub fn run(store: &Store, mut opts: CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    let id = opts.id.clone();
    if detach {
        let created = create(store, opts)?;
        let started = start_loaded(store, &created.lock, &created.state);
        drop(created.lock);
        crate::exeseal::release();
        // A container that failed to start goes, as with runc.
        if started.is_err() {
            if let Err(e) = super::delete::delete(store, &id, true) {
                crate::logging::warn(&format!("delete {id} after its failed start: {e}"));
            }
        }
        return started.map(|()| 0);
    }
    let signals = Signals::block()?;
    syscall::set_child_subreaper().ctx(|| "cannot become a subreaper")?;
    let mut console_end = None;
    if opts.console_socket.is_none() {
        let (ours, theirs) = attach::console_pair()?;
        opts.console_fd = Some(theirs);
        console_end = Some(ours);
    }
    let created = create(store, opts)?;
    let terminal = created
        .state
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let master = match (terminal, &console_end) {
        (true, Some(sock)) => Some(attach::receive_master(sock)?),
        _ => None,
    };
    drop(console_end);
    let started = start_loaded(store, &created.lock, &created.state);
    drop(created.lock);
    // The container runs meanwhile.
    crate::exeseal::release();
    let result =
        started.and_then(|()| attach::supervise(created.pid, &signals.fd, master.as_ref()));
    if keep {
        return result;
    }
    let cleanup = super::delete::delete(store, &id, true);
    let code = result?;
    cleanup?;
    Ok(code)
}
