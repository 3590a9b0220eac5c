#!/usr/bin/env bash
# Fetch Debian's linux-image-6.1.0-*-amd64-unsigned with apt and unpack it
# (dpkg -x) into a cache directory; print that directory on stdout. It holds
# boot/vmlinuz-*, boot/config-* and kernel.deb (for modules, on demand).
#
#   scripts/vm/fetch-kernel.sh [CACHE_DIR]       (default: target/vm/kernel)
#
# The package is chosen from the local apt cache: the highest ABI of the plain
# amd64 flavour (not -cloud, not -rt). Set VM_KERNEL_PKG to force one. A kernel
# unpacked earlier is reused as long as apt still names the same package; if
# apt has no candidate (no lists yet) or the download fails (stale lists),
# `apt-get update` runs once and the choice is made again. Nothing is
# downloaded from anywhere but the configured apt sources.
set -euo pipefail

CACHE=$(realpath -m "${1:-target/vm/kernel}")
mkdir -p "$CACHE"
log() { echo "fetch-kernel: $*" >&2; }

pick() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' 2>/dev/null |
        awk '{print $1}' | sort -V | tail -1
}

# Newest kernel already unpacked in the cache (fallback when apt is unusable).
cached() {
    local d
    for d in $(ls -d "$CACHE"/linux-image-* 2>/dev/null | sort -V -r); do
        [[ -e $d/.complete ]] && { echo "$d"; return 0; }
    done
    return 1
}

download() { # PKG DIR -> the .deb's path
    local pkg=$1 dir=$2
    local rc=0
    (cd "$dir" && apt-get download -q "$pkg") >&2 2>"$dir/apt.err" || rc=$?
    grep -v 'unsandboxed as root' "$dir/apt.err" >&2 || true
    ((rc == 0)) || return 1
    ls "$dir"/"$pkg"_*.deb 2>/dev/null | head -1
}

pkg=${VM_KERNEL_PKG:-$(pick)}
updated=0
if [[ -z $pkg ]]; then
    if dir=$(cached); then echo "$dir"; exit 0; fi
    log "no linux-image-6.1.0-*-amd64-unsigned in the apt cache: apt-get update"
    apt-get update -qq
    updated=1
    pkg=$(pick)
    [[ -n $pkg ]] || { log "apt knows no linux-image-6.1.0-*-amd64-unsigned package"; exit 1; }
fi

dest=$CACHE/$pkg
if [[ -e $dest/.complete ]]; then
    echo "$dest"
    exit 0
fi

tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "downloading $pkg (apt-get download)"
if ! deb=$(download "$pkg" "$tmp") || [[ -z $deb ]]; then
    if ((updated == 0)) && [[ -z ${VM_KERNEL_PKG:-} ]]; then
        log "download failed: apt-get update and retry"
        apt-get update -qq
        pkg=$(pick)
        dest=$CACHE/$pkg
        [[ -e $dest/.complete ]] && { echo "$dest"; exit 0; }
        deb=$(download "$pkg" "$tmp") || true
    fi
    [[ -n ${deb:-} && -f $deb ]] || { log "cannot download $pkg"; exit 1; }
fi
log "unpacking $(basename "$deb") (dpkg -x)"
dpkg -x "$deb" "$tmp/root"
ls "$tmp"/root/boot/vmlinuz-* >/dev/null
# Keep boot/ (vmlinuz, config, System.map) and the .deb (70 MB), not the
# 390 MB of modules: build-initramfs.sh unpacks them again only when
# VM_MODULES asks for some.
rm -rf "$tmp/root/lib" "$tmp/root/usr"
mv "$deb" "$tmp/root/kernel.deb"
rm -rf "$dest"
mv "$tmp/root" "$dest"
touch "$dest/.complete"
echo "$dest"
