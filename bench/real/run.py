#!/usr/bin/python3
"""`make bench-real`: real programs (python3, sqlite3, git, g++, redis, lua, xmllint, perl, ruby,
php; see programs.py) under shardalloc and every peer allocator installed, interleaved, with the
same tables, CSV and chart as the synthetic suite (bench/run.py).

For each program: its inputs are generated once; a probe run under each allocator with
LD_DEBUG=bindings must show every binding of `malloc` going to that allocator's library (glibc:
libc.so.6), or the allocator is not measured on that program; then the program runs --runs times
per allocator, interleaved. Every command starts from bench-launch (build/bench/bench-launch), so
its peak RSS is its own and not this script's. A run's time is the sum of its commands' wall
times, its peak RSS their maximum (redis: the benchmark client's time, the server's RSS). The
output of every run must equal glibc's (a digest per program), else the run counts as failed.

Writes <out>/<date>-<host>-real.csv, .md and -real-ratios.png/.svg (bench/results/ by default).
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
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from programs import PROGRAMS  # noqa: E402


def _load_suite():
    """bench/run.py (allocators, tables, charts), loaded by path: this file is run.py too."""
    spec = importlib.util.spec_from_file_location("bench_suite_run",
                                                  os.path.join(os.path.dirname(HERE), "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


suite = _load_suite()

say = suite.say


class Launched:
    def __init__(self, rc, out, err, wall, rss_kib, minflt, majflt, utime, stime):
        self.rc, self.out, self.err = rc, out, err
        self.wall, self.rss_kib, self.minflt, self.majflt = wall, rss_kib, minflt, majflt
        self.utime, self.stime = utime, stime


class CommandFailed(Exception):
    pass


class Context:
    """One program: its temporary folder, and the totals of the run in progress."""

    def __init__(self, launcher, tmp, quick, timeout):
        self.launcher, self.tmp, self.quick, self.timeout = launcher, tmp, quick, timeout
        self.alloc = None
        self.reset()

    def reset(self):
        self.wall = 0.0
        self.rss_kib = 0
        self.minflt = self.majflt = 0
        self.utime = self.stime = 0.0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)

    def spawn(self, argv, stdin=None, env=None, preload=True):
        """Starts argv through bench-launch under the current allocator; returns a handle."""
        full_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        full_env.update(env or {})
        lib = self.alloc.preload if preload and self.alloc.preload else "-"
        fd, result = tempfile.mkstemp(prefix="launch-", dir=self.tmp)
        os.close(fd)
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        stdin_f = open(stdin, "rb") if stdin else subprocess.DEVNULL
        try:
            proc = subprocess.Popen([self.launcher, result, lib] + list(argv), env=full_env,
                                    cwd=self.tmp, stdin=stdin_f, stdout=out, stderr=err,
                                    start_new_session=True)
        finally:
            if stdin:
                stdin_f.close()
        timer = threading.Timer(self.timeout, lambda: _killpg(proc.pid))
        timer.daemon = True
        timer.start()
        return {"proc": proc, "result": result, "out": out, "err": err, "timer": timer,
                "argv": argv}

    def finish(self, h, account="all", wait_s=None):
        """Waits for a spawned command (at most wait_s seconds, then kills it); adds what
        `account` says to the run's totals: 'all', 'time' (wall time only) or 'rss' (peak RSS,
        faults and CPU time, not wall)."""
        proc = h["proc"]
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid)
            proc.wait()
        h["timer"].cancel()
        _killpg(proc.pid)  # whatever it left running in its session
        try:
            with open(h["result"]) as f:
                fields = f.read().split()
        finally:
            os.unlink(h["result"])
        h["out"].seek(0)
        h["err"].seek(0)
        out, err = h["out"].read(), h["err"].read()
        h["out"].close()
        h["err"].close()
        if len(fields) != 7:
            raise CommandFailed("%s: no resource usage (exit %s): %s" % (
                " ".join(h["argv"]), proc.returncode, err.decode(errors="replace")[-300:]))
        # test/real/rusage.c's line: wall, peak RSS, wait status, faults, CPU times
        wall, rss, status = float(fields[0]), int(fields[1]), int(fields[2])
        minflt, majflt = int(fields[3]), int(fields[4])
        utime, stime = float(fields[5]), float(fields[6])
        rc = os.waitstatus_to_exitcode(status)
        rec = Launched(rc, out, err, wall, rss, minflt, majflt, utime, stime)
        if account in ("all", "time"):
            self.wall += wall
        if account in ("all", "rss"):
            self.rss_kib = max(self.rss_kib, rss)
            self.minflt += minflt
            self.majflt += majflt
            self.utime += utime
            self.stime += stime
        if rc != 0:
            raise CommandFailed("%s: %s: %s" % (
                " ".join(os.path.basename(a) for a in h["argv"][:3]),
                "killed by signal %d" % -rc if rc < 0 else "exit %d" % rc,
                err.decode(errors="replace").strip()[-300:]))
        return rec

    def launch(self, argv, stdin=None, env=None, preload=True, account="all"):
        return self.finish(self.spawn(argv, stdin, env, preload), account)


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `malloc'")


def probe(prog, alloc, tmp):
    """None when every binding of malloc in prog's probe command goes to alloc, else why not."""
    d = tempfile.mkdtemp(prefix="probe-", dir=tmp)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(getattr(prog, "env", {}))
    env.update({"LD_DEBUG": "bindings", "LD_BIND_NOW": "1",
                "LD_DEBUG_OUTPUT": os.path.join(d, "ld")})
    if alloc.preload:
        env["LD_PRELOAD"] = alloc.preload
    try:
        subprocess.run(prog.probe, env=env, cwd=d, capture_output=True, timeout=60)
        targets = set()
        for path in glob.glob(os.path.join(d, "ld.*")):
            with open(path, errors="replace") as f:
                for m in BINDING.finditer(f.read()):
                    targets.add(m.group(2))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    # A non-PIC executable that takes malloc's address gets a canonical PLT entry: the other
    # objects' references bind to the executable itself, whose own reference binds to the real
    # malloc, so bindings to the executable are not a verdict either way.
    exe = os.path.realpath(shutil.which(prog.probe[0]) or prog.probe[0])
    targets = {t for t in targets if os.path.realpath(t) != exe}
    if not targets:
        return "no binding of malloc seen"
    wrong = [t for t in targets if not alloc.served(t)]
    if wrong:
        return "malloc bound to " + ", ".join(sorted(wrong))
    return None


