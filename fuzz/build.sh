#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (ASan + UBSan + libFuzzer)
# into build-fuzz/ (TXJ_FUZZ_BUILD overrides), through meson -Dfuzz=true.
# Needs Debian's clang-14 and libclang-rt-14-dev.
#
#   fuzz/build.sh            build the targets: build-fuzz/fuzz/<target>_fuzzer
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
ignore="-fsanitize-coverage-ignorelist=$PWD/fuzz/coverage-ignore.txt"
if [[ ! -f $out/build.ninja ]]; then
  CXX=$cxx meson setup "$out" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true \
    -Dfuzz=true -Dtests=false -Dbench=false -Dnats=disabled -Dman=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args="$ignore" >/dev/null
elif ! grep -qF -- "$ignore" "$out/build.ninja"; then
  meson configure "$out" -Dcpp_args="$ignore" >/dev/null  # a build directory from before the list
fi
# ninja does not know that every object depends on the list: when it
# changed since the last build, rebuild everything.
sum=$(sha1sum fuzz/coverage-ignore.txt | cut -d' ' -f1)
if [[ $(cat "$out/.coverage-ignore.sha1" 2>/dev/null) != "$sum" ]]; then
  ninja -C "$out" -t clean >/dev/null
fi
ninja -C "$out"
echo "$sum" >"$out/.coverage-ignore.sha1"
if [[ ${1:-} == --seeds ]]; then
  find fuzz/corpus -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + 2>/dev/null || true  # keeps the README
  ASAN_OPTIONS=detect_leaks=0 "$out/fuzz/make_seeds" fuzz/corpus
  du -sh fuzz/corpus
fi
