# containerd (Debian's package) with its io.containerd.runc.v2 shim, driven
# by ctr. Sourced by test.sh, which sets T, CGROUP_PARENT, IMAGE_TAR and
# calls engine_up / the scenarios / engine_down.
#
# containerd gets its own config, socket, root and state under $T/ctd; the
# runtime is chosen per container with `ctr run --runc-binary`, and each
# runtime keeps its state under its own --runc-root.

CTD=$T/ctd
CTR=(ctr --address "$CTD/containerd.sock" --namespace rtclients)
IMG=docker.io/library/rt-busybox:latest

engine_up() {
    mkdir -p "$CTD"
    cat > "$CTD/config.toml" <<EOF
version = 2
root = "$CTD/root"
state = "$CTD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CTD/containerd.sock"
[ttrpc]
  address = "$CTD/containerd.sock.ttrpc"
[debug]
  address = "$CTD/debug.sock"
[metrics]
  address = ""
EOF
    containerd --config "$CTD/config.toml" > "$CTD/containerd.log" 2>&1 &
    echo $! > "$CTD/pid"
    started_pid "$!"
    wait_for 30 "${CTR[@]}" version || { echo "containerd did not start; see $CTD/containerd.log"; return 1; }
    tmo "${CTR[@]}" images import "$IMAGE_TAR" > /dev/null
}

# Remove every container this harness made, then stop containerd.
engine_down() {
    [[ -f $CTD/pid ]] || return 0
    if "${CTR[@]}" version > /dev/null 2>&1; then
        for c in $("${CTR[@]}" containers ls -q 2>/dev/null); do
            tmo "${CTR[@]}" task kill -a -s SIGKILL "$c" > /dev/null 2>&1
            tmo "${CTR[@]}" task delete -f "$c" > /dev/null 2>&1
            tmo "${CTR[@]}" containers delete "$c" > /dev/null 2>&1
        done
        tmo "${CTR[@]}" images rm "$IMG" > /dev/null 2>&1
    fi
    stop_pid "$(cat "$CTD/pid")"
    rm -f "$CTD/pid"
}

# ctr run with the runtime under test; $1 is the container name.
ctr_run() {
    local name=$1; shift
    timeout -k 5 "$STEP_TIMEOUT" "${CTR[@]}" run --runc-binary "$BIN" --runc-root "$CTD/$RUNTIME-root" --fifo-dir "$CTD/fifo" \
        --cgroup "/$CGROUP_PARENT/containerd/$name" "$@"
}

LONG='trap "exit 7" TERM; sleep 1000 & wait'

task_status() { "${CTR[@]}" task ls 2>/dev/null | awk -v n="$1" '$1 == n {print $3}'; }

# A detached container running $LONG, for the scenarios that need one.
start_long() {
    quiet ctr_run "$NAME" -d "$IMG" "$NAME" sh -c "$LONG" || return 1
    wait_for 20 test "$(task_status "$NAME")" = RUNNING
    # sleep must have started: it is part of what ps and metrics count.
    wait_for 20 sh -c "[ \$(${CTR[*]} task ps $NAME | wc -l) -ge 3 ]"
}

remove() {
    quiet "${CTR[@]}" task kill -a -s SIGKILL "$NAME"
    wait_for 10 test "$(task_status "$NAME")" = STOPPED
    quiet "${CTR[@]}" task delete "$NAME"
    quiet "${CTR[@]}" containers delete "$NAME"
}

SCENARIOS="run_rm inspect limits exec exec_tty ps pause_resume metrics kill kill_all delete"

scenario_run_rm() {
    step run ctr_run "$NAME" --rm "$IMG" "$NAME" sh -c 'echo out; echo err >&2; exit 3'
}

# ctr's default spec has no /sys/fs/cgroup: mount it, as Docker does.
CGROUP_MOUNT=(--mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev)

scenario_inspect() {
    step inspect ctr_run "$NAME" --rm "${CGROUP_MOUNT[@]}" "$IMG" "$NAME" sh -c "$INSPECT"
}

