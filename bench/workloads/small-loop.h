/* The small-loop loop, shared by bench-small (its own --compare) and bench-suite (small-loop,
   small-loop-mt), so that there is one implementation of the workload. */
#ifndef SA_BENCH_SMALL_LOOP_H
#define SA_BENCH_SMALL_LOOP_H

#include <stdint.h>

#define SMALL_LOOP_MIN_B 8
#define SMALL_LOOP_MAX_B 1024

typedef struct small_loop_cfg_s {
  uint64_t pairs;   /* malloc/free pairs per thread */
  unsigned threads; /* independent threads running the same loop (1: the calling thread) */
  unsigned window;  /* live blocks per thread: free the oldest, allocate a new one */
  uint64_t seed;    /* seed of the size table */
} small_loop_cfg_t;

/* Runs the loop and returns the wall time in ns from the common start to the last finish, or a
   negative value when an allocation failed. *checksum sums bytes read back from the blocks. */
double small_loop_run(const small_loop_cfg_t* cfg, uint64_t* checksum);

#endif
