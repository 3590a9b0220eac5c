//! `-u USER[:GROUP]` and the image's User: names looked up in the container's own
//! /etc/passwd and /etc/group, read through openat2 RESOLVE_IN_ROOT so that a symlink
//! in the image cannot point the lookup at the host's files.

use std::io::Read;
use std::path::Path;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// A file of the root filesystem, or empty if it is missing (images without
/// /etc/passwd are common; numeric users work without it).
fn read_in_root(root: &Path, rel: &str) -> Result<String> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", root)?;
    let fd = match openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(String::new()),
        Err(e) => return Err(e).at("open", &root.join(rel)),
    };
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(1 << 20)
        .read_to_string(&mut s)
        .at("read", &root.join(rel))?;
    Ok(s)
}

/// Lines of a colon-separated database as fields.
fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').collect::<Vec<_>>())
}

pub fn resolve(root: &Path, spec: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(root, "etc/passwd")?;
    let entry = entries(&passwd)
        .find(|f| f.len() >= 7 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, name, home) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>().map_err(|_| bad_db("passwd", f[0]))?,
            f[3].parse::<u32>().map_err(|_| bad_db("passwd", f[0]))?,
            Some(f[0].to_string()),
            f[5].to_string(),
        ),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(Error::Usage(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )))
        }
    };
    let groups = read_in_root(root, "etc/group")?;
    if let Some(g) = group {
        gid = match entries(&groups).find(|f| f.len() >= 3 && f[0] == g) {
            Some(f) => f[2].parse().map_err(|_| bad_db("group", f[0]))?,
            None => g.parse().map_err(|_| {
                Error::Usage(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = &name {
        for f in entries(&groups).filter(|f| f.len() >= 4) {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional_gids.contains(&g) {
                        additional_gids.push(g);
                    }
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

fn bad_db(file: &str, entry: &str) -> Error {
    Error::invalid(
        format!("/etc/{file} of the image"),
        format!("entry {entry:?} has a non-numeric id"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwww:x:33:app\n",
        )
        .unwrap();
        let u = resolve(dir.path(), "app").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str()),
            (1000, 1000, vec![33], "/home/app")
        );
        let u = resolve(dir.path(), "1000:www").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 33));
        let u = resolve(dir.path(), "4242:4343").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let e = resolve(dir.path(), "nobody").unwrap_err().to_string();
        assert!(
            e.contains("unable to find user nobody: no matching entries in passwd file"),
            "{e}"
        );
        assert!(resolve(dir.path(), "app:nogroup").is_err());
        // A symlink to the host's file resolves inside the root instead.
        std::fs::remove_file(dir.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd")).unwrap();
        assert!(
            resolve(dir.path(), "app").is_err(),
            "the host's passwd was read"
        );
    }
}
