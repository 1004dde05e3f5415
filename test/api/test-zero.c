/* test-zero: every zeroing allocation returns zeroed memory also when it reuses memory that was
   used before. For small, medium (20 KiB), large (1 MiB) and huge (40 MiB) sizes, many rounds of:
   allocate, check zero, fill the whole usable size with 0xAB, free; interleaved with plain
   mi_malloc blocks of the same size that are dirtied and freed, so that reuse is dirty. Covers
   mi_zalloc, mi_calloc, mi_zalloc_small, mi_zalloc_aligned[_at], mi_calloc_aligned[_at],
   mi_heap_zalloc / mi_heap_calloc on the default heap and on a fresh heap, and the growth tail of
   mi_rezalloc. */
#include <mimalloc.h>

#include "testutil.h"

typedef enum {
  ZALLOC,
  CALLOC,
  ZALLOC_SMALL,
  ZALLOC_ALIGNED,
  ZALLOC_ALIGNED_AT,
  CALLOC_ALIGNED,
  CALLOC_ALIGNED_AT,
  HEAP_ZALLOC,
  HEAP_CALLOC,
  NEW_HEAP_ZALLOC,
  REZALLOC_TAIL,
  KINDS
} kind_t;
static const char* kind_name[KINDS] = {"mi_zalloc",
                                       "mi_calloc",
                                       "mi_zalloc_small",
                                       "mi_zalloc_aligned",
                                       "mi_zalloc_aligned_at",
                                       "mi_calloc_aligned",
                                       "mi_calloc_aligned_at",
                                       "mi_heap_zalloc(default)",
                                       "mi_heap_calloc(default)",
                                       "mi_heap_zalloc(new heap)",
                                       "mi_rezalloc growth tail"};

static mi_heap_t* fresh_heap;

/* Returns a block of n bytes that must be zero from `*zero_from` on (0 except for rezalloc). */
static void* zero_alloc(kind_t k, size_t n, size_t* zero_from) {
  *zero_from = 0;
  switch (k) {
    case ZALLOC: return mi_zalloc(n);
    case CALLOC: return mi_calloc(n / 8, 8);
    case ZALLOC_SMALL: return mi_zalloc_small(n);
    case ZALLOC_ALIGNED: return mi_zalloc_aligned(n, 256);
    case ZALLOC_ALIGNED_AT: return mi_zalloc_aligned_at(n, 256, 16);
    case CALLOC_ALIGNED: return mi_calloc_aligned(n / 8, 8, 4096);
    case CALLOC_ALIGNED_AT: return mi_calloc_aligned_at(n / 8, 8, 4096, 8);
    case HEAP_ZALLOC: return mi_heap_zalloc(mi_heap_get_default(), n);
    case HEAP_CALLOC: return mi_heap_calloc(mi_heap_get_default(), n / 8, 8);
    case NEW_HEAP_ZALLOC: return mi_heap_zalloc(fresh_heap, n);
    default: {
      // Half the size zeroed and then filled, grown with mi_rezalloc: the new half must be zero.
      unsigned char* p = mi_zalloc(n / 2);
      if (p == NULL) return NULL;
      memset(p, 0x5C, n / 2);
      unsigned char* q = mi_rezalloc(p, n);
      if (q == NULL) {
        mi_free(p);
        return NULL;
      }
      *zero_from = n / 2;
      return q;
    }
  }
}

static void run_size(size_t n, int rounds) {
  for (int k = 0; k < KINDS; k++) {
    if (k == ZALLOC_SMALL && n > MI_SMALL_SIZE_MAX) continue;
    unsigned long long nonzero = 0;
    for (int r = 0; r < rounds; r++) {
      t_ctx("size %ju, kind %ju, round %ju", n, (uintmax_t)k, (uintmax_t)r);
      // Dirty memory of this size class, then free it so the zeroing call can get it back.
      void* d = mi_malloc(n);
      if (d != NULL) {
        memset(t_launder(d), 0xAB, mi_usable_size(d));
        mi_free(d);
      }
      size_t from;
      unsigned char* p = zero_alloc((kind_t)k, n, &from);
      if (!CHECK_NOT_NULL(p, "%s(%zu) failed", kind_name[k], n)) break;
      size_t bad = t_find_nonzero(p + from, n - from);
      if (bad != SIZE_MAX) {
        if (nonzero++ == 0)
          CHECK(bad == SIZE_MAX, "%s(%zu), round %d: byte %zu is 0x%02x, not zero", kind_name[k], n,
                r, from + bad, p[from + bad]);
      } else {
        t_pass();
      }
      memset(t_launder(p), 0xAB, mi_usable_size(p));
      mi_free(p);
    }
    if (nonzero > 1)
      CHECK(nonzero == 0, "%s(%zu): %llu of %d rounds not zeroed", kind_name[k], n, nonzero,
            rounds);
  }
  t_ctx(NULL, 0, 0, 0);
}

int main(void) {
  t_begin("test-zero", "zeroing allocations return zeros also for reused, dirtied memory");
  fresh_heap = mi_heap_new();
  if (!CHECK_NOT_NULL(fresh_heap, "mi_heap_new failed")) return t_end();
  struct {
    const char* name;
    size_t size;
    int rounds, quick_rounds;
  } cases[] = {
      {"small", 8, 200, 50},     {"small", 24, 200, 50},   {"small", 128, 200, 50},
      {"small", 1000, 200, 50},  {"small", 1024, 200, 50}, {"medium", 20 * 1024, 100, 30},
      {"medium", 60000, 50, 20}, {"large", T_MiB, 20, 8},  {"huge", 40 * T_MiB, 4, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rounds = (int)t_scaled((size_t)cases[i].rounds, (size_t)cases[i].quick_rounds);
    t_section("%s: %zu bytes, %d rounds x %d functions", cases[i].name, cases[i].size, rounds,
              (int)KINDS);
    run_size(cases[i].size, rounds);
  }
  mi_heap_delete(fresh_heap);
  return t_end();
}
