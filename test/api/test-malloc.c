/* test-malloc: the standard and extended malloc family of the mi_* API.
   - mi_malloc on 0, 1, every size-class boundary +-1 (a class ends where mi_good_size changes) and
     big sizes up to 256 MiB: non-NULL, 16-byte aligned, usable size >= request, and the whole
     usable size can be written without corrupting any other live block (patterns are verified
     only after many later allocations and writes, and live blocks must not overlap);
   - mi_malloc(0) is non-NULL and unique; mi_calloc, mi_zalloc, mi_mallocn, mi_malloc_small,
     mi_zalloc_small, mi_good_size, mi_usable_size, mi_expand, mi_strdup, mi_strndup, mi_realpath.
 */
#include <limits.h>
#include <mimalloc.h>
#include <unistd.h>

#include "testutil.h"

/* Blocks stay live in this pool until it holds more than LIVE_BUDGET usable bytes; then all are
   verified, checked for overlap and freed. Verifying late is what catches writes that stray
   into a neighbour. */
#define LIVE_MAX 4096
#define LIVE_BUDGET (96 * T_MiB)
/* Blocks above this are written sparsely (head, tail, and 64 bytes every 64 KiB): the point is
   that every part of the block is mapped and writable, without touching gigabytes in total. */
#define FULL_FILL_MAX (8 * T_MiB)
#define SPARSE_EDGE (64 * T_KiB)
#define SPARSE_STEP (64 * T_KiB)
#define SPARSE_CHUNK 64

typedef struct {
  void* p;
  size_t request;
  size_t usable;
  uint64_t seed;
} live_t;

static live_t live[LIVE_MAX];
static size_t live_count;
static size_t live_bytes;
static size_t class_boundaries;

static void fill_block(void* p, size_t n, uint64_t seed) {
  if (n <= FULL_FILL_MAX) {
    t_fill(p, n, seed);
    return;
  }
  unsigned char* b = t_launder(p);
  t_fill(b, SPARSE_EDGE, seed);
  for (size_t off = SPARSE_EDGE; off + SPARSE_CHUNK <= n - SPARSE_EDGE; off += SPARSE_STEP)
    t_fill(b + off, SPARSE_CHUNK, seed + off);
  t_fill(b + n - SPARSE_EDGE, SPARSE_EDGE, seed + n);
}

/* Returns true when every written byte is still as fill_block left it. */
static bool block_intact(const void* p, size_t n, uint64_t seed, size_t* bad_at) {
  const unsigned char* b = t_launder(p);
  size_t bad;
  if (n <= FULL_FILL_MAX) {
    *bad_at = t_check_fill(b, n, seed);
    return *bad_at == SIZE_MAX;
  }
  if ((bad = t_check_fill(b, SPARSE_EDGE, seed)) != SIZE_MAX) {
    *bad_at = bad;
    return false;
  }
  for (size_t off = SPARSE_EDGE; off + SPARSE_CHUNK <= n - SPARSE_EDGE; off += SPARSE_STEP) {
    if ((bad = t_check_fill(b + off, SPARSE_CHUNK, seed + off)) != SIZE_MAX) {
      *bad_at = off + bad;
      return false;
    }
  }
  if ((bad = t_check_fill(b + n - SPARSE_EDGE, SPARSE_EDGE, seed + n)) != SIZE_MAX) {
    *bad_at = n - SPARSE_EDGE + bad;
    return false;
  }
  *bad_at = SIZE_MAX;
  return true;
}

static int cmp_live(const void* a, const void* b) {
  uintptr_t x = t_addr(((const live_t*)a)->p), y = t_addr(((const live_t*)b)->p);
  return x < y ? -1 : x > y;
}

static void live_flush(void) {
  for (size_t i = 0; i < live_count; i++) {
    size_t bad;
    t_ctx("verify live block: request %ju, usable %ju", live[i].request, live[i].usable, 0);
    CHECK(block_intact(live[i].p, live[i].usable, live[i].seed, &bad),
          "block %p (request %zu, usable %zu) changed at byte %zu after later allocations",
          live[i].p, live[i].request, live[i].usable, bad);
  }
  t_ctx(NULL, 0, 0, 0);
  qsort(live, live_count, sizeof live[0], cmp_live);
  for (size_t i = 1; i < live_count; i++) {
    CHECK(t_addr(live[i - 1].p) + live[i - 1].usable <= t_addr(live[i].p),
          "live blocks overlap: %p + usable %zu > %p", live[i - 1].p, live[i - 1].usable,
          live[i].p);
  }
  for (size_t i = 0; i < live_count; i++) mi_free(live[i].p);
  live_count = 0;
  live_bytes = 0;
}

