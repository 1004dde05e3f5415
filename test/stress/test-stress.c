/* test-stress: the classic shared-slot allocator stress. N threads (default 8, oversubscribed on
   small machines) share a table of atomic slots. Each operation picks a random slot and exchanges
   it with a freshly allocated block; the block taken out is verified and freed, usually by a thread
   other than the one that allocated it (a remote free). Sizes are mostly small (8 B .. 1 KiB),
   sometimes medium (to 64 KiB), rarely large (256 KiB .. 4 MiB). Some operations reallocate a block
   taken from a slot and put it back, some allocate and free at once (local frees). Threads are
   created afresh every round, so most blocks outlive the thread that allocated them.

   Every block carries, in its first word, its size (bits 0..31), the serial number of the thread
   that allocated it (bits 32..47) and a tag derived from its address (bits 48..63); the rest holds a
   pattern derived from address and size (blocks over 64 KiB: the first and last 64 bytes and one
   word per 4 KiB). Blocks come from mi_malloc, mi_zalloc (checked zero first) and mi_realloc
   (prefix checked), and mi_usable_size must cover the request.

   Built with -DSTRESS_PLAIN_MALLOC it calls malloc/calloc/realloc/free/malloc_usable_size instead
   (test-stress-plain, not linked with shardalloc, run preloaded; with SHARDALLOC_EXPECT=1 it fails
   unless malloc resolves to libshardalloc).

   Usage: test-stress [--threads N] [--rounds R] [--ops N]   (--ops: operations per thread per
   round; defaults 8, 10, 40000; quick mode 8, 5, 8000). */
#include <pthread.h>

#include "testutil.h"

#if defined(STRESS_PLAIN_MALLOC)
#include <malloc.h>

#include "malloc-origin.h"
#define PROGRAM          "test-stress-plain"
#define API              "malloc/calloc/realloc/free"
#define s_malloc(n)      malloc(n)
#define s_zalloc(n)      calloc(1, (n))
#define s_realloc(p, n)  realloc((p), (n))
#define s_free(p)        free(p)
#define s_usable_size(p) malloc_usable_size(p)
#else
#include <mimalloc.h>
#define PROGRAM          "test-stress"
#define API              "mi_malloc/mi_zalloc/mi_realloc/mi_free"
#define s_malloc(n)      mi_malloc(n)
#define s_zalloc(n)      mi_zalloc(n)
#define s_realloc(p, n)  mi_realloc((p), (n))
#define s_free(p)        mi_free(p)
#define s_usable_size(p) mi_usable_size(p)
#endif

#define SLOTS            4096
#define MAX_THREADS      256
#define FULL_PATTERN_MAX (64 * T_KiB)  // larger blocks get a sampled pattern
#define SAMPLE_STRIDE    4096

static _Atomic(void*) slots[SLOTS];
static size_t ops_per_thread;
static int nthreads, nrounds;

/* Totals, summed by each thread when it ends. */
static atomic_ullong n_alloc, n_free, n_free_local, n_realloc, n_zalloc, n_large;
static atomic_ullong bytes_checked;

/* ---- Block layout ---- */
static uint64_t tag_of(const void* p) { return t_mix64(t_addr(p)) >> 48; }
static uint64_t seed_of(const void* p, size_t size) {
  return t_mix64(t_addr(p) ^ ((uint64_t)size * 0x100000001B3ull));
}
static uint64_t header_of(const void* p, size_t size, unsigned owner) {
  return (tag_of(p) << 48) | ((uint64_t)(owner & 0xFFFF) << 32) | (uint64_t)size;
}

typedef enum { FILL, CHECK_PATTERN, CHECK_ZERO } pattern_op_t;

/* One stretch [off, off + len) of a block, clipped to its first `limit` bytes. */
static size_t region(unsigned char* p, size_t off, size_t len, size_t limit, uint64_t seed,
                     pattern_op_t mode) {
  if (off >= limit) return SIZE_MAX;
  if (len > limit - off) len = limit - off;
  size_t bad = SIZE_MAX;
  switch (mode) {
    case FILL:
      t_fill(p + off, len, seed + off);
      break;
    case CHECK_PATTERN:
      bad = t_check_fill(p + off, len, seed + off);
      break;
    case CHECK_ZERO:
      bad = t_find_nonzero(p + off, len);
      break;
  }
  return bad == SIZE_MAX ? SIZE_MAX : off + bad;
}

/* Applies `mode` to the pattern area of a block of `size` bytes (everything after the header for
   blocks up to 64 KiB; head, tail and one word per 4 KiB beyond), clipped to the first `limit`
   bytes (a realloc keeps only a prefix). Returns the offset of the first bad byte, or SIZE_MAX. */
