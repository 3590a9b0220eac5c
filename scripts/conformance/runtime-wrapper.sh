#!/usr/bin/env bash
# What the runtime-tools validation programs run as $RUNTIME (run.sh sets it
# up): the runtime under test, with a state root that belongs to this run so
# that run.sh can find and delete every container a test leaves behind,
# without touching containers of anything else on the machine.
#
#   RT_CONFORMANCE_RUNTIME         the runtime under test (absolute path)
#   RT_CONFORMANCE_ROOT            its --root
#   RT_CONFORMANCE_PIN_CGROUPS     when set: a cgroup prefix (e.g.
#       rt-conformance-pinned); an empty or relative linux.cgroupsPath in the
#       bundle is rewritten to /PREFIX/<path or id> before `create`/`run`.
#       For runtimes other than rt: runc (cgroupfs driver) puts an empty or
#       relative cgroupsPath under the cgroup of its caller, and the caller's
#       memory cgroup on these machines belongs to the machine's own service,
#       which must never be written to. rt resolves such paths against the
#       hierarchy root (src/cgroups/mod.rs container_path), so it runs unpinned.
set -euo pipefail

: "${RT_CONFORMANCE_RUNTIME:?runtime-wrapper.sh is run by scripts/conformance/run.sh}"
: "${RT_CONFORMANCE_ROOT:?runtime-wrapper.sh is run by scripts/conformance/run.sh}"

if [[ -n ${RT_CONFORMANCE_PIN_CGROUPS:-} && ( ${1:-} == create || ${1:-} == run ) ]]; then
    bundle=.
    args=("${@:2}")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
            -b | --bundle | -bundle) bundle=${args[i + 1]:-.} ;;
            --bundle=* | -bundle=*) bundle=${args[i]#*=} ;;
        esac
    done
    id=${*: -1}
    python3 - "$bundle/config.json" "$id" "$RT_CONFORMANCE_PIN_CGROUPS" <<'PY'
import json
import sys

path, cid, prefix = sys.argv[1:]
with open(path) as f:
    config = json.load(f)
linux = config.setdefault("linux", {})
current = linux.get("cgroupsPath") or ""
if not current.startswith("/"):
    linux["cgroupsPath"] = "/" + prefix + "/" + (current or cid)
    with open(path, "w") as f:
        json.dump(config, f, indent="\t")
PY
fi

exec "$RT_CONFORMANCE_RUNTIME" --root "$RT_CONFORMANCE_ROOT" "$@"
