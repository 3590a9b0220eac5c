//! `rt events`: the container's resource usage as runc prints it, one JSON
//! object a line: `{"type":"stats","id":...,"data":{...}}` once with
//! `--stats`, otherwise every interval, interleaved with
//! `{"type":"oom","id":...}` whenever the OOM killer acts. The stream ends
//! when the container stops or its cgroup goes away.

use std::io::Write;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;

use crate::cgroups::oom::{self, OomWatcher};
use crate::cgroups::stats::Stats;
use crate::error::{Context, Error, Result};
use crate::logging;
use crate::state::{State, Status, Store};

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

pub fn events(
    store: &Store,
    id: &str,
    stats_only: bool,
    interval: Duration,
    out: &mut impl Write,
) -> Result<()> {
    if interval.is_zero() {
        return Err(Error::Usage("--interval must be greater than 0".into()));
    }
    let (st, _) = super::load_in(store, id, super::LIVE, "report its events")?;
    if stats_only {
        return emit(out, "stats", id, Some(&st.cgroups.stats()?));
    }
    let watcher = match OomWatcher::new(&st.cgroups) {
        Ok(w) => Some(w),
        Err(e) => {
            logging::warn(&format!("no OOM events for {id}: {e}"));
            None
        }
    };
    stream(store, &st, watcher, interval, out)
}

/// Stats every `interval`, OOM events as they come, until the container
/// stops or its cgroup goes.
fn stream(
    store: &Store,
    st: &State,
    mut watcher: Option<OomWatcher>,
    interval: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let id = st.id.as_str();
    let mut next_tick = Instant::now() + interval;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match watcher.as_mut() {
            Some(w) if readable(w, wait)? => {
                if report_ooms(w, id, out)? {
                    return Ok(());
                }
                continue;
            }
            Some(_) => {}
            None => std::thread::sleep(wait),
        }
        // poll's timeout is capped: a long interval takes several waits.
        if Instant::now() < next_tick {
            continue;
        }
        next_tick += interval;
        if st.status(store) == Status::Stopped {
            // An OOM kill may be what stopped it: report it first.
            if let Some(w) = watcher
                .as_mut()
                .filter(|w| readable(w, Duration::ZERO).unwrap_or(false))
            {
                report_ooms(w, id, out)?;
            }
            return Ok(());
        }
        match st.cgroups.stats() {
            Ok(s) => emit(out, "stats", id, Some(&s))?,
            // Like runc, a failed sample is logged and the stream goes on.
            Err(e) => logging::error(&format!("stats of {id}: {e}")),
        }
    }
}

/// Emit what the watcher has; true when the cgroup is gone.
fn report_ooms(w: &mut OomWatcher, id: &str, out: &mut impl Write) -> Result<bool> {
    let mut gone = false;
    for ev in w.read()? {
        match ev {
            oom::Event::Oom => emit(out, "oom", id, None)?,
            oom::Event::Gone => gone = true,
        }
    }
    Ok(gone)
}

/// Wait up to `timeout` for the watcher to have news.
fn readable(w: &OomWatcher, timeout: Duration) -> Result<bool> {
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(w.fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) => Ok(n > 0),
        Err(nix::Error::EINTR) => Ok(false),
        Err(e) => Err(e).ctx(|| "cannot wait for OOM events"),
    }
}

fn emit(out: &mut impl Write, kind: &'static str, id: &str, data: Option<&Stats>) -> Result<()> {
    let line = serde_json::to_string(&Event { kind, id, data })
        .map_err(|e| Error::Init(format!("cannot encode event: {e}")))?;
    let w = |e| Error::io("cannot write event", e);
    writeln!(out, "{line}").map_err(w)?;
    out.flush().map_err(w)
}

/// A Go duration as runc's --interval takes it: `5s`, `100ms`, `1m30s`,
/// `1.5s`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (e.g. 5s, 500ms, 1m)");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "5", "s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn event_lines() {
        let mut out = Vec::new();
        emit(&mut out, "oom", "c1", None).expect("writes to a Vec");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"type\":\"oom\",\"id\":\"c1\"}\n"
        );
    }
}
