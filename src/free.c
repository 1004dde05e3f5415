/* Freeing: mi_free's hit path is inline (internal.h); here are the slower cases — blocks of full
 * pages or pages with aligned blocks, frees from other threads (one CAS on the page's thread_free
 * list, plus a push onto the owner heap's delayed list for full pages), foreign pointers — and the
 * usable-size queries. Calls: pages, segments. */
#include "internal/internal.h"

void mi_free(void* p) mi_attr_noexcept { mi_free_inline(p); }

void mi_free_small(void* p) mi_attr_noexcept { mi_free_inline(p); }

// Map an interior pointer (from an aligned allocation) to the start of its block.
mi_block_t* _mi_page_ptr_unalign(const mi_page_t* page, const void* p) {
  const size_t diff = (size_t)((const uint8_t*)p - mi_page_start(page));
  const size_t adjust = (page->block_size_shift != 0
                             ? diff & (((size_t)1 << page->block_size_shift) - 1)
                             : diff % mi_page_block_size(page));
  return (mi_block_t*)((uintptr_t)p - adjust);
}

#if SA_DEBUG >= 1
// Contract check: p must point into a block of a page in use, at its start unless the page
// holds aligned blocks. Reads only fields that are constant while the page is in use (plus
// has_aligned for the owner), so other threads can run it too.
static bool mi_check_is_block(const mi_page_t* page, const void* p, bool is_local) {
  if (page->block_size == 0 || page->block_size == 1) return false;
  const uint8_t* start = mi_page_start(page);
  if ((const uint8_t*)p < start) return false;
  const size_t diff = (size_t)((const uint8_t*)p - start);
  if (diff >= (size_t)page->reserved * mi_page_block_size(page)) return false;
  return !is_local || mi_page_has_aligned(page) || diff % mi_page_block_size(page) == 0;
}
#endif

static void mi_free_block_local(mi_page_t* page, mi_block_t* block) {
#if SA_DEBUG >= 1
  if (!page->is_huge) memset(block, MI_DEBUG_FREED, mi_page_block_size(page));
#endif
  mi_block_set_next(page, block, page->local_free);
  page->local_free = block;
  if (--page->used == 0) {
    _mi_page_retire(page);
  } else if (mi_unlikely(mi_page_is_in_full(page))) {
    _mi_page_unfull(page);
  }
}

// A free from another thread (or into an abandoned page). If the owner armed the page as full,
// the block goes onto the owner heap's delayed list instead, so the owner learns the page has room.
static void mi_free_block_mt(mi_page_t* page, mi_block_t* block) {
#if SA_DEBUG >= 1
  if (!page->is_huge) memset(block, MI_DEBUG_FREED, mi_page_block_size(page));
#endif
  uintptr_t tfree = mi_atomic_load_relaxed(&page->xthread_free);
  uintptr_t tfreex;
  bool use_delayed;
  do {
    use_delayed = (mi_tf_delayed(tfree) == MI_USE_DELAYED_FREE);
    if (mi_unlikely(use_delayed)) {
      tfreex = mi_tf_set_delayed(tfree, MI_DELAYED_FREEING);
    } else {
      mi_block_set_next(page, block, mi_tf_block(tfree));
      tfreex = mi_tf_set_block(tfree, block);
    }
  } while (!mi_atomic_cas_weak_acq_rel(&page->xthread_free, &tfree, tfreex));
  if (mi_likely(!use_delayed)) return;

  // While the state is DELAYED_FREEING the owner keeps the heap alive (it waits for us).
  mi_heap_t* const heap = (mi_heap_t*)mi_atomic_load_acquire(&page->xheap);
  mi_assert_internal(heap != NULL);
  mi_block_t* dfree = mi_atomic_load_relaxed(&heap->thread_delayed_free);
  do {
    mi_block_set_nextx(heap->keys, block, dfree);
  } while (!mi_atomic_cas_weak_acq_rel(&heap->thread_delayed_free, &dfree, block));
  tfree = mi_atomic_load_relaxed(&page->xthread_free);
  do {
    mi_assert_internal(mi_tf_delayed(tfree) == MI_DELAYED_FREEING);
    tfreex = mi_tf_set_delayed(tfree, MI_NO_DELAYED_FREE);
  } while (!mi_atomic_cas_weak_acq_rel(&page->xthread_free, &tfree, tfreex));
}

