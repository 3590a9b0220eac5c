# Podman (Debian's package, with conmon), as root. Sourced by test.sh.
#
# Podman has no daemon: every command reads its own containers.conf and
# storage.conf (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) pointing at vfs
# storage, a run root, a tmp dir and file locks under $T/pm. rt is named in
# runtime_supports_json so that podman passes --log-format=json, as it does
# for runc. Each runtime keeps its state in its default --root (/run/runc,
# /run/rt): podman 4.3 leaves --runtime-flag out of the exit command that
# conmon runs, whose `podman container cleanup` would then look for the
# container in the default root and fail, making every `run --rm` wait 20 s.
#
# This machine's root lacks CAP_SYS_RESOURCE, so podman's default rlimits
# (the host's maximum) cannot be set: every container gets
# --ulimit nofile=1024:1024 --ulimit nproc=1024:1024.

PM=$T/pm
IMG=docker.io/library/rt-busybox:latest
# The podman command and its run root (podman-rootless.sh sets its own).
PODMAN=podman
RUNROOT=$PM/run
export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf CONTAINERS_REGISTRIES_CONF=$PM/registries.conf

engine_up() {
    mkdir -p "$PM/vol"
    cat > "$PM/containers.conf" <<EOF
[containers]
cgroupns = "host"
netns = "none"
log_driver = "k8s-file"
[network]
network_config_dir = "$PM/net"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/events.log"
lock_type = "file"
tmp_dir = "$PM/tmp"
# Where podman puts them itself when given --root, as the exit command
# (`podman container cleanup`, run by conmon) is: elsewhere, it would not
# find the container and every `run --rm` would wait 20 s for it.
static_dir = "$PM/root/storage/libpod"
volume_path = "$PM/root/storage/volumes"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "rt"]
[engine.runtimes]
runc = ["$RUNC"]
rt = ["$RT"]
EOF
    cat > "$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM/root/storage"
runroot = "$PM/run"
EOF
    : > "$PM/registries.conf"
    cat > "$PM/seccomp.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
              {"names": ["chmod", "fchmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
    tmo $PODMAN load -i "$IMAGE_TAR"
}

engine_down() {
    [[ -f $PM/containers.conf ]] || return 0
    local r
    for r in runc rt; do
        tmo $PODMAN --runtime "$r" rm -af -t 0 > /dev/null 2>&1
    done
    tmo $PODMAN rmi -af > /dev/null 2>&1
}

pm() {
    timeout -k 5 "$STEP_TIMEOUT" $PODMAN --runtime "$BIN" "$@"
}

# The options every container gets (see the top of this file).
RUN_OPTS=(--cgroup-parent="/$CGROUP_PARENT/podman" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)

pm_run() { pm run "${RUN_OPTS[@]}" "$@"; }

LONG='trap "exit 7" TERM; sleep 1000 & wait'

start_long() {
    quiet pm_run -d --name "$NAME" "$@" "$IMG" sh -c "$LONG" || return 1
    wait_for 20 sh -c "[ \$($PODMAN --runtime $BIN top $NAME pid 2>/dev/null | wc -l) -ge 3 ]"
}

status() { pm inspect -f '{{.State.Status}}' "$NAME" 2>&1; }

remove() { quiet pm rm -f -t 0 "$NAME"; }

SCENARIOS="run_rm run_it inspect exec exec_it pause_unpause stats update stop rm_f read_only cap_drop seccomp pids_memory user volume not_found"

scenario_run_rm() {
    step run pm_run --rm "$IMG" sh -c 'echo out; echo err >&2; exit 3'
}

scenario_run_it() {
    tty_step run-it "$PODMAN --runtime $BIN run ${RUN_OPTS[*]} --rm -it $IMG sh -c 'tty; sleep 1; exit 2'"
}

scenario_inspect() {
    step inspect pm_run --rm "$IMG" sh -c "$INSPECT"
}

scenario_exec() {
    start_long || return 1
    step exec pm exec "$NAME" sh -c 'echo exec-out; id -u; exit 5'
    step exec-user pm exec --user 1000:1000 --workdir /tmp -e FOO=bar "$NAME" sh -c 'id; pwd; echo $FOO'
    # pids differ: podman's own probes (top) take some in the container.
    step exec-ps pm exec "$NAME" ps -o comm
    rc_step exec-missing pm exec "$NAME" /no/such/binary
    obs oci-log "$(json_log "$RUNROOT/vfs-containers/$(pm inspect -f '{{.Id}}' "$NAME")/userdata/oci-log")"
    remove
}

scenario_exec_it() {
    start_long || return 1
    tty_step exec-it "$PODMAN --runtime $BIN exec -it $NAME sh -c 'tty; exit 4'"
    remove
}

scenario_pause_unpause() {
    start_long || return 1
    step pause pm pause "$NAME"
    obs paused.status "$(status)"
    step exec-paused pm exec "$NAME" true
    step unpause pm unpause "$NAME"
    obs unpaused.status "$(status)"
    step exec-unpaused pm exec "$NAME" echo alive
    remove
}

scenario_stats() {
    start_long --memory 64m || return 1
    # Usage varies from run to run; the process count and limit do not.
    step stats sh -c "$PODMAN --runtime $BIN stats --no-stream --format '{{.PIDs}} {{.MemUsage}}' $NAME | sed 's|.* / | / |'"
    remove
}

scenario_update() {
    start_long --memory 64m || return 1
    step update pm update --memory 128m --cpu-shares 512 "$NAME"
    step read pm exec "$NAME" cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares
    remove
}

scenario_stop() {
    start_long || return 1
    step stop pm stop -t 10 "$NAME"
    obs state "$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$NAME" 2>&1)"
    step start-again pm start "$NAME"
    obs restarted "$(status)"
    remove
}

