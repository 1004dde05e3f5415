/* Aligned allocation: `p` (or `p + offset` for the _at forms) a multiple of any power-of-two
 * alignment. Cheapest first: a small block that happens to be aligned; a size class whose blocks
 * are naturally aligned; an over-allocated block with an interior pointer (the page is marked
 * has_aligned so free finds the block start); a huge segment placed on the alignment. */
#include "internal/internal.h"

// Blocks of a class are aligned to `alignment` when pages start on a slice boundary and the
// block size is a multiple of the alignment (one-block pages: any alignment up to a slice).
static bool mi_class_is_naturally_aligned(size_t size, size_t alignment) {
  size += MI_PADDING;  // the block malloc(size) gets (secure builds pad it)
  if (alignment > MI_SLICE_SIZE || size > MI_LARGE_OBJ_SIZE_MAX) return false;
  const size_t bsize = _mi_bin_size(_mi_bin(size));
  return (bsize % alignment == 0 || _mi_page_kind_of_size(bsize) == MI_PAGE_LARGE);  // one block
}

static void* mi_heap_malloc_zero_aligned_at(mi_heap_t* heap, size_t size, size_t alignment,
                                            size_t offset, bool zero) {
  if (mi_unlikely(!_mi_is_power_of_two(alignment))) {
    _mi_warning_message("aligned allocation with an invalid alignment (%zu)", alignment);
    errno = EINVAL;
    return NULL;
  }
  if (mi_unlikely(size > MI_MAX_ALLOC_SIZE || alignment > MI_MAX_ALLOC_SIZE)) return mi_enomem();
  offset &= (alignment - 1);  // only offset modulo alignment matters
  if (alignment <= MI_MAX_ALIGN_SIZE && offset == 0) {
    return mi_heap_malloc_inline(heap, size, zero);
  }
  // A small block at the front of its free list may already be aligned.
  if (size + MI_PADDING <= MI_SMALL_SIZE_MAX && alignment <= size && mi_heap_is_initialized(heap)) {
    mi_page_t* page = _mi_heap_get_free_small_page(heap, size + MI_PADDING);
    if (page->free != NULL && (((uintptr_t)page->free + offset) & (alignment - 1)) == 0) {
      return _mi_page_malloc_zero(heap, page, size + MI_PADDING, zero);
    }
  }
  if (offset == 0 && mi_class_is_naturally_aligned(size, alignment)) {
    void* p = mi_heap_malloc_inline(heap, size, zero);
    mi_assert_internal(p == NULL || ((uintptr_t)p & (alignment - 1)) == 0);
    return p;
  }
  if (alignment > MI_BLOCK_ALIGNMENT_MAX) {
    // its own segment, placed so that the block lands on the alignment (its start need not be
    // word-aligned: the link and canary accessors do not assume it)
    return _mi_heap_malloc_zero_ex(heap, (size == 0 ? 1 : size), zero, alignment, offset);
  }
  // over-allocate and return an interior pointer
  if (mi_unlikely(size > MI_MAX_ALLOC_SIZE - alignment)) return mi_enomem();
  const size_t oversize = size + alignment - 1;
  void* p = mi_heap_malloc_inline(heap, oversize, zero);
  if (p == NULL) return NULL;
  const uintptr_t adjust = (alignment - (((uintptr_t)p + offset) & (alignment - 1))) & (alignment - 1);
  if (adjust == 0) return p;
  void* aligned = (uint8_t*)p + adjust;
  mi_page_t* page = _mi_ptr_page(p);
  mi_page_set_flag(page, MI_PAGE_HAS_ALIGNED, true);  // we own the page: p came from this heap
  mi_assert_internal(_mi_ptr_page(aligned) == page);
  return aligned;
}

void* mi_heap_malloc_aligned_at(mi_heap_t* heap, size_t size, size_t alignment,
                                size_t offset) mi_attr_noexcept {
  return mi_heap_malloc_zero_aligned_at(heap, size, alignment, offset, false);
}

void* mi_heap_malloc_aligned(mi_heap_t* heap, size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_malloc_zero_aligned_at(heap, size, alignment, 0, false);
}

void* mi_heap_zalloc_aligned_at(mi_heap_t* heap, size_t size, size_t alignment,
                                size_t offset) mi_attr_noexcept {
  return mi_heap_malloc_zero_aligned_at(heap, size, alignment, offset, true);
}

void* mi_heap_zalloc_aligned(mi_heap_t* heap, size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_malloc_zero_aligned_at(heap, size, alignment, 0, true);
}

void* mi_heap_calloc_aligned_at(mi_heap_t* heap, size_t count, size_t size, size_t alignment,
                                size_t offset) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return _mi_alloc_overflow(count, size);
  return mi_heap_malloc_zero_aligned_at(heap, total, alignment, offset, true);
}

void* mi_heap_calloc_aligned(mi_heap_t* heap, size_t count, size_t size,
                             size_t alignment) mi_attr_noexcept {
  return mi_heap_calloc_aligned_at(heap, count, size, alignment, 0);
}

void* mi_malloc_aligned_at(size_t size, size_t alignment, size_t offset) mi_attr_noexcept {
  return mi_heap_malloc_aligned_at(mi_prim_get_default_heap(), size, alignment, offset);
}

void* mi_malloc_aligned(size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_malloc_aligned(mi_prim_get_default_heap(), size, alignment);
}

void* mi_zalloc_aligned_at(size_t size, size_t alignment, size_t offset) mi_attr_noexcept {
  return mi_heap_zalloc_aligned_at(mi_prim_get_default_heap(), size, alignment, offset);
}

void* mi_zalloc_aligned(size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_zalloc_aligned(mi_prim_get_default_heap(), size, alignment);
}

