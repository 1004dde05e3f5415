/* test-thread-churn: many short-lived threads, each allocating 20 blocks of mixed sizes
   (16 B .. 128 KiB) and leaving a few behind when it exits.
     - handoff: 100,000 threads (10,000 in quick mode), 4 at a time, free all but 2 or 3 of their
       blocks and hand those to the main thread through a mutex-protected list (the blocks
       themselves are the list nodes). The main thread frees the handed-over blocks in batches as
       it goes (every 16 threads), so most of its frees land in heaps whose thread has exited.
     - relay: 40,000 threads (5,000), one at a time, each swap 3 of their blocks into a shared
       table of 1024 atomic slots and free the 3 blocks they take out, which earlier, exited
       threads allocated; so blocks of exited threads are freed by other short-lived threads, long
       after their owner is gone, and no thread lives long. The main thread frees what is left at
       the end. (One at a time, the live set of 1024 blocks must not need more memory as threads
       come and go; mimalloc 2.0 stays within 3 MiB here.)

   Checks: every block intact when freed; all blocks accounted for; per phase, the resident set
   size (/proc/self/statm) at the end is at most 16 MiB above its figure after the first 10% of the
   threads (thread records, heaps and segments of exited threads must be reused, not accumulate).
   RSS is also watched every 256 threads: a phase that grows 256 MiB (1 GiB under TSan) past its
   early figure is stopped there and fails, so a leak fails fast instead of exhausting the machine.
   Prints the time per thread over the first and the last 10% of each phase (figures only). */
#include <mimalloc.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

#define CONCURRENT  4
#define BLOCKS      20
#define FREE_BATCH  16  // threads between two sweeps of the handed-over list by the main thread
#define RSS_SLACK   (16 * T_MiB)
#define RSS_RUNAWAY ((T_UNDER_TSAN ? 1024 : 256) * T_MiB)  // TSan: shadow memory on top
#define RSS_WATCH   256  // threads between two RSS samples of the runaway watch
#define SLOTS       1024

typedef struct handed_s {
  struct handed_s* next;
  size_t size;
} handed_t;  // header of every block (the list link when handed over); the pattern follows it

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static handed_t* list_head;
static _Atomic(handed_t*) slots[SLOTS];
static atomic_ullong n_alloc, n_free_thread, n_free_relay;

static uint64_t seed_of(const void* p, size_t size) { return t_mix64(t_addr(p) ^ (size << 40)); }


static double mib(size_t bytes) { return (double)bytes / (double)T_MiB; }

static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 100;
  if (r < 5) return t_rand_range(rng, 8 * T_KiB + 1, 128 * T_KiB);
  if (r < 30) return t_rand_range(rng, 257, 8 * T_KiB);
  return t_rand_range(rng, 16, 256);
}

static bool verify(handed_t* h, const char* where) {
  size_t bad = t_check_fill((char*)h + 16, h->size - 16, seed_of(h, h->size));
  return CHECK(bad == SIZE_MAX, "%s: block %p of %zu bytes damaged at byte %zu", where,
               t_launder(h), h->size, bad == SIZE_MAX ? 0 : bad + 16);
}

/* Allocates the thread's blocks; returns how many it got. */
static size_t allocate_blocks(uint64_t* rng, handed_t* p[BLOCKS]) {
  size_t n = 0;
  for (; n < BLOCKS; n++) {
    size_t size = random_size(rng);
    p[n] = mi_malloc(size);
    if (!CHECK_NOT_NULL(p[n], "mi_malloc(%zu) failed", size)) break;
    p[n]->next = NULL;
    p[n]->size = size;
    t_fill((char*)p[n] + 16, size - 16, seed_of(p[n], size));
  }
  atomic_fetch_add_explicit(&n_alloc, n, memory_order_relaxed);
  return n;
}

static void* handoff_thread(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  handed_t* p[BLOCKS];
  size_t n = allocate_blocks(&rng, p);
  size_t stride = t_rand(&rng) % 2 ? 7 : 10;  // hands over blocks 0, 7, 14 or 0, 10
  unsigned long long freed = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % stride == 0) {
      pthread_mutex_lock(&list_lock);
      p[i]->next = list_head;
      list_head = p[i];
      pthread_mutex_unlock(&list_lock);
    } else if (verify(p[i], "freed by its thread")) {
      mi_free(p[i]);
      freed++;
    }
  }
  atomic_fetch_add_explicit(&n_free_thread, freed, memory_order_relaxed);
  return NULL;
}

static void* relay_thread(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg ^ 0x5EED);
  handed_t* p[BLOCKS];
  size_t n = allocate_blocks(&rng, p);
  unsigned long long freed = 0, relayed = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 7 == 0) {  // blocks 0, 7, 14 stay behind; what they replace was an exited thread's
      handed_t* old = atomic_exchange(&slots[t_rand(&rng) % SLOTS], p[i]);
      if (old != NULL && verify(old, "left in a slot by an exited thread")) {
        mi_free(old);
        relayed++;
      }
    } else if (verify(p[i], "freed by its thread")) {
      mi_free(p[i]);
      freed++;
    }
  }
  atomic_fetch_add_explicit(&n_free_thread, freed, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_free_relay, relayed, memory_order_relaxed);
  return NULL;
}

