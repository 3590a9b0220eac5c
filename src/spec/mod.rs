//! Loading and validating an OCI bundle's config.json.
//!
//! oci-spec does the parsing; this module adds the checks the runtime spec
//! requires before anything is created, so a broken config fails with one
//! line that names the field, and leaves nothing behind.

pub mod capabilities;
pub mod mempolicy;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = recorded_dir(bundle)?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(|source| Error::ConfigRead {
        path: path.clone(),
        source,
    })?;
    let mut spec = parse(&data)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Config("root is missing".into()))?;
    let rootfs = dir.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return bad(format!("root.path {} is not a directory", rootfs.display())),
        Err(e) => return bad(format!("root.path {}: {e}", rootfs.display())),
    }
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| Error::io(format!("root.path {}", rootfs.display()), e))?;
    if rootfs == Path::new("/") {
        return Err(Error::Config(
            "root.path must not resolve to the host's /".into(),
        ));
    }
    let given = dir.join(root.path());
    place_destinations(&mut spec, &[&given, &rootfs]);
    Ok(Bundle { dir, spec, rootfs })
}

/// Mount destinations as runc reads them: a relative one is relative to
/// the container's `/` (with runc's warning), and one that spells out the
/// rootfs's host path names the place below it (runc strips the prefix).
fn place_destinations(spec: &mut Spec, rootfs: &[&Path]) {
    let Some(mut mounts) = spec.mounts().clone() else {
        return;
    };
    for m in &mut mounts {
        let dest = m.destination();
        let inside = rootfs.iter().find_map(|r| dest.strip_prefix(r).ok());
        let placed = match inside {
            Some(rest) => Path::new("/").join(rest),
            None if dest.is_relative() => {
                crate::logging::warn(&format!(
                    "mount destination {} is not absolute. Support for non-absolute mount destinations will be removed in a future release.",
                    dest.display()
                ));
                Path::new("/").join(dest)
            }
            None => continue,
        };
        m.set_destination(placed);
    }
    spec.set_mounts(Some(mounts));
}

/// The bundle directory as runc records it (in the state, `list`, hooks'
/// input): its working directory after entering the bundle, as Go's
/// os.Getwd reports it — $PWD when that names the very directory (the path
/// the caller sees, through symlinks: `list` shows the caller's $PWD),
/// otherwise the physical path. A bundle that cannot be resolved is kept
/// as given, made absolute, for the error that reading config.json gives.
fn recorded_dir(bundle: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(physical) = std::fs::canonicalize(bundle) else {
        return std::path::absolute(bundle)
            .map_err(|e| Error::io(format!("bundle {}", bundle.display()), e));
    };
    let pwd = std::env::var_os("PWD")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    Ok(match pwd {
        Some(pwd) if same(&pwd, &physical) => pwd,
        _ => physical,
    })
}

/// Parse (as runc does: see `gojson`) and validate config.json bytes.
pub fn parse(data: &[u8]) -> Result<Spec> {
    let config_error = |e: serde_json::Error| Error::Config(single_line(&short_serde_error(&e)));
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(config_error)?;
    for (key, process) in value.as_object_mut().into_iter().flatten() {
        if key.eq_ignore_ascii_case("process") {
            capabilities::drop_unknown_in_process(process);
        }
    }
    let policy = crate::gojson::field(&value, "linux")
        .and_then(|l| crate::gojson::field(l, "memoryPolicy"))
        .filter(|p| !p.is_null());
    if let Some(p) = policy {
        crate::spec::mempolicy::check_names(p)?;
    }
    let spec: Spec = crate::gojson::from_value(value, data).map_err(config_error)?;
    let mut spec = spec;
    empty_namespace_paths_are_none(&mut spec);
    validate(&spec)?;
    Ok(spec)
}

/// A namespace with `"path": ""` is a new one, as with runc (engines and
/// runc's tests write it so): the rest of rt sees no path at all.
fn empty_namespace_paths_are_none(spec: &mut Spec) {
    let namespaces = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut());
    for ns in namespaces.into_iter().flatten() {
        if ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            ns.set_path(None);
        }
    }
}

/// A config value as config.json spells it (`pid`, `RLIMIT_NOFILE`), not
/// as the Rust type is named.
pub fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

/// serde lists every accepted variant on an unknown one: keep the line
/// short and in the config's terms.
fn short_serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    // Line 0: an error found after parsing, without a position.
    let at = match e.line() {
        0 => String::new(),
        line => format!(" at line {line} column {}", e.column()),
    };
    match msg.split_once(", expected one of") {
        Some((head, _)) => format!("{head}{at}"),
        None => msg,
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Config(single_line(&msg.into())))
}

