# Shared pieces of the client harness (sourced by test.sh and the engine
# files): running one step with a time limit, recording what a scenario
# observed, normalising what legitimately differs between two runs (ids,
# pids, timestamps, byte counts).

# Every client command gets a time limit, so a hung engine fails a scenario
# instead of the whole run.
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
# A shell function (an engine's wrapper) applies the limit itself.
tmo() {
    if declare -F "$1" > /dev/null; then
        "$@"
    else
        timeout -k 5 "$STEP_TIMEOUT" "$@"
    fi
}

# obs KEY VALUE...: one observation of the current scenario.
obs() { local k=$1; shift; printf '%s: %s\n' "$k" "$*"; }

# step KEY CMD...: run CMD, record its exit status, its stdout (as
# `KEY| line`) and its stderr (as `KEY! line`), normalised. The two are
# kept apart: their interleaving is timing, not behaviour.
step() {
    local key=$1; shift
    local out rc
    out=$(tmo "$@" 2> "$T/step.err" < /dev/null); rc=$?
    obs "$key.exit" "$rc"
    if [[ -n $out ]]; then
        printf '%s\n' "$out" | clean | sed "s/^/$key| /"
    fi
    clean < "$T/step.err" | sed "s/^/$key! /"
    return 0
}

# rc_step KEY CMD...: only the exit status (for errors whose wording is
# each runtime's own).
rc_step() {
    local key=$1; shift
    tmo "$@" < /dev/null >> "$SCENARIO_LOG" 2>&1
    obs "$key.exit" "$?"
}

# quiet CMD...: run CMD for its effect; its output goes to the scenario's
# log, its status is returned.
quiet() { tmo "$@" < /dev/null >> "$SCENARIO_LOG" 2>&1; }

# tty_step KEY CMD-STRING: run a shell command line under a pty (script(1)),
# as a person at a terminal would.
tty_step() {
    local key=$1 cmd=$2 out rc
    out=$(tmo script -qec "$cmd" /dev/null < /dev/null 2>&1); rc=$?
    obs "$key.exit" "$rc"
    # Blank lines are dropped: the client's ^@ (a NUL it sends down the
    # pty, echoed back) lands before or after the output as timing has it.
    printf '%s\n' "$out" | clean | grep -v -e 'resize pty' -e '^$' | sed "s/^/$key| /"
}

# json_log FILE: whether a runtime's --log file (log.json, oci-log) is what
# the engines parse: every line a JSON object with level, msg and time.
json_log() {
    [[ -f $1 ]] || { echo missing; return; }
    python3 - "$1" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        v = json.loads(line)
        ok = isinstance(v, dict) and all(k in v for k in ("level", "msg", "time"))
    except ValueError:
        ok = False
    bad += not ok
print("valid" if bad == 0 else f"{bad} bad lines")
PY
}

# Strip what changes from run to run.
clean() {
    tr -d '\r\000' |
        sed -E -e 's/\^@//g' -e "s/${NAME:-@@none@@}/<name>/g" \
            -e 's/[0-9a-f]{64}/<id>/g' \
            -e 's/time="[^"]*"/time="<t>"/g' \
            -e 's/pipe:\[[0-9]+\]/pipe:[N]/g' \
            -e 's/socket:\[[0-9]+\]/socket:[N]/g'
}

# runc_1_1_forms VERSION: with a reference runc older than 1.2 (Debian
# 12's 1.1.5), write the mount lines runc changed since as 1.1 shows them;
# rt does what runc 1.5.1 does. runc 1.2 masks a directory with a tmpfs of
# one block and one inode (size=4k,nr_inodes=1, 2 on some kernels), and
# gives a tmpfs the mode of the directory it covers (mode=NNN, absent
# when it is 1777). Other lines, and other versions, pass as they are.
runc_1_1_forms() {
    if [[ $1 =~ ^1\.[01]\. ]]; then
        sed -E -e '/ tmpfs ro,/s/,size=4k,nr_inodes=[12]//' -e '/ tmpfs /s/,mode=[0-7]+//'
    else
        cat
    fi
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@" > /dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}

# What a container shows of itself, to compare runtimes on: identity,
# capabilities, limits, init's stdio, the other fds init was given (seen
# through a child started first thing: the shell's own fds change while it
# runs pipelines; `ls /proc/1/fd` may list a pipe the shell closes before
# ls looks at it, hence its errors dropped), mounts (options included, the
# rootfs's own data dropped: it names snapshot directories), cgroups.
INSPECT='sleep 1000 & s=$!;
id; umask; hostname | sed "s/^[0-9a-f]\{12\}$/<host>/";
grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status;
echo "nofile $(ulimit -Sn) $(ulimit -Hn) nproc $(ulimit -Su) $(ulimit -Hu)";
echo "oom_score_adj $(cat /proc/self/oom_score_adj)";
echo "init stdio (open mode, fd, file):"; ls -l /proc/1/fd 2>/dev/null | awk "NR>1 && \$9 < 3 {print substr(\$1, 1, 4), \$9, \$11}";
echo "fds above stdio given to init:"; ls /proc/$s/fd | awk "\$1 > 2";
echo "mounts (sorted):"; awk "{ if (\$2 == \"/\") print \$2, \$3; else print \$2, \$3, \$4 }" /proc/self/mounts | sort;
echo "cgroup:"; cat /proc/self/cgroup;
echo "limits:"; for f in memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us cpu/cpu.shares; do echo "$f $(cat /sys/fs/cgroup/$f 2>&1)"; done;
kill $s'
