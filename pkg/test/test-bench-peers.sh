#!/bin/bash
# Test of bench/peers.sh (ctest bench-peers), the step of `make bench` that installs missing peer
# allocators: run against stand-ins for python3 (bench/run.py --list), apt-get, sudo and id on a
# PATH of their own, so that every case (root, passwordless sudo, sudo with a password, no sudo,
# no apt-get, stale package lists, a failing install, --no-chart, nothing missing) runs without
# touching the machine's packages. Each case checks the exit status, what apt-get was asked and
# what was printed.
set -u
peers=$(cd "$(dirname "$0")/../.." && pwd)/bench/peers.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# The stand-ins. State: $tmp/state/missing (run.py's missing packages, one a line; apt-get
# install removes what it installs), apt.log (every apt-get call), list-args (run.py's arguments).
bin=$tmp/bin
mkdir -p "$bin" "$tmp/state"
for tool in sed dirname env cat grep ln rm true; do ln -s "$(type -P $tool)" "$bin/$tool"; done
cat >"$tmp/python3" <<'EOF'
#!/bin/sh
shift # run.py
echo "$*" >"$STATE/list-args"
echo "workloads: small-loop (1 thread)"
echo "allocators: shardalloc, glibc"
while read -r p; do
  [ -n "$p" ] && echo "missing: peer-$p (/usr/lib/x/lib$p.so; apt-get install $p)"
done <"$STATE/missing"
exit 0
EOF
cat >"$tmp/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$STATE/apt.log"
[ "$1" = update ] && { rm -f "$STATE/stale"; exit 0; }
[ -e "$STATE/stale" ] || [ -e "$STATE/broken" ] && exit 100
shift 3  # install -y --no-install-recommends
for p in "$@"; do
  [ -e "$STATE/sticky" ] || sed -i "/^$p\$/d" "$STATE/missing"
  [ "$p" = gnuplot-nox ] && ln -sf /bin/true "$(dirname "$0")/gnuplot"
done
exit 0
EOF
cat >"$tmp/id" <<'EOF'
#!/bin/sh
echo "$STUB_UID"
EOF
cat >"$tmp/sudo" <<'EOF'
#!/bin/sh
[ "$1" = -n ] || exit 1
[ -e "$STATE/sudo-nopasswd" ] || { echo "sudo: a password is required" >&2; exit 1; }
shift
echo "sudo $*" >>"$STATE/sudo.log"
exec "$@"
EOF
chmod +x "$tmp/python3" "$tmp/apt-get" "$tmp/id" "$tmp/sudo"

# case NAME UID SETUP... -- ARGS...: fresh state, the given setup (files in state/, tools on PATH:
# apt-get sudo gnuplot), then peers.sh ARGS; $out is its output, $rc its status, $log apt's calls.
case_() {
  name=$1 uid=$2
  shift 2
  rm -rf "$tmp/state" && mkdir "$tmp/state"
  rm -f "$bin/apt-get" "$bin/sudo" "$bin/gnuplot" "$bin/id"
  ln -s "$tmp/id" "$bin/id"
  : >"$tmp/state/missing"
  while [ "$1" != -- ]; do
    case $1 in
      apt-get | sudo) ln -s "$tmp/$1" "$bin/$1" ;;
      gnuplot) ln -s /bin/true "$bin/gnuplot" ;;
      missing=*) echo "${1#missing=}" >>"$tmp/state/missing" ;;
      *) : >"$tmp/state/$1" ;;
    esac
    shift
  done
  shift
  out=$(PATH=$bin STATE=$tmp/state STUB_UID=$uid /bin/sh "$peers" "$tmp/python3" "$@" 2>&1)
  rc=$?
  log=$(cat "$tmp/state/apt.log" 2>/dev/null)
}
check() { # description command...
  local what=$1
  shift
  if "$@"; then echo "ok: $name: $what"; else
    echo "FAIL: $name: $what"; fails=$((fails + 1))
    printf '%s\n' "$out" | sed 's/^/  | /'
    printf 'apt.log:\n%s\n' "$log" | sed 's/^/  | /'
  fi
}
has() { grep -qF -- "$1" <<<"$2"; }

