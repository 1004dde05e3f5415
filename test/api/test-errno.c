/* test-errno: what failing calls return and leave in errno. shardalloc is stricter than mimalloc
   here (docs: shared/API.md "Where we are stricter"):
   - every failing allocation returns NULL with errno == ENOMEM, for absurd sizes (SIZE_MAX,
     SIZE_MAX - 4095, PTRDIFF_MAX, PTRDIFF_MAX + 1, 1 << 62) in every allocation function and for
     count x size overflow (calloc, mallocn, reallocn, reallocarray, the aligned and heap forms);
     mimalloc leaves errno 0 on overflow or uses EOVERFLOW;
   - mi_reallocarr returns ENOMEM and leaves the pointer and block untouched;
   - a failing realloc leaves the old block intact; a failing mi_reallocf frees it;
   - an invalid alignment (0, not a power of two) gives NULL + EINVAL; mi_posix_memalign returns
     EINVAL (alignment not a power of two or not a multiple of sizeof(void*)) and leaves *p alone;
   - mi_free(NULL) and the mi_free family never change errno.
   Successful calls may change errno (C allows it); only frees are checked for that. */
#include <mimalloc.h>
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

static mi_heap_t* other_heap;  // a second heap, so the heap forms are tried on more than one heap

/* ---- functions of one size ---- */
#define SIZED(fname, expr) \
  static void* fname(size_t n) { return (expr); }
SIZED(f_malloc, mi_malloc(n))
SIZED(f_zalloc, mi_zalloc(n))
SIZED(f_calloc_1n, mi_calloc(1, n))
SIZED(f_calloc_n1, mi_calloc(n, 1))
SIZED(f_mallocn, mi_mallocn(1, n))
SIZED(f_realloc_null, mi_realloc(NULL, n))
SIZED(f_reallocn_null, mi_reallocn(NULL, 1, n))
SIZED(f_reallocf_null, mi_reallocf(NULL, n))
SIZED(f_malloc_aligned, mi_malloc_aligned(n, 16))
SIZED(f_malloc_aligned_4k, mi_malloc_aligned(n, 4096))
SIZED(f_malloc_aligned_1g, mi_malloc_aligned(n, T_GiB))
SIZED(f_malloc_aligned_at, mi_malloc_aligned_at(n, 64, 8))
SIZED(f_zalloc_aligned, mi_zalloc_aligned(n, 64))
SIZED(f_zalloc_aligned_at, mi_zalloc_aligned_at(n, 64, 8))
SIZED(f_calloc_aligned, mi_calloc_aligned(1, n, 64))
SIZED(f_calloc_aligned_at, mi_calloc_aligned_at(1, n, 64, 8))
SIZED(f_realloc_aligned_null, mi_realloc_aligned(NULL, n, 64))
SIZED(f_realloc_aligned_at_null, mi_realloc_aligned_at(NULL, n, 64, 8))
SIZED(f_rezalloc_null, mi_rezalloc(NULL, n))
SIZED(f_recalloc_null, mi_recalloc(NULL, 1, n))
SIZED(f_rezalloc_aligned_null, mi_rezalloc_aligned(NULL, n, 64))
SIZED(f_rezalloc_aligned_at_null, mi_rezalloc_aligned_at(NULL, n, 64, 8))
SIZED(f_recalloc_aligned_null, mi_recalloc_aligned(NULL, 1, n, 64))
SIZED(f_recalloc_aligned_at_null, mi_recalloc_aligned_at(NULL, 1, n, 64, 8))
SIZED(f_aligned_alloc, mi_aligned_alloc(64, n))
SIZED(f_memalign, mi_memalign(64, n))
SIZED(f_valloc, mi_valloc(n))
SIZED(f_pvalloc, mi_pvalloc(n))
SIZED(f_reallocarray_null, mi_reallocarray(NULL, 1, n))
SIZED(f_heap_malloc, mi_heap_malloc(mi_heap_get_default(), n))
SIZED(f_heap_malloc_other, mi_heap_malloc(other_heap, n))
SIZED(f_heap_zalloc, mi_heap_zalloc(mi_heap_get_default(), n))
SIZED(f_heap_calloc, mi_heap_calloc(mi_heap_get_default(), 1, n))
SIZED(f_heap_mallocn, mi_heap_mallocn(mi_heap_get_default(), 1, n))
SIZED(f_heap_realloc_null, mi_heap_realloc(mi_heap_get_default(), NULL, n))
SIZED(f_heap_reallocn_null, mi_heap_reallocn(mi_heap_get_default(), NULL, 1, n))
SIZED(f_heap_reallocf_null, mi_heap_reallocf(mi_heap_get_default(), NULL, n))
SIZED(f_heap_malloc_aligned, mi_heap_malloc_aligned(mi_heap_get_default(), n, 64))
SIZED(f_heap_malloc_aligned_at, mi_heap_malloc_aligned_at(mi_heap_get_default(), n, 64, 8))
SIZED(f_heap_zalloc_aligned, mi_heap_zalloc_aligned(mi_heap_get_default(), n, 64))
SIZED(f_heap_zalloc_aligned_at, mi_heap_zalloc_aligned_at(mi_heap_get_default(), n, 64, 8))
SIZED(f_heap_calloc_aligned, mi_heap_calloc_aligned(mi_heap_get_default(), 1, n, 64))
SIZED(f_heap_calloc_aligned_at, mi_heap_calloc_aligned_at(mi_heap_get_default(), 1, n, 64, 8))
SIZED(f_heap_realloc_aligned_null, mi_heap_realloc_aligned(mi_heap_get_default(), NULL, n, 64))
SIZED(f_heap_realloc_aligned_at_null,
      mi_heap_realloc_aligned_at(mi_heap_get_default(), NULL, n, 64, 8))
