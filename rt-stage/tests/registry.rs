//! pull, push, search and login: the error cases against a fake registry on 127.0.0.1,
//! the round trip against Debian's docker-registry on 127.0.0.1, then `rt run` of the
//! pulled image when rt has been built; docker-registry over TLS with a CA and client
//! certificates of the test's own (`<certs dir>/127.0.0.1:<port>/`).

mod common;

use std::fs;
use std::process::Command;

use common::fake_registry::{Auth, FakeRegistry, Fault};
use common::images::{busybox_tar, simple_layout, LayerTar, TestImage};
use common::pki::Pki;
use common::real_registry::{Registry, Tls};
use common::{output_within, rt_binary, Stage};
use rt_stage::compression::Compression;
use rt_stage::digest::Digest;
use rt_stage::manifest::media_type;
use serde_json::{json, Value};

/// A stage holding `img` under `name`.
fn stage_with(img: &TestImage, name: &str) -> Stage {
    let s = Stage::new();
    simple_layout(&s.path("layout"), img, name);
    s.ok(&["load", "-i", s.path("layout").to_str().unwrap()]);
    s
}

/// A fake registry without authentication holding busybox as `x:1`; and its layer digest.
fn busybox_registry() -> (FakeRegistry, TestImage, Digest) {
    let reg = FakeRegistry::start(Auth::None);
    let img = TestImage::busybox();
    reg.put_image("x", "1", &img);
    let layer = img.layers_digest(0);
    (reg, img, layer)
}

fn big_layer_image() -> TestImage {
    // Incompressible content, so the blob is large enough to be sent in several chunks.
    let mut data = vec![0u8; 300_000];
    let mut x: u32 = 12345;
    for b in data.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    TestImage::new(
        &[
            (busybox_tar(), Compression::Gzip),
            (
                LayerTar::new().file("data", &data, 0o644).finish(),
                Compression::Gzip,
            ),
        ],
        "amd64",
    )
}

