#!/bin/bash
# Usage: sweep.sh COMMAND [ARG...]
# Runs COMMAND (a run of runc's suite) between two sweeps of what the suite leaves on
# the machine. Call it only while holding /var/tmp/runc-bats/suite.lock: then no suite
# run is using any of it.
#
# - Every empty cgroup under /sys/fs/cgroup/*/runc-cgroups-integration-test (the
#   suite's own). A test that fails before its container exists leaves the cgroup it
#   made with mkdir, a runtime that fails to delete leaves its own, and run.sh removes
#   only those of containers still listed. They poison later runs of any runtime: one
#   with cpu.rt_runtime_us 20000 beside the 950000 that update.bats "update rt period
#   and runtime" gives its new cgroup makes that write fail with EINVAL (runc 1.1.5
#   failed it so). And the suite's parent holds the root's whole realtime budget
#   (950000 of 950000) while it exists, which other tests on the machine may need.
# - /etc/criu/default.conf when it holds just the line checkpoint.bats writes
#   ("log-file=runc-criu-log-XXXXXX.log") and never removes: criu then logs into the
#   working directory of every later caller, rt's tests included. Any other content
#   is a real configuration and stays.
set -u
criu_conf=/etc/criu/default.conf
sweep() {
	local top d
	for top in /sys/fs/cgroup/*/runc-cgroups-integration-test; do
		[ -d "$top" ] || continue
		# deepest first: rmdir fails, harmlessly, on any cgroup with processes or children
		find "$top" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$top" ] || continue
		for d in $(find "$top" -name cgroup.procs -exec grep -l . {} + 2>/dev/null); do
			echo "sweep: $(dirname "$d") still has processes: $(tr '\n' ' ' <"$d")" >&2
		done
	done
	if [ -f "$criu_conf" ] && [ "$(wc -l <"$criu_conf")" = 1 ] &&
		grep -qxE 'log-file=runc-criu-log-[A-Za-z0-9]{6}\.log' "$criu_conf"; then
		rm -f "$criu_conf"
	fi
}
sweep
"$@"
rc=$?
sweep
exit $rc
