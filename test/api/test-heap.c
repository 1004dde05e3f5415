/* test-heap: the heap forms of the API on the default heap (mi_heap_get_default), ownership
   queries (mi_heap_contains_block, mi_check_owned, mi_is_in_heap_region) for our blocks and for
   memory that is not ours (stack, static data, a private mmap), a second heap's blocks, and the
   small process-level API: mi_version, mi_option_get/set/enable/disable/get_clamp/set_default. */
#include <mimalloc.h>
#include <sys/mman.h>

#include "testutil.h"

static char static_area[4096];

/* Checks that p is a live block of at least n bytes owned by the default heap, fills it, verifies
   the fill and frees it. (Offsets used with _at below keep p word-aligned: mimalloc's ownership
   test rejects pointers that are not, and this file tests ownership, not odd offsets.) */
static void check_default_block(void* p, size_t n, const char* what) {
  mi_heap_t* def = mi_heap_get_default();
  if (!CHECK_NOT_NULL(p, "%s returned NULL", what)) return;
  CHECK(mi_usable_size(p) >= n, "%s: usable %zu < %zu", what, mi_usable_size(p), n);
  CHECK(mi_heap_contains_block(def, p), "%s: %p not in the default heap", what, p);
  CHECK(mi_check_owned(p), "%s: mi_check_owned(%p) is false", what, p);
  CHECK(mi_is_in_heap_region(p), "%s: mi_is_in_heap_region(%p) is false", what, p);
  t_fill(p, n, n);
  CHECK_FILL(p, n, n);
  mi_free(p);
}

