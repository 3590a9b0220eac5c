//! TLS to registries, Docker's way: per-registry trust from `<certs dir>/<host:port>/`
//! (`ca.crt`: extra CA roots for that registry; `client.cert` + `client.key`: a client
//! certificate), and the failures a user can act on told apart from a server that does
//! not speak TLS at all (which a loopback registry may do: see [`super::client`]).
//!
//! The certs dir is /etc/rt-stage/certs.d, or `--certs-dir` / $RT_STAGE_CERTS_D.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error::{Error, IoContext, Result};

pub const DEFAULT_CERTS_DIR: &str = "/etc/rt-stage/certs.d";

/// Where the system's CA bundle may be (Go's list, which Docker uses); the first found
/// is trusted along with a registry's `ca.crt`.
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// What `<certs dir>/<registry>/` says about one registry.
pub struct Trust {
    /// `<certs dir>/<registry>`, named in error messages whether it exists or not.
    pub dir: PathBuf,
    /// None: the defaults (Mozilla's roots compiled in, no client certificate).
    pub config: Option<TlsConfig>,
    pub has_ca: bool,
    pub has_client_cert: bool,
}

impl Trust {
    /// Reads `<certs_dir>/<registry>/`; a missing directory or file is no extra trust.
    pub fn load(certs_dir: &Path, registry: &str) -> Result<Trust> {
        let dir = certs_dir.join(registry);
        let mut trust = Trust {
            dir: dir.clone(),
            config: None,
            has_ca: false,
            has_client_cert: false,
        };
        // A registry name is host[:port]; anything that could leave the certs dir gets
        // no directory.
        if registry.is_empty() || registry.contains('/') || registry == "." || registry == ".." {
            return Ok(trust);
        }
        let ca = read_optional(&dir.join("ca.crt"))?
            .map(|pem| certificates(&pem, &dir.join("ca.crt")))
            .transpose()?;
        let cert_path = dir.join("client.cert");
        let key_path = dir.join("client.key");
        let client = match (read_optional(&cert_path)?, read_optional(&key_path)?) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::invalid(
                    cert_path.display().to_string(),
                    format!("missing key {}", key_path.display()),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    key_path.display().to_string(),
                    format!("missing client certificate {}", cert_path.display()),
                ))
            }
            (Some(cert), Some(key)) => Some(client_cert(&cert, &cert_path, &key, &key_path)?),
        };
        if ca.is_none() && client.is_none() {
            return Ok(trust);
        }
        let mut builder = TlsConfig::builder();
        if let Some(ca) = ca {
            let mut roots = system_roots();
            roots.extend(ca);
            builder = builder.root_certs(RootCerts::Specific(Arc::new(roots)));
            trust.has_ca = true;
        }
        if let Some(client) = client {
            builder = builder.client_cert(Some(client));
            trust.has_client_cert = true;
        }
        trust.config = Some(builder.build());
        Ok(trust)
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at("read", path),
    }
}

/// Every certificate of a PEM file; at least one.
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(
            path.display().to_string(),
            "no PEM certificate in it",
        ));
    }
    Ok(certs)
}

/// The certificate chain and its key, checked here as rustls will use them (ureq would
/// panic on a key that does not match).
fn client_cert(cert: &[u8], cert_path: &Path, key: &[u8], key_path: &Path) -> Result<ClientCert> {
    let chain = certificates(cert, cert_path)?;
    let mut found = None;
    for item in ureq::tls::parse_pem(key) {
        if let PemItem::PrivateKey(k) =
            item.map_err(|e| Error::invalid(key_path.display().to_string(), e.to_string()))?
        {
            found = Some(k);
            break;
        }
    }
    let key: PrivateKey<'static> = found.ok_or_else(|| {
        Error::invalid(key_path.display().to_string(), "no PEM private key in it")
    })?;
    let key_der = PrivateKeyDer::try_from(key.der().to_vec())
        .map_err(|e| Error::invalid(key_path.display().to_string(), e.to_string()))?;
    let chain_der = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .and_then(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_client_auth_cert(chain_der, key_der)
        })
        .map_err(|e| {
            let detail = match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "the key does not match the certificate".to_string()
                }
                other => other.to_string(),
            };
            Error::invalid(
                format!(
                    "client certificate {} with key {}",
                    cert_path.display(),
                    key_path.display()
                ),
                detail,
            )
        })?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

/// The system's CA bundle; unreadable or malformed parts are left out (they are the
/// system's, not this registry's).
fn system_roots() -> Vec<Certificate<'static>> {
    for path in SYSTEM_BUNDLES {
        let Ok(pem) = fs::read(path) else { continue };
        let roots: Vec<_> = ureq::tls::parse_pem(&pem)
            .map_while(|item| item.ok())
            .filter_map(|item| match item {
                PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        tracing::debug!("{} system CA certificates from {path}", roots.len());
        return roots;
    }
    tracing::debug!("no system CA bundle: only ca.crt is trusted");
    Vec::new()
}

/// How a request failed, as far as TLS goes.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// The peer does not speak TLS: it answered something else or hung up during the
    /// handshake. A loopback registry is then tried over plain HTTP.
    NotTls,
    /// TLS was spoken and failed: the certificate was not verified, or the registry
    /// refused ours. Never a reason to fall back.
    Refused(Refusal),
    /// Not about TLS (refused connection, timeout, ...).
    Other,
}

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The registry's certificate did not verify: an x509-style reason.
    Certificate(String),
    /// The registry refused our client certificate (or the lack of one).
    ClientCertificate(String),
    /// Any other TLS failure (no common protocol version or cipher suite, ...).
    Handshake(String),
}

