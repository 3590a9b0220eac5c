//! Debian's docker-registry (distribution 2.8) on 127.0.0.1:<free port>, storage and
//! config in a temporary directory, stopped by its pid when dropped; plain HTTP, or TLS
//! with a certificate (and optionally client certificates) from a [`super::pki::Pki`].

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    pub addr: String,
    child: Child,
    pub dir: tempfile::TempDir,
}

/// `http.tls` of the registry's config.
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// CAs of the client certificates it requires (`clientcas`); empty: none required.
    pub client_cas: Vec<PathBuf>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    pub fn start_tls(tls: &Tls) -> Registry {
        Registry::start_with(Some(tls))
    }

    fn start_with(tls: Option<&Tls>) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} missing: install Debian's docker-registry package (`just test-stage` does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("rt-stage-registry.")
            .tempdir()
            .expect("tempdir");
        // A free port: bound and released; the registry takes it a moment later.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: rt-stage-test\n",
            dir.path().join("data").display()
        );
        if let Some(tls) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.certificate.display(),
                tls.key.display()
            ));
            if !tls.client_cas.is_empty() {
                config.push_str("    clientcas:\n");
                for ca in &tls.client_cas {
                    config.push_str(&format!("      - {}\n", ca.display()));
                }
            }
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");
        let log = fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&r.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}: {}",
                r.addr,
                r.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// What the registry answers a plain HTTP request with (a TLS server: Go's "Client
    /// sent an HTTP request to an HTTPS server.").
    pub fn plain_http_answer(&self) -> String {
        let mut conn = TcpStream::connect(&self.addr).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        conn.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("send");
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Whether any repository was ever created in the registry's storage.
    pub fn has_repositories(&self) -> bool {
        let repos = self.dir.path().join("data/docker/registry/v2/repositories");
        fs::read_dir(repos).is_ok_and(|mut d| d.next().is_some())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals this child's pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
