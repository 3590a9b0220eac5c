#!/bin/bash
# Usage: clean-cgroups.sh COMMAND [ARG...]
# Runs COMMAND between two sweeps of the cgroups runc's suite names for itself,
# /sys/fs/cgroup/*/runc-cgroups-integration-test and below: every empty one is removed.
# Call it only while holding /var/tmp/runc-bats/suite.lock (no suite run is using them).
#
# Why: a test that fails before its container exists leaves the cgroup it made with
# mkdir (runc's teardown then finds the parent busy), and a runtime that fails to
# delete leaves its own; run.sh only removes the cgroups of containers still listed.
# Leftovers poison later runs of any runtime: one with cpu.rt_runtime_us 20000 beside
# the 950000 that update.bats "update rt period and runtime" gives its new cgroup
# makes that write fail with EINVAL (runc 1.1.5 failed it so). And the suite's parent
# holds the root's whole realtime budget (950000 of 950000) while it exists, which
# other tests on the machine may need.
set -u
sweep() {
	local top d
	for top in /sys/fs/cgroup/*/runc-cgroups-integration-test; do
		[ -d "$top" ] || continue
		# deepest first: rmdir fails, harmlessly, on any cgroup with processes or children
		find "$top" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$top" ] || continue
		for d in $(find "$top" -name cgroup.procs -exec grep -l . {} + 2>/dev/null); do
			echo "clean-cgroups: $(dirname "$d") still has processes: $(tr '\n' ' ' <"$d")" >&2
		done
	done
}
sweep
"$@"
rc=$?
sweep
exit $rc
