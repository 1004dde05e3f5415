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
  const size_t adjust = mi_page_block_offset(page, diff);
  return (mi_block_t*)((uintptr_t)p - adjust);
}

// The block p points into: p itself unless the page holds aligned blocks (has_aligned is set by
// the owner before any such pointer leaves its thread: the program's hand-over orders the two).
// So a plain build reads no page field for a block of a page without aligned blocks, and a remote
// free does not touch the descriptor, which the owner writes all the time. Checked builds return
// NULL when p is not the start of a block handed out (or, on a page with aligned blocks, inside
// one); they read only fields that are constant while the page is in use, and `capacity` only
// for the owner, so other threads can run it too.
static mi_block_t* mi_block_of(const mi_page_t* page, const void* p, bool is_local,
                               bool has_aligned) {
#if MI_CHECK_POINTERS
  if (page->block_size <= 1) return NULL;  // a free span or the segment's info slices
  const size_t diff = (size_t)((const uint8_t*)p - mi_page_start(page));  // huge if p < start
  const size_t blocks = (is_local ? page->capacity : page->reserved);
  if (diff >= blocks * mi_page_block_size(page)) return NULL;
  const size_t offset = mi_page_block_offset(page, diff);
  if (offset != 0 && !has_aligned) return NULL;
  return (mi_block_t*)((uintptr_t)p - offset);
#else
  (void)is_local;
  return (!has_aligned ? (mi_block_t*)p : _mi_page_ptr_unalign(page, p));
#endif
}

// The block is the program's no more: memory checkers see it freed and inaccessible.
static void mi_track_block_freed(const mi_page_t* page, mi_block_t* block) {
#if SA_DEBUG >= 1  // (the usable bytes: the canary of a secure build says the block is free)
  if (!page->is_huge) memset(block, MI_DEBUG_FREED, mi_page_block_size(page) - MI_PADDING);
#endif
  mi_track_free(block);
  mi_track_mem_noaccess(block, mi_page_block_size(page));
  (void)page;
  (void)block;
}

/* Onto the owner's local_free list. A full page goes back to its size queue only once a sixteenth
   of its blocks are free (pages of fewer than 16 blocks: at once). With one free block it would
   serve one malloc and be full again: two queue moves and a malloc slow path per block freed,
   which is what a program that replaces random blocks of a large live set (alloc-test) does all
   the time. The price: a full page may keep up to a sixteenth of its blocks out of reach. */
#define MI_UNFULL_SHIFT 4
static void mi_push_local(mi_page_t* page, mi_block_t* block, bool unfull_now) {
  mi_block_set_next(page, block, page->local_free);
  page->local_free = block;
  if (--page->used == 0) {
    _mi_page_retire(page);
  } else if (mi_unlikely(mi_page_is_in_full(page)) &&
             (unfull_now ||
              (size_t)(page->capacity - page->used) >= (size_t)(page->reserved >> MI_UNFULL_SHIFT))) {
    _mi_page_unfull(page);
  }
}

static void mi_free_block_local(mi_page_t* page, mi_block_t* block) {
  mi_track_block_freed(page, block);
  mi_push_local(page, block, false);
}

// A free from another thread (or into an abandoned page): a push onto the page's thread_free word
// in the segment's array (plain builds read nothing of the descriptor but in the delayed case).
// If the owner armed the page as full, the block goes onto the owner heap's delayed list instead,
// so the owner learns the page has room.
static void mi_free_block_mt(mi_segment_t* segment, size_t index, mi_page_t* page,
                             mi_block_t* block) {
  mi_track_block_freed(page, block);
  _Atomic(uintptr_t)* const word = &segment->page_thread_free[mi_tf_slot(index)];
  uintptr_t tfree = mi_atomic_load_relaxed(word);
  uintptr_t tfreex;
  bool use_delayed;
  do {
    use_delayed = (mi_tf_delayed(tfree) == MI_USE_DELAYED_FREE);
    if (mi_unlikely(use_delayed)) {
      tfreex = mi_tf_set_delayed(tfree, MI_DELAYED_FREEING);
    } else {
      mi_block_set_next(page, block, mi_tf_block(tfree));
      tfreex = mi_tf_push(tfree, block);
    }
  } while (!mi_atomic_cas_weak_acq_rel(word, &tfree, tfreex));
  if (mi_likely(!use_delayed)) return;

  // While the state is DELAYED_FREEING the owner keeps the heap alive (it waits for us).
  mi_heap_t* const heap = (mi_heap_t*)mi_atomic_load_acquire(&page->xheap);
  mi_assert_internal(heap != NULL);
  mi_block_t* dfree = mi_atomic_load_relaxed(&heap->thread_delayed_free);
  do {
    mi_block_set_nextx(heap->keys, block, dfree);
  } while (!mi_atomic_cas_weak_acq_rel(&heap->thread_delayed_free, &dfree, block));
  tfree = mi_atomic_load_relaxed(word);
  do {
    mi_assert_internal(mi_tf_delayed(tfree) == MI_DELAYED_FREEING);
    tfreex = mi_tf_set_delayed(tfree, MI_NO_DELAYED_FREE);
  } while (!mi_atomic_cas_weak_acq_rel(word, &tfree, tfreex));
}

