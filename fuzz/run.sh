#!/usr/bin/env bash
# Runs the libFuzzer targets (built by fuzz/build.sh).
#
#   fuzz/run.sh [SECONDS] [TARGET...]  fuzz each target (record, recovery,
#                                      dump, load; default all) for SECONDS
#                                      (default 60), one after the other,
#                                      each as TXJ_FUZZ_WORKERS processes
#                                      (default 2); new inputs go to
#                                      build-fuzz/work/<target>, crashes to
#                                      build-fuzz/crash-<target>-*, logs to
#                                      build-fuzz/fuzz-<target>-<worker>.log
#   fuzz/run.sh --replay               run every input of fuzz/corpus/ once
#                                      through its libFuzzer target (ASan +
#                                      UBSan) with the targets' full checks
#                                      (TXJ_FUZZ_FULL=1: the slow on-disk
#                                      paths too), reporting every failing
#                                      target (CI runs this; the plain test
#                                      suite replays the corpora too, suite
#                                      'fuzz')
#
# Fuzzing runs without the full checks, for speed (see fuzz_dir.h); the
# recovery and dump targets mutate journals at the record level
# (journal_mutator.h). Prints per target: the executions of all its workers
# (each worker's libFuzzer final stats, summed), their executions per second
# of wall time, each worker's own rate and coverage, and the result; then a
# summary table.
# TXJ_FUZZ_ARGS: more libFuzzer flags for every target (-jobs, -dict, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TXJ_FUZZ_BUILD:-build-fuzz}
all=(record recovery dump load)
asan_default=detect_leaks=1:abort_on_error=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan_default}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# The binary of target $1: from its own build directory when it has a
# coverage list of its own (fuzz/build.sh).
binary() {
  if [[ -f fuzz/coverage-ignore-$1.txt ]]; then echo "$out-$1/fuzz/$1_fuzzer"; else echo "$out/fuzz/$1_fuzzer"; fi
}

max_len() {
  case $1 in
    record) echo 4096 ;;
    load) echo 65536 ;;
    *) echo 200000 ;;
  esac
}

if [[ ${1:-} == --replay ]]; then
  # TXJ_FUZZ_REPLAY_LOG: also write one JSON line per target, as meson's
  # testlog.json does (scripts/summarize.py counts them).
  replay_log=${TXJ_FUZZ_REPLAY_LOG:-/dev/null}
  export TXJ_FUZZ_FULL=${TXJ_FUZZ_FULL:-1}
  fuzz/build.sh --replay >/dev/null
  status=0
  for t in "${all[@]}"; do
    if "$out/fuzz/${t}_fuzzer" -runs=0 "fuzz/corpus/$t" 2>"$out/replay-$t.log"; then
      echo "fuzz replay: $t ok ($(ls "fuzz/corpus/$t" | wc -l) inputs, libFuzzer build with ASan+UBSan)"
      echo "{\"name\": \"fuzz replay $t\", \"result\": \"OK\"}" >>"$replay_log"
    else
      cat "$out/replay-$t.log" >&2
      echo "fuzz replay: $t FAILED" >&2
      echo "{\"name\": \"fuzz replay $t\", \"result\": \"FAIL\"}" >>"$replay_log"
      status=1
    fi
  done
  exit $status
fi

