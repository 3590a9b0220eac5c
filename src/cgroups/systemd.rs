//! The systemd cgroup driver (`--systemd-cgroup`): systemd owns the cgroup
//! tree of a host it manages, so the container's cgroup is a transient
//! scope unit that systemd creates, asked for over D-Bus, instead of a
//! directory rt makes.
//!
//! `linux.cgroupsPath` is then `slice:prefix:name`: the scope
//! `prefix-name.scope` in `slice` (default `system.slice`). `create` clones
//! the init first (a scope cannot start empty), then StartTransientUnit
//! with the init's pid, `Delegate=yes` (the subtree is the container's) and
//! the main limits as unit properties, so that systemd re-applying its own
//! view (daemon-reload, set-property) keeps them; rt still writes every
//! limit to the cgroup files itself, as with the cgroupfs driver. `delete`
//! stops the unit.
//!
//! The bus: the system bus when it runs (as runc), else systemd's private
//! socket, which root may use without a bus daemon.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;
use dbus::channel::{Channel, MatchingReceiver};
use dbus::message::MatchRule;
use oci_spec::runtime::LinuxResources;

use super::convert;
use crate::error::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const OBJECT: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
const PRIVATE: &str = "/run/systemd/private";
/// How long systemd may take to start or stop a unit (runc waits as long).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// The unit a container lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `prefix-name.scope`
    pub name: String,
    /// The slice holding it, `system.slice` by default.
    pub slice: String,
}

impl Unit {
    /// `slice:prefix:name`, or the default `system.slice:rt:<id>` when
    /// `cgroupsPath` is unset.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Unit> {
        let path = cgroups_path.filter(|p| !p.is_empty());
        let (slice, prefix, name) = match path.map(|p| p.split(':').collect::<Vec<_>>()) {
            None => ("", "rt", id),
            Some(parts) if parts.len() == 3 => (parts[0], parts[1], parts[2]),
            Some(_) => {
                return Err(Error::Config(format!(
                    "linux.cgroupsPath {:?}: the systemd cgroup driver wants \"slice:prefix:name\"",
                    path.unwrap_or_default()
                )))
            }
        };
        let bad = |what: &str| {
            Error::Config(format!(
                "linux.cgroupsPath {:?}: {what}",
                path.unwrap_or_default()
            ))
        };
        if name.is_empty() || [slice, prefix, name].iter().any(|p| p.contains('/')) {
            return Err(bad(
                "slice, prefix and name must be non-empty unit name parts without \"/\"",
            ));
        }
        if name.ends_with(".slice") {
            return Err(bad(
                "a slice as the container's unit is not supported; name a scope",
            ));
        }
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        if slice != "-.slice" {
            check_slice(slice).map_err(bad)?;
        }
        let name = match (prefix, name.strip_suffix(".scope")) {
            (_, Some(unit)) => format!("{unit}.scope"),
            ("", None) => format!("{name}.scope"),
            (p, None) => format!("{p}-{name}.scope"),
        };
        Ok(Unit {
            name,
            slice: slice.to_string(),
        })
    }

    /// The unit of a recorded container: `name`, in the slice its cgroup
    /// `rel` sits in (the root slice `-.slice` when it has no parent).
    pub fn recorded(name: &str, rel: &Path) -> Unit {
        let slice = rel
            .parent()
            .and_then(Path::file_name)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "-.slice".into());
        Unit {
            name: name.to_string(),
            slice,
        }
    }

    /// The scope's cgroup relative to the hierarchy root: systemd nests a
    /// slice `a-b.slice` as `a.slice/a-b.slice`.
    pub fn cgroup_path(&self) -> PathBuf {
        let mut p = PathBuf::new();
        if let Some(stem) = self.slice.strip_suffix(".slice").filter(|s| *s != "-") {
            let mut prefix = String::new();
            for part in stem.split('-') {
                if !prefix.is_empty() {
                    prefix.push('-');
                }
                prefix.push_str(part);
                p.push(format!("{prefix}.slice"));
            }
        }
        p.push(&self.name);
        p
    }
}

/// systemd's rules for a slice name: `.slice`, and dashes only between
/// non-empty parts (each dash is a level of nesting).
fn check_slice(slice: &str) -> std::result::Result<(), &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("the slice must end in \".slice\"");
    };
    if stem.is_empty() || stem.split('-').any(str::is_empty) {
        return Err("invalid slice name (empty part between dashes)");
    }
    Ok(())
}

/// Whether systemd manages this host (sd_booted's test).
pub fn running() -> bool {
    Path::new("/run/systemd/system").exists()
}