#[test]
fn push_and_pull_with_basic_auth_chunks_and_mounts() {
    let reg = FakeRegistry::start(Auth::Basic("alice".into(), "s3cret".into()));
    let img = big_layer_image();
    let name = format!("{}/team/app:v1", reg.addr);
    let s = stage_with(&img, &name);

    let e = s.fails(&["push", &name]);
    assert!(e.contains("unauthorized: authentication required"), "{e}");
    let e = s.fails(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert!(e.contains("unauthorized"), "{e}");
    assert_eq!(
        s.ok(&["login", "-u", "alice", "-p", "s3cret", &reg.addr]),
        "Login Succeeded\n"
    );
    assert!(
        fs::metadata(s.root.join("auth.json"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap()
            == 0o600
    );

    let out = s.ok(&["push", "--chunk-size", "64k", &name]);
    assert!(
        out.contains(&format!(
            "v1: digest: {} size: {}",
            img.digest(),
            img.manifest.len()
        )),
        "{out}"
    );
    let patches = reg.log().iter().filter(|l| l.starts_with("PATCH ")).count();
    assert!(patches >= 5, "chunked upload: {patches} PATCH requests");
    let out = s.ok(&["push", &name]);
    assert!(
        out.contains("Layer already exists") && !out.contains("Pushed"),
        "{out}"
    );

    // Same registry, another repository: blobs are mounted, not uploaded again.
    let other = format!("{}/team/copy:v2", reg.addr);
    s.ok(&["tag", &name, &other]);
    let puts_before = reg
        .log()
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
        .count();
    let out = s.ok(&["push", &other]);
    assert!(out.contains("Mounted from team/app"), "{out}");
    let puts_after = reg
        .log()
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
        .count();
    assert_eq!(puts_before, puts_after, "no blob uploaded for the mount");

    // Back: removed from the store, pulled again, same image.
    s.ok(&["rmi", &name, &other]);
    s.assert_nothing_stored();
    let out = s.ok(&["pull", &other]);
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    assert_eq!(s.image_ids(), [img.id().short()]);
    assert_eq!(
        s.ok(&["logout", &reg.addr]),
        format!("Removing login credentials for {}\n", reg.addr)
    );
}

#[test]
fn bearer_tokens_are_fetched_and_used() {
    let reg = FakeRegistry::start(Auth::Bearer("bob".into(), "pw".into()));
    let img = TestImage::busybox();
    reg.put_image("lib/bb", "1", &img);
    let s = Stage::new();
    let name = format!("{}/lib/bb:1", reg.addr);
    let e = s.fails(&["pull", &name]);
    assert!(e.contains("unauthorized"), "{e}");
    s.ok(&["login", "-u", "bob", "-p", "pw", &reg.addr]);
    s.ok(&["pull", &name]);
    assert_eq!(s.image_ids(), [img.id().short()]);
    assert!(!reg.with(|st| st.tokens_issued.is_empty()));
    assert!(reg.log().iter().any(|l| l.starts_with("GET /token")));
}

#[test]
fn registry_errors_are_reported_and_store_nothing() {
    let (reg, _, _) = busybox_registry();
    let s = Stage::new();

    let e = s.fails(&["pull", &format!("{}/x:nope", reg.addr)]);
    assert_eq!(
        e,
        format!(
            "rt-stage: manifest for {}/x:nope not found: manifest unknown: manifest unknown\n",
            reg.addr
        )
    );

    reg.fault(Fault::Status {
        matching: "GET /v2/x/blobs/".into(),
        status: 500,
        code: None,
        times: 100,
    });
    s.refuses(
        &["pull", &format!("{}/x:1", reg.addr)],
        "received unexpected HTTP status: 500 Internal Server Error",
    );
    reg.with(|st| st.faults.clear());

    reg.fault(Fault::Status {
        matching: "PUT /v2/y/manifests/".into(),
        status: 400,
        code: Some("MANIFEST_INVALID".into()),
        times: 1,
    });
    s.ok(&["pull", &format!("{}/x:1", reg.addr)]);
    s.ok(&[
        "tag",
        &format!("{}/x:1", reg.addr),
        &format!("{}/y:1", reg.addr),
    ]);
    let e = s.fails(&["push", &format!("{}/y:1", reg.addr)]);
    assert!(e.contains("manifest invalid"), "{e}");

    // Nothing listens here any more.
    let gone = {
        let r = FakeRegistry::start(Auth::None);
        r.addr.clone()
    };
    let e = Stage::new().fails(&["pull", &format!("{gone}/x:1")]);
    assert!(e.contains("GET") && e.contains(&gone), "{e}");
}

#[test]
fn a_dropped_connection_is_resumed() {
    let (reg, img, layer) = busybox_registry();
    reg.fault(Fault::Drop {
        digest: layer.clone(),
        after: 100_000,
        times: 2,
    });
    let s = Stage::new();
    s.ok(&["pull", &format!("{}/x:1", reg.addr)]);
    assert_eq!(s.image_ids(), [img.id().short()]);
    let log = reg.log();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("blobs/{layer} bytes=100000-"))),
        "{log:?}"
    );
}

#[test]
fn a_pull_that_keeps_failing_fails_cleanly_and_resumes_next_time() {
    let (reg, img, layer) = busybox_registry();
    reg.fault(Fault::Drop {
        digest: layer.clone(),
        after: 50_000,
        times: 1000,
    });
    let s = Stage::new();
    let name = format!("{}/x:1", reg.addr);
    let e = s.fails(&["pull", &name]);
    assert!(
        e.contains(&format!("of {} bytes", img.layers[0].0.len())),
        "{e}"
    );
    assert_eq!(
        s.entries("blobs/sha256").len() + s.entries("layers/sha256").len(),
        0
    );
    assert_eq!(s.ok(&["images", "-q"]), "");
    assert!(
        fs::metadata(s.root.join("tmp/partial").join(layer.hex()))
            .unwrap()
            .len()
            > 0,
        "partial download kept"
    );

    reg.with(|st| {
        st.faults.clear();
        st.log.clear();
    });
    s.ok(&["pull", &name]);
    assert_eq!(s.image_ids(), [img.id().short()]);
    let first_get = reg
        .log()
        .into_iter()
        .find(|l| l.starts_with(&format!("GET /v2/x/blobs/{layer}")))
        .unwrap();
    assert!(
        first_get.contains("bytes="),
        "resumed with a Range request: {first_get}"
    );
    assert!(!s.root.join("tmp/partial").join(layer.hex()).exists());
}