void _mi_free_generic(mi_segment_t* segment, mi_page_t* page, void* p) {
  const uintptr_t owner = mi_atomic_load_relaxed(&segment->thread_id);
  const bool is_local = (_mi_thread_id() == owner);
#if SA_DEBUG >= 1
  if (mi_unlikely(!mi_check_is_block(page, p, is_local))) {
    _mi_error_message(EINVAL, "free of an invalid pointer %p", p);
    return;
  }
#endif
  if (is_local) {
    mi_block_t* block = (mi_page_has_aligned(page) ? _mi_page_ptr_unalign(page, p) : (mi_block_t*)p);
    mi_free_block_local(page, block);
  } else {
    // Cheap enough, and needs no trust in p: another thread always maps back to the block start.
    mi_free_block_mt(page, _mi_page_ptr_unalign(page, p));
    // Into an exited thread's segment: this thread may be the only one still freeing that memory.
    // (owner was read before the push: after it the segment may already be gone)
    if (mi_unlikely(owner == 0)) _mi_heap_abandoned_free_tick();
  }
}

// A block that reached the owner through its heap's delayed list.
void _mi_free_delayed_block(mi_block_t* block) {
  mi_page_t* page = _mi_segment_page_of(_mi_ptr_segment_checked(block), block);
  // The pusher may still be between its two steps: wait for it (and disarm) before this free can
  // retire the page, or its last CAS would land on a freed page.
  _mi_page_use_delayed_free(page, MI_NO_DELAYED_FREE, false);
  _mi_page_free_collect(page, false);
  mi_free_block_local(page, block);
}

// Not found by the address mask: NULL, a displaced huge block, or not ours. Memory of another
// allocator is never touched.
void _mi_free_foreign(void* p) {
  if (p == NULL) return;
  mi_segment_t* segment = _mi_segment_map_displaced_lookup(p);
  if (segment != NULL) {
    _mi_free_generic(segment, _mi_segment_page_of(segment, p), p);
    return;
  }
  _mi_warning_message("free of a pointer that shardalloc did not allocate: %p (ignored)", p);
}

/* ---------------------------------------------------------------------------------------------
   Sized and aligned frees
--------------------------------------------------------------------------------------------- */
void mi_free_size(void* p, size_t size) mi_attr_noexcept {
#if SA_DEBUG >= 1
  if (p != NULL && mi_is_in_heap_region(p)) mi_assert(size <= mi_usable_size(p));
#endif
  (void)size;
  mi_free_inline(p);
}

void mi_free_aligned(void* p, size_t alignment) mi_attr_noexcept {
  mi_assert(alignment == 0 || ((uintptr_t)p % alignment) == 0);
  (void)alignment;
  mi_free_inline(p);
}

void mi_free_size_aligned(void* p, size_t size, size_t alignment) mi_attr_noexcept {
  mi_assert(alignment == 0 || ((uintptr_t)p % alignment) == 0);
  (void)alignment;
  mi_free_size(p, size);
}

void mi_ufree(void* p, size_t* block_size) mi_attr_noexcept {
  if (block_size != NULL) *block_size = mi_usable_size(p);
  mi_free_inline(p);
}

/* ---------------------------------------------------------------------------------------------
   Usable size
--------------------------------------------------------------------------------------------- */
size_t _mi_usable_size(const void* p, const char* msg) {
  (void)msg;
  const mi_segment_t* segment = _mi_ptr_segment_checked(p);
  if (segment == NULL) return 0;  // NULL or foreign
  const mi_page_t* page = _mi_segment_page_of(segment, p);
#if SA_DEBUG >= 1
  if (!mi_check_is_block(page, p, true)) {
    _mi_error_message(EINVAL, "%s: invalid pointer %p", msg, p);
    return 0;
  }
#endif
  if (mi_unlikely(mi_page_has_aligned(page))) {
    const mi_block_t* block = _mi_page_ptr_unalign(page, p);
    return mi_page_block_size(page) - (size_t)((const uint8_t*)p - (const uint8_t*)block);
  }
  return mi_page_block_size(page);
}

size_t mi_usable_size(const void* p) mi_attr_noexcept { return _mi_usable_size(p, "mi_usable_size"); }