/// One unit property: its name and its value, typed as systemd wants.
type Property = (&'static str, Variant<Box<dyn RefArg>>);

fn prop(name: &'static str, value: impl RefArg + 'static) -> Property {
    (name, Variant(Box::new(value)))
}

/// The unit properties for `r`: what systemd knows how to set itself.
/// Everything else rt writes to the cgroup files only.
pub fn resource_properties(r: &LinuxResources, unified: bool) -> Result<Vec<Property>> {
    let mut props = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            props.push(prop(
                if unified { "MemoryMax" } else { "MemoryLimit" },
                unlimited(limit),
            ));
        }
        if let Some(low) = m.reservation().filter(|_| unified) {
            props.push(prop("MemoryLow", unlimited(low)));
        }
        if unified {
            if let Some(swap) = convert::swap_to_v2(m.swap(), m.limit())? {
                props.push(prop("MemorySwapMax", unlimited(swap)));
            }
        }
    }
    if let Some(p) = r.pids() {
        // systemd refuses TasksMax=0: 1, as the files get (convert::pids_max).
        props.push(prop("TasksMax", unlimited(p.limit()).max(1)));
    }
    if let Some(cpu) = r.cpu() {
        match cpu.shares().filter(|s| *s != 0) {
            Some(s) if unified => props.push(prop("CPUWeight", convert::shares_to_weight(s))),
            Some(s) => props.push(prop("CPUShares", s)),
            None => {}
        }
        let period = cpu.period().filter(|p| *p != 0).unwrap_or(100_000);
        if let Some(quota) = cpu.quota().filter(|q| *q != 0) {
            // systemd takes a per-second quota, in steps of 10 ms: round up
            // (as runc) so the limit is never tighter than asked.
            let per_sec = match u64::try_from(quota) {
                Ok(q) => (q * 1_000_000).div_ceil(period).div_ceil(10_000) * 10_000,
                Err(_) => u64::MAX,
            };
            props.push(prop("CPUQuotaPerSecUSec", per_sec));
            if unified {
                props.push(prop("CPUQuotaPeriodUSec", period));
            }
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            props.push(prop("AllowedCPUs", bitmask(cpus)?));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
            props.push(prop("AllowedMemoryNodes", bitmask(mems)?));
        }
    }
    Ok(props)
}

