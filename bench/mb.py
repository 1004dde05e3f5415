#!/usr/bin/python3
"""`make bench-mb`: mimalloc-bench's programs under shardalloc and every peer allocator,
interleaved, with the same tables, CSV and chart as `make bench` (bench/run.py).

mimalloc-bench (the public benchmark collection) is not part of this repository and is not built
here: MB_SRC (or --mb-src) names a checkout that its own scripts have already built
(docs/benchmarks.md says how), whose programs are in MB_SRC/out/bench. The runner prints the commit
it finds there and warns when it is not the one the figures of docs/benchmarks.md were taken at
(PINNED below). Each program runs with the arguments mimalloc-bench's bench.sh gives it (P = the
number of CPUs, --procs), its input files taken from MB_SRC/bench.

For each program: a probe under each allocator (LD_DEBUG=bindings with LD_BIND_NOW, the program
stopped as soon as the loader hands it control) must show every binding of `malloc` going to that
allocator's library (glibc: libc.so.6), or the allocator is not measured on it; then --runs runs
per allocator, interleaved (every allocator once, then again...). Each run starts from bench-launch
(build/bench/bench-launch), so that its peak RSS, faults and CPU times are the program's own. A
run's time is the program's wall time, except where bench.sh takes a figure from the program's
output instead (larson, larson-sized, xmalloc-test, rptest, glibc-thread run for a fixed time and
report a rate; the time is then bench.sh's "relative time" computed from that rate). A run that
exits non-zero, is killed or times out counts as failed.

Writes <out>/<date>-<host>-mb.csv, .md and -mb-ratios.png/.svg (bench/results/ by default).
Standard library only; run it with /usr/bin/python3.
"""
import argparse
import datetime
import glob
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))

# The mimalloc-bench commit of docs/benchmarks.md's figures (the newest on its default branch
# when issue 18 was measured; it builds rpmalloc 2.0.1, snmalloc 0.7.5, mimalloc 3.4.1).
PINNED = "ce5784f1cef3d48ddc931479e4899ffad5ab3943"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# bench/real/run.py: bench-launch's Context (runs a command, adds up time, RSS, faults); it loads
# bench/run.py (allocators, tables, charts) as its `suite`, used here too.
real = _load("bench_real_run", os.path.join(HERE, "real", "run.py"))
suite = real.suite
say = suite.say


def _rate(pattern, numerator):
    """A parser for a program that reports a rate: numerator / the number matched."""
    rx = re.compile(pattern, re.M)

    def parse(out):
        m = rx.search(out)
        if not m or float(m.group(1)) <= 0:
            raise ValueError("no /%s/ in the output" % pattern)
        return numerator / float(m.group(1))
    return parse


def _value(pattern):
    """A parser for a program that reports its relative time itself."""
    rx = re.compile(pattern, re.M)

    def parse(out):
        m = rx.search(out)
        if not m:
            raise ValueError("no /%s/ in the output" % pattern)
        return float(m.group(1))
    return parse


class Program:
    """One of bench.sh's tests. exe: a file of MB_SRC/out/bench, or (system=True) a command on PATH;
    args(P, src): its arguments; stdin: a file under MB_SRC; rtime: a parser of its output giving
    the time to report (None: wall time); multi: run only when P > 1; default: part of the
    default set (the rest only when named, or with --programs all)."""

    def __init__(self, name, exe, args, stdin=None, rtime=None, multi=False, default=True,
                 system=False, package=None):
        self.name, self.exe, self.args, self.stdin, self.rtime = name, exe, args, stdin, rtime
        self.multi, self.default, self.system, self.package = multi, default, system, package

    def path(self, bindir):
        if self.system:
            return shutil.which(self.exe)
        p = os.path.join(bindir, self.exe)
        return p if os.path.isfile(p) and os.access(p, os.X_OK) else None


def _cache_args(threads):
    return lambda p, s: [str(threads(p)), "1000", "1", "2000000", str(p)]


