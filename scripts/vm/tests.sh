#!/bin/sh
# Container tests for rt on a pure cgroup v2 hierarchy, run inside the test VM
# (busybox sh; /init calls `tests.sh all`).
#
#   tests.sh all         run every test in TESTS; print one line per test:
#                        "RESULT <name> PASS|FAIL|SKIP [why] (<seconds>s)"
#   tests.sh one NAME    run t_NAME alone (exit 0 pass, 77 skip, other fail)
#   tests.sh list
#
# Each test runs in its own process under a timeout; afterwards the runner
# force-deletes every container left in rt's state and fails the test if any
# cgroup is left below /sys/fs/cgroup (nothing else in the VM makes cgroups;
# under systemd, RT_VM_SUITE=systemd, only the tests' own: see cgroups_left).
#
# To add a test: write t_<name>() and add <name> to TESTS. Helpers:
#   mkbundle ID ARGS_JSON [RESOURCES] [DEVICES] [EXTRA_NS] [EXTRA_MOUNTS] [CGPATH]
#       writes /tmp/bundles/ID/config.json from config.json.in (rootfs: the
#       shared read-only busybox /rootfs) and sets $B to the bundle; "-" keeps
#       a default. Default resources deny every device, as `rt spec` does;
#       default cgroupsPath is /rt-vm/ID.
#   create ID / start ID / sleeper ID [mkbundle args...]   (a running container
#       whose init exits 0 on SIGTERM and wrote "ready" to $B/out)
#   status ID, initpid ID, wait_status ID WANT
#   cgval ID FILE WANT DEFAULT PROBE   checks /sys/fs/cgroup/rt-vm/ID/FILE
#   fail MSG / skip MSG / note MSG
#   RT_FLAGS="--systemd-cgroup": global options that rt() passes to every call
# A feature rt lacks must SKIP, never PASS: a resource test skips while the
# file still holds the kernel default and rt's binary never names that file;
# once rt names it (e.g. "memory.max"), any mismatch fails.

RT=/bin/rt
STATE=/run/rt
CG=/sys/fs/cgroup
PARENT=rt-vm
TEST_TIMEOUT=${TEST_TIMEOUT:-60}
TEMPLATE=/tests/config.json.in

TESTS="
run_true
joined_pidns_proc
exit_code
lifecycle
cgroup_nested_path
delete_force
exec_joins_cgroup
exec_sub_cgroup
cgroup_mount
cgroupns
pause_resume
memory_limit
memory_oom
memory_unified
pids_limit
cpu_quota
cpu_weight
cpuset
devices
"
# RT_VM_SUITE=criu (`just test-criu`): the checkpoint/restore tests of
# criu-tests.sh instead, with the helpers below; RT_VM_SUITE=systemd (`just
# test-systemd`, systemd is PID 1): the systemd cgroup driver's tests of
# systemd-tests.sh.
[ -r /tests/criu-tests.sh ] && . /tests/criu-tests.sh
[ -r /tests/systemd-tests.sh ] && . /tests/systemd-tests.sh
case ${RT_VM_SUITE:-} in
    criu) TESTS=$CRIU_TESTS ;;
    systemd) TESTS=$SYSTEMD_TESTS ;;
esac
[ -n "${RT_VM_TESTS:-}" ] && TESTS=$(echo "$RT_VM_TESTS" | tr , ' ')

# A running container: init traps SIGTERM (pid 1 ignores it otherwise).
SLEEPER='["sh","-c","trap \"exit 0\" TERM; echo ready; while :; do sleep 1 & wait; done"]'
DENY_ALL='{"allow":false,"access":"rwm"}'

