#!/usr/bin/env python3
"""Tables from critest's ginkgo JSON reports (run.sh).

usage: report.py REPORT.json HANDLER BINARY      one handler's table (markdown)
       report.py --compare OUT HANDLER...         totals side by side, the tests
                                                  the first handler passes that
                                                  another one does not, then
                                                  every test's state per handler
"""
import json
import os
import sys


def specs(path):
    """{test name: (state, seconds, first line of the failure, location)}"""
    with open(path) as f:
        reports = json.load(f)
    out = {}
    for report in reports:
        for s in report.get("SpecReports") or []:
            if s.get("LeafNodeType") != "It":
                # A failed BeforeSuite/AfterSuite fails the run: show it.
                if s.get("State") not in ("passed", "skipped", None):
                    out["[" + s.get("LeafNodeType", "?") + "]"] = describe(s)
                continue
            name = " ".join([t for t in s.get("ContainerHierarchyTexts") or [] if t] + [s.get("LeafNodeText", "")])
            out[" ".join(name.replace("[Conformance]", "").split())] = describe(s)
    return out


def describe(s):
    failure = s.get("Failure") or {}
    message = " ".join((failure.get("Message") or "").split())
    loc = failure.get("Location") or {}
    where = "%s:%s" % (os.path.basename(loc.get("FileName", "")), loc.get("LineNumber", "")) if loc else ""
    return s.get("State", "?"), (s.get("RunTime") or 0) / 1e9, message, where


def cell(text):
    """Text for a markdown table cell (test names may hold a `|`)."""
    return text.replace("|", "\\|")


def table(path, handler, binary):
    results = specs(path)
    ran = {k: v for k, v in results.items() if v[0] != "skipped"}
    passed = sum(1 for v in ran.values() if v[0] == "passed")
    print("# critest: handler %s\n" % handler)
    print("- runtime: `%s`" % binary)
    print("- report: `%s`\n" % path)
    print("| test | result | seconds | failure |")
    print("| --- | --- | ---: | --- |")
    for name in sorted(results):
        state, secs, message, where = results[name]
        note = (message[:300] + ("..." if len(message) > 300 else "")) + (" (%s)" % where if where else "")
        print("| %s | %s | %.1f | %s |" % (cell(name), state, secs, cell(note)))
    print("\n**%s: %d of %d passed** (%d skipped)" % (handler, passed, len(ran), len(results) - len(ran)))


def compare(out, handlers):
    runs = {}
    for h in handlers:
        p = os.path.join(out, h, "report.json")
        if os.path.exists(p):
            runs[h] = specs(p)
    if not runs:
        print("no reports under %s" % out)
        return
    print("# critest results\n")
    print("| handler | passed | failed | skipped |")
    print("| --- | ---: | ---: | ---: |")
    for h, r in runs.items():
        states = [v[0] for v in r.values()]
        passed = states.count("passed")
        skipped = states.count("skipped")
        print("| %s | %d | %d | %d |" % (h, passed, len(states) - passed - skipped, skipped))
    first = handlers[0]
    for h in handlers[1:]:
        if first not in runs or h not in runs:
            continue
        worse = [n for n, v in sorted(runs[first].items())
                 if v[0] == "passed" and runs[h].get(n, ("missing",))[0] != "passed"]
        print("\n%d tests %s passes and %s does not:" % (len(worse), first, h))
        for n in worse:
            state, _, message, where = runs[h].get(n, ("missing", 0, "", ""))
            print("- %s: %s%s" % (n, state, (": " + message[:200] + " (" + where + ")") if message else ""))
        better = [n for n, v in sorted(runs[h].items())
                  if v[0] == "passed" and runs[first].get(n, ("missing",))[0] != "passed"]
        if better:
            print("\n%d tests %s passes and %s does not:" % (len(better), h, first))
            for n in better:
                print("- %s" % n)
    # Every test, one row, a column per handler (run.sh prints what is above).
    print("\n## Every test\n")
    print("| test | %s |" % " | ".join(runs))
    print("| --- |" + " --- |" * len(runs))
    for n in sorted(set().union(*runs.values())):
        print("| %s | %s |" % (cell(n), " | ".join(r.get(n, ("missing",))[0] for r in runs.values())))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4:
        table(*sys.argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
