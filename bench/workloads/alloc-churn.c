/* alloc-churn: each of T threads keeps a working set of 2000 blocks of mixed sizes, log-uniform
   in 16 B..64 KiB, and replaces a random one at each step, touching the first and last cache
   line of the new block and checking the old one's marks before freeing it. Stresses the
   mid-size classes and the reuse of pages that empty and fill again. One op = one replacement. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SET   2000
#define STEPS 1.8e7 /* in all, split over the threads */

typedef bench_worker_t worker_t;

typedef struct block_s {
  unsigned char* p;
  size_t size;
} block_t;

static unsigned char* fresh(uint64_t* rng, size_t* size_out) {
  size_t size = rng_log_size(rng, 16, 65536);
  unsigned char* p = malloc(size);
  if (p == NULL) bench_fail("alloc-churn", "malloc(%zu) returned NULL", size);
  size_t edge = size < 64 ? size : 64; /* touch the first and the last cache line */
  memset(p, 0xab, edge);
  memset(p + size - edge, 0xcd, edge);
  p[0] = (unsigned char)size; /* marks checked before the block is freed */
  p[size - 1] = (unsigned char)(size >> 8) ^ 0x5a;
  *size_out = size;
  return p;
}

static void* worker_main(void* arg) {
  worker_t* w = arg;
  block_t* set = xmalloc_or_fail("alloc-churn", SET * sizeof(block_t));
  for (unsigned k = 0; k < SET; k++) set[k].p = fresh(&w->rng, &set[k].size);
  uint64_t check = 0;
  for (uint64_t s = 0; s < w->steps; s++) {
    unsigned k = (unsigned)(rng_next(&w->rng) % SET);
    block_t* b = &set[k];
    if (b->p[0] != (unsigned char)b->size ||
        b->p[b->size - 1] != ((unsigned char)(b->size >> 8) ^ 0x5a)) {
      bench_fail("alloc-churn", "block %p of %zu B was overwritten", (void*)b->p, b->size);
    }
    check += b->size;
    free(b->p);
    b->p = fresh(&w->rng, &b->size);
  }
  for (unsigned k = 0; k < SET; k++) free(set[k].p);
  free(set);
  w->check = check;
  return NULL;
}

int wl_alloc_churn(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  run_workers("alloc-churn", a, r, scaled(STEPS / T, a->scale), worker_main);
  return 0;
}
