#!/usr/bin/env bash
# Soak: the crash loops for as many cycles as asked, without a time limit.
#
#   scripts/soak.sh [CYCLES]   (default 2000 per crash-loop variant)
#
# Runs the 'soak' suite (tests/meson.build): the writer crash loops of
# tests/crash_test.cc (commit, none, periodic durability, and compacting)
# with CYCLES cycles each, and the compaction crash loop with CYCLES/10.
# Prints, per loop, how many cycles it survived. TXJ_TEST_SEED changes the
# seed. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-2000}
scripts/install-deps.sh
builddir=${TXJ_BUILD_DIR:-build}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true
fi
ninja -C "$builddir"
status=0
TXJ_CRASH_CYCLES=$cycles TXJ_COMPACTION_CRASH_CYCLES=$(((cycles + 9) / 10)) \
  meson test -C "$builddir" --setup soak --suite soak --verbose --num-processes 2 || status=$?
grep -ho "crash loop ([^)]*): [A-Za-z]* [^,]*cycles" "$builddir"/meson-logs/testlog-soak.txt 2>/dev/null || true
python3 scripts/summarize.py "$builddir/meson-logs/testlog-soak.json"
exit $status
