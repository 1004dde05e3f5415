#!/usr/bin/env bash
# prodcons-compare.sh [PRODCONS] [-- ARGS...]: the producer/consumer workload of test-prodcons
# (test/stress/test-prodcons.c: producers allocate 64/256/1024-byte blocks in batches, consumers
# free them, so pages fill up and come back through remote frees) under each allocator on the
# machine, swapped in with LD_PRELOAD into the very same binary. Builds nothing.
#
#   PRODCONS  the test-prodcons binary, not linked with shardalloc (default build/test/test-prodcons)
#   ARGS      passed to every run (default: none, i.e. 2 producers, 2 consumers, 2e7 blocks)
#   RUNS      environment: interleaved rounds (default 3); SHARDALLOC_LIB: the library to preload
#             as shardalloc (default build/libshardalloc.so)
#
# Runs the allocators interleaved (round 1: each once, round 2: each once, ...) so that drift of
# the machine spreads over all of them, then prints the median ops/s (one op = one malloc or one
# free) of each and its ratio to shardalloc. Peers that are not installed are skipped with a
# message. Each run must report that malloc came from the preloaded library (glibc: libc itself).
set -u
cd "$(dirname "$0")/.."

bin=build/test/test-prodcons
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  bin=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
runs=${RUNS:-3}
shardalloc_lib=${SHARDALLOC_LIB:-build/libshardalloc.so}
libdir=/usr/lib/x86_64-linux-gnu

if [ ! -x "$bin" ]; then
  echo "prodcons-compare: '$bin' not found or not executable (run make first)" >&2
  exit 2
fi
# A binary linked with libshardalloc.so would run shardalloc under the "glibc" label.
if ldd "$bin" 2>/dev/null | grep -q libshardalloc; then
  echo "prodcons-compare: '$bin' is linked with libshardalloc; use the plain build/test/test-prodcons" >&2
  exit 2
fi
case "$shardalloc_lib" in /*) ;; *) shardalloc_lib="$PWD/$shardalloc_lib" ;; esac

# name, library to preload ("" = none), what `malloc from` must contain
names=() libs=() marks=()
add() { names+=("$1"); libs+=("$2"); marks+=("$3"); }
if [ -f "$shardalloc_lib" ]; then
  add shardalloc "$shardalloc_lib" libshardalloc
else
  echo "prodcons-compare: $shardalloc_lib missing (run make first)" >&2
  exit 2
fi
add glibc "" libc.so
for peer in mimalloc:libmimalloc.so.2 jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 \
            tbbmalloc:libtbbmalloc_proxy.so.2; do
  name=${peer%%:*} file=${peer#*:}
  if [ -f "$libdir/$file" ]; then
    add "$name" "$libdir/$file" "${file%%.so*}"
  else
    echo "prodcons-compare: skipping $name ($libdir/$file not installed)"
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "prodcons-compare: $bin${*:+ $*}, $runs interleaved rounds, ${#names[@]} allocators"
status=0
for ((r = 1; r <= runs; r++)); do
  for i in "${!names[@]}"; do
    out=$tmp/${names[$i]}.$r
    if [ -n "${libs[$i]}" ]; then
      env LD_PRELOAD="${libs[$i]}" "$bin" --quiet "$@" >"$out" 2>&1
    else
      "$bin" --quiet "$@" >"$out" 2>&1
    fi
    rc=$?
    line=$(grep -m1 ' ops/s ' "$out")
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
      echo "prodcons-compare: ${names[$i]} run $r failed (exit $rc):" >&2
      cat "$out" >&2
      status=1
      continue
    fi
    if ! grep -q "malloc from [^)]*${marks[$i]}" <<<"$line"; then
      echo "prodcons-compare: ${names[$i]} run $r: malloc not served by ${marks[$i]}: $line" >&2
      status=1
      continue
    fi
    rate=$(awk '{ for (k = 1; k < NF; k++) if ($(k + 1) == "ops/s") { print $k; exit } }' <<<"$line")
    echo "$rate" >>"$tmp/${names[$i]}.rates"
    printf '  round %d  %-10s %12.0f ops/s\n' "$r" "${names[$i]}" "$rate"
  done
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=""
[ -s "$tmp/shardalloc.rates" ] && base=$(median "$tmp/shardalloc.rates")
echo
printf '%-10s %14s %10s\n' allocator "median ops/s" "vs shardalloc"
for name in "${names[@]}"; do
  [ -s "$tmp/$name.rates" ] || { printf '%-10s %14s\n' "$name" "(failed)"; continue; }
  m=$(median "$tmp/$name.rates")
  if [ -n "$base" ]; then
    ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
  else
    ratio="-"
  fi
  printf '%-10s %14.0f %10s\n' "$name" "$m" "$ratio"
done
exit $status
