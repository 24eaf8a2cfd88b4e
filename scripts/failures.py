#!/usr/bin/env python3
"""Lists the failed tests of meson testlog.json files, each with the last
lines of its output, so that the end of a CI log (often all that is kept)
names what failed and why. Prints nothing when nothing failed.

    scripts/failures.py [--lines N] TESTLOG.json...
"""
import json
import sys

args = sys.argv[1:]
keep = 40
if args[:1] == ["--lines"]:
    keep = int(args[1])
    args = args[2:]
failures = []
for path in args:
    try:
        f = open(path)
    except OSError as e:
        failures.append((path, "MISSING", f"cannot read {path}: {e.strerror}"))
        continue
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
                continue
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            failures.append((path, t.get("result"), f"{t.get('name')} (exit {t.get('returncode')}, "
                             f"{t.get('duration', 0):.1f} s)\n" + "\n".join(out.splitlines()[-keep:])))
for path, result, text in failures:
    print(f"=== FAILED [{result}] in {path}: {text}")
