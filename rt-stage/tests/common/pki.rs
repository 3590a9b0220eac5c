//! A throwaway PKI made with `openssl` in a temporary directory: a CA, a server
//! certificate for 127.0.0.1 (IP SAN) and a client certificate, all signed by the CA,
//! valid for two days. P-256 keys: quick to make, and both rustls and Go speak them.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("rt-stage-pki.")
            .tempdir()
            .expect("tempdir");
        let pki = Pki { dir };
        pki.new_key(
            "-x509",
            "ca.key",
            "ca.crt",
            "/CN=rt-stage test CA",
            &["-days", "2"],
        );
        pki.signed(
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        pki.signed(
            "client",
            "/CN=rt-stage test client",
            "extendedKeyUsage=clientAuth\n",
        );
        pki
    }

    /// `<name>.key` and `<name>.crt`, signed by the CA.
    fn signed(&self, name: &str, subject: &str, extensions: &str) {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        fs::write(
            self.path(&ext),
            format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
        )
        .expect("write extensions");
        self.new_key("-new", &key, &csr, subject, &[]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ]);
    }

    /// A new P-256 key in `key`, and in `out` what `mode` makes of it: `-x509` a
    /// self-signed certificate, `-new` a signing request.
    fn new_key(&self, mode: &str, key: &str, out: &str, subject: &str, extra: &[&str]) {
        let mut args = vec![
            "req",
            mode,
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            out,
            "-subj",
            subject,
        ];
        args.extend_from_slice(extra);
        self.openssl(&args);
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl (Debian package openssl; `just stage-deps` installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