/* Allocates `copies` blocks of `n` bytes with mi_malloc, checks them, fills their whole usable
   size and keeps them live. */
static void malloc_and_keep(size_t n, int copies) {
  for (int c = 0; c < copies; c++) {
    t_ctx("mi_malloc(%ju) copy %ju", n, (uintmax_t)c, 0);
    void* p = mi_malloc(n);
    if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) returned NULL", n)) return;
    size_t u = mi_usable_size(p);
    CHECK(u >= n, "mi_usable_size = %zu < request %zu", u, n);
    CHECK_ALIGNED(p, 16);
    if (live_count == LIVE_MAX || live_bytes + u > LIVE_BUDGET) live_flush();
    uint64_t seed = t_mix64(t_addr(p) ^ n);
    fill_block(p, u, seed);
    live[live_count++] = (live_t){p, n, u, seed};
    live_bytes += u;
  }
  t_ctx(NULL, 0, 0, 0);
}

static int copies_for(size_t n) {
  if (n <= 64 * T_KiB) return (int)t_scaled(4, 2);
  return n <= 2 * T_MiB ? 2 : 1;
}

static void test_size_classes(void) {
  t_section(
      "mi_malloc at every size-class boundary -1/0/+1 for 1..1 MiB (classes from mi_good_size)");
  malloc_and_keep(1, 8);
  size_t prev = mi_good_size(1);
  for (size_t n = 2; n <= T_MiB + 1; n++) {
    size_t g = mi_good_size(n);
    if (g == prev) continue;
    prev = g;
    class_boundaries++;
    for (size_t m = n - 1; m <= n + 1; m++) malloc_and_keep(m, copies_for(m));
  }
  t_section("%zu class boundaries found below 1 MiB", class_boundaries);

  t_section(
      "mi_malloc on big sizes 1 MiB .. 256 MiB: powers of two -1/0/+1 and class ends in between");
  for (size_t pw = T_MiB; pw <= 256 * T_MiB; pw *= 2) {
    for (size_t m = pw - 1; m <= pw + 1; m++) malloc_and_keep(m, 1);
    if (pw == 256 * T_MiB) break;
    static const size_t eighths_full[] = {1, 2, 3, 4, 5, 6, 7};
    static const size_t eighths_big[] = {1, 4};
    bool big = pw >= 8 * T_MiB;
    const size_t* ks = big ? eighths_big : eighths_full;
    size_t nks = big ? 2 : 7;
    for (size_t i = 0; i < nks; i++) {
      size_t g = mi_good_size(pw + ks[i] * (pw / 8));
      CHECK_GE(g, pw + ks[i] * (pw / 8));
      malloc_and_keep(g, 1);  // the last size of a class and the first of the next
      malloc_and_keep(g + 1, 1);
    }
  }
  live_flush();

  t_section("one 256 MiB block written and verified in full");
  size_t n = 256 * T_MiB;
  void* p = mi_malloc(n);
  if (CHECK_NOT_NULL(p, "mi_malloc(256 MiB) failed")) {
    CHECK_GE(mi_usable_size(p), n);
    CHECK_ALIGNED(p, 16);
    t_fill(p, n, 42);
    CHECK_FILL(p, n, 42);
    mi_free(p);
  }
}

static int cmp_ptr(const void* a, const void* b) {
  uintptr_t x = t_addr(*(void*const*)a), y = t_addr(*(void*const*)b);
  return x < y ? -1 : x > y;
}

static void test_malloc_zero(void) {
  t_section("mi_malloc(0) x 200: non-NULL, 16-byte aligned, unique, usable bytes writable");
  enum { N = 200 };
  void* ps[N];
  for (int i = 0; i < N; i++) {
    ps[i] = mi_malloc(0);
    CHECK_NOT_NULL(ps[i], "mi_malloc(0) returned NULL (call %d)", i);
    if (ps[i] != NULL) {
      CHECK_ALIGNED(ps[i], 16);
      t_fill(ps[i], mi_usable_size(ps[i]), (uint64_t)i);
    }
  }
  qsort(ps, N, sizeof ps[0], cmp_ptr);
  for (int i = 1; i < N; i++) {
    if (ps[i - 1] == NULL) continue;
    CHECK(t_addr(ps[i - 1]) != t_addr(ps[i]), "mi_malloc(0) returned %p twice", ps[i]);
  }
  for (int i = 0; i < N; i++) mi_free(ps[i]);
  void* r = mi_realloc(NULL, 0);
  CHECK_NOT_NULL(r, "mi_realloc(NULL, 0) returned NULL");
  mi_free(r);
  CHECK_EQ(mi_usable_size(NULL), 0);
}

