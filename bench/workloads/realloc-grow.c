/* realloc-grow: each of T threads grows 8 buffers in turn (round robin, so a buffer rarely has
   free space behind it) by small steps of 16..512 B from empty to a random target of 1..4 MiB,
   writing the new bytes, then frees the buffer and starts it again. Contents are checked after
   every realloc. Stresses realloc in place against allocate-copy-free (a copying realloc
   without slack is quadratic here) and the large/huge paths it crosses.
   One op = one realloc. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define BUFFERS    8
#define REALLOCS   2.5e6 /* in all, split over the threads */
#define STEP_MIN   16
#define STEP_MAX   512
#define TARGET_MIN (1u << 20)
#define TARGET_MAX (4u << 20)

typedef struct buf_s {
  unsigned char* p;
  size_t len, target;
} buf_t;

typedef bench_worker_t worker_t;

static void* worker_main(void* arg) {
  worker_t* w = arg;
  buf_t b[BUFFERS] = {{0}};
  uint64_t check = 0;
  for (unsigned k = 0; k < BUFFERS; k++) b[k].target = rng_range(&w->rng, TARGET_MIN, TARGET_MAX);
  for (uint64_t i = 0; i < w->steps; i++) {
    buf_t* x = &b[i % BUFFERS];
    size_t step = (size_t)rng_range(&w->rng, STEP_MIN, STEP_MAX);
    unsigned char* p = realloc(x->p, x->len + step);
    if (p == NULL) bench_fail("realloc-grow", "realloc to %zu B returned NULL", x->len + step);
    /* the first byte and the last byte written before must have moved along */
    if (x->len > 0 &&
        (p[0] != (unsigned char)x->target || p[x->len - 1] != (unsigned char)x->len)) {
      bench_fail("realloc-grow", "contents lost growing %zu -> %zu B", x->len, x->len + step);
    }
    memset(p + x->len, 0x33, step);
    p[0] = (unsigned char)x->target;
    x->len += step;
    p[x->len - 1] = (unsigned char)x->len;
    x->p = p;
    if (x->len >= x->target) {
      check += x->len;
      free(x->p);
      x->p = NULL;
      x->len = 0;
      x->target = rng_range(&w->rng, TARGET_MIN, TARGET_MAX);
    }
  }
  for (unsigned k = 0; k < BUFFERS; k++) free(b[k].p);
  w->check = check;
  return NULL;
}

int wl_realloc_grow(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  run_workers("realloc-grow", a, r, scaled(REALLOCS / T, a->scale), worker_main);
  return 0;
}
