# Checkpoint, restore and migration tests (criu), sourced by tests.sh and
# run with `just test-criu` (VM_SUITE=criu): the VM's 6.1 kernel is one
# Debian's criu 3.17 supports, the host's is not. They use tests.sh's
# helpers (mkbundle, create, start, status, wait_status, fail, note ...)
# and runner (a timeout per test, leftovers fail the test).
#
# The counter: a shell loop writing an increasing number to /data/count (a
# bind mount of $B/data: an external mount criu must map back) and to
# stdout (a pipe to `cat`, or a host file: external fds criu must hand over).

CRIU_TESTS="
criu_check
criu_counter
criu_leave_running
criu_restore_attached
criu_predump
criu_migrate_tcp
criu_migrate_rollback
criu_failed_restore
criu_mount_keys
criu_config_file
"

STATE2=/run/rt2
# fd 3 holds /data/keep open: a file criu must find again on restore.
COUNTER='["sh","-c","trap \"exit 0\" TERM; exec 3< /data/keep; i=0; while :; do i=$((i+1)); echo $i > /data/count; echo $i; sleep 0.2; done"]'

rt2() { "$RT" --root "$STATE2" "$@"; }
# criu commands under a deadline: a hung criu fails its test instead of
# holding the container's lock (and the runner's cleanup) for ever.
rtc() { timeout -s KILL 50 "$RT" --root "$STATE" "$@"; }

# The runner calls this after each test: containers left under the second root.
cleanup_extra() {
    for id in $(rt2 list -q 2>/dev/null); do
        rt2 delete --force "$id" > /dev/null 2>&1 || echo "cannot delete container $id under $STATE2"
    done
    rm -rf /tmp/img
}

data_mount() { echo ",{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/tmp/bundles/$1/data\",\"options\":[\"rbind\",\"rw\"]}"; }

# counter_bundle ID [CGPATH]: a bundle for the counter, $B/data made.
counter_bundle() {
    mkbundle "$1" "$COUNTER" - - - "$(data_mount "$1")" "${2:--}"
    mkdir -p "$B/data"
    echo keep > "$B/data/keep"
}

# lines FILE: how many lines it has.
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

