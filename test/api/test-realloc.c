/* test-realloc: content is preserved by mi_realloc (and mi_reallocn, mi_reallocf) across growth and
   shrink through small, medium, large and huge sizes and back, both when the block stays in place
   and when it moves; realloc(NULL, n) and realloc(p, 0); and the zeroing reallocations
   (mi_rezalloc, mi_recalloc and their aligned[_at] forms) return a zeroed tail on growth, also when
   the memory they land on was used and dirtied before. */
#include <mimalloc.h>

#include "testutil.h"

static unsigned long long in_place, moved;

/* One realloc step: checks the result and the preserved prefix, then extends the pattern. */
static void* realloc_step(void* p, size_t old, size_t next, uint64_t seed) {
  t_ctx("mi_realloc %ju -> %ju", old, next, 0);
  uintptr_t before = t_addr(p);
  void* q = mi_realloc(p, next);
  if (!CHECK_NOT_NULL(q, "mi_realloc(%p, %zu) failed (old size %zu)", p, next, old)) {
    mi_free(p);
    return NULL;
  }
  if (t_addr(q) == before)
    in_place++;
  else
    moved++;
  CHECK_GE(mi_usable_size(q), next);
  CHECK_ALIGNED(q, 16);
  CHECK_FILL(q, old < next ? old : next, seed);
  t_fill(q, next, seed);
  return q;
}

static void test_chain(void) {
  static const size_t chain[] = {1,           8,          24,        100,   1000,      5000,
                                 20000,       70000,      300000,    T_MiB, 5 * T_MiB, 40 * T_MiB,
                                 100 * T_MiB, 40 * T_MiB, 5 * T_MiB, T_MiB, 300000,    70000,
                                 20000,       1000,       100,       8,     1};
  size_t n = sizeof chain / sizeof chain[0];
  t_section("mi_realloc through %zu sizes 1 B -> 100 MiB -> 1 B, content kept", n);
  void* p = mi_malloc(chain[0]);
  if (!CHECK_NOT_NULL(p, "mi_malloc(1) failed")) return;
  t_fill(p, chain[0], 1);
  for (size_t i = 1; i < n && p != NULL; i++) p = realloc_step(p, chain[i - 1], chain[i], 1);
  mi_free(p);
}

/* Four buffers growing in turn by small steps (the realloc-grow pattern), then shrinking: some
   steps fit in place, others must move because a neighbour took the space. */
static void test_small_steps(void) {
  enum { BUFS = 4 };
  size_t top = t_scaled(3 * T_MiB, T_MiB);
  t_section("4 interleaved buffers grow by ~6%% steps to %zu bytes and shrink back", top);
  void* b[BUFS];
  size_t sz[BUFS];
  for (int i = 0; i < BUFS; i++) {
    sz[i] = 1;
    b[i] = mi_malloc(1);
    if (!CHECK_NOT_NULL(b[i], "mi_malloc(1) failed")) return;
    t_fill(b[i], 1, 100 + (uint64_t)i);
  }
  for (int dir = 0; dir < 2; dir++) {
    bool more = true;
    while (more) {
      more = false;
      for (int i = 0; i < BUFS; i++) {
        size_t next = dir == 0 ? sz[i] + sz[i] / 16 + 1 + (size_t)i : sz[i] - sz[i] / 16 - 1;
        if ((dir == 0 && next > top) || (dir == 1 && (sz[i] <= 16 || next < 1))) continue;
        more = true;
        b[i] = realloc_step(b[i], sz[i], next, 100 + (uint64_t)i);
        if (b[i] == NULL) return;
        sz[i] = next;
      }
    }
  }
  for (int i = 0; i < BUFS; i++) {
    CHECK_FILL(b[i], sz[i], 100 + (uint64_t)i);
    mi_free(b[i]);
  }
}