case_ "all present" 1000 apt-get gnuplot -- --quick
check "exit 0" [ "$rc" -eq 0 ]
check "prints nothing" [ -z "$out" ]
check "apt-get not run" [ -z "$log" ]
check "run.py --list gets the arguments" has "--list --quick" "$(cat "$tmp/state/list-args")"

case_ "root" 0 apt-get missing=libtbbmalloc2 missing=libjemalloc2 -- --allocators glibc,jemalloc
check "exit 0" [ "$rc" -eq 0 ]
check "apt-get installs the missing peers and gnuplot-nox" \
  [ "$log" = "apt-get install -y --no-install-recommends libtbbmalloc2 libjemalloc2 gnuplot-nox" ]
check "says what it installs" \
  has "bench: installing the missing benchmark peers: libtbbmalloc2 libjemalloc2 gnuplot-nox" "$out"
check "says they are installed" has "bench: installed libtbbmalloc2 libjemalloc2 gnuplot-nox" "$out"
check "run.py --list gets --allocators" has "--allocators glibc,jemalloc" "$(cat "$tmp/state/list-args")"

case_ "passwordless sudo" 1000 apt-get sudo sudo-nopasswd gnuplot missing=libmimalloc2.0 --
check "exit 0" [ "$rc" -eq 0 ]
check "apt-get through sudo -n" \
  has "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libmimalloc2.0" \
  "$(cat "$tmp/state/sudo.log")"
check "says so" has "(sudo -n apt-get install -y --no-install-recommends libmimalloc2.0)" "$out"

case_ "sudo asks a password" 1000 apt-get sudo gnuplot missing=libmimalloc2.0 --
check "exit 1 (stops before the benchmarks)" [ "$rc" -eq 1 ]
check "apt-get not run" [ -z "$log" ]
check "prints the exact command" has "  sudo apt-get install -y libmimalloc2.0" "$out"

case_ "no sudo" 1000 apt-get missing=libtcmalloc-minimal4 --
check "exit 1" [ "$rc" -eq 1 ]
check "apt-get not run" [ -z "$log" ]
check "prints the exact command (as root)" \
  has "  su -c 'apt-get install -y libtcmalloc-minimal4 gnuplot-nox'" "$out"
check "names the way round it" has "BENCH_ALLOW_MISSING=1" "$out"

case_ "stale package lists" 0 apt-get gnuplot stale missing=libtbbmalloc2 --
check "exit 0" [ "$rc" -eq 0 ]
check "install, update, install" [ "$log" = "apt-get install -y --no-install-recommends libtbbmalloc2
apt-get update
apt-get install -y --no-install-recommends libtbbmalloc2" ]

case_ "install fails" 0 apt-get gnuplot broken missing=libtbbmalloc2 --
check "exit 1" [ "$rc" -eq 1 ]
check "says so" has "bench: apt-get could not install libtbbmalloc2" "$out"

case_ "no apt-get" 0 gnuplot missing=libtbbmalloc2 --
check "exit 1" [ "$rc" -eq 1 ]
check "says there is no apt-get" has "there is no apt-get here" "$out"

case_ "--no-chart" 0 apt-get -- --no-chart
check "exit 0" [ "$rc" -eq 0 ]
check "no gnuplot asked for" [ -z "$log" ]

case_ "still missing after the install" 0 apt-get gnuplot sticky missing=libtbbmalloc2 --
check "exit 0 (run.py compares the others)" [ "$rc" -eq 0 ]
check "says what is still missing" has "still missing after the install: libtbbmalloc2" "$out"

if [ "$fails" -ne 0 ]; then
  echo "test-bench-peers: $fails check(s) failed"
  exit 1
fi
echo "test-bench-peers: all checks passed"
