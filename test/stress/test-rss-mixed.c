/* test-rss-mixed: a long mixed workload keeps RSS near its live data. Two threads replace
   blocks at random (sizes log-uniform 16 B .. 256 KiB, one in 200 of 1-4 MiB; random lifetimes:
   a random slot is freed and refilled), while the target of live bytes swings between 16 MiB
   and 192 MiB in phases of 1 s; every block is filled and checked on free. Every 100 ms the main
   thread compares RSS with the live bytes: RSS must stay within 1.5x the largest live figure of
   the last second (memory freed since then may still wait for its purge delay) plus 96 MiB, a
   fixed allowance for the partly used pages of the ~100 size classes each thread uses (at 16 MiB
   live, shardalloc and glibc hold about 85 MiB; jemalloc 200, mimalloc and tcmalloc 450).
   10 s (SHARDALLOC_TEST_QUICK: 3 s). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MIB         ((size_t)1 << 20)
#define THREADS     2
#define SLOTS       65536
#define ALLOWANCE   (96 * MIB)
#define HISTORY     10  // samples of 100 ms: the 1 s window

static atomic_size_t live_bytes;
static atomic_size_t target_bytes;
static atomic_bool stop;
static atomic_size_t check_failures;

typedef struct slot_s {
  uint8_t* p;
  size_t n;
} slot_t;

static size_t random_size(uint64_t* seed) {
  if (t_rand(seed) % 200 == 0) return t_rand_range(seed, MIB, 4 * MIB);
  const unsigned bits = (unsigned)t_rand_range(seed, 4, 18);  // 16 B .. 256 KiB, log-uniform
  return t_rand_range(seed, (size_t)1 << (bits - 1), (size_t)1 << bits);
}

static void release(slot_t* s) {
  if (s->p == NULL) return;
  if (s->p[0] != (uint8_t)s->n || s->p[s->n - 1] != (uint8_t)(s->n >> 3)) {
    atomic_fetch_add(&check_failures, 1);
  }
  free(s->p);
  atomic_fetch_sub(&live_bytes, s->n);
  s->p = NULL;
  s->n = 0;
}

static void* worker(void* arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull;
  slot_t* slots = calloc(SLOTS, sizeof(slot_t));
  if (slots == NULL) return NULL;
  while (!atomic_load(&stop)) {
    slot_t* s = &slots[t_rand(&seed) % SLOTS];
    const size_t target = atomic_load(&target_bytes) / THREADS;
    release(s);
    if (atomic_load(&live_bytes) / THREADS < target) {  // refill only while under the target
      const size_t n = random_size(&seed);
      uint8_t* p = malloc(n);
      if (p == NULL) continue;
      memset(p, (int)(n & 0xff), n < 4096 ? n : 4096);  // touch the start, every page, the end
      for (size_t i = 4096; i < n; i += 4096) p[i] = 1;
      p[0] = (uint8_t)n;
      p[n - 1] = (uint8_t)(n >> 3);
      s->p = p;
      s->n = n;
      atomic_fetch_add(&live_bytes, n);
    }
  }
  for (size_t i = 0; i < SLOTS; i++) release(&slots[i]);
  free(slots);
  return NULL;
}

int main(void) {
  t_begin("test-rss-mixed", "RSS stays within 1.5x live bytes + 96 MiB under a mixed workload");
  const double seconds = (t_quick() ? 3.0 : 10.0);
  atomic_store(&target_bytes, 16 * MIB);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void*)(uintptr_t)(i + 1));
  size_t history[HISTORY] = {0};
  size_t samples = 0, worst_rss = 0, worst_live = 0, max_live_seen = 0;
  double worst_ratio = 0;
  const double start = t_now();
  for (double t = 0; t < seconds; t = t_now() - start) {
    // phases of 1 s: 16, 192, 64, 160, 16, 128 ... MiB of live data
    static const size_t phase_mib[] = {16, 192, 64, 160, 16, 128, 32, 192, 24, 96};
    atomic_store(&target_bytes, phase_mib[(size_t)t % 10] * MIB);
    usleep(100 * 1000);
    const size_t live = atomic_load(&live_bytes);
    history[samples % HISTORY] = live;
    samples++;
    size_t window = 0;
    for (size_t i = 0; i < HISTORY; i++) window = (history[i] > window ? history[i] : window);
    if (live > max_live_seen) max_live_seen = live;
    const size_t rss = t_rss_bytes_quiet();
    const double bound = 1.5 * (double)window + (double)ALLOWANCE;
    if ((double)rss / bound > worst_ratio) {
      worst_ratio = (double)rss / bound;
      worst_rss = rss;
      worst_live = window;
    }
    CHECK((double)rss <= bound, "at %.1f s: RSS %zu MiB > 1.5 x %zu MiB live + 96 MiB", t,
          rss / MIB, window / MIB);
  }
  atomic_store(&stop, true);
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  printf("    %zu samples over %.1f s, live up to %zu MiB; closest to the bound: RSS %zu MiB with "
         "%zu MiB live (%.0f%% of the bound)\n",
         samples, seconds, max_live_seen / MIB, worst_rss / MIB, worst_live / MIB,
         worst_ratio * 100);
  CHECK(max_live_seen >= 150 * MIB || t_quick(), "the workload reached only %zu MiB live",
        max_live_seen / MIB);
  CHECK_EQ(atomic_load(&check_failures), (size_t)0);
  return t_end();
}
