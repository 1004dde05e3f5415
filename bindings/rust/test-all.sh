#!/usr/bin/env bash
# Every check of the Rust crates, in the order `make test-rust` runs them (it skips this script
# when cargo is missing or older than RUST_MIN):
#  1. the workspace's tests, doctests and examples in debug;
#  2. again in --release, with debug_in_debug (which must leave the C library's debug level 0);
#  3. shardalloc-sys with the features that change the C compile (RUST_SYS_FEATURES; the
#     hyphenated spellings and debug_in_debug in a debug profile, so each reaches the C build);
#  4. the workspace with the malloc override and debug (the stand-in crate left out: ...);
#  5. ... which must fail to link with override: its plain mi_* names then clash with
#     shardalloc's, so the link test of step 1 proves the symbol prefix;
#  6. an unsupported target stops the build with the one-line message;
#  7. the #![no_std] program (nostd-check/) builds and runs;
#  8. the packages (check-package.sh);
#  9. the bench example, one short round: both allocators give the same checksum.
# Environment: CARGO (default cargo), CARGO_TARGET_DIR (default target/ here), RUST_SYS_FEATURES.
set -euo pipefail
cd "$(dirname "$0")"
cargo=${CARGO:-cargo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
features=${RUST_SYS_FEATURES:-secure,debug_in_debug,local-dynamic-tls,no_thp,skip-collect-on-exit,asm,extended,arena}
log=$(mktemp "${TMPDIR:-/tmp}/shardalloc-rust-test.XXXXXX")
trap 'rm -f "$log"' EXIT

step() { echo "test-rust: $*"; }

step "cargo $($cargo --version | awk '{print $2}'): debug"
$cargo test --offline --workspace

step "--release, with debug_in_debug"
$cargo test --offline --workspace --release --features shardalloc/debug_in_debug

step "shardalloc-sys --features $features"
$cargo test --offline -p shardalloc-sys --features "$features"

step "--features override,debug (without the stand-in crate)"
$cargo test --offline --workspace --exclude mimalloc-standin --features shardalloc/override,shardalloc/debug

step "the stand-in crate must not link with override (plain names)"
if $cargo test --offline -p mimalloc-standin --no-run \
     --features shardalloc/override,shardalloc/debug >"$log" 2>&1; then
  echo "test-rust: FAILED: the stand-in linked beside shardalloc's plain names: its test proves nothing"
  exit 1
fi
if ! grep -Eq "duplicate symbol: mi_malloc|multiple definition of .mi_malloc" "$log"; then
  cat "$log"
  echo "test-rust: FAILED: the build failed, but not for a duplicate mi_malloc"
  exit 1
fi
echo "  duplicate symbol mi_malloc, as it must"

step "an unsupported target stops the build with one line"
$cargo build --offline -p shardalloc-sys --target x86_64-apple-darwin >"$log" 2>&1 || true
if ! grep -q "shardalloc-sys: target x86_64-apple-darwin is not supported; supported: x86_64-unknown-linux-gnu" "$log"; then
  cat "$log"
  echo "test-rust: FAILED: no one-line message for an unsupported target"
  exit 1
fi
grep "shardalloc-sys: target" "$log"

step "#![no_std] program with ShardAlloc (nostd-check/)"
(cd nostd-check && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/nostd" $cargo run --offline) | tee "$log"
grep -qx "nostd-check: ok" "$log"

step "packages"
./check-package.sh

step "bench example, one short round"
$cargo run --offline --release --example bench -- --rounds 1 --scale 0.1 --threads 2
step "ok"
