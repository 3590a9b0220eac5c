#!/usr/bin/env python3
"""Run a command as a child subreaper that reaps every orphan as soon as it exits.

PID 1 on these machines (the machine's own service) reaps orphans only about every
2 s; until then a killed orphan is a zombie, and `kill -0` still finds it. runc's
suite gives killed container processes about 2 s to vanish (wait_pids_gone in
delete.bats, after `runc exec -d` processes were orphaned), so there such tests pass
or fail by chance. Under this subreaper the suite's orphans are reparented here and
reaped at once, as a systemd PID 1 does on runc's CI.

Usage: subreaper.py COMMAND [ARG...]; exits with COMMAND's status (128+N on signal N).
"""
import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: subreaper.py COMMAND [ARG...]")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("subreaper: prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
    child = os.fork()
    if child == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        except OSError as e:
            print(f"subreaper: {sys.argv[1]}: {e.strerror}", file=sys.stderr)
            os._exit(127)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            sys.exit(127)
        except KeyboardInterrupt:
            # ^C reaches the whole foreground group; keep reaping until the command ends.
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            sys.exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    main()
