/* Page queues: per heap, one doubly linked queue of pages per size class, one for huge pages and
 * one for full pages; and the direct table that sends small sizes straight to the first page of
 * their queue. Owner thread only. */
#include "internal/internal.h"

// Markers in `block_size` for the two queues that do not hold one size class.
#define MI_HUGE_QUEUE_MARK (MI_LARGE_OBJ_SIZE_MAX + 1 * MI_GRANULE_SIZE)
#define MI_FULL_QUEUE_MARK (MI_LARGE_OBJ_SIZE_MAX + 2 * MI_GRANULE_SIZE)

void _mi_page_queue_init(mi_heap_t* heap) {
  heap->pages[0] = (mi_page_queue_t){NULL, NULL, 0};
  for (size_t bin = 1; bin <= MI_BIN_LARGE_MAX; bin++) {
    heap->pages[bin] = (mi_page_queue_t){NULL, NULL, _mi_bin_size(bin)};
  }
  heap->pages[MI_BIN_HUGE] = (mi_page_queue_t){NULL, NULL, MI_HUGE_QUEUE_MARK};
  heap->pages[MI_BIN_FULL] = (mi_page_queue_t){NULL, NULL, MI_FULL_QUEUE_MARK};
  for (size_t i = 0; i < MI_PAGES_DIRECT; i++) {
    heap->pages_free_direct[i] = (mi_page_t*)&_mi_page_empty;
  }
}

static bool mi_page_queue_is_full(const mi_page_queue_t* pq) {
  return pq->block_size == MI_FULL_QUEUE_MARK;
}

// Keep pages_free_direct pointing at the first page of each small queue.
static void mi_heap_queue_first_update(mi_heap_t* heap, const mi_page_queue_t* pq) {
  const size_t size = pq->block_size;
  if (size > MI_SMALL_SIZE_MAX) return;
  mi_page_t* page = (pq->first != NULL ? pq->first : (mi_page_t*)&_mi_page_empty);
  const size_t end = size >> MI_GRANULE_SHIFT;
  if (heap->pages_free_direct[end] == page) return;
  const size_t bin = (size_t)(pq - heap->pages);
  const size_t start = (bin == 1 ? 0 : (_mi_bin_size(bin - 1) >> MI_GRANULE_SHIFT) + 1);
  for (size_t i = start; i <= end; i++) heap->pages_free_direct[i] = page;
}

void _mi_page_queue_push(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page) {
  mi_assert_internal(page->next == NULL && page->prev == NULL);
  mi_page_set_flag(page, MI_PAGE_IN_FULL, mi_page_queue_is_full(pq));
  page->prev = NULL;
  page->next = pq->first;
  if (pq->first != NULL) pq->first->prev = page;
  else pq->last = page;
  pq->first = page;
  heap->page_count++;
  mi_heap_queue_first_update(heap, pq);
}

void _mi_page_queue_push_back(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page) {
  mi_assert_internal(page->next == NULL && page->prev == NULL);
  mi_page_set_flag(page, MI_PAGE_IN_FULL, mi_page_queue_is_full(pq));
  page->next = NULL;
  page->prev = pq->last;
  if (pq->last != NULL) pq->last->next = page;
  else pq->first = page;
  pq->last = page;
  heap->page_count++;
  if (pq->first == page) mi_heap_queue_first_update(heap, pq);
}

void _mi_page_queue_remove(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page) {
  mi_assert_internal(heap->page_count > 0);
  if (page->prev != NULL) page->prev->next = page->next;
  if (page->next != NULL) page->next->prev = page->prev;
  if (page == pq->last) pq->last = page->prev;
  if (page == pq->first) {
    pq->first = page->next;
    mi_heap_queue_first_update(heap, pq);
  }
  page->next = page->prev = NULL;
  mi_page_set_flag(page, MI_PAGE_IN_FULL, false);
  heap->page_count--;
}

void _mi_page_queue_move_to_front(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page) {
  if (pq->first == page) return;
  _mi_page_queue_remove(heap, pq, page);
  _mi_page_queue_push(heap, pq, page);
}

bool _mi_page_queue_is_valid(mi_heap_t* heap, const mi_page_queue_t* pq) {
  const mi_page_t* prev = NULL;
  for (const mi_page_t* page = pq->first; page != NULL; page = page->next) {
    if (page->prev != prev) return false;
    if (mi_page_heap(page) != heap) return false;
    if (mi_page_is_in_full(page) != mi_page_queue_is_full(pq)) return false;
    // A full page armed for delayed frees has nothing on thread_free: remote frees reach its heap
    // (the owner never looks at thread_free while the page is in the full queue). One load reads
    // both, so this holds whatever other threads do meanwhile.
    const uintptr_t tf = mi_atomic_load_acquire(&((mi_page_t*)page)->xthread_free);
    if (mi_page_queue_is_full(pq) && mi_tf_delayed(tf) == MI_USE_DELAYED_FREE &&
        mi_tf_block(tf) != NULL) {
      return false;
    }
    if (!mi_page_queue_is_full(pq) && pq->block_size != MI_HUGE_QUEUE_MARK &&
        page->block_size != pq->block_size) return false;
    prev = page;
  }
  if (pq->last != prev) return false;
  if (pq->block_size <= MI_SMALL_SIZE_MAX) {
    const mi_page_t* direct = heap->pages_free_direct[pq->block_size >> MI_GRANULE_SHIFT];
    if (direct != (pq->first != NULL ? pq->first : &_mi_page_empty)) return false;
  }
  return true;
}
