//! HTTP to one registry (distribution API v2): scheme choice, authentication retries,
//! error bodies, relative Location headers.
//!
//! Every registry is HTTPS, with the trust of `<certs dir>/<host:port>/` ([`super::tls`]).
//! A loopback registry (127.0.0.0/8, ::1, localhost) may also be plain HTTP, as Docker
//! allows by default: its first request goes over HTTPS, and only if the server does not
//! speak TLS at all (it answers plaintext or hangs up on the handshake) is it repeated,
//! and every later one sent, over plain HTTP. A certificate that does not verify is an
//! error, never a reason to fall back. Every other registry is HTTPS only, redirects
//! included.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{self, Response};

use super::auth::{self, Answer, Credentials};
use super::tls::{self, Failure, Trust};
use super::url::{is_absolute, is_loopback, same_host};
use crate::error::{Error, IoContext, Result};
use crate::reference::DEFAULT_REGISTRY;

/// What a request sends.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A whole file, re-opened if the request has to be repeated after a 401.
    File(PathBuf),
}

/// How the registry's own URLs are reached.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Https,
    Http,
    /// A loopback registry not reached yet: HTTPS first, plain HTTP if it does not
    /// speak TLS. Settled by the first request that gets an answer.
    Probe,
}

pub struct Client {
    registry: String,
    /// host[:port] that requests go to.
    endpoint: String,
    scheme: Cell<Scheme>,
    loopback: bool,
    trust: Trust,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// Scopes to ask a token for when a challenge names none.
    scopes: Vec<String>,
    authorization: RefCell<Option<String>>,
}

impl Client {
    /// `registry` as in a reference (`127.0.0.1:5000`, `docker.io`); its TLS trust is
    /// read from `<certs_dir>/<registry>/`.
    pub fn new(
        registry: &str,
        certs_dir: &Path,
        credentials: Option<Credentials>,
        scopes: Vec<String>,
    ) -> Result<Client> {
        let loopback = is_loopback(registry);
        let endpoint = if registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            registry
        };
        let trust = Trust::load(certs_dir, registry)?;
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(!loopback)
            .user_agent(concat!("rt-stage/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(60)));
        if loopback {
            // Loopback traffic must stay on this machine: no proxy from the environment.
            config = config.proxy(None);
        }
        if let Some(tls_config) = &trust.config {
            config = config.tls_config(tls_config.clone());
        }
        Ok(Client {
            registry: registry.to_string(),
            endpoint: endpoint.to_string(),
            scheme: Cell::new(if loopback {
                Scheme::Probe
            } else {
                Scheme::Https
            }),
            loopback,
            trust,
            agent: config.build().new_agent(),
            credentials,
            scopes,
            authorization: RefCell::new(None),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `scheme://host[:port]` of the registry: https until a loopback registry has been
    /// found not to speak TLS.
    fn base(&self) -> String {
        let scheme = match self.scheme.get() {
            Scheme::Http => "http",
            Scheme::Https | Scheme::Probe => "https",
        };
        format!("{scheme}://{}", self.endpoint)
    }

    /// `/v2/...` → full URL; absolute URLs (Location headers) pass through.
    pub fn url(&self, path_or_url: &str) -> String {
        if is_absolute(path_or_url) {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base())
        }
    }

    /// Sends a request, answering one authentication challenge if the registry makes it.
    /// The caller checks the status ([`Client::check`]).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let resp = self.send_settling_scheme(method, url, headers, body)?;
        let url = self.url(url);
        if resp.status() != 401 {
            return Ok(resp);
        }
        let Some(challenge) = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(resp);
        };
        let header = match auth::answer(
            &self.registry,
            challenge,
            self.credentials.as_ref(),
            &self.scopes,
        )? {
            Answer::Header(h) => h,
            Answer::Token {
                realm,
                url: token_url,
                headers: token_headers,
            } => self.token(&realm, &token_url, &token_headers)?,
        };
        *self.authorization.borrow_mut() = Some(header);
        self.send_once(method, &url, headers, body, true)
    }

    /// A bearer token from the registry's token service: only the headers given, no
    /// challenge answering.
    fn token(&self, realm: &str, url: &str, headers: &[(&str, String)]) -> Result<String> {
        let resp = self.send_once("GET", url, headers, &Body::Empty, false)?;
        if resp.status() == 401 || resp.status() == 403 {
            let message = "unauthorized: incorrect username or password";
            return Err(auth::unauthorized(&self.registry, message));
        }
        let mut resp = self.check(resp, |_| format!("token from {realm}"))?;
        let body = self.read_body(&mut resp, 1 << 20, "token response")?;
        auth::bearer(&body)
    }

    /// The first request to a loopback registry finds out whether it speaks TLS; the
    /// answer holds for every later request of this client (one command).
    fn send_settling_scheme(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let url = self.url(path_or_url);
        if self.scheme.get() != Scheme::Probe || is_absolute(path_or_url) {
            return self.send_once(method, &url, headers, body, true);
        }
        match self.attempt(method, &url, headers, body, true)? {
            Ok(resp) => {
                self.scheme.set(Scheme::Https);
                Ok(resp)
            }
            Err(e) if tls::classify(&e) == Failure::NotTls => {
                tracing::debug!(
                    "{}: no TLS ({e}): plain HTTP for this loopback registry",
                    self.registry
                );
                self.scheme.set(Scheme::Http);
                self.send_once(method, &self.url(path_or_url), headers, body, true)
            }
            Err(e) => Err(self.failure(method, &url, e)),
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        auth: bool,
    ) -> Result<Response<ureq::Body>> {
        self.attempt(method, url, headers, body, auth)?
            .map_err(|e| self.failure(method, url, e))
    }

    /// A request that failed on the way: a TLS refusal says what to put where, anything
    /// else names the request.
    fn failure(&self, method: &str, url: &str, e: ureq::Error) -> Error {
        match tls::classify(&e) {
            Failure::Refused(r) => tls::refusal_error(&self.registry, &self.trust, r),
            Failure::NotTls | Failure::Other => Error::Http {
                method: method.to_string(),
                url: url.to_string(),
                detail: e.to_string(),
            },
        }
    }

    /// Sends one request. Outer error: it could not be made (a file to send, a bad
    /// header); inner: the network's answer, for the caller to classify.
    fn attempt(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        auth: bool,
    ) -> Result<std::result::Result<Response<ureq::Body>, ureq::Error>> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        // Credentials go only to the registry itself, never to a blob store it
        // redirects to or a Location on another host.
        if auth && same_host(url, &self.base()) {
            if let Some(a) = self.authorization.borrow().as_ref() {
                req = req.header("authorization", a.as_str());
            }
        }
        let fail = |detail: String| Error::Http {
            method: method.to_string(),
            url: url.to_string(),
            detail,
        };
        let result = match body {
            Body::Empty => self
                .agent
                .run(req.body(()).map_err(|e| fail(e.to_string()))?),
            Body::Bytes(b) => self
                .agent
                .run(req.body(*b).map_err(|e| fail(e.to_string()))?),
            Body::File(p) => {
                let f = File::open(p).at("open", p)?;
                self.agent
                    .run(req.body(f).map_err(|e| fail(e.to_string()))?)
            }
        };
        if let Ok(resp) = &result {
            tracing::debug!("{method} {url} -> {}", resp.status().as_u16());
        }
        Ok(result)
    }

    /// A plain GET, no body, authenticated as needed.
    pub fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response<ureq::Body>> {
        self.send("GET", url, headers, &Body::Empty)
    }

    /// Passes a success through; turns an error status into the registry's own message.
    pub fn check(
        &self,
        mut resp: Response<ureq::Body>,
        context: impl FnOnce(u16) -> String,
    ) -> Result<Response<ureq::Body>> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let mut text = String::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(64 * 1024)
            .read_to_string(&mut text);
        Err(registry_error(status, &text, context(status.as_u16())))
    }

