#!/usr/bin/env bash
# Soak: the crash loops, or simulated power loss, for as long as asked.
#
#   scripts/soak.sh [CYCLES]   (default 2000 per crash-loop variant)
#
# Runs the 'soak' suite (tests/meson.build): the writer crash loops of
# tests/crash_test.cc (commit, none, periodic durability, and compacting)
# with CYCLES cycles each, and the compaction crash loop with CYCLES/10.
# Prints, per loop, how many cycles it survived, then cycles per second.
# TXJ_TEST_SEED changes the seed. Ends with "N passed, N failed".
#
#   scripts/soak.sh --power-loss [--states N] [--seconds S] [--jobs J] [--from I]
#
# Simulated power loss at random (tests/power_loss_test.cc, its soak test
# case): workloads with commit, none and periodic durability and with
# compaction, one after the other, each with a seed of its own; a random
# quarter of each workload's crash moments, random page fates (kept, lost,
# zeroed, garbled, torn; renames undone) for each. J processes (default 2)
# share the work until N disk states (default 1000000) were checked or S
# seconds passed. Iterations are numbered: --from I starts at iteration I,
# and the run ends by printing the iteration to resume from, so runs add up
# to a larger sample without checking a state twice. Prints states checked,
# states per second and violations (failed checks, each naming its crash
# moment and page pattern in the logs); exits non-zero on any violation.
# Logs: BUILD/meson-logs/power-loss-soak-JOB.txt. TXJ_POWER_LOSS_STATES sets
# the disk states per crash moment (default 12).
set -euo pipefail
cd "$(dirname "$0")/.."
power_loss=0 states=1000000 seconds= jobs=2 from=0 cycles=2000
while (($#)); do
  case $1 in
    --power-loss) power_loss=1 ;;
    --states) states=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --from) from=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) cycles=$1 ;;
  esac
  shift
done
scripts/install-deps.sh
builddir=${TXJ_BUILD_DIR:-build}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true
fi

if ((power_loss)); then
  ninja -C "$builddir" tests/power_loss_test
  mkdir -p "$builddir/meson-logs"
  start=$(date +%s.%N)
  pids=()
  for ((j = 0; j < jobs; j++)); do
    log=$builddir/meson-logs/power-loss-soak-$j.txt
    TXJ_SOAK=1 TXJ_POWER_LOSS_SOAK_STATES=$(((states + jobs - 1) / jobs)) TXJ_POWER_LOSS_SOAK_SECONDS=$seconds \
      TXJ_POWER_LOSS_SOAK_FIRST=$((from + j)) TXJ_POWER_LOSS_SOAK_STRIDE=$jobs \
      "$builddir/tests/power_loss_test" -tc="power-loss soak*" >"$log" 2>&1 &
    pids+=($!)
  done
  status=0
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  end=$(date +%s.%N)
  checked=0 violations=0 next=$from
  for ((j = 0; j < jobs; j++)); do
    log=$builddir/meson-logs/power-loss-soak-$j.txt
    grep -h "^power-loss soak: iterations" "$log" || true
    n=$(sed -n 's/.* \([0-9]*\) states checked.*/\1/p' "$log" | tail -1)
    checked=$((checked + ${n:-0}))
    f=$(sed -n 's/^\[doctest\] assertions:.*| *\([0-9]*\) failed.*/\1/p' "$log" | tail -1)
    violations=$((violations + ${f:-0}))
    if [[ -z $f ]]; then echo "job $j did not finish (see $log)"; status=1; fi
    i=$(sed -n 's/^power-loss soak: next iteration \([0-9]*\)/\1/p' "$log" | tail -1)
    if [[ -n $i ]] && ((i > next)); then next=$i; fi
  done
  rate=$(/usr/bin/python3 -c "print(f'{$checked / max($end - $start, 1e-9):.1f}')")
  wall=$(/usr/bin/python3 -c "print(f'{$end - $start:.0f}')")
  echo "power-loss soak: $checked states checked in $wall s with $jobs jobs ($rate states/s), $violations violations"
  echo "power-loss soak: resume with: scripts/soak.sh --power-loss --from $next ..."
  if ((violations > 0)); then status=1; fi
  exit $status
fi

ninja -C "$builddir"
status=0
start=$(date +%s.%N)
TXJ_CRASH_CYCLES=$cycles TXJ_COMPACTION_CRASH_CYCLES=$(((cycles + 9) / 10)) \
  meson test -C "$builddir" --setup soak --suite soak --verbose --num-processes 2 || status=$?
end=$(date +%s.%N)
grep -ho "crash loop ([^)]*): [A-Za-z]* [^,]*cycles" "$builddir"/meson-logs/testlog-soak.txt 2>/dev/null || true
survived=$({ grep -ho "crash loop ([^)]*): [A-Za-z]* [0-9]* of" "$builddir"/meson-logs/testlog-soak.txt 2>/dev/null || true; } |
  awk '{s += $(NF-1)} END {print s + 0}')
/usr/bin/python3 -c "print(f'crash loops: {$survived} cycles in {$end - $start:.0f} s ({$survived / max($end - $start, 1e-9):.1f} cycles/s)')"
python3 scripts/summarize.py "$builddir/meson-logs/testlog-soak.json"
exit $status
