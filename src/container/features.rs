//! `rt features`: what this build of rt supports, in the runtime spec's
//! features document (features.md), for clients such as containerd and
//! Kubernetes that decide what to ask for from it.

use serde_json::{json, Value};

use crate::state::OCI_VERSION;

/// Every mount option `init::mounts::parse_options` understands.
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "notmpcopyup",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub fn features() -> Value {
    let caps: Vec<String> = caps::all()
        .iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": crate::seccomp::features(),
            // Labels are applied where the host has the module, and refused
            // where it has not (`init::lsm`).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": crate::spec::mempolicy::MODES.map(|(name, _)| name),
                "flags": crate::spec::mempolicy::FLAGS.map(|(name, _)| name),
            },
        },
        "annotations": {
            "io.github.rt.version": env!("CARGO_PKG_VERSION"),
            // Checkpoint and restore with criu are built in; runc's
            // annotation, which other runtimes may use (runc's
            // types/features).
            "org.opencontainers.runc.checkpoint.enabled": "true",
        },
        // Config annotations a client should not take from an untrusted
        // source (a pod's): rt acts on org.criu.config (a file criu reads,
        // `criu::config_file`); the others are runc's (its bundle label,
        // systemd unit properties), listed as runc lists them so that a
        // client filters the same set whichever runtime it calls.
        "potentiallyUnsafeConfigAnnotations": [
            "bundle",
            "org.systemd.property.",
            crate::criu::CONFIG_ANNOTATION,
        ],
    })
}
