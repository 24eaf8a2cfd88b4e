#!/usr/bin/env python3
"""Print the ninja targets the tests of a build directory need.

    scripts/test_targets.py BUILDDIR [SUITE...]

With suites, only the tests in those suites (meson suite names without the
project prefix); without, every test outside the soak suite (the default
test setup). A test must name every program it runs (`depends:` in
tests/meson.build), as the tests that run ../tools/NAME do. The sanitizer builds (scripts/sanitize.sh) build only these,
then run `meson test --no-rebuild`: tools, examples and libraries that no
selected test uses are not compiled under the sanitizers.
"""
import json
import os
import subprocess
import sys


def introspect(builddir, what):
    out = subprocess.run(["meson", "introspect", builddir, what],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: test_targets.py BUILDDIR [SUITE...]")
    builddir = os.path.abspath(sys.argv[1])
    wanted = set(sys.argv[2:])
    files = {}
    for target in introspect(builddir, "--targets"):
        files[target["id"]] = target["filename"]
    outputs = {f for names in files.values() for f in names}
    targets = set()
    for test in introspect(builddir, "--tests"):
        suites = {s.split(":", 1)[-1] for s in test["suite"]}
        if wanted and not (suites & wanted):
            continue
        if not wanted and "soak" in suites:
            continue
        for dep in test["depends"]:
            if dep not in files:
                sys.exit(f"test_targets.py: test {test['name']} depends on {dep}, "
                         f"which {builddir} does not list as a target")
            for f in files[dep]:
                targets.add(os.path.relpath(f, builddir))
        # The program a test runs, when the build makes it.
        for arg in test["cmd"]:
            if arg in outputs:
                targets.add(os.path.relpath(arg, builddir))
    print("\n".join(sorted(targets)))


if __name__ == "__main__":
    main()
