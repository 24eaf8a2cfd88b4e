#!/usr/bin/env bash
# Everything CI checks, on a clean checkout (what .ci/run runs):
#   1. the whole suite (scripts/test.sh), fixed seed;
#   2. the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer,
#      and the suites with concurrent code under ThreadSanitizer
#      (scripts/sanitize.sh);
#   3. the fuzz seed corpora through the libFuzzer targets built with clang
#      and ASan + UBSan (fuzz/run.sh --replay).
# Each step runs even when an earlier one failed. Ends with one line
# "N passed, N failed, N skipped" over all of them; exits non-zero if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --fuzz || exit 1
start=$SECONDS
status=0
logs=()
step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name"
  "$@" || status=1
  echo "=== $name: $((SECONDS - t0)) s"
}
step "test suite" scripts/test.sh
logs+=("${TXJ_BUILD_DIR:-build}/meson-logs/testlog.json")
step "sanitizers" scripts/sanitize.sh both
logs+=("${TXJ_ASAN_BUILD_DIR:-build-asan}/meson-logs/testlog.json" "${TXJ_TSAN_BUILD_DIR:-build-tsan}/meson-logs/testlog.json")
fuzz_log=${TXJ_FUZZ_BUILD:-build-fuzz}/replay-testlog.json
rm -f "$fuzz_log"
step "fuzz corpus replay" env TXJ_FUZZ_REPLAY_LOG="$PWD/$fuzz_log" fuzz/run.sh --replay
[[ -f $fuzz_log ]] || echo '{"name": "fuzz build", "result": "FAIL"}' >"$fuzz_log"
logs+=("$fuzz_log")
echo "ci: $((SECONDS - start)) s in all"
existing=()
for l in "${logs[@]}"; do
  if [[ -f $l ]]; then existing+=("$l"); else echo "ci: missing $l (its step failed before testing)"; status=1; fi
done
# What failed, with the end of its output, just above the last line (the end
# of a CI log is often all that is kept).
python3 scripts/failures.py --lines 30 "${existing[@]}"
summary=$(python3 scripts/summarize.py "${existing[@]}")
# A step that failed before it ran its tests counts as one failure.
if ((status != 0)) && [[ $summary == *", 0 failed"* ]]; then
  summary=$(python3 scripts/summarize.py --extra-failures 1 "${existing[@]}")
fi
echo "$summary"
exit $status
