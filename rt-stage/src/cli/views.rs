//! How containers look in `ps` and `inspect`: Docker's columns and JSON shape.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::format;
use crate::container::log::LOG;
use crate::container::union::{INIT, MERGED, UPPER, WORK};
use crate::error::Result;
use crate::network::NETNS;
use crate::record::{Container, Driver, MountKind, PortBinding, State, Status};
use crate::store::Store;

fn since(t: Option<&str>) -> Duration {
    t.and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(Duration::ZERO)
}

/// "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(s: &State) -> String {
    if s.is_running() {
        return format!(
            "Up {}",
            format::human_duration(since(s.started_at.as_deref()))
        );
    }
    match s.status {
        Status::Created => "Created".into(),
        _ => format!(
            "Exited ({}) {}",
            s.exit_code,
            format::ago(s.finished_at.as_deref())
        ),
    }
}

fn ports_text(s: &State) -> String {
    s.endpoint
        .as_ref()
        .filter(|_| s.is_running())
        .map(|ep| {
            ep.ports
                .iter()
                .map(PortBinding::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub fn ps_row(c: &Container, s: &State, no_trunc: bool) -> Vec<String> {
    let mut command = c.config.args().join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = format!("{}…", command.chars().take(19).collect::<String>());
    }
    vec![
        if no_trunc {
            c.id.clone()
        } else {
            c.id[..12].to_string()
        },
        c.image.clone(),
        format!("\"{command}\""),
        format::ago(Some(&c.created)),
        status_text(s),
        ports_text(s),
        c.name.clone(),
    ]
}

fn port_map(ports: &[PortBinding]) -> Value {
    let mut m = Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let entry = json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()});
        match m.get_mut(&key).and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => {
                m.insert(key, json!([entry]));
            }
        }
    }
    Value::Object(m)
}

pub fn inspect(store: &Store, c: &Container, s: &State) -> Result<Value> {
    let dir = store.container_dir(&c.id)?;
    let args = c.config.args();
    let running = s.is_running();
    let status = if running {
        "running"
    } else {
        s.status.as_str()
    };
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            json!({
                "Type": match m.kind { MountKind::Volume => "volume", MountKind::Bind => "bind", MountKind::Tmpfs => "tmpfs" },
                "Name": m.name,
                "Source": m.source,
                "Destination": m.destination,
                "RW": m.rw,
            })
        })
        .collect();
    let ep = s.endpoint.as_ref().filter(|_| running);
    let lower: Vec<String> = std::iter::once(dir.join(INIT))
        .chain(c.layers.iter().rev().map(|d| store.layer_diff(d)))
        .map(|p| p.display().to_string())
        .collect();
    let graph = match c.driver {
        Driver::Overlay => json!({"Name": "overlay", "Data": {
            "LowerDir": lower.join(":"), "UpperDir": dir.join(UPPER),
            "WorkDir": dir.join(WORK), "MergedDir": dir.join(MERGED)}}),
        Driver::Copy => {
            json!({"Name": "copy", "Data": {"RootDir": crate::container::union::rootfs_path(&dir, c.driver)}})
        }
    };
    let exposed: Map<String, Value> = c
        .config
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let links: Vec<String> = c
        .host
        .links
        .iter()
        .map(|l| format!("/{}:/{}/{}", l.container, c.name, l.alias))
        .collect();
    Ok(json!({
        "Id": c.id,
        "Created": c.created,
        "Path": args.first(),
        "Args": args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status,
            "Running": running,
            "Pid": if running { s.pid } else { 0 },
            "ExitCode": s.exit_code,
            "Error": s.error.clone().unwrap_or_default(),
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        },
        "Image": c.image_id,
        "Name": format!("/{}", c.name),
        "RestartCount": s.restart_count,
        "Driver": graph["Name"],
        "LogPath": dir.join(LOG),
        "Mounts": mounts,
        "Config": {
            "Hostname": c.config.hostname,
            "User": c.config.user,
            "Env": c.config.env,
            "Cmd": c.config.cmd,
            "Entrypoint": c.config.entrypoint,
            "WorkingDir": c.config.working_dir,
            "Labels": c.config.labels,
            "ExposedPorts": exposed,
            "Tty": c.config.tty,
            "OpenStdin": c.config.open_stdin,
            "Image": c.image,
        },
        "HostConfig": {
            "NetworkMode": c.host.network.as_str(),
            "PortBindings": port_map(&c.host.ports),
            "Links": links,
            "Memory": c.host.memory.unwrap_or(0),
            "NanoCpus": c.host.nano_cpus.unwrap_or(0),
            "PidsLimit": c.host.pids_limit,
            "AutoRemove": c.host.auto_remove,
            "VolumesFrom": c.host.volumes_from,
            "CgroupParent": "/rt-stage",
        },
        "NetworkSettings": {
            "SandboxKey": if c.host.network == crate::record::NetworkMode::Host { Value::Null } else { json!(dir.join(NETNS)) },
            "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
            "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
            "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
            "Ports": port_map(ep.map(|e| e.ports.as_slice()).unwrap_or_default()),
            "Networks": if c.host.network == crate::record::NetworkMode::Bridge {
                json!({"bridge": {
                    "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                    "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                    "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                    "Device": ep.map(|e| e.veth.clone()).unwrap_or_default(),
                }})
            } else {
                json!({c.host.network.as_str(): {}})
            },
        },
        "GraphDriver": graph,
        "Platform": "linux",
        "RootfsPath": crate::container::union::rootfs_path(Path::new(&dir), c.driver),
    }))
}
