//! The command line's mounts (`-v`, `--tmpfs`, `--volumes-from`) and the image's
//! Volumes, turned into the container's [`MountPoint`]s.
//!
//! `-v` takes Docker's three forms: `/host/path:/ctr[:ro|rw]` (a bind mount; the host
//! directory is created if missing, as Docker does), `NAME:/ctr[:ro|rw]` (a named
//! volume, created on first use) and `/ctr` (an anonymous volume). Each image Volume
//! not already covered gets an anonymous volume too.

use std::collections::HashSet;
use std::path::{Component, Path};

use crate::error::{Error, IoContext, Result};
use crate::record::{MountKind, MountPoint};
use crate::store::Store;

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct Requested {
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub volumes_from: Vec<String>,
}

fn destination(s: &str, spec: &str) -> Result<String> {
    let p = Path::new(s);
    let clean = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && p.components().count() > 1;
    if !clean {
        return Err(Error::Usage(format!(
            "invalid mount config for {spec:?}: the mount point must be an absolute path other than / without \"..\""
        )));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn rw_option(opts: Option<&str>, spec: &str) -> Result<bool> {
    let mut rw = true;
    for o in opts.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            // SELinux relabelling and propagation flags mean nothing here.
            "z" | "Z" | "rprivate" | "private" | "rslave" | "slave" => {}
            _ => return Err(Error::Usage(format!("invalid mode {o:?} in {spec:?}"))),
        }
    }
    Ok(rw)
}

/// One `-v` argument.
fn parse_volume(store: &Store, spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, opts) = match parts.as_slice() {
        [d] => (None, *d, None),
        [s, d] => (Some(*s), *d, None),
        [s, d, o] => (Some(*s), *d, Some(*o)),
        _ => {
            return Err(Error::Usage(format!(
                "invalid volume specification: {spec:?}"
            )))
        }
    };
    let destination = destination(dest, spec)?;
    let rw = rw_option(opts, spec)?;
    let mount = match source {
        None => MountPoint {
            kind: MountKind::Volume,
            name: None,
            source: Default::default(),
            destination,
            rw,
            options: Vec::new(),
            anonymous: true,
        },
        Some(s) if s.starts_with('/') => {
            let host = Path::new(s);
            if !host.exists() {
                std::fs::create_dir_all(host).at("create bind mount source", host)?;
            }
            MountPoint {
                kind: MountKind::Bind,
                name: None,
                source: host.to_path_buf(),
                destination,
                rw,
                options: Vec::new(),
                anonymous: false,
            }
        }
        Some(name) => {
            // Checked here so a bad name fails before anything is created.
            store.volume_data(name)?;
            MountPoint {
                kind: MountKind::Volume,
                name: Some(name.to_string()),
                source: Default::default(),
                destination,
                rw,
                options: Vec::new(),
                anonymous: false,
            }
        }
    };
    Ok(mount)
}

