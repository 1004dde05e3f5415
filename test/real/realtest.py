#!/usr/bin/python3
"""Real-program tests: programs nobody here wrote, run once with the C library's allocator and once
with libshardalloc.so preloaded, in the same environment; their results must be identical.

    realtest.py run NAME... --lib LIB --report FILE [--quick] [--timeout S] [--keep]
                    [--runner REAL_RUSAGE]
    realtest.py report FILE        (re)write FILE from the results recorded so far
    realtest.py list               the test names and what each runs

NAME is one of the names `list` prints, or `all`. For each program the driver
  1. skips (exit 77) when the program is not installed;
  2. generates its input once, deterministically (fixed seeds), in a fresh temporary folder (the
     sqlite database lives in /dev/shm);
  3. runs a short probe of the program with LD_PRELOAD=LIB and MIMALLOC_VERBOSE=1 and requires the
     library's "shardalloc: process init" line on stderr: proof that the preload takes effect in
     that program (a wrong path only makes ld.so warn, and the run would silently use glibc). The
     probe is separate so that the library's messages never reach the stderr that is compared;
  4. runs the workload plainly ("glibc"), then with LD_PRELOAD=LIB ("shardalloc"), each command
     with a timeout, recording wall time and peak RSS (ru_maxrss from wait4, which covers the
     process and every descendant it waited for; each command is started through real-rusage,
     rusage.c, so that the figure is not the driver's own RSS);
  5. compares what each run produced: stdout, exit status, stderr where it is deterministic, and
     per program digests of what it wrote (a git repository, a compiled program, ...). For
     CPython's regression tests it compares the sets of failed test cases; a case that failed in
     one run only is run twice more under each allocator and the majority of its 3 runs decides.
Only correctness is asserted, never times. Each result goes to FILE.d/NAME.json (FILE.d for a
report FILE.md) and FILE (the markdown report, one table of every program with a recorded result)
is rewritten after each test, under a lock, so parallel ctest runs build one report together.

A difference under the preload is an allocator bug until shown otherwise: the driver prints what
differs and the command lines that reproduce the preloaded run (with a gdb line for a crash),
keeps the temporary folder (with --keep it is always kept) and saves both versions of each
differing output in FILE.d/fail-NAME/.

Environment: SHARDALLOC_TEST_QUICK=1 (set by ctest in the SHARDALLOC_DEBUG build) has the same
effect as --quick: smaller inputs, same programs and checks.
Exit status: 0 passed, 1 failed, 2 usage, 77 skipped (not installed).
Python 3 standard library only; run it with Debian's /usr/bin/python3.
"""
import argparse
import datetime
import difflib
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")
MARKER = "shardalloc: process init"
SKIP = 77
PY = "/usr/bin/python3.11"  # Debian's interpreter: the regression tests of libpython3.11-testsuite
GLIB_TESTS = "/usr/libexec/installed-tests/glib"
GLIB_SEED = "R02S5368617264616c6c6f63207265616c21"  # fixed, so random test paths are the same
VARIANTS = ("glibc", "shardalloc")


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def log(msg=""):
    print(msg, flush=True)


def mib(kib):
    return kib / 1024.0


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Running one command


class Result:
    """One finished command: exit status, output, wall time, peak RSS (KiB)."""

    def __init__(self, argv, rc, out, err, wall, rss_kib, timed_out):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.wall, self.rss_kib, self.timed_out = wall, rss_kib, timed_out


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


RUNNER = None  # path of real-rusage (rusage.c), set by main()


def execute(argv, env, cwd, timeout, stdin_path=None, preload=None):
    """Runs argv (with LD_PRELOAD=preload when given) in a session of its own, through the
    real-rusage helper so that its peak RSS is its own (see rusage.c); on timeout the whole
    session is killed. Returns a Result."""
    env = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    result_fd, result_path = tempfile.mkstemp(prefix="rusage-", dir=None)
    os.close(result_fd)
    if RUNNER:
        full = [RUNNER, result_path, preload or "-"] + list(argv)
    else:
        full = list(argv)
        if preload:
            env["LD_PRELOAD"] = preload
    try:
        with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
            stdin_f = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
            try:
                start = time.monotonic()
                proc = subprocess.Popen(full, env=env, cwd=cwd, stdin=stdin_f, stdout=out_f,
                                        stderr=err_f, start_new_session=True)
            finally:
                if stdin_path:
                    stdin_f.close()
            state = {"reaped": False, "timed_out": False}
            lock = threading.Lock()

            def on_timeout():
                with lock:
                    if not state["reaped"]:
                        state["timed_out"] = True
                        _kill_group(proc.pid)

            timer = threading.Timer(timeout, on_timeout)
            timer.daemon = True
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
            with lock:
                state["reaped"] = True
            timer.cancel()
            rss = usage.ru_maxrss
            with open(result_path) as f:
                fields = f.read().split()
            if RUNNER and len(fields) >= 3:
                wall, rss, status = float(fields[0]), int(fields[1]), int(fields[2])
            proc.returncode = os.waitstatus_to_exitcode(status)
            # Anything the command left running in its session (it should leave nothing) goes too.
            _kill_group(proc.pid)
            out_f.seek(0)
            err_f.seek(0)
            return Result(argv, proc.returncode, out_f.read(), err_f.read(), wall, rss,
                          state["timed_out"])
    finally:
        os.unlink(result_path)