/// Messages quote the config's own strings (serde's unknown variant, paths
/// shown with `display`), which may hold a newline: escape control
/// characters so an error stays one line on stderr and in the log.
pub(crate) fn single_line(msg: &str) -> String {
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn validate(spec: &Spec) -> Result<()> {
    if spec.version().is_empty() {
        return bad("ociVersion is missing");
    }
    if !spec.version().starts_with("1.") {
        return bad(format!(
            "ociVersion {:?} is not supported (1.x only)",
            spec.version()
        ));
    }
    let Some(process) = spec.process() else {
        return bad("process is missing");
    };
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return bad("process.args must name a program"),
    }
    if !process.cwd().is_absolute() {
        return bad(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        ));
    }
    check_user(process.user()).or_else(bad)?;
    if let Some(env) = process.env() {
        if let Some(e) = env.iter().find(|e| !e.contains('=')) {
            return bad(format!("process.env entry {e:?} is not KEY=value"));
        }
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for r in rlimits {
            if r.soft() > r.hard() {
                return bad(format!(
                    "process.rlimits {}: soft limit {} exceeds hard limit {}",
                    name(&r.typ()),
                    r.soft(),
                    r.hard()
                ));
            }
            if !seen.insert(name(&r.typ())) {
                return bad(format!("process.rlimits {} given twice", name(&r.typ())));
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return bad("linux section is missing");
    };
    let mut types = HashSet::new();
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        if !types.insert(ns.typ()) {
            return bad(format!("namespace {} given twice", name(&ns.typ())));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return bad(format!(
                    "namespace {} path {:?} must be absolute",
                    name(&ns.typ()),
                    p
                ));
            }
        }
    }
    let new_ns = |t| {
        linux
            .namespaces()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    let has_ns = |t| types.contains(&t);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts)
    {
        return bad("hostname requires a uts namespace");
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !has_ns(LinuxNamespaceType::Uts)
    {
        return bad("domainname requires a uts namespace");
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_ns(LinuxNamespaceType::User) {
        if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
            || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty())
        {
            return bad("a new user namespace needs linux.uidMappings and linux.gidMappings");
        }
    } else if maps {
        return bad("linux.uidMappings/gidMappings need a new user namespace");
    }
    for m in linux
        .uid_mappings()
        .iter()
        .chain(linux.gid_mappings().iter())
        .flatten()
    {
        if m.size() == 0 {
            return bad("an id mapping has size 0");
        }
        if m.host_id().checked_add(m.size()).is_none()
            || m.container_id().checked_add(m.size()).is_none()
        {
            return bad("an id mapping overflows 32 bits");
        }
    }
    if let Some(p) = linux.memory_policy() {
        crate::spec::mempolicy::plan(p)?;
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new_ns(LinuxNamespaceType::Time)
    {
        return bad("linux.timeOffsets requires a new time namespace");
    }
    for clock in linux.time_offsets().iter().flat_map(|t| t.keys()) {
        if clock != "monotonic" && clock != "boottime" {
            return bad(format!(
                "linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
            ));
        }
    }
    check_exec_affinity(process)?;
    let hugepages = linux
        .resources()
        .as_ref()
        .and_then(|r| r.hugepage_limits().clone())
        .unwrap_or_default();
    for (i, l) in hugepages.iter().enumerate() {
        if !is_page_size(l.page_size()) {
            return bad(format!(
                "linux.resources.hugepageLimits[{i}].pageSize {:?} is not a page size such as 2MB or 1GB",
                l.page_size()
            ));
        }
    }
    check_sizes(spec, linux)
}

/// The largest uid or gid rt sets: setresuid(2) and friends read
/// (uid_t)-1 as "leave unchanged", so 4294967295 would leave the process
/// root, and ids past 2^31-1 are negative to the kernel's checks.
const MAX_ID: u32 = i32::MAX as u32;

/// `process.user`'s ids in the range the kernel takes as ids (`create`
/// and `exec` check it before anything is set up); runc's wording.
pub fn check_user(user: &oci_spec::runtime::User) -> std::result::Result<(), String> {
    let ids = [("uid", user.uid()), ("gid", user.gid())]
        .into_iter()
        .chain(
            user.additional_gids()
                .iter()
                .flatten()
                .map(|g| ("additionalGids", *g)),
        );
    for (field, id) in ids {
        if id > MAX_ID {
            return Err(format!(
                "process.user.{field} {id}: uids and gids must be in range 0-{MAX_ID}"
            ));
        }
    }
    Ok(())
}

/// `process.execCPUAffinity`'s lists, checked before anything is made
/// (config.json, and exec's process).
pub fn check_exec_affinity(process: &oci_spec::runtime::Process) -> Result<()> {
    let Some(a) = process.exec_cpu_affinity() else {
        return Ok(());
    };
    for (name, list) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
        if let Some(list) = list {
            crate::bitlist::parse(list)
                .or_else(|why| bad(format!("process.execCPUAffinity.{name} {list:?}: {why}")))?;
        }
    }
    Ok(())
}