SIZED(f_heap_rezalloc_null, mi_heap_rezalloc(mi_heap_get_default(), NULL, n))
SIZED(f_heap_recalloc_null, mi_heap_recalloc(mi_heap_get_default(), NULL, 1, n))
SIZED(f_heap_rezalloc_aligned_null, mi_heap_rezalloc_aligned(mi_heap_get_default(), NULL, n, 64))
SIZED(f_heap_rezalloc_aligned_at_null,
      mi_heap_rezalloc_aligned_at(mi_heap_get_default(), NULL, n, 64, 8))
SIZED(f_heap_recalloc_aligned_null, mi_heap_recalloc_aligned(mi_heap_get_default(), NULL, 1, n, 64))
SIZED(f_heap_recalloc_aligned_at_null,
      mi_heap_recalloc_aligned_at(mi_heap_get_default(), NULL, 1, n, 64, 8))

typedef struct {
  const char* name;
  void* (*fn)(size_t);
} sized_t;
// clang-format off
#define S(f) {#f, f}
static const sized_t sized[] = {
  S(f_malloc), S(f_zalloc), S(f_calloc_1n), S(f_calloc_n1), S(f_mallocn), S(f_realloc_null),
  S(f_reallocn_null), S(f_reallocf_null), S(f_malloc_aligned), S(f_malloc_aligned_4k),
  S(f_malloc_aligned_1g), S(f_malloc_aligned_at), S(f_zalloc_aligned), S(f_zalloc_aligned_at),
  S(f_calloc_aligned), S(f_calloc_aligned_at), S(f_realloc_aligned_null),
  S(f_realloc_aligned_at_null),
  S(f_rezalloc_null), S(f_recalloc_null), S(f_rezalloc_aligned_null), S(f_rezalloc_aligned_at_null),
  S(f_recalloc_aligned_null), S(f_recalloc_aligned_at_null), S(f_aligned_alloc), S(f_memalign),
  S(f_valloc), S(f_pvalloc), S(f_reallocarray_null), S(f_heap_malloc), S(f_heap_malloc_other),
  S(f_heap_zalloc), S(f_heap_calloc), S(f_heap_mallocn), S(f_heap_realloc_null),
  S(f_heap_reallocn_null), S(f_heap_reallocf_null), S(f_heap_malloc_aligned),
  S(f_heap_malloc_aligned_at), S(f_heap_zalloc_aligned), S(f_heap_zalloc_aligned_at),
  S(f_heap_calloc_aligned), S(f_heap_calloc_aligned_at), S(f_heap_realloc_aligned_null),
  S(f_heap_realloc_aligned_at_null), S(f_heap_rezalloc_null), S(f_heap_recalloc_null),
  S(f_heap_rezalloc_aligned_null), S(f_heap_rezalloc_aligned_at_null),
  S(f_heap_recalloc_aligned_null), S(f_heap_recalloc_aligned_at_null),
};
// clang-format on

