/* Helpers shared by the workloads; see common.h. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t rng_seed(uint64_t seed, uint64_t stream) {
  /* splitmix64 of (seed, stream): distinct, well-mixed, never 0 */
  uint64_t z = seed + (stream + 1) * UINT64_C(0x9E3779B97F4A7C15);
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  return z ? z : 1;
}

size_t rng_log_size(uint64_t* s, size_t lo, size_t hi) {
  /* pick a doubling [2^k, 2^(k+1)) that overlaps [lo, hi], then a size inside it */
  unsigned klo = 63 - (unsigned)__builtin_clzll(lo);
  unsigned khi = 63 - (unsigned)__builtin_clzll(hi);
  unsigned k = klo + (unsigned)(rng_next(s) % (khi - klo + 1));
  size_t a = (size_t)1 << k, b = (a << 1) - 1;
  if (a < lo) a = lo;
  if (b > hi) b = hi;
  return (size_t)rng_range(s, a, b);
}

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t rss_kib(void) {
  /* open/read on a stack buffer: no stdio, so no allocation in the middle of a measurement */
  static long page_kib;
  if (page_kib == 0) page_kib = sysconf(_SC_PAGESIZE) / 1024;
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  /* "size resident shared ...": the second field */
  char* p = buf;
  while (*p != 0 && *p != ' ') p++;
  return (size_t)strtoull(p, NULL, 10) * (size_t)page_kib;
}

size_t peak_rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  char line[256];
  size_t kib = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kib = (size_t)strtoull(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

uint64_t scaled(double base, double scale) {
  double v = round(base * scale);
  return v < 1 ? 1 : (uint64_t)v;
}

void run_threads(unsigned n, void* (*fn)(void*), void* args, size_t arg_size) {
  pthread_t* tids = malloc(n * sizeof(pthread_t));
  if (tids == NULL) bench_fail("run_threads", "out of memory");
  for (unsigned i = 0; i < n; i++) {
    if (pthread_create(&tids[i], NULL, fn, (char*)args + i * arg_size) != 0) {
      bench_fail("run_threads", "cannot create thread %u", i);
    }
  }
  for (unsigned i = 0; i < n; i++) pthread_join(tids[i], NULL);
  free(tids);
}

void run_workers(const char* workload, const bench_args_t* a, bench_result_t* r, uint64_t steps,
                 void* (*fn)(void*)) {
  const unsigned T = a->threads;
  bench_worker_t* ws = xcalloc_lines(workload, T, sizeof(bench_worker_t));
  for (unsigned t = 0; t < T; t++)
    ws[t] = (bench_worker_t){.steps = steps, .rng = rng_seed(a->seed, t)};
  const double t0 = now_s();
  run_threads(T, fn, ws, sizeof(bench_worker_t));
  r->wall_s = now_s() - t0;
  r->ops = (double)steps * T;
  for (unsigned t = 0; t < T; t++) r->check += ws[t].check;
  free(ws);
}

void bench_fail(const char* workload, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench-suite: %s: ", workload);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(3);
}

void* xmalloc_or_fail(const char* workload, size_t size) {
  void* p = malloc(size);
  if (p == NULL) bench_fail(workload, "malloc(%zu) returned NULL", size);
  return p;
}

void* xcalloc_lines(const char* workload, size_t n, size_t elem_size) {
  if (elem_size != 0 && n > SIZE_MAX / elem_size - BENCH_CACHE_LINE) {
    bench_fail(workload, "%zu elements of %zu B: too large", n, elem_size);
  }
  const size_t bytes = (n * elem_size + BENCH_CACHE_LINE) & ~(size_t)(BENCH_CACHE_LINE - 1);
  void* p = aligned_alloc(BENCH_CACHE_LINE, bytes); /* bytes: a non-zero multiple of the line */
  if (p == NULL)
    bench_fail(workload, "aligned_alloc(%d, %zu) returned NULL", BENCH_CACHE_LINE, bytes);
  memset(p, 0, bytes);
  return p;
}

void result_extra(bench_result_t* res, const char* fmt, ...) {
  size_t len = strlen(res->extra);
  if (len + 2 >= sizeof res->extra) return;
  res->extra[len++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->extra + len, sizeof res->extra - len, fmt, ap);
  va_end(ap);
}