def main():
    ap = argparse.ArgumentParser(description="real programs under every allocator")
    ap.add_argument("--launcher",
                    default=os.path.join(suite.ROOT, "build", "bench", "bench-launch"))
    ap.add_argument("--shardalloc", default=os.environ.get("SHARDALLOC_LIB") or
                    os.path.join(suite.ROOT, "build", "libshardalloc.so"))
    ap.add_argument("--programs", help="comma-separated (default: all installed): " +
                    ",".join(p.name for p in PROGRAMS))
    ap.add_argument("--allocators", help="comma-separated allocators (default: all installed)")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per allocator (3)")
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per command (300)")
    ap.add_argument("--out", default=os.path.join(suite.HERE, "results"))
    ap.add_argument("--name", help="output file stem (default <date>-<host>-real)")
    ap.add_argument("--no-chart", action="store_true")
    args = ap.parse_args()
    args.scale = 1.0  # for the report header
    if not os.access(args.launcher, os.X_OK):
        sys.exit("bench-real: %s not found (run make first)" % args.launcher)
    allocs, missing = suite.find_allocators(args.shardalloc, args.allocators)
    for n, path, hint in missing:
        say("missing: %s (%s not found: %s); comparing the others" % (n, path, hint))
    if not allocs:
        sys.exit("bench-real: no allocator to run")
    progs = PROGRAMS
    if args.programs:
        wanted = args.programs.split(",")
        unknown = [w for w in wanted if w not in [p.name for p in PROGRAMS]]
        if unknown:
            sys.exit("bench-real: unknown program(s): " + ", ".join(unknown))
        progs = [p for p in PROGRAMS if p.name in wanted]

    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0]
    meta = {"date": now.strftime("%Y-%m-%d"), "host": host,
            "command": " ".join(["bench/real/run.py"] + sys.argv[1:]),
            "machine": suite.machine_description(allocs)}
    stem = args.name or "%s-%s-real" % (meta["date"], host)
    os.makedirs(args.out, exist_ok=True)
    out_base = os.path.join(args.out, stem)
    names = [a.name for a in allocs]
    results = suite.Results()
    failures, skipped, cfgs = [], [], []
    started = time.monotonic()
    for prog in progs:
        if not os.access(prog.exe, os.X_OK):
            skipped.append("%s (%s not installed: apt-get install %s)" % (prog.name, prog.exe,
                                                                         prog.package))
            say("skipping %s: %s not installed (apt-get install %s)" % (prog.name, prog.exe,
                                                                        prog.package))
            continue
        tmp = tempfile.mkdtemp(prefix="bench-real-%s-" % prog.name.replace("+", "x"))
        try:
            ctx = Context(args.launcher, tmp, args.quick, args.timeout)
            try:
                prog.setup(ctx)
            except (OSError, subprocess.SubprocessError) as e:
                skipped.append("%s (setup: %s)" % (prog.name, e))
                say("skipping %s: %s" % (prog.name, e))
                continue
            cfg = (prog.name, 1)
            cfgs.append(cfg)
            usable = []
            for a in allocs:
                why = probe(prog, a, tmp)
                if why and a.preload is None:
                    # the program brings its own malloc (redis-server links jemalloc): there is
                    # no glibc figure to take
                    msg = "%s: no glibc figure (%s)" % (prog.name, why)
                    say("  " + msg)
                    skipped.append(msg)
                elif why:
                    msg = "%s under %s: preload not in effect: %s" % (prog.name, a.name, why)
                    say("  " + msg)
                    failures.append(msg)
                    results.add(cfg, a.name, failed_record(msg))
                else:
                    usable.append(a)
            # glibc first in each round: its output is the reference
            usable.sort(key=lambda a: a.name != "glibc")
            reference = None
            for r in range(1, args.runs + 1):
                for a in usable:
                    ctx.alloc = a
                    ctx.reset()
                    status = "ok"
                    try:
                        dig = prog.run(ctx)
                        if reference is None:
                            reference = dig
                        elif dig != reference:
                            status = "output differs from the first run's (%s != %s)" % (
                                dig, reference)
                    except (CommandFailed, RuntimeError, OSError, subprocess.SubprocessError) as e:
                        status = str(e)
                    rec = {"status": status, "wall_s": ctx.wall, "ops": 1.0,
                           "ops_per_s": 1.0 / ctx.wall if ctx.wall > 0 else 0.0,
                           "process_s": ctx.wall, "peak_rss_kib": ctx.rss_kib,
                           "minflt": ctx.minflt, "majflt": ctx.majflt, "utime_s": ctx.utime,
                           "stime_s": ctx.stime, "extra": {}, "samples": None}
                    results.add(cfg, a.name, rec)
                    head = "%-8s %-10s run %d/%d" % (prog.name, a.name, r, args.runs)
                    if status == "ok":
                        say("%s  %8.3f s  %8.1f MiB  %8.1fk faults  sys %6.2f s" % (
                            head, ctx.wall, ctx.rss_kib / 1024, ctx.minflt / 1000, ctx.stime))
                    else:
                        say("%s  FAILED: %s" % (head, status))
                        failures.append("%s under %s, run %d: %s" % (prog.name, a.name, r, status))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["elapsed_s"] = time.monotonic() - started
    if not cfgs:
        sys.exit("bench-real: no program to run")

    suite.write_csv(out_base + ".csv", results, 1, meta)
    charts = []
    if not args.no_chart:
        for p in suite.chart_ratios(results, cfgs, names, out_base, False):
            if p.endswith(".png"):
                charts.append(("real programs: time and peak RSS relative to shardalloc",
                               os.path.basename(p)))
    notes = ("Ratios are allocator / shardalloc: above 1.00 shardalloc is faster (time) or smaller "
             "(RSS). Time: the program's commands' wall time added up (redis: the benchmark "
             "client's); peak RSS: the largest of its commands (redis: the server's), from wait4 "
             "in bench-launch; faults and system time added up. Every run's output matched the "
             "first run's unless listed under failed runs.")
    if skipped:
        notes += " Skipped: " + "; ".join(skipped) + "."
    text, summary = suite.build_report(results, cfgs, names, meta, args, missing, failures, charts,
                                       False, title="shardalloc on real programs",
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


def failed_record(msg):
    return {"status": msg, "wall_s": 0.0, "ops": 0.0, "ops_per_s": 0.0, "process_s": 0.0,
            "peak_rss_kib": 0, "minflt": 0, "majflt": 0, "utime_s": 0.0, "stime_s": 0.0,
            "extra": {}, "samples": None}


if __name__ == "__main__":
    sys.exit(main())