static void test_edges(void) {
  t_section("mi_realloc(NULL, n) allocates; mi_realloc(p, 0) frees p and returns a minimal block");
  static const size_t sizes[] = {0, 1, 100, 5000, 100000, 3 * T_MiB, 40 * T_MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    t_ctx("size %ju", n, 0, 0);
    void* p = mi_realloc(NULL, n);
    if (!CHECK_NOT_NULL(p, "mi_realloc(NULL, %zu) failed", n)) continue;
    CHECK_GE(mi_usable_size(p), n);
    t_fill(p, n, 5);
    void* z = mi_realloc(p, 0);
    if (CHECK_NOT_NULL(z, "mi_realloc(p, 0) returned NULL (shardalloc returns a minimal block)")) {
      CHECK_ALIGNED(z, 16);
      mi_free(z);
    }
  }
  t_ctx(NULL, 0, 0, 0);

  t_section("mi_realloc to the same size and to usable size keeps the content");
  void* p = mi_malloc(1000);
  if (CHECK_NOT_NULL(p, "mi_malloc(1000) failed")) {
    t_fill(p, 1000, 77);
    p = realloc_step(p, 1000, 1000, 77);
    if (p != NULL) p = realloc_step(p, 1000, mi_usable_size(p), 77);
    mi_free(p);
  }
}

static void test_reallocn_reallocf(void) {
  t_section("mi_reallocn(p, count, size) and mi_reallocf (success path) keep the content");
  void* p = mi_mallocn(10, 16);
  if (!CHECK_NOT_NULL(p, "mi_mallocn(10, 16) failed")) return;
  t_fill(p, 160, 3);
  static const size_t counts[] = {100, 10000, 3, 70000, 1};
  size_t cur = 160;
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    size_t next = counts[i] * 16;
    t_ctx("mi_reallocn to %ju x 16", counts[i], 0, 0);
    void* q = mi_reallocn(p, counts[i], 16);
    if (!CHECK_NOT_NULL(q, "mi_reallocn(p, %zu, 16) failed", counts[i])) {
      mi_free(p);
      return;
    }
    CHECK_GE(mi_usable_size(q), next);
    CHECK_FILL(q, cur < next ? cur : next, 3);
    t_fill(q, next, 3);
    p = q;
    cur = next;
  }
  static const size_t sizes[] = {50000, 200, 3 * T_MiB, 64};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t next = sizes[i];
    t_ctx("mi_reallocf to %ju", next, 0, 0);
    void* q = mi_reallocf(p, next);
    if (!CHECK_NOT_NULL(q, "mi_reallocf(p, %zu) failed", next)) return;  // p is gone either way
    CHECK_GE(mi_usable_size(q), next);
    CHECK_FILL(q, cur < next ? cur : next, 3);
    t_fill(q, next, 3);
    p = q;
    cur = next;
  }
  t_ctx(NULL, 0, 0, 0);
  mi_free(p);
}

/* Leaves a freed, 0xAB-filled block of about `n` bytes behind, so that the next allocation of that
   size is likely to land on dirty memory. */
static void dirty(size_t n) {
  void* d = mi_malloc(n);
  if (d != NULL) {
    memset(t_launder(d), 0xAB, mi_usable_size(d));
    mi_free(d);
  }
}

typedef enum {
  Z_REZALLOC,
  Z_RECALLOC,
  Z_REZALLOC_ALIGNED,
  Z_REZALLOC_ALIGNED_AT,
  Z_RECALLOC_ALIGNED,
  Z_RECALLOC_ALIGNED_AT,
  Z_KINDS
} zkind_t;
static const char* zkind_name[Z_KINDS] = {"mi_rezalloc",         "mi_recalloc",
                                          "mi_rezalloc_aligned", "mi_rezalloc_aligned_at",
                                          "mi_recalloc_aligned", "mi_recalloc_aligned_at"};
#define Z_ALIGN 64
#define Z_OFFSET 16