/* ---------------------------------------------------------------------------------------------
   Secure checks (levels 3 and 4): the segment cookie and the canary at the end of the block. From
   level 4 a freed block's canary is the complement of its live one (mi_block_canary_freed), so a
   second free is told from an overflow without reading the block's data: user data never decides.
   A canary that is neither (a write after free, then a free) sends the owner thread to its
   page's lists to tell the two apart.
--------------------------------------------------------------------------------------------- */
#if SA_SECURE >= 3
void _mi_secure_bad_link(const mi_page_t* page, const mi_block_t* block, const mi_block_t* next) {
  _mi_error_message(EFAULT, "corrupted free list in page %p: the free block %p links to %p",
                    (const void*)page, (const void*)block, (const void*)next);
}

void* _mi_page_malloc_bad_link(mi_heap_t* heap, mi_page_t* page, size_t size, bool zero) {
  mi_block_t* const block = page->free;
  _mi_secure_bad_link(page, block, mi_block_nextx(mi_page_keys(page), block));
  // Still here (a handler returned): the rest of the list is lost (none of it can be trusted);
  // the block itself is handed out as asked (an aligned caller chose it for its address).
  mi_block_set_next(page, block, NULL);
  return _mi_page_malloc_zero(heap, page, size, zero);
}

#if SA_SECURE >= 4
static bool mi_list_contains(const mi_page_t* page, const mi_block_t* list,
                             const mi_block_t* block) {
  for (size_t n = 0; list != NULL && n <= page->capacity; n++) {
    if (list == block) return true;
    list = mi_block_next(page, list);
  }
  return false;
}

// Only the owner may walk `free` and `local_free`.
static bool mi_block_is_listed(const mi_page_t* page, const mi_block_t* block) {
  return mi_list_contains(page, page->free, block) ||
         mi_list_contains(page, page->local_free, block) ||
         mi_list_contains(page, mi_page_thread_free(page), block);
}
#endif

static bool mi_secure_check_block(const mi_segment_t* segment, const mi_page_t* page,
                                  const mi_block_t* block, const void* p, bool is_local) {
  if (mi_unlikely(segment->cookie != ((uintptr_t)segment ^ _mi_process_cookie()))) {
    _mi_error_message(EFAULT, "invalid pointer %p: its segment header is damaged", p);
    return false;
  }
  const uintptr_t canary = mi_block_canary_read(page, block);
  if (mi_likely(canary == mi_block_canary(page, block))) return true;
#if SA_SECURE >= 4
  if (canary == mi_block_canary_freed(page, block) || (is_local && mi_block_is_listed(page, block))) {
    _mi_error_message(EAGAIN, "double free of %p", p);
    return false;
  }
#endif
  (void)is_local;
  _mi_error_message(EFAULT,
                    "buffer overflow of block %p: the canary after its %zu usable bytes "
                    "is overwritten",
                    p, page->block_size - MI_PADDING);
  return false;
}
#endif