def find_runner(given, results):
    """The real-rusage helper: --runner, else built here from rusage.c with cc (once, into the
    results folder), else none (then the peak RSS of small programs includes the driver's)."""
    if given:
        return os.path.abspath(given)
    src = os.path.join(HERE, "rusage.c")
    exe = os.path.join(results, "real-rusage")
    if os.path.isfile(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        os.makedirs(results, exist_ok=True)
        tmp = exe + ".%d" % os.getpid()
        if subprocess.run([cc, "-O2", "-o", tmp, src]).returncode == 0:
            os.replace(tmp, exe)
            return exe
    log("realtest: warning: no real-rusage helper; peak RSS figures include the driver's RSS")
    return None


def describe_exit(rc):
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


# --------------------------------------------------------------------------------------------
# The context of one program's test and its two variants


class Context:
    def __init__(self, name, lib, quick, timeout, keep):
        self.name, self.lib, self.quick, self.timeout, self.keep = name, lib, quick, timeout, keep
        self.tmp = tempfile.mkdtemp(prefix="real-%s-" % name)
        self.shm_dirs = []
        self.notes = []
        home = os.path.join(self.tmp, "home")
        tmpdir = os.path.join(self.tmp, "tmp")
        os.makedirs(home)
        os.makedirs(tmpdir)
        # The same environment for both runs: the caller's, without allocator options, preloads
        # and interpreter settings that would change what the programs do.
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("MIMALLOC_") or k.startswith("PYTHON") or k.startswith("G_")
                       or k in ("LD_PRELOAD", "LD_LIBRARY_PATH", "USE_ZEND_ALLOC", "PERL5LIB",
                                "RUBYOPT", "RUBYLIB", "LUA_INIT", "LUA_PATH", "LUA_CPATH",
                                "GIT_DIR", "GIT_WORK_TREE"))}
        env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": home,
                    "TMPDIR": tmpdir})
        self.env = env

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def shm_dir(self):
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        d = tempfile.mkdtemp(prefix="real-%s-" % self.name, dir=base)
        self.shm_dirs.append(d)
        return d

    def scratch(self):
        """A fresh folder at the same path for each variant (paths can appear in output)."""
        d = self.path("run")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def generate(self, argv, out_name):
        """Runs a generator (plainly, untimed) and stores its stdout in the temporary folder."""
        path = self.path(out_name)
        r = execute(argv, self.env, self.tmp, self.timeout)
        if r.rc != 0:
            raise Failure("generator %s failed (%s): %s" % (" ".join(argv), describe_exit(r.rc),
                                                            r.err.decode(errors="replace")[-2000:]))
        with open(path, "wb") as f:
            f.write(r.out)
        log("  generated %s: %d bytes" % (out_name, len(r.out)))
        return path

    def probe(self, argv, min_count=1, cwd=None, env=None, stdin_path=None):
        """Proves that the preload takes effect in this program (see the module doc)."""
        e = dict(self.env)
        e.update(env or {})
        e["MIMALLOC_VERBOSE"] = "1"
        r = execute(argv, e, cwd or self.tmp, self.timeout, stdin_path, preload=self.lib)
        count = r.err.decode(errors="replace").count(MARKER)
        shown = " ".join(shlex.quote(a) for a in argv)
        if r.timed_out or r.rc < 0 or count < min_count:
            raise Failure("probe `MIMALLOC_VERBOSE=1 LD_PRELOAD=%s %s` (%s) printed '%s' %d times,"
                          " expected at least %d: the preload does not take effect; stderr:\n%s"
                          % (self.lib, shown, describe_exit(r.rc), MARKER, count, min_count,
                             r.err.decode(errors="replace")[-3000:]))
        log("  probe: %s printed '%s' (%d process%s)" % (shown, MARKER, count,
                                                        "" if count == 1 else "es"))

    def cleanup(self, failed):
        if failed or self.keep:
            log("  kept the temporary folder %s" % " and ".join([self.tmp] + self.shm_dirs))
            return
        for d in self.shm_dirs + [self.tmp]:
            shutil.rmtree(d, ignore_errors=True)


class Variant:
    """One of the two runs: 'glibc' (no preload) or 'shardalloc' (LD_PRELOAD=lib)."""

    def __init__(self, ctx, name, label=None):
        self.ctx, self.name = ctx, name
        self.label = label or name  # how its commands are shown
        self.preload = ctx.lib if name == "shardalloc" else None
        self.wall = 0.0
        self.rss_kib = 0
        self.commands = []  # command lines that reproduce this variant's commands

    def env(self, extra=None):
        """The environment of this variant's commands (the preload is passed apart)."""
        e = dict(self.ctx.env)
        e.update(extra or {})
        return e

    def account(self, wall, rss_kib):
        self.wall += wall
        self.rss_kib = max(self.rss_kib, rss_kib)

    def repro(self, argv, cwd, extra_env, stdin_path):
        parts = ["cd", shlex.quote(cwd), "&&", "env"]
        fixed = {k: self.ctx.env[k] for k in ("LC_ALL", "TZ", "HOME", "TMPDIR")}
        fixed.update(extra_env or {})
        for k, v in sorted(fixed.items()):
            parts.append("%s=%s" % (k, shlex.quote(v)))
        if self.preload:
            parts.append("LD_PRELOAD=%s" % shlex.quote(self.preload))
        parts += [shlex.quote(a) for a in argv]
        if stdin_path:
            parts += ["<", shlex.quote(stdin_path)]
        return " ".join(parts)

    def run(self, argv, cwd=None, env=None, stdin_path=None, timed=True, expect_ok=True,
            timeout=None):
        """Runs one command of the workload. The time and RSS of timed commands make the
        variant's figures. A timeout or a crash fails the test at once (with a command line that
        reproduces it); expect_ok also fails it on a non-zero exit of the glibc run, since then
        the workload itself is broken and the comparison would prove little."""
        cwd = cwd or self.ctx.tmp
        e = self.env(env)
        shown = " ".join(shlex.quote(os.path.basename(a) if i == 0 else a)
                         for i, a in enumerate(argv))
        if len(shown) > 150:
            shown = shown[:147] + "..."
        r = execute(argv, e, cwd, timeout or self.ctx.timeout, stdin_path, preload=self.preload)
        if timed:
            self.account(r.wall, r.rss_kib)
        log("  %-10s %s: %.2f s, %.1f MiB, %s" % (self.label, shown, r.wall, mib(r.rss_kib),
                                                describe_exit(r.rc)))
        repro = self.repro(argv, cwd, env, stdin_path)
        self.commands.append(repro)
        if r.timed_out:
            raise Failure("%s run timed out after %d s: %s" % (self.name, timeout or
                                                               self.ctx.timeout, repro))
        if r.rc < 0 and self.preload:
            gdb = "cd %s && gdb -batch -ex %s -ex bt --args env LD_PRELOAD=%s %s" % (
                shlex.quote(cwd), shlex.quote("run < " + stdin_path) if stdin_path else "run",
                shlex.quote(self.preload), " ".join(shlex.quote(a) for a in argv))
            raise Failure("crashed under the preload (%s): %s\n  stderr: %s\n  backtrace: %s"
                          % (describe_exit(r.rc), repro, r.err.decode(errors="replace")[-2000:],
                             gdb))
        if expect_ok and r.rc != 0 and not self.preload:
            raise Failure("the glibc run itself failed (%s), so the workload or its environment"
                          " is broken, not the allocator: %s\n  stderr: %s"
                          % (describe_exit(r.rc), repro, r.err.decode(errors="replace")[-2000:]))
        return r


