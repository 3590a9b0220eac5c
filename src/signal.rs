//! Signal names and numbers as `rt kill` accepts them: `KILL`, `SIGKILL`,
//! `kill`, `9`, real-time signals (`RTMIN+3`, `SIGRTMAX-1`, `40`), and `0`,
//! which only checks that the process is there (as runc takes it).

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

pub fn parse(s: &str) -> Result<i32> {
    let err = || Error::Signal(s.to_string());
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Ok(n) = s.parse::<i32>() {
        return if (0..=rtmax).contains(&n) {
            Ok(n)
        } else {
            Err(err())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32> {
        // Digits only: i32's parser would take "RTMAX+1" as RTMAX-1.
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| err())?
        };
        // Checked: an offset near i32::MAX ("RTMIN+2147483647") must be
        // rejected, not overflow.
        match off.checked_mul(sign).and_then(|o| base.checked_add(o)) {
            Some(n) if (rtmin..=rtmax).contains(&n) => Ok(n),
            _ => Err(err()),
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rtmin, rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rtmax, rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as i32)
        .map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL").ok(), Some(9));
        assert_eq!(parse("SIGTERM").ok(), Some(15));
        assert_eq!(parse("hup").ok(), Some(1));
        assert_eq!(parse("9").ok(), Some(9));
        assert_eq!(parse("0").ok(), Some(0));
        assert_eq!(parse("RTMIN+2").ok(), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("SIGRTMAX-1").ok(), Some(libc::SIGRTMAX() - 1));
        for bad in [
            "",
            "65",
            "-1",
            "NOPE",
            "SIGRTMIN+99",
            "RTMIN+2147483647",
            "RTMAX--2147483648",
            "RTMIN+-5",
            "RTMAX+1",
            "RTMIN++1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
