#!/bin/bash
# The install tests (`make test-install`, run by .ci/run):
#  1. the Release build installed into a temporary prefix; programs built against it through
#     pkg-config (C, and C++ with the static override object), through find_package (one program
#     per shardalloc:: target) and through add_subdirectory of the source tree, each run and
#     checked to run on that shardalloc; the launcher from the prefix, also after the prefix moved;
#  2. the .debs (`make deb`, lintian-checked where lintian is installed) installed with dpkg -i,
#     programs built against the installed packages with pkg-config and find_package, the launcher
#     run on /bin/true with --stats, the packages removed. Needs root or passwordless sudo:
#     skipped with a message otherwise, and when a shardalloc package is already installed.
# Usage: test-install.sh BUILD_DIR DEB_BUILD_DIR   (BUILD_DIR: a Release build, as `make` makes)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
deb_build=$2
here=$root/pkg/test
fails=0
step() { echo "test-install: $*"; }
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # description pattern text: the text has a line that matches the pattern (grep -E)
  if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1"; printf '%s\n' "$3" | sed 's/^/  | /'; fi
}
run() { "$@" 2>&1; echo "exit=$?"; }  # a command's output and its exit status, as one text

tmp=$(mktemp -d)
cleanup_debs=""
cleanup() {
  [ -z "$cleanup_debs" ] || $sudo dpkg --purge $cleanup_debs >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
secure_level=$(sed -n 's/^SHARDALLOC_SECURE_LIB_LEVEL:STRING=//p' "$build/CMakeCache.txt")

# ---- 1. a temporary prefix -----------------------------------------------------------------
prefix=$tmp/prefix
step "installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install"; exit 1; }
libdir=$prefix/$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
for f in include/shardalloc/mimalloc.h include/shardalloc/shardalloc.h bin/shardalloc \
         share/man/man1/shardalloc.1; do
  if [ -f "$prefix/$f" ]; then pass "installed $f"; else fail "installed $f"; fi
done
for f in "$libdir/pkgconfig/shardalloc.pc" "$libdir/pkgconfig/shardalloc-secure.pc" \
         "$libdir/cmake/shardalloc/shardalloc-config.cmake" \
         "$libdir/cmake/shardalloc/shardalloc-config-version.cmake" "$libdir/shardalloc.o"; do
  if [ -f "$f" ]; then pass "installed ${f#"$prefix/"}"; else fail "installed ${f#"$prefix/"}"; fi
done
if [ -e "$prefix/include/mimalloc.h" ]; then
  fail "no mimalloc.h at the top of include/ (libmimalloc-dev's place)"
else
  pass "no mimalloc.h at the top of include/ (libmimalloc-dev's place)"
fi

# C through pkg-config: the plain and the secure library.
export PKG_CONFIG_PATH=$libdir/pkgconfig
for pc in shardalloc shardalloc-secure; do
  want=0
  [ "$pc" = shardalloc ] || want=$secure_level
  flags=$(pkg-config --cflags --libs "$pc") || { fail "pkg-config $pc"; continue; }
  r=$(run cc -o "$tmp/pc-$pc" "$here/consumer/consumer.c" $flags -ldl \
        -Wl,-rpath,"$(pkg-config --variable=libdir "$pc")")
  expect "pkg-config $pc: builds" '^exit=0$' "$r"
  r=$(run "$tmp/pc-$pc" "$want")
  expect "pkg-config $pc: runs on $libdir/lib$pc.so.0 (secure level $want)" \
    "malloc from $libdir/lib$pc.so.0\$" "$r"
  expect "pkg-config $pc: its checks pass" '^exit=0$' "$r"
done
expect "pkg-config: version" "^$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")\$" \
  "$(pkg-config --modversion shardalloc)"

# C++ with the static override object, through pkg-config's objectfile variable.
obj=$(pkg-config --variable=objectfile shardalloc)
r=$(run c++ -o "$tmp/pc-cxx-object" "$here/consumer/consumer-cxx.cpp" "$obj" \
      $(pkg-config --cflags shardalloc))
