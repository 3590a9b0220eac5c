//! For the container tests: a store holding a busybox image with every applet, the
//! rt binary built here, and checks that a container left nothing on the host.

use std::fs;
use std::path::Path;
use std::process::Output;

use super::images::LayerTar;
use super::{rt_binary, Stage};

/// Debian's static busybox with all its applets, /etc/passwd and /etc/group (root,
/// nobody, app:1000), /tmp and a /www with an index page.
pub fn busybox_full_tar() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (package busybox-static)");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut t = LayerTar::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox, 0o755);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            t = t.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    t.dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            0o644,
        )
        .file("etc/group", b"root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwww:x:33:app\n", 0o644)
        .dir("root", 0o700)
        .dir("tmp", 0o1777)
        .dir("www", 0o755)
        .file("www/index.html", b"from the image\n", 0o644)
        .finish()
}

impl Stage {
    /// A store with `busybox` imported (with `changes` as `import -c`), rt required.
    pub fn with_busybox(changes: &[&str]) -> Stage {
        assert!(
            rt_binary().is_some(),
            "the rt binary is not built: cargo build --bin rt (just test-stage does it)"
        );
        let s = Stage::new();
        let tar = s.path("busybox.tar");
        fs::write(&tar, busybox_full_tar()).expect("write busybox tar");
        let mut args = vec!["import"];
        for c in changes {
            args.extend(["-c", c]);
        }
        args.extend([tar.to_str().expect("utf-8 path"), "busybox"]);
        s.ok(&args);
        s
    }

    /// Runs, returns (exit status, stdout, stderr).
    pub fn status(&self, args: &[&str]) -> (i32, String, String) {
        let out: Output = self.run(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The id `run -d`/`create` printed.
    pub fn id_of(&self, args: &[&str]) -> String {
        let out = self.ok(args);
        let id = out.trim().to_string();
        assert_eq!(id.len(), 64, "not an id: {out:?}");
        id
    }

    pub fn inspect(&self, what: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", what])).expect("inspect json");
        v[0].clone()
    }

    /// Nothing of container `id` left on the host: its directory, mounts under the
    /// store, its cgroups, its veth, its address allocation.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.root.join("containers").join(id).exists(),
            "container directory of {id} left"
        );
        let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let left: Vec<&str> = info.lines().filter(|l| l.contains(id)).collect();
        assert!(left.is_empty(), "mounts of {id} left: {left:?}");
        assert_no_cgroup(id);
        let veth = format!("veth{}", &id[..7]);
        assert!(
            !Path::new("/sys/class/net").join(&veth).exists(),
            "{veth} left"
        );
        let net = fs::read_to_string("/run/rt-stage/network.json").unwrap_or_default();
        assert!(!net.contains(id), "address allocation of {id} left: {net}");
    }

    pub fn assert_no_mounts(&self) {
        let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let root = self.root.to_string_lossy().into_owned();
        let left: Vec<&str> = info.lines().filter(|l| l.contains(&root)).collect();
        assert!(left.is_empty(), "mounts left under the store: {left:?}");
    }
}

/// No cgroup directory named `id` under any hierarchy's /rt-stage.
pub fn assert_no_cgroup(id: &str) {
    for h in fs::read_dir("/sys/fs/cgroup")
        .expect("/sys/fs/cgroup")
        .flatten()
    {
        let p = h.path().join("rt-stage").join(id);
        assert!(!p.exists(), "cgroup {} left", p.display());
    }
    assert!(
        !Path::new("/sys/fs/cgroup/rt-stage").join(id).exists(),
        "cgroup left"
    );
}

/// The cgroup v1 (or v2) file of a running container, if the hierarchy is there.
pub fn cgroup_file(controller: &str, id: &str, file: &str) -> Option<String> {
    let v1 = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("rt-stage")
        .join(id)
        .join(file);
    fs::read_to_string(v1).ok().map(|s| s.trim().to_string())
}
