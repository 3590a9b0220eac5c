//! OCI and Docker v2 schema 2 manifests, image indexes (manifest lists), descriptors.
//!
//! Documents are kept as the exact bytes they arrived as, next to the parsed form: their
//! digest is over those bytes, and a push must send them unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::platform::Platform;

pub mod media_type {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_ND: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_ND_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_ND_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

    /// What a registry may answer a manifest GET with, in preference order.
    pub const ACCEPT_MANIFESTS: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

    pub const LAYERS: [&str; 9] = [
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_ND,
        OCI_LAYER_ND_GZIP,
        OCI_LAYER_ND_ZSTD,
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
    ];
}

/// The largest manifest or index accepted: they are read into memory.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }
}

/// An image manifest (OCI or Docker v2 schema 2: the same shape).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// An OCI image manifest for images built or converted here.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_string()),
            config,
            layers,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The entry for `wanted`; entries without a platform (attestations, or a lone
    /// image) are skipped.
    pub fn select(&self, wanted: &Platform) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .ok_or_else(|| Error::NoMatchingPlatform {
                wanted: wanted.to_string(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

/// Parses a manifest or index. `declared` is what the transport said (Content-Type or
/// the referring descriptor); the document's own `mediaType` must agree with it, and a
/// document with neither is recognised by shape, as the OCI spec allows.
pub fn parse(bytes: &[u8], declared: Option<&str>) -> Result<Document> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::json("manifest", e))?;
    // Content-Type from a registry may carry parameters or be generic JSON.
    let declared = declared
        .map(|d| d.split(';').next().unwrap_or(d).trim())
        .filter(|d| !d.is_empty() && *d != "application/json" && *d != "text/plain");
    // An unknown type, wherever it is stated, is the clearer error than a disagreement.
    for t in [probe.media_type.as_deref(), declared]
        .into_iter()
        .flatten()
    {
        if !media_type::ACCEPT_MANIFESTS.contains(&t) {
            return Err(Error::UnsupportedMediaType {
                what: "manifest".into(),
                media_type: t.to_string(),
            });
        }
    }
    let media_type = match (probe.media_type.as_deref(), declared) {
        (Some(own), Some(decl)) if own != decl => {
            return Err(Error::invalid(
                "manifest",
                format!("mediaType {own:?} does not match {decl:?}"),
            ))
        }
        (Some(own), _) => own.to_string(),
        (None, Some(decl)) => decl.to_string(),
        (None, None) if probe.manifests.is_some() => media_type::OCI_INDEX.to_string(),
        (None, None) if probe.layers.is_some() => media_type::OCI_MANIFEST.to_string(),
        (None, None) => {
            return Err(Error::invalid(
                "manifest",
                "no mediaType, config or manifests",
            ))
        }
    };
    if probe.schema_version != Some(2) {
        return Err(Error::UnsupportedMediaType {
            what: "manifest".into(),
            media_type: format!("{media_type} (schemaVersion {:?})", probe.schema_version),
        });
    }
    match media_type.as_str() {
        media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => {
            let m: Manifest =
                serde_json::from_slice(bytes).map_err(|e| Error::json("manifest", e))?;
            check_config_type(&m.config.media_type)?;
            for l in &m.layers {
                check_layer_type(l)?;
            }
            Ok(Document::Manifest(m))
        }
        media_type::OCI_INDEX | media_type::DOCKER_LIST => {
            let i: Index =
                serde_json::from_slice(bytes).map_err(|e| Error::json("image index", e))?;
            Ok(Document::Index(i))
        }
        other => Err(Error::UnsupportedMediaType {
            what: "manifest".into(),
            media_type: other.to_string(),
        }),
    }
}

fn check_config_type(t: &str) -> Result<()> {
    match t {
        media_type::OCI_CONFIG | media_type::DOCKER_CONFIG => Ok(()),
        other => Err(Error::UnsupportedMediaType {
            what: "config".into(),
            media_type: other.to_string(),
        }),
    }
}

fn check_layer_type(l: &Descriptor) -> Result<()> {
    if media_type::LAYERS.contains(&l.media_type.as_str()) {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType {
            what: format!("layer {}", l.digest),
            media_type: l.media_type.clone(),
        })
    }
}

/// Whether a descriptor points at an index rather than at an image manifest.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, media_type::OCI_INDEX | media_type::DOCKER_LIST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_json(media: &str, layer_type: &str) -> Vec<u8> {
        let d = Digest::of(b"x");
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": d, "size": 1},
            "layers": [{"mediaType": layer_type, "digest": d, "size": 1}],
        }))
        .unwrap()
    }

    #[test]
    fn parses_both_manifest_flavours() {
        for media in [media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST] {
            let doc = parse(
                &manifest_json(media, media_type::OCI_LAYER_ZSTD),
                Some(media),
            )
            .unwrap();
            assert!(matches!(doc, Document::Manifest(m) if m.layers.len() == 1));
        }
        // No mediaType anywhere: recognised by shape.
        let raw = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse(raw, None).unwrap(), Document::Index(_)));
    }

    #[test]
    fn unknown_types_are_named() {
        let e = parse(
            br#"{"schemaVersion":2,"mediaType":"application/x-foo","layers":[]}"#,
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("unsupported manifest media type \"application/x-foo\""),
            "{e}"
        );
        let e = parse(
            &manifest_json(media_type::OCI_MANIFEST, "application/x-weird"),
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("media type \"application/x-weird\""), "{e}");
        let e = parse(
            br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("unsupported manifest media type"), "{e}");
        let m = manifest_json(media_type::OCI_MANIFEST, media_type::OCI_LAYER);
        assert!(parse(&m, Some(media_type::DOCKER_MANIFEST)).is_err());
    }

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
        assert_eq!(index.select(&wanted).unwrap().digest, Digest::of(b"amd64"));
        let e = index
            .select(&"linux/s390x".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/arm64/v8"),
            "{e}"
        );
    }
}
