#!/usr/bin/env bash
# Build the VM's initramfs (an uncompressed newc cpio): busybox-static, the rt
# binary with the libraries ldd lists and the dynamic loader, the in-VM /init
# and test script, the bundle template, a busybox rootfs for the containers,
# and optionally kernel modules.
#
#   scripts/vm/build-initramfs.sh KERNEL_DIR RT_BINARY OUT.cpio
#
# VM_EXTRA_BINS adds host programs (see below); with VM_SUITE set, the files
# of root-$VM_SUITE/ (if any) go into the root as they are.
# VM_MODULES="overlay 9p ..." adds those modules and their dependencies
# (depmod -b runs once on the unpacked kernel; kmod's modprobe resolves the
# order); /init insmods them in that order. None are needed today: cgroup2,
# BPF, namespaces, tmpfs and devtmpfs are built into Debian's kernel.
set -euo pipefail

KDIR=$(realpath "$1")
RT=$(realpath "$2")
OUT=$(realpath -m "$3")
HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}

[[ -x $RT ]] || { echo "build-initramfs: $RT is not an executable" >&2; exit 1; }
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || { echo "build-initramfs: $BUSYBOX is not static (install busybox-static)" >&2; exit 1; }

STAGE=$(mktemp -d "$(dirname "$OUT")/.initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cd "$STAGE"
mkdir -p bin sbin dev proc sys run tmp etc root lib64 lib/x86_64-linux-gnu tests rootfs/bin \
    rootfs/proc rootfs/sys rootfs/dev rootfs/tmp rootfs/etc

# busybox and its applets (as symlinks), in the VM and in the containers' rootfs.
cp "$BUSYBOX" bin/busybox
cp "$BUSYBOX" rootfs/bin/busybox
for a in $("$BUSYBOX" --list); do
    [[ $a == busybox ]] && continue
    ln -s busybox "bin/$a"
    ln -s busybox "rootfs/bin/$a"
done
echo "root:x:0:0:root:/root:/bin/sh" > etc/passwd
echo "root:x:0:" > etc/group
cp etc/passwd etc/group rootfs/etc/

# rt, its libraries and the loader at the paths ldd names (none when static).
cp "$RT" bin/rt
{ ldd "$RT" 2>/dev/null || true; } | awk '/=> \//{print $3} /^[ \t]*\/.*ld-linux/{print $1}' | sort -u | while read -r lib; do
    mkdir -p ".$(dirname "$lib")"
    cp -L "$lib" ".$lib"
done

# VM_EXTRA_BINS="SRC[=DEST] ...": more host programs (criu, GNU tar), each
# with the libraries ldd lists; DEST (default SRC) replaces what is there
# (e.g. a busybox applet link: criu runs `tar` from PATH and needs GNU tar).
for spec in ${VM_EXTRA_BINS:-}; do
    src=${spec%%=*}
    dest=${spec#*=}
    [[ -x $src ]] || { echo "build-initramfs: $src (VM_EXTRA_BINS) is not an executable" >&2; exit 1; }
    mkdir -p ".$(dirname "$dest")"
    rm -f ".$dest"
    cp -L "$src" ".$dest"
    ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/.*ld-linux/{print $1}' | sort -u | while read -r lib; do
        [[ -e .$lib ]] && continue
        mkdir -p ".$(dirname "$lib")"
        cp -L "$lib" ".$lib"
    done
done

# The suite's own files, laid out as in the VM (root-systemd/: the units and
# configuration the systemd suite boots with).
if [[ -n ${VM_SUITE:-} && -d $HERE/root-$VM_SUITE ]]; then
    cp -r "$HERE/root-$VM_SUITE/." .
fi
if [[ ${VM_SUITE:-} == systemd && ! -x lib/systemd/systemd ]]; then
    echo "build-initramfs: VM_SUITE=systemd needs systemd and dbus-daemon in VM_EXTRA_BINS (see the Justfile's test-systemd)" >&2
    exit 1
fi

# The console must exist before /init runs (the kernel opens it for fd 0-2).
mknod -m 600 dev/console c 5 1
mknod -m 666 dev/null c 1 3

cp "$HERE/init" init
cp "$HERE/tests.sh" tests/tests.sh
cp "$HERE/criu-tests.sh" tests/criu-tests.sh
cp "$HERE/systemd-tests.sh" tests/systemd-tests.sh
cp "$HERE/config.json.in" tests/config.json.in
chmod +x init tests/tests.sh

# Optional kernel modules.
kver=$(basename "$(ls "$KDIR"/boot/vmlinuz-* | head -1)")
kver=${kver#vmlinuz-}
: > modules.load
if [[ -n ${VM_MODULES:-} ]]; then
    if [[ ! -d $KDIR/lib/modules/$kver/kernel ]]; then
        echo "build-initramfs: unpacking the kernel's modules (dpkg -x)" >&2
        dpkg -x "$KDIR/kernel.deb" "$KDIR"
    fi
    if [[ ! -e $KDIR/lib/modules/$kver/modules.dep ]]; then
        echo "build-initramfs: depmod -b $KDIR $kver" >&2
        depmod -b "$KDIR" "$kver"
    fi
    for m in $VM_MODULES; do
        # kmod's modprobe prints "insmod /path/x.ko [params]" in load order.
        modprobe -d "$KDIR" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}'
    done | awk '!seen[$0]++' | while read -r ko; do
        rel=${ko#"$KDIR"}
        mkdir -p ".$(dirname "$rel")"
        cp "$ko" ".$rel"
        echo "$rel" >> modules.load
    done
fi
echo "$kver" > etc/kernel-version

find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "build-initramfs: $OUT ($(du -h "$OUT" | cut -f1))" >&2