RT_FLAGS=
# RT_FLAGS unquoted: it may hold several options.
rt() { "$RT" --root "$STATE" $RT_FLAGS "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "# $*"; }
has() { grep -qF "$1" "$RT"; }  # does rt's binary name this string?

sed_esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

mkbundle() {
    _id=$1
    _args=$2
    _res=${3:--}; [ "$_res" = - ] && _res="{\"devices\":[$DENY_ALL]}"
    _dev=${4:--}; [ "$_dev" = - ] && _dev='[]'
    _ns=${5:--}; [ "$_ns" = - ] && _ns=''
    _mnt=${6:--}; [ "$_mnt" = - ] && _mnt=''
    _cgp=${7:--}; [ "$_cgp" = - ] && _cgp="/$PARENT/$_id"
    B=/tmp/bundles/$_id
    mkdir -p "$B"
    sed -e "s|@ID@|$(sed_esc "$_id")|" \
        -e "s|@ARGS@|$(sed_esc "$_args")|" \
        -e "s|@RESOURCES@|$(sed_esc "$_res")|" \
        -e "s|@DEVICES@|$(sed_esc "$_dev")|" \
        -e "s|@EXTRA_NAMESPACES@|$(sed_esc "$_ns")|" \
        -e "s|@EXTRA_MOUNTS@|$(sed_esc "$_mnt")|" \
        -e "s|@CGROUPS_PATH@|$(sed_esc "$_cgp")|" \
        "$TEMPLATE" > "$B/config.json"
}

status() { rt state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
initpid() { rt state "$1" 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }

# wait_status ID WANT: poll for up to 10 s.
wait_status() {
    _i=0
    while [ $_i -lt 100 ]; do
        [ "$(status "$1")" = "$2" ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    fail "$1 did not reach status $2 (status: $(status "$1"))"
}

# wait_out PATTERN: poll $B/out for a line matching PATTERN for up to 10 s.
wait_out() {
    _i=0
    while [ $_i -lt 100 ]; do
        grep -q "$1" "$B/out" 2>/dev/null && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    note "container output:"; cat "$B/out" 2>/dev/null
    fail "container never printed $1"
}

create() {
    rt create --bundle "$B" --pid-file "$B/pid" "$1" > "$B/out" 2>&1 < /dev/null ||
        { cat "$B/out"; fail "rt create $1 failed"; }
}

start() { rt start "$1" || fail "rt start $1 failed"; }

sleeper() {
    _sid=$1
    shift
    mkbundle "$_sid" "$SLEEPER" "$@"
    create "$_sid"
    start "$_sid"
    wait_out '^ready'
}

# cgval ID FILE WANT DEFAULT PROBE
cgval() {
    _f=$CG/$PARENT/$1/$2
    if [ ! -e "$_f" ]; then
        has "$5" && fail "$_f is missing (rt names $5; controllers in $CG/$PARENT: '$(cat $CG/$PARENT/cgroup.subtree_control 2>/dev/null)')"
        skip "rt does not apply it: $_f is absent and rt never names $5"
    fi
    _got=$(cat "$_f")
    [ "$_got" = "$3" ] && { note "$2 = $_got"; return 0; }
    if [ "$_got" = "$4" ] && ! has "$5"; then
        skip "rt does not apply it: $2 is the default '$_got' and rt never names $5"
    fi
    fail "$_f is '$_got', want '$3'"
}

# ---------------------------------------------------------------- tests

t_run_true() {
    mkbundle run-true '["/bin/true"]'
    rt run --bundle "$B" run-true > "$B/out" 2>&1 < /dev/null
    rc=$?
    cat "$B/out"
    [ $rc = 0 ] || fail "rt run /bin/true exited $rc"
    rt state run-true > /dev/null 2>&1 && fail "run-true still exists after rt run returned"
    [ -d "$CG/$PARENT/run-true" ] && fail "cgroup $CG/$PARENT/run-true left after rt run"
    return 0
}

# A container that joins another's pid namespace by path gets that
# namespace's procfs: rt's init joins it for its children only, so the
# procfs is made for it (procfs's pidns= on Linux >= 6.15; on this 6.1
# kernel by a child forked into the namespace), not the host's.
t_joined_pidns_proc() {
    sleeper owner
    owner=$(initpid owner)
    mkbundle joiner '["sh","-c","grep -c ready /proc/1/cmdline; ls /proc | grep -c ^[0-9]"]'
    sed -i "s|{\"type\": \"pid\"}|{\"type\": \"pid\", \"path\": \"/proc/$owner/ns/pid\"}|" "$B/config.json"
    grep -q "/proc/$owner/ns/pid" "$B/config.json" || fail "the bundle does not join the pid namespace"
    rt run --bundle "$B" joiner > "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt run joiner failed"; }
    cat "$B/out"
    [ "$(tail -2 "$B/out" | head -1)" = 1 ] || fail "pid 1 of the container's /proc is not the owner's init"
    n=$(tail -1 "$B/out")
    [ "$n" -le 10 ] || fail "the container's /proc lists $n processes: the host's"
    rt delete --force owner
    return 0
}

t_exit_code() {
    for code in 42 3; do
        mkbundle exit-$code "[\"sh\",\"-c\",\"exit $code\"]"
        rt run --bundle "$B" exit-$code > "$B/out" 2>&1 < /dev/null
        rc=$?
        [ $rc = $code ] || { cat "$B/out"; fail "rt run of 'exit $code' returned $rc"; }
    done
    mkbundle exit-missing '["/bin/no-such-binary"]'
    rt run --bundle "$B" exit-missing > "$B/out" 2>&1 < /dev/null
    rc=$?
    note "run of a missing binary: rc=$rc: $(cat "$B/out")"
    [ $rc = 0 ] && fail "rt run of a missing binary returned 0"
    return 0
}

t_lifecycle() {
    id=lifecycle
    mkbundle $id "$SLEEPER"
    create $id
    [ "$(status $id)" = created ] || fail "status after create: '$(status $id)', want created"
    pid=$(initpid $id)
    [ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no init pid in rt state"
    [ "$(cat "$B/pid")" = "$pid" ] || fail "--pid-file holds '$(cat "$B/pid")', state says $pid"
    dir=$CG/$PARENT/$id
    [ -d "$dir" ] || fail "cgroup $dir not created"
    grep -qx "$pid" "$dir/cgroup.procs" || fail "init $pid not in $dir/cgroup.procs ($(cat "$dir/cgroup.procs"))"
    [ "$(cat /proc/$pid/cgroup)" = "0::/$PARENT/$id" ] || fail "/proc/$pid/cgroup is '$(cat /proc/$pid/cgroup)'"
    start $id
    wait_out '^ready'
    [ "$(status $id)" = running ] || fail "status after start: '$(status $id)', want running"
    rt list | grep -q "^$id " || fail "rt list does not show $id: $(rt list)"
    rt kill $id TERM || fail "rt kill $id TERM failed"
    wait_status $id stopped
    [ -d /proc/$pid ] && fail "init $pid still alive after SIGTERM"
    rt delete $id || fail "rt delete $id failed"
    rt state $id > /dev/null 2>&1 && fail "$id still has state after delete"
    [ -d "$dir" ] && fail "cgroup $dir left after delete"
    [ -n "$(rt list -q)" ] && fail "rt list -q not empty: $(rt list -q)"
    return 0
}

t_cgroup_nested_path() {
    id=nested
    sleeper $id - - - - "/$PARENT/deep/er/$id"
    dir=$CG/$PARENT/deep/er/$id
    [ -d "$dir" ] || fail "cgroup $dir not created"
    grep -qx "$(initpid $id)" "$dir/cgroup.procs" || fail "init not in $dir/cgroup.procs"
    rt kill $id KILL || fail "rt kill $id KILL failed"
    wait_status $id stopped
    rt delete $id || fail "rt delete $id failed"
    [ -d "$dir" ] && fail "cgroup $dir left after delete"
    [ -d "$CG/$PARENT/deep" ] && fail "parent cgroup $CG/$PARENT/deep (created by rt) left after delete"
    return 0
}

t_delete_force() {
    id=force
    mkbundle $id "$SLEEPER"
    rt run --detach --bundle "$B" $id > "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt run --detach failed"; }
    wait_out '^ready'
    [ "$(status $id)" = running ] || fail "status after run -d: '$(status $id)'"
    pid=$(initpid $id)
    # A second process in the container, so that delete must kill them all.
    rt exec -d $id sleep 300 || fail "rt exec -d failed"
    n=$(wc -l < "$CG/$PARENT/$id/cgroup.procs")
    [ "$n" -ge 2 ] || fail "want 2 processes in the cgroup, have $n"
    rt delete $id > /dev/null 2>&1 && fail "rt delete (no --force) of a running container succeeded"
    rt delete --force $id || fail "rt delete --force failed"
    [ -d /proc/$pid ] && fail "init $pid alive after delete --force"
    [ -d "$CG/$PARENT/$id" ] && fail "cgroup left after delete --force"
    return 0
}

t_exec_joins_cgroup() {
    id=execcg
    sleeper $id
    got=$(rt exec $id cat /proc/self/cgroup < /dev/null) || fail "rt exec failed"
    [ "$got" = "0::/$PARENT/$id" ] || fail "exec'd process is in '$got', want 0::/$PARENT/$id"
    return 0
}

# exec --cgroup: an existing sub-cgroup on v2 (a path; controller:path is
# v1's); delete removes it with the container's cgroup.
t_exec_sub_cgroup() {
    id=execsub
    sleeper $id
    mkdir "$CG/$PARENT/$id/sub" || fail "mkdir sub-cgroup"
    got=$(rt exec --cgroup sub $id cat /proc/self/cgroup < /dev/null) || fail "rt exec --cgroup sub failed"
    [ "$got" = "0::/$PARENT/$id/sub" ] || fail "exec'd process is in '$got', want 0::/$PARENT/$id/sub"
    rt exec --cgroup memory:sub $id true < /dev/null 2> "$B/err" && fail "controller:path accepted on cgroup v2"
    grep -q "on cgroup v2 give a path" "$B/err" || fail "unclear error: $(cat "$B/err")"
    rt delete --force $id || fail "rt delete --force failed"
    [ -d "$CG/$PARENT/$id" ] && fail "cgroup $CG/$PARENT/$id left (with its sub-cgroup)"
    return 0
}

# Without a cgroup namespace, /sys/fs/cgroup in the container is the
# container's own cgroup, read-only.
t_cgroup_mount() {
    id=cgmount
    mkbundle $id '["sh","-c","cat /proc/self/cgroup; grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo init-in-procs; echo 1 > /sys/fs/cgroup/cgroup.freeze && echo WRITABLE; exit 0"]'
    rt run --bundle "$B" $id > "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt run failed"; }
    cat "$B/out"
    grep -qx "0::/$PARENT/$id" "$B/out" || fail "/proc/self/cgroup in the container is not 0::/$PARENT/$id"
    grep -qx init-in-procs "$B/out" || fail "/sys/fs/cgroup/cgroup.procs in the container does not list its init (pid 1)"
    grep -q WRITABLE "$B/out" && fail "/sys/fs/cgroup is writable in the container"
    return 0
}

t_cgroupns() {
    id=cgns
    mkbundle $id '["sh","-c","cat /proc/self/cgroup; grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo init-in-procs; [ -d /sys/fs/cgroup/rt-vm ] && echo HOST-TREE-VISIBLE; grep \" /sys/fs/cgroup \" /proc/self/mounts"]' \
        - - ',{"type":"cgroup"}'
    rt run --bundle "$B" $id > "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt run failed"; }
    cat "$B/out"
    grep -q HOST-TREE-VISIBLE "$B/out" && note "the container's /sys/fs/cgroup shows the host's whole hierarchy"
    grep -qx '0::/' "$B/out" || fail "/proc/self/cgroup in a cgroup namespace is not 0::/ (was the namespace made before init joined its cgroup?)"
    grep -q HOST-TREE-VISIBLE "$B/out" && fail "the host's cgroup hierarchy is visible in the container"
    grep -qx init-in-procs "$B/out" || fail "/sys/fs/cgroup/cgroup.procs does not list the container's init (pid 1)"
    grep -q ' /sys/fs/cgroup cgroup2 ' "$B/out" || fail "/sys/fs/cgroup is not a cgroup2 mount"
    return 0
}