static size_t pattern(void* block, size_t size, size_t limit, uint64_t seed, pattern_op_t mode) {
  unsigned char* p = t_launder(block);
  size_t start = mode == CHECK_ZERO ? 0 : 8;  // a zeroed block is checked header included
  if (size <= FULL_PATTERN_MAX) return region(p, start, size - start, limit, seed, mode);
  size_t bad = region(p, start, 64 - start, limit, seed, mode);
  for (size_t off = SAMPLE_STRIDE; bad == SIZE_MAX && off + 8 <= size - 64; off += SAMPLE_STRIDE)
    bad = region(p, off, 8, limit, seed, mode);
  if (bad == SIZE_MAX) bad = region(p, size - 64, 64, limit, seed, mode);
  return bad;
}

static size_t random_size(uint64_t* rng) {
  uint64_t r = t_rand(rng) % 10000;
  if (r < 8) return t_rand_range(rng, 256 * T_KiB, 4 * T_MiB);  // 0.08%: large
  if (r < 1000) return t_rand_range(rng, 1025, 64 * T_KiB);     // ~10%: medium
  return t_rand_range(rng, 8, 1024);                            // ~90%: small
}

typedef struct {
  unsigned serial;  // 1.. (0 is the main thread)
  uint64_t rng;
  unsigned long long allocs, frees, frees_local, reallocs, zallocs, larges, checked;
} worker_t;

static void stamp(worker_t* w, void* p, size_t size) {
  uint64_t h = header_of(p, size, w->serial);
  memcpy(t_launder(p), &h, 8);
  pattern(p, size, size, seed_of(p, size), FILL);
}

/* Checks a block's header; returns its size, or 0 when the header is damaged (the block is then
   left alone: freeing a corrupted pointer would only muddy the report). */
static size_t check_header(void* p, unsigned* owner, const char* where) {
  uint64_t h;
  memcpy(&h, t_launder(p), 8);
  size_t size = (size_t)(h & 0xFFFFFFFFu);
  if (!CHECK((h >> 48) == tag_of(p) && size >= 8 && size <= 4 * T_MiB,
             "%s: header of %p damaged: 0x%016jx", where, t_launder(p), (uintmax_t)h))
    return 0;
  *owner = (unsigned)((h >> 32) & 0xFFFF);
  size_t usable = s_usable_size(p);
  CHECK(usable >= size, "%s: usable size %zu of %p < its size %zu", where, usable, t_launder(p),
        size);
  return size;
}

static bool verify(worker_t* w, void* p, size_t size, const char* where) {
  size_t bad = pattern(p, size, size, seed_of(p, size), CHECK_PATTERN);
  w->checked += size;
  return CHECK(bad == SIZE_MAX, "%s: block %p of %zu bytes corrupted at byte %zu", where,
               t_launder(p), size, bad);
}

static void verify_and_free(worker_t* w, void* p, const char* where) {
  if (p == NULL) return;
  unsigned owner;
  size_t size = check_header(p, &owner, where);
  if (size == 0 || !verify(w, p, size, where)) return;
  s_free(p);
  w->frees++;
  if (owner == (w->serial & 0xFFFF)) w->frees_local++;
}

static void* new_block(worker_t* w, size_t size) {
  bool zero = t_rand(&w->rng) % 8 == 0;
  void* p = zero ? s_zalloc(size) : s_malloc(size);
  if (!CHECK_NOT_NULL(p, "%s(%zu) failed", zero ? "zalloc" : "malloc", size)) return NULL;
  w->allocs++;
  if (size > FULL_PATTERN_MAX) w->larges++;
  size_t usable = s_usable_size(p);
  CHECK(usable >= size, "usable size %zu < request %zu", usable, size);
  if (zero) {
    w->zallocs++;
    size_t bad = pattern(p, size, size, 0, CHECK_ZERO);
    CHECK(bad == SIZE_MAX, "zalloc(%zu) = %p not zero at byte %zu", size, t_launder(p), bad);
  }
  stamp(w, p, size);
  return p;
}

/* Takes a block out of a slot, resizes it, checks the kept prefix and puts it back. */
static void realloc_slot(worker_t* w, size_t s) {
  void* p = atomic_exchange(&slots[s], NULL);
  if (p == NULL) return;
  unsigned owner;
  size_t size = check_header(p, &owner, "before realloc");
  if (size == 0 || !verify(w, p, size, "before realloc")) return;
  size_t nsize = random_size(&w->rng);
  uint64_t old_header, old_seed = seed_of(p, size);
  memcpy(&old_header, t_launder(p), 8);
  void* q = s_realloc(p, nsize);
  if (!CHECK_NOT_NULL(q, "realloc(%zu -> %zu) failed", size, nsize)) return;
  w->reallocs++;
  size_t keep = size < nsize ? size : nsize;
  uint64_t h = 0;
  memcpy(&h, t_launder(q), keep < 8 ? keep : 8);
  CHECK(keep < 8 || h == old_header, "realloc %zu -> %zu lost the header", size, nsize);
  size_t bad = pattern(q, size, keep, old_seed, CHECK_PATTERN);
  CHECK(bad == SIZE_MAX, "realloc %zu -> %zu (%p -> %p) lost content at byte %zu", size, nsize,
        t_launder(p), t_launder(q), bad);
  CHECK(s_usable_size(q) >= nsize, "usable size %zu after realloc to %zu", s_usable_size(q), nsize);
  stamp(w, q, nsize);
  verify_and_free(w, atomic_exchange(&slots[s], q), "slot (after realloc)");
}

