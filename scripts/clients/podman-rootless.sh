# Rootless Podman (Debian's package), run by a user this file creates for
# the run and removes after it. Sourced by test.sh; the scenarios are
# podman.sh's, less those that need cgroups.
#
# Podman runs the runtime as root of its own user namespace (the user and
# its /etc/subuid range), with XDG_RUNTIME_DIR and no --root: a runtime
# keeps its state under $XDG_RUNTIME_DIR, skips the cgroups it cannot make
# (cgroup v1 gives a rootless user none: the containers stay in the
# caller's) and binds device nodes, as runc does. Storage (vfs), run root,
# events and the user's home are under $T/pmu; the user's podman runs
# through the wrapper $T/pmu/podman. engine_down stops the user's podman
# pause process (it holds the user namespace) and whatever else the user
# runs, by pid, and removes the user.

source "$HERE/podman.sh"

PM=$T/pmu
PM_USER=rt-pm-$$
PODMAN=$PM/podman
RUNROOT=$PM/xdg/containers
RUN_OPTS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)
SCENARIOS="run_rm run_it inspect exec exec_it stop rm_f read_only cap_drop seccomp user volume not_found"

engine_up() {
    # The user reaches its files under $T, not the rest.
    chmod 711 "$T"
    useradd --no-create-home --home-dir "$PM/home" --shell /usr/sbin/nologin "$PM_USER" || return 1
    grep -q "^$PM_USER:" /etc/subuid && grep -q "^$PM_USER:" /etc/subgid || {
        echo "useradd gave $PM_USER no /etc/subuid and /etc/subgid range"
        return 1
    }
    # $PM and what root runs from it are root's; the user owns its home,
    # its XDG_RUNTIME_DIR (run root, runtimes' state, events log), its
    # storage and the volume scenario's directory.
    mkdir -p "$PM/bin" "$PM/home" "$PM/xdg" "$PM/storage" "$PM/vol"
    chown "$PM_USER:$PM_USER" "$PM/home" "$PM/xdg" "$PM/storage" "$PM/vol"
    chmod 700 "$PM/xdg"
    # The runtimes the user runs, where it can reach them.
    install -m 755 "$RT" "$PM/bin/rt"
    cat > "$PM/containers.conf" <<EOF
[containers]
netns = "none"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/xdg/events.log"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "rt"]
EOF
    cat > "$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
rootless_storage_path = "$PM/storage"
EOF
    : > "$PM/registries.conf"
    cat > "$PM/seccomp.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
              {"names": ["chmod", "fchmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
    # podman as the user, in a clean environment (no $USER: podman's own
    # choice of state dir for the runtime is the runtime's to make). The
    # scenarios name rt by $RT: the copy is what the user runs.
    cat > "$PODMAN" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do [[ \$a == "$RT" ]] && a=$PM/bin/rt; args+=("\$a"); done
exec setpriv --reuid "$PM_USER" --regid "$PM_USER" --init-groups -- env -i \\
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$PM/home" XDG_RUNTIME_DIR="$PM/xdg" \\
    CONTAINERS_CONF="$PM/containers.conf" CONTAINERS_STORAGE_CONF="$PM/storage.conf" \\
    CONTAINERS_REGISTRIES_CONF="$PM/registries.conf" podman "\${args[@]}"
EOF
    chmod 755 "$PODMAN"
    # From stdin: the tar is root's.
    tmo $PODMAN load < "$IMAGE_TAR"
}

engine_down() {
    id "$PM_USER" > /dev/null 2>&1 || return 0
    local r pid uid first count
    if [[ -x $PODMAN ]]; then
        for r in runc rt; do
            tmo $PODMAN --runtime "$r" rm -af -t 0 > /dev/null 2>&1
        done
    fi
    # The pause process, then anything else that runs as the user or as
    # one of its subordinate ids (its containers' users).
    pid=$(cat "$PM/xdg/libpod/tmp/pause.pid" 2>/dev/null) && stop_pid "$pid"
    uid=$(id -u "$PM_USER")
    IFS=: read -r _ first count < <(grep "^$PM_USER:" /etc/subuid)
    for pid in $(ps -e -o pid= -o ruid= | awk -v u="$uid" -v f="${first:-0}" -v n="${count:-0}" \
        '$2 == u || ($2 >= f && $2 < f + n) {print $1}'); do
        stop_pid "$pid"
    done
    userdel "$PM_USER"
    chmod 700 "$T"
}

# The runtime's state is under the user's XDG_RUNTIME_DIR.
scenario_rm_f() {
    start_long || return 1
    local id
    id=$(pm inspect -f '{{.Id}}' "$NAME")
    step rm-f pm rm -f -t 0 "$NAME"
    obs left "$(pm ps -a --filter "name=$NAME" -q | wc -l)"
    obs runtime.list "$("$BIN" --root "$PM/xdg/$RUNTIME" list -q 2>&1 | grep -c "$id")"
}
