/* rss-return: memory return. T threads together allocate 1 GiB (at --scale 1) in blocks of
   log-uniform size 64 B..256 KiB, writing every page; then each frees half of its own blocks
   and half of its neighbour's (cross-thread frees), and the threads exit. The main thread then
   keeps the process running lightly for IDLE_S seconds (a few small mallocs and frees every
   millisecond, as a server between requests would), while a sampler thread records the RSS every
   SAMPLE_MS from the start. Prints the samples ("rss_t" and "rss_kib" lists) and the RSS at the
   end of the idle phase (final_rss_kib), the figure that matters: how much of the 1 GiB the
   allocator gave back. Time (and ops/s) covers the allocate-and-free phase only.
   One op = one block allocated and freed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define TOTAL_BYTES (1024.0 * 1024 * 1024)
#define IDLE_S      4.0
#define SAMPLE_MS   50
#define MAX_SAMPLES 4096
#define PAGE        4096

typedef struct worker_s {
  BENCH_OWN_LINE unsigned index, nthreads;
  size_t bytes;
  uint64_t rng;
  unsigned char** blocks;
  size_t nblocks;
  struct worker_s* all;
  pthread_barrier_t* allocated;
  uint64_t check;
} worker_t;

static void* worker_main(void* arg) {
  worker_t* w = arg;
  size_t cap = 1024, n = 0, got = 0;
  unsigned char** blocks = xmalloc_or_fail("rss-return", cap * sizeof(void*));
  while (got < w->bytes) {
    size_t size = rng_log_size(&w->rng, 64, 256 * 1024);
    unsigned char* p = malloc(size);
    if (p == NULL) bench_fail("rss-return", "malloc(%zu) returned NULL", size);
    for (size_t off = 0; off < size; off += PAGE) p[off] = 1;
    p[size - 1] = 2;
    if (n == cap) {
      cap *= 2;
      blocks = realloc(blocks, cap * sizeof(void*));
      if (blocks == NULL) bench_fail("rss-return", "realloc failed");
    }
    blocks[n++] = p;
    got += size;
  }
  w->blocks = blocks;
  w->nblocks = n;
  pthread_barrier_wait(w->allocated);
  /* odd blocks of our own, even blocks of the neighbour's */
  worker_t* other = &w->all[(w->index + 1) % w->nthreads];
  for (size_t i = 1; i < n; i += 2) {
    w->check += blocks[i][0];
    free(blocks[i]);
  }
  for (size_t i = 0; i < other->nblocks; i += 2) {
    w->check += other->blocks[i][0];
    free(other->blocks[i]);
  }
  pthread_barrier_wait(w->allocated); /* the neighbour is done with our array */
  free(blocks);
  return NULL;
}

static struct {
  _Atomic int stop;
  double t0;
  unsigned n;
  float t[MAX_SAMPLES];
  uint32_t kib[MAX_SAMPLES];
} samples;

static void sleep_ms(double ms) {
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms * 1e6) % 1000000000L};
  nanosleep(&ts, NULL);
}

/* Never allocates: the samples are in static storage. */
static void* sampler_main(void* arg) {
  (void)arg;
  while (!atomic_load(&samples.stop) && samples.n < MAX_SAMPLES) {
    samples.t[samples.n] = (float)(now_s() - samples.t0);
    samples.kib[samples.n] = (uint32_t)rss_kib();
    samples.n++;
    sleep_ms(SAMPLE_MS);
  }
  return NULL;
}

int wl_rss_return(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  const double total = TOTAL_BYTES * a->scale;
  samples.t0 = now_s();
  samples.n = 0;
  atomic_store(&samples.stop, 0);
  pthread_t sampler;
  if (pthread_create(&sampler, NULL, sampler_main, NULL) != 0) {
    bench_fail("rss-return", "cannot create the sampler thread");
  }
  sleep_ms(2 * SAMPLE_MS); /* a baseline before anything is allocated */

  worker_t* ws = xcalloc_lines("rss-return", T, sizeof(worker_t));
  pthread_barrier_t allocated;
  pthread_barrier_init(&allocated, NULL, T);
  for (unsigned t = 0; t < T; t++) {
    ws[t] = (worker_t){.index = t,
                       .nthreads = T,
                       .bytes = (size_t)(total / T),
                       .rng = rng_seed(a->seed, t),
                       .all = ws,
                       .allocated = &allocated};
  }
  double t0 = now_s();
  run_threads(T, worker_main, ws, sizeof(worker_t));
  r->wall_s = now_s() - t0;
  size_t blocks = 0;
  for (unsigned t = 0; t < T; t++) {
    blocks += ws[t].nblocks;
    r->check += ws[t].check;
  }
  r->ops = (double)blocks;
  free(ws);
  pthread_barrier_destroy(&allocated);
  size_t after_free = rss_kib();

  /* the idle phase: a little work every millisecond */
  uint64_t rng = rng_seed(a->seed, 999);
  double end = now_s() + IDLE_S;
  while (now_s() < end) {
    void* p[16];
    for (unsigned i = 0; i < 16; i++) {
      p[i] = xmalloc_or_fail("rss-return", (size_t)rng_range(&rng, 16, 4096));
      memset(p[i], 0, 16);
    }
    for (unsigned i = 0; i < 16; i++) free(p[i]);
    sleep_ms(1);
  }
  size_t final_kib = rss_kib();
  atomic_store(&samples.stop, 1);
  pthread_join(sampler, NULL);

  result_extra(r, "after_free_kib=%zu final_rss_kib=%zu", after_free, final_kib);
  /* the samples as two comma-separated lists, on their own line (too long for `extra`) */
  printf("samples rss_t=");
  for (unsigned i = 0; i < samples.n; i++) printf("%s%.3f", i ? "," : "", (double)samples.t[i]);
  printf(" rss_kib=");
  for (unsigned i = 0; i < samples.n; i++) printf("%s%u", i ? "," : "", samples.kib[i]);
  printf("\n");
  return 0;
}
