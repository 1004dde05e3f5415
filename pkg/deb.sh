#!/bin/bash
# pkg/deb.sh: builds shardalloc's Debian packages with dpkg-deb (`make deb`), from a Release build
# installed into a staging tree:
#   libshardalloc0      libshardalloc.so.0 and libshardalloc-secure.so.0
#   libshardalloc-dev   headers (/usr/include/shardalloc), libshardalloc.a, shardalloc.o, the
#                       .so links, the pkg-config files and the CMake package
#   shardalloc          the launcher /usr/bin/shardalloc and its manual page
# The version is the source tree's (include/mimalloc.h, through CMake). Then runs lintian on them
# when it is installed (any error or warning fails). Needs cmake, a C compiler and dpkg-dev.
# Usage: pkg/deb.sh [BUILD_DIR]   (default build-deb; the packages go to BUILD_DIR/debs)
# Environment: JOBS (build jobs, default 2), DEB_MAINTAINER (the Maintainer field).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)
jobs=${JOBS:-2}
maintainer=${DEB_MAINTAINER:-shardalloc developers <dev@shardalloc.invalid>}

say() { echo "deb: $*"; }
die() { echo "deb: $*" >&2; exit 1; }
for tool in cmake dpkg-deb dpkg-shlibdeps dpkg-architecture strip nm gzip; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (apt-get install cmake dpkg-dev binutils gzip)"
done

# The build: Release, installed under /usr with Debian's multiarch library directory; with the
# parts of Debian's hardening flags that lintian checks (fortified string functions, full RELRO),
# otherwise compiled as `make` compiles it.
cmake -S "$root" -B "$build/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DSHARDALLOC_TESTS=OFF -DSHARDALLOC_BENCH=OFF \
  "-DCMAKE_C_FLAGS=-D_FORTIFY_SOURCE=2" "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-z,relro -Wl,-z,now" \
  >/dev/null
cmake --build "$build/cmake" -j "$jobs"
stage=$build/stage
# The packages' trees are built in BUILD_DIR/debian/<package> (where dpkg-shlibdeps looks).
pk=$build/debian
rm -rf "$stage" "$pk" "$build/debs"
DESTDIR=$stage cmake --install "$build/cmake" >/dev/null

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/cmake/CMakeCache.txt")
major=${version%%.*}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=usr/lib/$multiarch
[ -f "$stage/$lib/libshardalloc.so.$major" ] ||
  die "$lib/libshardalloc.so.$major not staged (CMake's libdir is not $lib?)"
say "shardalloc $version for $arch"

# Each package's files, by path under the staging tree.
declare -A files=(
  [libshardalloc0]="$lib/libshardalloc.so.$major $lib/libshardalloc.so.$version
                    $lib/libshardalloc-secure.so.$major $lib/libshardalloc-secure.so.$version"
  [libshardalloc-dev]="usr/include/shardalloc $lib/libshardalloc.so $lib/libshardalloc-secure.so
                       $lib/libshardalloc.a $lib/shardalloc.o $lib/pkgconfig $lib/cmake"
  [shardalloc]="usr/bin/shardalloc usr/share/man/man1/shardalloc.1"
)
packages="libshardalloc0 libshardalloc-dev shardalloc"
for p in $packages; do
  for f in ${files[$p]}; do
    [ -e "$stage/$f" ] || [ -L "$stage/$f" ] || die "$f is not in the staging tree"
    mkdir -p "$pk/$p/$(dirname "$f")"
    mv "$stage/$f" "$pk/$p/$f"
  done
done
left=$(find "$stage" -not -type d)
[ -z "$left" ] || die "installed files that no package takes: $left"

