/* test-exit-alloc: allocations a thread makes after its heap was given up at thread exit must go
   where they are reclaimed. Two ways a real program does that:
   - an output callback that allocates (a syslog-style logger: it copies each message into a
     malloc'd buffer) while MIMALLOC_VERBOSE=2 prints a "thread done" line at every thread exit;
   - a pthread key destructor that allocates in every destructor round, the last one included
     (it sets its key again, so it runs PTHREAD_DESTRUCTOR_ITERATIONS times), and leaves one block
     for the main thread to free.
   200 threads each allocate, leave a few blocks to the main thread and exit. Afterwards the main
   thread frees everything and collects (adopting what exited threads left): the live segments
   must come back to a handful (before the fix: one more per exited thread). */
#include <limits.h>
#include <mimalloc.h>
#include <mimalloc-stats.h>
#include <pthread.h>

#include "testutil.h"

#define THREADS 200
#define KEPT    4

static atomic_ullong logged, logger_allocs;

static void logger(const char* msg, void* arg) {
  (void)arg;
  const size_t len = strlen(msg);
  char* copy = mi_malloc(len + 1);  // a logger that formats into a heap buffer
  if (copy != NULL) {
    memcpy(copy, msg, len + 1);
    atomic_fetch_add(&logger_allocs, 1);
    mi_free(copy);
  }
  atomic_fetch_add(&logged, 1);
}

static pthread_key_t late_key;
static _Atomic(void*) late_blocks[THREADS * PTHREAD_DESTRUCTOR_ITERATIONS];
static atomic_size_t late_count;
static atomic_ullong late_rounds;

// Runs in every destructor round: allocates, keeps the block for the main thread, sets the key
// again so the next round runs it too (up to PTHREAD_DESTRUCTOR_ITERATIONS rounds).
static void late_destructor(void* value) {
  const uintptr_t round = (uintptr_t)value;
  void* p = mi_malloc(100 + round);
  if (p != NULL) {
    memset(p, (int)round, 100 + round);
    const size_t i = atomic_fetch_add(&late_count, 1);
    if (i < THREADS * PTHREAD_DESTRUCTOR_ITERATIONS) atomic_store(&late_blocks[i], p);
    else mi_free(p);
  }
  atomic_fetch_add(&late_rounds, 1);
  pthread_setspecific(late_key, (void*)(round + 1));
}

static void* kept[THREADS][KEPT];

static void* worker(void* arg) {
  const size_t id = (size_t)(uintptr_t)arg;
  pthread_setspecific(late_key, (void*)(uintptr_t)1);
  void* local[64];
  for (size_t i = 0; i < 64; i++) local[i] = mi_malloc(16 + i * 24);
  for (size_t i = 0; i < 64; i++) {
    if (i < KEPT) kept[id][i] = local[i];  // freed by the main thread later
    else mi_free(local[i]);
  }
  return NULL;
}

static size_t segments_now(void) {
  mi_stats_t_decl(st);
  mi_stats_get(&st);
  return (size_t)st.segments.current;
}

int main(void) {
  t_begin("test-exit-alloc", "allocations after a thread gave up its heap are reclaimed");
  mi_register_output(&logger, NULL);
  mi_option_set(mi_option_verbose, 2);
  CHECK(pthread_key_create(&late_key, &late_destructor) == 0, "pthread_key_create");
  void* warm = mi_malloc(8);  // the main thread's own segment
  const size_t base = segments_now();
  t_section("%d threads exit one after another; %zu segment(s) live before", THREADS, base);
  for (size_t t = 0; t < THREADS; t++) {
    pthread_t th;
    if (!CHECK(pthread_create(&th, NULL, worker, (void*)(uintptr_t)t) == 0, "pthread_create"))
      break;
    pthread_join(th, NULL);
  }
  mi_option_set(mi_option_verbose, 0);
  mi_register_output(NULL, NULL);
  CHECK(atomic_load(&logger_allocs) >= THREADS, "the logger allocated %llu times",
        atomic_load(&logger_allocs));
  CHECK(atomic_load(&late_rounds) >= (unsigned long long)THREADS * 2,
        "late destructor rounds: %llu", atomic_load(&late_rounds));
  const size_t n = atomic_load(&late_count);
  for (size_t i = 0; i < n && i < THREADS * PTHREAD_DESTRUCTOR_ITERATIONS; i++) {
    unsigned char* p = atomic_load(&late_blocks[i]);
    const size_t size = mi_usable_size(p);
    CHECK(size >= 101 && p[0] == p[100], "a block allocated in a late destructor round (%p) "
          "is damaged", (void*)p);
    mi_free(p);
  }
  for (size_t t = 0; t < THREADS; t++)
    for (size_t i = 0; i < KEPT; i++) mi_free(kept[t][i]);
  mi_collect(true);
  const size_t after = segments_now();
  t_section("%llu lines logged, %zu blocks from late destructor rounds; %zu segment(s) live now",
            atomic_load(&logged), n, after);
  CHECK(after <= base + 2, "%zu segments live after %d thread exits and a full collect (%zu "
        "before): memory allocated during thread exit was not reclaimed", after, THREADS, base);
  mi_free(warm);
  return t_end();
}
