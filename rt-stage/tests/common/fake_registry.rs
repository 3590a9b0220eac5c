//! A small distribution-API registry on 127.0.0.1 for the cases a real registry will
//! not produce on demand: authentication of both kinds, error answers, connections
//! dropped mid-blob, corrupt or mistyped content. One thread per connection, one
//! request per connection (`Connection: close`), state behind a mutex.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine;
use rt_stage::digest::Digest;

#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    None,
    Basic(String, String),
    /// Token service at /token, which wants these Basic credentials.
    Bearer(String, String),
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer requests whose "METHOD path" contains `matching` with `status` (and a
    /// distribution error body when `code` is set), `times` times.
    Status {
        matching: String,
        status: u16,
        code: Option<String>,
        times: usize,
    },
    /// Send only `after` bytes of this blob's body, then hang up, `times` times.
    Drop {
        digest: Digest,
        after: usize,
        times: usize,
    },
    /// Serve these bytes instead of the blob's (same length, wrong digest).
    Corrupt { digest: Digest },
    /// Serve a manifest with this Content-Type.
    ContentType { content_type: String },
}

#[derive(Default)]
pub struct State {
    pub auth: Option<Auth>,
    /// (repository, digest) → bytes: blobs belong to repositories, so mounts matter.
    pub blobs: HashMap<(String, String), Vec<u8>>,
    /// (repository, tag or digest) → (bytes, content type)
    pub manifests: HashMap<(String, String), (Vec<u8>, String)>,
    pub uploads: HashMap<String, (String, Vec<u8>)>,
    pub faults: Vec<Fault>,
    /// "METHOD path [range]" of every request, in order.
    pub log: Vec<String>,
    pub tokens_issued: Vec<String>,
    next: usize,
}

pub struct FakeRegistry {
    pub addr: String,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakeRegistry {
    pub fn start(auth: Auth) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = Arc::new(Mutex::new(State {
            auth: Some(auth),
            ..Default::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, a) = (state.clone(), stop.clone(), addr.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, a) = (s.clone(), a.clone());
                thread::spawn(move || handle(conn, &s, &a));
            }
        });
        FakeRegistry {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("state lock"))
    }

    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push(f));
    }

    pub fn log(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }

    /// Puts an image into `repo` under `tag`, as if pushed.
    pub fn put_image(&self, repo: &str, tag: &str, img: &super::images::TestImage) {
        self.with(|s| {
            s.blobs
                .insert((repo.into(), img.id().to_string()), img.config.clone());
            for (b, _) in &img.layers {
                s.blobs
                    .insert((repo.into(), Digest::of(b).to_string()), b.clone());
            }
            let m = (img.manifest.clone(), img.manifest_type.clone());
            s.manifests.insert((repo.into(), tag.into()), m.clone());
            s.manifests
                .insert((repo.into(), img.digest().to_string()), m);
        });
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, bytes: Vec<u8>, content_type: &str) {
        self.with(|s| {
            s.manifests.insert(
                (repo.into(), reference.into()),
                (bytes, content_type.into()),
            );
        });
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Hang up after this many body bytes.
    cut: Option<usize>,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: vec![],
            cut: None,
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn body(mut self, b: Vec<u8>) -> Reply {
        self.body = b;
        self
    }
    fn error(status: u16, code: &str, message: &str) -> Reply {
        let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
        Reply::new(status)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

fn handle(conn: TcpStream, state: &Mutex<State>, addr: &str) {
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let Some(req) = read_request(&mut reader) else {
        return;
    };
    let reply = {
        let mut s = match state.lock() {
            Ok(s) => s,
            Err(_) => return,
        };
        route(&mut s, &req, addr)
    };
    write_reply(conn, &req, reply);
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/")))
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body,
    })
}