/* Frees everything handed over so far; returns how many blocks. */
static unsigned long long sweep(void) {
  pthread_mutex_lock(&list_lock);
  handed_t* h = list_head;
  list_head = NULL;
  pthread_mutex_unlock(&list_lock);
  unsigned long long n = 0;
  while (h != NULL) {
    handed_t* next = h->next;
    if (verify(h, "handed to the main thread")) mi_free(h);
    h = next;
    n++;
  }
  return n;
}

static unsigned long long swept;

/* Runs n threads of fn, `concurrent` (at most CONCURRENT) at a time, sweeping the handed-over list as it goes, and
   checks the RSS bounds. Returns false when the phase had to stop early. */
static bool run_phase(const char* name, size_t n, size_t concurrent, void* (*fn)(void*)) {
  size_t tenth = n / 10, rss_early = 0, started = 0;
  double t_start = t_now(), t_first = 0, t_last_start = 0;
  bool ok = true;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * T_KiB);  // a thread here needs little stack
  pthread_t th[CONCURRENT];
  for (size_t i = 0; i < n && ok; i++) {
    if (i >= concurrent) pthread_join(th[i % concurrent], NULL);
    if (i % FREE_BATCH == 0) swept += sweep();
    if (i == tenth) {
      t_first = t_now() - t_start;
      rss_early = t_rss_bytes();
    }
    if (i == n - tenth) t_last_start = t_now();
    if (i >= tenth && i % tenth == 0)
      t_section("%s: after %zu threads: RSS %.1f MiB", name, i, mib(t_rss_bytes()));
    if (i > tenth && i % RSS_WATCH == 0) {
      size_t rss = t_rss_bytes();
      ok = CHECK(rss <= rss_early + RSS_RUNAWAY,
                 "%s: RSS %.1f MiB after %zu threads, %.1f MiB after %zu: runaway growth, phase "
                 "stopped (memory of exited threads is not reused)",
                 name, mib(rss), i, mib(rss_early), tenth);
      if (!ok) break;
    }
    int rc = pthread_create(&th[i % concurrent], &attr, fn, (void*)(uintptr_t)(i + 1));
    if (!CHECK(rc == 0, "%s: pthread_create of thread %zu failed: %s", name, i, strerror(rc))) {
      ok = false;
      break;
    }
    started = i + 1;
  }
  for (size_t k = started > concurrent ? started - concurrent : 0; k < started; k++)
    pthread_join(th[k % concurrent], NULL);
  double t_last = t_now() - t_last_start;
  swept += sweep();
  size_t rss_end = t_rss_bytes();
  pthread_attr_destroy(&attr);
  if (!ok) return false;

  t_section(
      "%s: time per thread (create, run, join): %.1f us over the first 10%%, %.1f us over "
      "the last 10%%",
      name, t_first / (double)tenth * 1e6, t_last / (double)tenth * 1e6);
  t_section("%s: RSS %.1f MiB after 10%% of the threads, %.1f MiB at the end", name, mib(rss_early),
            mib(rss_end));
  if (T_UNDER_TSAN) {
    t_section("%s: RSS not checked under ThreadSanitizer (its shadow memory stays resident)", name);
  } else {
    CHECK(rss_early > 0 && rss_end > 0, "could not read /proc/self/statm");
    CHECK(rss_end <= rss_early + RSS_SLACK,
          "%s: RSS grew from %.1f MiB to %.1f MiB (limit +%zu MiB): exited threads' memory "
          "accumulates",
          name, mib(rss_early), mib(rss_end), RSS_SLACK / T_MiB);
  }
  return true;
}

int main(void) {
  t_begin("test-thread-churn", "short-lived threads that leave blocks behind");
  size_t n_handoff = t_scaled(100000, 10000), n_relay = t_scaled(40000, 5000);

  t_section(
      "handoff: %zu threads, %d at a time, %d blocks each (16 B .. 128 KiB), 2-3 handed "
      "to the main thread",
      n_handoff, CONCURRENT, BLOCKS);
  bool ok = run_phase("handoff", n_handoff, CONCURRENT, handoff_thread);

  if (ok) {
    t_section(
        "relay: %zu threads, one at a time, %d blocks each, 3 swapped into %d slots for "
        "later threads to free",
        n_relay, BLOCKS, SLOTS);
    run_phase("relay", n_relay, 1, relay_thread);
  }
  unsigned long long left = 0;
  for (size_t s = 0; s < SLOTS; s++) {
    handed_t* h = atomic_exchange(&slots[s], NULL);
    if (h != NULL && verify(h, "left in a slot at the end")) mi_free(h), left++;
  }

  unsigned long long a = atomic_load(&n_alloc), ft = atomic_load(&n_free_thread);
  unsigned long long fr = atomic_load(&n_free_relay);
  t_section(
      "%llu blocks: %llu freed by their thread, %llu by the main thread after a handoff, "
      "%llu by a later thread, %llu at the end",
      a, ft, swept, fr, left);
  if (ok) {
    CHECK_EQ(ft + swept + fr + left, a);
    CHECK(swept >= 2 * (unsigned long long)n_handoff, "only %llu blocks handed over", swept);
    CHECK(fr > 0, "no block was freed by a thread other than its owner in the relay phase");
  }
  return t_end();
}
