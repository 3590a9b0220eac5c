//! `linux.sysctl`: which keys a container may set, and writing them.
//!
//! /proc/sys is only partly namespaced: a write to any other file changes
//! the host (`kernel.core_pattern` would give host root). So a key is
//! accepted only when it belongs to a namespace the container has of its
//! own, as runc decides (and with its wording): the ipc namespace's
//! `kernel.msg*`, `sem`, `shm*` and `fs.mqueue.*`, a network namespace's
//! `net.*`, a uts namespace's `kernel.domainname` (`kernel.hostname` is the
//! `hostname` field's), a user namespace's `user.*`. A namespace given by
//! path that is rt's own (runc checks this for the network namespace, rt
//! for each) is the host's. `create` runs [`check`] on config.json and
//! [`check_joined`] on the namespaces it opened, before anything is set up.
//!
//! Values are written through the host procfs handle, so that the
//! container cannot redirect the
//! writes with mounts of its own; namespaced sysctls apply to the writer's
//! namespaces, which are the container's by now.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use super::namespaces::{proc_name, Plan};
use crate::error::{Context, Error, Result};

/// The ipc namespace's files under /proc/sys/kernel (ipc_sysctl.c, the
/// ones runc allows).
const IPC_KERNEL: &[&str] = &[
    "msgmax",
    "msgmnb",
    "msgmni",
    "sem",
    "shmall",
    "shmmax",
    "shmmni",
    "shm_rmid_forced",
];

/// The file under /proc/sys that `key` names, or None when it is not a
/// plain relative path. As sysctl(8) reads keys: when the first separator
/// is a dot, dots separate and slashes are dots (an interface `eth0.1` is
/// `net.ipv4.conf.eth0/1.forwarding`); otherwise the key is the path.
fn path(key: &str) -> Option<String> {
    let path: String = match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'.' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    };
    let plain = path
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    plain.then_some(path)
}

/// The namespace `path`'s file belongs to, or runc's reason it belongs to
/// none the container could have (which needs no namespace list).
fn owner(key: &str, path: &str) -> std::result::Result<LinuxNamespaceType, String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        ["kernel", name] if IPC_KERNEL.contains(&name) => Ok(LinuxNamespaceType::Ipc),
        ["fs", "mqueue", _, ..] => Ok(LinuxNamespaceType::Ipc),
        ["net", _, ..] => Ok(LinuxNamespaceType::Network),
        ["kernel", "domainname"] => Ok(LinuxNamespaceType::Uts),
        ["kernel", "hostname"] => Err(format!(
            "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
        )),
        ["user", _, ..] => Ok(LinuxNamespaceType::User),
        _ => Err(not_namespaced(key)),
    }
}

fn not_namespaced(key: &str) -> String {
    format!("sysctl {key:?} is not in a separate kernel namespace")
}

/// Why `key` may not be set without a namespace of type `t` of its own.
fn outside(key: &str, t: LinuxNamespaceType) -> String {
    match t {
        LinuxNamespaceType::Ipc => {
            format!("sysctl {key:?} is not allowed in the hosts ipc namespace")
        }
        LinuxNamespaceType::Network => {
            format!("sysctl {key:?} not allowed in host network namespace")
        }
        LinuxNamespaceType::User => {
            format!("setting ucounts without a user namespace not allowed: {key:?}")
        }
        _ => not_namespaced(key),
    }
}

/// Every key names a file of a namespace the config gives the container
/// (new or by path; see [`check_joined`] for the path being the host's).
pub fn check(
    sysctl: &HashMap<String, String>,
    namespaces: &[LinuxNamespace],
) -> std::result::Result<(), String> {
    for key in sorted(sysctl) {
        let path = path(key).ok_or_else(|| format!("linux.sysctl key {key:?} is invalid"))?;
        let t = owner(key, &path)?;
        if !namespaces.iter().any(|n| n.typ() == t) {
            return Err(outside(key, t));
        }
    }
    Ok(())
}

