/* large: each of T threads keeps 4 large blocks live and replaces a random one at each step with
   a block of log-uniform size in 64 KiB..32 MiB, writing one byte in every 4 KiB page of it (so
   every page is really used). Stresses the large and huge paths and the OS calls behind them:
   an allocator that returns (purges) freed memory at once and maps it again pays a page fault
   per page on the next use, which shows in the minor faults and system time of the run.
   One op = one block allocated, touched and freed. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "common.h"

#define LIVE       4
#define STEPS      600 /* in all, split over the threads */
#define SIZE_MIN   (64 * 1024)
#define SIZE_MAX_B (32u * 1024 * 1024)
#define PAGE       4096

typedef bench_worker_t worker_t;

static unsigned char* fresh(uint64_t* rng, size_t* size_out) {
  size_t size = rng_log_size(rng, SIZE_MIN, SIZE_MAX_B);
  unsigned char* p = malloc(size);
  if (p == NULL) bench_fail("large", "malloc(%zu) returned NULL", size);
  for (size_t off = 0; off < size; off += PAGE) p[off] = (unsigned char)(off >> 12);
  p[size - 1] = 0x5a;
  *size_out = size;
  return p;
}

static void* worker_main(void* arg) {
  worker_t* w = arg;
  unsigned char* live[LIVE];
  size_t size[LIVE];
  for (unsigned k = 0; k < LIVE; k++) live[k] = fresh(&w->rng, &size[k]);
  uint64_t check = 0;
  for (uint64_t s = 0; s < w->steps; s++) {
    unsigned k = (unsigned)(rng_next(&w->rng) % LIVE);
    if (live[k][size[k] - 1] != 0x5a)
      bench_fail("large", "block %p was overwritten", (void*)live[k]);
    check += size[k] >> 12;
    free(live[k]);
    live[k] = fresh(&w->rng, &size[k]);
  }
  for (unsigned k = 0; k < LIVE; k++) free(live[k]);
  w->check = check;
  return NULL;
}

int wl_large(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  run_workers("large", a, r, scaled((double)STEPS / T, a->scale), worker_main);
  return 0;
}
