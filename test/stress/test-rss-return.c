/* test-rss-return [--collect | --no-purge]: memory of exited threads goes back to the OS.
   4 threads allocate 1 GiB in all (mixed sizes, 16 B .. 1 MiB, every byte touched), then:
     phase 1: each thread frees its own blocks and exits;
     phase 2: each thread exits with its blocks live, and the main thread frees them all
              (remote frees into abandoned segments).
   After each phase the main thread does only light activity (a few malloc/free every 10 ms) and
   RSS must fall below 100 MiB within 2 s, without mi_collect.
   --no-purge (run with MIMALLOC_PURGE_DELAY=-1): RSS must stay above half the peak for those 2 s
              (the option really turns purging off).
   --collect: no light activity; mi_collect(true) right after the frees brings RSS below 100 MiB
              at once.
   SHARDALLOC_TEST_QUICK (debug build): 256 MiB instead of 1 GiB, same thresholds. */
#include <mimalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define THREADS   4
#define MIB       ((size_t)1 << 20)
#define LIMIT_MIB 100

typedef struct job_s {
  size_t bytes;       // to allocate
  uint64_t seed;
  bool free_own;      // phase 1: free before exiting
  void** blocks;
  size_t count;
} job_t;

static void* thread_alloc(void* arg) {
  job_t* job = (job_t*)arg;
  size_t cap = 1 << 16, total = 0;
  job->blocks = malloc(cap * sizeof(void*));
  job->count = 0;
  while (job->blocks != NULL && total < job->bytes) {
    const uint64_t r = t_rand(&job->seed);
    size_t n;
    if (r % 1000 == 0) n = t_rand_range(&job->seed, 64 * 1024, MIB);      // large
    else if (r % 10 == 0) n = t_rand_range(&job->seed, 1024, 16 * 1024);  // medium
    else n = t_rand_range(&job->seed, 16, 512);                          // small
    void* p = malloc(n);
    if (!CHECK_NOT_NULL(p, "malloc(%zu)", n)) break;
    memset(p, (int)(r & 0xff), n);
    if (job->count == cap) {
      cap *= 2;
      void** grown = realloc(job->blocks, cap * sizeof(void*));
      if (!CHECK_NOT_NULL(grown, "realloc of the block list")) break;
      job->blocks = grown;
    }
    job->blocks[job->count++] = p;
    total += n;
  }
  if (job->free_own) {
    for (size_t i = 0; i < job->count; i++) free(job->blocks[i]);
    free(job->blocks);
    job->blocks = NULL;
  }
  return NULL;
}

static size_t rss_mib(void) { return t_rss_bytes() / MIB; }

// Light activity for up to `ms`: a few small allocations every 10 ms. Returns the first RSS (MiB)
// seen below the limit, or the last one sampled.
static size_t light_activity(long ms, bool stop_below_limit, double* when) {
  size_t rss = rss_mib();
  const double start = t_now();
  for (long t = 0; t < ms; t += 10) {
    for (int i = 0; i < 8; i++) {
      void* p = malloc((size_t)(16 << (i % 4)));
      if (p != NULL) memset(p, i, 16);
      free(p);
    }
    usleep(10 * 1000);
    rss = rss_mib();
    if (stop_below_limit && rss < LIMIT_MIB) break;
  }
  *when = t_now() - start;
  return rss;
}

static void run_phase(const char* mode, bool free_own, size_t bytes) {
  t_section("phase %d: %s", free_own ? 1 : 2,
            free_own ? "threads free their own blocks and exit"
                     : "threads exit with live blocks; the main thread frees them");
  job_t jobs[THREADS];
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) {
    jobs[i] = (job_t){.bytes = bytes / THREADS, .seed = (uint64_t)(i + 1) * 7919, .free_own = free_own};
    pthread_create(&threads[i], NULL, thread_alloc, &jobs[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  size_t peak = rss_mib();
  if (!free_own) {
    for (int i = 0; i < THREADS; i++) {
      for (size_t k = 0; k < jobs[i].count; k++) free(jobs[i].blocks[k]);
      free(jobs[i].blocks);
    }
  }
  printf("    after the burst: RSS %zu MiB (peak of the phase ~%zu MiB)\n", rss_mib(), peak);
  if (strcmp(mode, "--collect") == 0) {
    const double start = t_now();
    mi_collect(true);
    const size_t rss = rss_mib();
    printf("    mi_collect(true): RSS %zu MiB after %.3f s\n", rss, t_now() - start);
    CHECK(rss < LIMIT_MIB, "RSS %zu MiB after mi_collect(true), want < %d", rss, LIMIT_MIB);
  } else if (strcmp(mode, "--no-purge") == 0) {
    double when;
    const size_t rss = light_activity(2000, false, &when);
    printf("    MIMALLOC_PURGE_DELAY=-1: RSS %zu MiB after %.2f s of light activity\n", rss, when);
    CHECK(rss > bytes / MIB / 2, "RSS fell to %zu MiB although purging is off", rss);
    mi_collect(true);  // returns what it can even then (the next phase starts low)
  } else {
    double when;
    const size_t rss = light_activity(2000, true, &when);
    printf("    RSS %zu MiB after %.2f s of light activity\n", rss, when);
    CHECK(rss < LIMIT_MIB, "RSS %zu MiB after 2 s of light activity, want < %d", rss, LIMIT_MIB);
  }
}

int main(int argc, char** argv) {
  const char* mode = (argc > 1 ? argv[1] : "");
  t_begin("test-rss-return", "memory of exited threads goes back to the OS");
  const size_t bytes = t_scaled(1024, 256) * MIB;
  if (strcmp(mode, "--no-purge") == 0) {
    const char* delay = getenv("MIMALLOC_PURGE_DELAY");
    if (!CHECK(delay != NULL && strcmp(delay, "-1") == 0, "--no-purge needs MIMALLOC_PURGE_DELAY=-1"))
      return t_end();
    run_phase(mode, true, bytes);
  } else {
    run_phase(mode, true, bytes);
    run_phase(mode, false, bytes);
  }
  return t_end();
}
