//! `create`: a container record from an image and the command line. Nothing runs yet:
//! mounts, network and rt's container come at start (see `monitor`). What `create`
//! makes (the directory, the image reference that pins the image, volumes, the root
//! filesystem directories) is removed again if any step fails.

use std::collections::BTreeMap;
use std::fs;

use super::{union, Engine};
use crate::error::{Error, IoContext, Result};
use crate::image_config::ImageConfig;
use crate::ingest::MAX_CONFIG_BYTES;
use crate::record::{self, Config, Container, HostConfig, Link, NetworkMode, PortBinding};
use crate::store::containers::ContainerRef;
use crate::volume::mounts::{self, Requested};

#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub image: String,
    pub cmd: Vec<String>,
    pub name: Option<String>,
    /// `--entrypoint`: replaces the image's (and then its Cmd too, as Docker does).
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub labels: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    pub ports: Vec<PortBinding>,
    pub network: NetworkMode,
    pub links: Vec<Link>,
    pub mounts: Requested,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub auto_remove: bool,
}

/// `-e KEY=VALUE` sets, `-e KEY` copies the variable from our environment (if set).
fn merge_env(image: &[String], given: &[String]) -> Vec<String> {
    let mut env: Vec<String> = image.to_vec();
    for e in given {
        let entry = match e.split_once('=') {
            Some(_) => e.clone(),
            None => match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}

fn config_from(img: &ImageConfig, o: &CreateOptions, id: &str) -> Result<Config> {
    let ic = img.config.clone().unwrap_or_default();
    let (entrypoint, cmd) = match &o.entrypoint {
        Some(ep) if ep.is_empty() => (Vec::new(), o.cmd.clone()),
        Some(ep) => (vec![ep.clone()], o.cmd.clone()),
        None if !o.cmd.is_empty() => (ic.entrypoint.clone().unwrap_or_default(), o.cmd.clone()),
        None => (
            ic.entrypoint.clone().unwrap_or_default(),
            ic.cmd.clone().unwrap_or_default(),
        ),
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(Error::Usage("No command specified".into()));
    }
    let working_dir = o
        .workdir
        .clone()
        .or(ic.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !working_dir.starts_with('/') {
        return Err(Error::Usage(format!(
            "the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )));
    }
    let mut labels: BTreeMap<String, String> = ic.labels.clone().unwrap_or_default();
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut exposed: Vec<String> = ic
        .exposed_ports
        .clone()
        .unwrap_or_default()
        .into_keys()
        .collect();
    for p in &o.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
    let hostname = match (&o.hostname, o.network) {
        (Some(h), _) => h.clone(),
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| id[..12].to_string()),
        (None, _) => id[..12].to_string(),
    };
    Ok(Config {
        hostname,
        user: o.user.clone().or(ic.user.clone()).unwrap_or_default(),
        env: merge_env(ic.env.as_deref().unwrap_or_default(), &o.env),
        entrypoint,
        cmd,
        working_dir,
        labels,
        exposed_ports: exposed,
        stop_signal: ic.stop_signal.clone(),
        tty: o.tty,
        open_stdin: o.interactive,
    })
}

pub fn create(e: &Engine, o: &CreateOptions) -> Result<Container> {
    let store = e.store;
    let img = store.records()?.get(&o.image)?.clone();
    let image_config = ImageConfig::parse(&store.read_blob(&img.id, MAX_CONFIG_BYTES)?)?;
    let id = record::new_id()?;
    let config = config_from(&image_config, o, &id)?;
    if o.network != NetworkMode::Bridge && (!o.ports.is_empty() || !o.links.is_empty()) {
        return Err(Error::Usage(format!(
            "published ports and links need the bridge network, not {}",
            o.network
        )));
    }
    let driver = union::choose(e.driver)?;
    let image_volumes: Vec<String> = image_config
        .config
        .as_ref()
        .and_then(|c| c.volumes.clone())
        .unwrap_or_default()
        .into_keys()
        .collect();

    let _names = store.lock_containers()?;
    let all = store.containers()?;
    let name = match &o.name {
        Some(n) => {
            let n = n.strip_prefix('/').unwrap_or(n);
            if !record::valid_name(n) {
                return Err(Error::Usage(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            n.to_string()
        }
        None => {
            let taken: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
            record::random_name(&id, &taken)
        }
    };
    if let Some(other) = all.iter().find(|c| c.name == name) {
        return Err(Error::Usage(format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            other.id
        )));
    }
    for l in &o.links {
        store.find_container(&l.container)?;
    }
    let planned = mounts::plan(store, &o.mounts, &image_volumes)?;
    let dir = store.container_dir(&id)?;
    fs::create_dir_all(&dir).at("create", &dir)?;
    let mut made: Vec<String> = Vec::new();
    let result = (|| {
        store.add_container_ref(&ContainerRef {
            container: id.clone(),
            name: Some(name.clone()),
            image: img.id.clone(),
            layers: img.layers.clone(),
        })?;
        let (realized, created) = mounts::realize(store, planned)?;
        made = created;
        let c = Container {
            id: id.clone(),
            name: name.clone(),
            created: record::now(),
            image: o.image.clone(),
            image_id: img.id.clone(),
            layers: img.layers.clone(),
            driver,
            config,
            host: HostConfig {
                network: o.network,
                ports: o.ports.clone(),
                links: o.links.clone(),
                memory: o.memory,
                nano_cpus: o.nano_cpus,
                pids_limit: o.pids_limit,
                auto_remove: o.auto_remove,
                volumes_from: o.mounts.volumes_from.clone(),
            },
            mounts: realized,
        };
        union::prepare(store, &c)?;
        store.save_container_record(&c)?;
        Ok(c)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&dir);
        for n in &made {
            let _ = store.remove_volume_locked(n, true);
        }
    }
    result
}

/// `--memory 64m`: bytes from a number with an optional b/k/m/g suffix.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.trim_end_matches('b').chars().last() {
        Some('k') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (t.trim_end_matches('b'), 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| Error::Usage(format!("invalid size: {s:?}")))
}

/// `--cpus 1.5`: nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    match s.parse::<f64>() {
        Ok(c) if c > 0.0 && c <= 1024.0 => Ok((c * 1e9).round() as i64),
        _ => Err(Error::Usage(format!("invalid CPU count: {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("10mb").unwrap(), 10 << 20);
        assert!(parse_bytes("x").is_err() && parse_bytes("-1m").is_err());
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("0").is_err());
    }

    #[test]
    fn env_merges_by_key() {
        std::env::set_var("RT_STAGE_TEST_FROM_HOST", "yes");
        let env = merge_env(
            &["PATH=/bin".into(), "A=1".into()],
            &[
                "A=2".into(),
                "RT_STAGE_TEST_FROM_HOST".into(),
                "UNSET_ONE_XYZ".into(),
            ],
        );
        assert_eq!(env, ["PATH=/bin", "A=2", "RT_STAGE_TEST_FROM_HOST=yes"]);
    }
}
