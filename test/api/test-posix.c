/* test-posix: the POSIX/BSD/Windows-style mi_ equivalents (success paths; the failure paths are in
   test-errno): mi_reallocarray, mi_reallocarr, mi_malloc_size, mi_malloc_usable_size,
   mi_malloc_good_size, mi_free_size, mi_free_aligned, mi_free_size_aligned, mi_cfree, mi__expand,
   mi_wcsdup, mi_mbsdup, mi_dupenv_s. */
#include <mimalloc.h>

#include "testutil.h"

static void test_sizes(void) {
  t_section(
      "mi_malloc_size == mi_malloc_usable_size == mi_usable_size; mi_malloc_good_size == "
      "mi_good_size");
  static const size_t sizes[] = {0, 1, 16, 17, 100, 1000, 5000, 65536, 300000, 5 * T_MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    t_ctx("size %ju", n, 0, 0);
    void* p = mi_malloc(n);
    if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", n)) continue;
    CHECK_GE(mi_usable_size(p), n);
    CHECK_EQ(mi_malloc_size(p), mi_usable_size(p));
    CHECK_EQ(mi_malloc_usable_size(p), mi_usable_size(p));
    CHECK_EQ(mi_malloc_good_size(n), mi_good_size(n));
    mi_free(p);
  }
  t_ctx(NULL, 0, 0, 0);
  CHECK_EQ(mi_malloc_size(NULL), 0);
  CHECK_EQ(mi_malloc_usable_size(NULL), 0);
}

static void test_reallocarray(void) {
  t_section("mi_reallocarray grows/shrinks count x size keeping content; NULL acts as malloc");
  void* p = mi_reallocarray(NULL, 10, 8);
  if (!CHECK_NOT_NULL(p, "mi_reallocarray(NULL, 10, 8) failed")) return;
  CHECK_GE(mi_usable_size(p), 80);
  t_fill(p, 80, 21);
  size_t cur = 80;
  static const size_t counts[] = {1000, 100000, 5, 700};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    size_t next = counts[i] * 8;
    t_ctx("mi_reallocarray to %ju x 8", counts[i], 0, 0);
    void* q = mi_reallocarray(p, counts[i], 8);
    if (!CHECK_NOT_NULL(q, "mi_reallocarray(p, %zu, 8) failed", counts[i])) break;
    CHECK_GE(mi_usable_size(q), next);
    CHECK_FILL(q, cur < next ? cur : next, 21);
    t_fill(q, next, 21);
    p = q;
    cur = next;
  }
  t_ctx(NULL, 0, 0, 0);
  mi_free(p);

  t_section("mi_reallocarr returns 0 and updates the pointer; starts from NULL");
  void* a = NULL;
  int rc = mi_reallocarr(&a, 16, 4);
  CHECK_ERRNO(rc, 0);
  if (!CHECK_NOT_NULL(a, "mi_reallocarr(&NULL, 16, 4) left NULL")) return;
  CHECK_GE(mi_usable_size(a), 64);
  t_fill(a, 64, 22);
  rc = mi_reallocarr(&a, 50000, 4);
  CHECK_ERRNO(rc, 0);
  if (CHECK_NOT_NULL(a, "mi_reallocarr(&a, 50000, 4) left NULL")) {
    CHECK_GE(mi_usable_size(a), 200000);
    CHECK_FILL(a, 64, 22);
  }
  mi_free(a);
}

static bool count_live(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                       size_t block_size, void* arg) {
  (void)heap, (void)area, (void)block_size;
  if (block != NULL) (*(size_t*)arg)++;
  return true;
}

static void test_frees(void) {
  t_section(
      "mi_free_size, mi_free_aligned, mi_free_size_aligned, mi_cfree really free (heap walk finds "
      "0 live)");
  static const size_t sizes[] = {1, 48, 1000, 20000, 200000, 3 * T_MiB};
  enum { ROUNDS = 50 };
  mi_heap_t* h = mi_heap_new();
  if (!CHECK_NOT_NULL(h, "mi_heap_new failed")) return;
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      t_ctx("size %ju, round %ju", n, (uintmax_t)r, 0);
      void* a = mi_heap_malloc(h, n);
      void* b = mi_heap_malloc_aligned(h, n, 128);
      void* c = mi_heap_malloc_aligned(h, n, 4096);
      void* d = mi_heap_malloc(h, n);
      if (!CHECK(a && b && c && d, "allocation of %zu failed", n)) {
        mi_free(a), mi_free(b), mi_free(c), mi_free(d);
        continue;
      }
      t_fill(a, n, 1), t_fill(b, n, 2), t_fill(c, n, 3), t_fill(d, n, 4);
      CHECK_FILL(a, n, 1);
      CHECK_FILL(b, n, 2);
      CHECK_FILL(c, n, 3);
      CHECK_FILL(d, n, 4);
      mi_free_size(a, n);
      mi_free_aligned(b, 128);
      mi_free_size_aligned(c, n, 4096);
      mi_cfree(d);
    }
  }
  t_ctx(NULL, 0, 0, 0);
  mi_cfree(NULL);
  size_t live = 0;
  CHECK(mi_heap_visit_blocks(h, true, count_live, &live), "mi_heap_visit_blocks stopped early");
  CHECK_EQ(live, 0);
  mi_heap_delete(h);
}