static void* zre(zkind_t k, void* p, size_t n) {
  switch (k) {
    case Z_REZALLOC: return mi_rezalloc(p, n);
    case Z_RECALLOC: return mi_recalloc(p, n / 4, 4);
    case Z_REZALLOC_ALIGNED: return mi_rezalloc_aligned(p, n, Z_ALIGN);
    case Z_REZALLOC_ALIGNED_AT: return mi_rezalloc_aligned_at(p, n, Z_ALIGN, Z_OFFSET);
    case Z_RECALLOC_ALIGNED: return mi_recalloc_aligned(p, n / 4, 4, Z_ALIGN);
    default: return mi_recalloc_aligned_at(p, n / 4, 4, Z_ALIGN, Z_OFFSET);
  }
}
static void* zfirst(zkind_t k, size_t n) {
  switch (k) {
    case Z_REZALLOC: return mi_zalloc(n);
    case Z_RECALLOC: return mi_calloc(n / 4, 4);
    case Z_REZALLOC_ALIGNED: return mi_zalloc_aligned(n, Z_ALIGN);
    case Z_REZALLOC_ALIGNED_AT: return mi_zalloc_aligned_at(n, Z_ALIGN, Z_OFFSET);
    case Z_RECALLOC_ALIGNED: return mi_calloc_aligned(n / 4, 4, Z_ALIGN);
    default: return mi_calloc_aligned_at(n / 4, 4, Z_ALIGN, Z_OFFSET);
  }
}
static size_t zoffset(zkind_t k) {
  return (k == Z_REZALLOC_ALIGNED_AT || k == Z_RECALLOC_ALIGNED_AT) ? Z_OFFSET : 0;
}
static size_t zalign(zkind_t k) { return k >= Z_REZALLOC_ALIGNED ? Z_ALIGN : 16; }

static void test_zeroing_realloc(void) {
  // Multiples of 4 so that the recalloc forms (count x 4) ask for exactly these sizes.
  static const size_t grow[] = {12, 100, 1000, 20 * 1024, 70000, T_MiB, 3 * T_MiB, 40 * T_MiB};
  size_t ngrow = sizeof grow / sizeof grow[0];
  int rounds = (int)t_scaled(3, 2);
  t_section("rezalloc/recalloc (+aligned, +_at): growth tail zeroed over dirty memory, %d rounds",
            rounds);
  for (int round = 0; round < rounds; round++) {
    for (int k = 0; k < Z_KINDS; k++) {
      zkind_t kind = (zkind_t)k;
      size_t cur = grow[0];
      t_ctx("first block of %ju, kind %ju, round %ju", cur, (uintmax_t)k, (uintmax_t)round);
      dirty(cur);
      void* p = zfirst(kind, cur);
      if (!CHECK_NOT_NULL(p, "%s: first allocation of %zu failed", zkind_name[k], cur)) continue;
      CHECK_ZERO(p, cur);
      uint64_t seed = 1000 + (uint64_t)k;
      t_fill(p, cur, seed);
      for (size_t i = 1; i < ngrow; i++) {
        size_t next = grow[i];
        t_ctx("grow %ju -> %ju with kind %ju", cur, next, (uintmax_t)k);
        dirty(next);
        void* q = zre(kind, p, next);
        if (!CHECK_NOT_NULL(q, "%s(%zu -> %zu) failed", zkind_name[k], cur, next)) break;
        CHECK((t_addr(q) + zoffset(kind)) % zalign(kind) == 0, "%s: %p + %zu not %zu-aligned",
              zkind_name[k], q, zoffset(kind), zalign(kind));
        CHECK_GE(mi_usable_size(q), next);
        CHECK_FILL(q, cur, seed);
        unsigned char* tail = (unsigned char*)q + cur;
        size_t bad = t_find_nonzero(tail, next - cur);
        CHECK(bad == SIZE_MAX, "%s: growth %zu -> %zu: byte %zu of the new tail is 0x%02x",
              zkind_name[k], cur, next, cur + bad, bad == SIZE_MAX ? 0 : tail[bad]);
        t_fill(q, next, seed);
        p = q;
        cur = next;
      }
      // Shrinking keeps the prefix.
      t_ctx("shrink %ju -> 100 with kind %ju", cur, (uintmax_t)k, 0);
      void* s = zre(kind, p, 100);
      if (CHECK_NOT_NULL(s, "%s: shrink to 100 failed", zkind_name[k])) {
        CHECK_FILL(s, 100, seed);
        p = s;
      }
      mi_free(p);
    }
  }
  t_ctx(NULL, 0, 0, 0);
}

int main(void) {
  t_begin("test-realloc",
          "realloc content preservation, in place and moving; zeroing reallocation");
  test_chain();
  test_small_steps();
  test_edges();
  test_reallocn_reallocf();
  test_zeroing_realloc();
  t_section("realloc steps that stayed in place: %llu, that moved: %llu", in_place, moved);
  CHECK(moved > 0, "no realloc ever moved a block");
  return t_end();
}