void* mi_calloc_aligned_at(size_t count, size_t size, size_t alignment,
                           size_t offset) mi_attr_noexcept {
  return mi_heap_calloc_aligned_at(mi_prim_get_default_heap(), count, size, alignment, offset);
}

void* mi_calloc_aligned(size_t count, size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_calloc_aligned(mi_prim_get_default_heap(), count, size, alignment);
}

// mi_heap_malloc_zero_aligned_at in the argument order _mi_realloc_foreign expects.
static void* mi_heap_malloc_zero_aligned_at_ex(mi_heap_t* heap, size_t size, bool zero,
                                               size_t alignment, size_t offset) {
  return mi_heap_malloc_zero_aligned_at(heap, size, alignment, offset, zero);
}

/* ---------------------------------------------------------------------------------------------
   Aligned reallocation: in place if the block still fits and stays aligned.
--------------------------------------------------------------------------------------------- */
static void* mi_heap_realloc_zero_aligned_at(mi_heap_t* heap, void* p, size_t newsize,
                                             size_t alignment, size_t offset, bool zero) {
  if (mi_unlikely(!_mi_is_power_of_two(alignment))) {
    errno = EINVAL;
    return NULL;
  }
  // the plain path (any block is 16-aligned) also keeps p in place: only when p meets the
  // alignment (p may come from an earlier _at allocation with an odd offset)
  if (alignment <= MI_MAX_ALIGN_SIZE && (offset & (alignment - 1)) == 0 &&
      ((uintptr_t)p & (alignment - 1)) == 0) {
    return _mi_heap_realloc_zero(heap, p, newsize, zero);
  }
  if (p == NULL) return mi_heap_malloc_zero_aligned_at(heap, newsize, alignment, offset, zero);
  if (mi_unlikely(!mi_is_in_heap_region(p))) {
    return _mi_realloc_foreign(p, &mi_heap_malloc_zero_aligned_at_ex, heap, newsize, zero,
                               alignment, offset);
  }
  const size_t size = mi_usable_size(p);
  if (newsize <= size && newsize >= (size - (size / 2)) && newsize > 0 &&
      (((uintptr_t)p + offset) % alignment) == 0) {
    return p;
  }
  void* newp = mi_heap_malloc_zero_aligned_at(heap, newsize, alignment, offset, false);
  if (newp == NULL) return NULL;
  const size_t keep = (size < newsize ? size : newsize);
  if (zero) memset((uint8_t*)newp + keep, 0, mi_usable_size(newp) - keep);  // all of the tail
  memcpy(newp, p, keep);
  mi_free(p);
  return newp;
}

void* mi_heap_realloc_aligned_at(mi_heap_t* heap, void* p, size_t newsize, size_t alignment,
                                 size_t offset) mi_attr_noexcept {
  return mi_heap_realloc_zero_aligned_at(heap, p, newsize, alignment, offset, false);
}

void* mi_heap_realloc_aligned(mi_heap_t* heap, void* p, size_t newsize,
                              size_t alignment) mi_attr_noexcept {
  return mi_heap_realloc_zero_aligned_at(heap, p, newsize, alignment, 0, false);
}

void* mi_heap_rezalloc_aligned_at(mi_heap_t* heap, void* p, size_t newsize, size_t alignment,
                                  size_t offset) mi_attr_noexcept {
  return mi_heap_realloc_zero_aligned_at(heap, p, newsize, alignment, offset, true);
}

void* mi_heap_rezalloc_aligned(mi_heap_t* heap, void* p, size_t newsize,
                               size_t alignment) mi_attr_noexcept {
  return mi_heap_realloc_zero_aligned_at(heap, p, newsize, alignment, 0, true);
}

void* mi_heap_recalloc_aligned_at(mi_heap_t* heap, void* p, size_t newcount, size_t size,
                                  size_t alignment, size_t offset) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(newcount, size, &total))) return _mi_alloc_overflow(newcount, size);
  return mi_heap_rezalloc_aligned_at(heap, p, total, alignment, offset);
}

void* mi_heap_recalloc_aligned(mi_heap_t* heap, void* p, size_t newcount, size_t size,
                               size_t alignment) mi_attr_noexcept {
  return mi_heap_recalloc_aligned_at(heap, p, newcount, size, alignment, 0);
}

void* mi_realloc_aligned_at(void* p, size_t newsize, size_t alignment,
                            size_t offset) mi_attr_noexcept {
  return mi_heap_realloc_aligned_at(mi_prim_get_default_heap(), p, newsize, alignment, offset);
}

void* mi_realloc_aligned(void* p, size_t newsize, size_t alignment) mi_attr_noexcept {
  return mi_heap_realloc_aligned(mi_prim_get_default_heap(), p, newsize, alignment);
}

void* mi_rezalloc_aligned_at(void* p, size_t newsize, size_t alignment,
                             size_t offset) mi_attr_noexcept {
  return mi_heap_rezalloc_aligned_at(mi_prim_get_default_heap(), p, newsize, alignment, offset);
}

void* mi_rezalloc_aligned(void* p, size_t newsize, size_t alignment) mi_attr_noexcept {
  return mi_heap_rezalloc_aligned(mi_prim_get_default_heap(), p, newsize, alignment);
}

void* mi_recalloc_aligned_at(void* p, size_t newcount, size_t size, size_t alignment,
                             size_t offset) mi_attr_noexcept {
  return mi_heap_recalloc_aligned_at(mi_prim_get_default_heap(), p, newcount, size, alignment,
                                     offset);
}

void* mi_recalloc_aligned(void* p, size_t newcount, size_t size, size_t alignment) mi_attr_noexcept {
  return mi_heap_recalloc_aligned(mi_prim_get_default_heap(), p, newcount, size, alignment);
}