static const size_t some_sizes[] = {
    0,    1,     7,     8,     15,     16,     17,      63,      64,       65,
    100,  127,   128,   1000,  1024,   1025,   4095,    4096,    4097,     8191,
    8193, 20000, 65535, 65537, 100000, 262143, 1048577, 5000000, 20000000, 40000000};
#define N_SOME (sizeof some_sizes / sizeof some_sizes[0])

static void test_calloc_zalloc_mallocn(void) {
  t_section("mi_calloc / mi_zalloc / mi_mallocn over %zu sizes: zeroed, usable >= request", N_SOME);
  static const size_t counts[] = {0, 1, 3, 16, 1000};
  for (size_t i = 0; i < N_SOME; i++) {
    size_t n = some_sizes[i];
    t_ctx("size %ju", n, 0, 0);
    unsigned char* z = mi_zalloc(n);
    if (CHECK_NOT_NULL(z, "mi_zalloc(%zu) failed", n)) {
      CHECK_GE(mi_usable_size(z), n);
      CHECK_ALIGNED(z, 16);
      CHECK_ZERO(z, n);
      mi_free(z);
    }
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
      size_t count = counts[c];
      if (count > 1 && n > 100000) continue;  // keep totals small
      t_ctx("count %ju x size %ju", count, n, 0);
      unsigned char* q = mi_calloc(count, n);
      if (CHECK_NOT_NULL(q, "mi_calloc(%zu, %zu) failed", count, n)) {
        CHECK_GE(mi_usable_size(q), count * n);
        CHECK_ALIGNED(q, 16);
        CHECK_ZERO(q, count * n);
        t_fill(q, mi_usable_size(q), 7);  // dirty it so a later reuse has something to clear
        mi_free(q);
      }
      void* m = mi_mallocn(count, n);
      if (CHECK_NOT_NULL(m, "mi_mallocn(%zu, %zu) failed", count, n)) {
        CHECK_GE(mi_usable_size(m), count * n);
        CHECK_ALIGNED(m, 16);
        t_fill(m, mi_usable_size(m), 9);
        CHECK_FILL(m, mi_usable_size(m), 9);
        mi_free(m);
      }
    }
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_small(void) {
  t_section("mi_malloc_small / mi_zalloc_small for every size 0..MI_SMALL_SIZE_MAX (%d)",
            (int)MI_SMALL_SIZE_MAX);
  enum { KEEP_MAX = 8 };
  int keep_n = (int)t_scaled(KEEP_MAX, 3);
  for (size_t n = 0; n <= MI_SMALL_SIZE_MAX; n++) {
    t_ctx("size %ju", n, 0, 0);
    void* keep[KEEP_MAX];
    for (int k = 0; k < keep_n; k++) {
      keep[k] = mi_malloc_small(n);
      if (!CHECK_NOT_NULL(keep[k], "mi_malloc_small(%zu) failed", n)) return;
      CHECK_GE(mi_usable_size(keep[k]), n);
      CHECK_ALIGNED(keep[k], 16);
      t_fill(keep[k], mi_usable_size(keep[k]), n * 8 + (size_t)k);
    }
    unsigned char* z = mi_zalloc_small(n);
    if (CHECK_NOT_NULL(z, "mi_zalloc_small(%zu) failed", n)) {
      CHECK_GE(mi_usable_size(z), n);
      CHECK_ALIGNED(z, 16);
      CHECK_ZERO(z, n);
    }
    for (int k = 0; k < keep_n; k++) {
      CHECK_FILL(keep[k], mi_usable_size(keep[k]), n * 8 + (size_t)k);
      mi_free(keep[k]);
    }
    mi_free(z);
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_good_size(void) {
  t_section(
      "mi_good_size: >= n, monotonic, idempotent (a class size is its own class) for 1..4 MiB");
  size_t prev = 0;
  unsigned long long bad_ge = 0, bad_mono = 0, bad_idem = 0;
  for (size_t n = 1; n <= 4 * T_MiB; n++) {
    size_t g = mi_good_size(n);
    if (g < n && bad_ge++ == 0) CHECK(g >= n, "mi_good_size(%zu) = %zu", n, g);
    if (g < prev && bad_mono++ == 0)
      CHECK(g >= prev, "mi_good_size(%zu) = %zu < mi_good_size(%zu) = %zu", n, g, n - 1, prev);
    if (g != prev && mi_good_size(g) != g && bad_idem++ == 0)
      CHECK(mi_good_size(g) == g, "mi_good_size(mi_good_size(%zu) = %zu) = %zu", n, g,
            mi_good_size(g));
    prev = g;
  }
  CHECK(bad_ge == 0, "%llu sizes with mi_good_size(n) < n", bad_ge);
  CHECK(bad_mono == 0, "%llu sizes where mi_good_size decreases", bad_mono);
  CHECK(bad_idem == 0, "%llu class sizes that are not their own class", bad_idem);
  for (size_t n = 8 * T_MiB; n <= T_GiB; n *= 2) {
    CHECK_GE(mi_good_size(n), n);
    CHECK_GE(mi_good_size(n + 1), n + 1);
  }
}

static void test_expand(void) {
  t_section("mi_expand: NULL, or the same pointer with usable size >= the new size; content kept");
  for (size_t i = 0; i < N_SOME; i++) {
    size_t n = some_sizes[i];
    t_ctx("block of %ju", n, 0, 0);
    void* p = mi_malloc(n);
    if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", n)) continue;
    size_t u = mi_usable_size(p);
    t_fill(p, u, 11);
    size_t targets[] = {n / 2, n, u, u + 1, 2 * u + 16, u + 70000};
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
      size_t want = targets[k];
      t_ctx("block of %ju expanded to %ju", n, want, 0);
      void* q = mi_expand(p, want);
      if (q != NULL) {
        CHECK(t_addr(q) == t_addr(p), "mi_expand(%p, %zu) moved the block to %p", p, want, q);
        CHECK_GE(mi_usable_size(p), want);
      }
      // Either way the block and its first bytes are untouched.
      CHECK_FILL(p, n < u ? n : u, 11);
    }
    mi_free(p);
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_strings(void) {
  t_section("mi_strdup / mi_strndup");
  static char longstr[10001];
  for (size_t i = 0; i < sizeof longstr - 1; i++) longstr[i] = (char)('a' + i % 26);
  const char* inputs[] = {"", "x", "hello world", longstr};
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    const char* s = inputs[i];
    size_t len = strlen(s);
    t_ctx("string of length %ju", len, 0, 0);
    char* d = mi_strdup(s);
    if (CHECK_NOT_NULL(d, "mi_strdup failed")) {
      CHECK(t_addr(d) != t_addr(s), "mi_strdup returned its argument");
      CHECK(strcmp(d, s) == 0, "mi_strdup copy differs");
      CHECK_GE(mi_usable_size(d), len + 1);
      mi_free(d);
    }
    size_t limits[] = {0, 1, len / 2, len, len + 1, len + 100, SIZE_MAX};
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
      size_t lim = limits[k];
      size_t want = lim < len ? lim : len;
      t_ctx("string of length %ju, strndup limit %ju", len, lim, 0);
      char* e = mi_strndup(s, lim);
      if (CHECK_NOT_NULL(e, "mi_strndup(s, %zu) failed", lim)) {
        CHECK_EQ(strlen(e), want);
        CHECK(memcmp(e, s, want) == 0, "mi_strndup copy differs");
        CHECK_GE(mi_usable_size(e), want + 1);
        mi_free(e);
      }
    }
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_realpath(void) {
  t_section("mi_realpath: allocates when resolved_name is NULL, uses the buffer otherwise, ENOENT");
  const char* paths[] = {".", "/", "/proc/self/exe", "/usr/../usr/./bin"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    char expect[PATH_MAX];
    if (realpath(paths[i], expect) == NULL) continue;  // not on this system
    char* r = mi_realpath(paths[i], NULL);
    if (CHECK_NOT_NULL(r, "mi_realpath(%s, NULL) failed", paths[i])) {
      CHECK(strcmp(r, expect) == 0, "mi_realpath(%s) = '%s', libc says '%s'", paths[i], r, expect);
      CHECK_GE(mi_usable_size(r), strlen(expect) + 1);
      mi_free(r);
    }
    char buf[PATH_MAX];
    char* b = mi_realpath(paths[i], buf);
    CHECK(t_addr(b) == t_addr(buf), "mi_realpath(%s, buf) = %p, expected buf %p", paths[i],
          (void*)b, (void*)buf);
    if (t_addr(b) == t_addr(buf))
      CHECK(strcmp(buf, expect) == 0, "mi_realpath(%s, buf) = '%s'", paths[i], buf);
  }
  errno = 0;
  char* none = mi_realpath("/nonexistent-shardalloc-dir/file", NULL);
  int e = errno;
  CHECK_NULL(none);
  CHECK_ERRNO(e, ENOENT);
}

int main(void) {
  t_begin("test-malloc",
          "malloc family: size classes, big sizes, malloc(0), calloc/zalloc/mallocn, "
          "small, good_size, expand, strdup/strndup, realpath");
  test_malloc_zero();
  test_size_classes();
  test_calloc_zalloc_mallocn();
  test_small();
  test_good_size();
  test_expand();
  test_strings();
  test_realpath();
  return t_end();
}