# As Debian ships them: stripped, no executable bit on libraries, the manual page compressed.
for so in "$pk/libshardalloc0/$lib"/*.so.*.*; do
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$so"
  chmod 0644 "$so"
done
strip --remove-section=.comment --remove-section=.note --strip-debug \
  --enable-deterministic-archives "$pk/libshardalloc-dev/$lib/libshardalloc.a"
strip --remove-section=.comment --remove-section=.note --strip-debug \
  "$pk/libshardalloc-dev/$lib/shardalloc.o"
gzip -9n "$pk/shardalloc/usr/share/man/man1/shardalloc.1"

# Documentation every package carries: copyright and the changelog (a native package: its
# version is the source tree's own, so the changelog is changelog.gz).
if date=$(git -C "$root" log -1 --format=%cD 2>/dev/null) && [ -n "$date" ]; then
  commit=$(git -C "$root" rev-parse --short HEAD)
  origin="the shardalloc source tree at commit $commit"
else
  date=$(date -R)
  origin="the shardalloc source tree"
fi
for p in $packages; do
  doc=$pk/$p/usr/share/doc/$p
  mkdir -p "$doc"
  cp "$root/pkg/debian/copyright" "$doc/copyright"
  printf 'shardalloc (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
    "$version" "$origin" "$maintainer" "$date" | gzip -9n >"$doc/changelog.gz"
  if [ -f "$root/pkg/debian/$p.lintian-overrides" ]; then
    mkdir -p "$pk/$p/usr/share/lintian/overrides"
    cp "$root/pkg/debian/$p.lintian-overrides" "$pk/$p/usr/share/lintian/overrides/$p"
  fi
done

# The C library versions libshardalloc0 needs, as dpkg-shlibdeps finds them (it reads a
# debian/control, a minimal one in no package, and finds a package's root by its DEBIAN/).
for p in $packages; do mkdir -p "$pk/$p/DEBIAN"; done
printf 'Source: shardalloc\n\nPackage: libshardalloc0\nArchitecture: any\n' >"$pk/control"
runtime_depends=$(cd "$build" && dpkg-shlibdeps -O debian/libshardalloc0/"$lib"/*.so.*.* |
                    sed -n 's/^shlibs:Depends=//p')
[ -n "$runtime_depends" ] || die "dpkg-shlibdeps found no dependencies"

description_body=" shardalloc is a general-purpose memory allocator for 64-bit Linux built on
 free-list sharding: memory is cut into segments and pages, each page keeps its
 own free lists, so allocation and local frees need no atomics or locks. It
 exports the mimalloc 2.x API (mi_*), and replaces malloc, free and the C++
 operators new and delete when linked or preloaded."
control() { # package section depends multi-arch summary extra-description
  local p=$1
  {
    echo "Package: $p"
    echo "Source: shardalloc"
    echo "Version: $version"
    echo "Architecture: $arch"
    [ -z "$4" ] || echo "Multi-Arch: $4"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$pk/$p" | cut -f1)"
    echo "Depends: $3"
    echo "Section: $2"
    echo "Priority: optional"
    echo "Description: $5"
    echo "$description_body"
    echo " ."
    echo "$6"
  } >"$pk/$p/DEBIAN/control"
}
control libshardalloc0 libs "$runtime_depends" same \
  "free-list-sharding memory allocator (mimalloc API) - libraries" \
  " This package holds the shared libraries: libshardalloc.so.$major, and
 libshardalloc-secure.so.$major, the same allocator with guard pages, encoded
 free lists and checked frees."
control libshardalloc-dev libdevel "libshardalloc0 (= $version)" same \
  "free-list-sharding memory allocator (mimalloc API) - development files" \
  " This package holds the headers (under /usr/include/shardalloc, so that they
 do not collide with mimalloc's), the static library, shardalloc.o for the
 static override, the pkg-config files shardalloc and shardalloc-secure, and
 the CMake package (find_package(shardalloc))."
control shardalloc utils "libshardalloc0 (= $version)" "" \
  "free-list-sharding memory allocator (mimalloc API) - launcher" \
  " This package holds the shardalloc command, which runs a program with the
 allocator preloaded and its options set."
printf 'libshardalloc %s libshardalloc0 (>= %s)\nlibshardalloc-secure %s libshardalloc0 (>= %s)\n' \
  "$major" "$version" "$major" "$version" >"$pk/libshardalloc0/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$pk/libshardalloc0/DEBIAN/triggers"
# The symbols file: every exported symbol, each as old as this version (no history is kept, so
# it asks what shlibs asks; it lets dpkg-shlibdeps check dependents' symbols).
for name in libshardalloc libshardalloc-secure; do
  echo "$name.so.$major libshardalloc0 #MINVER#"
  echo "* Build-Depends-Package: libshardalloc-dev"
  nm -D --defined-only "$pk/libshardalloc0/$lib/$name.so.$version" |
    awk -v v="$version" '$2 ~ /^[TWBDRVi]$/ { print " " $3 "@Base " v }' | sort -u
done >"$pk/libshardalloc0/DEBIAN/symbols"

mkdir -p "$build/debs"
for p in $packages; do
  (cd "$pk/$p" && find . -type f -not -path './DEBIAN/*' -printf '%P\0' | sort -z |
     xargs -0 md5sum >DEBIAN/md5sums)
  find "$pk/$p" -type d -exec chmod 0755 {} +
  chmod 0644 "$pk/$p/DEBIAN"/*
  dpkg-deb --root-owner-group -Zxz --build "$pk/$p" "$build/debs/${p}_${version}_$arch.deb" >/dev/null
  say "built $build/debs/${p}_${version}_$arch.deb"
done

if command -v lintian >/dev/null 2>&1; then
  say "lintian:"
  lintian --fail-on error,warning --display-info "$build/debs"/*.deb
  say "lintian: no errors or warnings"
else
  say "lintian not installed: the packages were not checked (apt-get install lintian)"
fi