/// A namespace given by path that is rt's own is the host's: its sysctls
/// are refused as without the namespace.
pub fn check_joined(sysctl: Option<&HashMap<String, String>>, plan: &Plan) -> Result<()> {
    for key in sysctl.into_iter().flat_map(sorted) {
        let Some(t) = path(key).and_then(|p| owner(key, &p).ok()) else {
            continue;
        };
        for (_, fd) in plan.join.iter().filter(|(x, _)| *x == t) {
            let ours = format!("/proc/self/ns/{}", proc_name(t));
            let ours = nix::sys::stat::stat(ours.as_str()).ctx(|| format!("cannot stat {ours}"))?;
            let theirs =
                nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| "cannot stat a namespace to join")?;
            if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
                return Err(Error::Config(outside(key, t)));
            }
        }
    }
    Ok(())
}

fn sorted(sysctl: &HashMap<String, String>) -> Vec<&String> {
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    keys
}

pub fn apply(proc: &super::procfs::HostProc, sysctl: &HashMap<String, String>) -> Result<()> {
    for key in sorted(sysctl) {
        // Checked by `check` before create began.
        let path = path(key).ok_or_else(|| Error::Config(format!("invalid sysctl {key:?}")))?;
        proc.write(&format!("sys/{path}"), &sysctl[key])
            .ctx(|| format!("cannot set sysctl {key}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path("net.ipv4.ip_forward").as_deref(),
            Some("net/ipv4/ip_forward")
        );
        assert_eq!(
            path("net/ipv4/ip_forward").as_deref(),
            Some("net/ipv4/ip_forward")
        );
        assert_eq!(
            path("net.ipv4.conf.eth0/1.forwarding").as_deref(),
            Some("net/ipv4/conf/eth0.1/forwarding")
        );
        assert_eq!(
            path("net/ipv4/conf/eth0.1/forwarding").as_deref(),
            Some("net/ipv4/conf/eth0.1/forwarding")
        );
        for bad in [
            "",
            "/net/x",
            "net..x",
            "net/../kernel/core_pattern",
            "net.",
            ".net",
            "a/./b",
            "../../etc/passwd",
            "net/x\0",
        ] {
            assert_eq!(path(bad), None, "{bad:?}");
        }
    }

    fn ns(types: &[LinuxNamespaceType]) -> Vec<LinuxNamespace> {
        types
            .iter()
            .map(|t| {
                let mut n = LinuxNamespace::default();
                n.set_typ(*t);
                n
            })
            .collect()
    }

    fn one(key: &str, types: &[LinuxNamespaceType]) -> std::result::Result<(), String> {
        check(
            &HashMap::from([(key.to_string(), "1".to_string())]),
            &ns(types),
        )
    }

    #[test]
    fn namespaced_keys_only() {
        use LinuxNamespaceType::{Ipc, Network as Net, User, Uts};
        let all = [Ipc, Net, User, Uts];
        for (key, t) in [
            ("kernel.shmmax", Ipc),
            ("kernel/msgmnb", Ipc),
            ("kernel.shm_rmid_forced", Ipc),
            ("fs.mqueue.msg_max", Ipc),
            ("net.core.somaxconn", Net),
            ("net/ipv4/ip_forward", Net),
            ("kernel.domainname", Uts),
            ("user.max_user_namespaces", User),
        ] {
            assert_eq!(one(key, &[t]), Ok(()), "{key}");
            let others: Vec<_> = all.into_iter().filter(|x| *x != t).collect();
            let err = one(key, &others).unwrap_err();
            assert!(err.contains(key), "{key}: {err}");
        }
        for key in [
            "kernel.printk_ratelimit_burst",
            "kernel.core_pattern",
            "kernel/core_pattern",
            "kernel.msgmax.x",
            "kernel",
            "fs.mqueue",
            "fs.file-max",
            "vm.overcommit_memory",
        ] {
            assert_eq!(
                one(key, &all).unwrap_err(),
                format!("sysctl {key:?} is not in a separate kernel namespace")
            );
        }
        assert!(one("kernel.hostname", &all)
            .unwrap_err()
            .contains("conflicts with the OCI \"hostname\" field"));
        assert_eq!(
            one("net.core.somaxconn", &[Ipc]).unwrap_err(),
            "sysctl \"net.core.somaxconn\" not allowed in host network namespace"
        );
        assert_eq!(
            one("kernel.sem", &[Net]).unwrap_err(),
            "sysctl \"kernel.sem\" is not allowed in the hosts ipc namespace"
        );
    }
}
