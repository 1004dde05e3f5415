/* test-thread-exit: blocks outlive their threads, and the memory of exited threads is reused.
   Each round starts 4 threads; each allocates a few hundred blocks (16 B .. 512 KiB, and in every
   fifth round one thread adds a huge block of 17..24 MiB), frees a third of them itself, stamps the
   rest with a pattern derived from address and size, hands them to the main thread and exits. Every
   other thread calls mi_thread_done() explicitly before returning (the exit hook then has nothing
   left to do). Only after joining does the main thread verify and free every block: each of those
   frees goes to a heap whose thread is gone.

   Checks: every block intact; the resident set size (/proc/self/statm, taken after each round)
   does not trend upwards: the median of the last quarter of the rounds is at most 16 MiB above the
   highest figure of the first quarter (a round allocates about 25 MiB, so memory of exited threads
   that is never reused shows up within a few rounds); mi_collect(true) from the main thread at the
   end does not raise it either. The RSS figures are printed. */
#include <mimalloc.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

#define THREADS       4
#define MAX_BLOCKS    512
#define WARMUP_ROUNDS 4
#define RSS_SLACK     (16 * T_MiB)

typedef struct {
  int index, round;
  size_t count;
  void* p[MAX_BLOCKS + 1];
  size_t size[MAX_BLOCKS + 1];
  bool called_thread_done;
} handoff_t;

static handoff_t handoffs[THREADS];
static atomic_ullong n_alloc, n_free_local, n_huge;

static uint64_t seed_of(const void* p, size_t size) { return t_mix64(t_addr(p) + size * 131); }


static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 100;
  if (r < 2) return t_rand_range(rng, 64 * T_KiB, 512 * T_KiB);
  if (r < 25) return t_rand_range(rng, 4 * T_KiB, 64 * T_KiB);
  return t_rand_range(rng, 16, 4 * T_KiB);
}

/* Huge blocks are stamped in their first and last 4 KiB only: touching all 24 MiB every few
   rounds would make the test about page faults. */
static void stamp(void* p, size_t size) {
  if (size <= T_MiB) {
    t_fill(p, size, seed_of(p, size));
  } else {
    t_fill(p, 4 * T_KiB, seed_of(p, size));
    t_fill((char*)p + size - 4 * T_KiB, 4 * T_KiB, ~seed_of(p, size));
  }
}

static void verify(void* p, size_t size) {
  size_t bad;
  if (size <= T_MiB) {
    bad = t_check_fill(p, size, seed_of(p, size));
  } else {
    bad = t_check_fill(p, 4 * T_KiB, seed_of(p, size));
    size_t tail = t_check_fill((char*)p + size - 4 * T_KiB, 4 * T_KiB, ~seed_of(p, size));
    if (bad == SIZE_MAX && tail != SIZE_MAX) bad = size - 4 * T_KiB + tail;
  }
  CHECK(bad == SIZE_MAX, "block %p of %zu bytes from an exited thread damaged at byte %zu",
        t_launder(p), size, bad);
}

static void* worker(void* arg) {
  handoff_t* h = arg;
  uint64_t rng = t_mix64((uint64_t)h->round * 64 + (uint64_t)h->index);
  size_t n = (size_t)t_rand_range(&rng, MAX_BLOCKS / 2, MAX_BLOCKS);
  void* tmp[MAX_BLOCKS];
  size_t tmp_size[MAX_BLOCKS];
  unsigned long long freed_here = 0;
  h->count = 0;
  for (size_t i = 0; i < n; i++) {
    size_t size = random_size(&rng);
    void* p = mi_malloc(size);
    if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed in thread %d", size, h->index)) {
      n = i;
      break;
    }
    CHECK(mi_usable_size(p) >= size, "usable size %zu < %zu", mi_usable_size(p), size);
    stamp(p, size);
    tmp[i] = p;
    tmp_size[i] = size;
  }
  for (size_t i = 0; i < n; i++) {
    if (t_rand(&rng) % 3 == 0) {  // a third freed here, so the thread exits with partly used pages
      verify(tmp[i], tmp_size[i]);
      mi_free(tmp[i]);
      freed_here++;
    } else {
      h->p[h->count] = tmp[i];
      h->size[h->count] = tmp_size[i];
      h->count++;
    }
  }
  if (h->round % 5 == 0 && h->index == 0) {
    size_t size = t_rand_range(&rng, 17 * T_MiB, 24 * T_MiB);
    void* p = mi_malloc(size);
    if (CHECK_NOT_NULL(p, "mi_malloc(%zu) (huge) failed", size)) {
      stamp(p, size);
      h->p[h->count] = p;
      h->size[h->count] = size;
      h->count++;
      atomic_fetch_add(&n_huge, 1);
    }
  }
  atomic_fetch_add(&n_alloc, n);
  atomic_fetch_add(&n_free_local, freed_here);
  h->called_thread_done = h->index % 2 == 1;
  if (h->called_thread_done) mi_thread_done();  // the exit hook must then find nothing to do
  return NULL;
}