# wait_lines FILE N: poll for up to 20 s until FILE has N lines.
wait_lines() {
    _i=0
    while [ $_i -lt 200 ]; do
        [ "$(lines "$1")" -ge "$2" ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    note "$1:"; cat "$1" 2>/dev/null
    fail "$1 never reached $2 lines"
}

# grows FILE: the last number in FILE increases within 5 s; prints it.
grows() {
    _a=$(tail -n 1 "$1")
    _i=0
    while [ $_i -lt 50 ]; do
        sleep 0.1
        _b=$(tail -n 1 "$1")
        [ -n "$_b" ] && [ "$_b" -gt "${_a:-0}" ] 2>/dev/null && { echo "$_b"; return 0; }
        _i=$((_i + 1))
    done
    fail "$1 stopped counting at '$_a'"
}

# http_get PID: GET / from 127.0.0.1:8080 in the network namespace of PID;
# prints the body's last line. (busybox wget crashes with -T.)
http_get() {
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 nsenter -t "$1" -n nc 127.0.0.1 8080 | tail -n 1
}

pages() { cat "$1"/pages-*.img 2>/dev/null | wc -c; }

# Show criu's log when a criu step failed.
# The errors come last: a truncated CI log keeps its end.
criu_log() { for f in "$@"; do [ -f "$f" ] && { note "== $f (its end, then its errors)"; tail -n 25 "$f"; grep -E 'Error|Warn|Timeout' "$f" | tail -n 20; }; done; }

# Running counter ID, stdout piped to cat > $B/out1, stdin /dev/null.
run_counter() {
    counter_bundle "$1" "${2:--}"
    run_counter_in_place "$1"
}

# The same, from the bundle $B as it is.
run_counter_in_place() {
    rt run -d --bundle "$B" --pid-file "$B/pid" "$1" < /dev/null 2>&1 | cat > "$B/out1" &
    wait_lines "$B/out1" 3
    [ "$(status "$1")" = running ] || fail "$1 is not running after run -d: $(status "$1")"
}

# ---------------------------------------------------------------- tests

t_criu_check() {
    out=$(criu check 2>&1)
    rc=$?
    note "criu $(criu --version | sed -n 's/^Version: //p'): $out"
    [ $rc = 0 ] || fail "criu check fails in the VM: $(echo "$out" | grep Error | head -n 1)"
    return 0
}

# Checkpointed (criu kills it, rt removes it), restored under the same id:
# it counts on from where it was, and state, exec, kill, delete work.
t_criu_counter() {
    id=counter
    run_counter $id
    oldpid=$(initpid $id)
    img=/tmp/img/$id
    t0=$(uptime_s)
    rtc checkpoint --image-path $img $id || { criu_log $img/dump.log; fail "rt checkpoint failed"; }
    note "checkpoint took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN{printf "%.2f", b-a}')s"
    wait  # cat: the container's stdout closed
    [ -d /proc/$oldpid ] && fail "init $oldpid still alive after checkpoint"
    rt state $id > /dev/null 2>&1 && fail "$id still exists after checkpoint (rt removes it, as runc does)"
    [ -d $CG/$PARENT/$id ] && fail "cgroup left after checkpoint"
    [ -f $img/rt-checkpoint.json ] || fail "no rt-checkpoint.json in the images"
    [ -f $img/config.json ] || fail "no config.json in the images"
    last=$(tail -n 1 "$B/out1")
    note "last number before the checkpoint: $last (/data/count: $(cat $B/data/count))"

    t0=$(uptime_s)
    rtc restore -d --image-path $img --pid-file "$B/pid2" $id < /dev/null 2>&1 | cat > "$B/out2" &
    wait_lines "$B/out2" 2
    note "restore to first output: $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN{printf "%.2f", b-a}')s"
    first=$(head -n 1 "$B/out2")
    note "first number after restore: $first"
    case $first in ''|*[!0-9]*) cat "$B/out2"; criu_log $img/restore.log; fail "restored output is not a number: '$first'" ;; esac
    [ "$first" -ge "$last" ] && [ "$first" -le $((last + 1)) ] || fail "restored counter printed $first after $last"
    [ "$(status $id)" = running ] || fail "status after restore: '$(status $id)'"
    pid=$(initpid $id)
    [ "$(cat "$B/pid2")" = "$pid" ] || fail "--pid-file holds '$(cat "$B/pid2")', state says $pid"
    grep -qx "$pid" $CG/$PARENT/$id/cgroup.procs || fail "restored init $pid not in its cgroup ($(cat $CG/$PARENT/$id/cgroup.procs))"
    n=$(grows "$B/out2")
    [ "$(cat $B/data/count)" -ge "$first" ] || fail "/data/count ($(cat $B/data/count)) does not follow the restored counter"
    got=$(rt exec $id cat /data/count < /dev/null) || fail "rt exec in the restored container failed"
    note "exec read /data/count = $got (stdout at $n)"
    [ "$(rt exec $id hostname < /dev/null)" = "$id" ] || fail "the restored container lost its hostname"
    rt kill $id TERM || fail "rt kill failed"
    wait_status $id stopped
    rt delete $id || fail "rt delete failed"
    [ -d $CG/$PARENT/$id ] && fail "cgroup left after delete"
    return 0
}

