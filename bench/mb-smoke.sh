#!/bin/sh
# bench-mb-smoke (ctest): bench/mb.py against a fake mimalloc-bench tree, in a second or two.
#   mb-smoke.sh PYTHON MB_PY LAUNCHER LIBSHARDALLOC WORKDIR
# The fake tree has two programs, shell scripts named after mimalloc-bench's: `cfrac` (timed by
# its wall time) and `larson` (which prints the relative time the runner must take from its
# output). Checks: --list finds those two, says the others are not built and warns that the
# commit is not the pinned one; a one-run measurement under shardalloc alone (the probe must see
# the shell's malloc bound to the library) writes a report with larson's reported time in it.
set -eu
py=$1 mb=$2 launcher=$3 lib=$4 work=$5
fail() { echo "bench-mb-smoke: FAILED: $*" >&2; exit 1; }

rm -rf "$work" && mkdir -p "$work/src/out/bench"
printf '#!/bin/sh\necho "factored: $1"\n' > "$work/src/out/bench/cfrac"
printf '#!/bin/sh\necho "Throughput = 1 operations per second, relative time: 4.375s."\n' \
  > "$work/src/out/bench/larson"
chmod +x "$work/src/out/bench/cfrac" "$work/src/out/bench/larson"

"$py" "$mb" --mb-src "$work/src" --shardalloc "$lib" --allocators shardalloc --list \
  > "$work/list.txt" 2>&1 || fail "--list exited $?: $(cat "$work/list.txt")"
grep -q "^  cfrac  *$work/src/out/bench/cfrac 175451" "$work/list.txt" || fail "cfrac not listed"
grep -q "^  larsonN  *$work/src/out/bench/larson 5 8 1000" "$work/list.txt" || fail "larsonN"
grep -q "^  mstressN  *not found (not built in" "$work/list.txt" || fail "mstressN not missing"
grep -q "^WARNING: the pinned mimalloc-bench commit is" "$work/list.txt" || fail "no warning"
grep -q "^allocators: shardalloc$" "$work/list.txt" || fail "allocators line"

MB_SRC="$work/src" "$py" "$mb" --launcher "$launcher" --shardalloc "$lib" \
  --allocators shardalloc --programs cfrac,larsonN --runs 1 --no-chart --out "$work/out" \
  --name smoke > "$work/run.txt" 2>&1 || fail "the run exited $?: $(cat "$work/run.txt")"
grep -q "^| larsonN | 4.38 |" "$work/out/smoke.md" || fail "larson's relative time not taken"
grep -q "^| cfrac | " "$work/out/smoke.md" || fail "no cfrac row"
grep -q "FAILED" "$work/run.txt" && fail "a run failed: $(cat "$work/run.txt")"
echo "bench-mb-smoke: list, probe, run and report OK"
