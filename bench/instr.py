#!/usr/bin/python3
"""Instructions per malloc/free pair of the small-loop workload, for shardalloc and each peer,
counted by valgrind's callgrind (instruction counts do not care how busy the machine is).

For each allocator the same bench-suite binary runs twice under callgrind with LD_PRELOAD: once
with a short loop and once with a long one. The difference of the two totals divided by the
difference in pairs is the cost of one pair: process start, allocator initialisation and the
warm-up are in both runs and cancel out. The figure includes the loop's own few instructions per
pair (ring index, size-table load, one byte written and read back), the same for every allocator.

Standard library only; run with /usr/bin/python3 (`make bench-instr` does). Needs valgrind.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as runner  # noqa: E402  (the allocator list and the provider check)

PAIRS_SHORT = 200_000
PAIRS_LONG = 2_200_000
SMALL_LOOP_PAIRS_AT_SCALE_1 = 1e8  # bench-suite small-loop: pairs = 1e8 * scale


def collected(binary, alloc, pairs):
    """Instructions callgrind counted for one run, and where malloc came from."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if alloc.preload is not None:
        env["LD_PRELOAD"] = alloc.preload
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary,
           "small-loop", "--threads", "1", "--scale", repr(pairs / SMALL_LOOP_PAIRS_AT_SCALE_1)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("exit %d: %s" % (p.returncode, p.stderr.strip()[-400:]))
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    if m is None:
        raise RuntimeError("no 'Collected' line in callgrind's output")
    mfrom = "?"
    for line in p.stdout.splitlines():
        if line.startswith("malloc-from "):
            mfrom = line.split(" ", 1)[1]
        if line.startswith("result ") and "ops=%d " % pairs not in line:
            raise RuntimeError("ran another number of pairs than asked: " + line)
    if not alloc.served(mfrom):
        raise RuntimeError("wrong allocator: malloc came from " + mfrom)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description="instructions per malloc/free pair (callgrind)")
    ap.add_argument("--bin", default=os.path.join(runner.ROOT, "build", "bench", "bench-suite"))
    ap.add_argument("--shardalloc", default=os.environ.get("SHARDALLOC_LIB") or
                    os.path.join(runner.ROOT, "build", "libshardalloc.so"))
    ap.add_argument("--allocators", help="comma-separated allocators (default: all installed)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench-instr: valgrind not found (apt-get install valgrind)")
    if not os.access(args.bin, os.X_OK):
        sys.exit("bench-instr: %s not found (run make first)" % args.bin)
    allocs, missing = runner.find_allocators(args.shardalloc, args.allocators)
    for n, path, hint in missing:
        print("missing: %s (%s: %s)" % (n, path, hint), flush=True)
    print("small-loop under callgrind: (instructions at %d pairs - at %d pairs) / %d" %
          (PAIRS_LONG, PAIRS_SHORT, PAIRS_LONG - PAIRS_SHORT), flush=True)
    rows, failed = [], False
    for a in allocs:
        try:
            short = collected(args.bin, a, PAIRS_SHORT)
            long_ = collected(args.bin, a, PAIRS_LONG)
        except RuntimeError as e:
            print("  %-10s FAILED: %s" % (a.name, e), flush=True)
            failed = True
            continue
        per = (long_ - short) / (PAIRS_LONG - PAIRS_SHORT)
        rows.append((a.name, per, short, long_))
        print("  %-10s %7.1f instructions per pair" % (a.name, per), flush=True)
    base = next((r[1] for r in rows if r[0] == runner.BASE), None)
    print()
    print("| allocator | instructions per malloc/free pair | ratio to shardalloc |")
    print("|---|---:|---:|")
    for name, per, _, _ in rows:
        print("| %s | %.1f | %s |" % (name, per, "%.2f" % (per / base) if base else "-"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