# bench.sh's tests that build from mimalloc-bench's bench/ folder (and three that use a system
# program), in bench.sh's order; the arguments are bench.sh's.
PROGRAMS = [
    Program("cfrac", "cfrac", lambda p, s: ["17545186520507317056371138836327483792789528"]),
    Program("espresso", "espresso",
            lambda p, s: [os.path.join(s, "bench", "espresso", "largest.espresso")]),
    Program("barnes", "barnes", lambda p, s: [], stdin=os.path.join("bench", "barnes", "input")),
    Program("larsonN-sized", "larson-sized",
            lambda p, s: ["5", "8", "1000", "5000", "100", "4141", str(p)],
            rtime=_value(r"relative time: ([0-9.]+)s")),
    Program("mstressN", "mstress", lambda p, s: [str(p), "50", "25"]),
    Program("rptestN", "rptest",
            lambda p, s: [str(p), "0", "1", "2", "500", "1000", "100", "8", "16000"],
            rtime=_rate(r"\.\.\.([0-9]+) memory ops", 2000000.0)),
    Program("alloc-test1", "alloc-test", lambda p, s: ["1"]),
    Program("alloc-testN", "alloc-test", lambda p, s: [str(min(p, 16))], multi=True),
    Program("sh6benchN", "sh6bench", lambda p, s: [str(2 * p)]),
    Program("sh8benchN", "sh8bench", lambda p, s: [str(2 * p)]),
    Program("xmalloc-testN", "xmalloc-test", lambda p, s: ["-w", str(p), "-t", "5", "-s", "64"],
            rtime=_value(r"^rtime: ([0-9.]+)")),
    Program("cache-scratch1", "cache-scratch", _cache_args(lambda p: 1)),
    Program("cache-scratchN", "cache-scratch", _cache_args(lambda p: p), multi=True),
    Program("glibc-simple", "glibc-simple", lambda p, s: []),
    Program("glibc-thread", "glibc-thread", lambda p, s: [str(p)],
            rtime=_rate(r"^([0-9]+) iterations", 1e9)),
    Program("larsonN", "larson", lambda p, s: ["5", "8", "1000", "5000", "100", "4141", str(p)],
            rtime=_value(r"relative time: ([0-9.]+)s")),
    Program("malloc-large", "malloc-large", lambda p, s: []),
    Program("mleak10", "mleak", lambda p, s: ["5"]),
    Program("mleak100", "mleak", lambda p, s: ["50"]),
    Program("cache-thrash1", "cache-thrash", _cache_args(lambda p: 1)),
    Program("cache-thrashN", "cache-thrash", _cache_args(lambda p: p), multi=True),
    Program("z3", "z3", lambda p, s: ["-smt2", os.path.join(s, "bench", "z3", "test1.smt2")],
            default=False, system=True, package="z3"),
    Program("rbstress1", "ruby",
            lambda p, s: [os.path.join(s, "bench", "rbstress", "stress_mem.rb"), "1"],
            default=False, system=True, package="ruby"),
    Program("rbstressN", "ruby",
            lambda p, s: [os.path.join(s, "bench", "rbstress", "stress_mem.rb"), str(p)],
            multi=True, default=False, system=True, package="ruby"),
]


