#!/usr/bin/env bash
# Line coverage of the recovery code by the fuzz corpora, measured with
# clang's source-based coverage (-fprofile-instr-generate -fcoverage-mapping,
# llvm-profdata-14, llvm-cov-14).
#
#   fuzz/coverage.sh [CORPUS_ROOT]   build the targets instrumented for
#                                    coverage (no sanitizers) into build-cov/
#                                    (TXJ_COV_BUILD overrides), replay every
#                                    input of CORPUS_ROOT/<target>/ (default
#                                    fuzz/corpus) once through its target
#                                    with the full checks (TXJ_FUZZ_FULL=1, as
#                                    CI replays them), merge the profiles and
#                                    print the line coverage of each file of
#                                    FILES (default: lib/journal/recovery.cc
#                                    lib/log/log_reader.cc lib/log/txn_checker.cc
#                                    lib/journal/walk.cc), then their total.
#
# TXJ_COV_TARGETS: the targets replayed (default: record recovery dump load).
# TXJ_COV_SHOW=1: also print the lines not covered (llvm-cov show).
# Needs Debian's clang-14 and llvm-14.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TXJ_COV_BUILD:-build-cov}
corpus=${1:-fuzz/corpus}
files=(${FILES:-lib/journal/recovery.cc lib/log/log_reader.cc lib/log/txn_checker.cc lib/journal/walk.cc})
targets=(${TXJ_COV_TARGETS:-record recovery dump load})
cxx=${CXX_FUZZ:-clang++-14}
for tool in "$cxx" llvm-profdata-14 llvm-cov-14; do
  command -v "$tool" >/dev/null || { echo "fuzz/coverage.sh: $tool not found (apt-get install clang-14 llvm-14)" >&2; exit 2; }
done
if [[ ! -f $out/build.ninja ]]; then
  CXX=$cxx meson setup "$out" --wrap-mode=nodownload --buildtype=debug \
    -Dfuzz=true -Dtests=false -Dbench=false -Dnats=disabled -Db_lundef=false \
    -Dcpp_args="-fprofile-instr-generate -fcoverage-mapping" \
    -Dcpp_link_args="-fprofile-instr-generate" >/dev/null
fi
ninja -C "$out" $(for t in "${targets[@]}"; do echo "fuzz/${t}_fuzzer"; done) >/dev/null
prof=$out/profiles
rm -rf "$prof"
mkdir -p "$prof"
objects=()
for t in "${targets[@]}"; do
  [[ -d $corpus/$t ]] || continue
  LLVM_PROFILE_FILE="$prof/$t-%p.profraw" TXJ_FUZZ_FULL=1 ASAN_OPTIONS=detect_leaks=0 \
    "$out/fuzz/${t}_fuzzer" -runs=0 "$corpus/$t" >"$prof/$t.log" 2>&1 ||
    { tail -20 "$prof/$t.log" >&2; echo "fuzz/coverage.sh: replay of $t failed" >&2; exit 1; }
  objects+=(-object "$out/fuzz/${t}_fuzzer")
  echo "replayed $(ls "$corpus/$t" | wc -l) inputs of $corpus/$t" >&2
done
llvm-profdata-14 merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
# The first -object is the main one; llvm-cov wants it without the flag.
main=${objects[1]}
rest=("${objects[@]:2}")
echo
# llvm-cov names files by their path with the common prefix taken off:
# each of FILES is matched as a suffix.
llvm-cov-14 report "$main" "${rest[@]}" -instr-profile="$prof/merged.profdata" |
  awk -v want="${files[*]}" '
    BEGIN { n = split(want, w, " "); printf "%-22s %8s %8s %8s\n", "file", "lines", "missed", "covered" }
    NF >= 10 {
      for (i = 1; i <= n; ++i) {
        f = w[i]
        if ($1 == f || substr($1, length($1) - length(f)) == "/" f) {
          printf "%-22s %8s %8s %8s\n", f, $8, $9, $10
          lines += $8; missed += $9
        }
      }
    }
    END { if (lines) printf "%-22s %8d %8d %7.2f%%\n", "total", lines, missed, 100 * (lines - missed) / lines }'
if [[ ${TXJ_COV_SHOW:-0} == 1 ]]; then
  llvm-cov-14 show "$main" "${rest[@]}" -instr-profile="$prof/merged.profdata" "${files[@]/#/$PWD/}" \
    -show-line-counts-or-regions | grep -E '^/|^ +[0-9]+\| +0\|' || true
fi
