#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (a
# finding fails its test: see the test setup in tests/meson.build).
# Ends with a line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${TXJ_ASAN_BUILD_DIR:-build-asan}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || status=$?
python3 scripts/summarize.py "$builddir/meson-logs/testlog.json"
exit $status
