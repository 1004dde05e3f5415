#!/usr/bin/env bash
# The publishing check of make test-rust: `cargo package` of shardalloc-sys and shardalloc, offline.
# 1. cargo packages both and verifies each archive by building it unpacked (the safe crate against
#    the sys crate's archive, through cargo's temporary local registry: cargo 1.90 and later).
# 2. The sys crate's archive holds only regular files (csrc/ is symlinks in the repository; the
#    archive must carry their contents, not links that would dangle), and every C source and
#    header of the repository's src/ and include/ (the include globs of its Cargo.toml could
#    miss a new directory).
# 3. The sys crate's archive, unpacked into a temporary directory outside the repository, builds
#    and passes its header and symbol tests there.
# Needs cargo and tar; uses CARGO (default cargo) and CARGO_TARGET_DIR (default: target/ here).
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
repo=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
cargo=${CARGO:-cargo}

v=$($cargo --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' 1.90 "$v" | sort -V | head -n1)" != 1.90 ]; then
  echo "check-package: SKIPPED: cargo $v cannot verify packages that depend on each other (1.90+)"
  exit 0
fi

echo "check-package: cargo package --offline -p shardalloc-sys -p shardalloc"
rm -rf "$target/package"
# (the warning that the manifests name no license is left out: the project has not chosen one)
$cargo package --offline --allow-dirty -p shardalloc-sys -p shardalloc 2>&1 |
  { grep -v -e 'manifest has no license' -e '^  |$' -e '^  = note: see https://doc.rust-lang' || true; }
crate="$target/package/shardalloc-sys-0.1.0.crate"
[ -f "$crate" ] && [ -f "$target/package/shardalloc-0.1.0.crate" ] || {
  echo "check-package: FAILED: the .crate files are missing"; exit 1; }

echo "check-package: contents of $(basename "$crate")"
not_files=$(tar tvzf "$crate" | awk 'substr($1, 1, 1) != "-" {print $NF}')
if [ -n "$not_files" ]; then
  echo "check-package: FAILED: entries that are not regular files: $not_files"; exit 1
fi
listing=$(tar tzf "$crate")
missing=0
while IFS= read -r f; do
  if ! grep -qx "shardalloc-sys-0.1.0/csrc/$f" <<<"$listing"; then
    echo "check-package: FAILED: $f is not in the archive (csrc/$f)"; missing=1
  fi
done < <(cd "$repo" && find include src -type f \( -name '*.c' -o -name '*.h' \) | sort)
[ "$missing" -eq 0 ] || exit 1
echo "  $(wc -l <<<"$listing") regular files, every C source and header of src/ and include/"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shardalloc-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar xzf "$crate" -C "$tmp"
echo "check-package: the unpacked archive builds and tests on its own ($tmp)"
(cd "$tmp/shardalloc-sys-0.1.0" &&
  CARGO_TARGET_DIR="$tmp/target" $cargo test --offline --test header --test symbols 2>&1 |
  { grep -E '^(test |error)|test result|panicked' || true; })
echo "check-package: ok"
