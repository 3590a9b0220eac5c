# dockerd (Debian's docker.io), with the containerd it starts itself.
# Sourced by test.sh.
#
# dockerd gets its own --data-root, --exec-root, pidfile, socket, trust key
# and config file under $T/dk, never the host's; no bridge and no firewall
# rules (--bridge none, --iptables=false ...), so containers run with
# --network none; cgroupfs driver with its own --cgroup-parent. rt is added
# with --add-runtime rt=PATH and chosen per container with --runtime; the
# runc runs use dockerd's default runtime, Debian's runc.

DK=$T/dk
IMG=rt-busybox:latest
# The docker.io client, not whatever `docker` comes first in PATH.
DOCKER=(/usr/bin/docker -H "unix://$DK/docker.sock")

engine_up() {
    mkdir -p "$DK"
    echo "{\"deprecated-key-path\": \"$DK/key.json\"}" > "$DK/daemon.json"
    dockerd --config-file "$DK/daemon.json" --data-root "$DK/data" --exec-root "$DK/exec" --pidfile "$DK/docker.pid" \
        -H "unix://$DK/docker.sock" --add-runtime "rt=$RT" --bridge none --iptables=false --ip6tables=false \
        --ip-forward=false --ip-masq=false --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs \
        --cgroup-parent "/$CGROUP_PARENT/docker" --storage-driver vfs > "$DK/dockerd.log" 2>&1 &
    echo $! > "$DK/pid"
    started_pid "$!"
    wait_for 60 "${DOCKER[@]}" version || { echo "dockerd did not start; see $DK/dockerd.log"; tail -20 "$DK/dockerd.log"; return 1; }
    tmo "${DOCKER[@]}" load -i "$IMAGE_TAR"
}

engine_down() {
    [[ -f $DK/pid ]] || return 0
    if "${DOCKER[@]}" version > /dev/null 2>&1; then
        local ids
        ids=$("${DOCKER[@]}" ps -aq)
        [[ -n $ids ]] && tmo "${DOCKER[@]}" rm -f $ids > /dev/null 2>&1
        tmo "${DOCKER[@]}" rmi -f "$IMG" > /dev/null 2>&1
    fi
    # dockerd stops the containerd it started.
    stop_pid "$(cat "$DK/pid")"
    rm -f "$DK/pid"
}

dk() { timeout -k 5 "$STEP_TIMEOUT" "${DOCKER[@]}" "$@"; }

dk_run() { dk run --runtime "$RUNTIME" --network none "$@"; }

LONG='trap "exit 7" TERM; sleep 1000 & wait'

start_long() {
    quiet dk_run -d --name "$NAME" "$@" "$IMG" sh -c "$LONG" || return 1
    wait_for 20 sh -c "[ \$(${DOCKER[*]} top $NAME 2>/dev/null | wc -l) -ge 3 ]"
}

status() { dk inspect -f '{{.State.Status}}' "$NAME" 2>&1; }

remove() { quiet dk rm -f "$NAME"; }

SCENARIOS="run_rm run_it inspect exec exec_it stop kill pause_unpause stats update read_only user_caps limits"

scenario_run_rm() {
    step run dk_run --rm "$IMG" sh -c 'echo out; echo err >&2; exit 3'
    rc_step not-found dk_run --rm "$IMG" /no/such/binary
}

scenario_run_it() {
    tty_step run-it "${DOCKER[*]} run --runtime $RUNTIME --network none --rm -it $IMG sh -c 'tty; sleep 1; exit 2'"
}

scenario_inspect() {
    step inspect dk_run --rm "$IMG" sh -c "$INSPECT"
}

scenario_exec() {
    start_long || return 1
    step exec dk exec "$NAME" sh -c 'echo exec-out; id -u; exit 5'
    step exec-user dk exec --user 1000:1000 --workdir /tmp -e FOO=bar "$NAME" sh -c 'id; pwd; echo $FOO'
    # Process names, not pids: runc's own helper processes take pids in the
    # container's namespace, so the numbers differ between runtimes.
    step exec-ps dk exec "$NAME" ps -o comm
    step top sh -c "${DOCKER[*]} top $NAME -o comm | sort"
    remove
}

scenario_exec_it() {
    start_long || return 1
    tty_step exec-it "${DOCKER[*]} exec -it $NAME sh -c 'tty; exit 4'"
    remove
}

scenario_stop() {
    start_long || return 1
    step stop dk stop -t 10 "$NAME"
    obs state "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$NAME" 2>&1)"
    step start-again dk start "$NAME"
    obs restarted "$(status)"
    remove
}

scenario_kill() {
    start_long || return 1
    step kill dk kill -s KILL "$NAME"
    wait_for 20 test "$(status)" = exited
    obs state "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$NAME" 2>&1)"
    step kill-stopped dk kill "$NAME"
    remove
}

scenario_pause_unpause() {
    start_long || return 1
    step pause dk pause "$NAME"
    obs paused.status "$(status)"
    step unpause dk unpause "$NAME"
    obs unpaused.status "$(status)"
    step exec-unpaused dk exec "$NAME" echo alive
    remove
}

scenario_stats() {
    start_long --memory 64m || return 1
    # Usage varies from run to run; the process count and limit do not.
    step stats sh -c "${DOCKER[*]} stats --no-stream --format '{{.PIDs}} {{.MemUsage}}' $NAME | sed 's|.* / | / |'"
    remove
}

scenario_update() {
    start_long --memory 64m || return 1
    step update dk update --memory 128m --memory-swap 256m --cpu-shares 512 --pids-limit 40 "$NAME"
    step read dk exec "$NAME" sh -c 'cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.shares pids/pids.max'
    remove
}

scenario_read_only() {
    step read-only dk_run --rm --read-only --tmpfs /run "$IMG" sh -c \
        'touch /x; touch /run/y && echo run-ok; grep -E " (/|/run) " /proc/mounts | cut -d" " -f2-4 | sed "s/ext4 .*/ext4/" | sort'
}

scenario_user_caps() {
    step user-caps dk_run --rm --user 1000:1000 --group-add 5 --cap-drop all --cap-add chown \
        --security-opt no-new-privileges --sysctl net.ipv4.ip_forward=1 --shm-size 8m "$IMG" sh -c \
        'id; grep -E "^(Cap|NoNewPrivs)" /proc/self/status; cat /proc/sys/net/ipv4/ip_forward; df -k /dev/shm | tail -1 | awk "{print \$2}"'
}

scenario_limits() {
    step limits dk_run --rm --memory 64m --memory-reservation 32m --cpus 0.5 --cpu-shares 512 --pids-limit 30 \
        --oom-score-adj 200 --ulimit nofile=512:1024 "$IMG" sh -c \
        'cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.shares pids/pids.max /proc/self/oom_score_adj; ulimit -Sn; ulimit -Hn'
}