    /// Reads a JSON or manifest body, refusing more than `max` bytes.
    pub fn read_body(
        &self,
        resp: &mut Response<ureq::Body>,
        max: u64,
        what: &str,
    ) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Http {
                method: "GET".into(),
                url: format!("{} ({what})", self.base()),
                detail: e.to_string(),
            })?;
        if bytes.len() as u64 > max {
            return Err(Error::invalid(what, format!("larger than {max} bytes")));
        }
        Ok(bytes)
    }

    pub fn is_loopback(&self) -> bool {
        self.loopback
    }
}

pub fn header(resp: &Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The distribution API's error body: `{"errors":[{"code","message","detail"}]}`.
fn registry_error(status: http::StatusCode, body: &str, context: String) -> Error {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let first = serde_json::from_str::<Errors>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let (code, message) = match first {
        Some(e) => {
            let code = e.code.unwrap_or_default();
            let msg = e.message.unwrap_or_default();
            (
                code.clone(),
                format!("{}: {msg}", code.to_lowercase().replace('_', " ")),
            )
        }
        // Docker's wording when the body says nothing useful.
        None => (
            String::new(),
            format!(
                "received unexpected HTTP status: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        ),
    };
    Error::Registry {
        context,
        status: status.as_u16(),
        code,
        message: message.trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        let certs = Path::new("/nonexistent/certs.d");
        let client = |r: &str| Client::new(r, certs, None, vec![]).unwrap();
        for r in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            // HTTPS first; plain HTTP only once the server turns out not to speak TLS.
            let c = client(r);
            assert_eq!(c.scheme.get(), Scheme::Probe, "{r}");
            assert!(c.url("/v2/").starts_with("https://"), "{r}");
            c.scheme.set(Scheme::Http);
            assert!(c.url("/v2/").starts_with("http://"), "{r}");
        }
        for r in [
            "10.0.0.1:5000",
            "registry.example.com",
            "docker.io",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            let c = client(r);
            assert_eq!(c.scheme.get(), Scheme::Https, "{r}");
            assert!(c.url("/v2/").starts_with("https://"), "{r}");
        }
        assert_eq!(
            client("docker.io").url("/v2/"),
            "https://registry-1.docker.io/v2/"
        );
    }

    #[test]
    fn error_bodies_become_messages() {
        let e = registry_error(
            http::StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            "manifest for x:latest not found".into(),
        );
        assert_eq!(
            e.to_string(),
            "manifest for x:latest not found: manifest unknown: manifest unknown"
        );
        let e = registry_error(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "oops",
            "pull x".into(),
        );
        assert_eq!(
            e.to_string(),
            "pull x: received unexpected HTTP status: 500 Internal Server Error"
        );
    }
}
