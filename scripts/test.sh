#!/usr/bin/env bash
# Quickstart 2: install, build, and run the whole test suite. Ends with a
# line "N passed, N failed". TXJ_TEST_SEED changes the random seed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${TXJ_BUILD_DIR:-build}
# Line tables only (-g1): backtraces, sanitizer reports and a debugger's
# `bt` keep function, file and line; full debug information (-g) made
# about 45 % of a library file's compile time at -O2 (lib/journal/journal.cc:
# 8.3 s against 4.5 s) and most of this build is compiling. Configure a
# build of your own without it to step through the code.
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true -Dc_args=-g1 -Dcpp_args=-g1
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || status=$?
python3 scripts/summarize.py "$builddir/meson-logs/testlog.json"
exit $status