def mb_commit(src):
    """(commit or None, local changes?) of the checkout at src."""
    try:
        head = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                              text=True)
        if head.returncode != 0:
            return None, False
        dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head.stdout.strip(), bool(dirty)
    except OSError:
        return None, False


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def probe(argv, stdin, alloc, tmp, limit=30):
    """None when every binding of malloc made while argv starts goes to alloc, else why not. The
    loader binds every symbol before main (LD_BIND_NOW), so the program is stopped as soon as the
    loader says it transfers control to it. Lookups made by the allocator's own library (its
    constructor finding the C library's malloc with dlsym) are its business and not counted."""
    d = tempfile.mkdtemp(prefix="probe-", dir=tmp)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update({"LD_DEBUG": "bindings,libs", "LD_BIND_NOW": "1",
                "LD_DEBUG_OUTPUT": os.path.join(d, "ld")})
    if alloc.preload:
        env["LD_PRELOAD"] = alloc.preload
    stdin_f = open(stdin, "rb") if stdin else subprocess.DEVNULL
    targets = set()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=d, stdin=stdin_f, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + limit
        while proc.poll() is None and time.monotonic() < deadline:
            started = False
            for path in glob.glob(os.path.join(d, "ld.*")):
                with open(path, errors="replace") as f:
                    if "transferring control: " in f.read():
                        started = True
            if started:
                break
            time.sleep(0.02)
        _killpg(proc.pid)
        proc.wait()
        own = os.path.realpath(alloc.preload) if alloc.preload else None
        for path in glob.glob(os.path.join(d, "ld.*")):
            with open(path, errors="replace") as f:
                text = f.read()
            # Only the loader's bindings, made before the program runs: once it runs, a preloaded
            # library may look up the C library's malloc with dlsym for blocks it does not own
            # (tbbmalloc's proxy does), which the 20 ms of polling can catch or not.
            cut = text.find("transferring control: ")
            for m in real.BINDING.finditer(text if cut < 0 else text[:cut]):
                if own is None or os.path.realpath(m.group(1)) != own:
                    targets.add(m.group(2))
    finally:
        if stdin:
            stdin_f.close()
        shutil.rmtree(d, ignore_errors=True)
    # bindings to the executable itself (a canonical PLT entry) say nothing either way
    exe = os.path.realpath(argv[0])
    targets = {t for t in targets if os.path.realpath(t) != exe}
    if not targets:
        return "no binding of malloc seen"
    wrong = [t for t in targets if not alloc.served(t)]
    if wrong:
        return "malloc bound to " + ", ".join(sorted(wrong))
    return None


def select_programs(spec, bindir):
    """[(Program, path or None)] for --programs (default: the default set)."""
    if spec in (None, "", "default"):
        chosen = [p for p in PROGRAMS if p.default]
    elif spec == "all":
        chosen = list(PROGRAMS)
    else:
        names = spec.split(",")
        unknown = [n for n in names if n not in [p.name for p in PROGRAMS]]
        if unknown:
            sys.exit("bench-mb: unknown program(s): %s (known: %s)" % (
                ", ".join(unknown), ", ".join(p.name for p in PROGRAMS)))
        chosen = [p for p in PROGRAMS if p.name in names]
    return [(p, p.path(bindir)) for p in chosen]


def record(status, ctx, time_s, extra):
    return {"status": status, "wall_s": time_s, "ops": 1.0,
            "ops_per_s": 1.0 / time_s if time_s > 0 else 0.0, "process_s": ctx.wall,
            "peak_rss_kib": ctx.rss_kib, "minflt": ctx.minflt, "majflt": ctx.majflt,
            "utime_s": ctx.utime, "stime_s": ctx.stime, "extra": extra, "samples": None}