#[test]
fn wrong_content_from_a_registry_is_refused() {
    let (reg, img, layer) = busybox_registry();
    let s = Stage::new();

    reg.fault(Fault::Corrupt {
        digest: layer.clone(),
    });
    s.refuses(
        &["pull", &format!("{}/x:1", reg.addr)],
        &format!("blob {layer} from {}/x: digest mismatch", reg.addr),
    );
    reg.with(|st| st.faults.clear());

    // By digest, content that does not hash to it.
    let fake = Digest::of(b"another manifest");
    reg.put_manifest(
        "x",
        &fake.to_string(),
        img.manifest.clone(),
        media_type::OCI_MANIFEST,
    );
    let e = s.fails(&["pull", &format!("{}/x@{fake}", reg.addr)]);
    assert!(e.contains("digest mismatch"), "{e}");

    let odd = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json", "layers": []})).unwrap();
    reg.put_manifest("x", "odd", odd, "application/vnd.example.thing+json");
    s.refuses(
        &["pull", &format!("{}/x:odd", reg.addr)],
        "unsupported manifest media type \"application/vnd.example.thing+json\"",
    );
}

#[test]
fn a_manifest_list_yields_linux_amd64() {
    let reg = FakeRegistry::start(Auth::None);
    let amd = TestImage::docker(&[(busybox_tar(), Compression::Gzip)], "amd64");
    let arm = TestImage::docker(
        &[(
            LayerTar::new().file("arm", b"", 0o644).finish(),
            Compression::Gzip,
        )],
        "arm64",
    );
    reg.put_image("multi", "amd", &amd);
    reg.put_image("multi", "arm", &arm);
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::DOCKER_LIST,
        "manifests": [arm.descriptor(Some(("linux", "arm64")), None), amd.descriptor(Some(("linux", "amd64")), None)],
    }))
    .unwrap();
    reg.put_manifest("multi", "latest", list.clone(), media_type::DOCKER_LIST);
    let s = Stage::new();
    let out = s.ok(&["pull", &format!("{}/multi", reg.addr)]);
    assert!(
        out.contains(&format!("Digest: {}", Digest::of(&list))),
        "{out}"
    );
    assert_eq!(s.image_ids(), [amd.id().short()]);
    let inspect: Value =
        serde_json::from_str(&s.ok(&["inspect", &format!("{}/multi", reg.addr)])).unwrap();
    assert_eq!(
        inspect[0]["Manifest"]["MediaType"],
        json!(media_type::DOCKER_MANIFEST)
    );
    assert_eq!(
        inspect[0]["RepoDigests"][0],
        json!(format!("{}/multi@{}", reg.addr, Digest::of(&list)))
    );
}

