#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (ASan + UBSan + libFuzzer)
# into build-fuzz/ (TXJ_FUZZ_BUILD overrides): the library and tool sources
# are compiled directly, without meson.
#
#   fuzz/build.sh            build the targets
#   fuzz/build.sh --seeds    also regenerate fuzz/corpus/ from a small journal
#   fuzz/build.sh --replay   build plain replay drivers with the default C++
#                            compiler instead (no clang needed), for CI
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-fuzz}
out=${TXJ_FUZZ_BUILD:-build-fuzz}
targets=(record recovery dump load)
lib_srcs=()
for f in lib/*.cc; do
  [[ $f == lib/replication_nats.cc ]] && continue  # needs libnats; replication_none.cc stands in
  # Captures structured bindings in lambdas, which clang 14 cannot compile
  # (clang 16 can); nothing the targets reach uses it.
  [[ $f == lib/eventbox.cc ]] && continue
  lib_srcs+=("$f")
done
tool_srcs=(tools/dump_tool.cc tools/load_tool.cc tools/tool_util.cc)
includes=(-Iinclude -Ilib -Itools -Ifuzz)
libs=(-llmdb -lxxhash -lpthread)

if [[ $mode == --replay ]]; then
  cxx=${CXX:-c++}
  objdir=$out/replay-obj
  common=(-std=c++20 -O1 -g "${includes[@]}")
  link_extra=()
  driver=fuzz/replay_main.cc
else
  cxx=${CXX_FUZZ:-clang++-14}
  if ! command -v "$cxx" >/dev/null; then
    echo "fuzz/build.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 2
  fi
  objdir=$out/obj
  common=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
          -fno-sanitize-recover=undefined "${includes[@]}")
  link_extra=(-fsanitize=fuzzer)
  driver=
fi
mkdir -p "$objdir"

# Compile the library and tools once (in parallel), instrumented for
# coverage when fuzzing.
cov=()
[[ $mode != --replay ]] && cov=(-fsanitize=fuzzer-no-link)
jobs=$(nproc 2>/dev/null || echo 2)
printf '%s\n' "${lib_srcs[@]}" "${tool_srcs[@]}" | xargs -P "$jobs" -I{} sh -c '
  src={}; obj='"$objdir"'/$(echo "$src" | tr / _).o
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find lib include tools -newer "$obj" -name "*.h" | head -1)" ]; then
    echo "  compiling $src"; '"$cxx ${common[*]} ${cov[*]}"' -c "$src" -o "$obj" || exit 255
  fi'
objs=()
for f in "${lib_srcs[@]}" "${tool_srcs[@]}"; do objs+=("$objdir/$(echo "$f" | tr / _).o"); done

for t in "${targets[@]}"; do
  echo "  linking $out/${t}_fuzzer"
  if [[ -n $driver ]]; then
    "$cxx" "${common[@]}" "fuzz/${t}_fuzzer.cc" "$driver" "${objs[@]}" "${libs[@]}" -o "$out/${t}_replay"
  else
    "$cxx" "${common[@]}" "${cov[@]}" "${link_extra[@]}" "fuzz/${t}_fuzzer.cc" "${objs[@]}" "${libs[@]}" \
      -o "$out/${t}_fuzzer"
  fi
done

if [[ $mode == --seeds ]]; then
  "$cxx" "${common[@]}" fuzz/make_seeds.cc "${objs[@]}" "${libs[@]}" -o "$out/make_seeds"
  rm -rf fuzz/corpus
  ASAN_OPTIONS=detect_leaks=0 "$out/make_seeds" fuzz/corpus
  du -sh fuzz/corpus
fi
