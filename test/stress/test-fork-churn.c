/* test-fork-churn: fork() while 4 threads churn small blocks without pause, so that at the moment
   of a fork some thread is very likely in the middle of a page operation (threading fresh blocks
   onto a free list, popping, collecting its lists). Each child starts a new thread, which (having
   no memory of its own) adopts the memory the vanished threads left; it allocates and frees many
   blocks of the same sizes from those pages, visits its heap, and exits 0 only if every block came
   back intact. A child that aborts ("corrupted free list"), crashes or hangs is a failure.
   1,000 forks (200 in quick mode); FORK_CHURN_FORKS=N overrides. The same program runs against
   the plain and the secure library. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define WORKERS      4
#define RING         256
#define CHILD_WAIT_S 10.0

static atomic_bool stop;
static atomic_ullong worker_ops;

static size_t churn_size(uint64_t* rng) {
  const uint64_t r = t_rand(rng) % 16;
  if (r < 12) return t_rand_range(rng, 8, 128);  // the hottest small classes
  if (r < 15) return t_rand_range(rng, 129, 1024);
  return t_rand_range(rng, 1025, 16 * 1024);
}

// Each block starts with its size and a tag of its address; the rest is a pattern.
static void fill(void* p, size_t size) {
  const uint64_t h = ((t_addr(p) * 0x9E3779B97F4A7C15ull) & ~(uint64_t)0xFFFFFF) | size;
  memcpy(t_launder(p), &h, sizeof h);
  if (size > 8) t_fill((char*)p + 8, size - 8, h);
}

static bool verify(void* p, const char* where) {
  uint64_t h;
  memcpy(&h, t_launder(p), sizeof h);
  const size_t size = (size_t)(h & 0xFFFFFF);
  if (!CHECK(size >= 8 && size <= 16 * 1024 &&
                 (h & ~(uint64_t)0xFFFFFF) ==
                     ((t_addr(p) * 0x9E3779B97F4A7C15ull) & ~(uint64_t)0xFFFFFF),
             "%s: header of %p damaged", where, t_launder(p)))
    return false;
  const size_t bad = (size > 8 ? t_check_fill((char*)p + 8, size - 8, h) : SIZE_MAX);
  return CHECK(bad == SIZE_MAX, "%s: block %p of %zu bytes damaged at byte %zu", where,
               t_launder(p), size, bad == SIZE_MAX ? 0 : bad + 8);
}

static void* new_block(uint64_t* rng) {
  const size_t size = churn_size(rng);
  void* p = mi_malloc(size);
  if (CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", size)) fill(p, size);
  return p;
}

static void* worker(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  void* ring[RING] = {NULL};
  unsigned long long ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const size_t k = (size_t)(t_rand(&rng) % RING);
    if (ring[k] != NULL) {
      verify(ring[k], "worker");
      mi_free(ring[k]);
    }
    ring[k] = new_block(&rng);
    // now and then a burst that empties and refills pages (retire, fresh pages, extension)
    if ((++ops & 0xFFFF) == 0) {
      for (size_t i = 0; i < RING; i++) {
        if (ring[i] != NULL && verify(ring[i], "worker")) mi_free(ring[i]);
        ring[i] = NULL;
      }
    }
  }
  for (size_t i = 0; i < RING; i++)
    if (ring[i] != NULL && verify(ring[i], "worker at exit")) mi_free(ring[i]);
  atomic_fetch_add(&worker_ops, ops);
  return NULL;
}

/* ---- In the child ---- */
static bool count_block(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                        size_t size, void* arg) {
  (void)heap; (void)area; (void)size;
  if (block != NULL) ++*(size_t*)arg;
  return true;
}

static void* child_thread(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  enum { N = 1024 };
  static void* blocks[N];
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < N; i++) blocks[i] = new_block(&rng);
    for (size_t i = 0; i < N; i++) {
      if (blocks[i] != NULL && verify(blocks[i], "child thread")) mi_free(blocks[i]);
    }
  }
  for (size_t i = 0; i < N; i++) blocks[i] = new_block(&rng);
  mi_collect(true);  // adopts whatever is left of the vanished threads
  size_t visited = 0;
  mi_heap_visit_blocks(mi_heap_get_default(), true, &count_block, &visited);
  CHECK(visited >= N, "the child thread's heap shows %zu live blocks, it holds %d", visited, N);
  for (size_t i = 0; i < N; i++) {
    if (blocks[i] != NULL && verify(blocks[i], "child thread")) mi_free(blocks[i]);
  }
  return NULL;
}

static void child(int n) {
  const unsigned long long failed_before = atomic_load(&t_failed);
  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, child_thread, (void*)(uintptr_t)(n + 1)) == 0,
            "pthread_create in the child failed"))
    pthread_join(th, NULL);
  _exit(atomic_load(&t_failed) == failed_before ? 0 : 1);
}

int main(void) {
  t_begin("test-fork-churn", "fork() while threads churn small blocks; children adopt and use");
  int forks = (int)t_scaled(1000, 200);
  const char* env = getenv("FORK_CHURN_FORKS");
  if (env != NULL && atoi(env) > 0) forks = atoi(env);
  t_section("%d forks while %d threads churn; each child allocates from a new thread", forks,
            WORKERS);
  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    if (!CHECK(pthread_create(&th[i], NULL, worker, (void*)(uintptr_t)(i + 1)) == 0,
               "pthread_create failed"))
      return t_end();
  struct timespec warm = {0, 20000000};
  nanosleep(&warm, NULL);
  int failed = 0;
  for (int n = 0; n < forks; n++) {
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) child(n);
    if (!CHECK(pid > 0, "fork %d failed: %s", n, strerror(errno))) break;
    if (!t_wait_child(pid, CHILD_WAIT_S, "child", n)) failed++;
  }
  atomic_store(&stop, true);
  for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);
  t_section("%d of %d children failed; the workers did %llu operations", failed, forks,
            atomic_load(&worker_ops));
  return t_end();
}
