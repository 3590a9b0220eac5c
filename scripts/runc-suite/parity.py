#!/usr/bin/env python3
"""runtime-tests/PARITY.md from runs of `just runc-suite`: per file, what runc
and rt pass of each suite, and each test runc passes that rt does not.

usage: [RT_COMMITS=...] parity.py RESULTS SUITE:REF_NAME:RT_NAME[:LABEL] ... > PARITY.md
e.g.   parity.py /var/tmp/runc-bats/results v1.5.1:runc151:rt-main3-151 \
           v1.1.5:runc115:rt-main3-115

The reasons for the tests rt keeps red on purpose come from README's "Where
rt deliberately differs from runc" (matched by file and number in
DELIBERATE below); any other red test is listed as a gap.
"""
import csv
import os
import subprocess
import sys
from collections import OrderedDict

# (suite, file, number) -> README's entry, in a few words.
DELIBERATE = {
    ("v1.5.1", "run.bats", 7): "rt seals its binary without a copy and prints no "
    "'runc exeseal' debug line (README: the binary no container may overwrite)",
    ("v1.1.5", "cgroups.bats", 16): "a non-empty cgroup is refused, as runc 1.5 does "
    "(README: non-empty cgroup)",
}


def tests(results, name):
    out = OrderedDict()
    with open(f"{results}/{name}-tests.tsv") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for row in rows:
            if len(row) < 4:
                continue
            out[(row[0], int(row[1]))] = (row[2], row[3])
    return out


def main():
    results = sys.argv[1]
    # RT_COMMITS says which builds ran when the runs were not all of HEAD.
    commit = os.environ.get("RT_COMMITS") or subprocess.run(
        ["git", "log", "-1", "--format=%h %cs"], capture_output=True, text=True
    ).stdout.strip()
    print("# rt against runc's own integration suite\n")
    print(
        "Written by `scripts/runc-suite/parity.py` from runs of `./just runc-suite` "
        f"(rt at {commit}; this machine: Debian 12, kernel 6.18, hybrid cgroups, "
        "root, one suite at a time). The reference column is runc itself, built from "
        "the same tag (`/var/tmp/runc-bats/STATUS.md`), run by the same harness. "
        "A test neither passes is skipped here (cgroup v2 only, rootless, missing "
        "tools) or fails for runc too (criu on this kernel, no netdev or rlimit "
        "privileges); the per-test results are in the harness's `-tests.tsv`.\n"
    )
    for spec in sys.argv[2:]:
        suite, ref, rt, *label = spec.split(":")
        a, b = tests(results, ref), tests(results, rt)
        files = OrderedDict()
        for (f, n) in list(a) + [k for k in b if k not in a]:
            files.setdefault(f, []).append(n)
        print(f"## runc {suite} suite ({label[0] if label else rt})\n")
        print("| file | tests | runc ok | rt ok | runc ok, rt not |")
        print("| --- | ---: | ---: | ---: | ---: |")
        tot = [0, 0, 0, 0]
        red = []
        for f, nums in sorted(files.items()):
            nums = sorted(set(nums))
            ra = sum(1 for n in nums if a.get((f, n), ("-",))[0] == "ok")
            rb = sum(1 for n in nums if b.get((f, n), ("-",))[0] == "ok")
            gap = [n for n in nums if a.get((f, n), ("-",))[0] == "ok"
                   and b.get((f, n), ("-",))[0] != "ok"]
            red += [(f, n) for n in gap]
            print(f"| {f} | {len(nums)} | {ra} | {rb} | {len(gap) or ''} |")
            for i, v in enumerate([len(nums), ra, rb, len(gap)]):
                tot[i] += v
        print(f"| **total** | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} |\n")
        if red:
            print("Tests runc passes and rt does not:\n")
            for f, n in red:
                name = (a.get((f, n)) or b.get((f, n)))[1]
                why = DELIBERATE.get((suite, f, n), "**gap** (not deliberate)")
                print(f"- {f} {n} \"{name}\": {why}")
            print()
        else:
            print("rt passes every test runc passes.\n")
        extra = [(f, n) for (f, n) in b if b[(f, n)][0] == "ok" and a.get((f, n), ("-",))[0] != "ok"]
        if extra:
            print(
                "rt passes and runc does not: "
                + ", ".join(f"{f} {n}" for f, n in extra)
                + " (runc's own failures on this machine: its reference run).\n"
            )


main()
