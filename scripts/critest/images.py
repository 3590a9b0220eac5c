#!/usr/bin/env python3
"""Build, without any registry or network, the images Kubernetes' critest
(cri-tools v1.26) pulls, into a store that registry.py serves.

usage: images.py STORE HELPERS_DIR BUSYBOX

HELPERS_DIR holds the static programs built from helpers/*.c (pause, nnp,
nginx). BUSYBOX is a busybox binary whose shell runs programs by exec, as
the busybox image's does: Debian's `busybox` package (run.sh downloads it
with apt-get; busybox-static's shell runs its applets without exec, so a
test that masks /bin/ls would see ls work). The root file system of every
image but pause is that busybox with its applets as hard links (as in the
busybox image), the shared libraries it needs (ldd, copied from this
machine), the busybox image's users and groups, and two applets Debian's
build lacks that the tests call (pgrep, ipcs) as shell scripts. The images
stand in for the upstream ones in what the tests observe: the user in the
image config, the files, the programs' output. They do not stand in for
anything the runtime does, so a runtime's result does not depend on them.

Store layout (registry.py): blobs/sha256/<hex> (layers, configs,
manifests) and tags/<repository>/<tag> (a manifest digest). Everything is
deterministic (fixed mtimes and owners, sorted entries): the same inputs
give the same digests on every run.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Users and groups of the busybox image (the tests run `id -nu` as nobody
# and look up www-data).
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
staff:x:50:
utmp:x:43:
users:x:100:
nogroup:x:65534:
"""

# pgrep NAME: the pids of processes whose name is NAME, one a line; exit 1
# when there is none (the execSync timeout test runs `pgrep sleep || true`).
PGREP = """#!/bin/sh
found=1
for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] && { echo "${d#/proc/}"; found=0; }
done
exit $found
"""

# ipcs -m: the System V shared memory segments of the IPC namespace, with
# their ids (the HostIpc tests look for a segment id made on the host).
IPCS = """#!/bin/sh
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %s\\n", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
echo
"""

# httpd-foreground: the httpd image's command; Apache logs its command line
# at start, which the multi-container log test looks for.
HTTPD_FOREGROUND = """#!/bin/sh
echo "[core:notice] [pid $$] AH00094: Command line: 'httpd -D FOREGROUND'" >&2
exec httpd -f -v -p 80 -h /usr/local/apache2/htdocs
"""


class Layer:
    """A layer tar built in memory: directories, files and symlinks, owned by
    root unless said otherwise, mtime 0."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.entries[path] = ("dir", None, mode, uid, gid)

    def file(self, path, data, mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        self.entries[path] = ("file", data, mode, uid, gid)

    def symlink(self, path, target):
        self.entries[path] = ("symlink", target, 0o777, 0, 0)

    def hardlink(self, path, target):
        self.entries[path] = ("hardlink", target, 0o755, 0, 0)

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            # Hard links after everything else: their targets must come first.
            for path in sorted(self.entries, key=lambda p: (self.entries[p][0] == "hardlink", p)):
                kind, data, mode, uid, gid = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, 0
                info.uname = info.gname = ""
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    t.addfile(info)
                elif kind in ("symlink", "hardlink"):
                    info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                    info.linkname = data
                    t.addfile(info)
                else:
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
        return buf.getvalue()


class Store:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(root, "tags"), exist_ok=True)

    def blob(self, data):
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.root, "blobs", "sha256", digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return "sha256:" + digest, len(data)

    def image(self, names, layers, config):
        """Store an image of LAYERS (Layer objects, bottom first) with the
        image config CONFIG (the `config` object of the image config), and
        tag it with every repository:tag of NAMES."""
        descs, diff_ids = [], []
        for layer in layers:
            digest, size = self.blob(layer.tar())
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
            diff_ids.append(digest)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/critest/images.py"}],
        }
        cdigest, csize = self.blob(json.dumps(image_config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": descs,
        }
        mdigest, _ = self.blob(json.dumps(manifest, sort_keys=True).encode())
        for name in names:
            repo, tag = name.rsplit(":", 1)
            d = os.path.join(self.root, "tags", repo)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, tag), "w") as f:
                f.write(mdigest + "\n")
        return mdigest


def shared_libraries(binary):
    """The absolute paths ldd names for BINARY (libraries and the loader)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/") and os.path.exists(word):
                paths.append(word)
    return paths


