/* test-fork: fork() while other threads allocate. In the parent, 4 worker threads allocate and
   free without pause (16 B .. 256 KiB, rarely 1 MiB, 33..40 MiB huge blocks and blocks aligned to
   64 KiB .. 8 MiB), exchanging blocks through a table of atomic slots, and a churner thread keeps
   starting short-lived threads that put blocks into the slots and exit (so threads abandon their
   segments and others adopt them: the global allocator locks are taken all the time). Meanwhile
   the main thread, which keeps blocks of its own, forks 100 times (20 in quick mode). Each child:
     - takes 16 blocks out of the slots (allocated by threads that do not exist in the child) and
       frees some of the main thread's blocks, verifying each;
     - allocates new blocks (one huge, one aligned to 4 MiB) and checks them;
     - starts a thread that allocates and frees, and also frees blocks the child's main thread
       allocated; joins it;
     - calls mi_collect(true) (which adopts the memory of the vanished threads), then verifies and
       frees every block left in the slots and all of its own, and allocates once more;
     - exits with _exit(0) only if every check passed.
   The parent waits for each child for at most 10 s (a child that hangs, e.g. on an allocator lock
   that another thread held at the moment of the fork, is killed and counted as a failure). The
   parent's RSS may not grow by more than 512 MiB meanwhile (forking stops there and the test
   fails). At the end the threads stop and everything left is verified and freed.

   Every block carries its size, an address tag and its usable size in a 16-byte header (the
   usable size of a live block must not change) and a pattern after it (the whole block up to
   64 KiB; beyond, the first and last 4 KiB). */
#include <mimalloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WORKERS      4
#define SLOTS        1024
#define MAIN_BLOCKS  64
#define CHILD_BLOCKS 200
#define CHILD_WAIT_S 10.0
#define MAX_SIZE     (40 * T_MiB)
#define RSS_RUNAWAY  (512 * T_MiB)  // the parent's own growth that stops the test

static _Atomic(void*) slots[SLOTS];
static atomic_bool stop;
static atomic_ullong worker_ops, churn_threads;
static void* main_blocks[MAIN_BLOCKS];

static uint64_t tag_of(const void* p) { return t_mix64(t_addr(p)) >> 32; }
static uint64_t seed_of(const void* p, size_t size) { return t_mix64(t_addr(p) * 3 + size); }

static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 10000;
  if (r < 2) return t_rand_range(rng, 33 * T_MiB, MAX_SIZE);  // huge: a segment of its own
  if (r < 20) return T_MiB + t_rand_range(rng, 0, 4096);
  if (r < 1000) return t_rand_range(rng, 4097, 256 * T_KiB);
  return t_rand_range(rng, 16, 4096);
}

/* Header: word 0 the address tag and the size, word 1 mi_usable_size at allocation (a live
   block's usable size never changes, fork or not). Pattern after it: the whole block up to
   64 KiB; beyond, the first and last 4 KiB. */
#define HEADER 16
static size_t pattern_len(size_t size) {
  return size - HEADER <= 64 * T_KiB ? size - HEADER : 4 * T_KiB;
}

static void fill(void* p, size_t size) {
  uint64_t h[2] = {(tag_of(p) << 32) | size, mi_usable_size(p)};
  memcpy(t_launder(p), h, sizeof h);
  t_fill((char*)p + HEADER, pattern_len(size), seed_of(p, size));
  if (size - HEADER > 64 * T_KiB) t_fill((char*)p + size - 4 * T_KiB, 4 * T_KiB, ~seed_of(p, size));
}

static bool verify(void* p, const char* where) {
  uint64_t h[2];
  memcpy(h, t_launder(p), sizeof h);
  size_t size = (size_t)(h[0] & 0xFFFFFFFFu);
  if (!CHECK((h[0] >> 32) == tag_of(p) && size >= HEADER && size <= MAX_SIZE,
             "%s: header of %p damaged: 0x%016jx", where, t_launder(p), (uintmax_t)h[0]))
    return false;
  size_t usable = mi_usable_size(p);
  CHECK(usable >= size && usable == h[1],
        "%s: mi_usable_size(%p) = %zu, was %ju when allocated (%zu bytes requested)", where,
        t_launder(p), usable, (uintmax_t)h[1], size);
  size_t bad = t_check_fill((char*)p + HEADER, pattern_len(size), seed_of(p, size));
  if (bad == SIZE_MAX && size - HEADER > 64 * T_KiB) {
    size_t tail = t_check_fill((char*)p + size - 4 * T_KiB, 4 * T_KiB, ~seed_of(p, size));
    if (tail != SIZE_MAX) bad = size - 4 * T_KiB - HEADER + tail;
  }
  return CHECK(bad == SIZE_MAX, "%s: block %p of %zu bytes damaged at byte %zu", where,
               t_launder(p), size, bad == SIZE_MAX ? 0 : bad + HEADER);
}