t_pause_resume() {
    "$RT" --help | grep -qE '^ +pause ' || skip "rt has no pause command"
    "$RT" --help | grep -qE '^ +resume ' || skip "rt has no resume command"
    id=pause
    sleeper $id
    dir=$CG/$PARENT/$id
    rt pause $id || fail "rt pause failed"
    [ "$(status $id)" = paused ] || fail "status after pause: '$(status $id)'"
    [ "$(cat $dir/cgroup.freeze)" = 1 ] || fail "cgroup.freeze is $(cat $dir/cgroup.freeze) after pause"
    grep -qx 'frozen 1' $dir/cgroup.events || fail "cgroup.events says not frozen: $(cat $dir/cgroup.events)"
    rt resume $id || fail "rt resume failed"
    [ "$(status $id)" = running ] || fail "status after resume: '$(status $id)'"
    grep -qx 'frozen 0' $dir/cgroup.events || fail "cgroup.events says frozen after resume"
    rt pause $id || fail "second rt pause failed"
    rt delete --force $id || fail "rt delete --force of a paused container failed"
    [ -d "$dir" ] && fail "cgroup left after deleting a paused container"
    return 0
}

t_memory_limit() {
    id=mem
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"memory\":{\"limit\":67108864,\"reservation\":33554432}}"
    create $id
    cgval $id memory.max 67108864 max memory.max
    cgval $id memory.low 33554432 0 memory.low
    return 0
}

