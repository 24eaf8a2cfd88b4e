#!/usr/bin/env bash
# Quickstart 2: install, build, and run the whole test suite. Ends with a
# line "N passed, N failed". TXJ_TEST_SEED changes the random seed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${TXJ_BUILD_DIR:-build}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || status=$?
python3 scripts/summarize.py "$builddir/meson-logs/testlog.json"
exit $status
