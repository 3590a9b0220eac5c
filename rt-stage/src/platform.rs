//! Platforms (`linux/amd64`) and picking one image out of an index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Index};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The host's platform in OCI's spelling (Go's GOARCH names).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: None,
            os_version: None,
        }
    }

    /// Whether an index entry's platform is this one; a wanted variant must match, an
    /// unspecified one accepts any.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// `os/arch[/variant]`
    fn from_str(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
                os_version: None,
            }),
            _ => Err(Error::Usage(format!(
                "invalid platform {s:?}: expected os/arch[/variant]"
            ))),
        }
    }
}

/// The index entry for `wanted`; entries without a platform (attestations, or a lone
/// image) are skipped.
pub fn select<'a>(index: &'a Index, wanted: &Platform) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .ok_or_else(|| Error::NoMatchingPlatform {
            wanted: wanted.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::manifest::media_type;

    fn entry(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(media_type::OCI_MANIFEST, Digest::of(arch.as_bytes()), 1);
        d.platform = Some(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(String::from),
            os_version: None,
        });
        d
    }

    #[test]
    fn picks_linux_amd64() {
        let index = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                entry("linux", "arm64", Some("v8")),
                entry("windows", "amd64", None),
                entry("linux", "amd64", None),
            ],
            annotations: Default::default(),
        };
        let wanted: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(
            select(&index, &wanted).unwrap().digest,
            Digest::of(b"amd64")
        );
        let e = select(&index, &"linux/s390x".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/arm64/v8"),
            "{e}"
        );
        assert!("linux".parse::<Platform>().is_err());
    }
}
