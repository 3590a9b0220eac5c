#!/usr/bin/env bash
# `just critest`: Kubernetes' CRI validation suite (critest, from
# kubernetes-sigs/cri-tools) through containerd's CRI plugin, once per
# runtime handler (runc, then rt, by default), on this machine only.
#
# usage: CRITEST=/path/to/critest run.sh [RT_BINARY] [-- critest args...]
#   CRITEST             the critest binary (built by you from cri-tools, which
#                       this project does not ship; see README.md)
#   RUNC                runc for the `runc` handler (default: runc on PATH)
#   CRITEST_RUNTIMES    handlers to run, in order (default "runc rt")
#   CRITEST_FOCUS       regex: only tests matching it (ginkgo focus)
#   CRITEST_SKIP        regex: tests to skip, besides the default skips below
#   CRITEST_WORK        containerd's root, state, sockets, CNI and images
#                       (default /var/tmp/rt-critest)
#   CRITEST_OUT         results (default target/critest)
#   CRITEST_BRIDGE      the pods' bridge (default rtcri0), made and removed here
#   CRITEST_SUBNET      its /24 (default 10.213.47.0/24)
#   CRITEST_TIMEOUT     seconds for one handler's run (default 2400)
#   CRITEST_KEEP=1      keep CRITEST_WORK (configs and logs) afterwards
#   CRITEST_BUSYBOX     busybox for the images (default: Debian's busybox
#                       package, fetched with apt-get download)
#
# What it sets up, all of it private and removed at the end (exit, error or
# interrupt): a read-only image registry on 127.0.0.1 (registry.py) serving
# images built here without network (images.py); a bridge of its own with
# no route off the machine; containerd (Debian's package) with its own
# config, root, state, socket, CNI config and cgroup, and one runtime
# handler per runtime. Everything it starts is stopped by pid; everything
# mounted under CRITEST_WORK is unmounted. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
die() { echo "critest: $*" >&2; exit 2; }

[[ $EUID -eq 0 ]] || die "containerd and the runtimes need root"
: "${CRITEST:?set CRITEST to the critest binary (see scripts/critest/README.md)}"
CRITEST=$(realpath "$CRITEST")
[[ -x $CRITEST ]] || die "CRITEST=$CRITEST is not executable"

RT=
if (($#)) && [[ $1 != -- ]]; then
    RT=$(realpath "$1")
    shift
fi
[[ ${1:-} == -- ]] && shift
EXTRA_ARGS=("$@")
RUNC=${RUNC:-$(command -v runc || true)}
[[ -n $RUNC ]] || die "no runc on PATH; set RUNC"
RUNC=$(realpath "$RUNC")
RUNTIMES=${CRITEST_RUNTIMES:-runc rt}
for r in $RUNTIMES; do
    case $r in
        rt) [[ -n $RT && -x $RT ]] || die "the rt handler needs an rt binary (first argument)" ;;
        runc) [[ -x $RUNC ]] || die "RUNC=$RUNC is not executable" ;;
        *) die "unknown runtime handler $r (rt or runc)" ;;
    esac
done