scenario_rm_f() {
    start_long || return 1
    local id
    id=$(pm inspect -f '{{.Id}}' "$NAME")
    step rm-f pm rm -f -t 0 "$NAME"
    obs left "$(pm ps -a --filter "name=$NAME" -q | wc -l)"
    obs runtime.list "$("$BIN" list -q 2>&1 | grep -c "$id")"
}

scenario_read_only() {
    step read-only pm_run --rm --read-only "$IMG" sh -c \
        'touch /x; touch /tmp/y && echo tmp-ok; ls -a /run /var/tmp; stat -c "%n %a %U" /run /tmp /var/tmp; grep -E " (/|/tmp|/run|/var/tmp) " /proc/mounts | cut -d" " -f2-4 | sed "s/ext4 .*/ext4/" | sort'
}

scenario_cap_drop() {
    step cap-drop pm_run --rm --cap-drop all --cap-add net_raw --cap-add chown "$IMG" sh -c \
        'grep Cap /proc/self/status; chown 1 /tmp; echo chown=$?; mknod /tmp/n c 1 3; echo mknod=$?'
}

scenario_seccomp() {
    step seccomp pm_run --rm --security-opt "seccomp=$PM/seccomp.json" "$IMG" sh -c \
        'mkdir /tmp/d; echo mkdir=$?; chmod 700 /tmp; echo chmod=$?; grep Seccomp: /proc/self/status'
}

scenario_pids_memory() {
    step limits pm_run --rm --pids-limit 50 --memory 64m --memory-reservation 32m --cpus 0.5 "$IMG" sh -c \
        'cd /sys/fs/cgroup; cat pids/pids.max memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us'
}

scenario_user() {
    step user pm_run --rm --user 1000:1000 --group-add 5 "$IMG" sh -c 'id; umask; touch /tmp/f; stat -c "%u %g %a" /tmp/f'
}

scenario_volume() {
    rm -f "$PM/vol/"*
    echo host-data > "$PM/vol/in"
    step volume pm_run --rm -v "$PM/vol:/data" -v "$PM/vol/in:/ro-in:ro" "$IMG" sh -c \
        'cat /data/in; echo ctr-data > /data/out; echo more >> /ro-in; echo ro=$?'
    obs host.out "$(cat "$PM/vol/out" 2>&1)"
}

scenario_not_found() {
    step not-found sh -c "$PODMAN --runtime $BIN run ${RUN_OPTS[*]} --rm $IMG /no/such/binary 2>&1 | grep -o 'not found'"
    rc_step not-found pm_run --rm "$IMG" /no/such/binary
    rc_step not-executable pm_run --rm "$IMG" /etc/passwd
}
