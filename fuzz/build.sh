#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (ASan + UBSan + libFuzzer)
# into build-fuzz/ (TXJ_FUZZ_BUILD overrides), through meson -Dfuzz=true.
# Needs Debian's clang-14 and libclang-rt-14-dev.
#
#   fuzz/build.sh            build the targets: build-fuzz/fuzz/<target>_fuzzer,
#                            and each target with a coverage list of its own
#                            (fuzz/coverage-ignore-<target>.txt: dump, load)
#                            again in build-fuzz-<target>/fuzz/<target>_fuzzer,
#                            which fuzz/run.sh runs
#   fuzz/build.sh --replay   only the four targets in build-fuzz/ (what
#                            fuzz/run.sh --replay runs)
#   fuzz/build.sh --seeds    also regenerate fuzz/corpus/ from a small journal
#                            (fuzz/make_seeds.cc); inputs of fixed findings
#                            must then be added back by hand
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TXJ_FUZZ_BUILD:-build-fuzz}
cxx=${CXX_FUZZ:-clang++-14}
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz/build.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi
# Hot loops left out of libFuzzer's coverage instrumentation (see the file).
# A target with a list of its own, fuzz/coverage-ignore-<target>.txt, is
# built in a build directory of its own, <out>-<target>, with both lists
# (fuzz/run.sh runs it from there): code that is the same work for every
# input of that target, but not of the others, is left out for it alone.
# setup_and_build DIR LIST... [-- NINJA-TARGET...]
setup_and_build() {
  local dir=$1 lists=() args="" sum
  shift
  while (($#)) && [[ $1 != -- ]]; do lists+=("$1"); shift; done
  shift || true
  for l in "${lists[@]}"; do args+="${args:+ }-fsanitize-coverage-ignorelist=$PWD/$l"; done
  sum=$(cat "${lists[@]}" | sha1sum | cut -d' ' -f1)
  if [[ ! -f $dir/build.ninja ]]; then
    CXX=$cxx meson setup "$dir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true \
      -Dfuzz=true -Dtests=false -Dbench=false -Dnats=disabled -Dman=disabled \
      -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args="$args" >/dev/null
    # A new directory builds everything with these lists: an interrupted
    # first build then resumes instead of starting over.
    echo "$sum" >"$dir/.coverage-ignore.sha1"
  elif ! grep -qF -- "$args" "$dir/build.ninja"; then
    meson configure "$dir" -Dcpp_args="$args" >/dev/null  # a build directory from before the lists
  fi
  # ninja does not know that every object depends on the lists: when one
  # changed since the last build, rebuild everything.
  if [[ $(cat "$dir/.coverage-ignore.sha1" 2>/dev/null) != "$sum" ]]; then
    ninja -C "$dir" -t clean >/dev/null
  fi
  ninja -C "$dir" "$@"
  echo "$sum" >"$dir/.coverage-ignore.sha1"
}
if [[ ${1:-} == --replay ]]; then
  # Only the four targets, in the shared build directory: a replay runs
  # every input once, where the narrower lists save nothing (CI).
  setup_and_build "$out" fuzz/coverage-ignore.txt -- fuzz/record_fuzzer fuzz/recovery_fuzzer fuzz/dump_fuzzer \
    fuzz/load_fuzzer
  exit 0
fi
setup_and_build "$out" fuzz/coverage-ignore.txt
for own in fuzz/coverage-ignore-*.txt; do
  [[ -f $own ]] || continue
  t=${own#fuzz/coverage-ignore-}
  t=${t%.txt}
  setup_and_build "$out-$t" fuzz/coverage-ignore.txt "$own" -- "fuzz/${t}_fuzzer"
done
if [[ ${1:-} == --seeds ]]; then
  find fuzz/corpus -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + 2>/dev/null || true  # keeps the README
  ASAN_OPTIONS=detect_leaks=0 "$out/fuzz/make_seeds" fuzz/corpus
  du -sh fuzz/corpus
fi
