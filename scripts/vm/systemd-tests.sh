# The systemd cgroup driver's tests, sourced by tests.sh and run with `just
# test-systemd` (VM_SUITE=systemd): systemd 252 is PID 1 of the VM on a pure
# cgroup v2 hierarchy, with the system bus (dbus-daemon) and its private
# socket; the tests run in rt-tests.service. They use tests.sh's helpers
# (mkbundle, create, start, sleeper, status, initpid ...) with
# RT_FLAGS=--systemd-cgroup, and its runner (a timeout per test; leftovers
# fail the test: here only the tests' own cgroups and units count, systemd
# has its own).
#
# The contract: `rt --systemd-cgroup create|run` with linux.cgroupsPath
# "SLICE:PREFIX:NAME" asks systemd over D-Bus for a transient scope
# PREFIX-NAME.scope in SLICE (empty: system.slice) holding the container's
# init; its cgroup is /sys/fs/cgroup/<slice path>/PREFIX-NAME.scope, where
# a-b.slice expands to a.slice/a-b.slice. Resource limits land in the scope's
# cgroup files and systemd's unit properties agree. `rt delete` (and `delete
# --force` of a running container) stops the unit and the cgroup goes. `rt
# exec` joins the scope. Without --systemd-cgroup a path cgroupsPath keeps
# working (cgroupfs). --systemd-cgroup with any other cgroupsPath fails with
# a one-line error and leaves nothing behind.

SYSTEMD_TESTS="
systemd_running
scope_run
scope_lifecycle
scope_limits
update_tells_systemd
custom_slice
exec_in_scope
delete_force_running
bad_path
cgroupfs_still_works
failed_create_leaves_no_unit
"

# The test units' leftovers: rt-vm (cgroupfs) and every rt-*.scope, wherever.
systemd_cgroups_left() {
    find "$CG" -mindepth 1 -type d | sed "s|^$CG/||" |
        grep -E '^rt-vm(/|$)|(^|/)rt-[^/]*\.scope(/|$)'
}

# The runner calls this after each test (and rt delete --force of every
# container left): rt-*.scope units still running are printed (they fail the
# test) and stopped; failed ones are forgotten, the tests' slices stopped.
systemd_cleanup() {
    units=$(systemctl list-units --all --plain --no-legend 'rt-*.scope' 2>/dev/null |
        awk '$3 != "inactive" && $3 != "failed" {print $1}')
    if [ -n "$units" ]; then
        echo "units left: $(echo $units)"
        systemctl stop $units > /dev/null 2>&1
    fi
    systemctl reset-failed 'rt-*.scope' > /dev/null 2>&1
    systemctl stop rtvm.slice > /dev/null 2>&1
    return 0
}

# unit_active UNIT: systemd runs it (or is starting or stopping it).
unit_active() {
    case $(systemctl is-active "$1" 2>/dev/null) in
        active | activating | deactivating | reloading | refreshing) return 0 ;;
    esac
    return 1
}

# scope_gone UNIT DIR WHEN: the unit stopped and its cgroup went.
scope_gone() {
    unit_active "$1" && fail "$1 still $(systemctl is-active "$1") after $3"
    [ -d "$2" ] && fail "cgroup $2 left after $3 (procs: $(cat "$2/cgroup.procs" 2>/dev/null | tr '\n' ' '))"
    note "after $3: $1 is $(systemctl is-active "$1" 2>/dev/null), $2 gone"
}

# scope_holds UNIT CGPATH PID: UNIT runs, its cgroup is CGPATH (relative to
# the hierarchy's root, with a leading /) and holds PID.
scope_holds() {
    unit_active "$1" || fail "$1 is '$(systemctl is-active "$1" 2>/dev/null)', want active"
    got=$(systemctl show -p ControlGroup --value "$1")
    [ "$got" = "$2" ] || fail "systemd says $1's cgroup is '$got', want $2"
    [ "$(cat /proc/$3/cgroup)" = "0::$2" ] || fail "/proc/$3/cgroup is '$(cat /proc/$3/cgroup)', want 0::$2"
    grep -qx "$3" "$CG$2/cgroup.procs" || fail "pid $3 not in $CG$2/cgroup.procs ($(cat "$CG$2/cgroup.procs" | tr '\n' ' '))"
    note "$1 active, cgroup $2 holds $3"
}

