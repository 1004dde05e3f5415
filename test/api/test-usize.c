/* test-usize: the mimalloc 2.1+ functions that report the block size as they go — mi_umalloc,
   mi_ucalloc, mi_urealloc, mi_ufree, mi_umalloc_aligned, mi_uzalloc_aligned, mi_umalloc_small,
   mi_uzalloc_small — and the other small 2.1+ additions mi_free_small and mi_heap_zalloc_small.
   The reported size must equal mi_usable_size of the block (and be >= the request); zeroing forms
   return zeros over reused memory; failures give NULL + ENOMEM (absurd size, overflow) or EINVAL
   (bad alignment) like every other allocation function; mi_ufree leaves errno alone. */
#include <mimalloc.h>

#include "testutil.h"

static const size_t sizes[] = {0,    1,    8,     16,     17,        100,       1000,
                               1024, 5000, 70000, 300000, 3 * T_MiB, 40 * T_MiB};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* Dirty, then free, a block of n bytes so the next allocation of that size may reuse it. */
static void dirty(size_t n) {
  void* d = mi_malloc(n);
  if (d != NULL) {
    memset(t_launder(d), 0xAB, mi_usable_size(d));
    mi_free(d);
  }
}

static void test_reported_sizes(void) {
  t_section(
      "mi_umalloc / mi_ucalloc / mi_umalloc_aligned / mi_uzalloc_aligned: size out == "
      "mi_usable_size");
  for (size_t i = 0; i < N_SIZES; i++) {
    size_t n = sizes[i], bs;
    t_ctx("size %ju", n, 0, 0);

    bs = 1;
    void* p = mi_umalloc(n, &bs);
    if (CHECK_NOT_NULL(p, "mi_umalloc(%zu) failed", n)) {
      CHECK_EQ(bs, mi_usable_size(p));
      CHECK_GE(bs, n);
      CHECK_ALIGNED(p, 16);
      t_fill(p, bs, n);
      CHECK_FILL(p, bs, n);
      size_t freed = 1;
      mi_ufree(p, &freed);
      CHECK_EQ(freed, bs);
    }
    void* q = mi_umalloc(n, NULL);  // the size pointer is optional
    if (CHECK_NOT_NULL(q, "mi_umalloc(%zu, NULL) failed", n)) mi_ufree(q, NULL);

    dirty(n);
    bs = 1;
    unsigned char* z = mi_ucalloc(1, n, &bs);
    if (CHECK_NOT_NULL(z, "mi_ucalloc(1, %zu) failed", n)) {
      CHECK_EQ(bs, mi_usable_size(z));
      CHECK_GE(bs, n);
      CHECK_ZERO(z, n);
      mi_free(z);
    }

    static const size_t aligns[] = {16, 64, 4096, 2 * T_MiB};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
      size_t al = aligns[a];
      t_ctx("size %ju, alignment %ju", n, al, 0);
      bs = 1;
      void* pa = mi_umalloc_aligned(n, al, &bs);
      if (CHECK_NOT_NULL(pa, "mi_umalloc_aligned(%zu, %zu) failed", n, al)) {
        CHECK_ALIGNED(pa, al);
        CHECK_EQ(bs, mi_usable_size(pa));
        CHECK_GE(bs, n);
        t_fill(pa, n, 3);
        mi_free(pa);
      }
      dirty(n);
      bs = 1;
      unsigned char* za = mi_uzalloc_aligned(n, al, &bs);
      if (CHECK_NOT_NULL(za, "mi_uzalloc_aligned(%zu, %zu) failed", n, al)) {
        CHECK_ALIGNED(za, al);
        CHECK_EQ(bs, mi_usable_size(za));
        CHECK_GE(bs, n);
        CHECK_ZERO(za, n);
        mi_free(za);
      }
    }
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_small_forms(void) {
  t_section(
      "mi_umalloc_small / mi_uzalloc_small / mi_heap_zalloc_small / mi_free_small for "
      "0..MI_SMALL_SIZE_MAX");
  for (size_t n = 0; n <= MI_SMALL_SIZE_MAX; n++) {
    t_ctx("size %ju", n, 0, 0);
    size_t bs = 1;
    void* p = mi_umalloc_small(n, &bs);
    if (CHECK_NOT_NULL(p, "mi_umalloc_small(%zu) failed", n)) {
      CHECK_EQ(bs, mi_usable_size(p));
      CHECK_GE(bs, n);
      t_fill(p, bs, 1);
      mi_free_small(p);
    }
    bs = 1;
    unsigned char* z = mi_uzalloc_small(n, &bs);
    if (CHECK_NOT_NULL(z, "mi_uzalloc_small(%zu) failed", n)) {
      CHECK_EQ(bs, mi_usable_size(z));
      CHECK_GE(bs, n);
      CHECK_ZERO(z, n);
      memset(z, 0xAB, bs);
      mi_free_small(z);
    }
    unsigned char* h = mi_heap_zalloc_small(mi_heap_get_default(), n);
    if (CHECK_NOT_NULL(h, "mi_heap_zalloc_small(%zu) failed", n)) {
      CHECK_GE(mi_usable_size(h), n);
      CHECK_ZERO(h, n);
      memset(h, 0xAB, mi_usable_size(h));
      mi_free(h);
    }
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_urealloc(void) {
  t_section("mi_urealloc reports the usable size before and after and keeps the content");
  size_t pre = 1, post = 1;
  void* p = mi_urealloc(NULL, 10, &pre, &post);
  if (!CHECK_NOT_NULL(p, "mi_urealloc(NULL, 10) failed")) return;
  CHECK_EQ(pre, 0);
  CHECK_EQ(post, mi_usable_size(p));
  size_t cur = 10;
  t_fill(p, cur, 4);
  static const size_t steps[] = {100, 5000, 300000, 5 * T_MiB, 1000, 24};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    size_t next = steps[i];
    size_t before = mi_usable_size(p);
    t_ctx("mi_urealloc %ju -> %ju", cur, next, 0);
    void* q = mi_urealloc(p, next, &pre, &post);
    if (!CHECK_NOT_NULL(q, "mi_urealloc(p, %zu) failed", next)) break;
    CHECK_EQ(pre, before);
    CHECK_EQ(post, mi_usable_size(q));
    CHECK_GE(post, next);
    CHECK_FILL(q, cur < next ? cur : next, 4);
    t_fill(q, next, 4);
    p = q;
    cur = next;
  }
  t_ctx(NULL, 0, 0, 0);
  mi_free(p);
}

/* Calls `call` (an expression yielding a pointer) with errno cleared; checks NULL and errno. */
#define EXPECT_FAIL(call, want)                                                          \
  do {                                                                                   \
    errno = 0;                                                                           \
    void* r_ = (call);                                                                   \
    int e_ = errno;                                                                      \
    CHECK_AS(r_ == NULL, #call " == NULL", "got %p", r_);                                \
    CHECK_AS(e_ == (want), #call ": errno == " #want, "got %d (%s)", e_, t_errname(e_)); \
    if (r_ != NULL) mi_free(r_);                                                         \
  } while (0)

/* Frees p with errno set to the sentinel; errno must come back unchanged. */
#define EXPECT_ERRNO_KEPT(call)                                                        \
  do {                                                                                 \
    errno = T_ERRNO_SENTINEL;                                                          \
    call;                                                                              \
    int e_ = errno;                                                                    \
    CHECK_AS(e_ == T_ERRNO_SENTINEL, #call " keeps errno", "errno became %d (%s)", e_, \
             t_errname(e_));                                                           \
  } while (0)

static void test_failures(void) {
  t_section("u-forms fail with NULL + ENOMEM (absurd size, overflow) or EINVAL (bad alignment)");
  static const size_t absurd[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
  for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
    volatile size_t n = absurd[i];
    size_t bs;
    t_ctx("size %ju", n, 0, 0);
    EXPECT_FAIL(mi_umalloc(n, &bs), ENOMEM);
    EXPECT_FAIL(mi_ucalloc(1, n, &bs), ENOMEM);
    EXPECT_FAIL(mi_ucalloc(n, 3, &bs), ENOMEM);  // count x size overflows
    EXPECT_FAIL(mi_umalloc_aligned(n, 64, &bs), ENOMEM);
    EXPECT_FAIL(mi_uzalloc_aligned(n, 64, &bs), ENOMEM);
    void* b = mi_malloc(100);
    if (CHECK_NOT_NULL(b, "mi_malloc(100) failed")) {
      t_fill(b, 100, 6);
      size_t pre, post;
      errno = 0;
      void* r = mi_urealloc(b, n, &pre, &post);
      int e = errno;
      CHECK_NULL(r);
      CHECK_ERRNO(e, ENOMEM);
      if (r == NULL) CHECK_FILL(b, 100, 6);
      mi_free(r == NULL ? b : r);
    }
  }
  static const size_t bad_align[] = {0, 3, 24, 1000};
  for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
    volatile size_t al = bad_align[i];
    size_t bs;
    t_ctx("alignment %ju", al, 0, 0);
    EXPECT_FAIL(mi_umalloc_aligned(16, al, &bs), EINVAL);
    EXPECT_FAIL(mi_uzalloc_aligned(16, al, &bs), EINVAL);
  }
  t_ctx(NULL, 0, 0, 0);

  t_section("mi_ufree and mi_free_small leave errno unchanged");
  size_t bs = 1;
  void* p = mi_umalloc(3 * T_MiB, &bs);
  void* q = mi_umalloc_small(100, &bs);
  EXPECT_ERRNO_KEPT(mi_ufree(p, &bs));
  EXPECT_ERRNO_KEPT(mi_ufree(NULL, &bs));
  EXPECT_ERRNO_KEPT(mi_free_small(q));
  EXPECT_ERRNO_KEPT(mi_free_small(NULL));
}

int main(void) {
  t_begin("test-usize", "mi_u* size-reporting forms, mi_free_small, mi_heap_zalloc_small");
  test_reported_sizes();
  test_small_forms();
  test_urealloc();
  test_failures();
  return t_end();
}
