/* sh6 and sh8: batches. Each of T threads repeatedly allocates a batch of 1000 objects of varying
   sizes (mostly 8..512 B, one in sixteen up to 4 KiB), writes each, and frees the batch in one of
   three orders, in turn: reverse (LIFO), allocation order (FIFO), or interleaved (even indices,
   then odd ones). In sh6 each thread frees its own batches (LIFO/FIFO reuse); in sh8 a thread
   passes each batch to the next thread through a mailbox and frees the batch the previous thread
   passed to it, so whole batches migrate between threads. One op = one object allocated and
   freed. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"

#define BATCH   1000
#define BATCHES 80000 /* in all, split over the threads */

typedef struct batch_s {
  unsigned order; /* 0 reverse, 1 forward, 2 interleaved */
  unsigned char* obj[BATCH];
} batch_t;

typedef struct worker_s {
  BENCH_OWN_LINE unsigned index, nthreads;
  uint64_t batches;
  uint64_t rng;
  uint64_t check;
  int cross; /* sh8 */
} worker_t;

/* sh8: one mailbox per thread, a batch waiting for that thread */
static _Atomic(batch_t*) mailbox[1024];

static batch_t* make_batch(worker_t* w, unsigned order) {
  batch_t* b = xmalloc_or_fail("sh", sizeof(batch_t));
  b->order = order;
  for (unsigned i = 0; i < BATCH; i++) {
    uint64_t x = rng_next(&w->rng);
    size_t size = (x & 15) ? 8 + (x >> 8) % 505 : 512 + (x >> 8) % 3585;
    unsigned char* p = malloc(size);
    if (p == NULL) bench_fail("sh", "malloc(%zu) returned NULL", size);
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)size;
    b->obj[i] = p;
  }
  return b;
}

static uint64_t free_one(batch_t* b, unsigned i) {
  unsigned char* p = b->obj[i];
  if (p[0] != (unsigned char)i) bench_fail("sh", "object %u of a batch was overwritten", i);
  free(p);
  return i;
}

static uint64_t free_batch(batch_t* b) {
  uint64_t check = 0;
  switch (b->order) {
    case 0:
      for (unsigned i = BATCH; i-- > 0;) check += free_one(b, i);
      break;
    case 1:
      for (unsigned i = 0; i < BATCH; i++) check += free_one(b, i);
      break;
    default:
      for (unsigned i = 0; i < BATCH; i += 2) check += free_one(b, i);
      for (unsigned i = 1; i < BATCH; i += 2) check += free_one(b, i);
      break;
  }
  free(b);
  return check;
}

static void* worker_main(void* arg) {
  worker_t* w = arg;
  uint64_t check = 0;
  for (uint64_t n = 0; n < w->batches; n++) {
    batch_t* b = make_batch(w, (unsigned)(n % 3));
    if (!w->cross) {
      check += free_batch(b);
      continue;
    }
    unsigned next = (w->index + 1) % w->nthreads;
    /* a batch the next thread has not taken yet comes back: free it here */
    batch_t* stale = atomic_exchange(&mailbox[next], b);
    if (stale != NULL) check += free_batch(stale);
    batch_t* in = atomic_exchange(&mailbox[w->index], NULL);
    if (in != NULL) check += free_batch(in);
  }
  w->check = check;
  return NULL;
}

static int run(const bench_args_t* a, bench_result_t* r, int cross) {
  const unsigned T = a->threads;
  if (cross && T > sizeof mailbox / sizeof mailbox[0]) bench_fail("sh8", "too many threads");
  const uint64_t batches = scaled((double)BATCHES / T, a->scale);
  worker_t* ws = xcalloc_lines("sh", T, sizeof(worker_t));
  for (unsigned t = 0; t < T; t++) {
    ws[t] = (worker_t){
        .index = t, .nthreads = T, .batches = batches, .rng = rng_seed(a->seed, t), .cross = cross};
    atomic_store(&mailbox[t], NULL);
  }
  double t0 = now_s();
  run_threads(T, worker_main, ws, sizeof(worker_t));
  for (unsigned t = 0; t < T; t++) {
    batch_t* left = atomic_exchange(&mailbox[t], NULL);
    if (left != NULL) r->check += free_batch(left);
  }
  r->wall_s = now_s() - t0;
  r->ops = (double)batches * T * BATCH;
  for (unsigned t = 0; t < T; t++) r->check += ws[t].check;
  free(ws);
  return 0;
}

int wl_sh6(const bench_args_t* a, bench_result_t* r) { return run(a, r, 0); }

int wl_sh8(const bench_args_t* a, bench_result_t* r) { return run(a, r, 1); }
