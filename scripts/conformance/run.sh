#!/usr/bin/env bash
# Run the opencontainers runtime-tools validation suite against rt (or another
# runc-compatible runtime) and print a PASS/FAIL table.
#
#   RUNTIME_TOOLS=DIR [RUNTIME=PATH] scripts/conformance/run.sh [TEST...]
#
#   RUNTIME_TOOLS        a checkout of github.com/opencontainers/runtime-tools
#                        (required; the project neither vendors nor downloads
#                        it). Checked with two revisions, both needing Go >= 1.21:
#                        master 5e63903 (Dec 2025, runtime-spec v1.3.0), and
#                        e5b4542 (Nov 2025), the last on runtime-spec v1.1.0:
#                        crun 1.8.1 refuses the ociVersion 1.3.0 configs of
#                        master, and master compares pids limits as pointers.
#                        See scripts/conformance/README.md.
#   RUNTIME              runtime under test (default: rt, built here)
#   CONFORMANCE_TIMEOUT  seconds allowed to each test program (default 120)
#   CONFORMANCE_MIN      exit 1 when fewer tests pass (default: no minimum)
#   CONFORMANCE_OUT      output directory (default target/conformance)
#   TEST...              validation test names (default: every validation/*/)
#
# Output: target/conformance/<runtime>/ holds each test's TAP (<test>.tap) and
# stderr, and results.md; target/conformance/results.md is the last run's.
# The checkout is only read: binaries are built into the output directory.
#
# A test PASSES when its program exits 0 and prints a complete TAP plan with
# no `not ok` (TODO excepted; SKIP counts as ok, as in TAP), and no error
# diagnostic before its first result (how the hook tests report failure);
# or, for the *_fail tests, when it exits 0 with no TAP at all.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
HERE=$REPO/scripts/conformance

die() { echo "conformance: $*" >&2; exit 2; }

if [[ -z ${RUNTIME_TOOLS:-} ]]; then
    cat >&2 <<'MSG'
conformance: RUNTIME_TOOLS is not set.

This runs the OCI runtime-tools validation suite, which the project does not
ship. Check out https://github.com/opencontainers/runtime-tools somewhere
outside this repository and point RUNTIME_TOOLS at it:

    RUNTIME_TOOLS=/path/to/runtime-tools just conformance
    RUNTIME_TOOLS=/path/to/runtime-tools RUNTIME=/usr/sbin/runc just conformance
MSG
    exit 2
fi
TOOLS=$(realpath "$RUNTIME_TOOLS") || die "RUNTIME_TOOLS=$RUNTIME_TOOLS does not exist"
for f in go.mod cmd/runtimetest validation/util "rootfs-$(dpkg --print-architecture 2>/dev/null || echo amd64).tar.gz"; do
    [[ -e $TOOLS/$f ]] || die "$TOOLS is not a runtime-tools checkout (no $f)"
done
[[ $EUID -eq 0 ]] || die "the validation suite creates containers: run as root"

OUT=$(realpath -m "${CONFORMANCE_OUT:-target/conformance}")
TIMEOUT=${CONFORMANCE_TIMEOUT:-120}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "CONFORMANCE_TIMEOUT must be a number of seconds"
mkdir -p "$OUT"

# One run at a time on the machine, whatever its output directory: tests of
# two runs would share the suite's fixed cgroup paths (/cgrouptest, ...).
exec 9>/run/rt-conformance.lock
flock -n 9 || die "another conformance run holds /run/rt-conformance.lock"

# --- the runtime ---------------------------------------------------------
if [[ -z ${RUNTIME:-} ]]; then
    if [[ -z ${RT_BINARY:-} ]]; then
        echo "== building rt"
        cargo build --release --bin rt
        RT_BINARY=target/release/rt
    fi
    NAME=rt
    mkdir -p "$OUT/rt-bin"
    # A copy, so that a rebuild by someone else during the run changes nothing.
    install -m 0755 "$RT_BINARY" "$OUT/rt-bin/rt"
    RUNTIME_BIN=$OUT/rt-bin/rt
else
    RUNTIME_BIN=$(command -v "$RUNTIME") || die "RUNTIME=$RUNTIME not found"
    RUNTIME_BIN=$(realpath "$RUNTIME_BIN")
    NAME=$(basename "$RUNTIME_BIN")
fi
RUNTIME_VERSION=$("$RUNTIME_BIN" --version 2>/dev/null | head -n1 || true)

