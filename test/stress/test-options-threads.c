/* test-options-threads: options set while other threads read them and allocate (the Rust crate's
   options::set may run on any thread at any time). Setter threads switch purge_delay and
   generic_collect between two values each, which the allocation paths read; a thread keeps
   calling mi_option_set_default on an option that was set explicitly (the explicit value must
   stay) and on one that was not (its default must follow); reader threads read every option and
   allocate and free meanwhile. Every value read must be one that some thread stored: a torn or
   lost value fails. Under ThreadSanitizer (label tsan) a plain, non-atomic option store fails. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define READERS 3
#define SETTERS 2

static atomic_bool stop;
static atomic_ullong bad_reads, reads;
static long rate_before, max_errors_before;  // read before the threads start

static bool is_one_of(long v, long a, long b) { return v == a || v == b; }

static void* setter(void* arg) {
  const long k = (long)(uintptr_t)arg;
  for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
    mi_option_set(mi_option_purge_delay, (i + (unsigned long)k) % 2 == 0 ? 10 : 250);
    mi_option_set(mi_option_generic_collect, (i % 2 == 0 ? 1000 : 5000));
  }
  return NULL;
}

static void* defaulter(void* arg) {
  (void)arg;
  for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
    mi_option_set_default(mi_option_guarded_sample_seed, (i % 2 == 0 ? 11 : 12));  // set: stays 5
    mi_option_set_default(mi_option_guarded_sample_rate, (i % 2 == 0 ? 21 : 22));  // not set
  }
  return NULL;
}

static void* reader(void* arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg + 1;
  unsigned long long bad = 0, n = 0;
  void* blocks[64] = {NULL};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    bad += !is_one_of(mi_option_get(mi_option_purge_delay), 10, 250);
    bad += !is_one_of(mi_option_get(mi_option_generic_collect), 1000, 5000);
    bad += (mi_option_get(mi_option_guarded_sample_seed) != 5);
    const long rate = mi_option_get(mi_option_guarded_sample_rate);
    bad += !is_one_of(rate, 21, 22) && rate != rate_before;
    bad += (mi_option_get(mi_option_max_errors) != max_errors_before);  // nobody sets it
    n += 5;
    // the allocation and purge paths read purge_delay and generic_collect meanwhile
    const size_t i = t_rand(&rng) % 64;
    mi_free(blocks[i]);
    blocks[i] = mi_malloc(t_rand_range(&rng, 8, 80 * 1024));
  }
  for (size_t i = 0; i < 64; i++) mi_free(blocks[i]);
  atomic_fetch_add(&bad_reads, bad);
  atomic_fetch_add(&reads, n);
  return NULL;
}

int main(void) {
  t_begin("test-options-threads", "options set, set by default and read by concurrent threads");
  rate_before = mi_option_get(mi_option_guarded_sample_rate);
  max_errors_before = mi_option_get(mi_option_max_errors);
  mi_option_set(mi_option_purge_delay, 10);
  mi_option_set(mi_option_generic_collect, 1000);
  mi_option_set(mi_option_guarded_sample_seed, 5);

  t_section("%d setters, 1 default setter, %d readers that allocate, for %s", SETTERS, READERS,
            t_quick() ? "0.2 s" : "1 s");
  pthread_t threads[READERS + SETTERS + 1];
  int n = 0;
  for (int k = 0; k < SETTERS; k++) {
    pthread_create(&threads[n++], NULL, &setter, (void*)(uintptr_t)k);
  }
  pthread_create(&threads[n++], NULL, &defaulter, NULL);
  for (int k = 0; k < READERS; k++) {
    pthread_create(&threads[n++], NULL, &reader, (void*)(uintptr_t)k);
  }
  struct timespec ts = {t_quick() ? 0 : 1, t_quick() ? 200 * 1000 * 1000 : 0};
  nanosleep(&ts, NULL);
  atomic_store(&stop, true);
  for (int k = 0; k < n; k++) pthread_join(threads[k], NULL);

  CHECK(atomic_load(&reads) > 0, "the readers read nothing");
  CHECK(atomic_load(&bad_reads) == 0, "%llu of %llu reads gave a value nobody stored",
        atomic_load(&bad_reads), atomic_load(&reads));
  printf("  %llu reads\n", atomic_load(&reads));

  t_section("after the threads: the last store of each kind holds");
  mi_option_set(mi_option_purge_delay, 77);
  CHECK_EQ(mi_option_get(mi_option_purge_delay), 77);
  mi_option_set_default(mi_option_guarded_sample_seed, 13);
  CHECK_EQ(mi_option_get(mi_option_guarded_sample_seed), 5);  // the explicit set still wins
  if (getenv("MIMALLOC_GUARDED_SAMPLE_RATE") == NULL) {  // else the environment's value holds
    mi_option_set_default(mi_option_guarded_sample_rate, 23);
    CHECK_EQ(mi_option_get(mi_option_guarded_sample_rate), 23);
  }
  mi_option_set(mi_option_purge_delay, 10);
  return t_end();
}
