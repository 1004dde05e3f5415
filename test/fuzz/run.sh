#!/usr/bin/env bash
# `make fuzz-ops`, `make fuzz-api` (`make fuzz`: both): runs a libFuzzer target for FUZZ_SECONDS
# (300) on its committed corpus (test/fuzz/corpus/ for fuzz-ops, corpus-api/ for fuzz-api; read
# only) plus a fresh temporary directory that receives the new inputs; FUZZ_MERGE=1 merges those
# into the corpus afterwards (-merge=1 keeps only inputs that add coverage). A crash or failed
# check leaves its input in <build>/artifacts/ and the temporary directory in place. Ends with one
# summary line: executions, exec/s (wall clock, and per CPU second of the fuzzer: the figure that
# does not depend on what else the machine runs), coverage, corpus size.
# Usage: run.sh FUZZER [libFuzzer flags...]
set -u -o pipefail
fuzzer=$1
shift
name=$(basename "$fuzzer")
here=$(cd "$(dirname "$0")" && pwd)
# -max_len: fuzz-ops' 4 KiB is several hundred operations; fuzz-api's inputs stay short (512 B,
# about 70 operations) so that it runs thousands a second.
case "$name" in
  fuzz-api) corpus=$here/corpus-api max_len=512 ;;
  *) corpus=$here/corpus max_len=4096 ;;
esac
seconds=${FUZZ_SECONDS:-300}
artifacts=$(dirname "$fuzzer")/artifacts
work=$(mktemp -d "${TMPDIR:-/tmp}/shardalloc-$name.XXXXXX")
mkdir -p "$artifacts" "$work/new"
log=$work/fuzz.log

# -timeout: a hang (deadlock) counts as a failure; -rss_limit_mb: live blocks are bounded at
# 40 MiB by the harnesses, the rest is cached memory and libFuzzer's own. AddressSanitizer's
# quarantine only delays the reuse of libFuzzer's allocations (shardalloc's blocks are not in its
# heap): 32 MiB instead of 256 keeps the RSS down.
export ASAN_OPTIONS="quarantine_size_mb=32:${ASAN_OPTIONS:-}"
# The terminal gets libFuzzer's periodic and final lines and any report; the per-input lines
# (NEW, REDUCE) and the dictionary it recommends stay in the log. `time` measures the CPU the
# fuzzer used (its output goes to $work/time; the pipeline's own stderr is in the pipe).
echo "$name: $fuzzer for $seconds s on $corpus (new inputs: $work/new, log: $log)"
TIMEFORMAT='%U %S'
{ time { "$fuzzer" "$work/new" "$corpus" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" 2>&1 |
    tee "$log" | grep --line-buffered -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)|^"|dictionary\. #+$'
    echo "${PIPESTATUS[0]}" > "$work/status"; }; } 2> "$work/time"
status=$(cat "$work/status")

new=$(find "$work/new" -type f | wc -l)
if [ "$status" -eq 0 ] && [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$new" -gt 0 ]; then
  before=$(find "$corpus" -type f | wc -l)
  "$fuzzer" -merge=1 "$corpus" "$work/new" >"$work/merge.log" 2>&1 || {
    echo "$name: the merge failed (log: $work/merge.log)"
    exit 1
  }
  echo "$name: merged $(($(find "$corpus" -type f | wc -l) - before)) of $new new inputs into $corpus"
fi

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | grep -o 'cov: [0-9]*')
ft=$(printf '%s\n' "$last" | grep -o 'ft: [0-9]*')
corp=$(printf '%s\n' "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*')
cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$work/time" 2>/dev/null)
cpu_rate=$(awk -v n="${execs:-0}" '{ t = $1 + $2; if (t > 0) printf "%d", n / t }' "$work/time" 2>/dev/null)
if [ "$status" -ne 0 ]; then
  echo "$name: FAILED (exit $status) after ${execs:-?} executions; input: $(ls -t "$artifacts" | head -n 1 | sed "s|^|$artifacts/|")"
  echo "$name: replay it with: FUZZ_TRACE=1 $fuzzer <input>; the run's files are in $work"
  exit "$status"
fi
rm -rf "$work"
echo "$name: ${execs:-?} executions in $seconds s, ${rate:-?} exec/s (${cpu_rate:-?} per CPU second, ${cpu:-?} s of CPU), $cov, $ft, $corp, $new new inputs"
