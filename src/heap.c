/* Heaps: initialisation, the default and backing heap of a thread, collection (also the
 * abandonment at thread exit), and ownership queries. A heap is used by its own thread only;
 * its pages may receive frees from any thread. Calls: pages, page queues, segments. */
#include "internal/internal.h"

void _mi_heap_init(mi_heap_t* heap, mi_tld_t* tld, uint8_t tag, bool no_reclaim) {
  memset(heap, 0, sizeof(*heap));
  heap->tld = tld;
  heap->thread_id = _mi_thread_id();
  heap->tag = tag;
  heap->no_reclaim = no_reclaim;
  _mi_random_init(&heap->random);
  heap->cookie = (uintptr_t)_mi_random_next(&heap->random) | 1;
  heap->keys[0] = (uintptr_t)_mi_random_next(&heap->random);
  heap->keys[1] = (uintptr_t)_mi_random_next(&heap->random);
  heap->page_retired_min = MI_BIN_FULL;
  heap->page_retired_max = 0;
  _mi_page_queue_init(heap);
  heap->next = tld->heaps;
  tld->heaps = heap;
}

uintptr_t _mi_heap_random_next(mi_heap_t* heap) {
  return (uintptr_t)_mi_random_next(&heap->random);
}

void _mi_heap_set_default_direct(mi_heap_t* heap) { _mi_heap_default = heap; }

mi_heap_t* mi_heap_get_default(void) mi_attr_noexcept {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_unlikely(!mi_heap_is_initialized(heap))) heap = _mi_heap_default_init();
  return heap;
}

mi_heap_t* mi_heap_get_backing(void) mi_attr_noexcept {
  mi_heap_t* heap = mi_heap_get_default();
  return (heap->tld != NULL ? heap->tld->heap_backing : heap);
}

// Only heaps of the calling thread can become its default; returns the previous default.
mi_heap_t* mi_heap_set_default(mi_heap_t* heap) mi_attr_noexcept {
  mi_heap_t* old = mi_heap_get_default();
  if (heap == NULL || !mi_heap_is_initialized(heap) || heap->thread_id != _mi_thread_id()) {
    _mi_error_message(EINVAL, "mi_heap_set_default: %p is not a heap of this thread", (void*)heap);
    return old;
  }
  _mi_heap_set_default_direct(heap);
  return old;
}

/* ---------------------------------------------------------------------------------------------
   Walking all pages of a heap
--------------------------------------------------------------------------------------------- */
typedef bool(heap_page_visitor_fun)(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                    void* arg);

// Visit every page (the visitor may free or abandon the page it is given). Stops on false.
static bool mi_heap_visit_pages(mi_heap_t* heap, heap_page_visitor_fun* fn, void* arg) {
  if (heap == NULL || heap->page_count == 0) return true;
  for (size_t bin = 0; bin <= MI_BIN_FULL; bin++) {
    mi_page_queue_t* pq = &heap->pages[bin];
    mi_page_t* page = pq->first;
    while (page != NULL) {
      mi_page_t* next = page->next;
      if (!fn(heap, pq, page, arg)) return false;
      page = next;
    }
  }
  return true;
}

/* ---------------------------------------------------------------------------------------------
   Collection
--------------------------------------------------------------------------------------------- */
typedef enum mi_collect_e { MI_NORMAL, MI_FORCE, MI_ABANDON } mi_collect_t;

static bool mi_heap_page_never_delayed(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                       void* arg) {
  (void)heap; (void)pq; (void)arg;
  _mi_page_use_delayed_free(page, MI_NEVER_DELAYED_FREE, false);
  return true;
}

static bool mi_heap_page_collect(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                 void* arg) {
  (void)heap;
  const mi_collect_t collect = *(const mi_collect_t*)arg;
  _mi_page_free_collect(page, collect >= MI_FORCE);
  if (mi_page_all_free(page)) {
    _mi_page_free(page, pq);
  } else if (collect == MI_ABANDON) {
    _mi_page_abandon(page, pq);
  }
  return true;
}

static void mi_heap_collect_ex(mi_heap_t* heap, mi_collect_t collect) {
  if (heap == NULL || !mi_heap_is_initialized(heap)) return;
  _mi_deferred_free(heap, collect >= MI_FORCE);
  if (collect == MI_ABANDON) {
    // From now on remote frees go straight to the pages: the heap is about to disappear.
    mi_heap_visit_pages(heap, &mi_heap_page_never_delayed, NULL);
  }
  _mi_heap_delayed_free_all(heap);
  _mi_heap_collect_retired(heap, collect >= MI_FORCE);
  mi_heap_visit_pages(heap, &mi_heap_page_collect, &collect);
  mi_assert_internal(collect != MI_ABANDON || heap->page_count == 0);
  mi_assert_expensive(collect == MI_ABANDON || _mi_page_queue_is_valid(heap, &heap->pages[MI_BIN_FULL]));
}

void _mi_heap_collect_abandon(mi_heap_t* heap) { mi_heap_collect_ex(heap, MI_ABANDON); }

void mi_heap_collect(mi_heap_t* heap, bool force) mi_attr_noexcept {
  mi_heap_collect_ex(heap, force ? MI_FORCE : MI_NORMAL);
}

void mi_collect(bool force) mi_attr_noexcept {
  mi_heap_collect(mi_prim_get_default_heap(), force);
}

/* ---------------------------------------------------------------------------------------------
   Ownership
--------------------------------------------------------------------------------------------- */
// Was p allocated from `heap` (the start of, or a pointer into, a block of one of its pages)?
bool mi_heap_contains_block(mi_heap_t* heap, const void* p) mi_attr_noexcept {
  if (heap == NULL || !mi_heap_is_initialized(heap) || !mi_is_in_heap_region(p)) return false;
  const mi_page_t* page = _mi_ptr_page(p);
  if (page->block_size <= 1 || mi_page_heap(page) != heap) return false;
  return ((const uint8_t*)p >= mi_page_start(page) &&
          (const uint8_t*)p < mi_page_start(page) + (size_t)page->capacity * page->block_size);
}

typedef struct mi_owned_s {
  const void* p;
  bool found;
} mi_owned_t;

static bool mi_heap_page_check_owned(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                     void* arg) {
  (void)heap; (void)pq;
  mi_owned_t* owned = (mi_owned_t*)arg;
  const uint8_t* start = mi_page_start(page);
  const uint8_t* end = start + (size_t)page->capacity * mi_page_block_size(page);
  owned->found = ((const uint8_t*)owned->p >= start && (const uint8_t*)owned->p < end);
  return !owned->found;
}

// Does p point into a page of `heap`? Walks the heap's pages (slow but needs no trust in p).
bool mi_heap_check_owned(mi_heap_t* heap, const void* p) mi_attr_noexcept {
  if (heap == NULL || !mi_heap_is_initialized(heap)) return false;
  if (((uintptr_t)p & (MI_INTPTR_SIZE - 1)) != 0) return false;
  mi_owned_t owned = {p, false};
  mi_heap_visit_pages(heap, &mi_heap_page_check_owned, &owned);
  return owned.found;
}

bool mi_check_owned(const void* p) mi_attr_noexcept {
  return mi_heap_check_owned(mi_prim_get_default_heap(), p);
}
