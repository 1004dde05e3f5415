#!/usr/bin/python3
"""Runs the benchmark suite (build/bench/bench-suite) under shardalloc and every peer allocator
found on the machine, and reports the medians side by side.

Every allocator runs the very same binary, swapped in with LD_PRELOAD (glibc: no preload); each
child reports which object its malloc and free came from (dlsym + dladdr), and a run whose malloc
did not come from the intended library counts as failed. Runs are interleaved (every allocator
once, then every allocator again, ...) so that drift of a shared machine hits all of them alike.
For each run the runner records the workload's own measured time and ops/s, and from wait4() the
child's minor page faults and user/system time, and the child's peak RSS (its VmHWM at the end
of the run: wait4's ru_maxrss would include this script's own RSS at fork time).

Writes, in the output folder (default bench/results/), NAME = <date>-<host>:
  NAME.csv          every run
  NAME.md           tables: time, peak RSS, faults and system time, ratios against shardalloc,
                    geometric means, rss-return, scaling (with several thread counts)
  NAME-ratios.png/.svg       time and peak RSS relative to shardalloc, one bar group per workload
  NAME-rss-return.png/.svg   RSS over time in the rss-return workload, one line per allocator
(charts need gnuplot: apt-get install gnuplot-nox).

Standard library only; run it with /usr/bin/python3 (`make bench` does).
"""
import argparse
import csv
import datetime
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, file under LIBDIR (None: glibc, no preload), Debian package
PEERS = [
    ("glibc", None, "libc6"),
    ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
    ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("tbbmalloc", "libtbbmalloc_proxy.so.2", "libtbbmalloc2"),
]
BASE = "shardalloc"
# The secure build (libshardalloc-secure.so next to the library measured), measured as one more
# allocator so that its overhead shows as a ratio to the plain build.
SECURE = "shardalloc-secure"


class Allocator:
    def __init__(self, name, preload, package):
        self.name = name
        self.preload = preload  # None: glibc
        self.package = package

    def served(self, reported):
        """Did a child's malloc (or free) come from this allocator?"""
        if not reported or reported == "?":
            return False
        if self.preload is None:
            return os.path.basename(reported).startswith("libc.so")
        try:
            return os.path.realpath(reported) == os.path.realpath(self.preload)
        except OSError:
            return False


def is_peer(name):
    """Another allocator, not a build of ours: shardalloc, its secure build and any --extra named
    shardalloc-* (an older commit's library, another level) are not peers."""
    return name != BASE and not name.startswith(BASE + "-")


def say(msg=""):
    print(msg, flush=True)


def find_allocators(shardalloc_lib, wanted):
    """The allocators to run (shardalloc first) and the names of the missing peers."""
    found, missing = [], []
    if os.path.isfile(shardalloc_lib):
        found.append(Allocator(BASE, os.path.abspath(shardalloc_lib), None))
    else:
        missing.append((BASE, shardalloc_lib, "run make first"))
    secure = os.path.join(os.path.dirname(os.path.abspath(shardalloc_lib)), "libshardalloc-secure.so")
    if os.path.isfile(secure):
        found.append(Allocator(SECURE, secure, None))
    for name, lib, pkg in PEERS:
        path = None if lib is None else os.path.join(LIBDIR, lib)
        if path is None or os.path.isfile(path):
            found.append(Allocator(name, path, pkg))
        else:
            missing.append((name, path, "apt-get install " + pkg))
    if wanted:
        names = wanted.split(",")
        unknown = [n for n in names if n not in [BASE, SECURE] + [p[0] for p in PEERS]]
        if unknown:
            sys.exit("run.py: unknown allocator(s): " + ", ".join(unknown))
        found = [a for a in found if a.name in names]
        missing = [m for m in missing if m[0] in names]
    return found, missing


def extra_specs(given, env_var):
    """The --extra NAME=LIB specs: those given on the command line, then those of the environment
    variable env_var (space-separated, as `make bench BENCH_EXTRA="a=/x.so b=/y.so"` passes
    them)."""
    return list(given) + os.environ.get(env_var, "").split()


