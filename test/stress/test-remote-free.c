/* test-remote-free: every free is a remote free.
   Phase 1 (streaming): P producer threads allocate blocks of random sizes, fill them with a
   pattern derived from address and size, and push them through a bounded lock-protected queue to
   C consumer threads, which verify and free them. Producers finish and exit while their blocks are
   still queued, so part of the frees land after the owning thread is gone.
   Phase 2 (orphans): threads allocate a batch each into a shared array and exit; only then do
   other threads start, verify and free everything.
   Counts (blocks and bytes) produced and consumed must match, and no pattern may be damaged. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

typedef struct {
  void* p;
  size_t size;
} block_t;

#define QCAP 2048
static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  block_t items[QCAP];
  size_t head, count;
  int producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER,
       PTHREAD_COND_INITIALIZER,
       PTHREAD_COND_INITIALIZER,
       {{0, 0}},
       0,
       0,
       0};

static atomic_ullong produced, consumed, bytes_produced, bytes_consumed;
static size_t blocks_per_producer;

static uint64_t seed_of(const void* p, size_t size) { return t_mix64(t_addr(p) * 31 + size); }

static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 1000;
  if (r < 3) return T_MiB;                                  // 0.3%: 1 MiB
  if (r < 100) return t_rand_range(rng, 1025, 64 * T_KiB);  // ~10%: medium
  return t_rand_range(rng, 8, 1024);                        // ~90%: small
}

static block_t make_block(uint64_t* rng) {
  size_t size = random_size(rng);
  void* p = mi_malloc(size);
  if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", size)) return (block_t){NULL, 0};
  t_fill(p, size, seed_of(p, size));
  atomic_fetch_add_explicit(&produced, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bytes_produced, size, memory_order_relaxed);
  return (block_t){p, size};
}

static void consume_block(block_t b) {
  size_t bad = t_check_fill(b.p, b.size, seed_of(b.p, b.size));
  CHECK(bad == SIZE_MAX, "block %p of %zu bytes corrupted at byte %zu before its remote free", b.p,
        b.size, bad);
  mi_free(b.p);
  atomic_fetch_add_explicit(&consumed, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bytes_consumed, b.size, memory_order_relaxed);
}

static void* producer(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  for (size_t i = 0; i < blocks_per_producer; i++) {
    block_t b = make_block(&rng);
    if (b.p == NULL) break;
    pthread_mutex_lock(&q.lock);
    while (q.count == QCAP) pthread_cond_wait(&q.not_full, &q.lock);
    q.items[(q.head + q.count) % QCAP] = b;
    q.count++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
  }
  pthread_mutex_lock(&q.lock);
  q.producers_left--;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
  return NULL;  // exits while many of its blocks are still queued
}

static void* consumer(void* arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&q.lock);
    while (q.count == 0 && q.producers_left > 0) pthread_cond_wait(&q.not_empty, &q.lock);
    if (q.count == 0) {
      pthread_mutex_unlock(&q.lock);
      return NULL;
    }
    block_t b = q.items[q.head];
    q.head = (q.head + 1) % QCAP;
    q.count--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    consume_block(b);
  }
}

/* Phase 2: orphaned batches. */
#define ORPHAN_THREADS 4
static block_t* orphans[ORPHAN_THREADS];
static size_t orphans_per_thread;

static void* orphan_maker(void* arg) {
  size_t t = (size_t)(uintptr_t)arg;
  uint64_t rng = t_mix64(1000 + t);
  for (size_t i = 0; i < orphans_per_thread; i++) orphans[t][i] = make_block(&rng);
  return NULL;
}

static void* orphan_freer(void* arg) {
  size_t t = (size_t)(uintptr_t)arg;
  // Free another thread's batch, from the back, so frees hit pages in a different order.
  block_t* batch = orphans[(t + 1) % ORPHAN_THREADS];
  for (size_t i = orphans_per_thread; i-- > 0;)
    if (batch[i].p != NULL) consume_block(batch[i]);
  return NULL;
}

static bool run_threads(int n, void* (*fn)(void*)) {
  pthread_t th[16];
  for (int i = 0; i < n; i++)
    if (!CHECK(pthread_create(&th[i], NULL, fn, (void*)(uintptr_t)i) == 0, "pthread_create failed"))
      return false;
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  return true;
}

int main(void) {
  t_begin("test-remote-free",
          "producer/consumer: all frees remote, many after the producer exited");
  int producers = (int)t_scaled(4, 2), consumers = (int)t_scaled(4, 2);
  blocks_per_producer = t_scaled(100000, 10000);

  t_section("phase 1: %d producers x %zu blocks -> bounded queue -> %d consumers", producers,
            blocks_per_producer, consumers);
  q.producers_left = producers;
  pthread_t pt[16], ct[16];
  for (int i = 0; i < consumers; i++)
    if (!CHECK(pthread_create(&ct[i], NULL, consumer, NULL) == 0, "pthread_create failed"))
      return t_end();
  for (int i = 0; i < producers; i++)
    if (!CHECK(pthread_create(&pt[i], NULL, producer, (void*)(uintptr_t)(i + 1)) == 0,
               "pthread_create failed"))
      return t_end();
  for (int i = 0; i < producers; i++) pthread_join(pt[i], NULL);
  for (int i = 0; i < consumers; i++) pthread_join(ct[i], NULL);
  CHECK_EQ(atomic_load(&consumed), atomic_load(&produced));
  CHECK_EQ(atomic_load(&bytes_consumed), atomic_load(&bytes_produced));
  CHECK_EQ(atomic_load(&produced), (unsigned long long)producers * blocks_per_producer);

  orphans_per_thread = t_scaled(8000, 2000);
  t_section("phase 2: %d threads allocate %zu blocks each and exit; %d other threads free them",
            ORPHAN_THREADS, orphans_per_thread, ORPHAN_THREADS);
  for (int i = 0; i < ORPHAN_THREADS; i++) {
    orphans[i] = calloc(orphans_per_thread, sizeof(block_t));  // bookkeeping, deliberately not mi_
    if (!CHECK_NOT_NULL(orphans[i], "calloc failed")) return t_end();
  }
  if (!run_threads(ORPHAN_THREADS, orphan_maker)) return t_end();
  if (!run_threads(ORPHAN_THREADS, orphan_freer)) return t_end();
  for (int i = 0; i < ORPHAN_THREADS; i++) free(orphans[i]);

  unsigned long long p = atomic_load(&produced), c = atomic_load(&consumed);
  t_section("%llu blocks (%.1f MiB) produced, %llu (%.1f MiB) consumed", p,
            (double)atomic_load(&bytes_produced) / (double)T_MiB, c,
            (double)atomic_load(&bytes_consumed) / (double)T_MiB);
  CHECK(p == c, "produced %llu != consumed %llu", p, c);
  CHECK_EQ(atomic_load(&bytes_consumed), atomic_load(&bytes_produced));
  mi_collect(true);
  return t_end();
}
