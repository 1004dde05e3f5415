#!/bin/sh
# fuzz-selftest, fuzz-api-selftest: each input of DIR damages one byte of a live block in a
# FUZZ_SELFTEST build of the harness (REPLAY: fuzz-ops or fuzz-api); every one must end in abort()
# (exit 134) with the harness's "FAILED" report naming a byte that differs from the model.
# Usage: selftest.sh REPLAY DIR
replay=$1
dir=$2
passed=0
failed=0
echo "fuzz-selftest: a damaged byte in a block must abort the harness with a report"
for input in "$dir"/*; do
  out=$("$replay" "$input" 2>&1)
  status=$?
  report=$(printf '%s\n' "$out" | grep -E 'fuzz-(ops|api): FAILED')
  if [ "$status" -eq 134 ] && printf '%s\n' "$report" | grep -q 'byte [0-9]* is 0x'; then
    echo "  ok: $(basename "$input"): $report"
    passed=$((passed + 1))
  else
    echo "  FAIL: $(basename "$input"): exit status $status, expected 134 (abort) and a report"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done
echo "fuzz-selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
