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
#   scripts/soak.sh --kill [--cycles N] [--loop-cycles L] [--jobs J] [--seconds S] [--from I]
#
# The writer crash loops at scale: J processes (default 4; a cycle mostly
# waits for its kill moment) run tests/crash_test.cc one after the other,
# each time with a seed of its own (iteration i: TXJ_TEST_SEED = seed + 4 i)
# and L cycles (default 100) in each of its four loops (commit, none,
# periodic durability, compacting), so 4 L cycles an iteration, each loop
# ending with its full check from offset 0; until N cycles (default 100000)
# were survived or S seconds passed. Prints cycles, cycles per second and
# violations (failed checks; exits non-zero on any), and the iteration to
# resume from (--from). Logs: BUILD/meson-logs/kill-soak-JOB.txt.
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
#
# Both soaks keep their journal directories in /dev/shm when it is there
# (TMPDIR). A SIGKILL leaves the page cache intact, so what a killed writer
# leaves is the same on tmpfs as on a disk; the simulated power loss follows
# durability itself (its file system records what each fdatasync made
# durable), so the device's syncs are not what it checks. On a disk, syncs
# slow every cycle and the kill moment falls mostly before the writer's
# first commit.
set -euo pipefail
cd "$(dirname "$0")/.."
power_loss=0 kill=0 states=1000000 seconds= jobs= from=0 cycles=2000 kill_cycles=100000 loop_cycles=100
while (($#)); do
  case $1 in
    --power-loss) power_loss=1 ;;
    --kill) kill=1 ;;
    --cycles) kill_cycles=$2; shift ;;
    --loop-cycles) loop_cycles=$2; shift ;;
    --states) states=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --from) from=$2; shift ;;
    -h|--help) sed -n '2,52p' "$0"; exit 0 ;;
    *) cycles=$1 ;;
  esac
  shift
done
scripts/install-deps.sh
builddir=${TXJ_BUILD_DIR:-build}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true
fi
# Journal directories on tmpfs (see above), removed at the end.
if [[ -z ${TXJ_SOAK_TMPDIR:-} ]] && [[ -d /dev/shm && -w /dev/shm ]]; then
  TXJ_SOAK_TMPDIR=/dev/shm
fi
soak_tmp=$(mktemp -d "${TXJ_SOAK_TMPDIR:-${TMPDIR:-/tmp}}/txj-soak.XXXXXX")
trap 'rm -rf "$soak_tmp"' EXIT
export TMPDIR=$soak_tmp

# The end of a soak at scale: its count, rate and violations, where to
# resume, and the exit status (uses start, end, jobs and status).
#   report NAME COUNT UNIT VERB VIOLATIONS RESUME_ARGS
report() {
  local name=$1 count=$2 unit=$3 verb=$4 violations=$5 resume=$6 rate wall
  rate=$(/usr/bin/python3 -c "print(f'{$count / max($end - $start, 1e-9):.1f}')")
  wall=$(/usr/bin/python3 -c "print(f'{$end - $start:.0f}')")
  echo "$name: $count $unit $verb in $wall s with $jobs jobs ($rate $unit/s), $violations violations"
  echo "$name: resume with: scripts/soak.sh $resume ..."
  if ((violations > 0)); then status=1; fi
  exit "$status"
}

if ((kill)); then
  jobs=${jobs:-4}
  ninja -C "$builddir" tests/crash_test
  mkdir -p "$builddir/meson-logs"
  base_seed=${TXJ_TEST_SEED:-20261122}
  abs_build=$(cd "$builddir" && pwd)
  per_job=$(((kill_cycles + jobs - 1) / jobs))
  start=$(date +%s)
  kill_job() {  # job index: runs iterations from+j, from+j+jobs, ... until its share or the time is reached
    local j=$1 log=$abs_build/meson-logs/kill-soak-$1.txt got=0 i=$((from + $1))
    : >"$log"
    while ((got < per_job)); do
      if [[ -n $seconds ]] && (($(date +%s) - start >= ${seconds%.*})); then break; fi
      echo "kill soak: iteration $i, seed $((base_seed + 4 * i)), $loop_cycles cycles a loop" >>"$log"
      (cd "$abs_build/tests" && TXJ_TEST_SEED=$((base_seed + 4 * i)) TXJ_CRASH_CYCLES=$loop_cycles \
        ./crash_test >>"$log" 2>&1) || echo "kill soak: iteration $i FAILED" >>"$log"
      got=$(grep -o "survived [0-9]* of" "$log" | awk '{s += $2} END {print s + 0}')
      i=$((i + jobs))
    done
    echo "kill soak: job $j next iteration $i" >>"$log"
  }
  pids=()
  for ((j = 0; j < jobs; j++)); do
    kill_job "$j" &
    pids+=($!)
  done
  status=0
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  end=$(date +%s.%N)
  survived=0 violations=0 next=$from
  for ((j = 0; j < jobs; j++)); do
    log=$builddir/meson-logs/kill-soak-$j.txt
    n=$(grep -o "survived [0-9]* of" "$log" | awk '{s += $2} END {print s + 0}')
    survived=$((survived + n))
    f=$(sed -n 's/^\[doctest\] assertions:.*| *\([0-9]*\) failed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    violations=$((violations + f))
    if grep -q "FAILED" "$log"; then
      grep -h "FAILED" "$log"
      status=1
      if ((f == 0)); then violations=$((violations + 1)); fi
    fi
    # Job j resumes at --from + j: the first iteration no job has run (or
    # skipped) is the largest of (next iteration of job j) - j.
    i=$(sed -n 's/^kill soak: job [0-9]* next iteration \([0-9]*\)/\1/p' "$log" | tail -1)
    if [[ -n $i ]] && ((i - j > next)); then next=$((i - j)); fi
  done
  report "kill soak" "$survived" cycles survived "$violations" "--kill --from $next --jobs $jobs --loop-cycles $loop_cycles"
fi

if ((power_loss)); then
  jobs=${jobs:-2}
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
    grep -h "^power-loss soak: \(iterations\|time in\)" "$log" || true
    n=$(sed -n 's/.* \([0-9]*\) states checked.*/\1/p' "$log" | tail -1)
    checked=$((checked + ${n:-0}))
    f=$(sed -n 's/^\[doctest\] assertions:.*| *\([0-9]*\) failed.*/\1/p' "$log" | tail -1)
    violations=$((violations + ${f:-0}))
    if [[ -z $f ]]; then echo "job $j did not finish (see $log)"; status=1; fi
    # As for the kill soak: job j resumes at --from + j.
    i=$(sed -n 's/^power-loss soak: next iteration \([0-9]*\)/\1/p' "$log" | tail -1)
    if [[ -n $i ]] && ((i - j > next)); then next=$((i - j)); fi
  done
  report "power-loss soak" "$checked" states checked "$violations" "--power-loss --from $next --jobs $jobs"
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
