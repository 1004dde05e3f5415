/* cache-scratch and cache-thrash: allocator-induced false sharing. Each of T threads repeatedly
   allocates a small object (8 B), writes to it many times and frees it.
   - cache-thrash: the threads allocate at the same time, so an allocator that hands neighbouring
     blocks to different threads makes them share cache lines (active false sharing);
   - cache-scratch: the main thread first allocates one object per thread, back to back, and each
     thread starts by freeing the one it was given; an allocator that then reuses that block for
     the thread's own objects makes the threads write to one cache line (passive false sharing).
   One op = one write. With no false sharing both run at the speed of a single core per thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

#define OBJ_SIZE 8
#define OBJECTS  12000  /* in all (split over the threads), at --scale 1 */
#define WRITES   300000 /* per object */

typedef struct worker_s {
  BENCH_OWN_LINE char* given; /* scratch: the object from the main thread, freed first */
  uint64_t objects;
  pthread_barrier_t* start;
  uint64_t check;
} worker_t;

static void* worker_main(void* arg) {
  worker_t* w = arg;
  pthread_barrier_wait(w->start);
  if (w->given != NULL) free(w->given);
  uint64_t check = 0;
  for (uint64_t i = 0; i < w->objects; i++) {
    volatile char* p = malloc(OBJ_SIZE);
    if (p == NULL) bench_fail("cache", "malloc returned NULL");
    for (unsigned j = 0; j < WRITES; j++) p[j & (OBJ_SIZE - 1)] += 1;
    for (unsigned b = 0; b < OBJ_SIZE; b++) check += (unsigned char)p[b];
    free((void*)p);
  }
  w->check = check;
  return NULL;
}

static int run(const bench_args_t* a, bench_result_t* r, int scratch) {
  const unsigned T = a->threads;
  const uint64_t objects = scaled((double)OBJECTS / T, a->scale);
  worker_t* ws = xcalloc_lines("cache", T, sizeof(worker_t));
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, T);
  for (unsigned t = 0; t < T; t++) {
    ws[t] = (worker_t){.objects = objects, .start = &start};
    if (scratch) {
      ws[t].given = xmalloc_or_fail("cache-scratch", OBJ_SIZE);
      ws[t].given[0] = (char)t;
    }
  }
  double t0 = now_s();
  run_threads(T, worker_main, ws, sizeof(worker_t));
  r->wall_s = now_s() - t0;
  r->ops = (double)T * (double)objects * WRITES;
  for (unsigned t = 0; t < T; t++) r->check += ws[t].check;
  pthread_barrier_destroy(&start);
  free(ws);
  return 0;
}

int wl_cache_scratch(const bench_args_t* a, bench_result_t* r) { return run(a, r, 1); }

int wl_cache_thrash(const bench_args_t* a, bench_result_t* r) { return run(a, r, 0); }