pub fn classify(e: &ureq::Error) -> Failure {
    let io = match e {
        ureq::Error::Rustls(r) => return classify_rustls(r),
        ureq::Error::Io(io) => io,
        _ => return Failure::Other,
    };
    if let Some(r) = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return classify_rustls(r);
    }
    match io.kind() {
        // Hung up on our ClientHello (a plain HTTP server that did not parse it).
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Failure::NotTls,
        _ => Failure::Other,
    }
}

fn classify_rustls(e: &rustls::Error) -> Failure {
    use rustls::Error as E;
    match e {
        // Bytes that are not TLS records: typically "HTTP/1.1 400 Bad Request".
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => {
            Failure::NotTls
        }
        E::InvalidCertificate(c) => Failure::Refused(Refusal::Certificate(x509_reason(c))),
        E::AlertReceived(a)
            if matches!(
                a,
                AlertDescription::CertificateRequired
                    | AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::AccessDenied
            ) =>
        {
            Failure::Refused(Refusal::ClientCertificate(format!(
                "remote error: tls: {}",
                alert_words(a)
            )))
        }
        other => Failure::Refused(Refusal::Handshake(other.to_string())),
    }
}

/// Go's x509 wording, which Docker users know.
fn x509_reason(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => "x509: certificate signed by unknown authority".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "x509: certificate is not valid for this registry's name or address".into()
        }
        C::Expired | C::ExpiredContext { .. } => "x509: certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "x509: certificate is not yet valid".into()
        }
        C::Revoked => "x509: certificate is revoked".into(),
        other => format!("x509: {}", rustls::Error::InvalidCertificate(other.clone())),
    }
}

fn alert_words(a: &AlertDescription) -> String {
    match a {
        AlertDescription::CertificateRequired => "certificate required".into(),
        AlertDescription::BadCertificate => "bad certificate".into(),
        AlertDescription::UnknownCA => "unknown certificate authority".into(),
        other => format!("{other:?}"),
    }
}

/// The one-line error for a refusal, with what to put where.
pub fn refusal_error(registry: &str, trust: &Trust, refusal: Refusal) -> Error {
    let reason = match refusal {
        Refusal::Certificate(why) if why.contains("unknown authority") && trust.has_ca => {
            format!(
                "{why} (not by the CA in {})",
                trust.dir.join("ca.crt").display()
            )
        }
        Refusal::Certificate(why) if why.contains("unknown authority") => format!(
            "{why}: to trust the registry's CA, put its certificate in {}",
            trust.dir.join("ca.crt").display()
        ),
        Refusal::Certificate(why) => why,
        Refusal::ClientCertificate(why) if trust.has_client_cert => format!(
            "{why}: the registry refused the client certificate {}",
            trust.dir.join("client.cert").display()
        ),
        Refusal::ClientCertificate(why) => format!(
            "{why}: the registry wants a client certificate: put it and its key in {} and {}",
            trust.dir.join("client.cert").display(),
            trust.dir.join("client.key").display()
        ),
        Refusal::Handshake(why) => why,
    };
    Error::Tls {
        registry: registry.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_with(e: rustls::Error) -> ureq::Error {
        ureq::Error::Io(io::Error::new(ErrorKind::InvalidData, e))
    }

    #[test]
    fn failures_are_told_apart() {
        assert_eq!(
            classify(&io_with(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))),
            Failure::NotTls
        );
        assert_eq!(
            classify(&ureq::Error::Io(ErrorKind::UnexpectedEof.into())),
            Failure::NotTls
        );
        assert_eq!(
            classify(&ureq::Error::Io(ErrorKind::ConnectionRefused.into())),
            Failure::Other
        );
        assert_eq!(
            classify(&io_with(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))),
            Failure::Refused(Refusal::Certificate(
                "x509: certificate signed by unknown authority".into()
            ))
        );
        assert!(matches!(
            classify(&io_with(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            ))),
            Failure::Refused(Refusal::ClientCertificate(_))
        ));
    }

    #[test]
    fn refusals_say_what_to_put_where() {
        let dir = tempfile::tempdir().unwrap();
        let trust = Trust::load(dir.path(), "127.0.0.1:5000").unwrap();
        assert!(trust.config.is_none());
        let e = refusal_error(
            "127.0.0.1:5000",
            &trust,
            Refusal::Certificate("x509: certificate signed by unknown authority".into()),
        );
        assert_eq!(
            e.to_string(),
            format!(
                "TLS with registry 127.0.0.1:5000 failed: x509: certificate signed by unknown \
                 authority: to trust the registry's CA, put its certificate in {}/127.0.0.1:5000/ca.crt",
                dir.path().display()
            )
        );
    }

    #[test]
    fn bad_certs_dirs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("reg:1");
        fs::create_dir(&reg).unwrap();
        fs::write(reg.join("ca.crt"), "not a certificate\n").unwrap();
        let e = Trust::load(dir.path(), "reg:1").err().unwrap().to_string();
        assert!(e.contains("ca.crt: no PEM certificate"), "{e}");
        fs::remove_file(reg.join("ca.crt")).unwrap();
        fs::write(reg.join("client.key"), "x").unwrap();
        let e = Trust::load(dir.path(), "reg:1").err().unwrap().to_string();
        assert!(e.contains("missing client certificate"), "{e}");
        fs::create_dir(reg.join("ca.crt")).unwrap();
        let e = Trust::load(dir.path(), "reg:1").err().unwrap().to_string();
        assert!(e.contains("read ") && e.contains("ca.crt"), "{e}");
        // Nothing outside the certs dir is read.
        assert!(Trust::load(dir.path(), "..").unwrap().config.is_none());
    }
}
