#!/bin/bash
# The launcher's test (ctest launcher): its command line, the library it preloads, the options it
# passes, and that it finds the library from its own location after its tree is moved.
# Usage: test-launcher.sh LAUNCHER PROBE SECURE. LAUNCHER sits next to libshardalloc.so.0 (build
# tree); SECURE is that library's secure level (SHARDALLOC_SECURE).
set -u
launcher=$1
probe=$2
plain_level=$3
fails=0
check() { # description command...: the command must succeed
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
out() { "$@" 2>&1; echo "exit=$?"; }  # a command's output and exit status, as one text

libdir=$(cd "$(dirname "$launcher")" && pwd -P)
version=$(sed -n 's/^#define SHARDALLOC_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\)$/\2/p' \
            "$(dirname "$0")/../../include/mimalloc.h" | paste -sd.)

r=$(out "$launcher" --version)
check "--version prints $version" [ "$r" = "shardalloc $version"$'\n'"exit=0" ]
r=$(out "$launcher" --help)
check "--help prints the usage" grep -q '^Usage: shardalloc \[--secure\] \[--stats\]' <<<"$r"
check "--help exits 0" grep -qx 'exit=0' <<<"$r"
r=$(out "$launcher" --library)
check "--library names the library next to the launcher" \
  [ "$r" = "$libdir/libshardalloc.so.0"$'\n'"exit=0" ]

# The plain library serves malloc; options reach it.
r=$(out "$launcher" -- "$probe")
check "plain: malloc from libshardalloc.so.0" grep -qx "malloc: $libdir/libshardalloc.so.0" <<<"$r"
check "plain: blocks in shardalloc's heap" grep -qx 'in heap: yes' <<<"$r"
check "plain: secure level $plain_level" grep -qx "secure level: $plain_level" <<<"$r"
check "plain: verbose off by default" grep -qx 'option verbose: 0' <<<"$r"
r=$(out "$launcher" "$probe")
check "the program may come without --" grep -qx 'in heap: yes' <<<"$r"
r=$(out "$launcher" --option purge_delay=123 --option=PURGE-Delay=77 --option MIMALLOC_show_stats=0 \
      -- "$probe")
check "--option: the last setting of a name wins, names in any spelling" \
  grep -qx 'option purge_delay: 77' <<<"$r"
check "--option: exit 0" grep -qx 'exit=0' <<<"$r"
r=$(out "$launcher" --verbose -- "$probe")
check "--verbose sets verbose" grep -qx 'option verbose: 1' <<<"$r"
check "--verbose: the library's messages" grep -q "^shardalloc: option 'purge_delay'" <<<"$r"
r=$(out "$launcher" --stats -- /bin/true)
check "--stats: statistics at exit" grep -q '^heap stats: ' <<<"$r"
r=$(MIMALLOC_PURGE_DELAY=55 LD_PRELOAD=libdl.so.2 "$launcher" -- "$probe" 2>&1)
check "the environment's MIMALLOC_* and LD_PRELOAD are kept" grep -qx 'option purge_delay: 55' <<<"$r"
check "the launcher's library comes first in LD_PRELOAD" \
  grep -qx "LD_PRELOAD: $libdir/libshardalloc.so.0:libdl.so.2" <<<"$r"
if [ -f "$libdir/libshardalloc-secure.so.0" ]; then
  r=$(out "$launcher" --secure -- "$probe")
  check "--secure: malloc from libshardalloc-secure.so.0" \
    grep -qx "malloc: $libdir/libshardalloc-secure.so.0" <<<"$r"
  check "--secure: a secure level above 0" grep -qx 'secure level: [1-5]' <<<"$r"
else
  echo "skip: --secure (no libshardalloc-secure.so.0 in this build)"
fi

# The program's exit status comes back; bad command lines get 2 and a message.
r=$(out "$launcher" -- /bin/sh -c 'exit 7')
check "the program's exit status" grep -qx 'exit=7' <<<"$r"
r=$(out "$launcher" -- /nonexistent/program)
check "a missing program: 127" grep -qx 'exit=127' <<<"$r"
bad() { # description expected-message args...
  local what=$1 msg=$2
  shift 2
  r=$(out "$launcher" "$@")
  check "$what: exit 2" grep -qx 'exit=2' <<<"$r"
  check "$what: says '$msg'" grep -qF -- "$msg" <<<"$r"
}
bad "no program" "no program to run" --stats
bad "unknown flag" "unknown option '--stat'" --stat -- /bin/true
bad "--option without a value" "expected NAME=VALUE" --option purge_delay -- /bin/true
bad "--option at the end" "--option needs NAME=VALUE" --option
bad "--option with an odd name" "letters, digits and _" --option 'a;b=1' -- /bin/true
bad "--option with a name the library lacks" "no option 'purge_dlay'" \
  --option purge_dlay=5 -- /bin/true
r=$(out "$launcher" --list-options)
check "--list-options lists purge_delay" grep -qx purge_delay <<<"$r"
check "--list-options lists about 40 names" [ "$(grep -c '^[a-z_]*$' <<<"$r")" -ge 30 ]

# Moved, through a symbolic link: the library is found from the launcher's real location.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tree" "$tmp/bin"
cp "$launcher" "$libdir/libshardalloc.so.0" "$tmp/tree/"
ln -s ../tree/shardalloc "$tmp/bin/shardalloc"
r=$(out "$tmp/bin/shardalloc" -- "$probe")
check "moved and linked: malloc from the moved library" \
  grep -qx "malloc: $tmp/tree/libshardalloc.so.0" <<<"$r"
r=$(cd "$tmp/bin" && PATH="$tmp/bin:$PATH" && out shardalloc --library)
check "found on PATH: the moved library" grep -qx "$tmp/tree/libshardalloc.so.0" <<<"$r"
rm "$tmp/tree/libshardalloc.so.0"
r=$(out "$tmp/bin/shardalloc" -- "$probe")
check "library missing: 127 and a message" grep -qx 'exit=127' <<<"$r"
check "library missing: names the path" grep -qF "$tmp/tree/libshardalloc.so.0 not found" <<<"$r"

if [ "$fails" -ne 0 ]; then
  echo "test-launcher: $fails check(s) failed"
  exit 1
fi
echo "test-launcher: all checks passed"
