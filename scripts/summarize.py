#!/usr/bin/env python3
"""Prints "N passed, N failed, N skipped" over meson testlog.json files
(one JSON object per line with a "result"). --extra-failures N adds N
failures (a step that failed before it ran its tests)."""
import json
import sys

passed = failed = skipped = 0
args = sys.argv[1:]
if args[:1] == ["--extra-failures"]:
    failed += int(args[1])
    args = args[2:]
for path in args:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            result = json.loads(line)["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