static void verify_and_free(void* p, const char* where) {
  if (p != NULL && verify(p, where)) mi_free(p);
}

static void* new_block(uint64_t* rng) {
  size_t size = random_size(rng);
  void* p = mi_malloc(size);
  if (CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", size)) fill(p, size);
  return p;
}

static void* new_aligned_block(size_t size, size_t alignment) {
  void* p = mi_malloc_aligned(size, alignment);
  if (!CHECK_NOT_NULL(p, "mi_malloc_aligned(%zu, %zu) failed", size, alignment)) return NULL;
  CHECK_ALIGNED(p, alignment);
  fill(p, size);
  return p;
}

/* ---- In the parent ---- */
static void* worker(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  void* local[16] = {NULL};
  unsigned long long ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    void* p;
    if (t_rand(&rng) % 500 == 0)
      p = new_aligned_block(t_rand_range(&rng, 16, 256 * T_KiB),
                            (size_t)64 * T_KiB << (t_rand(&rng) % 8));  // 64 KiB .. 8 MiB
    else
      p = new_block(&rng);
    if (p == NULL) break;
    if (t_rand(&rng) % 4 == 0) {  // kept a while by this thread, freed locally
      size_t k = (size_t)(t_rand(&rng) % 16);
      verify_and_free(local[k], "worker's own block");
      local[k] = p;
    } else {  // exchanged with the other threads (and the children)
      verify_and_free(atomic_exchange(&slots[t_rand(&rng) % SLOTS], p), "slot (worker)");
    }
    ops++;
  }
  for (size_t k = 0; k < 16; k++) verify_and_free(local[k], "worker's own block at exit");
  atomic_fetch_add(&worker_ops, ops);
  return NULL;
}

/* A short-lived thread: puts 4 blocks into the slots, frees the rest, exits with live blocks. */
static void* short_lived(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg ^ 0xC0FFEE);
  void* p[20];
  for (int i = 0; i < 20; i++) p[i] = new_block(&rng);
  for (int i = 0; i < 20; i++) {
    if (p[i] == NULL) continue;
    if (i % 5 == 0)
      verify_and_free(atomic_exchange(&slots[t_rand(&rng) % SLOTS], p[i]), "slot (short-lived)");
    else
      verify_and_free(p[i], "short-lived thread's block");
  }
  return NULL;
}

static void* churner(void* arg) {
  (void)arg;
  uintptr_t n = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    pthread_t th;
    if (!CHECK(pthread_create(&th, NULL, short_lived, (void*)++n) == 0, "pthread_create failed"))
      break;
    pthread_join(th, NULL);
  }
  atomic_store(&churn_threads, n);
  return NULL;
}

/* ---- In the child ---- */
static void* child_blocks[CHILD_BLOCKS];

static void* child_thread(void* arg) {
  uint64_t rng = t_mix64((uint64_t)(uintptr_t)arg);
  void* mine[64] = {NULL};
  for (int i = 0; i < 2000; i++) {
    size_t k = (size_t)(t_rand(&rng) % 64);
    verify_and_free(mine[k], "child thread's block");
    mine[k] = new_block(&rng);
  }
  // Remote frees of blocks the child's main thread allocated, then leave some of ours behind.
  for (size_t i = 0; i < CHILD_BLOCKS; i += 2) {
    verify_and_free(child_blocks[i], "child main's block freed by the child thread");
    child_blocks[i] = NULL;
  }
  for (size_t k = 0; k < 32; k++) {
    verify_and_free(mine[k], "child thread's block");
    mine[k] = NULL;
  }
  for (size_t k = 32; k < 64; k++) child_blocks[k * 2] = mine[k];  // even indices were emptied
  return NULL;
}

