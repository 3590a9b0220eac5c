//! Linux security modules: `process.apparmorProfile` and
//! `process.selinuxLabel`, applied on exec through the host procfs handle
//! (never the container's /proc, which the image could fake:
//! CVE-2019-16884). Asking for a profile of an LSM that is not active is an
//! error, not a silent no-op: the container would run unconfined.
//!
//! With SELinux, as runc: `linux.mountLabel` labels the container's new
//! filesystems (`context=`, see `mounts::mount_entry`), and the session
//! keyring is created with the process's label. Without SELinux the mount
//! label has nothing to apply to and is ignored (runc would hand
//! `context=` to filesystems that then refuse it).

use std::path::Path;

use super::procfs::HostProc;
use crate::error::{Context, Error, Result};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Check up front that what is asked for can be applied: in `create` and
/// `exec`, on the host, whose /sys this reads (the init and the exec'd
/// child see the container's).
pub fn check(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::Config(format!(
                "process.apparmorProfile {p:?}: AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            return Err(Error::Config(format!(
                "process.selinuxLabel {l:?}: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// linux.mountLabel, when SELinux can apply it.
pub fn mount_label(label: Option<&str>) -> Option<&str> {
    label.filter(|l| !l.is_empty() && selinux_enabled())
}

/// The filesystem parameter that labels a new mount: a parameter of its
/// own (fsconfig), so a label's commas need no quotes.
pub fn mount_context(label: &str) -> String {
    format!("context={label}")
}

/// Label the keys this process creates (its session keyring) as the
/// process will be: /proc/self/attr/keycreate, while /proc is still the
/// host's (before the mounts). Nothing to do without SELinux or a label.
pub fn label_keys(label: Option<&str>) -> Result<()> {
    match label.filter(|l| !l.is_empty()) {
        Some(l) if selinux_enabled() => std::fs::write("/proc/self/attr/keycreate", l)
            .ctx(|| format!("cannot write {l:?} to /proc/self/attr/keycreate")),
        _ => Ok(()),
    }
}

/// Arrange for the labels to take effect at exec (after [`check`] on the
/// host), written through the host procfs handle.
pub fn apply_on_exec(proc: &HostProc, apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    let write = |path: &str, value: &str| {
        proc.write(path, value)
            .ctx(|| format!("cannot write {value:?} to /proc/{path}"))
    };
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        write(apparmor_exec_attr(proc), &format!("exec {p}"))?;
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        write(EXEC_ATTR, l)?;
    }
    Ok(())
}

const EXEC_ATTR: &str = "thread-self/attr/exec";

/// Newer kernels give AppArmor its own attr directory.
fn apparmor_exec_attr(proc: &HostProc) -> &'static str {
    const APPARMOR: &str = "thread-self/attr/apparmor/exec";
    match proc.open_at(APPARMOR, nix::fcntl::OFlag::O_PATH) {
        Ok(_) => APPARMOR,
        Err(_) => EXEC_ATTR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fail_clearly_without_the_lsm() {
        assert!(check(None, None).is_ok());
        assert!(check(Some(""), Some("")).is_ok());
        if !apparmor_enabled() {
            let e = check(Some("docker-default"), None).unwrap_err().to_string();
            assert!(e.contains("AppArmor is not enabled"), "{e}");
        }
        if !selinux_enabled() {
            let e = check(None, Some("system_u:system_r:container_t:s0"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("SELinux is not enabled"), "{e}");
        }
    }

    #[test]
    fn mount_label_is_one_parameter_and_only_with_selinux() {
        let label = "system_u:object_r:container_file_t:s0:c1,c2";
        assert_eq!(mount_context(label), format!("context={label}"));
        assert_eq!(mount_label(Some("")), None);
        assert_eq!(mount_label(None), None);
        assert_eq!(mount_label(Some(label)).is_some(), selinux_enabled());
        // Nothing is written where SELinux is off.
        if !selinux_enabled() {
            label_keys(Some(label)).unwrap();
        }
    }
}