t_memory_oom() {
    id=oom
    mkbundle $id '["sh","-c","dd if=/dev/zero of=/dev/null bs=96M count=1 2>/dev/null; echo dd=$?"]' \
        "{\"devices\":[$DENY_ALL],\"memory\":{\"limit\":67108864}}"
    create $id
    cgval $id memory.max 67108864 max memory.max
    start $id
    wait_out '^dd='
    cat "$B/out"
    grep -qx 'dd=137' "$B/out" || fail "a 96M allocation under a 64M limit was not OOM-killed"
    grep -q '^oom_kill [1-9]' $CG/$PARENT/$id/memory.events || fail "memory.events: $(cat $CG/$PARENT/$id/memory.events)"
    return 0
}

t_memory_unified() {
    id=unified
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"unified\":{\"memory.high\":\"50331648\"}}"
    create $id
    cgval $id memory.high 50331648 max '"unified"'
    return 0
}

t_pids_limit() {
    id=pids
    # An inner shell forks until the limit stops it; init stays to be inspected.
    mkbundle $id '["sh","-c","sh -c \"i=0; while [ \\$i -lt 64 ]; do sleep 300 & i=\\$((i+1)); done\" 2>/dev/null; echo inner=$?; exec sleep 300"]' \
        "{\"devices\":[$DENY_ALL],\"pids\":{\"limit\":16}}"
    create $id
    cgval $id pids.max 16 max pids.max
    start $id
    wait_out '^inner='
    cat "$B/out"
    cur=$(cat $CG/$PARENT/$id/pids.current)
    note "pids.current=$cur; pids.events: $(cat $CG/$PARENT/$id/pids.events)"
    [ "$cur" -le 16 ] || fail "pids.current $cur above the limit"
    grep -q '^max [1-9]' $CG/$PARENT/$id/pids.events || fail "no fork was refused (pids.events: $(cat $CG/$PARENT/$id/pids.events))"
    return 0
}

