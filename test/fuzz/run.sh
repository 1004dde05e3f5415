#!/usr/bin/env bash
# `make fuzz`: runs the libFuzzer target for FUZZ_SECONDS (300) on the committed corpus
# (test/fuzz/corpus/, read only) plus a fresh temporary directory that receives the new inputs;
# FUZZ_MERGE=1 merges those into the corpus afterwards (-merge=1 keeps only inputs that add
# coverage). A crash or failed check leaves its input in <build>/artifacts/ and the temporary
# directory in place. Ends with one summary line: executions, exec/s, coverage, corpus size.
# Usage: run.sh FUZZER [libFuzzer flags...]
set -u -o pipefail
fuzzer=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
seconds=${FUZZ_SECONDS:-300}
artifacts=$(dirname "$fuzzer")/artifacts
work=$(mktemp -d "${TMPDIR:-/tmp}/shardalloc-fuzz.XXXXXX")
mkdir -p "$artifacts" "$work/new"
log=$work/fuzz.log

# -max_len: 4 KiB is several hundred operations; -timeout: a hang (deadlock) counts as a failure;
# -rss_limit_mb: live blocks are bounded at 40 MiB by the harness, the rest is cached memory and
# libFuzzer's own. AddressSanitizer's quarantine only delays the reuse of libFuzzer's allocations
# (shardalloc's blocks are not in its heap): 32 MiB instead of 256 keeps the RSS down.
export ASAN_OPTIONS="quarantine_size_mb=32:${ASAN_OPTIONS:-}"
# The terminal gets libFuzzer's periodic and final lines and any report; the per-input lines
# (NEW, REDUCE) and the dictionary it recommends stay in the log.
echo "fuzz: $fuzzer for $seconds s on $corpus (new inputs: $work/new, log: $log)"
"$fuzzer" "$work/new" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=60 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" 2>&1 |
  tee "$log" | grep --line-buffered -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)|^"|dictionary\. #+$'
status=${PIPESTATUS[0]}

new=$(find "$work/new" -type f | wc -l)
if [ "$status" -eq 0 ] && [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$new" -gt 0 ]; then
  before=$(find "$corpus" -type f | wc -l)
  "$fuzzer" -merge=1 "$corpus" "$work/new" >"$work/merge.log" 2>&1 || {
    echo "fuzz: the merge failed (log: $work/merge.log)"
    exit 1
  }
  echo "fuzz: merged $(($(find "$corpus" -type f | wc -l) - before)) of $new new inputs into $corpus"
fi

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | grep -o 'cov: [0-9]*')
ft=$(printf '%s\n' "$last" | grep -o 'ft: [0-9]*')
corp=$(printf '%s\n' "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*')
if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status) after ${execs:-?} executions; input: $(ls -t "$artifacts" | head -n 1 | sed "s|^|$artifacts/|")"
  echo "fuzz: replay it with: FUZZ_TRACE=1 $fuzzer <input>; the run's files are in $work"
  exit "$status"
fi
rm -rf "$work"
echo "fuzz: ${execs:-?} executions in $seconds s, ${rate:-?} exec/s, $cov, $ft, $corp, $new new inputs"