static const size_t absurd[] = {SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX,
                                (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
#define N_ABSURD (sizeof absurd / sizeof absurd[0])

static void test_absurd_sizes(void) {
  t_section("%zu allocation functions x %zu absurd sizes: NULL and errno == ENOMEM",
            sizeof sized / sizeof sized[0], N_ABSURD);
  for (size_t f = 0; f < sizeof sized / sizeof sized[0]; f++) {
    for (size_t i = 0; i < N_ABSURD; i++) {
      volatile size_t n = absurd[i];  // volatile: keep the compiler from reasoning about the size
      errno = 0;
      void* p = sized[f].fn(n);
      int e = errno;
      CHECK(p == NULL, "%s(%zu) returned %p", sized[f].name, (size_t)n, p);
      CHECK(e == ENOMEM, "%s(%zu): errno = %d (%s), expected ENOMEM", sized[f].name, (size_t)n, e,
            t_errname(e));
      mi_free(p);
    }
  }
  t_section("mi_posix_memalign and mi_reallocarr with absurd sizes return ENOMEM");
  for (size_t i = 0; i < N_ABSURD; i++) {
    volatile size_t n = absurd[i];
    void* p = (void*)&p;
    int rc = mi_posix_memalign(&p, 64, n);
    CHECK(rc == ENOMEM, "mi_posix_memalign(&p, 64, %zu) = %d (%s), expected ENOMEM", (size_t)n, rc,
          t_errname(rc));
    if (rc == 0) mi_free(p);
    void* a = NULL;
    rc = mi_reallocarr(&a, 1, n);
    CHECK(rc == ENOMEM, "mi_reallocarr(&NULL, 1, %zu) = %d (%s), expected ENOMEM", (size_t)n, rc,
          t_errname(rc));
    CHECK_NULL(a);
    mi_free(a);
  }
}

/* ---- count x size overflow ---- */
#define COUNTED(fname, expr) \
  static void* fname(size_t c, size_t n) { return (expr); }
COUNTED(c_calloc, mi_calloc(c, n))
COUNTED(c_mallocn, mi_mallocn(c, n))
COUNTED(c_reallocn_null, mi_reallocn(NULL, c, n))
COUNTED(c_reallocarray_null, mi_reallocarray(NULL, c, n))
COUNTED(c_calloc_aligned, mi_calloc_aligned(c, n, 64))
COUNTED(c_calloc_aligned_at, mi_calloc_aligned_at(c, n, 64, 8))
COUNTED(c_recalloc_null, mi_recalloc(NULL, c, n))
COUNTED(c_recalloc_aligned_null, mi_recalloc_aligned(NULL, c, n, 64))
COUNTED(c_recalloc_aligned_at_null, mi_recalloc_aligned_at(NULL, c, n, 64, 8))
COUNTED(c_heap_calloc, mi_heap_calloc(mi_heap_get_default(), c, n))
COUNTED(c_heap_mallocn, mi_heap_mallocn(mi_heap_get_default(), c, n))
COUNTED(c_heap_reallocn_null, mi_heap_reallocn(mi_heap_get_default(), NULL, c, n))
COUNTED(c_heap_recalloc_null, mi_heap_recalloc(mi_heap_get_default(), NULL, c, n))
COUNTED(c_heap_calloc_aligned, mi_heap_calloc_aligned(mi_heap_get_default(), c, n, 64))
COUNTED(c_heap_calloc_aligned_at, mi_heap_calloc_aligned_at(mi_heap_get_default(), c, n, 64, 8))
COUNTED(c_heap_recalloc_aligned_null,
        mi_heap_recalloc_aligned(mi_heap_get_default(), NULL, c, n, 64))
COUNTED(c_heap_recalloc_aligned_at_null,
        mi_heap_recalloc_aligned_at(mi_heap_get_default(), NULL, c, n, 64, 8))

typedef struct {
  const char* name;
  void* (*fn)(size_t, size_t);
} counted_t;
// clang-format off
static const counted_t counted[] = {
  S(c_calloc), S(c_mallocn), S(c_reallocn_null), S(c_reallocarray_null), S(c_calloc_aligned),
  S(c_calloc_aligned_at), S(c_recalloc_null), S(c_recalloc_aligned_null),
  S(c_recalloc_aligned_at_null),
  S(c_heap_calloc), S(c_heap_mallocn), S(c_heap_reallocn_null), S(c_heap_recalloc_null),
  S(c_heap_calloc_aligned), S(c_heap_calloc_aligned_at), S(c_heap_recalloc_aligned_null),
  S(c_heap_recalloc_aligned_at_null),
};
// clang-format on

/* Pairs whose product overflows size_t (or, for the last one, only just fits but is absurd). */
static const size_t overflow[][2] = {
    {SIZE_MAX / 2, 3},
    {3, SIZE_MAX / 2},
    {SIZE_MAX / 2 + 1, 2},
    {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX, SIZE_MAX},
    {SIZE_MAX / 16 + 1, 16},
    {(size_t)1 << 31, (size_t)1 << 31},
};
#define N_OVERFLOW (sizeof overflow / sizeof overflow[0])

static void test_overflow(void) {
  t_section("%zu count x size functions x %zu overflowing products: NULL and errno == ENOMEM",
            sizeof counted / sizeof counted[0], N_OVERFLOW);
  for (size_t f = 0; f < sizeof counted / sizeof counted[0]; f++) {
    for (size_t i = 0; i < N_OVERFLOW; i++) {
      volatile size_t c = overflow[i][0], n = overflow[i][1];
      errno = 0;
      void* p = counted[f].fn(c, n);
      int e = errno;
      CHECK(p == NULL, "%s(%zu, %zu) returned %p", counted[f].name, (size_t)c, (size_t)n, p);
      CHECK(e == ENOMEM, "%s(%zu, %zu): errno = %d (%s), expected ENOMEM", counted[f].name,
            (size_t)c, (size_t)n, e, t_errname(e));
      mi_free(p);
    }
  }
  t_section("mi_reallocarr overflow returns ENOMEM and leaves the pointer and block untouched");
  for (size_t i = 0; i < N_OVERFLOW; i++) {
    volatile size_t c = overflow[i][0], n = overflow[i][1];
    void* a = mi_malloc(200);
    if (!CHECK_NOT_NULL(a, "mi_malloc(200) failed")) return;
    t_fill(a, 200, 31);
    void* keep = a;
    int rc = mi_reallocarr(&a, c, n);
    CHECK(rc == ENOMEM, "mi_reallocarr(&a, %zu, %zu) = %d (%s), expected ENOMEM", (size_t)c,
          (size_t)n, rc, t_errname(rc));
    CHECK(t_addr(a) == t_addr(keep), "mi_reallocarr changed the pointer on failure: %p -> %p", keep,
          a);
    if (t_addr(a) == t_addr(keep)) CHECK_FILL(a, 200, 31);
    mi_free(a);
  }
}

/* ---- resizing an existing block ---- */
#define RESIZE(fname, expr) \
  static void* fname(void* p, size_t n) { return (expr); }
RESIZE(r_realloc, mi_realloc(p, n))
RESIZE(r_reallocn, mi_reallocn(p, 1, n))
RESIZE(r_reallocn_overflow, mi_reallocn(p, n, 3))
RESIZE(r_reallocarray, mi_reallocarray(p, 1, n))
RESIZE(r_reallocarray_overflow, mi_reallocarray(p, n, 3))
RESIZE(r_realloc_aligned, mi_realloc_aligned(p, n, 16))
RESIZE(r_realloc_aligned_at, mi_realloc_aligned_at(p, n, 16, 0))
RESIZE(r_rezalloc, mi_rezalloc(p, n))
RESIZE(r_recalloc, mi_recalloc(p, 1, n))
RESIZE(r_recalloc_overflow, mi_recalloc(p, n, 3))
RESIZE(r_rezalloc_aligned, mi_rezalloc_aligned(p, n, 16))
RESIZE(r_recalloc_aligned, mi_recalloc_aligned(p, 1, n, 16))
RESIZE(r_heap_realloc, mi_heap_realloc(mi_heap_get_default(), p, n))
RESIZE(r_heap_reallocn, mi_heap_reallocn(mi_heap_get_default(), p, 1, n))
RESIZE(r_heap_realloc_aligned, mi_heap_realloc_aligned(mi_heap_get_default(), p, n, 16))
RESIZE(r_heap_rezalloc, mi_heap_rezalloc(mi_heap_get_default(), p, n))
RESIZE(r_heap_recalloc, mi_heap_recalloc(mi_heap_get_default(), p, 1, n))

typedef struct {
  const char* name;
  void* (*fn)(void*, size_t);
} resize_t;
// clang-format off
static const resize_t resizers[] = {
  S(r_realloc), S(r_reallocn), S(r_reallocn_overflow), S(r_reallocarray),
  S(r_reallocarray_overflow), S(r_realloc_aligned), S(r_realloc_aligned_at), S(r_rezalloc),
  S(r_recalloc), S(r_recalloc_overflow),
  S(r_rezalloc_aligned), S(r_recalloc_aligned), S(r_heap_realloc), S(r_heap_reallocn),
  S(r_heap_realloc_aligned), S(r_heap_rezalloc), S(r_heap_recalloc),
};
// clang-format on

static bool count_live(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                       size_t block_size, void* arg) {
  (void)heap, (void)area, (void)block_size;
  if (block != NULL) (*(size_t*)arg)++;
  return true;
}
static size_t live_blocks(mi_heap_t* h) {
  size_t n = 0;
  mi_heap_visit_blocks(h, true, count_live, &n);
  return n;
}

static void test_failed_realloc(void) {
  static const size_t block_sizes[] = {24, 5000, 300000, 3 * T_MiB};
  t_section(
      "failing realloc forms (%zu) on blocks of 24 B .. 3 MiB: NULL, ENOMEM, old block intact",
      sizeof resizers / sizeof resizers[0]);
  for (size_t f = 0; f < sizeof resizers / sizeof resizers[0]; f++) {
    for (size_t b = 0; b < sizeof block_sizes / sizeof block_sizes[0]; b++) {
      size_t bs = block_sizes[b];
      void* p = mi_zalloc(bs);  // zeroed, so the rezalloc/recalloc forms are used as specified
      if (!CHECK_NOT_NULL(p, "mi_zalloc(%zu) failed", bs)) continue;
      t_fill(p, bs, 77 + bs);
      for (size_t i = 0; i < N_ABSURD; i++) {
        volatile size_t n = absurd[i];
        errno = 0;
        void* q = resizers[f].fn(p, n);
        int e = errno;
        CHECK(q == NULL, "%s(block of %zu, %zu) returned %p", resizers[f].name, bs, (size_t)n, q);
        CHECK(e == ENOMEM, "%s(block of %zu, %zu): errno = %d (%s), expected ENOMEM",
              resizers[f].name, bs, (size_t)n, e, t_errname(e));
        if (q != NULL) {
          p = q;  // it "succeeded": keep going with whatever we got
          continue;
        }
        size_t bad = t_check_fill(p, bs, 77 + bs);
        CHECK(bad == SIZE_MAX, "%s(block of %zu, %zu) failed but changed the old block at byte %zu",
              resizers[f].name, bs, (size_t)n, bad);
      }
      mi_free(p);
    }
  }

  t_section(
      "a failing mi_reallocf / mi_heap_reallocf returns NULL with ENOMEM and frees the block");
  for (size_t i = 0; i < N_ABSURD; i++) {
    volatile size_t n = absurd[i];
    mi_heap_t* h = mi_heap_new();
    if (!CHECK_NOT_NULL(h, "mi_heap_new failed")) return;
    mi_heap_t* old = mi_heap_set_default(h);  // mi_reallocf works on the default heap
    void* p = mi_malloc(100);
    void* q = mi_heap_malloc(h, 5000);
    CHECK_EQ(live_blocks(h), 2);
    errno = 0;
    void* r = mi_reallocf(p, n);
    int e = errno;
    CHECK(r == NULL, "mi_reallocf(p, %zu) returned %p", (size_t)n, r);
    CHECK(e == ENOMEM, "mi_reallocf(p, %zu): errno = %d (%s)", (size_t)n, e, t_errname(e));
    errno = 0;
    void* s = mi_heap_reallocf(h, q, n);
    e = errno;
    CHECK(s == NULL, "mi_heap_reallocf(h, q, %zu) returned %p", (size_t)n, s);
    CHECK(e == ENOMEM, "mi_heap_reallocf(h, q, %zu): errno = %d (%s)", (size_t)n, e, t_errname(e));
    mi_heap_set_default(old);
    CHECK(live_blocks(h) == 0, "%zu blocks still live after failing mi_reallocf (size %zu)",
          live_blocks(h), (size_t)n);
    mi_free(r), mi_free(s);
    mi_heap_delete(h);
  }
}

/* ---- invalid alignments ---- */
#define ALIGNED(fname, expr) \
  static void* fname(size_t al) { return (expr); }
ALIGNED(a_malloc_aligned, mi_malloc_aligned(16, al))
ALIGNED(a_malloc_aligned_at, mi_malloc_aligned_at(16, al, 0))
ALIGNED(a_zalloc_aligned, mi_zalloc_aligned(16, al))
ALIGNED(a_zalloc_aligned_at, mi_zalloc_aligned_at(16, al, 8))
ALIGNED(a_calloc_aligned, mi_calloc_aligned(2, 8, al))
ALIGNED(a_calloc_aligned_at, mi_calloc_aligned_at(2, 8, al, 8))
ALIGNED(a_realloc_aligned_null, mi_realloc_aligned(NULL, 16, al))
ALIGNED(a_realloc_aligned_at_null, mi_realloc_aligned_at(NULL, 16, al, 8))
ALIGNED(a_rezalloc_aligned_null, mi_rezalloc_aligned(NULL, 16, al))
ALIGNED(a_recalloc_aligned_null, mi_recalloc_aligned(NULL, 2, 8, al))
ALIGNED(a_aligned_alloc, mi_aligned_alloc(al, 16))
ALIGNED(a_memalign, mi_memalign(al, 16))
ALIGNED(a_heap_malloc_aligned, mi_heap_malloc_aligned(mi_heap_get_default(), 16, al))
ALIGNED(a_heap_malloc_aligned_at, mi_heap_malloc_aligned_at(mi_heap_get_default(), 16, al, 8))
ALIGNED(a_heap_zalloc_aligned, mi_heap_zalloc_aligned(mi_heap_get_default(), 16, al))
ALIGNED(a_heap_calloc_aligned, mi_heap_calloc_aligned(mi_heap_get_default(), 2, 8, al))
ALIGNED(a_heap_realloc_aligned_null, mi_heap_realloc_aligned(mi_heap_get_default(), NULL, 16, al))

typedef struct {
  const char* name;
  void* (*fn)(size_t);
} aligned_fn_t;
// clang-format off
static const aligned_fn_t aligned_fns[] = {
  S(a_malloc_aligned), S(a_malloc_aligned_at), S(a_zalloc_aligned), S(a_zalloc_aligned_at),
  S(a_calloc_aligned), S(a_calloc_aligned_at), S(a_realloc_aligned_null),
  S(a_realloc_aligned_at_null),
  S(a_rezalloc_aligned_null), S(a_recalloc_aligned_null), S(a_aligned_alloc), S(a_memalign),
  S(a_heap_malloc_aligned), S(a_heap_malloc_aligned_at), S(a_heap_zalloc_aligned),
  S(a_heap_calloc_aligned), S(a_heap_realloc_aligned_null),
};
// clang-format on

static const size_t bad_alignments[] = {
    0, 3, 5, 6, 12, 24, 48, 100, 1000, 4097, ((size_t)1 << 20) + 16, SIZE_MAX, SIZE_MAX - 1};
#define N_BAD_ALIGN (sizeof bad_alignments / sizeof bad_alignments[0])

static void test_bad_alignment(void) {
  t_section(
      "%zu aligned functions x %zu invalid alignments (0, not a power of two): NULL, errno == "
      "EINVAL",
      sizeof aligned_fns / sizeof aligned_fns[0], N_BAD_ALIGN);
  for (size_t f = 0; f < sizeof aligned_fns / sizeof aligned_fns[0]; f++) {
    for (size_t i = 0; i < N_BAD_ALIGN; i++) {
      volatile size_t al = bad_alignments[i];
      errno = 0;
      void* p = aligned_fns[f].fn(al);
      int e = errno;
      CHECK(p == NULL, "%s(alignment %zu) returned %p", aligned_fns[f].name, (size_t)al, p);
      CHECK(e == EINVAL, "%s(alignment %zu): errno = %d (%s), expected EINVAL", aligned_fns[f].name,
            (size_t)al, e, t_errname(e));
      mi_free(p);
    }
  }

  t_section("mi_realloc_aligned with an invalid alignment: NULL, EINVAL, old block intact");
  for (size_t i = 0; i < N_BAD_ALIGN; i++) {
    volatile size_t al = bad_alignments[i];
    void* p = mi_malloc_aligned(100, 64);
    if (!CHECK_NOT_NULL(p, "mi_malloc_aligned(100, 64) failed")) return;
    t_fill(p, 100, 5);
    errno = 0;
    void* q = mi_realloc_aligned(p, 5000, al);
    int e = errno;
    CHECK(q == NULL, "mi_realloc_aligned(p, 5000, %zu) returned %p", (size_t)al, q);
    CHECK(e == EINVAL, "mi_realloc_aligned(p, 5000, %zu): errno = %d (%s), expected EINVAL",
          (size_t)al, e, t_errname(e));
    if (q == NULL) {
      CHECK_FILL(p, 100, 5);
      mi_free(p);
    } else {
      mi_free(q);
    }
  }

  t_section(
      "mi_posix_memalign: EINVAL (and *p untouched) for 0, non-powers of two and 1, 2, 4 (< "
      "sizeof(void*))");
  static const size_t posix_bad[] = {0, 1, 2, 4, 3, 12, 24, 40, 48, 4097, SIZE_MAX};
  for (size_t i = 0; i < sizeof posix_bad / sizeof posix_bad[0]; i++) {
    volatile size_t al = posix_bad[i];
    if (al == sizeof(void*)) continue;
    void* marker = (void*)&marker;
    void* p = marker;
    errno = 0;
    int rc = mi_posix_memalign(&p, al, 64);
    CHECK(rc == EINVAL, "mi_posix_memalign(&p, %zu, 64) = %d (%s), expected EINVAL", (size_t)al, rc,
          t_errname(rc));
    CHECK(p == marker, "mi_posix_memalign(&p, %zu, 64) changed *p to %p on failure", (size_t)al, p);
    if (rc == 0) mi_free(p);
  }
}

/* ---- free leaves errno alone ---- */
#define FREE_CHECK(call, what)                                                             \
  do {                                                                                     \
    errno = T_ERRNO_SENTINEL;                                                              \
    call;                                                                                  \
    int e_ = errno;                                                                        \
    CHECK(e_ == T_ERRNO_SENTINEL, "%s changed errno to %d (%s)", what, e_, t_errname(e_)); \
  } while (0)

static void* alloc_in_thread(void* arg) {
  void** out = arg;
  static const size_t sizes[] = {16, 3000, 70000, 5 * T_MiB};
  for (int i = 0; i < 4; i++) out[i] = mi_malloc(sizes[i]);
  return NULL;
}

static void test_free_errno(void) {
  t_section("mi_free(NULL) and the free family on every kind of block leave errno unchanged");
  FREE_CHECK(mi_free(NULL), "mi_free(NULL)");
  FREE_CHECK(mi_cfree(NULL), "mi_cfree(NULL)");
  FREE_CHECK(mi_free_size(NULL, 0), "mi_free_size(NULL, 0)");
  FREE_CHECK(mi_free_aligned(NULL, 64), "mi_free_aligned(NULL, 64)");
  static const size_t sizes[] = {0, 8, 1000, 20000, 300000, 5 * T_MiB, 50 * T_MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    t_ctx("size %ju", n, 0, 0);
    void* p = mi_malloc(n);
    void* a = mi_malloc_aligned(n, 4096);
    void* b = mi_malloc_aligned(n, 32 * T_MiB);
    void* c = mi_malloc(n);
    void* d = mi_malloc(n);
    void* z = mi_zalloc(n);
    FREE_CHECK(mi_free(p), "mi_free");
    FREE_CHECK(mi_free_aligned(a, 4096), "mi_free_aligned");
    FREE_CHECK(mi_free(b), "mi_free(32 MiB-aligned block)");
    FREE_CHECK(mi_free_size(c, n), "mi_free_size");
    FREE_CHECK(mi_cfree(d), "mi_cfree");
    FREE_CHECK(mi_free_size_aligned(z, n, 16), "mi_free_size_aligned");
  }
  t_ctx(NULL, 0, 0, 0);

  // Many frees in a row empty pages and segments, which may retire, purge or unmap them.
  enum { MANY = 20000 };
  static void* many[MANY];
  for (int i = 0; i < MANY; i++) many[i] = mi_malloc((size_t)(i % 97) * 24 + 1);
  unsigned long long changed = 0;
  for (int i = 0; i < MANY; i++) {
    errno = T_ERRNO_SENTINEL;
    mi_free(many[i]);
    if (errno != T_ERRNO_SENTINEL) changed++;
  }
  CHECK(changed == 0, "%llu of %d frees of small blocks changed errno", changed, MANY);

  // Frees of blocks that another (now finished) thread allocated are remote frees.
  void* remote[4] = {0};
  pthread_t t;
  if (CHECK(pthread_create(&t, NULL, alloc_in_thread, remote) == 0, "pthread_create failed")) {
    pthread_join(t, NULL);
    for (int i = 0; i < 4; i++)
      FREE_CHECK(mi_free(remote[i]), "mi_free of a block from an exited thread");
  }
  mi_collect(true);
  FREE_CHECK(mi_free(NULL), "mi_free(NULL) after mi_collect");
}

int main(void) {
  t_begin("test-errno", "failing calls: NULL + ENOMEM/EINVAL, old blocks intact, free keeps errno");
  other_heap = mi_heap_new();
  if (!CHECK_NOT_NULL(other_heap, "mi_heap_new failed")) return t_end();
  test_absurd_sizes();
  test_overflow();
  test_failed_realloc();
  test_bad_alignment();
  test_free_errno();
  mi_heap_delete(other_heap);
  return t_end();
}