# --leave-running: the original runs on, and a copy restored from the
# images (under another id, cgroup and data directory) runs beside it.
t_criu_leave_running() {
    id=lr
    run_counter $id
    oldpid=$(initpid $id)
    img=/tmp/img/$id
    rtc checkpoint --leave-running --image-path $img $id || { criu_log $img/dump.log; fail "rt checkpoint --leave-running failed"; }
    orig=$B
    [ "$(status $id)" = running ] || fail "original is '$(status $id)' after checkpoint --leave-running"
    [ "$(initpid $id)" = "$oldpid" ] || fail "original init changed"
    grows "$orig/out1" > /dev/null

    copy=lr-copy
    counter_bundle $copy
    # The copy's own bind source, with what the original had at the dump.
    cp -a "$orig/data/." "$B/data/"
    rtc restore -d --bundle "$B" --image-path $img $copy < /dev/null 2>&1 | cat > "$B/out2" &
    wait_lines "$B/out2" 2
    [ "$(status $copy)" = running ] || { cat "$B/out2"; criu_log $img/restore.log; fail "copy is '$(status $copy)'"; }
    [ "$(status $id)" = running ] || fail "original is '$(status $id)' beside the copy"
    [ "$(initpid $copy)" != "$oldpid" ] || fail "copy and original share a pid"
    grows "$orig/out1" > /dev/null
    grows "$B/out2" > /dev/null
    grep -qx "$(initpid $copy)" $CG/$PARENT/$copy/cgroup.procs || fail "copy not in its own cgroup"
    rt delete --force $copy || fail "delete of the copy failed"
    rt delete --force $id || fail "delete of the original failed"
    return 0
}

# Without -d, restore stays attached as `run` does: it returns the
# container's exit status and deletes it.
t_criu_restore_attached() {
    id=attached
    run_counter $id
    img=/tmp/img/$id
    rtc checkpoint --image-path $img $id || { criu_log $img/dump.log; fail "rt checkpoint failed"; }
    wait
    rtc restore --image-path $img $id < /dev/null > "$B/out2" 2>&1 &
    rpid=$!
    wait_lines "$B/out2" 2
    [ "$(status $id)" = running ] || fail "status while attached: '$(status $id)'"
    rt kill $id TERM || fail "rt kill failed"
    wait $rpid
    rc=$?
    [ $rc = 0 ] || { cat "$B/out2"; fail "attached restore returned $rc, want the container's 0"; }
    rt state $id > /dev/null 2>&1 && fail "$id still exists after its attached restore returned"
    [ -d $CG/$PARENT/$id ] && fail "cgroup left after the attached restore returned"
    return 0
}

# A pre-dump copies the memory; the dump after it (--parent-path) only
# what changed since, and restores complete.
t_criu_predump() {
    id=predump
    # awk holds 12 MB of written (so dumped) memory and counts the lines a
    # shell feeds it. Not awk's system(): glibc spawns with CLONE_VFORK, and
    # criu cannot seize a vfork parent whose child it has already stopped
    # (the dump times out after 10 s; criu issue #689 shows the same log).
    big=$(cat <<'EOF'
["sh","-c","while :; do sleep 0.2; echo; done | awk 'BEGIN { s = sprintf(\"%12000000s\", \"x\"); print \"size=\" length(s); fflush() } { print NR; fflush() }'"]
EOF
)
    mkbundle $id "$big"
    rt run -d --bundle "$B" $id < /dev/null 2>&1 | cat > "$B/out1" &
    wait_lines "$B/out1" 3
    head -n 1 "$B/out1" | grep -q '^size=12000000' || fail "the big string was not made: $(head -n 1 "$B/out1")"
    img=/tmp/img/$id
    rtc checkpoint --pre-dump --image-path $img/pre $id || { criu_log $img/pre/pre-dump.log; fail "rt checkpoint --pre-dump failed"; }
    [ "$(status $id)" = running ] || fail "container is '$(status $id)' after a pre-dump"
    grows "$B/out1" > /dev/null
    rtc checkpoint --parent-path ../pre --image-path $img/final $id || { ls -la $img/pre $img/final; criu_log $img/final/dump.log; fail "rt checkpoint --parent-path failed"; }
    wait
    pre=$(pages $img/pre)
    final=$(pages $img/final)
    note "pages written: pre-dump $pre bytes, dump after it $final bytes"
    [ "$pre" -gt 12000000 ] || fail "the pre-dump wrote only $pre bytes of pages"
    [ $((final * 4)) -lt "$pre" ] || fail "the dump after a pre-dump wrote $final bytes, not much less than $pre"
    last=$(tail -n 1 "$B/out1")
    rtc restore -d --image-path $img/final $id < /dev/null 2>&1 | cat > "$B/out2" &
    wait_lines "$B/out2" 2
    first=$(head -n 1 "$B/out2")
    [ "$first" -ge "$last" ] 2>/dev/null && [ "$first" -le $((last + 1)) ] || { criu_log $img/final/restore.log; fail "restored counter printed '$first' after $last"; }
    # The big string came back from the parent's pages.
    got=$(rt exec $id grep VmRSS /proc/1/status < /dev/null)
    note "restored init: $got"
    rt delete --force $id || fail "delete failed"
    return 0
}