secs=${1:-60}
# Fuzzing (not --replay): ASan records 5 frames of the stack of each
# allocation and free instead of 30 (malloc_context_size). That only
# shortens the "allocated by" and "freed by" stacks of a report (a
# use-after-free names the 5 innermost frames of where the memory was
# allocated and freed; the stack of the bad access itself is whole); the
# checks are the same. Recording those stacks was 9% of the recovery
# target's time, 5% with 5 frames. Replay a crash input (fuzz/run.sh
# --replay, or the binary with the input as its argument) for whole stacks.
# And ASan keeps freed memory out of reuse (its quarantine, where a
# use-after-free is caught) up to 16 MiB instead of 256: an input of these
# targets frees well under 1 MiB, so a use of memory freed in the same
# input, or in the dozens of inputs before it, is still caught; a worker
# cycling through 256 MiB of quarantine (a resident size of 400 MiB) spent
# a third more CPU per execution (cache and page faults), the same
# executions with the same coverage. Replays keep ASan's default.
[[ $ASAN_OPTIONS != "$asan_default" ]] || export ASAN_OPTIONS=$asan_default:malloc_context_size=5:quarantine_size_mb=16
shift || true
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
# TXJ_FUZZ_WORKERS: processes per target (default 2, one per core of the
# 2-core machine this runs on). They fuzz the same work directory: each
# writes its new inputs there and rereads it every second (libFuzzer's
# -reload), so they share what the others find.
workers=${TXJ_FUZZ_WORKERS:-2}
# While the workers run, their work directory is a copy on tmpfs
# (TXJ_FUZZ_TMP, default /dev/shm), copied back to $out/work/<target>
# when they stop (or run.sh is interrupted): libFuzzer writes a file for
# every new input and replaces one for every reduced input, and creating
# files on the ext4 disk here cost 2% (recovery) to 7% (load) of a worker's
# time, more than on tmpfs. Without a writable TXJ_FUZZ_TMP they work in
# $out/work/<target> itself.
tmp_root=${TXJ_FUZZ_TMP:-/dev/shm}
work="" work_of=""
copy_back() {
  if [[ -n $work && -d $work ]]; then
    rm -rf "$work_of.old"
    mv "$work_of" "$work_of.old"
    cp -a "$work" "$work_of" && rm -rf "$work_of.old" "$work"
  fi
  work=""
}
trap copy_back EXIT
fuzz/build.sh
status=0
summary=()
now() { date +%s.%N; }
# CPU seconds (user + system) of this shell's waited-for children so far
# (bash's times, run in this shell: a command substitution's subshell
# would report its own children).
children_cpu() {
  times >"$out/.times"
  tail -1 "$out/.times" | sed -E 's/([0-9]+)m([0-9.]+)s ([0-9]+)m([0-9.]+)s/\1*60+\2+\3*60+\4/' | bc
}
for t in "${targets[@]}"; do
  mkdir -p "$out/work/$t"
  dir="$out/work/$t"
  if [[ -d $tmp_root && -w $tmp_root ]]; then
    work_of=$dir
    work=$(mktemp -d "$tmp_root/txj-fuzz-work-$t.XXXXXX")
    cp -a "$dir/." "$work/"
    dir=$work
  fi
  pids=()
  children_cpu >"$out/.cpu0"
  cpu0=$(cat "$out/.cpu0")
  start=$(now)
  for ((w = 1; w <= workers; w++)); do
    # shellcheck disable=SC2086
    "$(binary "$t")" "$dir" "fuzz/corpus/$t" -max_total_time="$secs" -max_len="$(max_len "$t")" \
      -print_final_stats=1 -artifact_prefix="$out/crash-$t-" -timeout=20 ${TXJ_FUZZ_ARGS:-} \
      >"$out/fuzz-$t-$w.log" 2>&1 &
    pids+=($!)
  done
  execs=0 rates=() covs=() failed=()
  for ((w = 1; w <= workers; w++)); do
    rc=0
    wait "${pids[w - 1]}" || rc=$?
    log="$out/fuzz-$t-$w.log"
    # libFuzzer's own final figures of this worker.
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    c=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    execs=$((execs + ${n:-0}))
    rates+=("${r:-?}")
    covs+=("${c:-?}")
    if ((rc != 0)) || [[ -z $n ]]; then failed+=("worker $w exit $rc, see $log"); fi
  done
  wall=$(echo "$(now) - $start" | bc)
  copy_back  # after the wall time: the executions are done
  rate=$(echo "$execs / $wall" | bc)
  children_cpu >"$out/.cpu1"
  cpu=$(echo "$(cat "$out/.cpu1") - $cpu0" | bc)
  per_cpu=$(echo "if ($cpu > 0) $execs / $cpu else 0" | bc)
  if ((${#failed[@]} == 0)); then result=ok; else result="FAILED (${failed[*]})"; status=1; fi
  echo "fuzz $t: $workers worker$( ((workers == 1)) || echo s), $(printf %.1f "$wall") s of wall time, $execs executions in all," \
    "$rate exec/s of wall time (workers' own exec/s: ${rates[*]}; $per_cpu per CPU second, $(printf %.1f "$cpu")" \
    "CPU s), cov: ${covs[*]}, $result"
  summary+=("$(printf '%-9s %7s %5s %12s %10s %9s  %s' "$t" "$workers" "$(printf %.1f "$wall")" "$execs" "$rate" "$per_cpu" "$result")")
done
echo
echo "summary (executions: the sum of each worker's libFuzzer final stats; exec/s: that sum"
echo "over run.sh's wall time for the target, starting the workers and loading the corpus included;"
echo "exec/cpu: that sum over the workers' CPU seconds, user + system, for a machine that was not idle):"
printf '%-9s %7s %5s %12s %10s %9s  %s\n' target workers wall executions exec/s exec/cpu result
printf '%s\n' "${summary[@]}"
exit $status
