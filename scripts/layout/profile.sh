#!/usr/bin/env bash
# Writes layout/rt.order: rt's functions in the order the common commands
# first call them (run, the shim's create/start/state/kill/delete, exec,
# a run with Docker's seccomp profile, pause/resume/ps/update/events, spec,
# list, features). `just build` hands it to the linker
# (--symbol-ordering-file), which puts those functions first and together:
# a command then maps a few hundred KiB of rt's code instead of most of its
# 3 MiB (the kernel maps code 64 KiB around each page fault), which is
# rt's peak RSS and a good part of its page faults.
#
# Usage: profile.sh RUSTFLAGS TARGET — the flags and target of `just build`
# (symbol names must be those of the binary it links). The binary profiled
# is the same build before `just build` strips it, in target/layout.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
FLAGS=$1
TARGET=$2
cd "$REPO"
OUT=layout/rt.order
WORK=$(mktemp -d /run/rt-layout.XXXXXX)
CG=/rt-layout-$$
cleanup() {
    for id in $("$BIN" --root "$WORK/root" list -q 2>/dev/null); do
        "$BIN" --root "$WORK/root" delete --force "$id" > /dev/null 2>&1 || true
    done
    for d in /sys/fs/cgroup/*$CG /sys/fs/cgroup/*/$CG; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$WORK"
}
BIN=$REPO/target/layout/$TARGET/runtime/rt
trap cleanup EXIT

CARGO_TARGET_DIR=target/layout RUSTFLAGS="$FLAGS" cargo build -q --profile runtime --bin rt --target "$TARGET"
gcc -O2 -Wall -o "$WORK/trace" scripts/layout/trace.c

# Function symbols of the binary, by file offset (what the tracer sees).
python3 - "$BIN" > "$WORK/funcs" <<'PY'
import subprocess, sys
binary = sys.argv[1]
text = None
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD" and "E" in f[6:-1]:
        text = (int(f[1], 16), int(f[2], 16), int(f[4], 16))
offset, vaddr, size = text
for line in subprocess.run(["readelf", "-sW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and int(f[2], 0) > 0:
        a = int(f[1], 16)
        if vaddr <= a < vaddr + size:
            print("%x %s" % (a - vaddr + offset, f[7]))
PY

# A busybox bundle; each container gets its own cgroup under $CG.
B=$WORK/bundle
mkdir -p "$B/rootfs/bin"
cp /bin/busybox "$B/rootfs/bin/"
for a in true sh sleep; do ln -s busybox "$B/rootfs/bin/$a"; done
"$BIN" spec --bundle "$B"
config() { # config ID ARGS_JSON [SECCOMP_JSON_FILE]
    python3 - "$B/config.json" "$1" "$2" "$CG" "${3:-}" <<'PY'
import json, sys
path, cid, args, cg, seccomp = sys.argv[1:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(args)
c["linux"]["cgroupsPath"] = f"{cg}/{cid}"
c["linux"].pop("seccomp", None)
if seccomp:
    c["linux"]["seccomp"] = json.load(open(seccomp))
json.dump(c, open(path, "w"))
PY
}
raw=$WORK/order
t() { "$WORK/trace" "$WORK/funcs" "$raw" "$BIN" --root "$WORK/root" "$@" < /dev/null > /dev/null; }

config r1 '["/bin/true"]'
t run --bundle "$B" r1
config c1 '["/bin/true"]'
# The init created waits for start; its tracer returns once it executes.
t create --bundle "$B" c1 &
traced=$!
for _ in $(seq 100); do
    "$BIN" --root "$WORK/root" state c1 2>/dev/null | grep -q '"created"' && break
    sleep 0.1
done
t state c1
t start c1
wait "$traced"
t delete c1
config s1 '["sleep","100"]'
t run -d --bundle "$B" s1
t exec s1 /bin/true
t pause s1
t resume s1
t ps s1
t update --pids-limit 100 s1
t events --stats s1
t kill s1 KILL
t delete --force s1
config z1 '["/bin/true"]' spec-fixtures/seccomp/docker-default.json
t run --bundle "$B" z1
t list
t features
t spec --bundle "$WORK"
t --version

mkdir -p layout
awk '!seen[$0]++' "$raw" > "$OUT"
echo "layout: $(wc -l < "$OUT") functions in $OUT"
