//! The five capability sets of `process.capabilities`.
//!
//! Order matters: the bounding set is reduced while rt still has
//! CAP_SETPCAP (before switching user); after the user switch the
//! inheritable set is written first (it may only grow from the permitted
//! set still held), then effective, then permitted, and the ambient set
//! last (the kernel only accepts ambient caps that are permitted and
//! inheritable).

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};
use crate::syscall;

pub struct Sets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

fn convert(set: &Option<Capabilities>, name: &str) -> Result<CapsHashSet> {
    let mut out = HashSet::new();
    for c in set.iter().flatten() {
        let text = serde_json::to_string(c).unwrap_or_default();
        let text = text.trim_matches('"');
        let cap = Capability::from_str(text).map_err(|_| {
            Error::Config(format!(
                "process.capabilities.{name}: unknown capability {text}"
            ))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

impl Sets {
    /// No `capabilities` object means no capabilities at all. Capabilities
    /// that cannot be granted are left out, with a warning added to
    /// `warnings` (see [`Sets::drop_ungrantable`]).
    pub fn from_spec(c: Option<&LinuxCapabilities>, warnings: &mut Vec<String>) -> Result<Sets> {
        let Some(c) = c else {
            return Ok(Sets {
                bounding: HashSet::new(),
                effective: HashSet::new(),
                permitted: HashSet::new(),
                inheritable: HashSet::new(),
                ambient: HashSet::new(),
            });
        };
        let mut sets = Sets {
            bounding: convert(c.bounding(), "bounding")?,
            effective: convert(c.effective(), "effective")?,
            permitted: convert(c.permitted(), "permitted")?,
            inheritable: convert(c.inheritable(), "inheritable")?,
            ambient: convert(c.ambient(), "ambient")?,
        };
        // Only the capabilities asked for are looked up (one prctl each):
        // nothing else is asked whether it is available.
        let asked: CapsHashSet = sets.all().collect();
        let available: CapsHashSet = asked
            .into_iter()
            .filter(|c| caps::has_cap(None, CapSet::Bounding, *c).unwrap_or(false))
            .collect();
        let mut dropped: Vec<String> = sets
            .drop_ungrantable(&available)
            .iter()
            .map(|c| c.to_string())
            .collect();
        if !dropped.is_empty() {
            dropped.sort();
            warnings.push(format!(
                "capabilities not granted (not in rt's own bounding set): {}",
                dropped.join(", ")
            ));
        }
        Ok(sets)
    }

    /// Every capability of the five sets (once or more).
    fn all(&self) -> impl Iterator<Item = Capability> + '_ {
        self.bounding
            .iter()
            .chain(&self.effective)
            .chain(&self.permitted)
            .chain(&self.inheritable)
            .chain(&self.ambient)
            .copied()
    }

    /// Remove from every set what is not in `available` (the bounding set
    /// rt runs with: nothing outside it can be raised, e.g. CAP_SYS_RESOURCE
    /// on a host, or in an outer container, that lacks it) and return it.
    /// Runtime spec (since 1.1): a capability that "cannot be granted
    /// otherwise MUST be logged as a warning", and runtimes "SHOULD NOT
    /// fail"; failing here would also break privileged containers (all
    /// capabilities asked for) on such hosts. Names no kernel knows were
    /// dropped, with runc's warning, when config.json was parsed
    /// (`spec::capabilities`).
    fn drop_ungrantable(&mut self, available: &CapsHashSet) -> CapsHashSet {
        let mut dropped = HashSet::new();
        for set in [
            &mut self.bounding,
            &mut self.effective,
            &mut self.permitted,
            &mut self.inheritable,
            &mut self.ambient,
        ] {
            set.retain(|c| {
                let keep = available.contains(c);
                if !keep {
                    dropped.insert(*c);
                }
                keep
            });
        }
        dropped
    }

    /// Drop everything outside the bounding set (needs CAP_SETPCAP).
    pub fn apply_bounding(&self) -> Result<()> {
        for cap in caps::all() {
            if self.bounding.contains(&cap) {
                continue;
            }
            // One prctl per capability (the caps crate reads each first):
            // a capability this kernel does not know is not there to drop.
            match syscall::drop_bounding_cap(cap.index()) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
                Err(e) => {
                    return Err(Error::Init(format!(
                        "cannot drop {cap} from the bounding set: {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Set the capability sets; an ambient capability the kernel refuses
    /// (not both permitted and inheritable: the runtime spec makes that a
    /// no-op, not an error) becomes a warning in runc's words.
    pub fn apply(&self, warnings: &mut Vec<String>) -> Result<()> {
        let set = |which: CapSet, value: &CapsHashSet, name: &str| {
            caps::set(None, which, value)
                .map_err(|e| Error::Init(format!("cannot set {name} capabilities: {e}")))
        };
        set(CapSet::Inheritable, &self.inheritable, "inheritable")?;
        set(CapSet::Effective, &self.effective, "effective")?;
        set(CapSet::Permitted, &self.permitted, "permitted")?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| Error::Init(format!("cannot clear ambient capabilities: {e}")))?;
        let mut ambient: Vec<Capability> = self.ambient.iter().copied().collect();
        ambient.sort_by_key(|c| c.index());
        for cap in ambient {
            if let Err(e) = syscall::raise_ambient_cap(cap.index()) {
                let why = e.desc().to_lowercase();
                warnings.push(format!("can't raise ambient capability {cap}: {why}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ungrantable_capabilities_leave_every_set() {
        let all: CapsHashSet = [Capability::CAP_CHOWN, Capability::CAP_SYS_RESOURCE]
            .into_iter()
            .collect();
        let mut sets = Sets {
            bounding: all.clone(),
            effective: all.clone(),
            permitted: all.clone(),
            inheritable: all.clone(),
            ambient: [Capability::CAP_SYS_RESOURCE].into_iter().collect(),
        };
        let available: CapsHashSet = [Capability::CAP_CHOWN, Capability::CAP_KILL]
            .into_iter()
            .collect();
        let dropped = sets.drop_ungrantable(&available);
        assert_eq!(
            dropped,
            [Capability::CAP_SYS_RESOURCE].into_iter().collect()
        );
        let chown: CapsHashSet = [Capability::CAP_CHOWN].into_iter().collect();
        for set in [
            &sets.bounding,
            &sets.effective,
            &sets.permitted,
            &sets.inheritable,
        ] {
            assert_eq!(set, &chown);
        }
        assert!(sets.ambient.is_empty());
    }
}
