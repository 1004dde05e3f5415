/* alloc-test: random replacement in a large set of small blocks. 256 Ki slots (split evenly over
   the T threads, each thread owning its part) are filled with blocks of random size, uniform in
   1 B..1 KiB; then each step picks a random slot of the thread's part, frees its block and puts a
   new one of random size there, writing its first and last byte (the freed block's bytes are
   read back first). So about 128 MiB stay live, and what the allocator hands out is touched at
   once, at addresses scattered over all of it: the cost of finding a free block among many
   partly used pages, and the locality of the blocks given. `alloc-test` runs on one thread,
   `alloc-test-mt` on two (the same code; --threads sets either). The main thread fills the
   slots (untimed), so each worker's first free of a slot is of a block another thread made; all
   later frees are local.
   One op = one free + one malloc. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "common.h"

#define SLOTS_ALL  (256u * 1024u)
#define STEPS      2.0e7 /* in all, at --scale 1 */
#define SIZE_MAX_B 1024

/* A block's first and last byte hold a tag derived from its size (one byte when the size is 1). */
static unsigned char tag_of(size_t size) { return (unsigned char)(size * 37 + 11); }

static unsigned char* block_new(uint64_t* rng, uint64_t* made) {
  size_t size = (size_t)rng_range(rng, 1, SIZE_MAX_B);
  unsigned char* p = malloc(size);
  if (p == NULL) bench_fail("alloc-test", "malloc(%zu) returned NULL", size);
  p[0] = p[size - 1] = tag_of(size);
  *made += size;
  return p;
}

/* Fails the run when the block's bytes disagree with the size it was made with. */
static void block_free(unsigned char* p, size_t size) {
  if (p[0] != tag_of(size) || p[size - 1] != tag_of(size))
    bench_fail("alloc-test", "corrupted block at %p", (void*)p);
  free(p);
}

typedef struct part_s {
  BENCH_OWN_LINE uint64_t rng;
  uint64_t steps;
  uint64_t made, freed;
  unsigned nslots;
  unsigned char** slot;
  unsigned short* size; /* each slot's block size, kept apart so the check reads the block */
} part_t;

static void* part_main(void* arg) {
  part_t* w = arg;
  const unsigned n = w->nslots;
  for (uint64_t s = 0; s < w->steps; s++) {
    unsigned k = (unsigned)(rng_next(&w->rng) % n);
    block_free(w->slot[k], w->size[k]);
    w->freed += w->size[k];
    uint64_t before = w->made;
    w->slot[k] = block_new(&w->rng, &w->made);
    w->size[k] = (unsigned short)(w->made - before);
  }
  return NULL;
}

int wl_alloc_test(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  if (T > SLOTS_ALL) bench_fail("alloc-test", "at most %u threads", SLOTS_ALL);
  const uint64_t steps = scaled(STEPS / T, a->scale);
  part_t* ps = xcalloc_lines("alloc-test", T, sizeof(part_t));
  for (unsigned t = 0; t < T; t++) {
    part_t* w = &ps[t];
    w->rng = rng_seed(a->seed, t);
    w->steps = steps;
    w->nslots = SLOTS_ALL / T + (t < SLOTS_ALL % T ? 1 : 0);
    w->slot = xmalloc_or_fail("alloc-test", w->nslots * sizeof(unsigned char*));
    w->size = xmalloc_or_fail("alloc-test", w->nslots * sizeof(unsigned short));
    /* filled by the main thread, untimed: the threads start with their parts full */
    for (unsigned k = 0; k < w->nslots; k++) {
      uint64_t before = w->made;
      w->slot[k] = block_new(&w->rng, &w->made);
      w->size[k] = (unsigned short)(w->made - before);
    }
  }
  double t0 = now_s();
  run_threads(T, part_main, ps, sizeof(part_t));
  r->wall_s = now_s() - t0;
  r->ops = (double)steps * T;
  uint64_t made = 0, freed = 0;
  for (unsigned t = 0; t < T; t++) {
    part_t* w = &ps[t];
    for (unsigned k = 0; k < w->nslots; k++) {
      block_free(w->slot[k], w->size[k]);
      w->freed += w->size[k];
    }
    made += w->made;
    freed += w->freed;
    free(w->slot);
    free(w->size);
  }
  if (made != freed) bench_fail("alloc-test", "sizes made and freed differ");
  r->check = made;
  free(ps);
  return 0;
}