# Harness check (passes without rt's driver): systemd is PID 1 on pure v2,
# answers on its private socket and on the system bus, makes scopes.
t_systemd_running() {
    [ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm)"
    st=$(systemctl is-system-running 2>&1)
    note "systemctl is-system-running: $st"
    case $st in initializing | starting | running | degraded) ;; *) fail "systemctl is-system-running: $st" ;; esac
    [ -S /run/systemd/private ] || fail "no /run/systemd/private"
    [ -S /run/dbus/system_bus_socket ] || fail "no /run/dbus/system_bus_socket"
    v=$(busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager Version 2>&1) || fail "systemd not on the system bus: $v"
    note "over the system bus: Version $v"
    grep -q ' /sys/fs/cgroup cgroup2 ' /proc/self/mounts || fail "/sys/fs/cgroup is not cgroup2: $(grep cgroup /proc/self/mounts)"
    grep -q ' cgroup ' /proc/self/mounts && fail "a cgroup v1 hierarchy is mounted: $(grep ' cgroup ' /proc/self/mounts)"
    [ "$(cat /proc/self/cgroup)" = 0::/system.slice/rt-tests.service ] || fail "the tests run in $(cat /proc/self/cgroup)"
    note "controllers given to system.slice: $(cat $CG/system.slice/cgroup.controllers)"
    got=$(systemd-run --quiet --scope --unit=vm-probe.scope cat /proc/self/cgroup 2>&1) || fail "systemd-run --scope: $got"
    [ "$got" = 0::/system.slice/vm-probe.scope ] || fail "systemd-run --scope ran in $got"
    return 0
}

t_scope_run() {
    RT_FLAGS=--systemd-cgroup
    id=scope-run
    mkbundle $id '["sh","-c","cat /proc/self/cgroup"]' - - - - ":rt:$id"
    rt run --bundle "$B" $id > "$B/out" 2>&1 < /dev/null
    rc=$?
    cat "$B/out"
    [ $rc = 0 ] || fail "rt --systemd-cgroup run exited $rc"
    grep -qx "0::/system.slice/rt-$id.scope" "$B/out" || fail "the container ran in $(cat "$B/out"), want 0::/system.slice/rt-$id.scope"
    rt state $id > /dev/null 2>&1 && fail "$id still exists after rt run returned"
    scope_gone rt-$id.scope "$CG/system.slice/rt-$id.scope" "rt run returned"
    return 0
}

