#!/usr/bin/env bash
# preload.sh LIB: real programs run with LD_PRELOAD=LIB (libshardalloc.so) must behave exactly as
# without it. Checks:
#   - MIMALLOC_VERBOSE=1 prints "shardalloc: process init" on stderr, which proves that the library
#     was loaded and served the process (a wrong preload path only makes ld.so warn and run glibc);
#   - python3 building a dict of PRELOAD_PY_COUNT (default 2,000,000) entries prints its length;
#   - shell pipelines (seq | sort | uniq | awk, ls -la | sort | head, awk hash tables) and a
#     python3 JSON round trip of a big structure (4 threads x PRELOAD_JSON_COUNT records, default
#     10,000, about 5 MB of JSON) built and serialised by threads: stdout, stderr and exit status
#     byte-for-byte equal to the run without preload.
# Environment: PRELOAD_PY_COUNT, PRELOAD_SEQ_COUNT, PRELOAD_JSON_COUNT (records per thread); all
# three are smaller in the debug build. PRELOAD_MARKER: the init line to look for (only to try this
# script against another allocator).
# Exit status: 0 all passed, 1 a check failed, 77 skipped (python3 not installed).
set -u

lib=${1:-}
if [ -z "$lib" ]; then
  echo "usage: $0 path/to/libshardalloc.so" >&2
  exit 2
fi
marker=${PRELOAD_MARKER:-"shardalloc: process init"}
py_count=${PRELOAD_PY_COUNT:-2000000}
seq_count=${PRELOAD_SEQ_COUNT:-200000}
json_count=${PRELOAD_JSON_COUNT:-10000}

if ! command -v python3 >/dev/null 2>&1; then
  echo "preload: SKIP: python3 is not installed"
  exit 77
fi
# Resolve the real interpreter once (python3 may be a wrapper script, e.g. a pyenv shim).
python=$(python3 -c 'import sys; print(sys.executable)') || python=$(command -v python3)

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "  ok: $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL: $*" >&2; }

if [ ! -f "$lib" ]; then
  echo "preload: FAIL: library '$lib' does not exist" >&2
  exit 1
fi
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac

# Allocator options from the caller's environment would change what the library prints.
for v in $(env | sed -n 's/^\(MIMALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "preload: LD_PRELOAD=$lib with real programs (python: $python)"

# 1. The library initialises and says so.
env MIMALLOC_VERBOSE=1 LD_PRELOAD="$lib" true >"$tmp/init.out" 2>"$tmp/init.err"
rc=$?
if [ $rc -eq 0 ] && grep -qF "$marker" "$tmp/init.err"; then
  pass "MIMALLOC_VERBOSE=1 LD_PRELOAD=lib true prints '$marker'"
else
  fail "MIMALLOC_VERBOSE=1 LD_PRELOAD=lib true (exit $rc) did not print '$marker'; stderr was:"
  head -n 20 "$tmp/init.err" >&2
fi

# 2. A malloc-heavy python3 run gives the right answer.
py_dict="d={i:str(i)*3 for i in range($py_count)}; print(len(d))"
out=$(LD_PRELOAD="$lib" "$python" -c "$py_dict" 2>"$tmp/py.err")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "$py_count" ] && [ ! -s "$tmp/py.err" ]; then
  pass "python3 dict of $py_count entries prints $py_count"
else
  fail "python3 dict of $py_count entries: exit $rc, printed '$out'" \
    "(expected '$py_count' and an empty stderr); stderr:"
  head -n 20 "$tmp/py.err" >&2
fi

# 3. Programs give byte-for-byte the same output, errors and status with and without the preload.
# compare NAME COMMAND: COMMAND is run by sh -c, so the preload reaches every process of a pipeline.
n=0
compare() {
  local name=$1 cmd=$2
  n=$((n + 1))
  sh -c "$cmd" >"$tmp/ref$n.out" 2>"$tmp/ref$n.err"
  local rc_ref=$?
  LD_PRELOAD="$lib" sh -c "$cmd" >"$tmp/pre$n.out" 2>"$tmp/pre$n.err"
  local rc_pre=$?
  if [ $rc_ref -ne $rc_pre ]; then
    fail "$name: exit status $rc_pre with preload, $rc_ref without"
    head -n 20 "$tmp/pre$n.err" >&2
  elif ! cmp -s "$tmp/ref$n.out" "$tmp/pre$n.out"; then
    fail "$name: stdout differs with preload" \
      "($(wc -c <"$tmp/pre$n.out") vs $(wc -c <"$tmp/ref$n.out") bytes):"
    diff "$tmp/ref$n.out" "$tmp/pre$n.out" | head -n 20 >&2
  elif ! cmp -s "$tmp/ref$n.err" "$tmp/pre$n.err"; then
    fail "$name: stderr differs with preload:"
    diff "$tmp/ref$n.err" "$tmp/pre$n.err" | head -n 20 >&2
  elif [ ! -s "$tmp/ref$n.out" ]; then
    fail "$name: printed nothing, so the comparison proves nothing"
  else
    pass "$name ($(wc -c <"$tmp/pre$n.out") bytes of output identical, exit $rc_pre)"
  fi
}

compare "seq | sort -n | uniq | awk sum" \
  "seq 1 $seq_count | sort -n | uniq | awk '{s+=\$1} END {print s}'"
compare "seq | sort -r | awk hash table" \
  "seq 1 $seq_count | sort -r | awk '{a[\$1 % 1000] += \$1; b[\$1] = \$1 \"x\"}
    END {for (k in a) s += a[k]; print s, length(a), length(b)}'"
compare "ls -la /usr/lib | sort | head" "ls -la /usr/lib | sort | head -n 50"

cat >"$tmp/json_threads.py" <<'EOF'
import hashlib, json, sys, threading
n = int(sys.argv[1])
parts = {}
def build(k):
    parts["part%d" % k] = [{"id": i, "name": "item-%d-%d" % (k, i),
                            "tags": [str(j) * (j % 5) for j in range(i % 9)], "value": i * 0.25,
                            "nested": {"k": k, "list": list(range(i % 13))}} for i in range(n)]
threads = [threading.Thread(target=build, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
text = json.dumps(parts, sort_keys=True)
back = json.loads(text)
assert back == parts, "round trip changed the data"
# Serialise again from several threads at once; every copy must be identical.
copies = [None] * 4
def dump(k): copies[k] = json.dumps(back, sort_keys=True)
threads = [threading.Thread(target=dump, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert all(c == text for c in copies), "concurrent dumps differ"
print(len(text), hashlib.sha256(text.encode()).hexdigest())
EOF
compare "python3 json round trip with 4 threads" \
  "'$python' '$tmp/json_threads.py' $json_count"

echo "preload: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