fn parse_tmpfs(spec: &str) -> Result<MountPoint> {
    let (dest, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect();
    for o in &options {
        let key = o.split('=').next().unwrap_or("");
        let known = [
            "size",
            "mode",
            "uid",
            "gid",
            "nr_inodes",
            "ro",
            "rw",
            "noexec",
            "exec",
            "nosuid",
            "suid",
            "nodev",
            "dev",
        ];
        if !known.contains(&key) {
            return Err(Error::Usage(format!(
                "invalid tmpfs option {o:?} in {spec:?}"
            )));
        }
    }
    Ok(MountPoint {
        kind: MountKind::Tmpfs,
        name: None,
        source: Default::default(),
        destination: destination(dest, spec)?,
        rw: !options.iter().any(|o| o == "ro"),
        options,
        anonymous: false,
    })
}

/// The container's mounts, volumes not yet created: command line first, then what
/// `--volumes-from` containers have, then the image's Volumes (each destination once).
pub fn plan(store: &Store, req: &Requested, image_volumes: &[String]) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |m: MountPoint, out: &mut Vec<MountPoint>, explicit: bool| -> Result<()> {
        if seen.insert(m.destination.clone()) {
            out.push(m);
        } else if explicit {
            return Err(Error::Usage(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
        Ok(())
    };
    for v in &req.volumes {
        add(parse_volume(store, v)?, &mut out, true)?;
    }
    for t in &req.tmpfs {
        add(parse_tmpfs(t)?, &mut out, true)?;
    }
    for from in &req.volumes_from {
        let (name, mode) = match from.rsplit_once(':') {
            Some((n, m)) if m == "ro" || m == "rw" => (n, Some(m == "rw")),
            _ => (from.as_str(), None),
        };
        let source = store.find_container(name)?;
        for m in source
            .mounts
            .into_iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
        {
            let rw = mode.unwrap_or(m.rw);
            // Shared, not owned: removing this container leaves them alone.
            add(
                MountPoint {
                    rw,
                    anonymous: false,
                    ..m
                },
                &mut out,
                false,
            )?;
        }
    }
    for v in image_volumes {
        let Ok(dest) = destination(v, v) else {
            continue;
        };
        let m = MountPoint {
            kind: MountKind::Volume,
            name: None,
            source: Default::default(),
            destination: dest,
            rw: true,
            options: Vec::new(),
            anonymous: true,
        };
        add(m, &mut out, false)?;
    }
    Ok(out)
}

/// Creates the volumes the plan names (a name for each anonymous one) and fills in
/// their sources; also returns the names of the volumes it created, for the caller to
/// remove should it fail later. Call with the containers lock held.
pub fn realize(store: &Store, planned: Vec<MountPoint>) -> Result<(Vec<MountPoint>, Vec<String>)> {
    let mut out = Vec::new();
    let mut created: Vec<String> = Vec::new();
    for mut m in planned {
        if m.kind == MountKind::Volume {
            let existed = m.name.as_deref().is_some_and(|n| store.volume(n).is_ok());
            let v = match store.create_volume(m.name.as_deref()) {
                Ok(v) => v,
                Err(e) => {
                    for n in &created {
                        let _ = store.remove_volume_locked(n, true);
                    }
                    return Err(e);
                }
            };
            if !existed {
                created.push(v.name.clone());
            }
            m.source = store.volume_data(&v.name)?;
            m.name = Some(v.name);
        }
        out.push(m);
    }
    Ok((out, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_forms() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let host = dir.path().join("host");
        let m = parse_volume(&store, &format!("{}:/data:ro", host.display())).unwrap();
        assert_eq!(
            (m.kind, m.rw, m.destination.as_str()),
            (MountKind::Bind, false, "/data")
        );
        assert!(host.is_dir(), "bind source created");
        let m = parse_volume(&store, "www:/www").unwrap();
        assert_eq!(
            (m.kind, m.name.as_deref(), m.rw),
            (MountKind::Volume, Some("www"), true)
        );
        let m = parse_volume(&store, "/cache/").unwrap();
        assert!(m.anonymous && m.destination == "/cache");
        for bad in [
            "www:rel",
            "www:/",
            "a:/b:c:d",
            "www:/x:rx",
            "x:/a/../b",
            "b@d:/x",
        ] {
            assert!(parse_volume(&store, bad).is_err(), "{bad} accepted");
        }
        let t = parse_tmpfs("/run:size=64k,mode=1777").unwrap();
        assert_eq!(t.options, ["size=64k", "mode=1777"]);
        assert!(parse_tmpfs("/run:bogus=1").is_err());
        let req = Requested {
            volumes: vec!["aa:/x".into(), "bb:/x".into()],
            ..Default::default()
        };
        assert!(plan(&store, &req, &[])
            .unwrap_err()
            .to_string()
            .contains("Duplicate mount point: /x"));
        let req = Requested {
            volumes: vec!["aa:/x".into()],
            ..Default::default()
        };
        let p = plan(&store, &req, &["/x".into(), "/y".into()]).unwrap();
        assert_eq!(p.len(), 2, "the image's /x is covered by -v");
        assert!(p[1].anonymous && p[1].destination == "/y");
    }
}