scenario_limits() {
    step limits ctr_run "$NAME" --rm "${CGROUP_MOUNT[@]}" --memory-limit 67108864 --cpus 0.5 --cpu-shares 512 "$IMG" "$NAME" \
        sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares'
}

scenario_exec() {
    start_long || return 1
    step exec "${CTR[@]}" task exec --fifo-dir "$CTD/fifo" --exec-id e1 "$NAME" sh -c 'echo exec-out; id -u; exit 5'
    step exec-cwd "${CTR[@]}" task exec --fifo-dir "$CTD/fifo" --cwd /tmp --exec-id e2 "$NAME" pwd
    # The wording around the cause is each runtime's own.
    step exec-missing sh -c "${CTR[*]} task exec --fifo-dir $CTD/fifo --exec-id e3 $NAME /no/such/binary 2>&1 | grep -o 'no such file or directory'"
    # What the shim read that error from.
    obs log.json "$(json_log "$CTD/state/io.containerd.runtime.v2.task/rtclients/$NAME/log.json")"
    remove
}

scenario_exec_tty() {
    start_long || return 1
    tty_step exec-tty "${CTR[*]} task exec --fifo-dir $CTD/fifo --tty --exec-id t1 $NAME sh -c 'tty; exit 4'"
    remove
}

scenario_ps() {
    start_long || return 1
    obs ps.count "$("${CTR[@]}" task ps "$NAME" | tail -n +2 | wc -l)"
    remove
}

scenario_pause_resume() {
    start_long || return 1
    step pause "${CTR[@]}" task pause "$NAME"
    obs paused.status "$(task_status "$NAME")"
    obs paused.freezer "$(cat "/sys/fs/cgroup/freezer/$CGROUP_PARENT/containerd/$NAME/freezer.state" 2>&1)"
    step resume "${CTR[@]}" task resume "$NAME"
    obs resumed.status "$(task_status "$NAME")"
    step exec-after-resume "${CTR[@]}" task exec --fifo-dir "$CTD/fifo" --exec-id e1 "$NAME" echo alive
    remove
}

scenario_metrics() {
    start_long || return 1
    local m
    m=$("${CTR[@]}" task metrics "$NAME" 2>&1)
    obs metrics.exit $?
    # Which metrics, and the ones that do not vary between runs.
    obs metrics.names "$(printf '%s\n' "$m" | awk 'NR>4 {print $1}' | sort | tr '\n' ' ')"
    obs metrics.stable "$(printf '%s\n' "$m" | awk '$1 ~ /^(pids\.|memory\.limit_in_bytes)/ {print $1 "=" $2}' | tr '\n' ' ')"
    remove
}

scenario_kill() {
    start_long || return 1
    step kill "${CTR[@]}" task kill "$NAME"
    wait_for 20 test "$(task_status "$NAME")" = STOPPED
    obs status "$(task_status "$NAME")"
    # ctr prints the exit code of a task that exited non-zero.
    step delete "${CTR[@]}" task delete "$NAME"
    step kill-deleted "${CTR[@]}" task kill "$NAME"
    quiet "${CTR[@]}" containers delete "$NAME"
}

scenario_kill_all() {
    start_long || return 1
    step kill-all "${CTR[@]}" task kill -a -s SIGKILL "$NAME"
    wait_for 20 test "$(task_status "$NAME")" = STOPPED
    obs status "$(task_status "$NAME")"
    step delete "${CTR[@]}" task delete "$NAME"
    quiet "${CTR[@]}" containers delete "$NAME"
}

scenario_delete() {
    start_long || return 1
    step delete-running "${CTR[@]}" task delete "$NAME"
    step delete-force "${CTR[@]}" task delete -f "$NAME"
    step container-delete "${CTR[@]}" containers delete "$NAME"
    # Nothing left: no state in the runtime's root, no cgroup.
    obs runtime.list "$("$BIN" --root "$CTD/$RUNTIME-root/rtclients" list -q 2>&1 | grep -c "$NAME")"
    obs cgroup.left "$(ls -d /sys/fs/cgroup/*/"$CGROUP_PARENT/containerd/$NAME" 2>/dev/null | wc -l)"
}