fn write_reply(mut conn: TcpStream, req: &Request, reply: Reply) {
    let reason = match reply.status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    if req.method != "HEAD" {
        let n = reply.cut.unwrap_or(reply.body.len()).min(reply.body.len());
        let _ = conn.write_all(&reply.body[..n]);
    }
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

fn route(s: &mut State, req: &Request, addr: &str) -> Reply {
    let line = format!("{} {}", req.method, req.path);
    let range = req.headers.get("range").cloned().unwrap_or_default();
    s.log.push(format!("{line} {range}").trim_end().to_string());

    if req.path == "/token" {
        return token(s, req);
    }
    if let Some(r) = authorize(s, req, addr) {
        return r;
    }
    for f in s.faults.iter_mut() {
        if let Fault::Status {
            matching,
            status,
            code,
            times,
        } = f
        {
            if *times > 0 && line.contains(matching.as_str()) {
                *times -= 1;
                return match code {
                    Some(c) => Reply::error(*status, c, &c.to_lowercase().replace('_', " ")),
                    None => Reply::new(*status).body(b"not json".to_vec()),
                };
            }
        }
    }
    if req.path == "/v2/" {
        return Reply::new(200).body(b"{}".to_vec());
    }
    if req.path == "/v2/_catalog" {
        let mut repos: Vec<String> = s.manifests.keys().map(|(r, _)| r.clone()).collect();
        repos.sort();
        repos.dedup();
        // Two per page, to exercise the Link header.
        let last = req.query.get("last").cloned().unwrap_or_default();
        let page: Vec<String> = repos
            .iter()
            .filter(|r| **r > last)
            .take(2)
            .cloned()
            .collect();
        let mut reply = Reply::new(200).body(
            serde_json::to_vec(&serde_json::json!({"repositories": page})).unwrap_or_default(),
        );
        if let Some(l) = page.last().filter(|l| repos.last() != Some(*l)) {
            reply = reply.header("Link", format!("</v2/_catalog?last={l}&n=2>; rel=\"next\""));
        }
        return reply;
    }
    let Some(rest) = req.path.strip_prefix("/v2/") else {
        return Reply::new(404);
    };
    if let Some((repo, upload)) = rest.split_once("/blobs/uploads/") {
        return uploads(s, req, repo, upload);
    }
    if let Some((repo, digest)) = rest.split_once("/blobs/") {
        return blob(s, req, repo, digest);
    }
    if let Some((repo, reference)) = rest.split_once("/manifests/") {
        return manifest(s, req, repo, reference);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        let mut tags: Vec<String> = s
            .manifests
            .keys()
            .filter(|(r, t)| r == repo && !t.starts_with("sha256:"))
            .map(|(_, t)| t.clone())
            .collect();
        tags.sort();
        return Reply::new(200).body(
            serde_json::to_vec(&serde_json::json!({"name": repo, "tags": tags}))
                .unwrap_or_default(),
        );
    }
    Reply::new(404)
}

fn authorize(s: &mut State, req: &Request, addr: &str) -> Option<Reply> {
    let given = req
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_default();
    match s.auth.clone().unwrap_or(Auth::None) {
        Auth::None => None,
        Auth::Basic(u, p) => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            );
            (given != want).then(|| {
                Reply::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", "Basic realm=\"fake\"")
            })
        }
        Auth::Bearer(..) => {
            let ok = given
                .strip_prefix("Bearer ")
                .is_some_and(|t| s.tokens_issued.iter().any(|i| i == t));
            let repo = req
                .path
                .strip_prefix("/v2/")
                .and_then(|r| r.split("/blobs/").next())
                .and_then(|r| r.split("/manifests/").next())
                .unwrap_or("");
            let challenge = format!("Bearer realm=\"http://{addr}/token\",service=\"fake\",scope=\"repository:{repo}:pull,push\"");
            (!ok).then(|| {
                Reply::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", challenge)
            })
        }
    }
}

fn token(s: &mut State, req: &Request) -> Reply {
    let Some(Auth::Bearer(u, p)) = s.auth.clone() else {
        return Reply::new(404);
    };
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    );
    if req.headers.get("authorization") != Some(&want) {
        return Reply::error(401, "UNAUTHORIZED", "bad credentials");
    }
    s.next += 1;
    let t = format!("token-{}", s.next);
    s.tokens_issued.push(t.clone());
    Reply::new(200).body(serde_json::to_vec(&serde_json::json!({"token": t})).unwrap_or_default())
}

