//! `hostname` and `domainname`, set in the container's uts namespace.

use crate::error::{Context, Result};
use crate::syscall;

pub fn apply(hostname: Option<&str>, domainname: Option<&str>) -> Result<()> {
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("cannot set hostname {h:?}"))?;
    }
    if let Some(d) = domainname.filter(|d| !d.is_empty()) {
        syscall::set_domainname(d).ctx(|| format!("cannot set domainname {d:?}"))?;
    }
    Ok(())
}