void _mi_free_generic(mi_segment_t* segment, size_t index, void* p) {
  mi_page_t* const page = &segment->slices[index];
  const uintptr_t owner_word = mi_atomic_load_relaxed(&segment->page_owner[index]);
  const mi_threadid_t owner = owner_word & ~MI_PAGE_FLAGS_MASK;
  const bool is_local = (_mi_thread_id() == owner);
  mi_block_t* const block =
      mi_block_of(page, p, is_local, (owner_word & MI_PAGE_HAS_ALIGNED) != 0);
  if (MI_CHECK_POINTERS && mi_unlikely(block == NULL)) {
    _mi_error_message(EINVAL, "free of an invalid pointer %p", p);
    return;
  }
  // (a guarded block lives on a page marked as holding aligned blocks: guarded.c)
  if (mi_unlikely(mi_atomic_load_relaxed(&_mi_guarded_used)) &&
      (owner_word & MI_PAGE_HAS_ALIGNED) != 0 && _mi_guarded_usable_size(block, p, &(size_t){0})) {
    _mi_guarded_free(block, p);
    return;
  }
#if SA_SECURE >= 3
  if (!mi_secure_check_block(segment, page, block, p, is_local)) return;
#endif
#if SA_SECURE >= 4
  mi_block_canary_write(page, block, mi_block_canary_freed(page, block));
#endif
  if (is_local) {
    mi_free_block_local(page, block);
  } else {
    // A huge block's memory goes back even if its owner never collects the free (before the
    // push: after it the owner may release the segment).
    if (mi_unlikely(page->is_huge)) _mi_segment_huge_free_remote(segment);
    mi_free_block_mt(segment, index, page, block);
    // Into an exited thread's page: this thread may be the only one still freeing that memory.
    // (owner was read before the push: after it the segment may already be gone)
    if (mi_unlikely(owner == 0)) _mi_heap_abandoned_free_tick();
    mi_purge_safe_point();
  }
}

// A block that reached the owner through its heap's delayed list.
void _mi_free_delayed_block(mi_block_t* block) {
  mi_page_t* page = _mi_segment_page_of(_mi_ptr_segment_checked(block), block);
  // The pusher may still be between its two steps: wait for it (and disarm) before this free can
  // retire the page, or its last CAS would land on a freed page.
  _mi_page_use_delayed_free(page, MI_NO_DELAYED_FREE, false);
  _mi_page_free_collect(page, false);
  // (freed already, by the thread that pushed it; the page leaves the full queue at once: it is
  // disarmed now, so later remote frees go to its thread_free list, which a full page's owner
  // does not look at)
  mi_push_local(page, block, true);
}

// Not found by the address mask: NULL, a displaced huge block, or not ours. Memory of another
// allocator is never touched.
void _mi_free_foreign(void* p) {
  if (p == NULL) return;
  mi_segment_t* segment = _mi_segment_map_displaced_lookup(p);
  if (segment != NULL) {
    _mi_free_generic(segment, _mi_segment_page_index_of(segment, p), p);
    return;
  }
#if SA_SECURE >= 4
  _mi_error_message(EINVAL, "free of an invalid pointer %p: shardalloc did not allocate it", p);
#else
  _mi_warning_message("free of a pointer that shardalloc did not allocate: %p (ignored)", p);
#endif
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
  // (only checked builds care who asks: a plain build trusts p and answers as the owner would)
  const bool is_local =
      (!MI_CHECK_POINTERS || _mi_thread_id() == mi_page_owner(page));
  const mi_block_t* const block = mi_block_of(page, p, is_local, mi_page_has_aligned(page));
  if (MI_CHECK_POINTERS && block == NULL) {
    _mi_error_message(EINVAL, "%s: invalid pointer %p", msg, p);
    return 0;
  }
#if SA_SECURE >= 4
  if (mi_block_canary_read(page, block) == mi_block_canary_freed(page, block)) {
    _mi_error_message(EAGAIN, "invalid pointer %p: %s of a freed block (use after free)", p, msg);
    return 0;
  }
#endif
  size_t guarded_usable;
  if (mi_unlikely(mi_atomic_load_relaxed(&_mi_guarded_used)) && mi_page_has_aligned(page) &&
      _mi_guarded_usable_size(block, p, &guarded_usable)) {
    return guarded_usable;
  }
  return mi_page_block_size(page) - MI_PADDING -
         (size_t)((const uint8_t*)p - (const uint8_t*)block);
}

size_t mi_usable_size(const void* p) mi_attr_noexcept {
  return _mi_usable_size(p, "mi_usable_size");
}