def busybox_layer(busybox):
    with open(busybox, "rb") as f:
        binary = f.read()
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    layer = Layer()
    for d in ["bin", "dev", "etc", "home", "proc", "sys", "usr", "usr/bin", "usr/sbin", "usr/local",
              "usr/local/bin", "var", "var/run", "var/www", "var/spool", "var/spool/mail"]:
        layer.dir(d)
    for lib in shared_libraries(busybox):
        parts = lib.strip("/").split("/")
        for i in range(1, len(parts)):
            layer.dir("/".join(parts[:i]))
        with open(lib, "rb") as f:
            layer.file("/".join(parts), f.read(), 0o755)
    layer.dir("root", 0o700)
    layer.dir("tmp", 0o1777)
    layer.file("bin/busybox", binary, 0o755)
    # Hard links, as in the busybox image: a test masks /bin/ls, which
    # must not mask busybox itself.
    for a in applets:
        if a != "busybox":
            layer.hardlink("bin/" + a, "bin/busybox")
    layer.file("bin/pgrep", PGREP, 0o755)
    layer.file("bin/ipcs", IPCS, 0o755)
    layer.file("etc/passwd", PASSWD)
    layer.file("etc/group", GROUP)
    return layer


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: images.py STORE HELPERS_DIR BUSYBOX")
    store, helpers, busybox = Store(sys.argv[1]), sys.argv[2], sys.argv[3]

    def helper(name):
        with open(os.path.join(helpers, name), "rb") as f:
            return f.read()

    base = busybox_layer(busybox)
    env = [PATH_ENV]
    k8s = "e2e-test-images/"
    staging = "k8s-staging-cri-tools/"

    pause = Layer()
    pause.file("pause", helper("pause"), 0o755)
    store.image(["pause:3.6"], [pause], {"Env": env, "Entrypoint": ["/pause"]})

    store.image([k8s + "busybox:1.29-2"], [base], {"Env": env, "Cmd": ["sh"]})

    # nginx: started with arguments long enough for its title (nginx.c).
    def nginx_layer():
        layer = Layer()
        for d in ["usr/share", "usr/share/nginx", "usr/share/nginx/html"]:
            layer.dir(d)
        layer.file("usr/sbin/nginx", helper("nginx"), 0o755)
        layer.file("usr/share/nginx/html/index.html", "<html><body><h1>Welcome to nginx!</h1></body></html>\n")
        return layer

    nginx_cmd = ["/usr/sbin/nginx", "-g", "daemon off;"]
    store.image([k8s + "nginx:1.14-2"], [base, nginx_layer()],
                {"Env": env, "Cmd": nginx_cmd, "ExposedPorts": {"80/tcp": {}}})
    store.image([staging + "hostnet-nginx-amd64:latest"], [base, nginx_layer()],
                {"Env": env + ["NGINX_PORT=12003"], "Cmd": nginx_cmd, "ExposedPorts": {"12003/tcp": {}}})

    httpd = Layer()
    for d in ["usr/local/apache2", "usr/local/apache2/htdocs"]:
        httpd.dir(d)
    httpd.file("usr/local/apache2/htdocs/index.html", "<html><body><h1>It works!</h1></body></html>\n")
    httpd.file("usr/local/bin/httpd-foreground", HTTPD_FOREGROUND, 0o755)
    store.image([k8s + "httpd:2.4.39-4"], [base, httpd],
                {"Env": env, "Cmd": ["httpd-foreground"], "ExposedPorts": {"80/tcp": {}}})

    nnp = Layer()
    nnp.file("usr/local/bin/nnp", helper("nnp"), 0o4755)
    store.image([k8s + "nonewprivs:1.3"], [base, nnp], {"Env": env, "Entrypoint": ["/usr/local/bin/nnp"]})

    # Images that differ by one file, so that their ids differ.
    def marked(name):
        layer = Layer()
        layer.file(name, "")
        return [base, layer]

    for name in ["test-image-1", "test-image-2", "test-image-3", "test-image-latest"]:
        store.image([staging + name + ":latest"], marked(name), {"Env": env, "Cmd": ["sh"]})
    store.image([staging + "test-image-tags:" + t for t in ("1", "2", "3")], marked("same-image"),
                {"Env": env, "Cmd": ["sh"]})
    store.image([staging + "test-image-tag:test", staging + "test-image-tag:all"], marked("test-image-tag"),
                {"Env": env, "Cmd": ["sh"]})
    # (test-image-digest is pulled by the digest of the upstream manifest,
    # which no image built here can have.)

    for name, user in [("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
                       ("test-image-user-uid-group", "1003:1004"), ("test-image-user-username-group", "www-data:1004")]:
        store.image([staging + name + ":latest"], [base], {"Env": env, "Cmd": ["sh"], "User": user})

    # default-user (uid 1000) is in group-defined-in-image (gid 50000).
    group = Layer()
    group.file("etc/passwd", PASSWD + "default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n")
    group.file("etc/group", GROUP + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n")
    group.dir("home/default-user", 0o755, 1000, 1000)
    store.image([staging + "test-image-predefined-group:latest"], [base, group],
                {"Env": env, "Cmd": ["sh"], "User": "1000"})


if __name__ == "__main__":
    main()
