#!/bin/sh
# bench/peers.sh: run by `make bench` before the benchmarks. Makes sure the peer allocators that
# bench/run.py compares with (it names the missing ones and their Debian packages in --list) and
# gnuplot for its charts are installed. Missing packages are installed with apt-get when that
# needs no question (root, or sudo without a password), saying what; otherwise it prints the
# command to run and fails, so that `make bench` stops before measuring. Prints nothing when all
# are there. (make bench BENCH_ALLOW_MISSING=1 skips this and compares with what is found.)
# Usage: bench/peers.sh PYTHON3 [run.py arguments...]  (--allocators and --no-chart count)
python=${1:?usage: bench/peers.sh PYTHON3 [run.py arguments...]}
shift
here=$(dirname "$0")

say() { echo "bench: $*"; }

# How to run apt-get without asking: "" as root, "sudo -n" with passwordless sudo; fails otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    root=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    root="sudo -n"
  else
    return 1
  fi
}

# ensure WHAT PACKAGE...: installs the packages, or says how and exits 1.
ensure() {
  what=$1
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing $what: $*; there is no apt-get here to install them:" \
        "install them by other means," \
        "or run make bench BENCH_ALLOW_MISSING=1 to compare with what is found"
    exit 1
  fi
  if ! as_root; then
    if command -v sudo >/dev/null 2>&1; then cmd="sudo apt-get install -y $*"
    else cmd="su -c 'apt-get install -y $*'"; fi
    say "missing $what: $*"
    say "installing them needs root; run this, then make bench again:"
    echo "  $cmd"
    say "(or make bench BENCH_ALLOW_MISSING=1 to compare with the allocators found)"
    exit 1
  fi
  say "installing the missing $what: $*" \
      "(${root:+$root }apt-get install -y --no-install-recommends $*)"
  # Package lists may be missing or stale on a fresh machine: update them when the first try fails.
  # No recommends: gnuplot-nox's would bring groff, ghostscript and imagemagick (40 packages).
  $root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
    { say "updating the package lists (apt-get update) and trying again" &&
      $root apt-get update &&
      $root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; } ||
    { say "apt-get could not install $*; install them, then make bench again"; exit 1; }
  say "installed $*"
}

# The runner itself needs python3.
if [ ! -x "$python" ] && ! command -v "$python" >/dev/null 2>&1; then
  [ "$python" = /usr/bin/python3 ] || { say "$python not found"; exit 1; }
  ensure "runner" python3
fi

# run.py --list names each missing peer as "missing: NAME (PATH; apt-get install PACKAGE)".
missing() {
  list=$("$python" "$here/run.py" --list "$@") || exit 1
  printf '%s\n' "$list" | sed -n 's/^missing: .*; apt-get install \([^ )]*\))$/\1/p'
}
packages=$(missing "$@") || exit 1
charts=1
for arg in "$@"; do [ "$arg" = --no-chart ] && charts=0; done
if [ "$charts" = 1 ] && ! command -v gnuplot >/dev/null 2>&1; then
  packages="$packages gnuplot-nox"
fi
packages=$(echo $packages)
[ -n "$packages" ] || exit 0

ensure "benchmark peers" $packages
still=$(missing "$@") || exit 1
still=$(echo $still)
[ -z "$still" ] || say "still missing after the install: $still (bench/run.py compares the others)"
exit 0
