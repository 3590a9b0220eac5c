#!/usr/bin/env bash
# Boot Debian's 6.1 kernel under qemu (TCG) with a busybox initramfs that
# carries rt, and run the container tests of tests.sh on a pure cgroup v2
# hierarchy inside the VM. Prints the VM's console (kernel version, cgroup
# controllers, one "RESULT <test> PASS|FAIL|SKIP" line per test) and exits
# non-zero if a test fails, the VM crashes or the run times out.
#
#   scripts/vm/run.sh [RT_BINARY]        (default: target/release/rt)
#
# Environment: VM_DIR (cache and logs; default target/vm), VM_TIMEOUT (whole
# boot + tests, seconds; default 480), VM_MEM (MiB, default 1024), VM_CPUS
# (default 2), VM_TEST_TIMEOUT (per test, default 60), VM_MODULES (see
# build-initramfs.sh), VM_KERNEL_PKG (see fetch-kernel.sh), VM_TESTS (names
# of tests to run, space-separated; default all), VM_VERBOSE=1 (print every
# test's log, not only those of failed tests), VM_SUITE=criu|systemd (the
# tests of criu-tests.sh or systemd-tests.sh instead of tests.sh's; with
# systemd, systemd is PID 1; initramfs and console log get the suite's name).
# Needs (apt): qemu-system-x86 busybox-static kmod cpio.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RT=$(realpath "${1:-$REPO/target/release/rt}")
VM_DIR=$(realpath -m "${VM_DIR:-$REPO/target/vm}")
VM_TIMEOUT=${VM_TIMEOUT:-480}
VM_MEM=${VM_MEM:-1024}
VM_CPUS=${VM_CPUS:-2}

for tool in qemu-system-x86_64 cpio; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool missing (apt-get install qemu-system-x86 cpio kmod busybox-static)" >&2; exit 1; }
done
[[ -x $RT ]] || { echo "run.sh: no rt binary at $RT (cargo build --release --bin rt)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || echo "run.sh: warning: not root; building the initramfs needs mknod" >&2

t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

mkdir -p "$VM_DIR"
KDIR=$("$HERE/fetch-kernel.sh" "$VM_DIR/kernel")
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
INITRD=$VM_DIR/initramfs${VM_SUITE:+-$VM_SUITE}.cpio
"$HERE/build-initramfs.sh" "$KDIR" "$RT" "$INITRD"
echo "run.sh: kernel $(basename "$VMLINUZ"), initramfs ready after $(elapsed)s" >&2

WORK=$(mktemp -d /tmp/rt-vm.XXXXXX)
LOG=$WORK/console.log
TPID=    # coreutils timeout, qemu's parent
TAILPID=
# Stop what this script started, by pid: timeout (which passes the signal on
# to qemu), then qemu itself (its -pidfile) should it still run.
cleanup() {
    local qpid=
    [[ -s $WORK/qemu.pid ]] && qpid=$(cat "$WORK/qemu.pid")
    if [[ -n $TPID ]] && kill -0 "$TPID" 2>/dev/null; then
        kill "$TPID" 2>/dev/null || true
    fi
    if [[ -n $qpid ]] && [[ $(cat "/proc/$qpid/comm" 2>/dev/null) == qemu-system-* ]]; then
        kill "$qpid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$qpid" 2>/dev/null || true
    fi
    [[ -n $TPID ]] && wait "$TPID" 2>/dev/null || true
    if [[ -n $TAILPID ]] && kill -0 "$TAILPID" 2>/dev/null; then
        kill "$TAILPID" 2>/dev/null || true
    fi
    [[ -n $TAILPID ]] && wait "$TAILPID" 2>/dev/null || true
    [[ -f $LOG ]] && cp "$LOG" "$VM_DIR/console${VM_SUITE:+-$VM_SUITE}.log"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# VM_TESTS and VM_TEST_TIMEOUT reach /init through the kernel command line.
append="console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init cgroup_no_v1=all mitigations=off"
[[ -n ${VM_TESTS:-} ]] && append+=" rt_vm_tests=$(echo $VM_TESTS | tr ' ' ',')"
[[ -n ${VM_TEST_TIMEOUT:-} ]] && append+=" rt_vm_test_timeout=$VM_TEST_TIMEOUT"
[[ -n ${VM_VERBOSE:-} ]] && append+=" rt_vm_verbose=1"
[[ -n ${VM_SUITE:-} ]] && append+=" rt_vm_suite=$VM_SUITE"
# systemd as PID 1 (/init execs it): pure v2 as well, no status lines on the
# console (only the tests' output and kernel/systemd errors: loglevel=4).
[[ ${VM_SUITE:-} == systemd ]] &&
    append=${append/loglevel=3/loglevel=4}" systemd.unified_cgroup_hierarchy=1 systemd.show_status=0"

: > "$LOG"
timeout --kill-after=10 "$VM_TIMEOUT" qemu-system-x86_64 \
    -accel tcg -cpu max -smp "$VM_CPUS" -m "$VM_MEM" \
    -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$LOG" -monitor none -pidfile "$WORK/qemu.pid" \
    -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
    < /dev/null > "$WORK/qemu.out" 2>&1 &
TPID=$!
echo "run.sh: qemu started under timeout pid $TPID (limit ${VM_TIMEOUT}s)" >&2

# Stream the console while the VM runs (tail stops by itself when timeout exits).
tail -n +1 -f --pid="$TPID" "$LOG" | sed -u 's/\r$//' &
TAILPID=$!

# The wait builtin returns at once on INT/TERM, so the trap runs promptly.
qrc=0
wait "$TPID" || qrc=$?
TPID=
timed_out=0
if ((qrc == 124 || qrc == 137)); then
    timed_out=1
    echo "run.sh: timeout after ${VM_TIMEOUT}s: qemu killed" >&2
fi
wait "$TAILPID" 2>/dev/null || true
TAILPID=

out=$(sed 's/\r$//' "$LOG")
results=$(grep -E '^RESULT [^ ]+ (PASS|FAIL|SKIP)' <<<"$out" || true)
n_pass=$(grep -c ' PASS' <<<"$results" || true)
n_fail=$(grep -c ' FAIL' <<<"$results" || true)
n_skip=$(grep -c ' SKIP' <<<"$results" || true)

echo
echo "==== rt ${VM_SUITE:-cgroup v2} VM tests: $n_pass passed, $n_fail failed, $n_skip skipped ($(elapsed)s)"
[[ -n $results ]] && sed 's/^RESULT /  /' <<<"$results"
problems=()
((timed_out)) && problems+=("timed out after ${VM_TIMEOUT}s")
grep -q '^VM-INIT-ERROR' <<<"$out" && problems+=("$(grep -m1 '^VM-INIT-ERROR' <<<"$out")")
grep -q '^VM-TESTS-DONE' <<<"$out" || problems+=("the test run did not finish (kernel panic, crash or timeout)")
[[ -z $results ]] && problems+=("no test results")
((n_fail > 0)) && problems+=("$n_fail test(s) failed")
if ((${#problems[@]})); then
    for p in "${problems[@]}"; do echo "FAILED: $p"; done
    if [[ -s $WORK/qemu.out ]]; then echo "qemu said:"; sed 's/^/  /' "$WORK/qemu.out"; fi
    echo "console log: $VM_DIR/console${VM_SUITE:+-$VM_SUITE}.log"
    exit 1
fi
echo "OK (qemu exit status $qrc; console log: $VM_DIR/console${VM_SUITE:+-$VM_SUITE}.log)"