static void test_underscore_expand(void) {
  t_section("mi__expand: NULL (with ENOMEM) or the same pointer with usable size >= the new size");
  void* p = mi_malloc(100);
  if (!CHECK_NOT_NULL(p, "mi_malloc(100) failed")) return;
  t_fill(p, 100, 8);
  size_t targets[] = {50, 100, mi_usable_size(p), 5000, 100000};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    t_ctx("mi__expand to %ju", targets[i], 0, 0);
    errno = 0;
    void* q = mi__expand(p, targets[i]);
    int e = errno;
    if (q != NULL) {
      CHECK(t_addr(q) == t_addr(p), "mi__expand moved the block %p -> %p", p, q);
      CHECK_GE(mi_usable_size(p), targets[i]);
    } else {
      CHECK_ERRNO(e, ENOMEM);
    }
    CHECK_FILL(p, 50, 8);
  }
  t_ctx(NULL, 0, 0, 0);
  mi_free(p);
}

static void test_string_dups(void) {
  t_section("mi_wcsdup, mi_mbsdup copy their strings into mi_ blocks");
  /* mimalloc 2.x declares mi_wcsdup on `unsigned short` (Windows wchar_t), the reference text on
     wchar_t: take the unit type from the header so the test builds against either. */
  typedef __typeof__(*mi_wcsdup(NULL)) wunit_t;
  static const wunit_t w0[] = {0}, w1[] = {'w', 0},
                       w2[] = {'w', 'i', 'd', 'e', ' ', 0xE9, 0x4E2D, 0};
  const wunit_t* ws[] = {w0, w1, w2};
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
    size_t len = 0;
    while (ws[i][len] != 0) len++;
    wunit_t* d = mi_wcsdup(ws[i]);
    if (CHECK_NOT_NULL(d, "mi_wcsdup failed")) {
      CHECK(memcmp(d, ws[i], (len + 1) * sizeof(wunit_t)) == 0,
            "mi_wcsdup copy differs (string %zu)", i);
      CHECK_GE(mi_usable_size(d), (len + 1) * sizeof(wunit_t));
      CHECK_ALIGNED(d, sizeof(wunit_t));
      mi_free(d);
    }
  }
  const unsigned char* ms[] = {(const unsigned char*)"", (const unsigned char*)"m",
                               (const unsigned char*)"multi\xc3\xa9 byte"};
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
    unsigned char* d = mi_mbsdup(ms[i]);
    if (CHECK_NOT_NULL(d, "mi_mbsdup failed")) {
      CHECK(strcmp((const char*)d, (const char*)ms[i]) == 0, "mi_mbsdup copy differs (string %zu)",
            i);
      CHECK_GE(mi_usable_size(d), strlen((const char*)ms[i]) + 1);
      mi_free(d);
    }
  }
}

static void test_dupenv(void) {
  t_section("mi_dupenv_s: copies a variable, NULL for a missing one, EINVAL for NULL arguments");
  const char* value = "shardalloc test value";
  setenv("SHARDALLOC_TEST_DUPENV", value, 1);
  char* buf = (char*)&buf;
  size_t size = 12345;
  int rc = mi_dupenv_s(&buf, &size, "SHARDALLOC_TEST_DUPENV");
  CHECK_ERRNO(rc, 0);
  if (CHECK_NOT_NULL(buf, "mi_dupenv_s left NULL for a set variable")) {
    CHECK(strcmp(buf, value) == 0, "mi_dupenv_s copied '%s'", buf);
    /* Microsoft's _dupenv_s reports the buffer size (strlen + 1); mimalloc 2.x reports strlen.
       Either is accepted: callers use the string, and both bound it. */
    CHECK(size == strlen(value) + 1 || size == strlen(value), "size = %zu for a %zu-byte value",
          size, strlen(value));
    CHECK_GE(mi_usable_size(buf), strlen(value) + 1);
    mi_free(buf);
  }
  buf = (char*)&buf;
  size = 12345;
  rc = mi_dupenv_s(&buf, &size, "SHARDALLOC_TEST_NO_SUCH_VARIABLE");
  CHECK_ERRNO(rc, 0);
  CHECK_NULL(buf);
  CHECK_EQ(size, 0);
  rc = mi_dupenv_s(NULL, &size, "SHARDALLOC_TEST_DUPENV");
  CHECK_ERRNO(rc, EINVAL);
  buf = NULL;
  rc = mi_dupenv_s(&buf, NULL, NULL);
  CHECK_ERRNO(rc, EINVAL);
}

int main(void) {
  t_begin("test-posix", "POSIX/BSD/Windows-style mi_ equivalents (success paths)");
  test_sizes();
  test_reallocarray();
  test_frees();
  test_underscore_expand();
  test_string_dups();
  test_dupenv();
  return t_end();
}