# --------------------------------------------------------------------------------------------
# Comparison of the two runs' observations


def compare(ctx, obs, report_dir):
    """obs: {variant: {key: value}} with the same keys. Returns a list of differences."""
    a, b = obs["glibc"], obs["shardalloc"]
    diffs = []
    for key in a:
        va, vb = a[key], b.get(key)
        if va == vb:
            size = ("%d bytes" % len(va)) if isinstance(va, (bytes, str)) else repr(va)
            if isinstance(va, (list, tuple)):
                size = "%d items" % len(va)
            log("  same: %s (%s)" % (key, size))
            continue
        diffs.append(key)
        log("  DIFFERS: %s" % key)
        if isinstance(va, bytes) and isinstance(vb, bytes):
            ta, tb = va.decode(errors="replace"), vb.decode(errors="replace")
        elif isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)):
            ta, tb = "\n".join(map(str, va)) + "\n", "\n".join(map(str, vb)) + "\n"
        else:
            ta, tb = repr(va) + "\n", repr(vb) + "\n"
        lines = list(difflib.unified_diff(ta.splitlines(True), tb.splitlines(True),
                                          "glibc", "shardalloc", n=2))
        for line in lines[:60]:
            sys.stdout.write("    " + line if line.endswith("\n") else "    " + line + "\n")
        if len(lines) > 60:
            log("    ... (%d more diff lines)" % (len(lines) - 60))
        fail_dir = os.path.join(report_dir, "fail-" + ctx.name)
        os.makedirs(fail_dir, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        for variant, text in (("glibc", ta), ("shardalloc", tb)):
            with open(os.path.join(fail_dir, "%s.%s" % (safe, variant)), "w") as f:
                f.write(text)
        log("    both versions saved in %s" % fail_dir)
    return diffs


def std_obs(r, prefix="", stderr=True):
    o = {prefix + "exit status": r.rc, prefix + "stdout": r.out}
    if stderr:
        o[prefix + "stderr"] = r.err
    return o


# --------------------------------------------------------------------------------------------
# The programs


class Program:
    name = ""
    what = ""
    needs = ()  # executables that must be on PATH (or absolute paths that must exist)
    packages = ""  # the Debian packages that provide them
    baseline = "glibc"

    def check_installed(self, ctx):
        for n in self.needs:
            if (os.path.isabs(n) and not os.access(n, os.X_OK)) or \
                    (not os.path.isabs(n) and shutil.which(n) is None):
                raise Skip("%s is not installed (Debian: %s)" % (n, self.packages))

    def setup(self, ctx):
        pass

    def probe(self, ctx):
        raise NotImplementedError

    def run(self, ctx, v):
        raise NotImplementedError

    def reconcile(self, ctx, variants, obs):
        """May revise the observations of both runs before they are compared (regrtest)."""


class PythonScript(Program):
    name = "python"
    packages = "python3.11"
    needs = (PY,)

    def setup(self, ctx):
        self.scale = 50000 if ctx.quick else 200000
        self.what = ("python3.11, PYTHONMALLOC=malloc: alloc_mix.py %d (dicts, lists, strings,"
                     " JSON round trip, cycles, 8 threads)" % self.scale)

    def probe(self, ctx):
        ctx.probe([PY, "-c", "pass"], env={"PYTHONMALLOC": "malloc"})

    def run(self, ctx, v):
        r = v.run([PY, os.path.join(WORKLOADS, "alloc_mix.py"), str(self.scale)],
                  env={"PYTHONMALLOC": "malloc"})
        return std_obs(r)


class PythonRegrtest(Program):
    name = "python-regrtest"
    packages = "python3.11 libpython3.11-testsuite"
    needs = (PY,)
    tests_full = ["test_dict", "test_list", "test_tuple", "test_set", "test_json", "test_unicode",
                  "test_bytes", "test_collections", "test_re", "test_itertools", "test_deque",
                  "test_weakref", "test_pickle", "test_gc", "test_threading"]
    tests_quick = ["test_dict", "test_list", "test_set", "test_json", "test_unicode", "test_gc",
                   "test_threading"]

    def check_installed(self, ctx):
        Program.check_installed(self, ctx)
        if not os.path.isfile("/usr/lib/python3.11/test/test_dict.py"):
            raise Skip("CPython's regression tests are not installed (libpython3.11-testsuite)")

    def setup(self, ctx):
        self.tests = self.tests_quick if ctx.quick else self.tests_full
        self.what = ("python3.11 -m test, PYTHONMALLOC=malloc: %d modules (%s)"
                     % (len(self.tests), " ".join(t[5:] for t in self.tests)))

    def probe(self, ctx):
        ctx.probe([PY, "-c", "import test.support"], env={"PYTHONMALLOC": "malloc"})

    def regrtest(self, ctx, v, modules, matches=(), timed=True):
        """One regrtest run: returns ({test id: outcome}, regrtest's stdout)."""
        work = ctx.scratch()
        junit = os.path.join(work, "junit.xml")
        argv = [PY, "-m", "test", "--junit-xml", junit]
        for m in matches:
            argv += ["-m", m]
        r = v.run(argv + list(modules), cwd=work, env={"PYTHONMALLOC": "malloc"},
                  expect_ok=False, timed=timed)
        if not os.path.isfile(junit):
            raise Failure("%s: regrtest wrote no %s (%s); its output ends with:\n%s"
                          % (v.name, junit, describe_exit(r.rc),
                             (r.out + r.err).decode(errors="replace")[-3000:]))
        cases = {}
        for case in ET.parse(junit).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            cases[case.get("name")] = ("error" if "error" in kinds else
                                       "failure" if "failure" in kinds else
                                       "skipped" if "skipped" in kinds else "ok")
        return cases, r.out.decode(errors="replace")

    def run(self, ctx, v):
        cases, text = self.regrtest(ctx, v, self.tests)
        failed = sorted(n for n, o in cases.items() if o in ("failure", "error"))
        # Modules that regrtest reports as failed although none of their test cases failed: an
        # import error or a crash in a module's set-up leaves no failed case in the XML.
        failed_modules = set()
        m = re.search(r"^\d+ tests? failed:\n((?:    .*\n)+)", text, re.M)
        if m:
            failed_modules = set(m.group(1).split())
        with_cases = {n.split(".")[1] for n in failed}
        ctx.notes.append("%s: %d test cases, %d failed or errored, %d skipped%s"
                         % (v.name, len(cases), len(failed),
                            sum(1 for o in cases.values() if o == "skipped"),
                            (" (" + "; ".join("%s: %s" % (n, cases[n]) for n in failed[:5]) + ")")
                            if failed else ""))
        return {"failed test cases": failed, "test cases run": len(cases),
                "modules failed without a failed test case": sorted(failed_modules - with_cases)}

    def reconcile(self, ctx, variants, obs):
        """Test cases that failed in one run only are run twice more under each allocator (only
        them: regrtest -m TEST_ID); each counts as failing under an allocator when it failed in
        at least 2 of its 3 runs there. Timing-sensitive cases (test_threading has some) can fail
        once on a loaded machine; a case that fails under the preload and only there, again and
        again, still fails the test."""
        key = "failed test cases"
        a, b = set(obs["glibc"][key]), set(obs["shardalloc"][key])
        odd = sorted(a ^ b)
        if not odd:
            return
        log("  %d test case(s) failed in one run only: %s; running them twice more under each"
            % (len(odd), ", ".join(odd)))
        modules = sorted({n.split(".")[1] for n in odd})
        counts = {name: {n: int(n in (a if name == "glibc" else b)) for n in odd}
                  for name in VARIANTS}
        for _ in range(2):
            for name in VARIANTS:
                cases, _text = self.regrtest(ctx, variants[name], modules, odd, timed=False)
                for n in odd:
                    # A case that did not run at all counts as failed: nothing was shown.
                    if cases.get(n, "error") in ("failure", "error"):
                        counts[name][n] += 1
        for n in odd:
            ctx.notes.append("%s failed %d of 3 runs under glibc, %d of 3 under shardalloc"
                             % (n, counts["glibc"][n], counts["shardalloc"][n]))
            log("  %s: failed %d of 3 runs under glibc, %d of 3 under shardalloc"
                % (n, counts["glibc"][n], counts["shardalloc"][n]))
        for name, failed in (("glibc", a), ("shardalloc", b)):
            verdict = (failed - set(odd)) | {n for n in odd if counts[name][n] >= 2}
            obs[name][key] = sorted(verdict)


class Glib(Program):
    name = "glib"
    packages = "libglib2.0-tests"
    needs = (GLIB_TESTS,)
    # Huge allocations that must fail cleanly (mem-overflow: g_try_malloc of overflowing sizes
    # returns NULL, g_malloc of them aborts in a subprocess; overflow*: the checked-arithmetic
    # helpers), data structures, GVariant, and the multi-threaded tests (threads, thread pool,
    # async queues, the slice allocator's magazines from several threads, GObject ref counting
    # and weak refs from threads, thread-private data with thread exits).
    tests = ["mem-overflow", "overflow", "overflow-fallback", "array-test", "string", "list",
             "slist", "queue", "sequence", "tree", "hash", "bytes", "refstring", "gvariant",
             "thread", "threadtests", "thread-pool", "asyncqueue", "slice-concurrent", "once",
             "private"]

    def check_installed(self, ctx):
        self.present = [t for t in self.tests if os.access(os.path.join(GLIB_TESTS, t), os.X_OK)]
        if not self.present:
            raise Skip("GLib's installed tests are not installed (libglib2.0-tests)")

    def setup(self, ctx):
        self.what = ("GLib's unit tests (libglib2.0-tests): %d programs, incl. mem-overflow and"
                     " 7 multi-threaded" % len(self.present))

    def probe(self, ctx):
        ctx.probe([os.path.join(GLIB_TESTS, "thread"), "-l"])

    def run(self, ctx, v):
        obs = {}
        work = ctx.scratch()
        for t in self.present:
            r = v.run([os.path.join(GLIB_TESTS, t), "--seed", GLIB_SEED], cwd=work)
            # TAP result lines only: comment lines carry timings ("max perf") and the seed.
            results = b"\n".join(line for line in r.out.splitlines() if not line.startswith(b"#"))
            err = re.sub(rb"\(([^():\s]+):\d+\)", rb"(\1:PID)", r.err)  # "(process:1234)"
            obs["%s exit status" % t] = r.rc
            obs["%s TAP results" % t] = results
            obs["%s stderr" % t] = err
            if v.name == "glibc":
                ok = len(re.findall(rb"^ok ", r.out, re.M))
                bad = len(re.findall(rb"^not ok ", r.out, re.M))
                ctx.glib_counts = getattr(ctx, "glib_counts", [0, 0])
                ctx.glib_counts[0] += ok
                ctx.glib_counts[1] += bad
        if v.name == "glibc":
            ctx.notes.append("%d test cases in %d programs, %d of them not ok without the preload"
                             % (sum(ctx.glib_counts), len(self.present), ctx.glib_counts[1]))
        return obs


class Lua(Program):
    name = "lua"
    packages = "lua5.4"
    needs = ("lua5.4",)

    def setup(self, ctx):
        self.depth = 14 if ctx.quick else 16
        self.what = "lua5.4 binary_trees.lua %d (allocation bursts)" % self.depth

    def probe(self, ctx):
        ctx.probe(["lua5.4", "-e", "local t = {} for i = 1, 1000 do t[i] = {i} end"])

    def run(self, ctx, v):
        return std_obs(v.run(["lua5.4", os.path.join(WORKLOADS, "binary_trees.lua"),
                              str(self.depth)]))


class Sqlite(Program):
    name = "sqlite"
    packages = "sqlite3"
    needs = ("sqlite3",)

    def setup(self, ctx):
        self.rows = 50000 if ctx.quick else 200000
        self.what = ("sqlite3: generated script, %d inserts in transactions, indexes, updates,"
                     " deletes, aggregates; database in /dev/shm" % self.rows)
        self.script = ctx.generate([sys.executable, os.path.join(WORKLOADS, "gen_sql.py"),
                                    str(self.rows)], "script.sql")
        self.dbdir = ctx.shm_dir()

    def probe(self, ctx):
        ctx.probe(["sqlite3", ":memory:", "select 1;"])

    def run(self, ctx, v):
        db = os.path.join(self.dbdir, "test.db")
        for f in os.listdir(self.dbdir):
            os.unlink(os.path.join(self.dbdir, f))
        r = v.run(["sqlite3", db], stdin_path=self.script)
        obs = std_obs(r)
        check = v.run(["sqlite3", db, "PRAGMA integrity_check; SELECT count(*) FROM orders;"],
                      timed=False)
        obs["integrity check afterwards"] = check.out
        return obs


class Git(Program):
    name = "git"
    packages = "git"
    needs = ("git",)

    def setup(self, ctx):
        self.commits = 1000 if ctx.quick else 4000
        self.what = ("git: fast-import of %d generated commits, gc --aggressive, fsck --strict,"
                     " log -p | sha256sum" % self.commits)
        self.stream = ctx.generate([sys.executable, os.path.join(WORKLOADS, "gen_history.py"),
                                    str(self.commits)], "history.fi")
        empty = ctx.path("gitconfig")
        open(empty, "w").close()
        self.env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": empty,
                    "GIT_AUTHOR_NAME": "Real Test", "GIT_AUTHOR_EMAIL": "real@example.org",
                    "GIT_COMMITTER_NAME": "Real Test", "GIT_COMMITTER_EMAIL": "real@example.org",
                    "GIT_AUTHOR_DATE": "1500000000 +0000",
                    "GIT_COMMITTER_DATE": "1500000000 +0000", "GIT_PAGER": "cat",
                    "GIT_TERMINAL_PROMPT": "0"}

    def probe(self, ctx):
        ctx.probe(["git", "--version"], env=self.env)

    def run(self, ctx, v):
        work = ctx.scratch()
        repo = os.path.join(work, "repo")
        obs = {}

        def git(name, args, stdin_path=None, shell=None):
            argv = ["sh", "-c", shell] if shell else ["git", "-c", "gc.autoDetach=false"] + args
            r = v.run(argv, cwd=repo if os.path.isdir(repo) else work, env=self.env,
                      stdin_path=stdin_path)
            obs.update(std_obs(r, name + ": "))
            return r

        git("init", ["init", "-q", "-b", "main", repo])
        git("fast-import", ["fast-import", "--quiet", "--done"], stdin_path=self.stream)
        git("gc", ["gc", "--aggressive", "--quiet"])
        git("fsck", ["fsck", "--strict", "--no-progress"])
        git("log -p", None, shell="git log -p --all | sha256sum")
        git("objects", None, shell="git rev-list --all --objects | sha256sum")
        git("refs", ["for-each-ref"])
        git("count", ["rev-list", "--all", "--count"])
        return obs


