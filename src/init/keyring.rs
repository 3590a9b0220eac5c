//! The container's session keyring.
//!
//! A process inherits its session keyring: a container without one of its
//! own reads the keys of whoever ran rt (containerd, a shell) and plants
//! keys they will see (issue 16, F2). So, as runc does, the init joins a
//! new session keyring named `_ses.<id>`, searchable by its owner — in a
//! user namespace by every uid of it, since `rt exec` joins from a uid the
//! namespace may not map — and every `rt exec` process joins that same
//! keyring by name. `--no-new-keyring` keeps the caller's, for both. A
//! kernel without keys (ENOSYS) is no error, as with runc.
//!
//! The kernel joins an existing keyring of that name when the caller may
//! search it, whoever made it: one that is neither the container root's
//! (uid 0 as the container sees it) nor the joining process's own was made
//! by someone else in the same user namespace, and sharing it would hand
//! them the container's keys. rt refuses that.

use std::ffi::CString;

use crate::error::{Context, Error, Result};
use crate::syscall;

/// KEY_USR_SEARCH and KEY_OTH_SEARCH (linux/key.h).
const USER_SEARCH: u32 = 0x0008_0000;
const OTHER_SEARCH: u32 = 0x0000_0008;

/// The name of container `id`'s session keyring (runc's).
pub fn name(id: &str) -> String {
    format!("_ses.{id}")
}

/// Who joins: the init makes the keyring searchable for the execs.
pub enum Joiner {
    Init { in_userns: bool },
    Exec,
}

/// Make keyring `name` this process's session keyring (see the module doc).
pub fn join(name: &str, joiner: Joiner) -> Result<()> {
    let what = || format!("cannot join session keyring {name}");
    // Container ids hold no NUL (state::validate_id).
    let cname = CString::new(name).map_err(|_| Error::Init(what()))?;
    let serial = match syscall::join_session_keyring(&cname) {
        Ok(serial) => serial,
        Err(nix::Error::ENOSYS) => return Ok(()),
        Err(e) => return Err(Error::sys(what(), e)),
    };
    let description = syscall::describe_key(serial).ctx(what)?;
    let (uid, perm) = owner_and_perm(&description)
        .ok_or_else(|| Error::Init(format!("{}: cannot read {description:?}", what())))?;
    let me = nix::unistd::geteuid().as_raw();
    if uid != 0 && uid != me {
        return Err(Error::Init(format!(
            "session keyring {name} belongs to uid {uid}: refusing to share it with the container"
        )));
    }
    if let Joiner::Init { in_userns } = joiner {
        let search = if in_userns { OTHER_SEARCH } else { USER_SEARCH };
        syscall::set_key_perm(serial, perm | search)
            .ctx(|| format!("cannot set the permissions of session keyring {name}"))?;
    }
    Ok(())
}

/// The uid and permissions of KEYCTL_DESCRIBE's "type;uid;gid;perm;desc".
fn owner_and_perm(description: &str) -> Option<(u32, u32)> {
    let mut fields = description.splitn(5, ';');
    let uid = fields.nth(1)?.parse().ok()?;
    let perm = u32::from_str_radix(fields.nth(1)?, 16).ok()?;
    Some((uid, perm))
}

#[cfg(test)]
mod tests {
    use super::owner_and_perm;

    #[test]
    fn descriptions() {
        assert_eq!(
            owner_and_perm("keyring;0;0;3f130000;_ses.abc"),
            Some((0, 0x3f13_0000))
        );
        assert_eq!(
            owner_and_perm("keyring;65534;65534;3f1b0000;_ses.a;b"),
            Some((65534, 0x3f1b_0000))
        );
        assert_eq!(owner_and_perm("keyring;x;0;3f130000;n"), None);
        assert_eq!(owner_and_perm("keyring;0"), None);
    }
}