expect "pkg-config objectfile ($obj): C++ builds" '^exit=0$' "$r"
r=$(run "$tmp/pc-cxx-object")
expect "pkg-config objectfile: operator new and malloc are shardalloc's, no library loaded" \
  '^exit=0$' "$r"
unset PKG_CONFIG_PATH

# find_package: one program per target, each run.
consumers() { # label build-dir: runs the four programs of pkg/test/consumer built in build-dir
  local label=$1 dir=$2 r
  r=$(run "$dir/c-shared" 0)
  expect "$label: shardalloc::shardalloc runs on libshardalloc.so.0" \
    'malloc from .*/libshardalloc\.so\.0$' "$r"
  expect "$label: shardalloc::shardalloc checks pass" '^exit=0$' "$r"
  r=$(run "$dir/c-static" 0)
  expect "$label: shardalloc::shardalloc-static: malloc in the executable" \
    "malloc from .*/c-static\$" "$r"
  expect "$label: shardalloc::shardalloc-static checks pass" '^exit=0$' "$r"
  r=$(run "$dir/c-secure" "$secure_level")
  expect "$label: shardalloc::shardalloc-secure runs on libshardalloc-secure.so.0" \
    'malloc from .*/libshardalloc-secure\.so\.0$' "$r"
  expect "$label: shardalloc::shardalloc-secure checks pass" '^exit=0$' "$r"
  r=$(run "$dir/cxx-object")
  expect "$label: shardalloc::shardalloc-object (C++): no library loaded" \
    'no libshardalloc|none \(the object is in the executable\)' "$r"
  expect "$label: shardalloc::shardalloc-object checks pass" '^exit=0$' "$r"
}
cmake_consumer() { # label build-dir cmake-arguments...: configures and builds pkg/test/consumer
  local label=$1 dir=$2 r
  shift 2
  r=$(run cmake -S "$here/consumer" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@")
  expect "$label: configures" '^exit=0$' "$r"
  r=$(run cmake --build "$dir" -j "${JOBS:-2}")
  expect "$label: builds" '^exit=0$' "$r"
}
cmake_consumer "find_package" "$tmp/fp" -DCMAKE_PREFIX_PATH="$prefix"
consumers "find_package" "$tmp/fp"
r=$(run cmake -S "$here/consumer" -B "$tmp/fp-v" -DCMAKE_PREFIX_PATH="$prefix" -DWANT_VERSION=99.0)
expect "find_package(shardalloc 99.0): refused by the version file" \
  'Could not find a configuration file|version: 99\.0|not compatible|exit=[1-9]' "$r"
expect "find_package(shardalloc 99.0): fails" '^exit=[1-9]' "$r"

# add_subdirectory of the source tree: the same targets, no tests or benchmarks built.
cmake_consumer "add_subdirectory" "$tmp/sub" -DSHARDALLOC_SOURCE="$root"
consumers "add_subdirectory" "$tmp/sub"

# The launcher from the prefix, then from the prefix moved elsewhere (it finds the library
# relative to itself), and find_package from the moved prefix.
r=$(run "$prefix/bin/shardalloc" --stats -- /bin/true)
expect "launcher: --stats on /bin/true prints statistics" '^heap stats: ' "$r"
expect "launcher: --stats on /bin/true exits 0" '^exit=0$' "$r"
mv "$prefix" "$tmp/moved"
moved_lib=$tmp/moved/${libdir#"$prefix/"}/libshardalloc.so.0
r=$(run "$tmp/moved/bin/shardalloc" --library)
expect "launcher, prefix moved: finds $moved_lib" "^$moved_lib\$" "$r"
r=$(run "$tmp/moved/bin/shardalloc" --verbose -- /bin/true)
expect "launcher, prefix moved: the library runs (verbose)" "^shardalloc: option 'purge_delay'" "$r"
cmake_consumer "find_package, prefix moved" "$tmp/fp-moved" -DCMAKE_PREFIX_PATH="$tmp/moved"
r=$(run "$tmp/fp-moved/c-shared" 0)
expect "find_package, prefix moved: runs on the moved library" "malloc from $moved_lib\$" "$r"

# ---- 2. the Debian packages ----------------------------------------------------------------
sudo=""
deb_skip=""
if ! command -v dpkg >/dev/null 2>&1; then
  deb_skip="no dpkg (not a Debian system)"
elif [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    deb_skip="dpkg -i needs root or passwordless sudo (run as root to test the packages)"
  fi
fi
packages="libshardalloc0 libshardalloc-dev shardalloc"
if [ -z "$deb_skip" ]; then
  for p in $packages; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
      deb_skip="$p is installed on this machine already (this test installs and removes it)"
    fi
  done
fi
# dpkg waits for no one: retry while another dpkg or apt holds its lock (shared machines).
dpkg_retry() {
  local i out
  for i in $(seq 60); do
    out=$($sudo dpkg "$@" 2>&1) && { printf '%s\n' "$out"; return 0; }
    grep -q 'lock' <<<"$out" || { printf '%s\n' "$out"; return 1; }
    sleep 5
  done
  printf '%s\n' "$out"
  return 1
}
if [ -n "$deb_skip" ]; then
  step "SKIPPED the .deb test: $deb_skip"
else
  step "building the .debs (make deb into $deb_build)"
  if ! JOBS=${JOBS:-2} bash "$root/pkg/deb.sh" "$deb_build" >"$tmp/deb.log" 2>&1; then
    cat "$tmp/deb.log"
    fail "make deb"
  else
    grep '^deb: ' "$tmp/deb.log"
    pass "make deb (lintian clean where installed)"
    debs=$(ls "$deb_build"/debs/*.deb)
    cleanup_debs=$packages
    r=$(dpkg_retry -i $debs; echo "exit=$?")
    expect "dpkg -i $(echo $debs | xargs -n1 basename | tr '\n' ' ')" '^exit=0$' "$r"
    r=$(dpkg -L libshardalloc-dev)
    expect "libshardalloc-dev: headers in /usr/include/shardalloc" \
      '^/usr/include/shardalloc/mimalloc\.h$' "$r"
    if grep -qx '/usr/include/mimalloc.h' <<<"$r"; then
      fail "libshardalloc-dev: no /usr/include/mimalloc.h"
    else
      pass "libshardalloc-dev: no /usr/include/mimalloc.h"
    fi
    # pkg-config and find_package find the installed package with no path given.
    r=$(run cc -o "$tmp/deb-pc" "$here/consumer/consumer.c" $(pkg-config --cflags --libs shardalloc) -ldl)
    expect "installed package: pkg-config consumer builds" '^exit=0$' "$r"
    r=$(run "$tmp/deb-pc" 0)
    expect "installed package: pkg-config consumer runs on /usr/lib/.../libshardalloc.so.0" \
      'malloc from (/usr)?/lib/[^ ]*libshardalloc\.so\.0$' "$r"
    expect "installed package: pkg-config consumer checks pass" '^exit=0$' "$r"
    cmake_consumer "installed package: find_package" "$tmp/deb-fp"
    consumers "installed package: find_package" "$tmp/deb-fp"
    r=$(run shardalloc --stats -- /bin/true)
    expect "installed package: shardalloc --stats -- /bin/true prints statistics" '^heap stats: ' "$r"
    expect "installed package: shardalloc --stats -- /bin/true exits 0" '^exit=0$' "$r"
    r=$(run shardalloc --library)
    expect "installed package: the launcher finds /usr/lib/.../libshardalloc.so.0" \
      '^/usr/lib/[^ ]*/libshardalloc\.so\.0$' "$r"
    r=$(dpkg_retry --purge $packages; echo "exit=$?")
    expect "dpkg --purge $packages" '^exit=0$' "$r"
    cleanup_debs=""
    if [ -e /usr/bin/shardalloc ] || ls /usr/lib/*/libshardalloc.so.0 >/dev/null 2>&1; then
      fail "the packages' files are gone"
    else
      pass "the packages' files are gone"
    fi
  fi
fi

if [ "$fails" -ne 0 ]; then
  step "$fails check(s) failed"
  exit 1
fi
step "all checks passed${deb_skip:+ (the .deb test skipped)}"