class Gxx(Program):
    name = "gxx"
    packages = "g++"
    needs = ("g++",)

    def setup(self, ctx):
        self.modules = 2 if ctx.quick else 8
        self.what = ("g++ -O2 -std=c++17 of a generated template-heavy file (%d modules; g++,"
                     " cc1plus, as, collect2, ld preloaded)" % self.modules)
        os.makedirs(ctx.path("src"))
        self.source = ctx.generate([sys.executable, os.path.join(WORKLOADS, "gen_templates.py"),
                                    str(self.modules)], os.path.join("src", "gen.cpp"))
        with open(ctx.path("src", "tiny.cpp"), "w") as f:
            f.write("#include <string>\n"
                    "int main() { std::string s(\"x\"); return s.size() - 1; }\n")

    def probe(self, ctx):
        # g++, cc1plus, as, collect2 and ld: every process of the chain prints the init line.
        ctx.probe(["g++", "-O2", "-o", ctx.path("tmp", "tiny"), "src/tiny.cpp"], min_count=5)

    def run(self, ctx, v):
        work = ctx.scratch()
        prog = os.path.join(work, "prog")
        # Relative source path and fixed -frandom-seed: the diagnostics and the produced binary
        # are byte-identical from run to run.
        r = v.run(["g++", "-std=c++17", "-O2", "-Wall", "-frandom-seed=shardalloc", "-o", prog,
                   "src/gen.cpp"], cwd=ctx.tmp)
        obs = std_obs(r, "compiler: ")
        obs["compiler: sha256 of the produced program"] = sha256_file(prog)
        # The produced program runs plainly: it is the compiler's output being checked.
        e = dict(ctx.env)
        out = execute([prog], e, work, ctx.timeout)
        obs["program: exit status"] = out.rc
        obs["program: stdout"] = out.out
        return obs


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis(Program):
    name = "redis"
    packages = "redis-server redis-tools"
    needs = ("redis-server", "redis-cli", "redis-benchmark")
    baseline = "jemalloc (linked into Debian's redis-server)"
    bench_tests = "set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100,mset"

    def setup(self, ctx):
        self.keys = 5000 if ctx.quick else 20000
        self.requests = 5000 if ctx.quick else 20000
        self.what = ("redis-server on 127.0.0.1: redis-benchmark -n %d (%d tests), then a fixed"
                     " data set (%d keys + collections) checked with DEBUG DIGEST"
                     % (self.requests, len(self.bench_tests.split(",")), self.keys))
        self.data = ctx.generate([sys.executable, os.path.join(WORKLOADS, "gen_redis.py"),
                                  str(self.keys)], "data.resp")
        version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                 env=ctx.env).stdout.decode()
        m = re.search(r"v=(\d+)", version)
        self.debug_opt = ["--enable-debug-command", "yes"] if m and int(m.group(1)) >= 7 else []
        groups = max(1, self.keys // 100)
        queries = ["DEBUG DIGEST", "DBSIZE", "GET str:1", "STRLEN str:1000", "GET counter:11",
                   "LRANGE list:1 0 -1", "LLEN list:0", "HGET hash:1 f7", "HLEN hash:0",
                   "SCARD set:union", "SORT set:union LIMIT 0 20", "ZCARD zset:union",
                   "ZRANGE zset:union 0 20 WITHSCORES", "SORT set:2 ALPHA LIMIT 0 10",
                   "DEBUG DIGEST-VALUE list:%d hash:%d set:%d zset:%d" % ((groups - 1,) * 4)]
        self.queries = ctx.path("queries.txt")
        with open(self.queries, "w") as f:
            f.write("\n".join(queries) + "\n")

    def probe(self, ctx):
        pass  # the server's own log, from the compared run, shows the init line (see run)

    def run(self, ctx, v):
        work = ctx.scratch()
        port = free_port()
        # Only the server is preloaded (with MIMALLOC_VERBOSE=1 in both runs: its log then shows
        # the library's init line, which proves the preload in this very run, and the log is not
        # compared). The clients are the same plain programs in both runs; their time is what
        # the report counts, the RSS is the server's.
        server = Server(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--daemonize", "no", "--dir", work,
                         "--logfile", ""] + self.debug_opt,
                        v.env({"MIMALLOC_VERBOSE": "1"}), work, v.preload)
        client = Variant(ctx, "glibc", label="  client")
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
        obs = {}
        shutdown_sent = False
        try:
            deadline = time.monotonic() + 30
            while True:
                if server.poll():
                    raise Failure("%s: redis-server exited at start (%s); its log:\n%s"
                                  % (v.name, describe_exit(server.rc), server.log()[-3000:]))
                r = execute(cli + ["PING"], ctx.env, work, 10)
                if r.out.strip() == b"PONG":
                    break
                if time.monotonic() > deadline:
                    raise Failure("%s: redis-server did not answer PING in 30 s; its log:\n%s"
                                  % (v.name, server.log()[-3000:]))
                time.sleep(0.1)
            log("  %-10s redis-server on 127.0.0.1:%d" % (v.name, port))
            bench = client.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n",
                                str(self.requests), "-r", "10000", "-q", "-t", self.bench_tests])
            done = set()
            for line in re.split(rb"[\r\n]+", bench.out):
                m = re.match(rb"^([A-Za-z_ 0-9()]+?): [\d.]+ requests per second", line.strip())
                if m:
                    done.add(m.group(1).decode())
            obs["benchmark: exit status"] = bench.rc
            obs["benchmark: tests completed"] = sorted(done)
            missing = [t for t in self.bench_tests.split(",")
                       if not any(d.lower().startswith(t) for d in done)]
            if missing:
                raise Failure("%s: redis-benchmark printed no result for %s; its output ends"
                              " with:\n%s" % (v.name, ", ".join(missing),
                                               bench.out.decode(errors="replace")[-2000:]))
            obs["flushall"] = client.run(cli + ["FLUSHALL"]).out
            obs.update(std_obs(client.run(cli + ["--pipe"], stdin_path=self.data), "data load: "))
            q = client.run(cli, stdin_path=self.queries)
            obs.update(std_obs(q, "queries (DEBUG DIGEST first): "))
            log("  %-10s DEBUG DIGEST %s" % (v.name, q.out.split(b"\n")[0].decode()))
            execute(cli + ["SHUTDOWN", "NOSAVE"], ctx.env, work, 20)
            shutdown_sent = True
        finally:
            # After SHUTDOWN the server gets 20 s to exit; after a failure it is killed at once.
            server.stop(20 if shutdown_sent else 0)
        v.account(client.wall, server.rss_kib)
        log("  %-10s redis-server stopped: %s, ran %.2f s, peak RSS %.1f MiB"
            % (v.name, describe_exit(server.rc), server.wall, mib(server.rss_kib)))
        server_log = server.log()
        if server.rc < 0 and v.preload:
            raise Failure("redis-server crashed under the preload (%s); its log:\n%s"
                          % (describe_exit(server.rc), server_log[-3000:]))
        if v.preload:
            if MARKER not in server_log:
                raise Failure("redis-server's log has no '%s' line with MIMALLOC_VERBOSE=1: the"
                              " preload did not take effect" % MARKER)
            log("  probe: redis-server's own log shows '%s'" % MARKER)
        obs["server exit status"] = server.rc
        return obs