t_scope_lifecycle() {
    RT_FLAGS=--systemd-cgroup
    id=scope-life
    unit=rt-$id.scope
    mkbundle $id "$SLEEPER" - - - - ":rt:$id"
    create $id
    [ "$(status $id)" = created ] || fail "status after create: '$(status $id)', want created"
    pid=$(initpid $id)
    [ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no init pid in rt state"
    scope_holds $unit /system.slice/$unit "$pid"
    start $id
    wait_out '^ready'
    [ "$(status $id)" = running ] || fail "status after start: '$(status $id)', want running"
    unit_active $unit || fail "$unit is '$(systemctl is-active $unit)' after start"
    rt kill $id TERM || fail "rt kill $id TERM failed"
    wait_status $id stopped
    # The scope may have stopped with its last process: delete copes.
    note "after init exited: $unit is $(systemctl is-active $unit)"
    rt delete $id || fail "rt delete $id failed"
    rt state $id > /dev/null 2>&1 && fail "$id still has state after delete"
    scope_gone $unit "$CG/system.slice/$unit" "rt delete"
    return 0
}

# memory.max, pids.max and cpu.max in the scope's cgroup, and the same as
# unit properties: systemd re-applies those (daemon-reload), not the files.
t_scope_limits() {
    RT_FLAGS=--systemd-cgroup
    id=scope-limits
    unit=rt-$id.scope
    dir=$CG/system.slice/$unit
    mkbundle $id "$SLEEPER" "{\"devices\":[$DENY_ALL],\"memory\":{\"limit\":67108864},\"pids\":{\"limit\":50},\"cpu\":{\"quota\":50000,\"period\":100000}}" \
        - - - ":rt:$id"
    create $id
    scope_holds $unit /system.slice/$unit "$(initpid $id)"
    for round in create daemon-reload; do
        [ "$(cat $dir/memory.max)" = 67108864 ] || fail "$dir/memory.max is '$(cat $dir/memory.max)' after $round, want 67108864"
        [ "$(cat $dir/pids.max)" = 50 ] || fail "$dir/pids.max is '$(cat $dir/pids.max)' after $round, want 50"
        [ "$(cat $dir/cpu.max)" = "50000 100000" ] || fail "$dir/cpu.max is '$(cat $dir/cpu.max)' after $round, want '50000 100000'"
        props=$(systemctl show -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec $unit | sort | tr '\n' ' ')
        note "after $round: $props"
        [ "$props" = "CPUQuotaPerSecUSec=500ms MemoryMax=67108864 TasksMax=50 " ] ||
            fail "systemd's properties of $unit: '$props', want CPUQuotaPerSecUSec=500ms MemoryMax=67108864 TasksMax=50"
        [ $round = create ] && { systemctl daemon-reload || fail "systemctl daemon-reload failed"; }
    done
    rt delete $id || fail "rt delete $id failed"
    scope_gone $unit "$dir" "rt delete"
    return 0
}

# rt update writes the cgroup files and tells systemd (SetUnitProperties):
# the new limits survive systemd re-applying its own view.
t_update_tells_systemd() {
    RT_FLAGS=--systemd-cgroup
    id=scope-update
    unit=rt-$id.scope
    dir=$CG/system.slice/$unit
    sleeper $id "{\"devices\":[$DENY_ALL],\"memory\":{\"limit\":67108864}}" - - - ":rt:$id"
    rt update --memory 33554432 --pids-limit 20 $id || fail "rt update failed"
    systemctl daemon-reload || fail "systemctl daemon-reload failed"
    [ "$(cat $dir/memory.max)" = 33554432 ] || fail "$dir/memory.max is '$(cat $dir/memory.max)', want 33554432"
    [ "$(cat $dir/pids.max)" = 20 ] || fail "$dir/pids.max is '$(cat $dir/pids.max)', want 20"
    props=$(systemctl show -p MemoryMax -p TasksMax $unit | sort | tr '\n' ' ')
    note "after update and daemon-reload: $props"
    [ "$props" = "MemoryMax=33554432 TasksMax=20 " ] || fail "systemd's properties of $unit: '$props'"
    rt delete --force $id || fail "rt delete --force failed"
    scope_gone $unit "$dir" "rt delete --force"
    return 0
}

# rtvm-test.slice nests in rtvm.slice (systemd's rule for dashes).
t_custom_slice() {
    RT_FLAGS=--systemd-cgroup
    id=slice
    unit=rt-$id.scope
    path=/rtvm.slice/rtvm-test.slice/$unit
    mkbundle $id "$SLEEPER" - - - - "rtvm-test.slice:rt:$id"
    create $id
    scope_holds $unit $path "$(initpid $id)"
    got=$(systemctl show -p Slice --value $unit)
    [ "$got" = rtvm-test.slice ] || fail "$unit is in slice '$got', want rtvm-test.slice"
    rt delete $id || fail "rt delete $id failed"
    scope_gone $unit "$CG$path" "rt delete"
    note "the slice after delete: $(systemctl is-active rtvm-test.slice)"
    return 0
}

t_exec_in_scope() {
    RT_FLAGS=--systemd-cgroup
    id=exec-scope
    unit=rt-$id.scope
    sleeper $id - - - - ":rt:$id"
    got=$(rt exec $id cat /proc/self/cgroup < /dev/null) || fail "rt exec failed"
    [ "$got" = "0::/system.slice/$unit" ] || fail "the exec'd process is in '$got', want 0::/system.slice/$unit"
    rt exec -d $id sleep 300 || fail "rt exec -d failed"
    n=$(wc -l < "$CG/system.slice/$unit/cgroup.procs")
    [ "$n" -ge 2 ] || fail "want 2 processes in $unit's cgroup, have $n"
    got=$(systemctl show -p ControlGroup --value $unit)
    [ "$got" = "/system.slice/$unit" ] || fail "systemd says $unit's cgroup is '$got'"
    rt delete --force $id || fail "rt delete --force failed"
    scope_gone $unit "$CG/system.slice/$unit" "rt delete --force"
    return 0
}

# The state remembers the driver: delete runs here without --systemd-cgroup.
t_delete_force_running() {
    RT_FLAGS=--systemd-cgroup
    id=force-scope
    unit=rt-$id.scope
    mkbundle $id "$SLEEPER" - - - - ":rt:$id"
    rt run --detach --bundle "$B" $id > "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt run --detach failed"; }
    wait_out '^ready'
    [ "$(status $id)" = running ] || fail "status after run -d: '$(status $id)'"
    pid=$(initpid $id)
    scope_holds $unit /system.slice/$unit "$pid"
    rt exec -d $id sleep 300 || fail "rt exec -d failed"
    RT_FLAGS=
    rt delete $id > /dev/null 2>&1 && fail "rt delete (no --force) of a running container succeeded"
    unit_active $unit || fail "a refused delete stopped $unit"
    rt delete --force $id || fail "rt delete --force (without --systemd-cgroup) failed"
    [ -d /proc/$pid ] && fail "init $pid alive after delete --force"
    rt state $id > /dev/null 2>&1 && fail "$id still has state after delete --force"
    scope_gone $unit "$CG/system.slice/$unit" "rt delete --force"
    return 0
}

