//! Fault injection for the reliability tests (cargo feature
//! `fault-injection`, off in release builds): `RT_FAULT=<point>:<action>`
//! makes rt die (`kill`: SIGKILL itself), fail (`error`) or stop
//! (`stop`: SIGSTOP itself, for a test to inspect it) when it reaches the
//! named point, so tests can prove that every half-made container is
//! cleaned up by `rt delete --force`. Points are `init:<step>` for the init
//! pipeline and `<command>:<phase>` for the host side (`rt --debug` logs
//! the time each init step took).
//! Without the feature, [`point`] compiles to nothing.

use crate::error::Result;

#[cfg(feature = "fault-injection")]
pub fn point(name: &str) -> Result<()> {
    let Ok(spec) = std::env::var("RT_FAULT") else {
        return Ok(());
    };
    let Some((at, action)) = spec.rsplit_once(':') else {
        return Ok(());
    };
    if at != name {
        return Ok(());
    }
    match action {
        "kill" => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            // The init of a pid namespace is immune to its own SIGKILL: die
            // as abruptly (no cleanup, no report) with the killed status.
            crate::syscall::exit_now(128 + libc::SIGKILL)
        }
        "stop" => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
            Ok(())
        }
        _ => Err(crate::error::Error::Init(format!(
            "injected fault at {name}"
        ))),
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) -> Result<()> {
    Ok(())
}
