/* Shared pieces of the benchmark workloads (bench-suite): arguments, the result each workload
   fills in, a small random generator, clocks, RSS, and a helper that runs N threads.
   Workloads call only plain malloc/free/realloc (or C++ new/delete), never shardalloc's API:
   each allocator is swapped in with LD_PRELOAD so all of them run this very binary. */
#ifndef SA_BENCH_COMMON_H
#define SA_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_args_s {
  unsigned threads; /* threads the workload uses (its default when not given) */
  double scale;     /* multiplies the amount of work (1.0: the standard 1-10 s run) */
  uint64_t seed;
} bench_args_t;

/* Filled in by a workload. `ops` is the workload's unit of work (documented per workload) done
   in `wall_s` seconds of measured time; `check` is a checksum that keeps the work observable.
   `extra` holds more "key=value" pairs for the result line (rss-return's samples, ...). */
typedef struct bench_result_s {
  double wall_s;
  double ops;
  uint64_t check;
  char extra[256];
} bench_result_t;

typedef int (*bench_fn)(const bench_args_t* args, bench_result_t* res);

typedef struct workload_s {
  const char* name;
  bench_fn run;
  unsigned default_threads; /* 1: single-threaded by design (--threads still accepted) */
  const char* unit;         /* what one op is */
  const char* stresses;
} workload_t;

/* ---- random numbers: xorshift64*, one state per thread ---- */
static inline uint64_t rng_next(uint64_t* s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}
/* A non-zero state derived from a seed and a stream number (a thread or lane index). */
uint64_t rng_seed(uint64_t seed, uint64_t stream);
/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(uint64_t* s, uint64_t lo, uint64_t hi) {
  return lo + rng_next(s) % (hi - lo + 1);
}
/* Log-uniform in [lo, hi]: every doubling is about equally likely. */
size_t rng_log_size(uint64_t* s, size_t lo, size_t hi);

/* ---- clocks and memory ---- */
double now_s(void);   /* CLOCK_MONOTONIC in seconds */
size_t rss_kib(void); /* resident set now, from /proc/self/statm */
/* Peak resident set of this program (VmHWM): unlike the ru_maxrss a parent gets from wait4, it
   does not include the parent's own RSS at fork time. */
size_t peak_rss_kib(void);
uint64_t scaled(double base, double scale); /* max(1, round(base * scale)) */

/* ---- per-thread state ----
   A struct that a thread keeps writing while it works (its random state, counters) starts with
   BENCH_OWN_LINE, so each element of an array of them has cache lines of its own: neighbouring
   elements written by different threads would share a line, a slowdown made by the benchmark
   (not by the allocator measured) whose size would depend on where the allocator put the array.
   Allocate such arrays with xcalloc_lines. */
#define BENCH_CACHE_LINE 64
#ifdef __cplusplus
#define BENCH_OWN_LINE alignas(BENCH_CACHE_LINE)
#else
#define BENCH_OWN_LINE _Alignas(BENCH_CACHE_LINE)
#endif

/* Runs fn(arg + i * arg_size) on n new threads and joins them all; exits the process when a
   thread cannot be created. */
void run_threads(unsigned n, void* (*fn)(void*), void* args, size_t arg_size);

/* The independent-workers pattern: each of a->threads workers does `steps` operations with its
   own random stream and returns a check value. */
typedef struct bench_worker_s {
  BENCH_OWN_LINE uint64_t steps;
  uint64_t rng;
  uint64_t check;
} bench_worker_t;

/* Runs fn on a->threads bench_worker_t of `steps` each (seeded from a->seed), timing the whole;
   fills r->wall_s, r->ops (steps x threads) and r->check (the workers' checks summed). */
void run_workers(const char* workload, const bench_args_t* a, bench_result_t* r, uint64_t steps,
                 void* (*fn)(void*));

/* Prints "bench-suite: <workload>: <message>" to stderr and exits with status 3 (a failed check,
   e.g. a corrupted block). */
void bench_fail(const char* workload, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
/* malloc that fails the run on NULL. */
void* xmalloc_or_fail(const char* workload, size_t size);
/* n zeroed elements of elem_size bytes, aligned to a cache line (for BENCH_OWN_LINE structs);
   fails the run on NULL. Freed with free. */
void* xcalloc_lines(const char* workload, size_t n, size_t elem_size);
/* Appends " key=value" to res->extra. */
void result_extra(bench_result_t* res, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/* The workloads (one file each, except cache-scratch/cache-thrash, sh6/sh8 and
   alloc-test/alloc-test-mt, which share). */
int wl_small_loop(const bench_args_t* a, bench_result_t* r);
int wl_small_loop_mt(const bench_args_t* a, bench_result_t* r);
int wl_larson(const bench_args_t* a, bench_result_t* r);
int wl_xmalloc(const bench_args_t* a, bench_result_t* r);
int wl_mstress(const bench_args_t* a, bench_result_t* r);
int wl_cache_scratch(const bench_args_t* a, bench_result_t* r);
int wl_cache_thrash(const bench_args_t* a, bench_result_t* r);
int wl_alloc_churn(const bench_args_t* a, bench_result_t* r);
int wl_sh6(const bench_args_t* a, bench_result_t* r);
int wl_sh8(const bench_args_t* a, bench_result_t* r);
int wl_bignum(const bench_args_t* a, bench_result_t* r);
int wl_tree(const bench_args_t* a, bench_result_t* r);
int wl_large(const bench_args_t* a, bench_result_t* r);
int wl_realloc_grow(const bench_args_t* a, bench_result_t* r);
int wl_rss_return(const bench_args_t* a, bench_result_t* r);
int wl_rptest(const bench_args_t* a, bench_result_t* r);
int wl_alloc_test(const bench_args_t* a, bench_result_t* r); /* alloc-test and alloc-test-mt */

#ifdef __cplusplus
}
#endif
#endif
