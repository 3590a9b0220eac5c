//! process.env as the program gets it, the way runc prepares it: each name
//! once (the last entry wins), and HOME, when it is missing or empty, taken
//! from the container's /etc/passwd entry of the process's uid ("/" when
//! there is none). Shells, `su` and the like trust HOME; Docker, Podman and
//! Kubernetes users expect the image's home directory there.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use crate::error::{Error, Result};

/// At most this much of /etc/passwd is read: the image controls the file.
/// Entries past it are not looked at (a real passwd is a few KiB).
const PASSWD_LIMIT: u64 = 4 << 20;

/// The environment for the program. No env at all stays empty, as in
/// runc (which adds HOME only to an env that exists).
pub fn prepare(env: Option<&[String]>, uid: u32) -> Result<Vec<String>> {
    let Some(env) = env else {
        return Ok(Vec::new());
    };
    let mut seen = std::collections::HashSet::new();
    let mut home_set = false;
    let mut out = Vec::with_capacity(env.len() + 1);
    for kv in env.iter().rev() {
        let key = match kv.split_once('=') {
            None => {
                return Err(Error::Config(format!(
                    "invalid environment variable {kv:?}: missing '='"
                )))
            }
            Some(("", _)) => {
                return Err(Error::Config(format!(
                    "invalid environment variable {kv:?}: name cannot be empty"
                )))
            }
            Some((key, value)) => {
                if key == "HOME" && value.is_empty() {
                    // Replaced below, and hides any earlier HOME.
                    seen.insert(key);
                    continue;
                }
                key
            }
        };
        if !seen.insert(key) {
            continue;
        }
        home_set |= key == "HOME";
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        out.push(format!(
            "HOME={}",
            home_of(uid).unwrap_or_else(|| "/".into())
        ));
    }
    Ok(out)
}

/// The home directory of `uid` in the /etc/passwd of the process's root:
/// resolved inside it without magic links (no file of the host), a regular
/// file (a fifo would block, a device has side effects), and read bounded.
/// Unreadable or no entry: None, as runc falls back to "/".
fn home_of(uid: u32) -> Option<String> {
    let root = std::fs::File::open("/").ok()?;
    let fd = super::inroot::open(
        root.as_fd(),
        Path::new("/etc/passwd"),
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        false,
    )
    .ok()?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(PASSWD_LIMIT)
        .read_to_end(&mut text)
        .ok()?;
    if text.len() as u64 == PASSWD_LIMIT {
        // The last line may be cut short: drop it.
        let end = text.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        text.truncate(end);
    }
    home_in(&String::from_utf8_lossy(&text), uid)
}

/// The home field of the first `name:password:uid:gid:gecos:home:shell`
/// line whose uid is `uid` (a missing home field is empty, as runc reads
/// it).
fn home_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let found = fields.nth(2)?.parse::<u32>().ok()? == uid;
        found.then(|| fields.nth(2).unwrap_or_default().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn last_entry_wins_and_order_is_kept() {
        let e = env(&["A=1", "B=2", "A=3", "HOME=/h"]);
        assert_eq!(prepare(Some(&e), 0).unwrap(), ["B=2", "A=3", "HOME=/h"]);
    }

    #[test]
    fn empty_home_is_replaced_even_after_a_set_one() {
        // The lookup reads the test's own root (the host's passwd).
        let e = env(&["HOME=/override", "HOME=", "X=\n"]);
        let out = prepare(Some(&e), 4242).unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], "X=\n");
        assert!(out[1].starts_with("HOME=/") && out[1] != "HOME=/override");
        assert_eq!(prepare(None, 0).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(prepare(Some(&env(&["NOEQUALS"])), 0).is_err());
        assert!(prepare(Some(&env(&["=x"])), 0).is_err());
    }

    #[test]
    fn passwd_lookup() {
        let p = "root:x:0:0:root:/root:/bin/sh\n\n  bad line\nu:x:2000:2000::/home/u:/bin/sh\nv:x:2000:1::/second:\nw:x:7:7\n";
        assert_eq!(home_in(p, 0).as_deref(), Some("/root"));
        assert_eq!(home_in(p, 2000).as_deref(), Some("/home/u"));
        assert_eq!(home_in(p, 7).as_deref(), Some(""));
        assert_eq!(home_in(p, 1).as_deref(), None);
    }
}