t_cpu_quota() {
    id=cpuquota
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"cpu\":{\"quota\":50000,\"period\":100000}}"
    create $id
    cgval $id cpu.max "50000 100000" "max 100000" cpu.max
    return 0
}

# cpu.shares 512 maps to cpu.weight 20 by runc's linear formula
# (1 + (shares-2)*9999/262142) and to 59 by crun's newer quadratic one;
# either is accepted.
t_cpu_weight() {
    id=cpuweight
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"cpu\":{\"shares\":512}}"
    create $id
    f=$CG/$PARENT/$id/cpu.weight
    if [ -e "$f" ] && [ "$(cat $f)" = 59 ]; then
        note "cpu.weight = 59 (crun's conversion)"
        return 0
    fi
    cgval $id cpu.weight 20 100 cpu.weight
    return 0
}

t_cpuset() {
    [ "$(nproc)" -ge 2 ] || skip "the VM has one cpu"
    id=cpuset
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"cpu\":{\"cpus\":\"1\",\"mems\":\"0\"}}"
    create $id
    cgval $id cpuset.cpus 1 "" cpuset.cpus
    cgval $id cpuset.mems 0 "" cpuset.mems
    pid=$(initpid $id)
    got=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/$pid/status)
    [ "$got" = 1 ] || fail "init may run on cpus '$got', want 1"
    return 0
}

