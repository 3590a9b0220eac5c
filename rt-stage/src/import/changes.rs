//! `import --change`: the Dockerfile instructions Docker's import accepts, applied to
//! the new image's container config.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::image_config::ContainerConfig;

pub fn apply(config: &mut ContainerConfig, change: &str) -> Result<()> {
    let (instr, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((change.trim(), ""));
    let rest = rest.trim();
    let bad = |why: &str| Error::Usage(format!("invalid --change {change:?}: {why}"));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command(rest)),
        "ENTRYPOINT" => config.entrypoint = Some(command(rest)),
        "WORKDIR" if rest.starts_with('/') => config.working_dir = Some(rest.to_string()),
        "WORKDIR" => return Err(bad("WORKDIR needs an absolute path")),
        "USER" if !rest.is_empty() => config.user = Some(rest.to_string()),
        "ENV" => {
            let (k, v) = key_value(rest).ok_or_else(|| bad("expected ENV key=value"))?;
            let env = config.env.get_or_insert_with(Vec::new);
            env.retain(|e| e.split('=').next() != Some(k.as_str()));
            env.push(format!("{k}={v}"));
        }
        "LABEL" => {
            let (k, v) = key_value(rest).ok_or_else(|| bad("expected LABEL key=value"))?;
            config.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
        }
        "EXPOSE" if !rest.is_empty() => {
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" if !rest.is_empty() => {
            let vols = config.volumes.get_or_insert_with(BTreeMap::new);
            let list: Vec<String> = serde_json::from_str(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(String::from).collect());
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        "STOPSIGNAL" if !rest.is_empty() => config.stop_signal = Some(rest.to_string()),
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

/// JSON ("exec") form, else shell form run by /bin/sh -c.
fn command(rest: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => v,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), rest.to_string()],
    }
}

fn key_value(rest: &str) -> Option<(String, String)> {
    let (k, v) = rest
        .split_once('=')
        .or_else(|| rest.split_once(char::is_whitespace))?;
    let k = k.trim();
    (!k.is_empty()).then(|| (k.to_string(), v.trim().trim_matches('"').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_changes() {
        let mut c = ContainerConfig::default();
        apply(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply(&mut c, "ENTRYPOINT echo x").unwrap();
        apply(&mut c, "ENV PATH=/bin").unwrap();
        apply(&mut c, "ENV PATH=/usr/bin").unwrap();
        apply(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply(&mut c, "WORKDIR /www").unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "echo x"]);
        assert_eq!(c.env.unwrap(), ["PATH=/usr/bin"]);
        assert_eq!(
            c.exposed_ports.unwrap().keys().collect::<Vec<_>>(),
            ["53/udp", "80/tcp"]
        );
        assert!(apply(&mut ContainerConfig::default(), "RUN make").is_err());
        assert!(apply(&mut ContainerConfig::default(), "WORKDIR rel").is_err());
    }
}
