#!/usr/bin/env bash
# The test suite under the sanitizers (a finding fails its test: see the
# test setup in tests/meson.build).
#
#   scripts/sanitize.sh [asan|tsan|both] [meson test arguments...]
#
# asan: AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite,
#       in build-asan (TXJ_ASAN_BUILD_DIR).
# tsan: ThreadSanitizer over the suites with concurrent code (writer and
#       background thread, readers, group commit, compaction, consumers,
#       sessions, reliability, the C API), in build-tsan (TXJ_TSAN_BUILD_DIR). TXJ_TSAN_SUITES
#       (space separated) overrides the suites.
# both: the two, one after the other (the default).
# Extra arguments go to `meson test` (e.g. --suite reliability).
# Ends with a line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mode=both
case ${1:-} in
  asan|tsan|both) mode=$1; shift ;;
esac
status=0
logs=()

# The sanitized tests keep their directories (TMPDIR) on tmpfs when
# /dev/shm has room (4 GiB free): the fault walks spend most of their
# time in fdatasync on a disk (fault_walk_compaction under ASan: 44-48 s on
# ext4, 23 s on tmpfs), and what the sanitizers look for (memory errors,
# undefined behaviour, data races) does not depend on the file system.
# Syncs that cost nothing also change the threads' timing: the first run
# on tmpfs found a writer that waited forever for its next segment once a
# seal's sync failed (fixed in writer.cc, Roll), which slow syncs on a disk
# had hidden. The plain suite (scripts/test.sh) keeps the disk's file
# system. TXJ_SANITIZE_TMPDIR overrides (an empty value keeps TMPDIR).
if [[ -z ${TXJ_SANITIZE_TMPDIR+set} ]]; then
  free_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
  if [[ -w /dev/shm && ${free_kib:-0} -ge $((4 * 1024 * 1024)) ]]; then
    TXJ_SANITIZE_TMPDIR=$(mktemp -d /dev/shm/txj-sanitize-XXXXXX) || TXJ_SANITIZE_TMPDIR=
    trap 'rm -rf "$TXJ_SANITIZE_TMPDIR"' EXIT
  else
    TXJ_SANITIZE_TMPDIR=
  fi
fi
if [[ -n $TXJ_SANITIZE_TMPDIR ]]; then
  echo "sanitize: test directories under $TXJ_SANITIZE_TMPDIR"
  export TMPDIR=$TXJ_SANITIZE_TMPDIR
fi
# Builds what the tests to run need, not the whole tree (tools, examples and
# layer checks no sanitized test runs would cost minutes to compile under
# the sanitizers): `build_for_tests DIR -- SUITE...` for those suites,
# `build_for_tests DIR` for the default setup's tests, and everything when
# other meson test arguments are given.
build_for_tests() {
  local dir=$1; shift
  local targets
  if (($# > 0)) && [[ $1 != -- ]]; then
    ninja -C "$dir"
    return
  fi
  (($# > 0)) && shift
  targets=$(python3 scripts/test_targets.py "$dir" "$@") || return 1
  # shellcheck disable=SC2086 # one target per word
  ninja -C "$dir" $targets
}

# Both sanitizer builds: -O1 -g1. ASan + UBSan at -O2 -g cost 2.8x the
# compile time (one test file: 90 s against 32 s; TSan 2.3x) for no finding
# they would add; -g1 keeps the file and line of every frame in a report.
# UBSan's vptr check is left out of the ASan build: it was 22% of that
# build's compile time (one test file: 41.5 against 32.4 s of CPU), the
# largest step of CI, and the fuzz targets (clang, -fsanitize=undefined)
# keep it over the library code.
#
# Both build the library as a unity build (-Dunity=on: meson compiles its
# files four to a translation unit), which halves the library's compile
# time (debugoptimized: about 100 against 206 s of CPU) because each group
# parses the shared headers once. Test files are one per executable and do
# not change; the plain build and the subproject test compile the library
# file by file, so a missing include still fails there.
sanitizer_setup=(--wrap-mode=nodownload -Dwerror=true -Dman=disabled -Db_lundef=false -Dbench=false
  -Doptimization=1 -Dc_args=-g1 -Dunity=on)

if [[ $mode == asan || $mode == both ]]; then
  builddir=${TXJ_ASAN_BUILD_DIR:-build-asan}
  if [[ ! -f $builddir/build.ninja ]]; then
    meson setup "$builddir" "${sanitizer_setup[@]}" -Db_sanitize=address,undefined "-Dcpp_args=-g1 -fno-sanitize=vptr"
  fi
  build_for_tests "$builddir" "$@"
  # The power-loss test checks 4 disk states per crash moment instead of 12
  # (every crash moment of every workload, the same page fates drawn from
  # fewer samples): 12 made it 520 s under ASan, the longest test of CI by
  # far, for states the plain build (scripts/test.sh) checks in full.
  TXJ_POWER_LOSS_STATES=${TXJ_POWER_LOSS_STATES:-4} \
  meson test -C "$builddir" --print-errorlogs --num-processes 2 --no-rebuild "$@" || status=$?
  logs+=("$builddir/meson-logs/testlog.json")
fi

if [[ $mode == tsan || $mode == both ]]; then
  builddir=${TXJ_TSAN_BUILD_DIR:-build-tsan}
  if [[ ! -f $builddir/build.ninja ]]; then
    meson setup "$builddir" "${sanitizer_setup[@]}" -Db_sanitize=thread -Dcpp_args=-g1
  fi
  suites=()
  if (($# == 0)); then
    tsan_suites=${TXJ_TSAN_SUITES:-core compaction sessions consumers reliability capi}
    for s in $tsan_suites; do suites+=(--suite "$s"); done
    # shellcheck disable=SC2086 # one suite per word
    build_for_tests "$builddir" -- $tsan_suites
  else
    build_for_tests "$builddir" "$@"
  fi
  # TSan needs the address space layout it was built for: without this a
  # kernel with many random mmap bits makes every test die at start.
  setarch_cmd=()
  if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
    setarch_cmd=(setarch "$(uname -m)" -R)
  fi
  # Every step costs many times more under TSan: the randomized suites run
  # at a quarter of their size (TXJ_TEST_SCALE), the fault walks and the
  # catalog fault walk take a seeded quarter of their fault sites (each
  # site's run is a whole workload, threads included), and the power-loss
  # test checks 3 disk states per crash moment instead of 12 (its
  # workloads, the part with threads, run whole).
  TXJ_TEST_SCALE=${TXJ_TEST_SCALE:-25} TXJ_POWER_LOSS_STATES=${TXJ_POWER_LOSS_STATES:-3} \
  "${setarch_cmd[@]}" meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 4 \
    --no-rebuild "${suites[@]}" "$@" || status=$?
  logs+=("$builddir/meson-logs/testlog.json")
fi

python3 scripts/summarize.py "${logs[@]}"
exit $status
