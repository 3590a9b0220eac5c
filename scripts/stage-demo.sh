#!/usr/bin/env bash
# rt-stage, part 1: import a busybox image built here, push it to a registry on
# 127.0.0.1 (Debian's docker-registry, storage in a temporary directory), remove it
# from the store, pull it back, and run it with rt.
# Part 2: containers from an image: a web server on a named volume published on the
# host's loopback port 8080, a second container reaching it by its link alias, then
# all of it removed. Nothing is left at the end (checked).
set -euo pipefail

STAGE=$(realpath "${1:-target/release/rt-stage}")
RT=$(realpath "${2:-target/release/rt}")
WORK=$(mktemp -d /tmp/rt-stage-demo.XXXXXX)
ID="stage-demo-$$"
REGISTRY_PID=
cleanup() {
    if [ -d "$WORK/store/containers" ]; then
        for c in $("$STAGE" --root "$WORK/store" --rt "$RT" ps -aq --no-trunc 2>/dev/null); do
            "$STAGE" --root "$WORK/store" --rt "$RT" rm -f -v "$c" >/dev/null 2>&1 || true
        done
        "$STAGE" --root "$WORK/store" volume rm -f www >/dev/null 2>&1 || true
    fi
    if [ -n "$REGISTRY_PID" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    "$RT" --root "$WORK/rt-state" delete --force "$ID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
stage() { echo "\$ rt-stage $*"; "$STAGE" --root "$WORK/store" --rt "$RT" "$@"; }

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
echo "part 1 done: imported, pushed to $REGISTRY, removed, pulled back and run"

step "part 2: a busybox image with all its applets, built here and imported"
rm -rf "$WORK/rootfs2" && mkdir -p "$WORK/rootfs2/bin" "$WORK/rootfs2/etc" "$WORK/rootfs2/www" "$WORK/rootfs2/tmp"
cp /bin/busybox "$WORK/rootfs2/bin/busybox"
for applet in $(/bin/busybox --list | grep -vx busybox); do ln -s busybox "$WORK/rootfs2/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$WORK/rootfs2/etc/passwd"
echo "root:x:0:" > "$WORK/rootfs2/etc/group"
tar -C "$WORK/rootfs2" -czf "$WORK/busybox-full.tar.gz" .
stage import -c 'CMD ["sh"]' -c 'EXPOSE 80' "$WORK/busybox-full.tar.gz" busybox
stage images

step "a named volume holding the site, written by a throw-away container"
stage volume create www
stage run --rm -v www:/www busybox sh -c 'echo "hello from the www volume, served by busybox httpd" > /www/index.html'
stage volume ls

step "the web server: detached, port 80 published on the host's 8080, the volume at /www"
stage run -d -p 8080:80 --name web -v www:/www busybox httpd -f -h /www
stage ps
echo "\$ rt-stage inspect web  (network part)"
"$STAGE" --root "$WORK/store" --rt "$RT" inspect web | python3 -c 'import json,sys; n=json.load(sys.stdin)[0]["NetworkSettings"]; print(json.dumps({k: n[k] for k in ("IPAddress", "Gateway", "Ports", "SandboxKey")}, indent=2))'
echo "\$ nft list table ip rt_stage"
nft list table ip rt_stage

step "the host's loopback reaches it (nftables DNAT in the output chain)"
for _ in $(seq 50); do curl -sf http://127.0.0.1:8080/ >/dev/null && break; sleep 0.1; done
echo "\$ curl http://127.0.0.1:8080/"
curl -sS http://127.0.0.1:8080/

step "a second container reaches web by its link alias"
stage run --rm --link web:webalias busybox sh -c 'grep webalias /etc/hosts; wget -qO- http://webalias/'

step "logs, then everything removed"
stage logs web || true
stage rm -f web
stage volume rm www
stage rmi busybox "$REGISTRY/demo/busybox:1"
stage ps -a
left=0
ip -o link show rt-stage0 >/dev/null 2>&1 && { echo "bridge rt-stage0 left"; left=1; }
nft list table ip rt_stage >/dev/null 2>&1 && { echo "nft table ip rt_stage left"; left=1; }
ip -o link | grep -q veth && { echo "veth left: $(ip -o link | grep veth)"; left=1; }
grep -q "$WORK" /proc/self/mountinfo && { echo "mounts left under $WORK"; left=1; }
[ -n "$(ls -A "$WORK/store/containers")" ] && { echo "containers left"; left=1; }
[ -n "$(ls -A "$WORK/store/volumes" 2>/dev/null)" ] && { echo "volumes left"; left=1; }
find /sys/fs/cgroup -maxdepth 2 -name rt-stage -type d | grep -q . && { echo "cgroups left under /rt-stage"; left=1; }
[ "$left" = 0 ] && echo "nothing left: no container, volume, mount, veth, bridge, nft table or cgroup"

echo
echo "done: registry stopped and $WORK removed on exit"
exit "$left"