def add_extras(allocs, specs, who):
    """Appends an Allocator for each NAME=LIB spec (a shared library preloaded under NAME: a peer
    built from source, or another build of shardalloc such as an older commit's); exits with a
    message for a malformed spec, a name already taken or a missing library."""
    for spec in specs:
        name, _, lib = spec.partition("=")
        if not name or not lib or any(a.name == name for a in allocs):
            sys.exit("%s: --extra takes NAME=LIB with a new name, not %r" % (who, spec))
        if not os.path.isfile(lib):
            sys.exit("%s: --extra %s: %s not found" % (who, name, lib))
        allocs.append(Allocator(name, os.path.abspath(lib), None))


def list_workloads(binary):
    """[(name, default_threads)] from `bench-suite --list`."""
    out = subprocess.run([binary, "--list"], check=True, capture_output=True, text=True).stdout
    result = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            result.append((parts[0], int(parts[1])))
    return result


def parse_kv(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def run_child(binary, alloc, workload, threads, scale, seed, timeout):
    """One run; returns a dict (status 'ok' or why not)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if alloc.preload is not None:
        env["LD_PRELOAD"] = alloc.preload
    cmd = [binary, workload, "--threads", str(threads), "--scale", repr(scale), "--seed", str(seed)]
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
        _, status, ru = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        elapsed = time.monotonic() - t0
        err.seek(0)
        errtext = err.read().decode(errors="replace").strip()
    rec = {
        "process_s": elapsed,
        "peak_rss_kib": ru.ru_maxrss,
        "minflt": ru.ru_minflt,
        "majflt": ru.ru_majflt,
        "utime_s": ru.ru_utime,
        "stime_s": ru.ru_stime,
        "status": "ok",
        "extra": {},
        "samples": None,
    }
    lines = {}
    for line in out.splitlines():
        key, _, rest = line.partition(" ")
        lines[key] = rest
    if proc.returncode != 0:
        why = "timed out" if elapsed >= timeout else "exit %d" % proc.returncode
        if proc.returncode < 0:
            why = "killed by signal %d" % -proc.returncode
            if elapsed >= timeout:
                why += " (timeout)"
        rec["status"] = why + (": " + errtext.splitlines()[-1] if errtext else "")
        return rec
    if "result" not in lines:
        rec["status"] = "no result line" + (": " + errtext if errtext else "")
        return rec
    mfrom, ffrom = lines.get("malloc-from", "?"), lines.get("free-from", "?")
    if not (alloc.served(mfrom) and alloc.served(ffrom)):
        rec["status"] = "wrong allocator: malloc from %s, free from %s" % (mfrom, ffrom)
        return rec
    rec["malloc_from"] = mfrom
    kv = parse_kv(lines["result"])
    rec["wall_s"] = float(kv.pop("wall_s"))
    rec["ops"] = float(kv.pop("ops"))
    rec["ops_per_s"] = float(kv.pop("ops_per_s"))
    # The child's own high-water mark: wait4's ru_maxrss also counts the RSS this (python)
    # process had when it forked the child, which would hide small footprints.
    rec["wait4_maxrss_kib"] = rec["peak_rss_kib"]
    if "peak_rss_kib" in kv:
        rec["peak_rss_kib"] = int(kv.pop("peak_rss_kib"))
    for k in ("workload", "threads", "scale", "check"):
        kv.pop(k, None)
    rec["extra"] = kv
    if "samples" in lines:
        s = parse_kv(lines["samples"])
        ts = [float(x) for x in s.get("rss_t", "").split(",") if x]
        ks = [int(x) for x in s.get("rss_kib", "").split(",") if x]
        rec["samples"] = list(zip(ts, ks))
    return rec


def median(values):
    return statistics.median(values) if values else None


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt_num(v):
    """Seconds and the like: three significant digits or so."""
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def fmt_1(v):
    return "-" if v is None else ("%.0f" % v if v >= 1000 else "%.1f" % v)


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                             text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def machine_description(allocs):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = "%.0f GiB" % (kib / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    libc = platform.libc_ver()
    glibc = dpkg_version("libc6") or (libc[1] if libc[0] == "glibc" else "?")
    peers = []
    for a in allocs:
        if a.package and a.package != "libc6":
            peers.append("%s %s (%s)" % (a.name, dpkg_version(a.package) or "?", a.package))
        elif a.package is None and a.preload is not None and a.name not in (BASE, SECURE):
            peers.append("%s (%s, given with --extra)" % (a.name, a.preload))
    commit = "?"
    try:
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "glibc": glibc,
        "peers": peers,
        "commit": commit,
    }


class Results:
    """Runs keyed by (workload, threads) then allocator name."""

    def __init__(self):
        self.runs = {}

    def add(self, cfg, alloc, rec):
        self.runs.setdefault(cfg, {}).setdefault(alloc, []).append(rec)

    def ok(self, cfg, alloc):
        return [r for r in self.runs.get(cfg, {}).get(alloc, []) if r["status"] == "ok"]

    def med(self, cfg, alloc, key):
        vals = [r[key] for r in self.ok(cfg, alloc)]
        return median(vals)

    def med_extra(self, cfg, alloc, key):
        vals = [float(r["extra"][key]) for r in self.ok(cfg, alloc) if key in r["extra"]]
        return median(vals)


def write_csv(path, results, scale, meta):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "host", "workload", "threads", "scale", "allocator", "run", "status",
                    "wall_s", "ops", "ops_per_s", "process_s", "peak_rss_kib", "minflt", "majflt",
                    "utime_s", "stime_s", "extra"])
        for (wl, th), per in results.runs.items():
            for alloc, recs in per.items():
                for i, r in enumerate(recs, 1):
                    ok = r["status"] == "ok"
                    w.writerow([
                        meta["date"], meta["host"], wl, th, scale, alloc, i,
                        r["status"],
                        "%.6f" % r["wall_s"] if ok else "",
                        "%.0f" % r["ops"] if ok else "",
                        "%.1f" % r["ops_per_s"] if ok else "",
                        "%.3f" % r["process_s"], r["peak_rss_kib"], r["minflt"], r["majflt"],
                        "%.3f" % r["utime_s"], "%.3f" % r["stime_s"],
                        ";".join("%s=%s" % kv for kv in sorted(r["extra"].items())),
                    ])


def cfg_label(cfg, multi_thread_counts):
    wl, th = cfg
    return "%s/%dt" % (wl, th) if multi_thread_counts else wl


SUITE_NOTES = ("Ratios are allocator / shardalloc: above 1.00 shardalloc is faster (time) or "
               "smaller (RSS). Time is the workload's measured phase; peak RSS, faults and system "
               "time are the whole child process (peak RSS: VmHWM; faults, time: wait4).")


def build_report(results, cfgs, names, meta, args, missing, failures, charts, multi,
                 title="shardalloc benchmark results", what="workload", threads_col=True,
                 notes=None):
    """Markdown text, and the summary lines printed at the end. cfgs are (what, threads) pairs;
    bench/real/run.py passes what="program" and threads_col=False."""
    md = []
    md.append("# %s, %s, %s" % (title, meta["date"], meta["host"]))
    md.append("")
    m = meta["machine"]
    md.append("Machine: %s, %s cores, %s, kernel %s, glibc %s. Commit %s." %
              (m["cpu"], m["cores"], m["memory"], m["kernel"], m["glibc"], m["commit"]))
    md.append("Peers: %s." % ("; ".join(m["peers"]) if m["peers"] else "none"))
    if missing:
        md.append("Missing (not run): %s." % "; ".join(
            "%s (%s)" % (n, hint) for n, _, hint in missing))
    md.append("Command: `%s`; %d interleaved run(s) per allocator, medians; scale %g; "
              "total %.0f s." % (meta["command"], args.runs, args.scale, meta["elapsed_s"]))
    md.append("")
    md.append(notes or SUITE_NOTES)
    md.append("")
    for c in charts:
        md.append("![%s](%s)" % (c[0], c[1]))
    if charts:
        md.append("")

    summary = []
    base_ok = BASE in names

    def table(title, key, scale_div, unit_fmt, ratio=True, extra_key=None):
        md.append("## " + title)
        md.append("")
        md.append("| %s | %s" % (what, "threads | " if threads_col else "") + " | ".join(names) +
                  " |")
        md.append("|---|" + ("---:|" if threads_col else "") + "---:|" * len(names))
        ratios = {n: [] for n in names}
        for cfg in cfgs:
            row = [cfg[0]] + ([str(cfg[1])] if threads_col else [])
            getv = (lambda n: results.med_extra(cfg, n, extra_key)) if extra_key else \
                   (lambda n: results.med(cfg, n, key))
            base = getv(BASE) if base_ok else None
            for n in names:
                v = getv(n)
                if v is None:
                    row.append("fail" if results.runs.get(cfg, {}).get(n) else "-")
                    continue
                cell = unit_fmt(v / scale_div)
                if ratio and base and n != BASE and base > 0:
                    r = v / base
                    ratios[n].append(r)
                    cell += " (%.2f)" % r
                row.append(cell)
            md.append("| " + " | ".join(row) + " |")
        gm = {}
        if ratio and base_ok:
            cells = []
            for n in names:
                g = 1.0 if n == BASE else geomean(ratios[n])
                gm[n] = g
                cells.append("**%s**" % fmt_ratio(g))
            md.append("| **geomean ratio** | " + ("| " if threads_col else "") + " | ".join(cells) +
                      " |")
        md.append("")
        return gm

    gm_time = table("Time (s)", "wall_s", 1, fmt_num)
    gm_rss = table("Peak RSS (MiB)", "peak_rss_kib", 1024, fmt_1)
    table("Minor page faults (thousands)", "minflt", 1000, fmt_1, ratio=False)
    table("System time (s)", "stime_s", 1, fmt_num, ratio=False)
    if base_ok:
        for label, gm in (("time", gm_time), ("peak RSS", gm_rss)):
            summary.append("geomean %s ratio (allocator / shardalloc): " % label + ", ".join(
                "%s %s" % (n, fmt_ratio(gm.get(n))) for n in names if n != BASE))

    # shardalloc against the best peer of each workload
    if base_ok and len(names) > 1:
        md.append("## shardalloc against the best peer")
        md.append("")
        md.append("shardalloc's time over the fastest peer's, and peak RSS over the smallest "
                  "peer's (below 1.00: shardalloc leads).")
        md.append("")
        md.append("| %s | %sfastest peer | shardalloc / fastest | smallest peer | "
                  "shardalloc / smallest |" % (what, "threads | " if threads_col else ""))
        md.append("|---|" + ("---:|" if threads_col else "") + "---|---:|---|---:|")
        behind = []
        for cfg in cfgs:
            b_t, b_r = results.med(cfg, BASE, "wall_s"), results.med(cfg, BASE, "peak_rss_kib")
            peers_t = [(results.med(cfg, n, "wall_s"), n) for n in names if is_peer(n)]
            peers_r = [(results.med(cfg, n, "peak_rss_kib"), n) for n in names if is_peer(n)]
            peers_t = [p for p in peers_t if p[0] is not None]
            peers_r = [p for p in peers_r if p[0] is not None]
            if b_t is None or not peers_t:
                continue
            ft, fn = min(peers_t)
            sr, sn = min(peers_r) if peers_r else (float("nan"), "-")
            md.append("| %s | %s%s | %.2f | %s | %.2f |" % (
                cfg[0], "%d | " % cfg[1] if threads_col else "", fn, b_t / ft, sn, b_r / sr))
            behind.append((b_t / ft, cfg, fn))
        md.append("")
        behind.sort(reverse=True)
        summary.append("furthest behind the fastest peer (shardalloc time / peer time): " +
                       ", ".join("%s %.2fx vs %s" % (cfg_label(c, multi), r, n)
                                 for r, c, n in behind[:3]))

    # rss-return: memory given back
    rr = [c for c in cfgs if c[0] == "rss-return"]
    if rr:
        md.append("## rss-return: memory given back")
        md.append("")
        md.append("RSS (MiB) just after the threads freed everything and exited, and after the "
                  "idle phase (the process still running lightly); medians.")
        md.append("")
        md.append("| threads | allocator | peak | after free | at the end | end / peak |")
        md.append("|---:|---|---:|---:|---:|---:|")
        for cfg in rr:
            for n in names:
                pk = results.med(cfg, n, "peak_rss_kib")
                af = results.med_extra(cfg, n, "after_free_kib")
                fe = results.med_extra(cfg, n, "final_rss_kib")
                if pk is None:
                    continue
                md.append("| %d | %s | %.0f | %.0f | %.0f | %.3f |" % (
                    cfg[1], n, pk / 1024, (af or 0) / 1024, (fe or 0) / 1024, (fe or 0) / pk))
        md.append("")

    # scaling: ops/s per thread count
    counts = sorted({c[1] for c in cfgs})
    if multi:
        md.append("## Scaling: million ops/s per thread count")
        md.append("")
        md.append("| workload | allocator | " + " | ".join("%dt" % t for t in counts) + " |")
        md.append("|---|---|" + "---:|" * len(counts))
        for wl in sorted({c[0] for c in cfgs if sum(1 for d in cfgs if d[0] == c[0]) > 1}):
            for n in names:
                cells = []
                for t in counts:
                    v = results.med((wl, t), n, "ops_per_s")
                    cells.append("-" if v is None else "%.2f" % (v / 1e6))
                md.append("| %s | %s | %s |" % (wl, n, " | ".join(cells)))
        md.append("")

    if failures:
        md.append("## Failed runs")
        md.append("")
        for f in failures:
            md.append("- " + f)
        md.append("")
    return "\n".join(md), summary


def gnuplot(script, what):
    exe = shutil.which("gnuplot")
    if exe is None:
        say("charts skipped: gnuplot not found (apt-get install gnuplot-nox)")
        return False
    p = subprocess.run([exe], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        say("gnuplot failed for %s:\n%s" % (what, p.stderr.strip()))
        return False
    return True


def terminals():
    return [("png", "pngcairo size 1500,900 font ',10'"), ("svg", "svg size 1500,900 font ',10'")]


# gnuplot has 8 line colours and then repeats them: four more for runs with many allocators.
EXTRA_COLOURS = "\n".join("set linetype %d lc rgb '%s'" % (9 + i, c) for i, c in enumerate(
    ("#8c564b", "#7f7f7f", "#ff9896", "#17becf")))


def chart_ratios(results, cfgs, names, out_base, multi):
    peers = [n for n in names if n != BASE]
    if BASE not in names or not peers:
        return []
    dat = out_base + "-ratios.dat"
    with open(dat, "w") as f:
        f.write("# workload, time ratios, then RSS ratios: " + " ".join(peers) + "\n")
        for cfg in cfgs:
            row = [cfg_label(cfg, multi)]
            for key in ("wall_s", "peak_rss_kib"):
                b = results.med(cfg, BASE, key)
                for n in peers:
                    v = results.med(cfg, n, key)
                    row.append("%.4f" % (v / b) if v and b else "NaN")
            f.write(" ".join(row) + "\n")
    k = len(peers)
    outputs = []
    for ext, term in terminals():
        path = "%s-ratios.%s" % (out_base, ext)
        plot_t = ", ".join("'%s' using %d:xtic(1) title '%s'" % (dat, 2 + i, peers[i])
                           for i in range(k))
        plot_r = ", ".join("'%s' using %d:xtic(1) title '%s'" % (dat, 2 + k + i, peers[i])
                           for i in range(k))
        script = f"""
set terminal {term}
set output '{path}'
set datafile missing 'NaN'
set style data histogram
set style histogram clustered gap 1
{EXTRA_COLOURS}
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set grid ytics
set key outside right top
set xrange [-0.6:{len(cfgs) - 0.4}]
set xtics rotate by -35 nomirror
set multiplot layout 2,1
set title 'time relative to shardalloc (above 1: shardalloc is faster)'
set ylabel 'time / shardalloc'
plot {plot_t}, 1 with lines lw 2 lc rgb 'black' notitle
set title 'peak RSS relative to shardalloc (above 1: shardalloc uses less)'
set ylabel 'peak RSS / shardalloc'
plot {plot_r}, 1 with lines lw 2 lc rgb 'black' notitle
unset multiplot
"""
        if gnuplot(script, path):
            outputs.append(path)
    os.unlink(dat)
    return outputs


def chart_rss(results, cfgs, names, out_base):
    rr = [c for c in cfgs if c[0] == "rss-return"]
    if not rr:
        return []
    cfg = rr[0]
    dats = []
    for n in names:
        recs = [r for r in results.ok(cfg, n) if r["samples"]]
        if not recs:
            continue
        # the run with the median final RSS
        recs.sort(key=lambda r: float(r["extra"].get("final_rss_kib", 0)))
        rec = recs[len(recs) // 2]
        dat = "%s-rss-%s.dat" % (out_base, n)
        with open(dat, "w") as f:
            for t, kib in rec["samples"]:
                f.write("%.3f %.1f\n" % (t, kib / 1024))
        dats.append((n, dat))
    if not dats:
        return []
    outputs = []
    for ext, term in terminals():
        path = "%s-rss-return.%s" % (out_base, ext)
        plots = ", ".join("'%s' using 1:2 with lines lw 2 title '%s'" % (d, n) for n, d in dats)
        script = f"""
set terminal {term.replace('1500,900', '1200,600')}
set output '{path}'
set title 'rss-return: RSS over time ({cfg[1]} threads allocate 1 GiB, free it, exit; then idle)'
set xlabel 'seconds since start'
set ylabel 'RSS (MiB)'
set logscale y 2
set grid
set key outside right top
plot {plots}
"""
        if gnuplot(script, path):
            outputs.append(path)
    for _, d in dats:
        os.unlink(d)
    return outputs


def main():
    ap = argparse.ArgumentParser(
        description="Run bench-suite under shardalloc and every peer allocator, interleaved, and "
        "report medians, ratios, CSV and charts.")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bench", "bench-suite"),
                    help="the bench-suite binary (default build/bench/bench-suite)")
    ap.add_argument("--shardalloc", default=os.environ.get("SHARDALLOC_LIB") or
                    os.path.join(ROOT, "build", "libshardalloc.so"),
                    help="library preloaded as shardalloc (default build/libshardalloc.so)")
    ap.add_argument("--workloads",
                    help="comma-separated workloads (default: all; --list shows them)")
    ap.add_argument("--allocators", help="comma-separated allocators (default: all installed)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=LIB",
                    help="one more allocator: a shared library preloaded under NAME (repeatable; "
                         "say, another build of shardalloc or a peer built from source); the "
                         "environment variable BENCH_EXTRA adds more, space-separated")
    ap.add_argument("--runs", type=int, default=3,
                    help="interleaved runs per allocator (default 3)")
    ap.add_argument("--threads", help="thread counts for the multi-threaded workloads, e.g. "
                    "1,2,4,8,16 (default: each workload's own, 2); adds a scaling table")
    ap.add_argument("--scale", type=float, default=1.0, help="work multiplier (default 1)")
    ap.add_argument("--quick", action="store_true", help="a quick look: --scale 0.2")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="output folder (default bench/results)")
    ap.add_argument("--name", help="output file name stem (default <date>-<host>)")
    ap.add_argument("--no-chart", action="store_true", help="skip the gnuplot charts")
    ap.add_argument("--list", action="store_true", help="list workloads and allocators, then exit")
    args = ap.parse_args()
    if args.quick:
        args.scale = min(args.scale, 0.2)
    if args.runs < 1:
        sys.exit("run.py: --runs must be at least 1")

    if not os.access(args.bin, os.X_OK):
        sys.exit("run.py: %s not found (run make first)" % args.bin)
    all_workloads = list_workloads(args.bin)
    allocs, missing = find_allocators(args.shardalloc, args.allocators)
    add_extras(allocs, extra_specs(args.extra, "BENCH_EXTRA"), "run.py")
    if args.list:
        say("workloads: " + ", ".join("%s (%d thread%s)" % (w, t, "s" if t > 1 else "")
                                      for w, t in all_workloads))
        say("allocators: " + ", ".join(a.name for a in allocs))
        for n, path, hint in missing:
            say("missing: %s (%s; %s)" % (n, path, hint))
        return 0
    wanted = args.workloads.split(",") if args.workloads else [w for w, _ in all_workloads]
    known = dict(all_workloads)
    bad = [w for w in wanted if w not in known]
    if bad:
        sys.exit("run.py: unknown workload(s): %s (known: %s)" % (", ".join(bad), ", ".join(known)))
    thread_list = None
    if args.threads:
        try:
            thread_list = [int(t) for t in args.threads.split(",")]
        except ValueError:
            sys.exit("run.py: --threads takes a comma-separated list of numbers")
    cfgs = []
    for w in wanted:
        if known[w] > 1 and thread_list:
            cfgs += [(w, t) for t in thread_list]
        else:
            cfgs.append((w, known[w]))
    multi = thread_list is not None and len(thread_list) > 1
    if not allocs:
        sys.exit("run.py: no allocator to run")
    for n, path, hint in missing:
        say("missing: %s (%s not found: %s); comparing the others" % (n, path, hint))
    if BASE not in [a.name for a in allocs] and not args.allocators:
        sys.exit("run.py: %s not found (run make first)" % args.shardalloc)

    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0]
    meta = {"date": now.strftime("%Y-%m-%d"), "host": host,
            "command": " ".join(["bench/run.py"] + sys.argv[1:]),
            "machine": machine_description(allocs)}
    stem = args.name or "%s-%s" % (meta["date"], host)
    os.makedirs(args.out, exist_ok=True)
    out_base = os.path.join(args.out, stem)

    names = [a.name for a in allocs]
    total = len(cfgs) * args.runs * len(allocs)
    say("bench: %d workload configuration(s) x %d allocator(s) (%s) x %d run(s) = %d runs, "
        "scale %g" % (len(cfgs), len(allocs), ", ".join(names), args.runs, total, args.scale))
    results = Results()
    failures = []
    started = time.monotonic()
    k = 0
    for cfg in cfgs:
        wl, th = cfg
        for r in range(1, args.runs + 1):
            for a in allocs:
                k += 1
                rec = run_child(args.bin, a, wl, th, args.scale, args.seed, args.timeout)
                results.add(cfg, a.name, rec)
                head = "[%*d/%d] %-13s %2dt  %-10s run %d/%d" % (len(str(total)), k, total, wl, th,
                                                              a.name, r, args.runs)
                if rec["status"] == "ok":
                    say("%s  %8.3f s  %8.1f MiB  %8.1fk faults  sys %6.2f s" % (
                        head, rec["wall_s"], rec["peak_rss_kib"] / 1024, rec["minflt"] / 1000,
                        rec["stime_s"]))
                else:
                    say("%s  FAILED: %s" % (head, rec["status"]))
                    failures.append("%s (%d threads) under %s, run %d: %s" % (
                        wl, th, a.name, r, rec["status"]))
    meta["elapsed_s"] = time.monotonic() - started

    write_csv(out_base + ".csv", results, args.scale, meta)
    charts = []
    if not args.no_chart:
        for p in chart_ratios(results, cfgs, names, out_base, multi):
            if p.endswith(".png"):
                charts.append(("time and peak RSS relative to shardalloc", os.path.basename(p)))
        for p in chart_rss(results, cfgs, names, out_base):
            if p.endswith(".png"):
                charts.append(("rss-return: RSS over time", os.path.basename(p)))
    text, summary = build_report(results, cfgs, names, meta, args, missing, failures, charts, multi)
    with open(out_base + ".md", "w") as f:
        f.write(text + "\n")
    say()
    say(text)
    say()
    for line in summary:
        say(line)
    say("written: %s.csv, %s.md%s" % (out_base, out_base, "".join(
        ", " + os.path.join(args.out, c[1]) for c in charts)))
    say("total %.0f s" % meta["elapsed_s"])
    if failures:
        say("%d run(s) FAILED (see above)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
