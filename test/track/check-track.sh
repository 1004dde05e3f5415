#!/bin/sh
# check-track.sh valgrind|asan PROGRAM: runs test-track under the checker and checks the report
# names the leak and the use after free at the program's own lines (it prints them first).
set -u
mode=$1; prog=$2
out=$(mktemp); trap 'rm -f "$out"' EXIT
if [ "$mode" = valgrind ]; then
  command -v valgrind >/dev/null || { echo "skipped: valgrind not installed (apt-get install valgrind)"; exit 77; }
  valgrind --leak-check=full --show-leak-kinds=definite --error-exitcode=0 "$prog" > "$out" 2>&1
else
  ASAN_OPTIONS=detect_leaks=0 "$prog" --no-leak > "$out" 2>&1
fi
leak_line=$(sed -n 's/^leak-line=//p' "$out"); uaf_line=$(sed -n 's/^uaf-line=//p' "$out")
fail=0
if [ "$mode" = valgrind ]; then
  grep -q "Invalid read of size 1" "$out" && grep -q "test-track.c:$uaf_line" "$out" \
    || { echo "FAIL: no invalid read reported at test-track.c:$uaf_line"; fail=1; }
  grep -A8 "definitely lost" "$out" | grep -q "test-track.c:$leak_line" \
    || { echo "FAIL: no leak reported at test-track.c:$leak_line"; fail=1; }
  # the read and the leak, nothing else (the allocator's own accesses and the clean phase are clean)
  grep -q "ERROR SUMMARY: 2 errors from 2 contexts" "$out" \
    || { echo "FAIL: want exactly two errors: the invalid read and the leak"; fail=1; }
else
  grep -q "use-after-poison" "$out" && grep -q "test-track.c:$uaf_line" "$out" \
    || { echo "FAIL: no use-after-poison reported at test-track.c:$uaf_line"; fail=1; }
fi
if [ $fail -ne 0 ]; then cat "$out"; exit 1; fi
echo "ok: $mode reported the bugs at test-track.c:${leak_line:-}(leak) and :$uaf_line (use after free)"
