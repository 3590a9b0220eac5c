//! `linux.sysctl`, written through the host procfs handle (the working
//! directory during setup) so that the container cannot redirect the writes
//! with mounts of its own. Namespaced sysctls apply to the writer's
//! namespaces, which are the container's by now.

use std::collections::HashMap;

use crate::error::{Context, Result};

pub fn apply(sysctl: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let file = format!("sys/{}", key.replace('.', "/"));
        std::fs::write(&file, &sysctl[key]).ctx(|| format!("cannot set sysctl {key}"))?;
    }
    Ok(())
}
