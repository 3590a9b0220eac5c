#!/usr/bin/env bash
# Walk one container through create → start → kill → delete with a busybox
# rootfs, printing rt's state at each step.
set -euo pipefail

RT=$(realpath "${1:-target/release/rt}")
WORK=$(mktemp -d /tmp/rt-demo.XXXXXX)
ROOT="$WORK/state"
ID="demo-$$"
cleanup() {
    "$RT" --root "$ROOT" delete --force "$ID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "bundle: busybox rootfs + config.json from 'rt spec'"
mkdir -p "$WORK/bundle/rootfs/bin"
cp /bin/busybox "$WORK/bundle/rootfs/bin/busybox"
for applet in sh cat hostname grep sleep ls; do ln -s busybox "$WORK/bundle/rootfs/bin/$applet"; done
cd "$WORK/bundle"
"$RT" spec
# Not a terminal; a cgroup of its own; print identity, then wait for a signal.
python3 - "$ID" <<'PY'
import json, sys
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["hostname"] = "rt-demo"
c["linux"]["cgroupsPath"] = "/rt-demo/" + sys.argv[1]
c["process"]["args"] = ["sh", "-c",
    "echo hostname: $(hostname); grep -E '^(Name|Pid|PPid|Uid|Gid|CapEff|NoNewPrivs)' /proc/1/status;"
    " echo mounts:; cat /proc/self/mounts; trap 'echo got SIGTERM; exit 0' TERM; while :; do sleep 1; done"]
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "bundle at $WORK/bundle"

step "rt create $ID"
"$RT" --root "$ROOT" create --pid-file "$WORK/pid" "$ID" > "$WORK/out" 2>&1
echo "init pid: $(cat "$WORK/pid")"
"$RT" --root "$ROOT" state "$ID"

step "rt start $ID"
"$RT" --root "$ROOT" start "$ID"
sleep 0.3
"$RT" --root "$ROOT" state "$ID"
step "container output"
cat "$WORK/out"

step "rt list"
"$RT" --root "$ROOT" list

step "rt kill $ID TERM"
"$RT" --root "$ROOT" kill "$ID" TERM
for _ in $(seq 50); do
    "$RT" --root "$ROOT" state "$ID" | grep -q '"stopped"' && break
    sleep 0.1
done
"$RT" --root "$ROOT" state "$ID"
tail -1 "$WORK/out"

step "rt delete $ID"
"$RT" --root "$ROOT" delete "$ID"
"$RT" --root "$ROOT" list
echo "done: container created, started, signalled and deleted"
