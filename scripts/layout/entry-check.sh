#!/usr/bin/env bash
# entry-check.sh BINARY: the code rt runs before the C library starts
# (`rt_entry` and what it calls, src/entry.rs) must not depend on what the
# C library sets up. In a static-pie binary nothing is relocated yet then:
# a call through the GOT (memset, memcpy: IFUNCs the optimiser may call to
# zero or copy an array) jumps to address 0, and a pointer loaded from
# relocated data is wrong. Fails, naming the instruction, when that code
# reaches a function outside rt::entry, calls indirectly, or reads the GOT
# or relocated data. BINARY must be unstripped (`just build` checks before
# it strips); a stripped one is skipped.
set -euo pipefail
bin=$1
syms=$(nm --defined-only -S "$bin" 2>/dev/null) || true
if ! grep -q ' rt_entry$' <<<"$syms"; then
    echo "entry-check: $bin has no symbols (stripped): skipped" >&2
    exit 0
fi

# Sections whose words the start-up relocates: reading one is reading an
# unrelocated pointer (as "start end" in hex).
relocated=$(readelf -SW "$bin" | awk '
    match($0, /\] [^ ]+/) {
        name = substr($0, RSTART + 2, RLENGTH - 2)
        if (name ~ /^\.(got|got\.plt|data\.rel\.ro|data|init_array|fini_array)$/) {
            rest = substr($0, RSTART + RLENGTH); split(rest, f, " ")
            printf "%s %s\n", f[2], f[4]   # address, size
        }
    }')

declare -A seen=()
queue=(rt_entry)
bad=0
while ((${#queue[@]})); do
    fn=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$fn]:-} ]] && continue
    seen[$fn]=1
    # A symbol without a size (an assembler label) ends where the next begins.
    addr="" size=""
    read -r addr size < <(awk -v n="$fn" '$NF == n { print $1, (NF == 4 ? $2 : ""); exit }' <<<"$syms") || true
    if [[ -n $addr && -z $size ]]; then
        # nm's addresses are zero-padded: as strings they sort as numbers.
        next=$(awk -v a="$addr" '$1 > a && (m == "" || $1 < m) { m = $1 } END { print m }' <<<"$syms")
        [[ -n $next ]] && size=$(printf '%x' $((16#$next - 16#$addr)))
    fi
    if [[ -z $addr || -z $size ]]; then
        echo "entry-check: $fn (reached from rt_entry) has no address or size in $bin" >&2
        bad=1
        continue
    fi
    case $(c++filt <<<"$fn") in
        rt_entry | rt::entry::*) ;;
        *)
            echo "entry-check: code run before the C library starts calls $(c++filt <<<"$fn")," \
                "outside src/entry.rs" >&2
            bad=1
            continue
            ;;
    esac
    start=$((16#$addr))
    stop=$((start + 16#$size))
    while IFS=$'\t' read -r where insn; do
        [[ -n $insn ]] || continue
        op=${insn%% *}
        target=""
        if [[ $op == call* || $op == jmp* ]]; then
            if [[ $insn =~ \*[^#]*\(%rip\) || $op == call* && $insn == *'*'* ]]; then
                echo "entry-check: $(c++filt <<<"$fn") ${where%:} makes an indirect call or jump: $insn" >&2
                bad=1
                continue
            fi
            if [[ $insn =~ \<([^+>]+)\> ]]; then
                target=${BASH_REMATCH[1]}
                [[ $target == "$fn" || $target == _start ]] || queue+=("$target")
            fi
            continue
        fi
        # A memory operand read relative to the instruction pointer: the
        # address objdump names after '#' must not be relocated data.
        if [[ $op != lea* && $insn =~ \(%rip\).*#\ ([0-9a-f]+) ]]; then
            at=$((16#${BASH_REMATCH[1]}))
            while read -r s z; do
                [[ -n $s ]] || continue
                if ((at >= 16#$s && at < 16#$s + 16#$z)); then
                    echo "entry-check: $(c++filt <<<"$fn") ${where%:} reads relocated data: $insn" >&2
                    bad=1
                fi
            done <<<"$relocated"
        fi
    done < <(objdump -d --no-show-raw-insn --start-address="$start" --stop-address="$stop" "$bin" |
        sed -n 's/^ *\([0-9a-f]*:\)\t\(.*\)$/\1\t\2/p')
done
if ((bad)); then
    echo "entry-check: $bin: src/entry.rs's early code depends on the C library (see above)" >&2
    exit 1
fi