static void test_default_heap_forms(void) {
  mi_heap_t* h = mi_heap_get_default();
  t_section("mi_heap_get_default() is non-NULL and is the backing heap of the main thread");
  CHECK_NOT_NULL(h, "mi_heap_get_default() returned NULL");
  CHECK(t_addr(h) == t_addr(mi_heap_get_backing()), "default %p != backing %p", (void*)h,
        (void*)mi_heap_get_backing());

  t_section("every mi_heap_* allocation form on the default heap");
  static const size_t sizes[] = {0, 1, 100, 1024, 5000, 70000, 2 * T_MiB, 40 * T_MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    t_ctx("size %ju", n, 0, 0);
    check_default_block(mi_heap_malloc(h, n), n, "mi_heap_malloc");
    unsigned char* z = mi_heap_zalloc(h, n);
    if (z != NULL) CHECK_ZERO(z, n);
    check_default_block(z, n, "mi_heap_zalloc");
    unsigned char* c = mi_heap_calloc(h, 1, n);
    if (c != NULL) CHECK_ZERO(c, n);
    check_default_block(c, n, "mi_heap_calloc");
    check_default_block(mi_heap_mallocn(h, 2, n), 2 * n, "mi_heap_mallocn");
    if (n <= MI_SMALL_SIZE_MAX) {
      check_default_block(mi_heap_malloc_small(h, n), n, "mi_heap_malloc_small");
    }
    void* a = mi_heap_malloc_aligned(h, n, 256);
    if (a != NULL) CHECK_ALIGNED(a, 256);
    check_default_block(a, n, "mi_heap_malloc_aligned");
    void* at = mi_heap_malloc_aligned_at(h, n, 256, 8);
    if (at != NULL)
      CHECK((t_addr(at) + 8) % 256 == 0, "mi_heap_malloc_aligned_at: %p + 8 not aligned", at);
    check_default_block(at, n, "mi_heap_malloc_aligned_at");
    unsigned char* za = mi_heap_zalloc_aligned(h, n, 64);
    if (za != NULL) {
      CHECK_ZERO(za, n);
      CHECK_ALIGNED(za, 64);
    }
    check_default_block(za, n, "mi_heap_zalloc_aligned");
    unsigned char* zat = mi_heap_zalloc_aligned_at(h, n, 64, 16);
    if (zat != NULL) CHECK_ZERO(zat, n);
    check_default_block(zat, n, "mi_heap_zalloc_aligned_at");
    unsigned char* ca = mi_heap_calloc_aligned(h, 1, n, 4096);
    if (ca != NULL) {
      CHECK_ZERO(ca, n);
      CHECK_ALIGNED(ca, 4096);
    }
    check_default_block(ca, n, "mi_heap_calloc_aligned");
    unsigned char* cat = mi_heap_calloc_aligned_at(h, 1, n, 4096, 96);
    if (cat != NULL) CHECK_ZERO(cat, n);
    check_default_block(cat, n, "mi_heap_calloc_aligned_at");
  }
  t_ctx(NULL, 0, 0, 0);

  t_section(
      "mi_heap_realloc / reallocn / reallocf / realloc_aligned[_at] / rezalloc / recalloc on the "
      "default heap");
  void* p = mi_heap_malloc(h, 10);
  size_t cur = 10;
  if (!CHECK_NOT_NULL(p, "mi_heap_malloc failed")) return;
  t_fill(p, cur, 9);
  static const size_t grow[] = {100, 5000, 300000, 70, 3 * T_MiB};
  for (size_t i = 0; i < sizeof grow / sizeof grow[0] && p != NULL; i++) {
    size_t n = grow[i];
    t_ctx("heap realloc forms, to size %ju", n, 0, 0);
    void* q;
    switch (i % 5) {
      case 0: q = mi_heap_realloc(h, p, n); break;
      case 1: q = mi_heap_reallocn(h, p, n / 4, 4); break;
      case 2: q = mi_heap_reallocf(h, p, n); break;
      case 3: q = mi_heap_realloc_aligned(h, p, n, 128); break;
      default: q = mi_heap_realloc_aligned_at(h, p, n, 128, 16); break;
    }
    if (!CHECK_NOT_NULL(q, "heap realloc form %zu to %zu failed", i % 5, n)) {
      if (i % 5 != 2) mi_free(p);
      p = NULL;
      break;
    }
    CHECK_FILL(q, cur < n ? cur : n, 9);
    CHECK(mi_heap_contains_block(h, q), "reallocated block %p not in the default heap", q);
    t_fill(q, n, 9);
    p = q;
    cur = n;
  }
  mi_free(p);
  t_ctx(NULL, 0, 0, 0);

  unsigned char* rz = mi_heap_zalloc(h, 40);
  if (CHECK_NOT_NULL(rz, "mi_heap_zalloc failed")) {
    memset(rz, 1, 40);
    unsigned char* g = mi_heap_rezalloc(h, rz, 4000);
    if (CHECK_NOT_NULL(g, "mi_heap_rezalloc failed")) {
      CHECK(t_find_not(g, 40, 1) == SIZE_MAX, "mi_heap_rezalloc lost the content");
      CHECK_ZERO(g + 40, 4000 - 40);
      unsigned char* g2 = mi_heap_recalloc(h, g, 2000, 4);
      if (CHECK_NOT_NULL(g2, "mi_heap_recalloc failed")) {
        CHECK(t_find_not(g2, 40, 1) == SIZE_MAX, "mi_heap_recalloc lost the content");
        CHECK_ZERO(g2 + 40, 8000 - 40);
        g = g2;
      }
      unsigned char* g3 = mi_heap_rezalloc_aligned(h, g, 20000, 256);
      if (CHECK_NOT_NULL(g3, "mi_heap_rezalloc_aligned failed")) {
        CHECK_ALIGNED(g3, 256);
        CHECK(t_find_not(g3, 40, 1) == SIZE_MAX, "mi_heap_rezalloc_aligned lost the content");
        CHECK_ZERO(g3 + 40, 20000 - 40);
        g = g3;
      }
      unsigned char* g4 = mi_heap_recalloc_aligned_at(h, g, 10000, 4, 256, 32);
      if (CHECK_NOT_NULL(g4, "mi_heap_recalloc_aligned_at failed")) {
        CHECK((t_addr(g4) + 32) % 256 == 0, "mi_heap_recalloc_aligned_at misaligned %p", (void*)g4);
        CHECK(t_find_not(g4, 40, 1) == SIZE_MAX, "mi_heap_recalloc_aligned_at lost the content");
        CHECK_ZERO(g4 + 40, 40000 - 40);
        g = g4;
      }
      mi_free(g);
    }
  }

  t_section("mi_heap_strdup / strndup / realpath on the default heap");
  char* s = mi_heap_strdup(h, "heap string");
  if (CHECK_NOT_NULL(s, "mi_heap_strdup failed"))
    CHECK(strcmp(s, "heap string") == 0, "copy '%s'", s);
  check_default_block(s, 12, "mi_heap_strdup");
  s = mi_heap_strndup(h, "heap string", 4);
  if (CHECK_NOT_NULL(s, "mi_heap_strndup failed")) CHECK(strcmp(s, "heap") == 0, "copy '%s'", s);
  check_default_block(s, 5, "mi_heap_strndup");
  s = mi_heap_realpath(h, "/", NULL);
  if (CHECK_NOT_NULL(s, "mi_heap_realpath failed")) CHECK(strcmp(s, "/") == 0, "realpath '%s'", s);
  check_default_block(s, 2, "mi_heap_realpath");
}

