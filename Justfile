# rt — an OCI container runtime. `just demo` and `just test` set up what is
# missing on a fresh Debian 12 machine (run as root).

set shell := ["bash", "-euo", "pipefail", "-c"]

apt_packages := "busybox-static runc iproute2 util-linux procps"

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
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi

# Build rt (release).
build:
    cargo build --release --bin rt

# Build a busybox bundle and walk a container through its lifecycle.
demo: deps build
    scripts/demo.sh target/release/rt

# Every test: unit tests, then the runtime tests that run real containers.
test: deps
    cargo build --bin rt
    cargo test --workspace -- --test-threads=4

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