/// A huge page size as the hugetlb controller names its files: a number
/// and KB, MB or GB.
fn is_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(&s[digits.len()..], "KB" | "MB" | "GB")
}

/// Values the kernel would refuse only after `start` (exec's E2BIG), refuse
/// with a message the size of the value (a 70 kB hostname), or silently
/// truncate (device numbers): refused here, naming the field.
fn check_sizes(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<()> {
    // __NEW_UTS_LEN.
    const UTS_LEN: usize = 64;
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let Some(v) = value.as_deref().filter(|v| v.len() > UTS_LEN) {
            return bad(format!(
                "{field} is {} bytes long; the kernel takes at most {UTS_LEN}",
                v.len()
            ));
        }
    }
    // MAX_ARG_STRLEN (32 pages, the terminating NUL included).
    const ARG_LEN: usize = 32 * 4096;
    if let Some(p) = spec.process() {
        for (field, list) in [("process.args", p.args()), ("process.env", p.env())] {
            if let Some((i, s)) = list
                .iter()
                .flatten()
                .enumerate()
                .find(|(_, s)| s.len() >= ARG_LEN)
            {
                return bad(format!(
                    "{field}[{i}] is {} bytes long; exec takes at most {}",
                    s.len(),
                    ARG_LEN - 1
                ));
            }
        }
    }
    // mknod(2) takes a 32-bit dev_t: a 12-bit major and a 20-bit minor.
    for d in linux.devices().iter().flatten() {
        if !(0..=0xfff).contains(&d.major()) || !(0..=0xf_ffff).contains(&d.minor()) {
            return bad(format!(
                "linux.devices {}: major {} minor {} out of range (0-4095, 0-1048575)",
                d.path().display(),
                d.major(),
                d.minor()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "hostname": "h",
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}
        })
    }

    fn check(v: serde_json::Value) -> std::result::Result<(), String> {
        parse(v.to_string().as_bytes())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn valid() {
        assert_eq!(check(base()), Ok(()));
        // Unknown capability names are dropped (spec::capabilities).
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_NOPE", "CAP_KILL"]});
        assert_eq!(check(v), Ok(()));
    }

    #[test]
    fn broken() {
        let mut v = base();
        v["linux"]["namespaces"] =
            serde_json::json!([{"type": "pid"}, {"type": "pid"}, {"type": "uts"}]);
        assert!(check(v).unwrap_err().contains("given twice"));
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        assert_eq!(
            check(v).unwrap_err(),
            "invalid config.json: hostname requires a uts namespace"
        );
        let mut v = base();
        v["process"]["cwd"] = "rel".into();
        assert!(check(v).unwrap_err().contains("absolute"));
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        assert!(check(v).unwrap_err().contains("unknown variant `bogus`"));
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}, {"type": "uts"}]);
        assert!(check(v).unwrap_err().contains("uidMappings"));
    }

    #[test]
    fn ids_in_range() {
        for user in [
            serde_json::json!({"uid": 4294967295u32, "gid": 0}),
            serde_json::json!({"uid": 0, "gid": 2147483648u32}),
            serde_json::json!({"uid": 0, "gid": 0, "additionalGids": [1, 4294967295u32]}),
        ] {
            let mut v = base();
            v["process"]["user"] = user.clone();
            let err = check(v).unwrap_err();
            assert!(
                err.contains("uids and gids must be in range 0-2147483647"),
                "{user}: {err}"
            );
        }
        let mut v = base();
        v["process"]["user"] = serde_json::json!({"uid": 2147483647u32, "gid": 2147483647u32});
        assert_eq!(check(v), Ok(()));
    }

    #[test]
    fn sizes() {
        let mut v = base();
        v["hostname"] = "h".repeat(65).into();
        assert!(check(v).unwrap_err().contains("hostname is 65 bytes long"));
        let mut v = base();
        v["process"]["env"] = serde_json::json!(["A=1", format!("B={}", "x".repeat(200_000))]);
        assert!(check(v)
            .unwrap_err()
            .contains("process.env[1] is 200002 bytes long"));
        let mut v = base();
        v["linux"]["devices"] =
            serde_json::json!([{"path": "/dev/x", "type": "c", "major": 4096, "minor": 0}]);
        assert!(check(v).unwrap_err().contains("out of range"));
        let mut v = base();
        v["linux"]["devices"] =
            serde_json::json!([{"path": "/dev/x", "type": "c", "major": 4095, "minor": 1048575}]);
        assert_eq!(check(v), Ok(()));
        // Newlines quoted from the config stay escaped.
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "a\nb"}]);
        assert!(!check(v).unwrap_err().contains('\n'));
    }
}