/// systemd's "infinity" is u64::MAX; OCI's is -1.
fn unlimited(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A cpuset list ("0-2,4") as systemd's byte array: bit n of byte n/8.
fn bitmask(list: &str) -> Result<Vec<u8>> {
    let words = crate::bitlist::parse(list).map_err(|why| {
        Error::Resource(format!("invalid cpu or memory node list {list:?}: {why}"))
    })?;
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    Ok(bytes)
}

/// A connection to systemd, subscribed to its job signals.
struct Systemd {
    conn: Connection,
    /// Connected to the bus daemon (signals need a match rule there), not
    /// to systemd itself.
    bus: bool,
}

impl Systemd {
    fn connect() -> Result<Systemd> {
        if !running() {
            return Err(Error::Config(
                "the systemd cgroup driver needs systemd, which is not running on this host".into(),
            ));
        }
        let on_bus =
            std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_some() || Path::new(SYSTEM_BUS).exists();
        let (conn, bus) = if on_bus {
            let c =
                Connection::new_system().map_err(|e| dbus_error("connect to the system bus", e))?;
            (c, true)
        } else {
            let ch = Channel::open_private(&format!("unix:path={PRIVATE}"))
                .map_err(|e| dbus_error(&format!("connect to systemd at {PRIVATE}"), e))?;
            (Connection::from(ch), false)
        };
        let me = Systemd { conn, bus };
        // systemd sends job signals only to clients that subscribed.
        me.call::<()>("Subscribe", ())?;
        Ok(me)
    }

    fn call<R: dbus::arg::ReadAll>(
        &self,
        method: &str,
        args: impl dbus::arg::AppendAll,
    ) -> Result<R> {
        self.call_raw(method, args)
            .map_err(|e| dbus_error(&format!("call systemd's {method}"), e))
    }

    fn call_raw<R: dbus::arg::ReadAll>(
        &self,
        method: &str,
        args: impl dbus::arg::AppendAll,
    ) -> std::result::Result<R, dbus::Error> {
        self.conn
            .with_proxy(DEST, OBJECT, JOB_TIMEOUT)
            .method_call(MANAGER, method, args)
    }

    /// Run `start` (a call that queues a job and returns its object path)
    /// and wait until systemd reports the job removed; its result.
    fn run_job(
        &self,
        what: &str,
        start: impl FnOnce() -> std::result::Result<dbus::Path<'static>, dbus::Error>,
    ) -> Result<std::result::Result<String, dbus::Error>> {
        let done: Arc<Mutex<Vec<(dbus::Path<'static>, String)>>> = Arc::default();
        let seen = Arc::clone(&done);
        let rule = MatchRule::new_signal(MANAGER, "JobRemoved");
        // Listening before the job exists: a fast job must not finish
        // unseen.
        let token = if self.bus {
            self.conn
                .add_match(
                    rule,
                    move |(_, job, _, result): (u32, dbus::Path<'static>, String, String), _, _| {
                        if let Ok(mut v) = seen.lock() {
                            v.push((job, result));
                        }
                        true
                    },
                )
                .map_err(|e| dbus_error("listen for systemd's job signals", e))?
        } else {
            self.conn.start_receive(
                rule,
                Box::new(move |msg, _| {
                    if let Ok((_, job, _, result)) =
                        msg.read4::<u32, dbus::Path<'static>, String, String>()
                    {
                        if let Ok(mut v) = seen.lock() {
                            v.push((job, result));
                        }
                    }
                    true
                }),
            )
        };
        let job = match start() {
            Ok(job) => job,
            Err(e) => {
                self.stop_listening(token);
                return Ok(Err(e));
            }
        };
        let deadline = Instant::now() + JOB_TIMEOUT;
        let result = loop {
            let found = done
                .lock()
                .ok()
                .and_then(|v| v.iter().find(|(j, _)| *j == job).map(|(_, r)| r.clone()));
            let left = deadline.saturating_duration_since(Instant::now());
            if found.is_some() || left.is_zero() {
                break found;
            }
            if let Err(e) = self.conn.process(left.min(Duration::from_millis(500))) {
                self.stop_listening(token);
                return Err(dbus_error(&format!("wait for systemd to {what}"), e));
            }
        };
        self.stop_listening(token);
        let Some(result) = result else {
            return Err(Error::Init(format!(
                "systemd did not {what} within {}s",
                JOB_TIMEOUT.as_secs()
            )));
        };
        Ok(Ok(result))
    }

    fn stop_listening(&self, token: dbus::channel::Token) {
        if self.bus {
            let _ = self.conn.remove_match(token);
        } else {
            self.conn.stop_receive(token);
        }
    }
}

fn dbus_error(what: &str, e: dbus::Error) -> Error {
    Error::Init(format!(
        "cannot {what}: {}",
        e.message().or(e.name()).unwrap_or("D-Bus error")
    ))
}

/// Start `unit` holding `pid`, with the limits of `r`; returns once systemd
/// has made the scope's cgroup and moved `pid` into it.
pub fn start(unit: &Unit, id: &str, pid: i32, r: &LinuxResources, unified: bool) -> Result<()> {
    let sd = Systemd::connect()?;
    let pid = u32::try_from(pid).map_err(|_| Error::Init(format!("invalid pid {pid}")))?;
    let accounting = if unified {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    let build = || -> Result<Vec<Property>> {
        let mut props = vec![
            prop("Description", format!("rt container {id}")),
            prop("Slice", unit.slice.clone()),
            prop("PIDs", vec![pid]),
            prop("Delegate", true),
            // No ordering against shutdown.target & co: the scope stops
            // when the container does, not when a target says so.
            prop("DefaultDependencies", false),
            prop("MemoryAccounting", true),
            prop("CPUAccounting", true),
            prop("TasksAccounting", true),
            prop(accounting, true),
        ];
        props.extend(resource_properties(r, unified)?);
        Ok(props)
    };
    let mut retried = false;
    loop {
        let props = build()?;
        let aux: Vec<(&str, Vec<Property>)> = Vec::new();
        let outcome = sd.run_job("start the unit", || {
            sd.call_raw::<(dbus::Path<'static>,)>(
                "StartTransientUnit",
                (unit.name.as_str(), "replace", props, aux),
            )
            .map(|(job,)| job)
        })?;
        match outcome {
            Ok(result) if result == "done" => return Ok(()),
            Ok(result) => {
                return Err(Error::Init(format!(
                    "systemd could not start {} (job result {result:?})",
                    unit.name
                )))
            }
            // A failed scope of a container with the same name stays loaded
            // until reset: reset it once and try again (as runc does).
            Err(e) if e.name() == Some("org.freedesktop.systemd1.UnitExists") && !retried => {
                retried = true;
                let _ = sd.call::<()>("ResetFailedUnit", (unit.name.as_str(),));
            }
            Err(e) => return Err(dbus_error(&format!("start {}", unit.name), e)),
        }
    }
}

/// Stop `unit` (its processes are killed, its cgroup removed) and forget
/// it. A unit systemd no longer knows is already stopped.
pub fn stop(unit: &str) -> Result<()> {
    let sd = Systemd::connect()?;
    let outcome = sd.run_job("stop the unit", || {
        sd.call_raw::<(dbus::Path<'static>,)>("StopUnit", (unit, "replace"))
            .map(|(job,)| job)
    })?;
    match outcome {
        Ok(result) if result == "done" => {}
        Ok(result) => {
            return Err(Error::Init(format!(
                "systemd could not stop {unit} (job result {result:?})"
            )))
        }
        Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => {}
        Err(e) => return Err(dbus_error(&format!("stop {unit}"), e)),
    }
    // A scope whose processes were killed ends "failed" and stays loaded.
    let _ = sd.call_raw::<()>("ResetFailedUnit", (unit,));
    Ok(())
}

/// `rt update`: tell systemd the new limits, so that it keeps them.
pub fn set_properties(unit: &str, r: &LinuxResources, unified: bool) -> Result<()> {
    let props = resource_properties(r, unified)?;
    if props.is_empty() {
        return Ok(());
    }
    Systemd::connect()?.call::<()>("SetUnitProperties", (unit, true, props))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(path: Option<&str>) -> Result<Unit> {
        Unit::parse(path, "c1")
    }

    #[test]
    fn names_and_paths() {
        let u = unit(Some("system.slice:rt:c1")).unwrap();
        assert_eq!(u.name, "rt-c1.scope");
        assert_eq!(u.cgroup_path(), PathBuf::from("system.slice/rt-c1.scope"));
        let u = unit(None).unwrap();
        assert_eq!(
            (u.name.as_str(), u.slice.as_str()),
            ("rt-c1.scope", "system.slice")
        );
        let u = unit(Some(":docker:abc")).unwrap();
        assert_eq!(u.slice, "system.slice");
        let u = unit(Some("machine-rt-test.slice:rt:x")).unwrap();
        assert_eq!(
            u.cgroup_path(),
            PathBuf::from("machine.slice/machine-rt.slice/machine-rt-test.slice/rt-x.scope")
        );
        let u = unit(Some("-.slice::x.scope")).unwrap();
        assert_eq!(u.cgroup_path(), PathBuf::from("x.scope"));
        for path in [
            "machine-rt-test.slice:rt:x",
            "-.slice::x.scope",
            "system.slice:rt:c1",
        ] {
            let u = unit(Some(path)).unwrap();
            assert_eq!(Unit::recorded(&u.name, &u.cgroup_path()), u, "{path}");
        }
        for bad in [
            "/a/b",
            "a:b",
            "system.slice:rt:",
            "a-.slice:rt:x",
            "foo:rt:x",
            "s.slice:p:n.slice",
            "s.slice:p:a/b",
        ] {
            assert!(unit(Some(bad)).is_err(), "{bad}");
        }
    }

    /// The properties as (name, value as text), for comparing.
    fn props(r: serde_json::Value, unified: bool) -> Vec<(String, String)> {
        let r: LinuxResources = serde_json::from_value(r).unwrap();
        resource_properties(&r, unified)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.to_string(), format!("{:?}", v.0)))
            .collect()
    }

    #[test]
    fn limits_as_unit_properties() {
        let r = serde_json::json!({
            "memory": {"limit": 67108864, "reservation": 1048576, "swap": 134217728},
            "pids": {"limit": 50},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"}
        });
        let v2 = props(r.clone(), true);
        let has = |p: &[(String, String)], name: &str, value: &str| {
            assert!(
                p.iter().any(|(n, v)| n == name && v == value),
                "{name}={value} missing from {p:?}"
            )
        };
        has(&v2, "MemoryMax", "67108864");
        has(&v2, "MemoryLow", "1048576");
        // OCI swap is memory+swap; systemd's MemorySwapMax is swap alone.
        has(&v2, "MemorySwapMax", "67108864");
        has(&v2, "TasksMax", "50");
        has(&v2, "CPUWeight", "39");
        has(&v2, "CPUQuotaPerSecUSec", "500000");
        has(&v2, "CPUQuotaPeriodUSec", "100000");
        has(&v2, "AllowedCPUs", "[3]");
        has(&v2, "AllowedMemoryNodes", "[1]");
        let v1 = props(r, false);
        has(&v1, "MemoryLimit", "67108864");
        has(&v1, "CPUShares", "1024");
        assert!(!v1
            .iter()
            .any(|(n, _)| n == "MemoryLow" || n == "CPUQuotaPeriodUSec"));
        // -1 is systemd's infinity; a quota is rounded up to 10 ms steps.
        let p = props(
            serde_json::json!({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": 12345, "period": 100000}}),
            true,
        );
        has(&p, "MemoryMax", &u64::MAX.to_string());
        has(&p, "TasksMax", &u64::MAX.to_string());
        has(&p, "CPUQuotaPerSecUSec", "130000");
        assert!(props(serde_json::json!({}), true).is_empty());
        has(
            &props(serde_json::json!({"pids": {"limit": 0}}), true),
            "TasksMax",
            "1",
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(bitmask("0-2,4").unwrap(), vec![0b1_0111]);
        assert_eq!(bitmask("9").unwrap(), vec![0, 0b10]);
        assert!(bitmask("3-1").is_err());
        assert!(bitmask("x").is_err());
    }
}
