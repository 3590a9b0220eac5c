#!/usr/bin/env bash
# check.sh BINARY: how many functions of layout/rt.order the freshly linked,
# not yet stripped BINARY has. Names carry a hash of the build (dependency
# versions, profile): once most are gone the linker orders nothing and rt
# maps most of its code again, so say so. A stripped binary was checked
# when it was linked.
set -euo pipefail
bin=$1
order=$(dirname "$0")/../../layout/rt.order
[ -f "$order" ] || { echo "warning: no layout/rt.order: run 'just layout'" >&2; exit 0; }
names=$(nm --defined-only "$bin" 2>/dev/null | awk '{print $3}') || true
[ -n "$names" ] || exit 0
total=$(wc -l < "$order")
found=$(grep -cxFf <(echo "$names") "$order" || true)
if ((found * 10 < total * 9)); then
    echo "warning: only $found of the $total functions in layout/rt.order are in $bin: run 'just layout' (rt maps more code than it needs)" >&2
fi