def main():
    ap = argparse.ArgumentParser(
        description="mimalloc-bench's programs (built beforehand in MB_SRC) under shardalloc and "
        "every peer allocator, interleaved; tables, CSV and chart like bench/run.py.")
    ap.add_argument("--mb-src", default=os.environ.get("MB_SRC"),
                    help="the mimalloc-bench checkout, built with its own scripts "
                         "(default: $MB_SRC)")
    ap.add_argument("--mb-bin", help="its benchmark programs (default MB_SRC/out/bench)")
    ap.add_argument("--launcher",
                    default=os.path.join(suite.ROOT, "build", "bench", "bench-launch"))
    ap.add_argument("--shardalloc", default=os.environ.get("SHARDALLOC_LIB") or
                    os.path.join(suite.ROOT, "build", "libshardalloc.so"),
                    help="library preloaded as shardalloc (default build/libshardalloc.so)")
    ap.add_argument("--programs", help="comma-separated programs; 'all' adds the ones that need "
                    "a system program (z3, ruby); default: " +
                    ",".join(p.name for p in PROGRAMS if p.default))
    ap.add_argument("--allocators", help="comma-separated allocators (default: all installed)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=LIB",
                    help="one more allocator, a shared library preloaded under NAME (repeatable; "
                         "the environment variable MB_EXTRA adds more, space-separated)")
    ap.add_argument("--secure", action="store_true",
                    help="also run libshardalloc-secure.so (next to the library measured)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                    help="P in bench.sh's arguments: threads of the N programs (default: CPUs)")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per allocator (3)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (300)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", help="output file stem (default <date>-<host>-mb)")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--list", action="store_true",
                    help="show the checkout, the programs found and the allocators, then exit")
    args = ap.parse_args()
    args.scale = 1.0  # for the report header
    if args.runs < 1 or args.procs < 1:
        sys.exit("bench-mb: --runs and --procs must be at least 1")
    if not args.mb_src:
        sys.exit("bench-mb: no mimalloc-bench checkout: give MB_SRC=DIR (make bench-mb) or "
                 "--mb-src DIR; docs/benchmarks.md says how to build one")
    src = os.path.abspath(args.mb_src)
    bindir = os.path.abspath(args.mb_bin or os.path.join(src, "out", "bench"))
    if not os.path.isdir(bindir):
        sys.exit("bench-mb: %s not found: build mimalloc-bench's programs first "
                 "(docs/benchmarks.md)" % bindir)
    commit, dirty = mb_commit(src)
    if commit is None:
        mb_line = "mimalloc-bench at %s: commit unknown (not a git checkout)" % src
    else:
        mb_line = "mimalloc-bench at %s: commit %s%s" % (src, commit,
                                                         " with local changes" if dirty else "")
    say(mb_line)
    if commit != PINNED:
        say("WARNING: the pinned mimalloc-bench commit is %s; figures from another commit may "
            "differ (programs or arguments changed)" % PINNED)

    allocs, missing = suite.find_allocators(args.shardalloc, args.allocators)
    if not args.secure:
        allocs = [a for a in allocs if a.name != suite.SECURE]
    suite.add_extras(allocs, suite.extra_specs(args.extra, "MB_EXTRA"), "bench-mb")
    progs = select_programs(args.programs, bindir)
    if args.procs == 1:
        progs = [(p, path) for p, path in progs if not p.multi]
    if args.list:
        say("programs (P = %d):" % args.procs)
        for p, path in progs:
            if path:
                say("  %-15s %s %s%s" % (p.name, path, " ".join(p.args(args.procs, src)),
                                         " < " + os.path.join(src, p.stdin) if p.stdin else ""))
            else:
                say("  %-15s not found (%s)" % (p.name, "apt-get install " + p.package
                                                 if p.system else "not built in " + bindir))
        say("allocators: " + ", ".join(a.name for a in allocs))
        for n, path, hint in missing:
            say("missing: %s (%s; %s)" % (n, path, hint))
        return 0
    if not os.access(args.launcher, os.X_OK):
        sys.exit("bench-mb: %s not found (run make first)" % args.launcher)
    if not allocs:
        sys.exit("bench-mb: no allocator to run")
    for n, path, hint in missing:
        say("missing: %s (%s not found: %s); comparing the others" % (n, path, hint))
    skipped = []
    for p, path in progs:
        if path is None:
            why = ("%s not installed (apt-get install %s)" % (p.exe, p.package) if p.system
                   else "%s not built" % os.path.join(bindir, p.exe))
            skipped.append("%s (%s)" % (p.name, why))
            say("skipping %s: %s" % (p.name, why))
    progs = [(p, path) for p, path in progs if path]
    if not progs:
        sys.exit("bench-mb: no program to run")

    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0]
    meta = {"date": now.strftime("%Y-%m-%d"), "host": host,
            "command": " ".join(["bench/mb.py"] + sys.argv[1:]),
            "machine": suite.machine_description(allocs)}
    stem = args.name or "%s-%s-mb" % (meta["date"], host)
    os.makedirs(args.out, exist_ok=True)
    out_base = os.path.join(args.out, stem)
    names = [a.name for a in allocs]
    say("bench-mb: %d program(s) x %d allocator(s) (%s) x %d run(s), P = %d" % (
        len(progs), len(allocs), ", ".join(names), args.runs, args.procs))
    results = suite.Results()
    failures, cfgs = [], []
    started = time.monotonic()
    for prog, path in progs:
        argv = [path] + prog.args(args.procs, src)
        stdin = os.path.join(src, prog.stdin) if prog.stdin else None
        if stdin and not os.path.isfile(stdin):
            skipped.append("%s (input %s not found)" % (prog.name, stdin))
            say("skipping %s: input %s not found" % (prog.name, stdin))
            continue
        tmp = tempfile.mkdtemp(prefix="bench-mb-%s-" % prog.name)
        try:
            cfg = (prog.name, 1)
            cfgs.append(cfg)
            usable = []
            for a in allocs:
                why = probe(argv, stdin, a, tmp)
                if why:
                    msg = "%s under %s: preload not in effect: %s" % (prog.name, a.name, why)
                    say("  " + msg)
                    failures.append(msg)
                    results.add(cfg, a.name, real.failed_record(msg))
                else:
                    usable.append(a)
            ctx = real.Context(args.launcher, tmp, False, args.timeout)
            for r in range(1, args.runs + 1):
                for a in usable:
                    ctx.alloc = a
                    ctx.reset()
                    status, extra, t = "ok", {}, 0.0
                    try:
                        res = ctx.launch(argv, stdin=stdin)
                        t = ctx.wall
                        if prog.rtime:
                            t = prog.rtime(res.out.decode(errors="replace"))
                            extra["elapsed_s"] = "%.3f" % ctx.wall
                    except (real.CommandFailed, ValueError, OSError,
                            subprocess.SubprocessError) as e:
                        status = str(e)
                    results.add(cfg, a.name, record(status, ctx, t, extra))
                    head = "%-15s %-16s run %d/%d" % (prog.name, a.name, r, args.runs)
                    if status == "ok":
                        say("%s  %8.3f s  %8.1f MiB  %8.1fk faults  sys %6.2f s" % (
                            head, t, ctx.rss_kib / 1024, ctx.minflt / 1000, ctx.stime))
                    else:
                        say("%s  FAILED: %s" % (head, status))
                        failures.append("%s under %s, run %d: %s" % (prog.name, a.name, r,
                                                                      status))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["elapsed_s"] = time.monotonic() - started
    if not cfgs:
        sys.exit("bench-mb: no program to run")

    suite.write_csv(out_base + ".csv", results, 1, meta)
    charts = []
    if not args.no_chart:
        for p in suite.chart_ratios(results, cfgs, names, out_base, False):
            if p.endswith(".png"):
                charts.append(("mimalloc-bench: time and peak RSS relative to shardalloc",
                               os.path.basename(p)))
    notes = ("%s. Ratios are allocator / shardalloc: above 1.00 shardalloc is faster (time) or "
             "smaller (RSS). Arguments as mimalloc-bench's bench.sh gives them, P = %d. Time: the "
             "program's wall time, except larson, larson-sized, xmalloc-test, rptest and "
             "glibc-thread, which run for a fixed time: bench.sh's relative time from the rate "
             "they print. Peak RSS, faults and CPU times: the program's own, from wait4 in "
             "bench-launch." % (mb_line, args.procs))
    if skipped:
        notes += " Skipped: " + "; ".join(skipped) + "."
    text, summary = suite.build_report(results, cfgs, names, meta, args, missing, failures, charts,
                                       False, title="shardalloc on mimalloc-bench's programs",
                                       what="program", threads_col=False, notes=notes)
    with open(out_base + ".md", "w") as f:
        f.write(text + "\n")
    say()
    say(text)
    for line in summary:
        say(line)
    say("written: %s.csv, %s.md%s" % (out_base, out_base, "".join(
        ", " + os.path.join(args.out, c[1]) for c in charts)))
    say("total %.0f s" % meta["elapsed_s"])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