static void child(int n) {
  unsigned long long failed_before = atomic_load(&t_failed);
  uint64_t rng = t_mix64(0xF0F0 + (uint64_t)n);
  // Blocks of threads that do not exist here (remote frees into pages whose owner vanished).
  int taken = 0;
  for (size_t j = 0; j < SLOTS && taken < 16; j++) {
    void* p = atomic_exchange(&slots[((size_t)n * 37 + j) % SLOTS], NULL);
    if (p != NULL) verify_and_free(p, "vanished thread's block freed in the child"), taken++;
  }
  CHECK(taken > 0, "the slots were empty in the child");
  for (size_t i = 0; i < MAIN_BLOCKS; i += 8) {
    verify_and_free(main_blocks[i], "parent main's block freed in the child");
    main_blocks[i] = NULL;
  }
  for (size_t i = 0; i < CHILD_BLOCKS; i++) child_blocks[i] = new_block(&rng);
  mi_free(child_blocks[1]);
  child_blocks[1] = new_aligned_block(100 * T_KiB, 4 * T_MiB);
  mi_free(child_blocks[3]);
  child_blocks[3] = mi_malloc(34 * T_MiB);
  if (CHECK_NOT_NULL(child_blocks[3], "mi_malloc(34 MiB) failed in the child"))
    fill(child_blocks[3], 34 * T_MiB);
  for (size_t i = 0; i < CHILD_BLOCKS; i++)
    if (child_blocks[i] != NULL) verify(child_blocks[i], "child's new block");

  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, child_thread, (void*)(uintptr_t)(n + 1)) == 0,
            "pthread_create in the child failed"))
    pthread_join(th, NULL);

  // Adopt whatever the vanished threads left; their live blocks must come through untouched.
  mi_collect(true);
  for (size_t s = 0; s < SLOTS; s++)
    verify_and_free(atomic_exchange(&slots[s], NULL), "slot after mi_collect in the child");
  for (size_t i = 0; i < MAIN_BLOCKS; i++) verify_and_free(main_blocks[i], "main block in child");
  for (size_t i = 0; i < CHILD_BLOCKS; i++) verify_and_free(child_blocks[i], "child's last frees");
  for (size_t i = 0; i < CHILD_BLOCKS; i++) child_blocks[i] = new_block(&rng);
  for (size_t i = 0; i < CHILD_BLOCKS; i++) verify_and_free(child_blocks[i], "child's last frees");
  _exit(atomic_load(&t_failed) == failed_before ? 0 : 1);
}


int main(void) {
  t_begin("test-fork", "fork() while threads allocate, free, exchange blocks and exit");
  int forks = (int)t_scaled(100, 20);
  t_section(
      "%d forks while %d workers and a thread churner run; each child frees blocks of "
      "vanished threads, allocates, runs a thread, adopts with mi_collect(true), exits",
      forks, WORKERS);
  uint64_t rng = 12345;
  for (size_t i = 0; i < MAIN_BLOCKS; i++) main_blocks[i] = new_block(&rng);

  pthread_t th[WORKERS + 1];
  for (int i = 0; i <= WORKERS; i++)
    if (!CHECK(pthread_create(&th[i], NULL, i < WORKERS ? worker : churner,
                              (void*)(uintptr_t)(i + 1)) == 0,
               "pthread_create failed"))
      return t_end();
  // Let the slots fill before the first fork.
  for (double until = t_now() + 5; atomic_load(&slots[SLOTS / 2]) == NULL && t_now() < until;)
    sched_yield();

  double child_time = 0;
  size_t rss_start = t_rss_bytes();
  int forked = 0;
  for (int n = 0; n < forks; n++) {
    // The main thread keeps allocating between forks too.
    size_t k = (size_t)(t_rand(&rng) % MAIN_BLOCKS);
    verify_and_free(main_blocks[k], "parent main's block");
    main_blocks[k] = new_block(&rng);
    fflush(stdout);
    fflush(stderr);
    double t0 = t_now();
    pid_t pid = fork();
    if (pid == 0) child(n);
    if (!CHECK(pid > 0, "fork %d failed: %s", n, strerror(errno))) break;
    t_wait_child(pid, CHILD_WAIT_S, "child", n);
    child_time += t_now() - t0;
    forked++;
    size_t rss = t_rss_bytes();
    if ((n + 1) % (forks / 4) == 0)
      t_section("%d children done; parent RSS %.1f MiB", n + 1, (double)rss / (double)T_MiB);
    // A parent that keeps growing makes every fork slower and can exhaust the machine.
    if (!T_UNDER_TSAN &&
        !CHECK(rss <= rss_start + RSS_RUNAWAY,
               "parent RSS grew from %.1f to %.1f MiB during %d forks: runaway growth "
               "(not fork-specific: the workload grows the same without forking), forking "
               "stopped",
               (double)rss_start / (double)T_MiB, (double)rss / (double)T_MiB, n + 1))
      break;
  }
  atomic_store(&stop, true);
  for (int i = 0; i <= WORKERS; i++) pthread_join(th[i], NULL);
  t_section(
      "workers did %llu allocations, the churner ran %llu threads; a child took %.1f ms "
      "on average (fork to exit)",
      atomic_load(&worker_ops), atomic_load(&churn_threads), child_time / forks * 1e3);

  t_section("main thread verifies and frees what is left");
  for (size_t s = 0; s < SLOTS; s++)
    verify_and_free(atomic_exchange(&slots[s], NULL), "slot at exit");
  for (size_t i = 0; i < MAIN_BLOCKS; i++) verify_and_free(main_blocks[i], "main block at exit");
  mi_collect(true);
  return t_end();
}