#[test]
fn search_lists_the_catalog_and_tags() {
    let reg = FakeRegistry::start(Auth::None);
    let img = TestImage::busybox();
    for (repo, tag) in [
        ("apps/web", "1"),
        ("apps/web", "2"),
        ("base/busybox", "latest"),
        ("tools/x", "0.1"),
    ] {
        reg.put_image(repo, tag, &img);
    }
    let s = Stage::new();
    let out = s.ok(&["search", &reg.addr]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let a = &reg.addr;
    let want = [
        vec!["NAME".to_string(), "TAGS".to_string()],
        vec![format!("{a}/apps/web"), "1, 2".into()],
        vec![format!("{a}/base/busybox"), "latest".into()],
        vec![format!("{a}/tools/x"), "0.1".into()],
    ];
    assert_eq!(rows, want, "{out}");
    let out = s.ok(&["search", &format!("{}/bus", reg.addr)]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(reg
        .log()
        .iter()
        .any(|l| l.contains("/v2/_catalog") && l.contains("GET")));
    let e = s.fails(&["search", "busybox"]);
    assert!(e.contains("search needs a registry"), "{e}");
}

/// Debian's docker-registry: push an image built here, forget it, pull it back, run it.
#[test]
fn real_registry_round_trip_and_run() {
    let reg = Registry::start();
    let img = TestImage::busybox();
    let name = format!("{}/rt-stage/busybox:1", reg.addr);
    let s = stage_with(&img, "busybox:local");
    s.ok(&["tag", "busybox:local", &name]);
    let out = s.ok(&["push", &name]);
    assert!(
        out.contains(&format!("1: digest: {}", img.digest())),
        "{out}\n{}",
        reg.log()
    );

    let big = big_layer_image();
    simple_layout(
        &s.path("big"),
        &big,
        &format!("{}/rt-stage/big:1", reg.addr),
    );
    s.ok(&["load", "-i", s.path("big").to_str().unwrap()]);
    let out = s.ok(&[
        "push",
        "--chunk-size",
        "100k",
        &format!("{}/rt-stage/big:1", reg.addr),
    ]);
    assert!(out.contains("Pushed"), "{out}");
    s.ok(&["tag", &name, &format!("{}/other/busybox:2", reg.addr)]);
    let out = s.ok(&["push", &format!("{}/other/busybox:2", reg.addr)]);
    assert!(out.contains("Mounted from rt-stage/busybox"), "{out}");
    let out = s.ok(&["search", &reg.addr]);
    assert!(
        out.contains(&format!("{}/rt-stage/busybox   1", reg.addr)),
        "{out}"
    );

    for n in [
        "busybox:local",
        &name,
        &format!("{}/other/busybox:2", reg.addr),
        &format!("{}/rt-stage/big:1", reg.addr),
    ] {
        s.ok(&["rmi", n]);
    }
    s.assert_nothing_stored();
    s.ok(&["pull", &name]);
    s.ok(&["pull", &format!("{}/rt-stage/big:1", reg.addr)]);
    assert_eq!(s.image_ids().len(), 2);
    let inspect: Value = serde_json::from_str(&s.ok(&["inspect", &name])).unwrap();
    assert_eq!(inspect[0]["Id"], json!(img.id()));

    let Some(rt) = rt_binary() else {
        eprintln!("rt not built: skipping the run of the pulled image");
        return;
    };
    let bundle = s.path("bundle");
    s.ok(&["unpack", &name, bundle.join("rootfs").to_str().unwrap()]);
    let spec = Command::new(&rt)
        .args(["spec", "-b", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        spec.status.success(),
        "rt spec: {}",
        String::from_utf8_lossy(&spec.stderr)
    );
    let mut config: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "echo hello from $(cat /proc/1/comm) in a pulled image"
    ]);
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let id = format!("rt-stage-test-{}", std::process::id());
    let mut cmd = Command::new(&rt);
    cmd.args([
        "--root",
        s.path("rt-state").to_str().unwrap(),
        "run",
        "-b",
        bundle.to_str().unwrap(),
        &id,
    ])
    .stdin(std::process::Stdio::null());
    let run = output_within(&mut cmd, 60);
    assert!(
        run.status.success(),
        "rt run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from sh in a pulled image\n"
    );
}

/// Runs rt-stage with --debug (every request it sends is on stderr) and returns
/// (success, stdout, stderr).
fn run_debug(s: &Stage, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--debug"];
    all.extend_from_slice(args);
    let out = s.run(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `<certs dir>/<registry>/<name>` ← `from`.
fn trust_file(s: &Stage, registry: &str, name: &str, from: &std::path::Path) {
    let dir = s.certs_dir.join(registry);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(from, dir.join(name)).unwrap();
}

/// docker-registry over TLS with a CA of the test's own, on loopback: without the CA in
/// the certs dir, push and pull fail on the certificate and are never retried over plain
/// HTTP; with it, an image goes there and back over TLS.
#[test]
fn tls_registry_is_trusted_through_the_certs_dir() {
    let pki = Pki::new();
    let reg = Registry::start_tls(&Tls {
        certificate: pki.path("server.crt"),
        key: pki.path("server.key"),
        client_cas: vec![],
    });
    // It speaks TLS only: plain HTTP on its port is turned away.
    let plain = reg.plain_http_answer();
    assert!(
        plain.contains("Client sent an HTTP request to an HTTPS server"),
        "{plain}"
    );

    let img = TestImage::busybox();
    let name = format!("{}/tls/busybox:1", reg.addr);
    let s = stage_with(&img, &name);
    let want = format!(
        "rt-stage: TLS with registry {} failed: x509: certificate signed by unknown authority: \
         to trust the registry's CA, put its certificate in {}/{}/ca.crt\n",
        reg.addr,
        s.certs_dir.display(),
        reg.addr
    );
    for verb in ["push", "pull"] {
        let (ok, _, err) = run_debug(&s, &[verb, &name]);
        assert!(!ok && err.ends_with(&want), "{verb}: {err}");
        assert!(
            !err.contains("http://") && !err.contains("plain HTTP"),
            "{verb} fell back to plain HTTP: {err}"
        );
    }
    assert!(!reg.has_repositories(), "pushed without TLS: {}", reg.log());

    trust_file(&s, &reg.addr, "ca.crt", &pki.path("ca.crt"));
    let out = s.ok(&["push", &name]);
    assert!(
        out.contains(&format!("1: digest: {}", img.digest())),
        "{out}\n{}",
        reg.log()
    );
    assert!(reg.has_repositories());
    s.ok(&["rmi", &name]);
    s.assert_nothing_stored();
    let (ok, out, err) = run_debug(&s, &["pull", &name]);
    assert!(ok, "pull: {out}\n{err}");
    assert!(out.contains(&format!("Digest: {}", img.digest())), "{out}");
    assert!(
        err.contains(&format!(
            "GET https://{}/v2/tls/busybox/manifests/1 -> 200",
            reg.addr
        )),
        "{err}"
    );
    assert!(!err.contains("http://"), "{err}");
    let inspect: Value = serde_json::from_str(&s.ok(&["inspect", &name])).unwrap();
    assert_eq!(inspect[0]["Id"], json!(img.id()));
    assert_eq!(
        inspect[0]["RepoDigests"],
        json!([format!("{}/tls/busybox@{}", reg.addr, img.digest())])
    );
}

/// docker-registry requiring client certificates signed by the test CA: refused without
/// one (saying where to put it), a half pair or a key that is not the certificate's is
/// refused before any connection, and client.cert + client.key get in.
#[test]
fn tls_registry_wanting_a_client_certificate() {
    let pki = Pki::new();
    let reg = Registry::start_tls(&Tls {
        certificate: pki.path("server.crt"),
        key: pki.path("server.key"),
        client_cas: vec![pki.path("ca.crt")],
    });
    let img = TestImage::busybox();
    let name = format!("{}/mtls/busybox:1", reg.addr);
    let s = stage_with(&img, &name);
    let dir = s.certs_dir.join(&reg.addr);
    trust_file(&s, &reg.addr, "ca.crt", &pki.path("ca.crt"));

    let e = s.fails(&["push", &name]);
    assert!(
        e.contains(&format!(
            "TLS with registry {} failed: remote error: tls: ",
            reg.addr
        )) && e.contains(&format!(
            "the registry wants a client certificate: put it and its key in {} and {}",
            dir.join("client.cert").display(),
            dir.join("client.key").display()
        )),
        "{e}"
    );

    trust_file(&s, &reg.addr, "client.cert", &pki.path("client.crt"));
    let e = s.fails(&["push", &name]);
    assert!(
        e.contains(&format!("missing key {}", dir.join("client.key").display())),
        "{e}"
    );
    trust_file(&s, &reg.addr, "client.key", &pki.path("server.key"));
    let e = s.fails(&["push", &name]);
    assert!(e.contains("the key does not match the certificate"), "{e}");
    assert!(!reg.has_repositories(), "{}", reg.log());

    trust_file(&s, &reg.addr, "client.key", &pki.path("client.key"));
    let out = s.ok(&["push", &name]);
    assert!(
        out.contains(&format!("1: digest: {}", img.digest())),
        "{out}"
    );
    let out = s.ok(&["search", &reg.addr]);
    assert!(
        out.contains(&format!("{}/mtls/busybox   1", reg.addr)),
        "{out}"
    );
}
