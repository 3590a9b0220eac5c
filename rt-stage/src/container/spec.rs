//! config.json for `rt create`, from the container's record (the image config merged
//! with the command line, see `create`) and what start has set up: the root
//! filesystem, the resolved user, the network namespace.
//!
//! The template is Docker's defaults rather than `rt spec`'s (a writable root, Docker's
//! capability set, no terminal unless -t), with the image config mapped as the OCI
//! image spec's conversion document says: Entrypoint+Cmd → process.args, Env →
//! process.env, WorkingDir → process.cwd, User → process.user, Labels and
//! ExposedPorts/StopSignal → annotations, Volumes → mounts.

use std::path::Path;

use serde_json::{json, Value};

use super::user::User;
use crate::network::{files, NETNS};
use crate::record::{Container, MountKind, MountPoint, NetworkMode};

/// Docker's default capabilities.
const CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The cgroup every container of rt-stage gets: under /rt-stage, never left to rt's
/// default (which nests under the caller's own cgroup).
pub fn cgroups_path(id: &str) -> String {
    format!("/rt-stage/{id}")
}

/// The process environment: the record's, plus what Docker always sets.
pub fn environment(c: &Container, user: &User) -> Vec<String> {
    let mut env = c.config.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={}", c.config.hostname));
    }
    if c.config.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    env
}

fn system_mounts() -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ]
}

fn user_mount(m: &MountPoint) -> Value {
    let rw = if m.rw { "rw" } else { "ro" };
    match m.kind {
        MountKind::Tmpfs => {
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            options.extend(m.options.iter().cloned());
            json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
        }
        MountKind::Volume | MountKind::Bind => json!({
            "destination": m.destination, "type": "bind", "source": m.source,
            "options": ["rbind", "rprivate", rw],
        }),
    }
}

fn resources(c: &Container) -> Value {
    let mut r = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(m) = c.host.memory {
        r["memory"] = json!({"limit": m});
    }
    if let Some(n) = c.host.nano_cpus {
        let period: i64 = 100_000;
        r["cpu"] = json!({"quota": n * period / 1_000_000_000, "period": period});
    }
    if let Some(p) = c.host.pids_limit {
        r["pids"] = json!({"limit": p});
    }
    r
}

fn annotations(c: &Container) -> Value {
    let mut a = serde_json::Map::new();
    for (k, v) in &c.config.labels {
        a.insert(k.clone(), json!(v));
    }
    if !c.config.exposed_ports.is_empty() {
        a.insert(
            "org.opencontainers.image.exposedPorts".into(),
            json!(c.config.exposed_ports.join(",")),
        );
    }
    if let Some(s) = &c.config.stop_signal {
        a.insert("org.opencontainers.image.stopSignal".into(), json!(s));
    }
    a.insert("org.opencontainers.image.ref.name".into(), json!(c.image));
    Value::Object(a)
}

/// The whole config.json.
pub fn generate(c: &Container, dir: &Path, rootfs: &Path, user: &User) -> Value {
    let mut mounts = system_mounts();
    let mut own: Vec<&MountPoint> = c.mounts.iter().collect();
    // Parents before children, as Docker orders them.
    own.sort_by_key(|m| Path::new(&m.destination).components().count());
    mounts.extend(own.iter().map(|m| user_mount(m)));
    for (file, dest) in [
        (files::RESOLV_CONF, "/etc/resolv.conf"),
        (files::HOSTNAME, "/etc/hostname"),
        (files::HOSTS, "/etc/hosts"),
    ] {
        if !c
            .mounts
            .iter()
            .any(|m| m.destination == dest || m.destination == "/etc")
        {
            mounts.push(json!({"destination": dest, "type": "bind", "source": dir.join(file), "options": ["rbind", "rprivate", "rw"]}));
        }
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if c.host.network != NetworkMode::Host {
        namespaces.push(json!({"type": "network", "path": dir.join(NETNS)}));
    }
    let cwd = if c.config.working_dir.is_empty() {
        "/"
    } else {
        c.config.working_dir.as_str()
    };
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": c.config.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": c.config.args(),
            "env": environment(c, user),
            "cwd": cwd,
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": c.config.hostname,
        "mounts": mounts,
        "annotations": annotations(c),
        "linux": {
            "cgroupsPath": cgroups_path(&c.id),
            "resources": resources(c),
            "namespaces": namespaces,
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY,
        },
    })
}