class Server:
    """A program left running while the test talks to it (redis-server), started like execute()
    does (its own session, through real-rusage), its stdout and stderr in WORK/server.log."""

    def __init__(self, argv, env, work, preload):
        env = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
        self.result = os.path.join(work, "server.rusage")
        self.logpath = os.path.join(work, "server.log")
        if RUNNER:
            full = [RUNNER, self.result, preload or "-"] + argv
        else:
            full = argv
            if preload:
                env["LD_PRELOAD"] = preload
        self.rc = None
        self.status = None
        self.rss_kib = 0
        self.start = time.monotonic()
        self.wall = 0.0
        with open(self.logpath, "wb") as logf:
            self.proc = subprocess.Popen(full, env=env, cwd=work, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _reaped(self, status, usage):
        self.wall = time.monotonic() - self.start
        self.status, self.rss_kib = status, usage.ru_maxrss
        if RUNNER and os.path.isfile(self.result):
            with open(self.result) as f:
                fields = f.read().split()
            if len(fields) >= 3:
                self.wall, self.rss_kib, self.status = (float(fields[0]), int(fields[1]),
                                                        int(fields[2]))
        self.rc = self.proc.returncode = os.waitstatus_to_exitcode(self.status)
        _kill_group(self.proc.pid)

    def poll(self):
        """True when the server has exited (and then it is reaped)."""
        if self.rc is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self._reaped(status, usage)
        return self.rc is not None

    def stop(self, grace):
        """Waits up to GRACE seconds for the server to exit (after SHUTDOWN), then kills it."""
        deadline = time.monotonic() + grace
        while not self.poll():
            if time.monotonic() > deadline:
                log("  killing the server%s" % (" (still there %d s after SHUTDOWN)" % grace
                                                 if grace else ""))
                _kill_group(self.proc.pid)
                _, status, usage = os.wait4(self.proc.pid, 0)
                self._reaped(status, usage)
                break
            time.sleep(0.05)

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")


class Xmllint(Program):
    name = "xmllint"
    packages = "libxml2-utils"
    needs = ("xmllint",)

    def setup(self, ctx):
        self.items = 1000 if ctx.quick else 4000
        self.doc = ctx.generate([sys.executable, os.path.join(WORKLOADS, "gen_xml.py"),
                                 str(self.items)], "catalog.xml")
        size = os.path.getsize(self.doc) / 1e6
        self.what = ("xmllint: a generated %.1f MB document parsed 100 times (--repeat), XPath"
                     " queries, --format and --c14n" % size)

    def probe(self, ctx):
        ctx.probe(["xmllint", "--noout", self.doc])

    def run(self, ctx, v):
        obs = {}
        doc = self.doc
        steps = [("repeat", ["xmllint", "--noout", "--repeat", doc]),
                 ("stream", ["xmllint", "--noout", "--stream", "--noent", doc]),
                 ("count", ["xmllint", "--noent", "--xpath", "count(//item)", doc]),
                 ("sum", ["xmllint", "--noent", "--xpath", "sum(//price)", doc]),
                 ("last desc", ["xmllint", "--noent", "--xpath",
                                "string(//item[last()]/desc)", doc]),
                 ("parts", ["xmllint", "--xpath", "count(//part[@n > 1])", doc]),
                 ("format", ["sh", "-c", "xmllint --format --noent \"$1\" | sha256sum", "sh",
                             doc]),
                 ("c14n", ["sh", "-c", "xmllint --c14n \"$1\" | sha256sum", "sh", doc])]
        for name, argv in steps:
            obs.update(std_obs(v.run(argv), name + ": "))
        return obs


class Perl(Program):
    name = "perl"
    packages = "perl"
    needs = ("perl",)

    def setup(self, ctx):
        self.scale = 50000 if ctx.quick else 150000
        self.what = "perl structures.pl %d (hashes, arrays, strings, trees)" % self.scale

    def probe(self, ctx):
        ctx.probe(["perl", "-e", "my %h = map { $_ => [$_] } 1 .. 1000;"])

    def run(self, ctx, v):
        return std_obs(v.run(["perl", os.path.join(WORKLOADS, "structures.pl"), str(self.scale)]))


class Ruby(Program):
    name = "ruby"
    packages = "ruby"
    needs = ("ruby",)

    def setup(self, ctx):
        self.scale = 50000 if ctx.quick else 200000
        self.what = "ruby structures.rb %d (hashes, arrays, strings, Structs, threads)" % self.scale

    def probe(self, ctx):
        ctx.probe(["ruby", "-e", "h = {}; 1000.times { |i| h[i] = [i] }"])

    def run(self, ctx, v):
        return std_obs(v.run(["ruby", os.path.join(WORKLOADS, "structures.rb"), str(self.scale)]))


class Php(Program):
    name = "php"
    packages = "php-cli"
    needs = ("php",)

    def setup(self, ctx):
        self.scale = 50000 if ctx.quick else 300000
        self.what = ("php -n, USE_ZEND_ALLOC=0: arrays.php %d (arrays, strings, trees; -n: see"
                     " docs/real-programs.md)" % self.scale)

    def probe(self, ctx):
        # -n: without it Debian's PHP dlopens its extensions with RTLD_DEEPBIND and crashes under
        # any preloaded allocator (a PHP defect; arrays.php and docs/real-programs.md explain).
        ctx.probe(["php", "-n", "-r", "$a = range(1, 1000);"], env={"USE_ZEND_ALLOC": "0"})

    def run(self, ctx, v):
        return std_obs(v.run(["php", "-n", os.path.join(WORKLOADS, "arrays.php"), str(self.scale)],
                             env={"USE_ZEND_ALLOC": "0"}))


PROGRAMS = [PythonScript(), PythonRegrtest(), Glib(), Lua(), Sqlite(), Git(), Gxx(), Redis(),
            Xmllint(), Perl(), Ruby(), Php()]
BY_NAME = {p.name: p for p in PROGRAMS}


# --------------------------------------------------------------------------------------------
# One test


def run_one(prog, args, report):
    log("real-%s: LD_PRELOAD=%s%s" % (prog.name, args.lib, " (quick sizes)" if args.quick else ""))
    record = {"name": prog.name, "what": prog.what or prog.name, "baseline": prog.baseline,
              "quick": args.quick, "lib": args.lib, "lib_sha256": sha256_file(args.lib)[:12],
              "when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")}
    ctx = None
    failed = True
    try:
        ctx = Context(prog.name, args.lib, args.quick, args.timeout, args.keep)
        prog.check_installed(ctx)
        prog.setup(ctx)
        record["what"] = prog.what
        log("  workload: %s" % prog.what)
        prog.probe(ctx)
        obs = {}
        variants = {}
        for name in VARIANTS:
            v = Variant(ctx, name)
            obs[name] = prog.run(ctx, v)
            variants[name] = v
        prog.reconcile(ctx, variants, obs)
        diffs = compare(ctx, obs, results_dir(report))
        for name, v in variants.items():
            record[name] = {"wall": v.wall, "rss_kib": v.rss_kib}
        record["notes"] = ctx.notes
        if diffs:
            record["status"] = "FAIL"
            record["reason"] = "differs under the preload: " + ", ".join(diffs)
            log("  the preloaded run's commands, to reproduce it (the temporary folder is kept):")
            for line in variants["shardalloc"].commands:
                log("    " + line)
        else:
            record["status"] = "pass"
            failed = False
    except Skip as e:
        record["status"] = "skip"
        record["reason"] = str(e)
        failed = False
    except Failure as e:
        record["status"] = "FAIL"
        record["reason"] = str(e).split("\n")[0][:300]
        log("  FAIL: %s" % e)
    except Exception as e:  # a fault of the driver itself: recorded too, with its traceback
        record["status"] = "FAIL"
        record["reason"] = "driver error: %r" % e
        traceback.print_exc(file=sys.stdout)
    finally:
        if ctx:
            ctx.cleanup(failed)
    save_record(report, record)
    g, s = record.get("glibc"), record.get("shardalloc")
    if record["status"] == "pass":
        log("real-%s: passed; time %.2f s -> %.2f s (ratio %.2f), peak RSS %.1f -> %.1f MiB"
            " (ratio %.2f)" % (prog.name, g["wall"], s["wall"], ratio(s["wall"], g["wall"]),
                               mib(g["rss_kib"]), mib(s["rss_kib"]),
                               ratio(s["rss_kib"], g["rss_kib"])))
        return 0
    if record["status"] == "skip":
        log("real-%s: SKIP: %s" % (prog.name, record["reason"]))
        return SKIP
    log("real-%s: FAILED: %s" % (prog.name, record["reason"]))
    return 1


