//! HTTP to one registry (distribution API v2): scheme choice, authentication retries,
//! error bodies, relative Location headers.
//!
//! Plain HTTP is used only for loopback registries (127.0.0.0/8, ::1, localhost), as
//! Docker allows by default; every other registry is HTTPS only, redirects included.

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{self, Response};

use super::auth::{self, Credentials};
use crate::error::{Error, IoContext, Result};
use crate::reference::DEFAULT_REGISTRY;

/// What a request sends.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A whole file, re-opened if the request has to be repeated after a 401.
    File(PathBuf),
}

pub struct Client {
    registry: String,
    base: String,
    loopback: bool,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// Scopes to ask a token for when a challenge names none.
    scopes: Vec<String>,
    authorization: RefCell<Option<String>>,
}

impl Client {
    /// `registry` as in a reference (`127.0.0.1:5000`, `docker.io`).
    pub fn new(registry: &str, credentials: Option<Credentials>, scopes: Vec<String>) -> Client {
        let loopback = is_loopback(registry);
        let endpoint = if registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            registry
        };
        let base = format!("{}://{endpoint}", if loopback { "http" } else { "https" });
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
        Client {
            registry: registry.to_string(),
            base,
            loopback,
            agent: config.build().new_agent(),
            credentials,
            scopes,
            authorization: RefCell::new(None),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `/v2/...` → full URL; absolute URLs (Location headers) pass through.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
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
        let url = self.url(url);
        let resp = self.send_once(method, &url, headers, body, true)?;
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
        let header = auth::answer(self, challenge, self.credentials.as_ref(), &self.scopes)?;
        *self.authorization.borrow_mut() = Some(header);
        self.send_once(method, &url, headers, body, true)
    }

    /// For the token service: only the headers given, no challenge answering.
    pub fn send_unauthenticated(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Response<ureq::Body>> {
        self.send_once(method, url, headers, &Body::Empty, false)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        auth: bool,
    ) -> Result<Response<ureq::Body>> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        // Credentials go only to the registry itself, never to a blob store it
        // redirects to or a Location on another host.
        if auth && same_host(url, &self.base) {
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
        let resp = result.map_err(|e| fail(e.to_string()))?;
        tracing::debug!("{method} {url} -> {}", resp.status().as_u16());
        Ok(resp)
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
                url: format!("{} ({what})", self.base),
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

/// `host[:port]` is on this machine: 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry),
    };
    host == "localhost"
        || match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.octets()[0] == 127,
            Ok(IpAddr::V6(v6)) => v6 == Ipv6Addr::LOCALHOST,
            Err(_) => false,
        }
}

/// `scheme://host[:port]` of a URL.
pub fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

fn same_host(url: &str, base: &str) -> bool {
    origin(url) == origin(base)
}

/// Percent-encodes a query value (scopes hold `:` and `/`, which are fine, but a
/// repository or service name must not end the parameter).
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for r in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(r), "{r}");
            assert!(
                Client::new(r, None, vec![])
                    .url("/v2/")
                    .starts_with("http://"),
                "{r}"
            );
        }
        for r in [
            "10.0.0.1:5000",
            "registry.example.com",
            "docker.io",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(r), "{r}");
            assert!(
                Client::new(r, None, vec![])
                    .url("/v2/")
                    .starts_with("https://"),
                "{r}"
            );
        }
        assert_eq!(
            Client::new("docker.io", None, vec![]).url("/v2/"),
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

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:5000/v2/x?y"),
            "http://127.0.0.1:5000"
        );
        assert!(same_host(
            "http://127.0.0.1:5000/a",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_host("https://s3.example/a", "http://127.0.0.1:5000"));
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository:a/b:pull,push"
        );
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }
}