static void* worker(void* arg) {
  worker_t* w = arg;
  for (size_t op = 0; op < ops_per_thread; op++) {
    size_t s = (size_t)(t_rand(&w->rng) % SLOTS);
    uint64_t r = t_rand(&w->rng) % 100;
    if (r < 10) {
      // Short-lived: allocated and freed by this thread at once.
      void* p = new_block(w, t_rand_range(&w->rng, 8, 2048));
      if (p != NULL) verify_and_free(w, p, "short-lived");
    } else if (r < 16) {
      realloc_slot(w, s);
    } else {
      void* p = new_block(w, random_size(&w->rng));
      if (p == NULL) break;
      verify_and_free(w, atomic_exchange(&slots[s], p), "slot");
    }
  }
  atomic_fetch_add(&n_alloc, w->allocs);
  atomic_fetch_add(&n_free, w->frees);
  atomic_fetch_add(&n_free_local, w->frees_local);
  atomic_fetch_add(&n_realloc, w->reallocs);
  atomic_fetch_add(&n_zalloc, w->zallocs);
  atomic_fetch_add(&n_large, w->larges);
  atomic_fetch_add(&bytes_checked, w->checked);
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: %s [--threads N] [--rounds R] [--ops N-per-thread-per-round]\n", PROGRAM);
  exit(2);
}

static long arg_value(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) usage();
  char* end;
  long v = strtol(argv[++*i], &end, 10);
  if (*end != 0 || v <= 0) usage();
  return v;
}

int main(int argc, char** argv) {
  nthreads = 8;
  nrounds = (int)t_scaled(10, 5);
  ops_per_thread = t_scaled(40000, 8000);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0)
      nthreads = (int)arg_value(argc, argv, &i);
    else if (strcmp(argv[i], "--rounds") == 0)
      nrounds = (int)arg_value(argc, argv, &i);
    else if (strcmp(argv[i], "--ops") == 0)
      ops_per_thread = (size_t)arg_value(argc, argv, &i);
    else
      usage();
  }
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;

  t_begin(PROGRAM, "threads exchange blocks through shared atomic slots (" API ")");
#if defined(STRESS_PLAIN_MALLOC)
  t_section("malloc resolves to %s", t_malloc_origin());
  t_check_malloc_origin();
#endif
  t_section(
      "%d rounds x %d threads x %zu operations, %d slots; sizes 8 B..1 KiB, ~10%% to "
      "64 KiB, ~0.1%% 256 KiB..4 MiB",
      nrounds, nthreads, ops_per_thread, SLOTS);

  worker_t* workers = calloc((size_t)nthreads, sizeof(worker_t));  // bookkeeping, not under test
  pthread_t* th = calloc((size_t)nthreads, sizeof(pthread_t));
  if (!CHECK(workers != NULL && th != NULL, "calloc of the bookkeeping failed")) return t_end();
  for (int r = 0; r < nrounds; r++) {
    double t0 = t_now();
    for (int i = 0; i < nthreads; i++) {
      unsigned serial = (unsigned)(r * nthreads + i + 1);
      workers[i] = (worker_t){.serial = serial, .rng = t_mix64(serial * 7919u)};
      if (!CHECK(pthread_create(&th[i], NULL, worker, &workers[i]) == 0, "pthread_create failed"))
        return t_end();
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    unsigned long long a = atomic_load(&n_alloc), f = atomic_load(&n_free);
    t_section("round %d: %.2f s; %llu allocated, %llu freed, %llu live", r, t_now() - t0, a, f,
              a - f);
  }

  t_section("main thread verifies and frees what is left in the slots");
  worker_t main_w = {.serial = 0};
  unsigned long long left = 0;
  for (size_t s = 0; s < SLOTS; s++) {
    void* p = atomic_exchange(&slots[s], NULL);
    if (p != NULL) left++;
    verify_and_free(&main_w, p, "slot at exit");
  }
  unsigned long long a = atomic_load(&n_alloc), f = atomic_load(&n_free) + main_w.frees;
  unsigned long long local = atomic_load(&n_free_local);
  t_section(
      "%llu allocated (%llu zeroed, %llu large), %llu reallocated, %llu freed (%llu by the "
      "allocating thread, %llu left at the end); %.1f MiB verified",
      a, atomic_load(&n_zalloc), atomic_load(&n_large), atomic_load(&n_realloc), f, local, left,
      (double)(atomic_load(&bytes_checked) + main_w.checked) / (double)T_MiB);
  CHECK(a == f, "allocated %llu != freed %llu", a, f);
  CHECK(local > 0, "no block was freed by the thread that allocated it");
  CHECK(local < f - left, "every free was local (%llu of %llu)", local, f - left);
  CHECK(atomic_load(&n_realloc) > 0, "no realloc happened");
  free(workers);
  free(th);
#if !defined(STRESS_PLAIN_MALLOC)
  mi_collect(true);
#endif
  return t_end();
}