W=$(realpath -m "${CRITEST_WORK:-/var/tmp/rt-critest}")
OUT=$(realpath -m "${CRITEST_OUT:-target/critest}")
BRIDGE=${CRITEST_BRIDGE:-rtcri0}
SUBNET=${CRITEST_SUBNET:-10.213.47.0/24}
[[ $SUBNET =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || die "CRITEST_SUBNET must be a /24 ending in .0/24"
NET_PREFIX=${BASH_REMATCH[1]}
TIMEOUT=${CRITEST_TIMEOUT:-2400}

for cmd in containerd containerd-shim-runc-v2 ctr gcc python3 ip ss ipcmk ipcs ipcrm flock findmnt ldd dpkg-deb; do
    command -v "$cmd" >/dev/null || die "$cmd is missing (the recipe installs containerd, containernetworking-plugins, gcc)"
done
CNI_BIN=${CNI_BIN:-/usr/lib/cni}
for p in bridge host-local loopback; do
    [[ -x $CNI_BIN/$p ]] || die "no CNI plugin $CNI_BIN/$p (Debian: containernetworking-plugins)"
done

# One run at a time on the machine: fixed bridge, fixed cgroup names.
exec 9>/run/rt-critest.lock
flock -n 9 || die "another critest run holds /run/rt-critest.lock"

ip link show "$BRIDGE" >/dev/null 2>&1 && die "a link named $BRIDGE exists already: not ours, not touched (set CRITEST_BRIDGE)"
if ip -4 route show to match "$NET_PREFIX.1" | grep -qv '^default'; then
    die "$SUBNET overlaps a route of this machine (set CRITEST_SUBNET)"
fi
[[ -e $W ]] && die "$W exists (a previous run's? remove it, or set CRITEST_WORK)"

CGNAME=rt-critest-$$
SOCK=$W/containerd.sock
CTR=(ctr --address "$SOCK" --namespace k8s.io)
PIDS=()   # what this run started: stopped by pid at the end
HAD_RUN_CONTAINERD=0; [[ -e /run/containerd ]] && HAD_RUN_CONTAINERD=1
# The shims' sockets (/run/containerd/s/<hash>, whatever containerd's
# state dir): those this run leaves are removed, and no other.
SHIM_SOCKETS_BEFORE=$(ls /run/containerd/s 2>/dev/null | sort || true)
HAD_VAR_LIB_CNI=0; [[ -e /var/lib/cni ]] && HAD_VAR_LIB_CNI=1
SHM_BEFORE=$(ipcs -m | awk '$2 ~ /^[0-9]+$/ {print $2}' | sort)
# The cgroup hierarchies (v1 controllers, named ones and the v2 mount).
CG_ROOTS=()
while read -r m; do CG_ROOTS+=("$m"); done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET | grep '^/sys/fs/cgroup')
declare -A HAD_K8S_CG=()
for h in "${CG_ROOTS[@]}"; do [[ -d $h/k8s.io ]] && HAD_K8S_CG[$h]=1; done

# TERM, then KILL after 10 s; one pid.
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

# Processes whose command line names this run's work directory (the shims:
# `containerd-shim-runc-v2 ... -address $W/containerd.sock`).
own_processes() {
    local p
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" || ${p#/proc/} == "$BASHPID" ]] && continue
        { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$W/" && echo "${p#/proc/}"
    done
    return 0
}

# Mounts under the work directory, deepest first.
own_mounts() {
    awk -v w="$W/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2-
}

cleanup() {
    local rc=$? pid m d h id r root bin
    trap - EXIT INT TERM
    set +e
    echo "== critest: cleaning up"
    # Containers first, through the runtimes' own state (each handler has a
    # root of its own under $W): delete --force kills them and removes their
    # cgroups.
    for r in runc rt; do
        root=$W/$r-root/k8s.io
        bin=$RUNC; [[ $r == rt ]] && bin=$RT
        [[ -d $root && -n $bin ]] || continue
        for id in $(timeout 20 "$bin" --root "$root" list -q 2>/dev/null); do
            timeout 20 "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1
        done
    done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    for pid in $(own_processes); do stop_pid "$pid"; done
    # Anything still in this run's cgroup (containerd's, inherited by the
    # shims), then the cgroup itself.
    for h in "${CG_ROOTS[@]}"; do
        d=$h/$CGNAME
        [[ -d $d ]] || continue
        for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do stop_pid "$pid"; done
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        # The parent containerd makes for CRI containers (/k8s.io), if empty.
        [[ -z ${HAD_K8S_CG[$h]:-} && -d $h/k8s.io ]] && rmdir "$h/k8s.io" 2>/dev/null
    done
    for m in $(own_mounts); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    # Shared memory segments the HostIpc tests made on the host (ipcmk).
    for id in $(comm -13 <(echo "$SHM_BEFORE") <(ipcs -m | awk '$2 ~ /^[0-9]+$/ && $6 == 0 {print $2}' | sort)); do
        ipcrm -m "$id" 2>/dev/null
    done
    # Directories containerd and libcni make outside their configured roots
    # (the shims' sockets, the CNI result cache), when they were not there.
    # A shim stopped by signal leaves its socket.
    for id in $(comm -13 <(echo "$SHIM_SOCKETS_BEFORE") <(ls /run/containerd/s 2>/dev/null | sort)); do
        ss -xl | grep -qF "/run/containerd/s/$id" || rm -f "/run/containerd/s/$id"
    done
    ((HAD_RUN_CONTAINERD)) || { rmdir /run/containerd/s /run/containerd 2>/dev/null || true; }
    ((HAD_VAR_LIB_CNI)) || rm -rf /var/lib/cni
    if [[ -n $(own_mounts) ]]; then
        echo "critest: mounts left under $W; not removed:" >&2
        own_mounts >&2
        rc=1
    elif [[ ${CRITEST_KEEP:-} == 1 ]]; then
        rm -rf "$W/root" "$W/state" "$W/registry" "$W/deb"
        echo "critest: kept $W (configs, logs)"
    else
        cp "$W"/containerd.log "$W"/registry.log "$OUT/" 2>/dev/null
        rm -rf "$W"
    fi
    [[ -n $(own_processes) ]] && { echo "critest: processes naming $W are left" >&2; rc=1; }
    ((HAD_RUN_CONTAINERD)) || [[ ! -e /run/containerd ]] || { echo "critest: /run/containerd is left" >&2; rc=1; }
    ip link show "$BRIDGE" >/dev/null 2>&1 && { echo "critest: $BRIDGE is left" >&2; rc=1; }
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$W" "$OUT"
rm -f "$OUT"/*.log

# --- images and their registry ------------------------------------------
echo "== images (Debian's busybox, helpers/*.c) into $W/registry"
mkdir -p "$W/helpers"
for p in pause nnp nginx; do
    gcc -static -Os -s -Wall -o "$W/helpers/$p" "$HERE/helpers/$p.c"
done
# The images' busybox: Debian's `busybox` package (images.py says why not
# busybox-static), unpacked here, or CRITEST_BUSYBOX.
if [[ -n ${CRITEST_BUSYBOX:-} ]]; then
    BUSYBOX=$(realpath "$CRITEST_BUSYBOX")
else
    mkdir -p "$W/deb"
    (cd "$W/deb" && { apt-get download busybox >/dev/null 2>&1 || { apt-get update -qq && apt-get download busybox >/dev/null; }; })
    dpkg-deb -x "$(ls "$W"/deb/busybox_*.deb)" "$W/deb/root"
    BUSYBOX=$W/deb/root/bin/busybox
fi
# grep reads the whole list: with -q it could exit at the match and busybox,
# still writing, die of SIGPIPE, which pipefail takes for a missing applet.
"$BUSYBOX" --list | grep -x httpd >/dev/null || die "$BUSYBOX has no httpd applet"
python3 "$HERE/images.py" "$W/registry" "$W/helpers" "$BUSYBOX"
python3 "$HERE/registry.py" "$W/registry" "$W/registry.port" "$W/registry.log" 9>&- &
PIDS+=($!)
for _ in $(seq 50); do [[ -s $W/registry.port ]] && break; sleep 0.1; done
[[ -s $W/registry.port ]] || die "the registry did not start; see $W/registry.log"
PORT=$(cat "$W/registry.port")
REGISTRY=http://127.0.0.1:$PORT
# containerd resolves these hosts to the registry above only: with
# `server` set, the upstream host is never contacted.
for host in registry.k8s.io gcr.io; do
    mkdir -p "$W/certs.d/$host"
    cat >"$W/certs.d/$host/hosts.toml" <<EOF
server = "$REGISTRY"

[host."$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
done

# --- network: a bridge with no route off the machine ----------------------
# The bridge plugin runs without isGateway (which would switch on
# net.ipv4.ip_forward) and without ipMasq (no iptables rules); the host's
# address on the bridge is set here, so critest reaches the pods' IPs.
# Pods get no default route. The host-port test is skipped: its portmap
# plugin would add NAT rules to the host's firewall.
ip link add "$BRIDGE" type bridge
ip addr add "$NET_PREFIX.1/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
mkdir -p "$W/cni/net.d"
cat >"$W/cni/net.d/10-rt-critest.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "rt-critest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$SUBNET", "rangeStart": "$NET_PREFIX.10", "rangeEnd": "$NET_PREFIX.250"}]],
        "dataDir": "$W/cni/ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF

# --- containerd ------------------------------------------------------------
handler() {
    local name=$1 bin=$2
    cat <<EOF
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$name]
          runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$name.options]
            BinaryName = "$bin"
            Root = "$W/$name-root"
EOF
}
{
    cat <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$W/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  # Root here lacks CAP_SYS_RESOURCE: no negative oom_score_adj.
  restrict_oom_score_adj = true
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$W/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$W/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
EOF
    handler runc "$RUNC"
    [[ -n $RT ]] && handler rt "$RT"
} >"$W/config.toml"

# containerd and its shims run in a cgroup of this run (every hierarchy):
# not in the caller's, which on these machines belongs to the machine's own
# service, and so that whatever is left can be found and stopped.
for h in "${CG_ROOTS[@]}"; do
    mkdir -p "$h/$CGNAME"
    # A new v1 cpuset has no CPUs and memory nodes, and joining it fails
    # (ENOSPC): it gets its parent's.
    for f in cpuset.cpus cpuset.mems; do
        [[ -f $h/$CGNAME/$f && -z $(<"$h/$CGNAME/$f") ]] && cat "$h/$f" >"$h/$CGNAME/$f"
    done
done
echo "== containerd $(containerd --version | awk '{print $3}') on $SOCK; registry $REGISTRY; bridge $BRIDGE $SUBNET"
CG_PROCS=$(printf '%s/'"$CGNAME"'/cgroup.procs ' "${CG_ROOTS[@]}")
# shellcheck disable=SC2016 # expanded by the inner shell
CG_PROCS=$CG_PROCS bash -c 'for f in $CG_PROCS; do echo $$ >"$f"; done; exec containerd --config "$1"' \
    _ "$W/config.toml" >"$W/containerd.log" 2>&1 9>&- &
PIDS+=($!)
for _ in $(seq 150); do
    "${CTR[@]}" version >/dev/null 2>&1 && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.2
done
"${CTR[@]}" version >/dev/null 2>&1 || die "containerd did not start; see $W/containerd.log"

# --- the suite, once per handler --------------------------------------------
# Not run: the digest test pulls an image by the digest of the upstream
# manifest, which no image built here has; the host-port test needs the
# portmap plugin (NAT rules in the host's firewall).
DEFAULT_SKIP='public image with digest should be pulled and removed|port mapping with host port and container port'
SKIP=$DEFAULT_SKIP${CRITEST_SKIP:+|$CRITEST_SKIP}

for r in $RUNTIMES; do
    mkdir -p "$OUT/$r"
    rm -f "$OUT/$r"/*
    bin=$RUNC; [[ $r == rt ]] && bin=$RT
    echo "== critest, handler $r ($bin: $("$bin" --version 2>/dev/null | head -n1))"
    args=(-runtime-endpoint "unix://$SOCK" -image-endpoint "unix://$SOCK" -runtime-handler "$r"
        -ginkgo.no-color -ginkgo.v -ginkgo.json-report "$OUT/$r/report.json" -ginkgo.skip "$SKIP")
    [[ -n ${CRITEST_FOCUS:-} ]] && args+=(-ginkgo.focus "$CRITEST_FOCUS")
    set +e
    # critest writes temporary files (pod log dirs) under its cwd's TMPDIR.
    (cd "$W" && exec timeout -k 10 "$TIMEOUT" "$CRITEST" "${args[@]}" "${EXTRA_ARGS[@]}") >"$OUT/$r/critest.log" 2>&1 9>&-
    rc=$?
    set -e
    echo "   exit $rc; log $OUT/$r/critest.log"
    python3 "$HERE/report.py" "$OUT/$r/report.json" "$r" "$bin" >"$OUT/$r/results.md" ||
        echo "   no report ($OUT/$r/report.json)"
    tail -n 1 "$OUT/$r/results.md"
done
cp "$W/containerd.log" "$W/registry.log" "$OUT/" 2>/dev/null || true
python3 "$HERE/report.py" --compare "$OUT" $RUNTIMES >"$OUT/results.md"
sed '/^## Every test/,$d' "$OUT/results.md"   # the per-test table stays in the file
