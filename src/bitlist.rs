//! The kernel's list format for CPUs and memory nodes (`0-3,7`) as a bit
//! mask of any size: cpu_set_t's 1024 bits are glibc's limit, not the
//! kernel's (runtime-spec 1.3 lets execCPUAffinity name more), so rt never
//! uses a fixed-size set.

/// The largest CPU or node number taken: a config cannot make rt allocate
/// more than 8 KiB for a mask (the kernel's own maximum is 8191 CPUs).
pub const MAX: u32 = 65535;

/// `list` as a mask in 64-bit words, bit n of word n/64 for member n: the
/// layout of the kernel's `unsigned long` masks. Spaces around members and
/// empty members are allowed, as runc allows them; a list without members
/// is an error.
pub fn parse(list: &str) -> Result<Vec<u64>, String> {
    let mut words: Vec<u64> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => (number(part)?, number(part)?),
        };
        if lo > hi {
            return Err(format!("invalid range: {part}"));
        }
        let last = hi as usize / 64;
        if words.len() <= last {
            words.resize(last + 1, 0);
        }
        for n in lo..=hi {
            words[n as usize / 64] |= 1 << (n % 64);
        }
    }
    if words.is_empty() {
        return Err(format!("no members found in set {list:?}"));
    }
    Ok(words)
}

fn number(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a number", s.trim()))?;
    if n > MAX {
        return Err(format!("values larger than {MAX} are not supported"));
    }
    Ok(n)
}

/// How many members `mask` has.
pub fn count(mask: &[u64]) -> u32 {
    mask.iter().map(|w| w.count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse("0-2,4"), Ok(vec![0b1_0111]));
        assert_eq!(parse(" 1 , ,3"), Ok(vec![0b1010]));
        let wide = parse("0,2000-2001").expect("valid");
        assert_eq!(wide.len(), 32);
        assert_eq!((wide[0], wide[31]), (1, 0b11 << 16));
        assert_eq!(count(&wide), 3);
        assert_eq!(parse("65535").map(|m| m.len()), Ok(1024));
        for bad in ["", " , ", "3-1", "x", "1-", "65536", "0-9876543210"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