def ratio(a, b):
    return a / b if b else float("nan")


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


# --------------------------------------------------------------------------------------------
# The report


def results_dir(report):
    """Where each test's result is kept: FILE.d for a report FILE.md."""
    return os.path.splitext(report)[0] + ".d"


def save_record(report, record):
    d = results_dir(report)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tmp = os.path.join(d, ".%s.json.tmp" % record["name"])
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, os.path.join(d, "%s.json" % record["name"]))
        write_report(report)


def write_report(report):
    d = results_dir(report)
    records = []
    for p in PROGRAMS:
        path = os.path.join(d, "%s.json" % p.name)
        if os.path.isfile(path):
            with open(path) as f:
                records.append(json.load(f))
    ran = [r for r in records if r["status"] != "skip"]
    latest = max(records, key=lambda r: r["when"]) if records else None
    lines = ["# Real programs: shardalloc against the system allocator", ""]
    if latest:
        lines += ["Library: `%s` (sha256 %s...)%s. Results %s to %s; machine: %d cores, %s %s."
                  % (latest["lib"], latest["lib_sha256"],
                     ", quick sizes (SHARDALLOC_TEST_QUICK=1)" if latest["quick"] else "",
                     min(r["when"] for r in records), latest["when"], os.cpu_count() or 0,
                     platform.system(), platform.release()), ""]
    lines += [
        "Each program ran once plainly (glibc malloc) and once with `LD_PRELOAD=libshardalloc.so`,"
        " in the same environment, and its outputs were compared (the test asserts only that they"
        " are identical). Time: wall seconds of the compared commands (input generation and the"
        " preload probe excluded). Peak RSS: the largest `ru_maxrss` of those commands, each"
        " covering its descendants. Ratios are shardalloc / glibc: below 1 is faster or smaller."
        " Written by `test/real/realtest.py`; timings are single runs on a shared machine.", "",
        "| test | program and workload | result | glibc time (s) | shardalloc time (s) |"
        " time ratio | glibc peak RSS (MiB) | shardalloc peak RSS (MiB) | RSS ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    tr, rr = [], []
    for r in ran:
        g, s = r.get("glibc"), r.get("shardalloc")
        result = "pass" if r["status"] == "pass" else "**FAIL**"
        mark = ""
        if latest and r["lib_sha256"] != latest["lib_sha256"]:
            mark = " (older library build)"
        what = r["what"].replace("|", "\\|")
        if r.get("baseline", "glibc") != "glibc":
            what += "; baseline allocator: %s" % r["baseline"]
        if g and s:
            t, m = ratio(s["wall"], g["wall"]), ratio(s["rss_kib"], g["rss_kib"])
            if r["status"] == "pass":
                tr.append(t)
                rr.append(m)
            lines.append("| real-%s%s | %s | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f |"
                         % (r["name"], mark, what, result, g["wall"], s["wall"], t,
                            mib(g["rss_kib"]), mib(s["rss_kib"]), m))
        else:
            lines.append("| real-%s%s | %s | %s | | | | | | |" % (r["name"], mark, what, result))
    if tr:
        lines.append("| geometric mean | %d programs passed | | | | %.2f | | | %.2f |"
                     % (len(tr), geomean(tr), geomean(rr)))
    lines.append("")
    failed = [r for r in ran if r["status"] != "pass"]
    if failed:
        lines.append("Failures:")
        lines += ["- real-%s: %s" % (r["name"], r.get("reason", "")) for r in failed]
        lines.append("")
    skipped = [r for r in records if r["status"] == "skip"]
    if skipped:
        lines.append("Skipped (not installed): " + "; ".join(
            "real-%s (%s)" % (r["name"], r["reason"]) for r in skipped) + ".")
        lines.append("")
    notes = [(r["name"], n) for r in ran for n in r.get("notes", [])]
    if notes:
        lines.append("Notes:")
        lines += ["- real-%s: %s" % (name, n) for name, n in notes]
        lines.append("")
    tmp = report + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, report)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("run", help="run tests")
    rp.add_argument("names", nargs="+", help="test names (see `list`) or all")
    rp.add_argument("--lib", required=True, help="path to libshardalloc.so")
    rp.add_argument("--report", required=True, help="markdown report to (re)write")
    rp.add_argument("--quick", action="store_true", help="smaller inputs (debug builds)")
    rp.add_argument("--timeout", type=int, default=300, help="seconds per command (300)")
    rp.add_argument("--keep", action="store_true", help="keep the temporary folders")
    rp.add_argument("--runner", help="the real-rusage helper (built from rusage.c when omitted)")
    pp = sub.add_parser("report", help="rewrite the report from the recorded results")
    pp.add_argument("report")
    sub.add_parser("list", help="list the tests")
    args = ap.parse_args()

    if args.cmd == "list":
        for p in PROGRAMS:
            log("real-%-16s needs %s" % (p.name, ", ".join(p.needs)))
        return 0
    if args.cmd == "report":
        write_report(os.path.abspath(args.report))
        return 0
    names = [p.name for p in PROGRAMS] if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        ap.error("unknown test(s): %s (see `%s list`)" % (", ".join(unknown), sys.argv[0]))
    args.lib = os.path.abspath(args.lib)
    args.report = os.path.abspath(args.report)
    if not os.path.isfile(args.lib):
        log("realtest: FAIL: library %s does not exist" % args.lib)
        return 1
    global RUNNER
    RUNNER = find_runner(args.runner, results_dir(args.report))
    args.quick = args.quick or os.environ.get("SHARDALLOC_TEST_QUICK", "0") not in ("", "0")
    codes = [run_one(BY_NAME[n], args, args.report) for n in names]
    passed = codes.count(0)
    failed = sum(1 for c in codes if c not in (0, SKIP))
    skipped = codes.count(SKIP)
    if len(names) > 1:
        log("realtest: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    log("report: %s" % args.report)
    if failed:
        return 1
    return SKIP if skipped == len(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
