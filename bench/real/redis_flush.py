#!/usr/bin/python3
"""Does a server give memory back? redis-server, preloaded with each allocator, is loaded with
--keys keys (DEBUG POPULATE: 100-byte values, about 180 bytes of heap per key), then FLUSHALL
empties it and nothing else happens: no client, only the server's own timers. Its RSS (VmRSS
from /proc/PID/status) is sampled every 0.1 s for --seconds.

Bench mode (`make bench-real` runs it): every allocator installed, --runs interleaved runs,
medians; a markdown table on stdout and in --out. glibc is measured by preloading libc.so.6 itself
(Debian's redis-server links jemalloc, which would otherwise serve it). Without a preload the
server runs on that jemalloc, which redis tells to purge after FLUSHALL: the "redis (own
jemalloc)" row.

Check mode (--check MIB, the real-redis-flush ctest): shardalloc only; fails unless the RSS at
the end is within MIB of the server's RSS before loading. Exit 77 (skip) when redis is missing.
Standard library only; run it with /usr/bin/python3.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER, CLI = "/usr/bin/redis-server", "/usr/bin/redis-cli"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
OWN = "redis (own jemalloc)"


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS for %d" % pid)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(preload, keys, seconds):
    """One run: {'start', 'loaded', 'samples': [(t, MiB)], 'flush_s'}."""
    port = str(free_port())
    cli = [CLI, "-h", "127.0.0.1", "-p", port]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if preload:
        env["LD_PRELOAD"] = preload
    server = subprocess.Popen([SERVER, "--bind", "127.0.0.1", "--port", port, "--save", "",
                               "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                               "--enable-debug-command", "local"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(cli + ["PING"], capture_output=True).stdout.strip() != b"PONG":
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("redis-server did not start: " +
                                   (server.stderr.read().decode(errors="replace")
                                    if server.poll() is not None else "timeout"))
            time.sleep(0.05)
        if preload:
            with open("/proc/%d/maps" % server.pid) as f:
                if os.path.realpath(preload) not in f.read():
                    raise RuntimeError("%s is not mapped in redis-server" % preload)
        start = rss_mib(server.pid)

        def cmd(*words):
            p = subprocess.run(cli + list(words), capture_output=True, timeout=600)
            if p.returncode != 0 or p.stdout.startswith(b"ERR"):
                raise RuntimeError("%s: %s" % (" ".join(words), (p.stdout + p.stderr).decode()))
            return p.stdout.strip()

        cmd("DEBUG", "POPULATE", str(keys), "key", "100")
        if int(cmd("DBSIZE")) != keys:
            raise RuntimeError("DBSIZE is not %d after DEBUG POPULATE" % keys)
        loaded = rss_mib(server.pid)
        t0 = time.monotonic()
        cmd("FLUSHALL", "SYNC")
        flush_s = time.monotonic() - t0
        samples = []
        t_end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            samples.append((now - t0, rss_mib(server.pid)))
            if now >= t_end:
                break
            time.sleep(min(0.1, t_end - now))
        if int(cmd("DBSIZE")) != 0:
            raise RuntimeError("DBSIZE is not 0 after FLUSHALL")
        return {"start": start, "loaded": loaded, "samples": samples, "flush_s": flush_s}
    finally:
        subprocess.run(cli + ["SHUTDOWN", "NOSAVE"], capture_output=True, timeout=30)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def at(samples, t):
    """RSS of the first sample taken at t seconds after FLUSHALL began, or later."""
    for ts, mib in samples:
        if ts >= t:
            return mib
    return samples[-1][1]


def allocators(shardalloc, wanted):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import run as suite  # bench/run.py: the peers installed on this machine
    found, missing = suite.find_allocators(shardalloc, wanted)
    out = [(a.name, a.preload if a.preload else LIBC) for a in found]
    if not wanted or OWN in wanted.split(","):
        out.append((OWN, None))
    return out, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shardalloc", default=os.environ.get("SHARDALLOC_LIB") or
                    os.path.join(ROOT, "build", "libshardalloc.so"))
    ap.add_argument("--allocators", help="comma-separated (default: all installed)")
    ap.add_argument("--keys", type=int, default=2000000)
    ap.add_argument("--seconds", type=float, default=2.0, help="sampling after FLUSHALL (2)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--check", type=float, metavar="MIB",
                    help="shardalloc only: fail unless the final RSS <= RSS before loading + MIB")
    ap.add_argument("--out", help="also write the table to this markdown file")
    args = ap.parse_args()
    if not (os.access(SERVER, os.X_OK) and os.access(CLI, os.X_OK)):
        print("skipped: redis-server/redis-cli not installed (apt-get install redis-server "
              "redis-tools)")
        return 77

    if args.check is not None:
        r = measure(os.path.abspath(args.shardalloc), args.keys, args.seconds)
        final = r["samples"][-1][1]
        print("shardalloc: RSS %.0f MiB at start, %.0f loaded with %d keys, FLUSHALL %.2f s, "
              "then %s" % (r["start"], r["loaded"], args.keys, r["flush_s"],
                           " ".join("%.0f" % m for _, m in r["samples"][::5])))
        bound = r["start"] + args.check
        if final > bound:
            print("FAIL: RSS %.0f MiB %.1f s after FLUSHALL, bound %.0f (start + %.0f)" %
                  (final, args.seconds, bound, args.check))
            return 1
        print("ok: RSS %.0f MiB after %.1f s (bound %.0f)" % (final, args.seconds, bound))
        return 0

    allocs, missing = allocators(args.shardalloc, args.allocators)
    for name, path, hint in missing:
        print("missing: %s (%s: %s)" % (name, path, hint))
    runs = {name: [] for name, _ in allocs}
    for k in range(args.runs):
        for name, preload in allocs:
            r = measure(preload, args.keys, args.seconds)
            runs[name].append(r)
            print("run %d %-22s start %4.0f loaded %4.0f after 0.5 s %4.0f, %.1f s %4.0f MiB" % (
                k + 1, name, r["start"], r["loaded"], at(r["samples"], 0.5), args.seconds,
                r["samples"][-1][1]), flush=True)

    def med(name, f):
        return statistics.median(f(r) for r in runs[name])

    base = med(allocs[0][0], lambda r: r["samples"][-1][1])
    lines = ["redis-server, %d keys (DEBUG POPULATE, 100-byte values), FLUSHALL, then idle; "
             "RSS from /proc/PID/status, median of %d interleaved runs." % (args.keys, args.runs),
             "",
             "| allocator | before loading (MiB) | loaded | 0.5 s after FLUSHALL | %.1f s after "
             "| ratio at %.1f s (allocator / %s) |" % (args.seconds, args.seconds, allocs[0][0]),
             "|---|---:|---:|---:|---:|---:|"]
    for name, _ in allocs:
        end = med(name, lambda r: r["samples"][-1][1])
        lines.append("| %s | %.0f | %.0f | %.0f | %.0f | %.2f |" % (
            name, med(name, lambda r: r["start"]), med(name, lambda r: r["loaded"]),
            med(name, lambda r: at(r["samples"], 0.5)), end, end / base))
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