# Loaded (JIT-compiled) BPF programs; /init turns on bpf_jit_kallsyms.
bpf_progs() { grep -c ' bpf_prog_[0-9a-f]\{16\}' /proc/kallsyms; }

# The eBPF device filter. /dev/kmsg (c 1:11) is bind-mounted into the
# container (a bind mount, not linux.devices, so that no runtime allows it
# implicitly); writing to it needs no capability, only the cgroup's consent.
# Denied: the open fails with EPERM while /dev/null (a default device) still
# works. Allowed by a rule: the write succeeds. When the write is not denied,
# the test fails if rt loaded a BPF program for the container (nothing else
# in the VM loads any; counted in /proc/kallsyms) and skips otherwise.
t_devices() {
    kmsg_mount=',{"destination":"/dev/kmsg","type":"bind","source":"/dev/kmsg","options":["bind"]}'
    probe='["sh","-c","echo x > /dev/null && echo null=ok; echo rt-vm-device-test > /dev/kmsg && echo kmsg=ok; exit 0"]'

    id=dev-deny
    mkbundle $id "$probe" - - - "$kmsg_mount"
    create $id
    start $id
    wait_status $id stopped
    cat "$B/out"
    grep -q '^null=ok' "$B/out" || fail "/dev/null (a default device) cannot be written under a deny-all rule"
    if grep -q '^kmsg=ok' "$B/out"; then
        n=$(bpf_progs)
        note "BPF programs loaded while the container exists: $n"
        [ "$n" -gt 0 ] && fail "rt loaded a BPF program but /dev/kmsg was writable under a deny-all rule"
        skip "rt attaches no device filter (no BPF program loaded; /dev/kmsg writable under deny-all)"
    fi
    grep -q 'kmsg.*Operation not permitted' "$B/out" || fail "writing /dev/kmsg failed for another reason than EPERM"
    rt delete $id || fail "rt delete $id failed"

    id=dev-allow
    mkbundle $id "$probe" "{\"devices\":[$DENY_ALL,{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"rw\"}]}" - - "$kmsg_mount"
    create $id
    start $id
    wait_status $id stopped
    cat "$B/out"
    grep -q '^kmsg=ok' "$B/out" || fail "/dev/kmsg not writable although a rule allows c 1:11 rw"
    grep -q '^null=ok' "$B/out" || fail "/dev/null not writable"
    return 0
}