t_bad_path() {
    RT_FLAGS=--systemd-cgroup
    id=bad-path
    mkbundle $id "$SLEEPER" - - - - "/rt-vm/$id"
    rt create --bundle "$B" $id > "$B/out" 2>&1 < /dev/null
    rc=$?
    cat "$B/out"
    [ $rc = 0 ] && fail "rt --systemd-cgroup create with cgroupsPath /rt-vm/$id succeeded"
    n=$(grep -c . "$B/out")
    [ "$n" = 1 ] || fail "want a one-line error, got $n lines"
    grep -q -e cgroupsPath -e "/rt-vm/$id" "$B/out" || fail "the error names neither cgroupsPath nor /rt-vm/$id"
    rt state $id > /dev/null 2>&1 && fail "$id has state after a failed create"
    [ -e "$STATE/$id" ] && fail "$STATE/$id left after a failed create"
    [ -d "$CG/rt-vm/$id" ] && fail "cgroup $CG/rt-vm/$id made"
    left=$(systemctl list-units --all --plain --no-legend 'rt-*.scope' | awk '{print $1}' | tr '\n' ' ')
    [ -n "$left" ] && fail "units after a failed create: $left"
    return 0
}

# No --systemd-cgroup: a path is a cgroupfs path, under systemd too.
t_cgroupfs_still_works() {
    id=cgfs
    dir=$CG/$PARENT/$id
    sleeper $id
    pid=$(initpid $id)
    [ "$(cat /proc/$pid/cgroup)" = "0::/$PARENT/$id" ] || fail "/proc/$pid/cgroup is '$(cat /proc/$pid/cgroup)', want 0::/$PARENT/$id"
    grep -qx "$pid" "$dir/cgroup.procs" || fail "init $pid not in $dir/cgroup.procs"
    unit_active rt-$id.scope && fail "rt made a scope rt-$id.scope without --systemd-cgroup"
    got=$(rt exec $id cat /proc/self/cgroup < /dev/null) || fail "rt exec failed"
    [ "$got" = "0::/$PARENT/$id" ] || fail "the exec'd process is in '$got', want 0::/$PARENT/$id"
    rt kill $id TERM || fail "rt kill $id TERM failed"
    wait_status $id stopped
    rt delete $id || fail "rt delete $id failed"
    [ -d "$dir" ] && fail "cgroup $dir left after delete"
    [ -d "$CG/$PARENT" ] && fail "cgroup $CG/$PARENT (made by rt) left after delete"
    return 0
}

# The scope exists before init execs the program: a create that fails there
# must stop it again.
t_failed_create_leaves_no_unit() {
    RT_FLAGS=--systemd-cgroup
    id=no-binary
    unit=rt-$id.scope
    mkbundle $id '["/bin/no-such-binary"]' - - - - ":rt:$id"
    rt create --bundle "$B" $id > "$B/out" 2>&1 < /dev/null
    rc=$?
    cat "$B/out"
    [ $rc = 0 ] && fail "rt create of a missing program succeeded"
    rt state $id > /dev/null 2>&1 && fail "$id has state after a failed create"
    scope_gone $unit "$CG/system.slice/$unit" "a failed create"
    return 0
}
