/* small-loop and small-loop-mt: malloc/free of random sizes 8..1024 B in a ring of `window` live
   blocks (free the oldest, allocate a new one, touch its first byte). Stresses the fast paths; on
   several threads, thread-local scaling (the threads share only the read-only size table). */
#define _GNU_SOURCE
#include "small-loop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

#define SIZE_TABLE_LEN 4096 /* 8 KiB of uint16_t: stays in L1 next to the ring */

_Static_assert((SIZE_TABLE_LEN & (SIZE_TABLE_LEN - 1)) == 0, "size table length must be 2^k");
_Static_assert(SMALL_LOOP_MAX_B <= UINT16_MAX, "sizes are stored as uint16_t");

static uint16_t size_table[SIZE_TABLE_LEN];

static void fill_size_table(uint64_t seed) {
  uint64_t state = seed | 1; /* xorshift must not start at 0 */
  for (size_t i = 0; i < SIZE_TABLE_LEN; i++) {
    uint64_t x = state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state = x;
    size_table[i] = (uint16_t)(SMALL_LOOP_MIN_B + x % (SMALL_LOOP_MAX_B - SMALL_LOOP_MIN_B + 1));
  }
}

typedef struct worker_s {
  const small_loop_cfg_t* cfg;
  unsigned index;
  pthread_barrier_t* start;
  uint64_t checksum; /* keeps the compiler from dropping the touches */
  bool failed;
} worker_t;

static void loop(worker_t* w) {
  const unsigned window = w->cfg->window;
  char** ring = calloc(window, sizeof(char*));
  if (ring == NULL) {
    w->failed = true;
    return;
  }
  size_t k = (size_t)w->index * 997; /* threads walk the table from different places */
  for (unsigned s = 0; s < window; s++) {
    ring[s] = malloc(size_table[k++ % SIZE_TABLE_LEN]);
    if (ring[s] == NULL) {
      w->failed = true;
      return;
    }
    ring[s][0] = (char)s;
  }
  if (w->start != NULL) pthread_barrier_wait(w->start);

  uint64_t sum = 0;
  unsigned slot = 0;
  for (uint64_t i = 0; i < w->cfg->pairs; i++) {
    char* old = ring[slot];
    sum += (unsigned char)old[0];
    free(old);
    char* p = malloc(size_table[k++ & (SIZE_TABLE_LEN - 1)]);
    if (p == NULL) {
      w->failed = true;
      break;
    }
    p[0] = (char)i;
    ring[slot] = p;
    if (++slot == window) slot = 0;
  }

  for (unsigned s = 0; s < window; s++) free(ring[s]);
  free(ring);
  w->checksum = sum;
}

static void* worker_main(void* arg) {
  loop((worker_t*)arg);
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double small_loop_run(const small_loop_cfg_t* cfg, uint64_t* checksum) {
  fill_size_table(cfg->seed);
  *checksum = 0;
  if (cfg->threads <= 1) {
    worker_t w = {.cfg = cfg};
    double t0 = now_ns();
    loop(&w);
    double t1 = now_ns();
    *checksum = w.checksum;
    return w.failed ? -1 : t1 - t0;
  }
  worker_t* ws = calloc(cfg->threads, sizeof(worker_t));
  pthread_t* tids = calloc(cfg->threads, sizeof(pthread_t));
  pthread_barrier_t start;
  if (ws == NULL || tids == NULL || pthread_barrier_init(&start, NULL, cfg->threads + 1) != 0) {
    return -1;
  }
  for (unsigned t = 0; t < cfg->threads; t++) {
    ws[t] = (worker_t){.cfg = cfg, .index = t, .start = &start};
    if (pthread_create(&tids[t], NULL, worker_main, &ws[t]) != 0) {
      fprintf(stderr, "small-loop: cannot create thread %u\n", t);
      exit(1);
    }
  }
  pthread_barrier_wait(&start);
  double t0 = now_ns();
  bool failed = false;
  for (unsigned t = 0; t < cfg->threads; t++) {
    pthread_join(tids[t], NULL);
    *checksum += ws[t].checksum;
    failed |= ws[t].failed;
  }
  double t1 = now_ns();
  pthread_barrier_destroy(&start);
  free(ws);
  free(tids);
  return failed ? -1 : t1 - t0;
}

/* bench-suite entry points. small-loop: 1e8 pairs on one thread. small-loop-mt: 1.5e8 pairs in
   all, split over the threads (fixed total work: ops/s is comparable across thread counts). */
static int run_suite(const bench_args_t* a, bench_result_t* r, unsigned threads, double total) {
  small_loop_cfg_t cfg = {.threads = threads, .window = 32, .seed = a->seed};
  cfg.pairs = scaled(total / threads, a->scale);
  double ns = small_loop_run(&cfg, &r->check);
  if (ns < 0) bench_fail("small-loop", "allocation failed");
  r->wall_s = ns * 1e-9;
  r->ops = (double)cfg.pairs * threads;
  return 0;
}

int wl_small_loop(const bench_args_t* a, bench_result_t* r) {
  return run_suite(a, r, a->threads, 1e8);
}

int wl_small_loop_mt(const bench_args_t* a, bench_result_t* r) {
  return run_suite(a, r, a->threads, 1.5e8);
}
