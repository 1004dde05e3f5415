/* test-destroy-purger: MIMALLOC_DESTROY_ON_EXIT=1 with the background purger running. At exit the
   library unmaps its arenas; a purger pass under way at that moment must not touch them (it
   would read freed segments, or purge memory that is no longer ours). Each run is a re-executed
   process whose threads leave memory for the purger (freed slices, freed arena blocks, abandoned
   segments of exited threads) and which then exits at a varying moment, so that the exit often
   meets a pass. RUNS runs; each must exit normally. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define RUNS    40
#define THREADS 4

static void* churn(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  void* keep[64];
  for (int round = 0; round < 8; round++) {
    for (size_t i = 0; i < 64; i++) {
      const size_t size = (size_t)t_rand_range(&rng, 16, 48 * 1024);
      keep[i] = mi_malloc(size);
      if (keep[i] != NULL) memset(keep[i], 0x5A, size);
    }
    for (size_t i = 0; i < 64; i++)
      if (round < 7 || i % 8 != 0) mi_free(keep[i]);  // the last round leaves some live
  }
  return NULL;
}

static int child_main(void) {
  pthread_t th[THREADS];
  for (size_t i = 0; i < THREADS; i++)
    pthread_create(&th[i], NULL, churn, (void*)(uintptr_t)(i + 1 + (uintptr_t)getpid()));
  for (size_t i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  // Free a burst of big blocks, then exit some 0..20 ms later (purger passes every 10 ms).
  void* big[32];
  for (size_t i = 0; i < 32; i++) big[i] = mi_malloc(3 * 1024 * 1024);
  for (size_t i = 0; i < 32; i++) mi_free(big[i]);
  struct timespec ts = {0, (long)(t_mix64((uint64_t)getpid()) % 20000000)};
  nanosleep(&ts, NULL);
  return 0;
}

int main(int argc, char** argv) {
  (void)argc;
  if (getenv("DESTROY_PURGER_CHILD") != NULL) return child_main();
  t_begin("test-destroy-purger", "MIMALLOC_DESTROY_ON_EXIT=1 while the background purger runs");
  const int runs = (int)t_scaled(RUNS, 10);
  static const char* const env[] = {"DESTROY_PURGER_CHILD=1", "MIMALLOC_DESTROY_ON_EXIT=1",
                                    "MIMALLOC_PURGE_BACKGROUND=1", "MIMALLOC_PURGE_DELAY=1",
                                    "MIMALLOC_ARENA_PURGE_MULT=1", NULL};
  int failed = 0;
  for (int r = 0; r < runs; r++) {
    if (!t_run_self(argv, env, 30, r)) failed++;
  }
  t_section("%d of %d processes failed", failed, runs);
  CHECK(failed == 0, "every process exited cleanly");
  return t_end();
}
