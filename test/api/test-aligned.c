/* test-aligned: aligned allocation for every power-of-two alignment from 1 up to 1 GiB.
   mi_{malloc,zalloc,calloc,realloc}_aligned[_at] with offsets 0, 1, 8, 16, 100, alignment/2,
   alignment-1: (p + offset) % alignment == 0, usable size >= size, the memory is writable and keeps
   its content while other aligned blocks are live, zeroing variants return zeros, realloc keeps
   the content and the alignment, and free works (mi_free, mi_free_aligned, mi_free_size_aligned).
   Also mi_aligned_alloc, mi_memalign, mi_posix_memalign, mi_valloc and mi_pvalloc. */
#include <mimalloc.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_ALIGN_SHIFT 30  // 1 GiB
#define ZERO_ALIGN_MAX T_MiB

typedef struct {
  void* p;
  size_t size;
  size_t alignment;
  size_t offset;
  uint64_t seed;
} held_t;

#define HELD_MAX 1024
#define HELD_BUDGET (32 * T_MiB)
static held_t held[HELD_MAX];
static size_t held_count, held_bytes;
static unsigned long long frees_by_kind[3];

static void release(void* p, size_t size, size_t alignment, size_t offset) {
  /* Rotate through the three ways of freeing an aligned block. The _aligned frees promise that p
     is aligned (C++ aligned delete), so blocks with an offset go to plain mi_free. */
  static unsigned k;
  switch (offset != 0 ? 0 : k++ % 3) {
    case 0:
      mi_free(p);
      frees_by_kind[0]++;
      break;
    case 1:
      mi_free_aligned(p, alignment);
      frees_by_kind[1]++;
      break;
    default:
      mi_free_size_aligned(p, size, alignment);
      frees_by_kind[2]++;
      break;
  }
}

static void held_flush(void) {
  for (size_t i = 0; i < held_count; i++) {
    t_ctx("held block: size %ju, alignment %ju", held[i].size, held[i].alignment, 0);
    CHECK_FILL(held[i].p, held[i].size, held[i].seed);
    release(held[i].p, held[i].size, held[i].alignment, held[i].offset);
  }
  t_ctx(NULL, 0, 0, 0);
  held_count = 0;
  held_bytes = 0;
}

/* Common checks for one aligned result; fills it and keeps it live for a later verification. */
static void check_and_hold(void* p, size_t size, size_t alignment, size_t offset, bool zeroed) {
  if (!CHECK_NOT_NULL(p, "NULL for size %zu, alignment %zu, offset %zu", size, alignment, offset))
    return;
  CHECK(alignment == 0 || (t_addr(p) + offset) % alignment == 0, "(%p + %zu) %% %zu = %zu", p,
        offset, alignment, (size_t)((t_addr(p) + offset) % alignment));
  CHECK(mi_usable_size(p) >= size, "usable %zu < size %zu (alignment %zu, offset %zu)",
        mi_usable_size(p), size, alignment, offset);
  if (zeroed) CHECK_ZERO(p, size);
  uint64_t seed = t_mix64(t_addr(p) + size);
  t_fill(p, size, seed);
  // An aligned block may occupy up to size + alignment: count that, or big alignments pile up GiBs.
  size_t footprint = size + alignment;
  if (held_count == HELD_MAX || held_bytes + footprint > HELD_BUDGET) held_flush();
  held[held_count++] = (held_t){p, size, alignment, offset, seed};
  held_bytes += footprint;
}

/* Sizes tried for one alignment: small, odd, around the alignment, medium and large. */
static size_t sizes_for(size_t alignment, size_t* out) {
  size_t n = 0;
  static const size_t fixed[] = {1, 15, 16, 100, 1000, 4097, 70000, T_MiB + 3};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) out[n++] = fixed[i];
  if (alignment > 1 && alignment <= 4 * T_MiB) {
    out[n++] = alignment - 1;
    out[n++] = alignment;
    out[n++] = alignment + 1;
  }
  return n;
}

static size_t offsets_for(size_t alignment, size_t* out) {
  size_t n = 0;
  static const size_t fixed[] = {0, 1, 8, 16, 100};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (fixed[i] < alignment || fixed[i] == 0) out[n++] = fixed[i];
  if (alignment >= 4) out[n++] = alignment / 2;
  if (alignment > 1) out[n++] = alignment - 1;
  return n;
}

static void test_alignment(size_t al) {
  size_t sizes[16], offsets[16];
  size_t nsizes = sizes_for(al, sizes), noffsets = offsets_for(al, offsets);
  for (size_t i = 0; i < nsizes; i++) {
    size_t sz = sizes[i];
    t_ctx("alignment %ju, size %ju", al, sz, 0);
    check_and_hold(mi_malloc_aligned(sz, al), sz, al, 0, false);
    /* Zeroing is checked up to ZERO_ALIGN_MAX for every size, above it once: an allocator may
       legitimately clear the whole over-allocation (mimalloc 2.0 memsets size + alignment), and
       gigabytes of memset would only measure the machine. */
    bool zero_all = al <= ZERO_ALIGN_MAX;
    if (zero_all || i == 0) check_and_hold(mi_zalloc_aligned(sz, al), sz, al, 0, true);
    if (zero_all) check_and_hold(mi_calloc_aligned(1, sz, al), sz, al, 0, true);
    if (zero_all && sz % 4 == 0) check_and_hold(mi_calloc_aligned(4, sz / 4, al), sz, al, 0, true);
    for (size_t k = 0; k < noffsets; k++) {
      size_t off = offsets[k];
      t_ctx("alignment %ju, size %ju, offset %ju", al, sz, off);
      check_and_hold(mi_malloc_aligned_at(sz, al, off), sz, al, off, false);
      if (zero_all) check_and_hold(mi_zalloc_aligned_at(sz, al, off), sz, al, off, true);
      if (zero_all) check_and_hold(mi_calloc_aligned_at(1, sz, al, off), sz, al, off, true);
    }
  }
  t_ctx(NULL, 0, 0, 0);
  held_flush();
}

