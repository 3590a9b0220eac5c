#!/usr/bin/env bash
# Build a busybox image without any registry: busybox-static into a rootfs
# tar, wrapped by hand into one archive that every client can load:
#   - an OCI image layout (oci-layout, index.json, blobs/sha256/...) for
#     `ctr images import`, the index annotated with the image's name;
#   - a docker-archive manifest.json pointing at the same blobs, for
#     `docker load` (Docker 20.10 reads no OCI layout) and `podman load`.
# Everything is deterministic (sorted names, fixed mtimes and owners), so
# the image id is the same on every run.
#
# usage: image.sh OUT.tar [NAME]    (NAME defaults to rt-busybox:latest)
set -euo pipefail

out=$(realpath -m "$1")
name=${2:-rt-busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}

work=$(mktemp -d /tmp/rt-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp,root,home,var,run,mnt}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done
cat > "$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$rootfs/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
: > "$rootfs/etc/hostname"
: > "$rootfs/etc/hosts"
: > "$rootfs/etc/resolv.conf"

blobs=$work/image/blobs/sha256
mkdir -p "$blobs"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$rootfs" -cf "$work/layer.tar" .
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
layer=$(sha "$work/layer.tar")
mv "$work/layer.tar" "$blobs/$layer"

cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/clients/image.sh"}]}
EOF
config=$(sha "$work/config.json")
cp "$work/config.json" "$blobs/$config"

cat > "$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$(size "$blobs/$config")},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":$(size "$blobs/$layer")}]}
EOF
manifest=$(sha "$work/manifest.json")
cp "$work/manifest.json" "$blobs/$manifest"

# containerd names the image after io.containerd.image.name.
repo=${name%:*}
tag=${name##*:}
full=$repo
[[ $repo == */* ]] || full=docker.io/library/$repo
cat > "$work/image/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$(size "$blobs/$manifest"),
  "annotations":{"io.containerd.image.name":"$full:$tag","org.opencontainers.image.ref.name":"$tag"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/image/oci-layout"
cat > "$work/image/manifest.json" <<EOF
[{"Config":"blobs/sha256/$config","RepoTags":["$name"],"Layers":["blobs/sha256/$layer"]}]
EOF

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/image" -cf "$out" .
echo "$out: $name (config sha256:$config)"
