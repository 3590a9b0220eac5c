//! Device access rules: the container's list is "deny everything", then the
//! config's `linux.resources.devices` in order, then the devices every
//! container needs (runc's default list). v1 writes them to devices.deny /
//! devices.allow; v2 compiles them to an eBPF program (see `ebpf`).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::logging;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Char,
    Block,
}

/// Access bits, valued as the kernel's BPF_DEVCG_ACC_* flags.
pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;
pub const ALL_ACCESS: u32 = MKNOD | READ | WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// `None` is the wildcard.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

impl Rule {
    const fn allow_char(major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
        Rule {
            allow: true,
            kind: Kind::Char,
            major,
            minor,
            access,
        }
    }

    /// The line v1's devices.allow / devices.deny take: `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::All => 'a',
            Kind::Char => 'c',
            Kind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            access_string(self.access)
        )
    }

    pub fn v1_file(&self) -> &'static str {
        if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    }
}

fn access_string(access: u32) -> String {
    [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| access & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

const DENY_ALL: Rule = Rule {
    allow: false,
    kind: Kind::All,
    major: None,
    minor: None,
    access: ALL_ACCESS,
};

/// What every container may use, whatever its config says: runc's list,
/// plus /dev/console (5:1) for containers given a real console.
const DEFAULT_ALLOWED: [Rule; 12] = [
    // mknod of any device; opening it is still filtered.
    Rule::allow_char(None, None, MKNOD),
    Rule {
        allow: true,
        kind: Kind::Block,
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule::allow_char(Some(1), Some(3), ALL_ACCESS), // /dev/null
    Rule::allow_char(Some(1), Some(8), ALL_ACCESS), // /dev/random
    Rule::allow_char(Some(1), Some(7), ALL_ACCESS), // /dev/full
    Rule::allow_char(Some(5), Some(0), ALL_ACCESS), // /dev/tty
    Rule::allow_char(Some(1), Some(5), ALL_ACCESS), // /dev/zero
    Rule::allow_char(Some(1), Some(9), ALL_ACCESS), // /dev/urandom
    Rule::allow_char(Some(136), None, ALL_ACCESS),  // /dev/pts/*
    Rule::allow_char(Some(5), Some(2), ALL_ACCESS), // /dev/ptmx
    Rule::allow_char(Some(10), Some(200), ALL_ACCESS), // /dev/net/tun, which runc keeps allowing
    Rule::allow_char(Some(5), Some(1), ALL_ACCESS), // /dev/console
];

/// The container's full rule list, in the order it takes effect.
pub fn rules(config: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<Rule>> {
    let mut out = vec![DENY_ALL];
    for (i, d) in config.unwrap_or_default().iter().enumerate() {
        out.extend(from_oci(i, d)?);
    }
    out.extend(DEFAULT_ALLOWED);
    Ok(out)
}

/// The rule for config entry `i`; none when its access grants nothing.
fn from_oci(i: usize, d: &LinuxDeviceCgroup) -> Result<Option<Rule>> {
    let bad = |why: String| Error::Config(format!("linux.resources.devices[{i}]: {why}"));
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => Kind::All,
        LinuxDeviceType::C => Kind::Char,
        LinuxDeviceType::B => Kind::Block,
        other => {
            return Err(bad(format!(
                "type {:?} is not a cgroup device type (a, b or c)",
                other.as_str()
            )))
        }
    };
    // Negative numbers are the wildcard, as in runc.
    let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| bad(format!("{what} {n} is out of range"))),
        }
    };
    // An absent access string means all access, which is what "a" rules
    // mean to the kernel anyway. Letters other than r, w and m mean
    // nothing: runc drops them ("rwa" is "rw"), and so does rt, saying so.
    let access = match d.access().as_deref() {
        None | Some("") => ALL_ACCESS,
        Some(s) => {
            if s.chars().any(|c| !"rwm".contains(c)) {
                logging::warn(&format!(
                    "linux.resources.devices[{i}]: access {s:?}: only r, w and m are device access; the rest is ignored"
                ));
            }
            [('r', READ), ('w', WRITE), ('m', MKNOD)]
                .iter()
                .filter(|(c, _)| s.contains(*c))
                .fold(0, |bits, (_, bit)| bits | bit)
        }
    };
    if access == 0 {
        return Ok(None);
    }
    Ok(Some(Rule {
        allow: d.allow(),
        kind,
        major: number(d.major(), "major")?,
        minor: number(d.minor(), "minor")?,
        access,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("test rules are valid JSON")
    }

    #[test]
    fn order_and_lines() {
        let cfg = oci(r#"[{"allow": true, "type": "b", "major": 8, "minor": -1, "access": "rw"}]"#);
        let r = rules(Some(&cfg)).expect("valid rules");
        assert_eq!(r.len(), 1 + 1 + DEFAULT_ALLOWED.len());
        assert_eq!(
            (r[0].v1_file(), r[0].v1_line().as_str()),
            ("devices.deny", "a *:* rwm")
        );
        assert_eq!(
            (r[1].v1_file(), r[1].v1_line().as_str()),
            ("devices.allow", "b 8:* rw")
        );
        assert_eq!(r[2].v1_line(), "c *:* m");
        assert!(r.iter().any(|x| x.v1_line() == "c 136:* rwm"));
        assert!(r.iter().any(|x| x.v1_line() == "c 5:1 rwm"));
        // Other letters mean nothing, as to runc: "rwa" is "rw", "a" no rule.
        let cfg = oci(
            r#"[{"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
                          {"allow": true, "type": "c", "major": 1, "minor": 12, "access": "a"}]"#,
        );
        let r = rules(Some(&cfg)).expect("valid rules");
        assert_eq!(r.len(), 1 + 1 + DEFAULT_ALLOWED.len());
        assert_eq!(
            (r[1].v1_file(), r[1].v1_line().as_str()),
            ("devices.deny", "c 1:11 rw")
        );
    }

    #[test]
    fn invalid() {
        assert!(rules(Some(&oci(r#"[{"allow": true, "type": "p"}]"#))).is_err());
        assert!(rules(Some(&oci(
            r#"[{"allow": true, "type": "c", "major": 5000000000}]"#
        )))
        .is_err());
    }
}