# ---------------------------------------------------------------- runner

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# The cgroups a test left, relative to $CG, one a line: every cgroup (nothing
# else in the VM makes any), or under systemd only those the tests make.
cgroups_left() {
    if [ "${RT_VM_SUITE:-}" = systemd ]; then
        systemd_cgroups_left
    else
        find "$CG" -mindepth 1 -type d | sed "s|^$CG/||"
    fi
}

# Force-delete what a test left; print what had to be cleaned up.
cleanup_after() {
    type cleanup_extra > /dev/null 2>&1 && cleanup_extra
    for id in $(rt list -q 2>/dev/null); do
        rt delete --force "$id" > /dev/null 2>&1 || echo "cannot delete container $id"
    done
    [ "${RT_VM_SUITE:-}" = systemd ] && systemd_cleanup
    left=$(cgroups_left | tr '\n' ' ')
    if [ -n "$left" ]; then
        echo "cgroups left: $left"
        # Deepest first: a/b sorts after a.
        cgroups_left | sort -r | while read -r d; do
            # Kill whatever still lives there, then remove the cgroup.
            [ -e "$CG/$d/cgroup.kill" ] && echo 1 > "$CG/$d/cgroup.kill" 2>/dev/null
            sleep 0.1
            rmdir "$CG/$d" 2>/dev/null
        done
    fi
    [ -n "$(ls -A "$STATE" 2>/dev/null)" ] && { echo "state left in $STATE: $(ls -A "$STATE")"; rm -rf "${STATE:?}"/*; }
    rm -rf /tmp/bundles
}

run_all() {
    pass=0 failed=0 skipped=0
    mkdir -p "$STATE"
    for t in $TESTS; do
        log=/tmp/log.$t
        t0=$(uptime_s)
        timeout "$TEST_TIMEOUT" /tests/tests.sh one "$t" > "$log" 2>&1 < /dev/null
        rc=$?
        residue=$(cleanup_after)
        secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN{printf "%.2f", b-a}')
        case $rc in
            0) res=PASS why= ;;
            77) res=SKIP why=$(sed -n 's/^SKIP: //p' "$log" | tail -1) ;;
            124|137|143) res=FAIL why="timed out after ${TEST_TIMEOUT}s" ;;
            *) res=FAIL why=$(sed -n 's/^FAIL: //p' "$log" | tail -1); [ -n "$why" ] || why="exit status $rc" ;;
        esac
        if [ -n "$residue" ] && [ $res != FAIL ]; then
            res=FAIL why="left behind: $(echo $residue)"
        fi
        echo "RESULT $t $res${why:+ $why} (${secs}s)"
        case $res in
            PASS) pass=$((pass + 1)); [ -n "${RT_VM_VERBOSE:-}" ] && sed 's/^/    | /' "$log" ;;
            SKIP) skipped=$((skipped + 1)); [ -n "${RT_VM_VERBOSE:-}" ] && sed 's/^/    | /' "$log" ;;
            FAIL)
                failed=$((failed + 1))
                sed 's/^/    | /' "$log"
                [ -n "$residue" ] && echo "$residue" | sed 's/^/    | cleanup: /'
                ;;
        esac
    done
    echo "SUMMARY pass=$pass fail=$failed skip=$skipped"
    [ $failed = 0 ]
}

case ${1:-all} in
    all) run_all ;;
    list) echo $TESTS ;;
    one)
        [ -n "${2:-}" ] || { echo "usage: $0 one NAME" >&2; exit 2; }
        case " $(echo $TESTS) " in *" $2 "*) ;; *) echo "no test $2" >&2; exit 2 ;; esac
        mkdir -p "$STATE"
        set -u
        "t_$2"
        ;;
    *) echo "usage: $0 all | one NAME | list" >&2; exit 2 ;;
esac