static void test_ownership(void) {
  t_section("ownership queries are false for memory that is not ours");
  mi_heap_t* def = mi_heap_get_default();
  int local = 0;
  void* map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* foreign[] = {&local, static_area, map == MAP_FAILED ? static_area : map,
                     map == MAP_FAILED ? static_area : (char*)map + (1 << 19)};
  const char* names[] = {"a stack variable", "static data", "a private mmap",
                         "the middle of a private mmap"};
  for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
    CHECK(!mi_is_in_heap_region(foreign[i]), "mi_is_in_heap_region(%s) is true", names[i]);
    CHECK(!mi_check_owned(foreign[i]), "mi_check_owned(%s) is true", names[i]);
    CHECK(!mi_heap_check_owned(def, foreign[i]), "mi_heap_check_owned(default, %s) is true",
          names[i]);
    // Not mi_heap_contains_block: its contract takes a block of some heap, not any pointer.
  }
  CHECK(!mi_is_in_heap_region(NULL), "mi_is_in_heap_region(NULL) is true");
  CHECK(!mi_heap_contains_block(def, NULL), "mi_heap_contains_block(default, NULL) is true");
  if (map != MAP_FAILED) munmap(map, 1 << 20);

  t_section("a second heap owns its blocks; the default heap does not");
  mi_heap_t* other = mi_heap_new();
  if (!CHECK_NOT_NULL(other, "mi_heap_new failed")) return;
  static const size_t sizes[] = {8, 500, 9000, 100000, 5 * T_MiB};
  void* mine[5];
  void* theirs[5];
  for (int i = 0; i < 5; i++) {
    mine[i] = mi_malloc(sizes[i]);
    theirs[i] = mi_heap_malloc(other, sizes[i]);
    if (!CHECK(mine[i] != NULL && theirs[i] != NULL, "allocation of %zu failed", sizes[i])) return;
  }
  for (int i = 0; i < 5; i++) {
    t_ctx("size %ju", sizes[i], 0, 0);
    CHECK(mi_heap_contains_block(def, mine[i]), "default heap does not contain its own block");
    CHECK(mi_heap_contains_block(other, theirs[i]), "second heap does not contain its own block");
    CHECK(!mi_heap_contains_block(other, mine[i]), "second heap claims a default-heap block");
    CHECK(!mi_heap_contains_block(def, theirs[i]), "default heap claims a second-heap block");
    CHECK(mi_heap_check_owned(other, theirs[i]), "mi_heap_check_owned(second heap) is false");
    CHECK(mi_is_in_heap_region(theirs[i]), "mi_is_in_heap_region(second-heap block) is false");
  }
  t_ctx(NULL, 0, 0, 0);
  for (int i = 0; i < 5; i++) mi_free(mine[i]), mi_free(theirs[i]);
  mi_heap_delete(other);
}

static void test_options_version(void) {
  t_section("mi_version() == MI_MALLOC_VERSION (%d)", MI_MALLOC_VERSION);
  CHECK_EQ(mi_version(), MI_MALLOC_VERSION);

  t_section("mi_option_set / get / enable / disable / is_enabled / get_clamp / set_default");
  static const mi_option_t opts[] = {mi_option_show_errors,        mi_option_verbose,
                                     mi_option_max_errors,         mi_option_max_warnings,
                                     mi_option_eager_commit_delay, mi_option_use_numa_nodes};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    mi_option_t o = opts[i];
    t_ctx("option %ju", (uintmax_t)o, 0, 0);
    long old = mi_option_get(o);
    mi_option_set(o, 7);
    CHECK_EQ(mi_option_get(o), 7);
    CHECK(mi_option_is_enabled(o), "option set to 7 is not enabled");
    CHECK_EQ(mi_option_get_clamp(o, 0, 5), 5);
    CHECK_EQ(mi_option_get_clamp(o, 10, 20), 10);
    CHECK_EQ(mi_option_get_clamp(o, 0, 100), 7);
    mi_option_set_default(o, 3);  // explicitly set already: the default must not win
    CHECK_EQ(mi_option_get(o), 7);
    mi_option_disable(o);
    CHECK(!mi_option_is_enabled(o), "option still enabled after mi_option_disable");
    CHECK_EQ(mi_option_get(o), 0);
    mi_option_enable(o);
    CHECK(mi_option_is_enabled(o), "option not enabled after mi_option_enable");
    mi_option_set_enabled(o, false);
    CHECK(!mi_option_is_enabled(o), "option enabled after mi_option_set_enabled(false)");
    mi_option_set(o, old);
    CHECK_EQ(mi_option_get(o), old);
  }
  t_ctx(NULL, 0, 0, 0);
  // The allocator keeps working with options changed at run time.
  mi_option_set(mi_option_show_errors, 0);
  void* p = mi_malloc(100);
  CHECK_NOT_NULL(p, "mi_malloc after option changes failed");
  mi_free(p);
}

int main(void) {
  t_begin("test-heap", "default-heap API, ownership queries, options and version");
  test_default_heap_forms();
  test_ownership();
  test_options_version();
  return t_end();
}
