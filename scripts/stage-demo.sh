#!/usr/bin/env bash
# rt-stage, part 1: import a busybox image built here, push it to a registry on
# 127.0.0.1 (Debian's docker-registry, storage in a temporary directory), remove it
# from the store, pull it back, and run it with rt. Everything is removed at the end.
set -euo pipefail

STAGE=$(realpath "${1:-target/release/rt-stage}")
RT=$(realpath "${2:-target/release/rt}")
WORK=$(mktemp -d /tmp/rt-stage-demo.XXXXXX)
ID="stage-demo-$$"
REGISTRY_PID=
cleanup() {
    if [ -n "$REGISTRY_PID" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    "$RT" --root "$WORK/rt-state" delete --force "$ID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
stage() { echo "\$ rt-stage $*"; "$STAGE" --root "$WORK/store" "$@"; }

step "a busybox image built here: a root filesystem tarball, imported"
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
for applet in sh cat echo ls; do ln -s busybox "$WORK/rootfs/bin/$applet"; done
echo "hello from an image that went through a registry" > "$WORK/rootfs/etc/motd"
tar -C "$WORK/rootfs" -czf "$WORK/busybox.tar.gz" .
stage import -c 'CMD ["cat", "/etc/motd"]' "$WORK/busybox.tar.gz" busybox:demo
stage images

step "a registry on 127.0.0.1 only (docker-registry, its own config and storage)"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REGISTRY="127.0.0.1:$PORT"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: rt-stage-demo
YAML
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
echo "registry pid $REGISTRY_PID listening on $REGISTRY"

step "tag and push"
stage tag busybox:demo "$REGISTRY/demo/busybox:1"
stage push "$REGISTRY/demo/busybox:1"
stage search "$REGISTRY"

step "remove it from the store"
stage rmi busybox:demo "$REGISTRY/demo/busybox:1"
stage images
echo "blobs left in the store: $(find "$WORK/store/blobs/sha256" -type f | wc -l)"

step "pull it back"
stage pull "$REGISTRY/demo/busybox:1"
stage images

step "run it with rt: its layers unpacked into a bundle, config from 'rt spec'"
stage unpack "$REGISTRY/demo/busybox:1" "$WORK/bundle/rootfs"
"$RT" spec -b "$WORK/bundle"
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["cat", "/etc/motd"]
json.dump(c, open(path, "w"), indent=2)
PY
echo "\$ rt run $ID"
"$RT" --root "$WORK/rt-state" run -b "$WORK/bundle" "$ID"

echo
echo "done: imported, pushed to $REGISTRY, removed, pulled back and run; registry stopped and $WORK removed on exit"
