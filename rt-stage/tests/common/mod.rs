//! Shared by the rt-stage integration tests: a store in a temporary directory driven
//! through the `rt-stage` binary, images built here (layers, OCI layouts, archives),
//! a fake registry for the error cases and Debian's docker-registry for the real thing.
//! Every network address used is 127.0.0.1.
#![allow(dead_code)]

pub mod containers;
pub mod fake_registry;
pub mod images;
pub mod pki;
pub mod real_registry;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Stage {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    /// $RT_STAGE_CERTS_D: `certs.d` in the stage's directory (absent unless a test
    /// makes it), so no test depends on the machine's /etc/rt-stage/certs.d.
    pub certs_dir: PathBuf,
}

impl Stage {
    pub fn new() -> Stage {
        let dir = tempfile::Builder::new()
            .prefix("rt-stage-test.")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("store");
        let certs_dir = dir.path().join("certs.d");
        Stage {
            dir,
            root,
            certs_dir,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// rt-stage with extra environment variables (and $RT set to the rt built here).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rt-stage"));
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        if let Some(rt) = rt_binary() {
            cmd.env("RT", rt);
        }
        cmd.env("RT_STAGE_CERTS_D", &self.certs_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        output_within(&mut cmd, 120)
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rt-stage {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects failure with one `rt-stage: ...` line; returns it.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "rt-stage {args:?} succeeded; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(err.starts_with("rt-stage: "), "unexpected stderr: {err}");
        err
    }

    pub fn entries(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.root.join(rel))
            .map(|d| {
                d.map(|e| {
                    e.expect("dirent")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Expects a refusal that names `want`, and nothing stored by it.
    pub fn refuses(&self, args: &[&str], want: &str) {
        let e = self.fails(args);
        assert!(
            e.contains(want),
            "rt-stage {args:?}: expected {want:?} in: {e}"
        );
        self.assert_nothing_stored();
    }

    /// Nothing stored and nothing left staged: no blobs, layers or image records, and
    /// tmp/ holds only the (empty) partial-download directory.
    pub fn assert_nothing_stored(&self) {
        assert_eq!(
            self.entries("blobs/sha256"),
            Vec::<String>::new(),
            "blobs stored"
        );
        assert_eq!(
            self.entries("layers/sha256"),
            Vec::<String>::new(),
            "layers stored"
        );
        assert_eq!(
            self.entries("tmp"),
            vec!["partial".to_string()],
            "staging left behind"
        );
        let images = fs::read_to_string(self.root.join("images.json")).unwrap_or_default();
        assert!(!images.contains("\"id\""), "image recorded: {images}");
    }

    pub fn image_ids(&self) -> Vec<String> {
        self.ok(&["images", "-q"])
            .lines()
            .map(String::from)
            .collect()
    }
}

/// Every container of the store force-removed with its anonymous volumes, then every
/// volume: a failing test leaves no container, mount or network device behind.
impl Drop for Stage {
    fn drop(&mut self) {
        if !self.root.join("containers").is_dir() {
            return;
        }
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", "-v", id]);
        }
        let vols = self.run(&["volume", "ls", "-q"]);
        for v in String::from_utf8_lossy(&vols.stdout).lines() {
            let _ = self.run(&["volume", "rm", "-f", v]);
        }
    }
}

/// Runs `cmd` to completion, killing it after `secs` seconds (a hung container must not
/// hang the test run).
pub fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} still running after {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The rt binary next to ours, if it has been built (debug first, as `just test` builds it).
pub fn rt_binary() -> Option<PathBuf> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    ["debug/rt", "release/rt"]
        .iter()
        .map(|p| target.join(p))
        .find(|p| p.is_file())
}
