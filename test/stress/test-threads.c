/* test-threads: blocks travel between threads. In each round N threads (8; 4 in quick mode)
   allocate blocks of random sizes (8 B .. 64 KiB, rarely 1 MiB), fill them with a pattern derived
   from the block's address and size, and swap them into a shared slot table; whatever a thread
   takes out of a slot it verifies and then frees (a remote free when another thread allocated it),
   or reallocs and puts back. Each thread also keeps a local window of blocks it frees itself.
   Threads exit at the end of each round with blocks still live, in the slot table and in their
   left-behind windows; the next round's threads free those after the owner is gone. At the end
   the main thread drains everything, and the number of blocks allocated must equal the number
   freed, with every pattern intact. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define SLOTS 4096
#define LOCKS 64
#define WINDOW 64
#define MAX_THREADS 8

typedef struct {
  void* p;
  size_t size;
} block_t;

static block_t slots[SLOTS];
static pthread_mutex_t locks[LOCKS];
static block_t left_behind[MAX_THREADS][WINDOW];  // windows of threads that exited

static atomic_ullong allocated, freed, remote_taken, reallocated, bytes_verified;
static size_t ops_per_thread;

static uint64_t seed_of(const void* p, size_t size) {
  return t_mix64(t_addr(p) ^ (size * 0x100000001B3ull));
}

static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 1000;
  if (r < 2) return T_MiB + t_rand_range(rng, 0, 4096);    // 0.2%: around 1 MiB
  if (r < 80) return t_rand_range(rng, 4097, 64 * T_KiB);  // 7.8%: medium
  if (r < 300) return t_rand_range(rng, 257, 4096);        // 22%
  return t_rand_range(rng, 8, 256);                        // 70%: small
}

static block_t new_block(uint64_t* rng) {
  size_t size = random_size(rng);
  void* p = mi_malloc(size);
  if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed in a thread", size)) return (block_t){NULL, 0};
  atomic_fetch_add_explicit(&allocated, 1, memory_order_relaxed);
  t_fill(p, size, seed_of(p, size));
  return (block_t){p, size};
}

static void verify_block(block_t b, const char* where) {
  size_t bad = t_check_fill(b.p, b.size, seed_of(b.p, b.size));
  CHECK(bad == SIZE_MAX, "%s: block %p of %zu bytes corrupted at byte %zu", where, b.p, b.size,
        bad);
  atomic_fetch_add_explicit(&bytes_verified, b.size, memory_order_relaxed);
}

static void free_block(block_t b, const char* where) {
  if (b.p == NULL) return;
  verify_block(b, where);
  mi_free(b.p);
  atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

typedef struct {
  int index;
  int round;
} thread_arg_t;

static void* worker(void* arg) {
  thread_arg_t* a = arg;
  uint64_t rng = t_mix64((uint64_t)a->round * 1000 + (uint64_t)a->index);
  block_t window[WINDOW];
  memset(window, 0, sizeof window);

  // First free what this slot's previous owner left behind when it exited.
  for (int i = 0; i < WINDOW; i++) {
    free_block(left_behind[a->index][i], "left behind by an exited thread");
    left_behind[a->index][i] = (block_t){NULL, 0};
  }

  for (size_t op = 0; op < ops_per_thread; op++) {
    block_t b = new_block(&rng);
    if (b.p == NULL) break;
    if (t_rand(&rng) % 3 == 0) {
      // Keep it locally for a while; free the one it replaces ourselves (a local free).
      size_t w = (size_t)(t_rand(&rng) % WINDOW);
      free_block(window[w], "local window");
      window[w] = b;
      continue;
    }
    size_t s = (size_t)(t_rand(&rng) % SLOTS);
    pthread_mutex_t* lock = &locks[s % LOCKS];
    pthread_mutex_lock(lock);
    block_t old = slots[s];
    slots[s] = b;
    pthread_mutex_unlock(lock);
    if (old.p == NULL) continue;
    atomic_fetch_add_explicit(&remote_taken, 1, memory_order_relaxed);
    if (t_rand(&rng) % 8 == 0) {
      // Resize a block that another (perhaps exited) thread allocated, then hand it on again.
      verify_block(old, "before realloc");
      size_t nsize = (t_rand(&rng) & 1) ? old.size * 2 + 1 : old.size / 2 + 1;
      void* q = mi_realloc(old.p, nsize);
      if (!CHECK_NOT_NULL(q, "mi_realloc(%zu -> %zu) failed", old.size, nsize)) continue;
      size_t keep = old.size < nsize ? old.size : nsize;
      size_t bad = t_check_fill(q, keep, seed_of(old.p, old.size));
      CHECK(bad == SIZE_MAX, "realloc %zu -> %zu lost content at byte %zu", old.size, nsize, bad);
      atomic_fetch_add_explicit(&reallocated, 1, memory_order_relaxed);
      block_t nb = {q, nsize};
      t_fill(q, nsize, seed_of(q, nsize));
      pthread_mutex_lock(lock);
      block_t other = slots[s];
      slots[s] = nb;
      pthread_mutex_unlock(lock);
      free_block(other, "slot (after realloc)");
    } else {
      free_block(old, "slot");
    }
  }

  // Exit with the window still live: the next round's thread with this index frees it.
  memcpy(left_behind[a->index], window, sizeof window);
  return NULL;
}

int main(void) {
  t_begin("test-threads",
          "blocks passed between threads, verified and freed remotely, across thread exits");
  int nthreads = (int)t_scaled(8, 4);
  int rounds = (int)t_scaled(8, 4);
  ops_per_thread = t_scaled(30000, 4000);
  for (int i = 0; i < LOCKS; i++) pthread_mutex_init(&locks[i], NULL);

  t_section("%d rounds x %d threads x %zu operations; sizes 8 B .. 64 KiB, 0.2%% ~1 MiB", rounds,
            nthreads, ops_per_thread);
  for (int r = 0; r < rounds; r++) {
    pthread_t th[MAX_THREADS];
    thread_arg_t args[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
      args[i] = (thread_arg_t){i, r};
      if (!CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0, "pthread_create failed"))
        return t_end();
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    t_section("round %d done: %llu allocated, %llu freed, %llu live", r, atomic_load(&allocated),
              atomic_load(&freed), atomic_load(&allocated) - atomic_load(&freed));
  }

  t_section("main thread drains the slots and the windows of exited threads");
  for (int s = 0; s < SLOTS; s++)
    free_block(slots[s], "slot at exit"), slots[s] = (block_t){NULL, 0};
  for (int i = 0; i < MAX_THREADS; i++)
    for (int w = 0; w < WINDOW; w++) free_block(left_behind[i][w], "window at exit");

  unsigned long long a = atomic_load(&allocated), f = atomic_load(&freed);
  t_section(
      "%llu allocated, %llu freed, %llu taken from other threads, %llu reallocated, %.1f MiB "
      "verified",
      a, f, atomic_load(&remote_taken), atomic_load(&reallocated),
      (double)atomic_load(&bytes_verified) / (double)T_MiB);
  CHECK(a == f, "allocated %llu != freed %llu", a, f);
  CHECK(atomic_load(&remote_taken) > 0, "no block ever changed threads");
  mi_collect(true);
  return t_end();
}
