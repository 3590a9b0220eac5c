//! Registry authentication: answering `WWW-Authenticate` challenges with Basic
//! credentials or a bearer token from the registry's token service, and the saved
//! credentials of `login` (auth.json in the store, Docker's config.json layout).

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::url;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

#[derive(Clone, Debug, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// What answering a challenge takes: the `Authorization` value itself (Basic), or
/// first a GET to the registry's token service, whose answer goes to [`bearer`].
pub enum Answer {
    Header(String),
    Token {
        realm: String,
        url: String,
        headers: Vec<(&'static str, String)>,
    },
}

/// How `challenge` from `registry` is answered. The HTTP is the client's: this is
/// the protocol only.
pub fn answer(
    registry: &str,
    challenge: &str,
    creds: Option<&Credentials>,
    scopes: &[String],
) -> Result<Answer> {
    let (scheme, params) = parse_challenge(challenge);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => creds
            .map(|c| Answer::Header(c.basic()))
            .ok_or_else(|| unauthorized(registry, "unauthorized: authentication required")),
        "bearer" => {
            let realm = params
                .get("realm")
                .ok_or_else(|| Error::invalid("bearer challenge", "no realm"))?;
            // A token request carries the password: never over plain HTTP off this machine.
            let realm_host = url::origin(realm).split("://").nth(1).unwrap_or("");
            let plain_loopback = realm.starts_with("http://") && url::is_loopback(realm_host);
            if !(realm.starts_with("https://") || plain_loopback) {
                return Err(Error::invalid(
                    "bearer challenge",
                    format!("token realm {realm:?} is not https"),
                ));
            }
            let mut token_url = realm.clone();
            let mut sep = if token_url.contains('?') { '&' } else { '?' };
            let mut add = |k: &str, v: &str| {
                token_url.push(sep);
                token_url.push_str(&format!("{k}={}", url::query_escape(v)));
                sep = '&';
            };
            if let Some(s) = params.get("service") {
                add("service", s);
            }
            let scope_list: Vec<String> = match params.get("scope") {
                Some(s) => s.split(' ').map(String::from).collect(),
                None => scopes.to_vec(),
            };
            for s in &scope_list {
                add("scope", s);
            }
            Ok(Answer::Token {
                realm: realm.clone(),
                url: token_url,
                headers: creds
                    .map(|c| ("authorization", c.basic()))
                    .into_iter()
                    .collect(),
            })
        }
        other => Err(Error::invalid(
            "authentication challenge",
            format!("unsupported scheme {other:?}"),
        )),
    }
}

/// The `Authorization` value from the token service's answer.
pub fn bearer(body: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let t: Token = serde_json::from_slice(body).map_err(|e| Error::json("token response", e))?;
    let token = t
        .token
        .or(t.access_token)
        .ok_or_else(|| Error::invalid("token response", "no token"))?;
    Ok(format!("Bearer {token}"))
}

/// The registry (or its token service) refused the credentials, or wants some.
pub fn unauthorized(registry: &str, message: &str) -> Error {
    Error::Registry {
        context: format!("login to {registry}"),
        status: 401,
        code: "UNAUTHORIZED".into(),
        message: message.into(),
    }
}

/// `Bearer realm="…",service="…",scope="repository:a:pull,push"`: the scheme, then
/// key=value pairs whose quoted values may hold commas.
pub fn parse_challenge(h: &str) -> (String, BTreeMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    (scheme.to_string(), params)
}

/// Saved logins: {"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}.
#[derive(Default, Serialize, Deserialize)]
struct AuthFile {
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Serialize, Deserialize)]
struct AuthEntry {
    auth: String,
}

fn auth_path(store: &Store) -> PathBuf {
    store.root().join("auth.json")
}

fn read_auth(store: &Store) -> Result<AuthFile> {
    let p = auth_path(store);
    match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::json(p.display().to_string(), e)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(AuthFile::default()),
        Err(e) => Err(e).at("read", &p),
    }
}

fn write_auth(store: &Store, f: &AuthFile) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| Error::json("auth.json", e))?;
    store.write_file_atomic(&auth_path(store), &bytes, 0o600)
}

pub fn saved_credentials(store: &Store, registry: &str) -> Result<Option<Credentials>> {
    let Some(entry) = read_auth(store)?.auths.remove(registry) else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(entry.auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::invalid("auth.json", format!("bad entry for {registry}")))?;
    let (u, p) = raw
        .split_once(':')
        .ok_or_else(|| Error::invalid("auth.json", format!("bad entry for {registry}")))?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

pub fn save_credentials(store: &Store, registry: &str, c: &Credentials) -> Result<()> {
    let mut f = read_auth(store)?;
    let raw = format!("{}:{}", c.username, c.password);
    f.auths.insert(
        registry.to_string(),
        AuthEntry {
            auth: base64::engine::general_purpose::STANDARD.encode(raw),
        },
    );
    write_auth(store, &f)
}

/// Whether there was a login to forget.
pub fn forget_credentials(store: &Store, registry: &str) -> Result<bool> {
    let mut f = read_auth(store)?;
    let had = f.auths.remove(registry).is_some();
    write_auth(store, &f)?;
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_commas_in_quotes() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "http://127.0.0.1:1/token");
        assert_eq!(p["service"], "reg");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("Basic", "Registry Realm")
        );
    }
}
