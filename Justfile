# rt — an OCI container runtime. `just demo` and `just test` set up what is
# missing on a fresh Debian 12 machine (run as root).

set shell := ["bash", "-euo", "pipefail", "-c"]

apt_packages := "busybox-static runc iproute2 util-linux procps python3 time qemu-system-x86 kmod cpio"

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

# Build rt (release).
build:
    cargo build --release --bin rt

# Build a busybox bundle and walk a container through its lifecycle.
demo: deps build
    scripts/demo.sh target/release/rt

# Every test: unit tests, the runtime tests that run real containers, the
# cgroup v2 suite in a VM.
test: deps
    cargo build --bin rt
    cargo test --workspace -- --test-threads=4
    just test-cgroup2

# Container tests on pure cgroup v2 in a qemu VM (Debian 6.1 kernel; cache: target/vm/).
test-cgroup2: deps build
    scripts/vm/run.sh target/release/rt

# rt against runc and crun, interleaved: writes bench/results.{md,json} and bench/medians.svg.
bench rounds="40" scale="1000": deps build
    #!/usr/bin/env bash
    set -euo pipefail
    command -v crun >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crun >/dev/null
    # crun refuses a hybrid layout without a v1 hugetlb hierarchy.
    if [ ! -d /sys/fs/cgroup/hugetlb ] && [ -d /sys/fs/cgroup/memory ]; then
        mkdir -p /sys/fs/cgroup/hugetlb
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    fi
    python3 scripts/bench/bench.py --rt target/release/rt --rounds {{rounds}} --scale {{scale}} --out bench

# Needs RUNTIME_TOOLS=<runtime-tools checkout>, which the project does not
# ship; RUNTIME=/usr/sbin/runc tests another runtime; test names run only
# those. Table also in target/conformance/results.md; see scripts/conformance/run.sh.
# OCI runtime-tools validation suite against rt: PASS/FAIL table and total.
conformance *tests: deps
    scripts/conformance/run.sh {{tests}}

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