static int cmp_size(const void* a, const void* b) {
  size_t x = *(const size_t*)a, y = *(const size_t*)b;
  return x < y ? -1 : x > y;
}

static double mib(size_t bytes) { return (double)bytes / (double)T_MiB; }

int main(void) {
  t_begin("test-thread-exit", "blocks freed by the main thread after their threads exited");
  int rounds = (int)t_scaled(160, 32), quarter = rounds / 4;
  t_section(
      "%d rounds x %d threads, up to %d blocks each (16 B .. 512 KiB), a 17..24 MiB block "
      "every 5th round; odd threads call mi_thread_done()",
      rounds, THREADS, MAX_BLOCKS);
  size_t* rss = calloc((size_t)rounds, sizeof(size_t));  // bookkeeping, not under test
  if (!CHECK_NOT_NULL(rss, "calloc failed")) return t_end();
  size_t rss_start = t_rss_bytes();
  unsigned long long handed = 0, done_calls = 0;
  for (int r = 0; r < rounds; r++) {
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
      handoffs[i].index = i;
      handoffs[i].round = r;
      if (!CHECK(pthread_create(&th[i], NULL, worker, &handoffs[i]) == 0, "pthread_create failed"))
        return t_end();
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    // Every thread of the round is gone now.
    for (int i = 0; i < THREADS; i++) {
      handoff_t* h = &handoffs[i];
      done_calls += h->called_thread_done;
      for (size_t k = 0; k < h->count; k++) {
        verify(h->p[k], h->size[k]);
        mi_free(h->p[k]);
        handed++;
      }
      h->count = 0;
    }
    rss[r] = t_rss_bytes();
    if ((r + 1) % quarter == 0 || r == WARMUP_ROUNDS - 1)
      t_section("after round %3d: RSS %.1f MiB", r + 1, mib(rss[r]));
  }
  size_t rss_end = rss[rounds - 1];
  mi_collect(true);
  size_t rss_collected = t_rss_bytes();

  unsigned long long a = atomic_load(&n_alloc), fl = atomic_load(&n_free_local);
  t_section(
      "%llu blocks allocated (+%llu huge): %llu freed by their thread, %llu by the main "
      "thread after the exit; %llu threads called mi_thread_done()",
      a, atomic_load(&n_huge), fl, handed, done_calls);
  CHECK_EQ(fl + handed, a + atomic_load(&n_huge));

  /* RSS after a round moves up and down by a few tens of MiB (which segments happen to be empty
     and returned), so single samples are not compared: the highest figure of the first quarter
     (after warm-up) against the median of the last quarter. A leak of exited threads' memory
     grows that median by a share of the ~25 MiB a round allocates, round after round. */
  size_t early_max = 0, sorted[4096];
  for (int r = WARMUP_ROUNDS; r < quarter; r++)
    if (rss[r] > early_max) early_max = rss[r];
  int nlate = quarter < 4096 ? quarter : 4096;
  memcpy(sorted, rss + rounds - nlate, (size_t)nlate * sizeof(size_t));
  qsort(sorted, (size_t)nlate, sizeof(size_t), cmp_size);
  size_t late_median = sorted[nlate / 2], rss_max = 0;
  for (int r = 0; r < rounds; r++)
    if (rss[r] > rss_max) rss_max = rss[r];
  t_section(
      "RSS: %.1f MiB at start; %.1f at most in rounds %d..%d, %.1f median of the last %d "
      "rounds (limit %.1f); %.1f at most overall, %.1f after the last round, %.1f after "
      "mi_collect(true)",
      mib(rss_start), mib(early_max), WARMUP_ROUNDS + 1, quarter, mib(late_median), nlate,
      mib(early_max + RSS_SLACK), mib(rss_max), mib(rss_end), mib(rss_collected));
  if (T_UNDER_TSAN) {
    t_section("RSS not checked under ThreadSanitizer (its shadow memory stays resident)");
  } else {
    CHECK(early_max > 0 && late_median > 0, "could not read /proc/self/statm");
    CHECK(late_median <= early_max + RSS_SLACK,
          "RSS grew from at most %.1f MiB early to a median of %.1f MiB late (limit +%zu MiB): "
          "memory of exited threads is not reused",
          mib(early_max), mib(late_median), RSS_SLACK / T_MiB);
    CHECK(rss_collected <= rss_end + T_MiB, "mi_collect(true) raised RSS from %.1f to %.1f MiB",
          mib(rss_end), mib(rss_collected));
  }
  free(rss);
  return t_end();
}
