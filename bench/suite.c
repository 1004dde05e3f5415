/* bench-suite: the synthetic workloads of WORKLOADS.md in one binary.
     bench-suite WORKLOAD [--threads T] [--scale F] [--seed S]
     bench-suite --list
   Runs one workload on whatever malloc the process has (bench/run.py preloads each allocator in
   turn) and prints, one per line:
     malloc-from PATH / free-from PATH / new-from PATH   the objects that provide these symbols
     result workload=W threads=T scale=F ops=N wall_s=S ops_per_s=R check=C peak_rss_kib=K
            [key=value...]       (peak_rss_kib: VmHWM at the end of the run)
   and, for rss-return, a "samples" line. Exits 3 when a workload's own check fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const workload_t workloads[] = {
    {"small-loop", wl_small_loop, 1, "malloc/free pair",
     "the fast paths: malloc/free of 8..1024 B in a short LIFO window"},
    {"small-loop-mt", wl_small_loop_mt, 2, "malloc/free pair",
     "the same loop on every thread independently: thread-local scaling"},
    {"larson", wl_larson, 2, "free + malloc",
     "server simulation: cross-thread frees of long-lived blocks, thread churn"},
    {"xmalloc", wl_xmalloc, 2, "block passed and freed",
     "producers to consumers through a queue: remote frees, delayed free"},
    {"mstress", wl_mstress, 2, "step",
     "mixed sizes, shared array, threads recreated each round; contents checked"},
    {"cache-scratch", wl_cache_scratch, 2, "write",
     "passive false sharing: blocks freed by other threads reused on their line"},
    {"cache-thrash", wl_cache_thrash, 2, "write",
     "active false sharing: neighbouring blocks handed to different threads"},
    {"alloc-churn", wl_alloc_churn, 2, "replacement",
     "working sets of 16 B..64 KiB blocks, random replacement: mid sizes, page reuse"},
    {"sh6", wl_sh6, 2, "object",
     "batches freed in reverse, forward or interleaved order: LIFO/FIFO reuse"},
    {"sh8", wl_sh8, 2, "object", "batches freed by the next thread: migration"},
    {"bignum", wl_bignum, 1, "number allocated",
     "continued-fraction arithmetic on 128..256-bit numbers: tiny short-lived blocks"},
    {"tree", wl_tree, 2, "node", "binary trees with new/delete: bursts, whole-structure frees"},
    {"large", wl_large, 1, "block",
     "64 KiB..32 MiB blocks, every page touched: large/huge paths, purging, faults"},
    {"realloc-grow", wl_realloc_grow, 1, "realloc",
     "buffers grown by 16..512 B steps to 1..4 MiB: realloc in place or copy"},
    {"rss-return", wl_rss_return, 2, "block",
     "1 GiB allocated on threads, freed, threads exit; RSS sampled while idle"},
    {"rptest", wl_rptest, 2, "step",
     "skewed-small sizes, a quarter of the blocks sent to other threads in batches"},
    {"alloc-test", wl_alloc_test, 1, "free + malloc",
     "256 Ki live blocks of 1 B..1 KiB, random slot replaced: partly used pages, locality"},
    {"alloc-test-mt", wl_alloc_test, 2, "free + malloc",
     "the same with the slots split over the threads"},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static const char* provider_of(const char* name) {
  void* sym = dlsym(RTLD_DEFAULT, name);
  Dl_info info;
  if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) return "?";
  return info.dli_fname;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: bench-suite WORKLOAD [--threads T] [--scale F] [--seed S]\n"
          "       bench-suite --list\n"
          "  --threads T  threads (default: the workload's, see --list); multi-threaded\n"
          "               workloads split a fixed amount of work over the threads\n"
          "  --scale F    multiply the amount of work (default 1: about 1-10 s on 2 cores)\n"
          "  --seed S     random seed (default 42)\n"
          "Calls plain malloc/free (new/delete in tree): preload an allocator to measure it.\n"
          "bench/run.py runs every workload under every allocator and compares them.\n");
}

static void list(void) {
  printf("%-14s %7s  %s\n", "workload", "threads", "stresses");
  for (size_t i = 0; i < NWORKLOADS; i++) {
    printf("%-14s %7u  %s (op: %s)\n", workloads[i].name, workloads[i].default_threads,
           workloads[i].stresses, workloads[i].unit);
  }
}

static double parse_num(const char* flag, const char* s, double min, double max) {
  char* end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (s == NULL || end == s || *end != 0 || errno != 0 || !(v >= min && v <= max)) {
    fprintf(stderr, "bench-suite: %s needs a number in %g..%g (got '%s')\n", flag, min, max,
            s ? s : "");
    exit(2);
  }
  return v;
}

int main(int argc, char** argv) {
  const workload_t* w = NULL;
  bench_args_t args = {.threads = 0, .scale = 1.0, .seed = 42};
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--threads") == 0) {
      args.threads = (unsigned)parse_num(a, v, 1, 1024), i++;
    } else if (strcmp(a, "--scale") == 0) {
      args.scale = parse_num(a, v, 1e-6, 1e6), i++;
    } else if (strcmp(a, "--seed") == 0) {
      args.seed = (uint64_t)parse_num(a, v, 0, 1e15), i++;
    } else if (strcmp(a, "--list") == 0) {
      list();
      return 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (a[0] != '-' && w == NULL) {
      for (size_t k = 0; k < NWORKLOADS; k++) {
        if (strcmp(a, workloads[k].name) == 0) w = &workloads[k];
      }
      if (w == NULL) {
        fprintf(stderr, "bench-suite: unknown workload '%s' (--list shows them)\n", a);
        return 2;
      }
    } else {
      fprintf(stderr, "bench-suite: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (w == NULL) {
    usage(stderr);
    return 2;
  }
  if (args.threads == 0) args.threads = w->default_threads;
  printf("malloc-from %s\nfree-from %s\nnew-from %s\n", provider_of("malloc"), provider_of("free"),
         provider_of("_Znwm"));
  fflush(stdout);
  bench_result_t res;
  memset(&res, 0, sizeof res);
  int rc = w->run(&args, &res);
  if (rc != 0) return rc;
  printf(
      "result workload=%s threads=%u scale=%g ops=%.0f wall_s=%.6f ops_per_s=%.1f check=%llu "
      "peak_rss_kib=%zu%s\n",
      w->name, args.threads, args.scale, res.ops, res.wall_s,
      res.wall_s > 0 ? res.ops / res.wall_s : 0.0, (unsigned long long)res.check, peak_rss_kib(),
      res.extra);
  return 0;
}
