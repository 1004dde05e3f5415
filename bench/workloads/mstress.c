/* mstress: everything at once, with a correctness check. T lanes each keep a window of live
   objects, mostly small (16..512 B), sometimes medium (512 B..16 KiB) and rarely large
   (16..256 KiB); every object is filled with a pattern derived from its size and a per-object
   key, and checked when it is freed. Each step allocates into a random window slot, frees one, or
   swaps one with a random slot of an array shared by all lanes (so objects migrate and get freed
   by other threads). Threads are recreated each round; the windows outlive them, so the next
   round frees what a dead thread allocated. One op = one step. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define WINDOW    2000
#define SHARED    1000
#define ROUNDS    100
#define STEPS     120000 /* per lane and round at 2 lanes, --scale 1; T lanes do 2/T as many */
#define HDR_WORDS 2

typedef struct lane_s {
  BENCH_OWN_LINE uint64_t* slot[WINDOW];
  uint64_t rng;
  uint64_t steps;
  uint64_t check;
} lane_t;

static _Atomic(uint64_t*) shared_slot[SHARED];

/* Object layout: word 0 = size in bytes, word 1 = key; then words key*i+size to the end. */
static uint64_t* obj_new(uint64_t* rng) {
  uint64_t x = rng_next(rng);
  unsigned pick = (unsigned)(x % 1000);
  size_t size;
  if (pick < 960) {
    size = (size_t)rng_range(rng, 16, 512);
  } else if (pick < 999) {
    size = rng_log_size(rng, 513, 16384);
  } else {
    size = rng_log_size(rng, 16385, 262144);
  }
  size &= ~(size_t)7; /* whole words */
  uint64_t* p = malloc(size);
  if (p == NULL) bench_fail("mstress", "malloc(%zu) returned NULL", size);
  size_t words = size / 8;
  uint64_t key = x | 1;
  p[0] = size;
  p[1] = key;
  for (size_t i = HDR_WORDS; i < words; i++) p[i] = key * i + size;
  return p;
}

static uint64_t obj_free(uint64_t* p) {
  if (p == NULL) return 0;
  size_t size = p[0];
  uint64_t key = p[1];
  if (size < 16 || size > 262144 || (key & 1) == 0) {
    bench_fail("mstress", "corrupted object header at %p", (void*)p);
  }
  size_t words = size / 8;
  for (size_t i = HDR_WORDS; i < words; i++) {
    if (p[i] != key * i + size)
      bench_fail("mstress", "corrupted object at %p word %zu", (void*)p, i);
  }
  free(p);
  return size;
}

static void* lane_round(void* arg) {
  lane_t* l = arg;
  uint64_t check = 0;
  for (uint64_t s = 0; s < l->steps; s++) {
    uint64_t x = rng_next(&l->rng);
    unsigned k = (unsigned)((x >> 16) % WINDOW);
    unsigned op = (unsigned)(x % 100);
    if (op < 50) { /* replace */
      check += obj_free(l->slot[k]);
      l->slot[k] = obj_new(&l->rng);
    } else if (op < 80) { /* free */
      check += obj_free(l->slot[k]);
      l->slot[k] = NULL;
    } else { /* swap with the shared array */
      unsigned j = (unsigned)((x >> 40) % SHARED);
      l->slot[k] = atomic_exchange_explicit(&shared_slot[j], l->slot[k], memory_order_acq_rel);
    }
  }
  l->check += check;
  return NULL;
}

int wl_mstress(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  const uint64_t steps = scaled(STEPS * 2.0 / T, a->scale);
  lane_t* lanes = xcalloc_lines("mstress", T, sizeof(lane_t));
  for (unsigned t = 0; t < T; t++) {
    lanes[t].rng = rng_seed(a->seed, t);
    lanes[t].steps = steps;
  }
  for (unsigned j = 0; j < SHARED; j++) atomic_store(&shared_slot[j], NULL);
  double t0 = now_s();
  for (unsigned round = 0; round < ROUNDS; round++) {
    run_threads(T, lane_round, lanes, sizeof(lane_t));
  }
  /* what is left is freed (and checked) by the main thread */
  for (unsigned t = 0; t < T; t++) {
    for (unsigned k = 0; k < WINDOW; k++) r->check += obj_free(lanes[t].slot[k]);
    r->check += lanes[t].check;
  }
  for (unsigned j = 0; j < SHARED; j++)
    r->check += obj_free(atomic_exchange(&shared_slot[j], NULL));
  r->wall_s = now_s() - t0;
  r->ops = (double)ROUNDS * (double)steps * T;
  free(lanes);
  return 0;
}