fn blob(s: &mut State, req: &Request, repo: &str, digest: &str) -> Reply {
    let Some(bytes) = s
        .blobs
        .get(&(repo.to_string(), digest.to_string()))
        .cloned()
    else {
        return Reply::error(404, "BLOB_UNKNOWN", "blob unknown to registry");
    };
    let mut bytes = bytes;
    if s.faults
        .iter()
        .any(|f| matches!(f, Fault::Corrupt { digest: d } if d.to_string() == digest))
    {
        bytes.iter_mut().for_each(|b| *b ^= 0x55);
    }
    let start: usize = req
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let total = bytes.len();
    let mut reply = if start > 0 && start < total {
        Reply::new(206)
            .header(
                "Content-Range",
                format!("bytes {start}-{}/{total}", total - 1),
            )
            .body(bytes[start..].to_vec())
    } else {
        Reply::new(200).body(bytes)
    };
    reply = reply
        .header("Docker-Content-Digest", digest)
        .header("Content-Type", "application/octet-stream");
    if req.method == "GET" {
        for f in s.faults.iter_mut() {
            if let Fault::Drop {
                digest: d,
                after,
                times,
            } = f
            {
                if *times > 0 && d.to_string() == digest {
                    *times -= 1;
                    reply.cut = Some(*after);
                    break;
                }
            }
        }
    }
    reply
}

fn manifest(s: &mut State, req: &Request, repo: &str, reference: &str) -> Reply {
    if req.method == "PUT" {
        let ct = req.headers.get("content-type").cloned().unwrap_or_default();
        let d = Digest::of(&req.body).to_string();
        s.manifests.insert(
            (repo.into(), reference.into()),
            (req.body.clone(), ct.clone()),
        );
        s.manifests
            .insert((repo.into(), d.clone()), (req.body.clone(), ct));
        return Reply::new(201).header("Docker-Content-Digest", d);
    }
    let Some((bytes, mut ct)) = s
        .manifests
        .get(&(repo.to_string(), reference.to_string()))
        .cloned()
    else {
        return Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown");
    };
    for f in &s.faults {
        if let Fault::ContentType { content_type } = f {
            ct = content_type.clone();
        }
    }
    Reply::new(200)
        .header("Content-Type", ct)
        .header("Docker-Content-Digest", Digest::of(&bytes).to_string())
        .body(bytes)
}

fn uploads(s: &mut State, req: &Request, repo: &str, upload: &str) -> Reply {
    match req.method.as_str() {
        "POST" => {
            if let (Some(d), Some(from)) = (req.query.get("mount"), req.query.get("from")) {
                if let Some(b) = s.blobs.get(&(from.clone(), d.clone())).cloned() {
                    s.blobs.insert((repo.into(), d.clone()), b);
                    return Reply::new(201)
                        .header("Location", format!("/v2/{repo}/blobs/{d}"))
                        .header("Docker-Content-Digest", d.as_str());
                }
            }
            s.next += 1;
            let id = format!("u{}", s.next);
            s.uploads.insert(id.clone(), (repo.to_string(), Vec::new()));
            Reply::new(202)
                .header(
                    "Location",
                    format!("/v2/{repo}/blobs/uploads/{id}?_state=s{}", s.next),
                )
                .header("Range", "0-0")
        }
        "PATCH" => {
            let Some((_, data)) = s.uploads.get_mut(upload) else {
                return Reply::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            let start: Option<usize> = req
                .headers
                .get("content-range")
                .and_then(|r| r.split('-').next())
                .and_then(|v| v.parse().ok());
            if start != Some(data.len()) {
                return Reply::new(416);
            }
            data.extend_from_slice(&req.body);
            let end = data.len().saturating_sub(1);
            Reply::new(202)
                .header(
                    "Location",
                    format!("/v2/{repo}/blobs/uploads/{upload}?_state=p{end}"),
                )
                .header("Range", format!("0-{end}"))
        }
        "PUT" => {
            let Some((r, mut data)) = s.uploads.remove(upload) else {
                return Reply::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            data.extend_from_slice(&req.body);
            let want = req.query.get("digest").cloned().unwrap_or_default();
            let got = Digest::of(&data).to_string();
            if want != got {
                return Reply::error(
                    400,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                );
            }
            s.blobs.insert((r, got.clone()), data);
            Reply::new(201)
                .header("Docker-Content-Digest", got.as_str())
                .header("Location", format!("/v2/{repo}/blobs/{got}"))
        }
        _ => Reply::new(405),
    }
}