# --- build the suite -----------------------------------------------------
GO=$("$HERE/find-go.sh" "$OUT/tools/go-bin")
BUILD=$OUT/build
echo "== building runtime-tools validation ($TOOLS) with $("$GO" env GOVERSION 2>/dev/null || echo go)"
rm -rf "$BUILD"
mkdir -p "$BUILD/validation"
(
    cd "$TOOLS"
    # Offline, from the checkout's vendor/ directory, with this toolchain.
    export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GOWORK=off
    # runtimetest runs inside the container's rootfs: static, no libc lookups.
    CGO_ENABLED=0 "$GO" build -tags "netgo osusergo" -o "$BUILD/runtimetest" ./cmd/runtimetest
    # One executable per validation/<name>/ package (util is a library).
    "$GO" build -o "$BUILD/validation/" ./validation/...
)
TOOLS_REV=$(git -C "$TOOLS" describe --always --dirty --tags 2>/dev/null || echo unknown)
SPEC_REV=$(awk '$1 == "github.com/opencontainers/runtime-spec" { print $2 }' "$TOOLS/go.mod")

ALL=()
for d in "$TOOLS"/validation/*/; do
    n=$(basename "$d")
    [[ $n == util ]] || ALL+=("$n")
done
if (($#)); then
    TESTS=("$@")
    for t in "${TESTS[@]}"; do [[ -x $BUILD/validation/$t ]] || die "no validation test named $t"; done
else
    TESTS=("${ALL[@]}")
fi

# --- the run -------------------------------------------------------------
RUN=$OUT/$NAME
rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/cwd"
# The programs read ./runtimetest and ./rootfs-<arch>.tar.gz from their cwd.
cp "$BUILD/runtimetest" "$RUN/cwd/runtimetest"
ln -s "$TOOLS"/rootfs-*.tar.gz "$RUN/cwd/"

STATE_ROOT=/run/rt-conformance-$NAME
SCRATCH=$(mktemp -d /tmp/rt-conformance.XXXXXX)
# Traversable like /tmp itself, for containers whose root is not host root.
chmod 0755 "$SCRATCH"
export RT_CONFORMANCE_RUNTIME=$RUNTIME_BIN RT_CONFORMANCE_ROOT=$STATE_ROOT
export RUNTIME=$HERE/runtime-wrapper.sh
# Bundles (os.MkdirTemp) go to a directory of this run, removed at the end.
export TMPDIR=$SCRATCH
if [[ $NAME == rt ]]; then
    unset RT_CONFORMANCE_PIN_CGROUPS
else
    export RT_CONFORMANCE_PIN_CGROUPS=rt-conformance-pinned
    echo "== $NAME: empty and relative linux.cgroupsPath pinned under /$RT_CONFORMANCE_PIN_CGROUPS (see runtime-wrapper.sh)"
fi

# Delete every container a test left behind in this run's state root.
reap_containers() {
    local id
    [[ -d $STATE_ROOT ]] || return 0
    for id in $(timeout 20 "$RUNTIME_BIN" --root "$STATE_ROOT" list -q 2>/dev/null || true); do
        timeout 20 "$RUNTIME_BIN" --root "$STATE_ROOT" delete --force "$id" >/dev/null 2>&1 || true
    done
}

# The suite's own cgroup paths, which runtimes may leave (runc removes only
# the leaf it made). Only these names; rmdir removes empty cgroups only.
reap_cgroups() {
    local h p
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        for p in cgrouptest testdir rt-conformance-pinned; do
            [[ -d $h$p ]] && find "$h$p" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
    return 0
}

cleanup() {
    reap_containers
    reap_cgroups
    rm -rf "$STATE_ROOT"
    # A container with rootfsPropagation "shared" (linux_rootfs_propagation)
    # can leave its mounts (proc, dev, ...) in the host's namespace: runc's
    # do. They are under this run's own scratch directory: detach them,
    # deepest first, and never rm -rf through one that stays.
    { findmnt -rno TARGET | grep "^$SCRATCH/" | sort -r || true; } | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    if findmnt -rno TARGET | grep -q "^$SCRATCH"; then
        echo "conformance: mounts left under $SCRATCH; not removed" >&2
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT

reap_containers
reap_cgroups

SEP=$'\x1f' # field separator of evaluate's output and ROWS (notes hold anything)

# evaluate TAPFILE RC: prints RESULT, ok count, planned count, note, SEP-separated.
# A program may print several TAP documents (one per container it runs); their
# plans add up. The lifecycle tests (hooks, prestart, poststop, ...) print no
# result lines at all: plan 1..0, and a YAML block with an "error" key before
# any result when something went wrong. Such a block fails the test. The
# *_fail tests print nothing and exit 0 when the runtime rightly refused the
# config (util.RuntimeInsideValidate), and exit 1 (util.Fatal) otherwise.
evaluate() {
    awk -v rc="$2" -v timeout_s="$TIMEOUT" -v sep="$SEP" '
        /^TAP version/ { results_in_doc = 0; next }
        /^1\.\.[0-9]+/ { plan += substr($0, 4) + 0; hasplan = 1; next }
        /^ok( |$)/ { ok++; results_in_doc++; if (tolower($0) ~ /# *skip/) skip++; next }
        /^not ok( |$)/ {
            results_in_doc++
            if (tolower($0) ~ /# *todo/) { ok++; next }
            bad++
            if (first == "") { first = $0; sub(/^not ok [0-9]* *-? */, "", first) }
            next
        }
        /^Bail out!/ { bail = $0; next }
        /^ +---$/ { yaml = 1; orphan = (results_in_doc == 0); next }
        /^ +\.\.\.$/ { yaml = 0; next }
        yaml && orphan && /^ +"error": / && orphan_err == "" {
            orphan_err = $0
            sub(/^ +"error": "/, "", orphan_err)
            sub(/",?$/, "", orphan_err)
            sub(/\\nRefer to: .*/, "", orphan_err)
        }
        END {
            done_ = ok + bad
            if (rc == 124 || rc == 137) { res = "FAIL"; note = "timeout after " timeout_s "s" }
            else if (bad > 0) { res = "FAIL"; note = bad " not ok; first: " first }
            else if (bail != "") { res = "FAIL"; note = bail }
            else if (orphan_err != "") { res = "FAIL"; note = "error: " orphan_err }
            else if (!hasplan && done_ == 0 && rc == 0) { res = "PASS"; note = "no TAP: passed by exiting 0" }
            else if (!hasplan) { res = "FAIL"; note = "no TAP plan (exit " rc ")" }
            else if (done_ != plan) { res = "FAIL"; note = done_ " of " plan " planned results" }
            else if (rc != 0) { res = "FAIL"; note = "exit " rc }
            else { res = "PASS"; note = (skip > 0 ? skip " skipped" : "") }
            if (length(note) > 160) note = substr(note, 1, 157) "..."
            printf "%s%s%d%s%d%s%s\n", res, sep, ok, sep, hasplan ? plan : 0, sep, note
        }' "$1"
}

echo "== running ${#TESTS[@]} tests against $RUNTIME_BIN${RUNTIME_VERSION:+ ($RUNTIME_VERSION)}, ${TIMEOUT}s each"
START=$(date +%s)
ROWS=()
PASSED=0
i=0
for t in "${TESTS[@]}"; do
    i=$((i + 1))
    t0=$(date +%s.%N)
    set +e
    # (fd 9, the lock, is not handed to the tests and their containers.)
    (cd "$RUN/cwd" && exec timeout -k 10 "$TIMEOUT" "$BUILD/validation/$t") \
        </dev/null >"$RUN/logs/$t.tap" 2>"$RUN/logs/$t.stderr" 9>&-
    rc=$?
    set -e
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    reap_containers
    IFS=$SEP read -r res ok plan note < <(evaluate "$RUN/logs/$t.tap" "$rc")
    # A program that dies before any TAP says why on stderr.
    if [[ $res == FAIL && $plan == 0 && -s $RUN/logs/$t.stderr ]]; then
        note="$note: $(grep -v '^\s*$' "$RUN/logs/$t.stderr" | tail -n1 | cut -c1-120)"
    fi
    [[ $res == PASS ]] && PASSED=$((PASSED + 1))
    ROWS+=("$t$SEP$res$SEP$ok/$plan$SEP$secs$SEP$note")
    printf '[%2d/%d] %-4s %-36s %7s  %6ss  %s\n' "$i" "${#TESTS[@]}" "$res" "$t" "$ok/$plan" "$secs" "$note"
done
ELAPSED=$(($(date +%s) - START))
reap_cgroups

{
    echo "# runtime-tools validation: $NAME"
    echo
    echo "- runtime: \`$RUNTIME_BIN\`${RUNTIME_VERSION:+ ($RUNTIME_VERSION)}"
    echo "- runtime-tools: $TOOLS_REV (runtime-spec ${SPEC_REV:-?}), built with $("$GO" env GOVERSION 2>/dev/null || echo go)"
    echo "- host: $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC'), ${TIMEOUT}s per test, $((ELAPSED / 60))m$((ELAPSED % 60))s in all"
    echo "- logs: \`$RUN/logs/<test>.tap\` and \`.stderr\`"
    echo
    echo "| test | result | TAP ok/planned | seconds | note |"
    echo "| --- | --- | --- | ---: | --- |"
    for r in "${ROWS[@]}"; do
        IFS=$SEP read -r t res counts secs note <<<"$r"
        echo "| $t | $res | $counts | $secs | ${note//|/\\|} |"
    done
    echo
    echo "**$NAME: $PASSED of ${#TESTS[@]} passed**"
} >"$RUN/results.md"
cp "$RUN/results.md" "$OUT/results.md"

echo
echo "$NAME: $PASSED of ${#TESTS[@]} passed ($((ELAPSED / 60))m$((ELAPSED % 60))s); table in $RUN/results.md"
echo "$PASSED passed, $((${#TESTS[@]} - PASSED)) failed"
if [[ -n ${CONFORMANCE_MIN:-} ]] && ((PASSED < CONFORMANCE_MIN)); then
    echo "conformance: fewer than CONFORMANCE_MIN=$CONFORMANCE_MIN passed" >&2
    exit 1
fi
