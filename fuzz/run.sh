#!/usr/bin/env bash
# Runs the libFuzzer targets (built by fuzz/build.sh).
#
#   fuzz/run.sh [SECONDS] [TARGET...]  fuzz each target (record, recovery,
#                                      dump, load; default all) for SECONDS
#                                      (default 60); new inputs go to
#                                      build-fuzz/work/<target>, crashes to
#                                      build-fuzz/crash-<target>-*
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
# (journal_mutator.h). Prints per target: executions, executions per second,
# coverage and the result, then a summary table of them.
# TXJ_FUZZ_ARGS: more libFuzzer flags for every target (-jobs, -dict, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TXJ_FUZZ_BUILD:-build-fuzz}
all=(record recovery dump load)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

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
  fuzz/build.sh >/dev/null
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
shift || true
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
fuzz/build.sh
status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$out/work/$t"
  log="$out/fuzz-$t.log"
  rc=0
  # shellcheck disable=SC2086
  "$out/fuzz/${t}_fuzzer" "$out/work/$t" "fuzz/corpus/$t" -max_total_time="$secs" -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$out/crash-$t-" -timeout=20 ${TXJ_FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if ((rc == 0)); then result=ok; else result="FAILED (exit $rc; see $log)"; status=1; fi
  echo "fuzz $t: ${secs} s, ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-cov ?}, $result"
  summary+=("$(printf '%-9s %8s %12s %10s  %s' "$t" "$secs" "${execs:-?}" "${rate:-?}" "$result")")
done
echo
echo "summary (libFuzzer's figures; exec/s counts the whole run, loading the corpus included):"
printf '%-9s %8s %12s %10s  %s\n' target seconds executions exec/s result
printf '%s\n' "${summary[@]}"
exit $status