# A web server on the loopback of the container's own network namespace is
# migrated to another root with --tcp-established and keeps serving.
t_criu_migrate_tcp() {
    id=web
    mkbundle $id '["sh","-c","trap \"exit 0\" TERM; mkdir -p /tmp/www; echo hello-from-$(hostname) > /tmp/www/index.html; httpd -p 127.0.0.1:8080 -h /tmp/www; echo ready; while :; do sleep 1 & wait; done"]'
    # Appending stdout (a host file: external to criu, handed over on
    # restore): criu checks the size of a file opened without O_APPEND.
    rt create --bundle "$B" $id >> "$B/out" 2>&1 < /dev/null || { cat "$B/out"; fail "rt create $id failed"; }
    start $id
    wait_out '^ready'
    pid=$(initpid $id)
    # rt leaves a new network namespace's loopback down (runc brings it up).
    nsenter -t "$pid" -n ip link set lo up || fail "cannot bring up lo in the container"
    got=$(http_get "$pid")
    [ "$got" = hello-from-web ] || fail "httpd answered '$got'"
    # An established connection across the migration: a client in the
    # container's network namespace that holds one open while it runs.
    (echo; sleep 30) | nsenter -t "$pid" -n nc 127.0.0.1 8080 > /dev/null 2>&1 &
    ncpid=$!
    sleep 0.5
    t0=$(uptime_s)
    rtc migrate --tcp-established --pre-dumps 2 --image-path /tmp/img/$id --to $STATE2 $id < /dev/null >> "$B/out" 2>&1 ||
        { cat "$B/out"; criu_log /tmp/img/$id/*/*.log; fail "rt migrate failed"; }
    note "migrate took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN{printf "%.2f", b-a}')s"
    rt state $id > /dev/null 2>&1 && fail "$id still under $STATE after the migration"
    [ -d /proc/$pid ] && fail "the original init $pid still runs"
    [ "$(rt2 state $id | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" = running ] || fail "$id is not running under $STATE2"
    newpid=$(rt2 state $id | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    note "init pid $pid -> $newpid"
    got=$(http_get "$newpid")
    [ "$got" = hello-from-web ] || fail "httpd answered '$got' after the migration"
    [ "$(rt2 exec $id cat /tmp/www/index.html < /dev/null)" = hello-from-web ] || fail "rt exec under $STATE2 failed"
    ls $CG/$PARENT | grep -q rt-migrate && fail "the holding cgroup was left: $(ls $CG/$PARENT)"
    grep -qx "$newpid" $CG/$PARENT/$id/cgroup.procs || fail "migrated init not in $CG/$PARENT/$id"
    kill $ncpid 2>/dev/null
    rt2 kill $id KILL || fail "rt kill under $STATE2 failed"
    _i=0; while [ -d /proc/$newpid ] && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
    rt2 delete $id || fail "rt delete under $STATE2 failed"
    [ -d $CG/$PARENT/$id ] && fail "cgroup left after deleting the migrated container"
    return 0
}

# A migration whose restore fails leaves the original running on, from
# where it was, in its own cgroup, unfrozen; nothing under the target root.
t_criu_migrate_rollback() {
    id=migfail
    run_counter $id
    pid=$(initpid $id)
    # A bundle for the copy that lacks the /data bind mount: the restore
    # cannot map the dumped mount and fails after the dump.
    bad=/tmp/bundles/migfail-bad
    mkbundle migfail-bad "$COUNTER" - - - - "/$PARENT/$id"
    B=/tmp/bundles/$id
    out=$(rtc migrate --pre-dumps 1 --bundle $bad --to $STATE2 $id < /dev/null 2>&1) && fail "migrate with a broken bundle succeeded"
    note "migrate said: $out"
    [ "$(echo "$out" | wc -l)" = 1 ] || fail "not one line"
    echo "$out" | grep -q "runs on" || fail "the error does not say the container runs on"
    [ "$(status $id)" = running ] || fail "original is '$(status $id)' after the failed migration"
    [ "$(initpid $id)" = "$pid" ] || fail "original init changed"
    [ "$(cat $CG/$PARENT/$id/cgroup.freeze)" = 0 ] || fail "original left frozen"
    grep -qx "$pid" $CG/$PARENT/$id/cgroup.procs || fail "original init not back in its cgroup"
    ls $CG/$PARENT | grep -q rt-migrate && fail "holding cgroup left: $(ls $CG/$PARENT)"
    [ -e $STATE2/$id ] && fail "state left under $STATE2"
    a=$(tail -n 1 "$B/out1")
    b=$(grows "$B/out1")
    note "counting on: $a -> $b"
    # No restart: the numbers after the failure continue the sequence.
    awk 'NR>1 && $1 != prev + 1 { print "gap: " prev " -> " $1; bad=1 } { prev=$1 } END { exit bad }' "$B/out1" || fail "the counter skipped or restarted"
    rt delete --force $id || fail "delete failed"
    return 0
}

# A restore that fails leaves no half container: no state, cgroup, mount or
# process, whether rt or criu finds the problem.
t_criu_failed_restore() {
    id=broken
    run_counter $id
    img=/tmp/img/$id
    rtc checkpoint --image-path $img $id || { criu_log $img/dump.log; fail "rt checkpoint failed"; }
    wait
    check_nothing_left() {
        rt state $id > /dev/null 2>&1 && fail "state of $id left after a failed restore ($1)"
        [ -e $STATE/$id ] && fail "state directory left ($1)"
        [ -d $CG/$PARENT/$id ] && fail "cgroup left after a failed restore ($1): procs $(cat $CG/$PARENT/$id/cgroup.procs)"
        grep -q criu-root /proc/mounts && fail "a criu-root mount is left ($1)"
        for p in /proc/[0-9]*; do
            tr '\0' ' ' 2>/dev/null < $p/cmdline | grep -q 'echo $i > /data/count' && fail "a counter process is left: ${p#/proc/} ($1)"
        done
        return 0
    }
    # 1. rt finds it: a bind source is gone.
    mv "$B/data" "$B/data.away"
    out=$(rtc restore -d --image-path $img $id < /dev/null 2>&1) && fail "restore without the bind source succeeded"
    note "restore said: $out"
    echo "$out" | grep -q 'does not exist' || fail "the error does not name the missing source"
    check_nothing_left "missing bind source"
    mv "$B/data.away" "$B/data"
    # 2. criu finds it, with the processes half made: a file the counter
    # holds open is gone.
    rm "$B/data/keep"
    out=$(rtc restore -d --image-path $img $id < /dev/null 2>&1) && fail "restore without an open file succeeded"
    note "restore said: $out"
    [ "$(echo "$out" | wc -l)" = 1 ] || fail "not one line"
    echo "$out" | grep -q 'criu restore failed' || fail "the error does not say criu failed"
    check_nothing_left "broken images"
    return 0
}

# runc CVE-2026-119101, crun CVE-2026-115520: an image whose symlinks make a
# bind mount's resolved destination hold "]:" (here /data -> /x]:/etc) made
# runc name the external mount after it, and criu, which finds external
# mounts by the text up to "]:", bind a host path the config never named
# (/etc) into the restored container. rt names external mounts by their
# config destination, so either criu refuses the dump of a bind mount rt
# did not declare (the container runs on) or the restored container has
# binds of config sources only; /etc is never bound in.
t_criu_mount_keys() {
    id=keys
    counter_bundle $id
    cp -a /rootfs "$B/rootfs"
    rm -rf "$B/rootfs/data"
    ln -s '/x]:/etc' "$B/rootfs/data"
    sed -i "s|\"path\": \"/rootfs\"|\"path\": \"$B/rootfs\"|" "$B/config.json"
    grep -q "\"path\": \"$B/rootfs\"" "$B/config.json" || fail "the bundle does not use its own rootfs"
    rt run -d --bundle "$B" --pid-file "$B/pid" $id < /dev/null 2>&1 | cat > "$B/out1" &
    wait_lines "$B/out1" 3
    img=/tmp/img/$id
    if rtc checkpoint --image-path $img $id > "$B/ck.out" 2>&1; then
        wait
        note "checkpoint succeeded; restoring"
        rtc restore -d --image-path $img $id < /dev/null 2>&1 | cat > "$B/out2" &
        wait_lines "$B/out2" 2
        pid=$(initpid $id)
        [ -n "$pid" ] || fail "no restored init"
        awk '{print $4, $5}' /proc/$pid/mountinfo > "$B/binds"
        grep -q '^/etc' "$B/binds" && { cat "$B/binds"; fail "the host's /etc is bound into the restored container"; }
        rt delete --force $id || fail "delete failed"
    else
        note "checkpoint refused: $(tail -n 1 "$B/ck.out")"
        [ "$(status $id)" = running ] || fail "the container is '$(status $id)' after the refused checkpoint"
        grows "$B/out1" > /dev/null
        rt delete --force $id || fail "delete failed"
        wait
    fi
    return 0
}

# /etc/criu/rt.conf and the org.criu.config annotation, chosen as runc
# chooses /etc/criu/runc.conf: criu reads the file rt names (an option it
# does not know fails the request before anything is dumped), a
# container's own file when its annotation names one, and none when the
# annotation is empty.
t_criu_config_file() {
    mkdir -p /etc/criu
    trap 'rm -f /etc/criu/rt.conf' EXIT
    echo "no-such-criu-option" > /etc/criu/rt.conf
    : > /tmp/own.conf
    for c in "conf-rt:-" "conf-own:/tmp/own.conf" "conf-none:"; do
        id=${c%%:*} file=${c#*:}
        counter_bundle $id
        [ "$file" = - ] || sed -i "1s|^{\$|{\"annotations\":{\"org.criu.config\":\"$file\"},|" "$B/config.json"
        run_counter_in_place $id
    done
    rtc checkpoint --leave-running --image-path /tmp/img/conf-rt conf-rt 2> /tmp/img-conf-rt.err \
        && fail "checkpoint ignored /etc/criu/rt.conf"
    note "with a bad /etc/criu/rt.conf: $(cat /tmp/img-conf-rt.err)"
    rtc checkpoint --leave-running --image-path /tmp/img/conf-own conf-own \
        || { criu_log /tmp/img/conf-own/dump.log; fail "checkpoint read /etc/criu/rt.conf, not the annotation's file"; }
    rtc checkpoint --leave-running --image-path /tmp/img/conf-none conf-none \
        || { criu_log /tmp/img/conf-none/dump.log; fail "checkpoint read a config file though the annotation is empty"; }
    echo "no-such-criu-option" > /tmp/own.conf
    rtc checkpoint --leave-running --image-path /tmp/img/conf-own2 conf-own 2> /dev/null \
        && fail "checkpoint ignored the annotation's file"
    # Last made, first deleted: the first one made the parent cgroup.
    for id in conf-none conf-own conf-rt; do
        [ "$(status $id)" = running ] || fail "$id is '$(status $id)' after the checkpoints"
        rt delete --force $id || fail "delete of $id failed"
    done
    return 0
}