/* Grow and shrink an aligned block through several sizes, keeping content and alignment. */
static void test_realloc_aligned(size_t al) {
  static const size_t steps[] = {1, 100, 5000, 70000, 600000, 3000, 24};
  size_t offsets[16];
  size_t noffsets = offsets_for(al, offsets);
  for (size_t k = 0; k < noffsets; k++) {
    size_t off = offsets[k];
    t_ctx("mi_realloc_aligned_at: alignment %ju, offset %ju", al, off, 0);
    void* p = (off == 0) ? mi_realloc_aligned(NULL, steps[0], al)
                         : mi_realloc_aligned_at(NULL, steps[0], al, off);
    if (!CHECK_NOT_NULL(p, "realloc_aligned(NULL, %zu, %zu, %zu) failed", steps[0], al, off))
      continue;
    size_t cur = steps[0];
    uint64_t seed = al * 31 + off;
    t_fill(p, cur, seed);
    for (size_t s = 1; s < sizeof steps / sizeof steps[0]; s++) {
      size_t next = steps[s];
      t_ctx("mi_realloc_aligned_at: alignment %ju, offset %ju, to size %ju", al, off, next);
      void* q =
          (off == 0) ? mi_realloc_aligned(p, next, al) : mi_realloc_aligned_at(p, next, al, off);
      if (!CHECK_NOT_NULL(q, "realloc %zu -> %zu failed", cur, next)) break;
      CHECK((t_addr(q) + off) % al == 0, "(%p + %zu) %% %zu != 0", q, off, al);
      CHECK_GE(mi_usable_size(q), next);
      CHECK_FILL(q, cur < next ? cur : next, seed);
      p = q;
      cur = next;
      t_fill(p, cur, seed);
    }
    mi_free(p);
  }
  t_ctx(NULL, 0, 0, 0);
}

static void test_posix_forms(size_t al, size_t page) {
  static const size_t sizes[] = {1, 24, 1000, 70000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t sz = sizes[i];
    t_ctx("alignment %ju, size %ju", al, sz, 0);
    check_and_hold(mi_aligned_alloc(al, sz), sz, al, 0, false);
    check_and_hold(mi_memalign(al, sz), sz, al, 0, false);
    if (al >= sizeof(void*)) {
      void* p = (void*)&p;  // must be overwritten on success
      int rc = mi_posix_memalign(&p, al, sz);
      CHECK_ERRNO(rc, 0);
      if (rc == 0) check_and_hold(p, sz, al, 0, false);
    }
    if (al == 1) {
      check_and_hold(mi_valloc(sz), sz, page, 0, false);
      void* pv = mi_pvalloc(sz);
      size_t rounded = (sz + page - 1) / page * page;
      check_and_hold(pv, sz, page, 0, false);
      if (pv != NULL)
        CHECK(mi_usable_size(pv) >= rounded, "mi_pvalloc(%zu): usable %zu < %zu", sz,
              mi_usable_size(pv), rounded);
    }
  }
  t_ctx(NULL, 0, 0, 0);
  held_flush();
}

int main(void) {
  t_begin("test-aligned", "aligned allocation, alignments 1 .. 1 GiB, with offsets");
  size_t page = (size_t)sysconf(_SC_PAGESIZE);

  t_section("mi_{malloc,zalloc,calloc}_aligned[_at] for every alignment 2^0 .. 2^%d",
            MAX_ALIGN_SHIFT);
  for (int sh = 0; sh <= MAX_ALIGN_SHIFT; sh++) test_alignment((size_t)1 << sh);

  t_section("mi_realloc_aligned[_at]: grow and shrink, content and alignment kept");
  for (int sh = 0; sh <= MAX_ALIGN_SHIFT; sh++) test_realloc_aligned((size_t)1 << sh);

  t_section(
      "mi_aligned_alloc, mi_memalign, mi_posix_memalign for every alignment; mi_valloc, mi_pvalloc "
      "(page %zu)",
      page);
  for (int sh = 0; sh <= MAX_ALIGN_SHIFT; sh++) test_posix_forms((size_t)1 << sh, page);

  t_section("mi_aligned_alloc(0 < size not a multiple of the alignment) is accepted");
  void* p = mi_aligned_alloc(64, 100);
  if (CHECK_NOT_NULL(p, "mi_aligned_alloc(64, 100) failed")) {
    CHECK_ALIGNED(p, 64);
    mi_free(p);
  }

  t_section("blocks freed with mi_free %llu, mi_free_aligned %llu, mi_free_size_aligned %llu",
            frees_by_kind[0], frees_by_kind[1], frees_by_kind[2]);
  return t_end();
}
