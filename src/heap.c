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
  _mi_heap_guarded_init(heap);
}

// The heap of heap's thread that adopted pages of tag `tag` join: one with that tag that may
// adopt (not made for mi_heap_destroy or for an arena), else `heap` itself.
mi_heap_t* _mi_heap_for_tag(mi_heap_t* heap, uint8_t tag) {
  if (heap->tag == tag) return heap;
  for (mi_heap_t* h = heap->tld->heaps; h != NULL; h = h->next) {
    if (h->tag == tag && !h->no_reclaim) return h;
  }
  return heap;
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
    _mi_warning_message("mi_heap_set_default: %p is not a heap of this thread", (void*)heap);
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

// The heap is going away: remote frees into its pages must no longer reach its delayed list.
// Only a page armed for that (or in the middle of such a push, which is waited for) needs a
// change; in the other states a remote free goes to the page's own list. (Only the owner arms a
// page, and it is the one running this.)
static bool mi_heap_page_never_delayed(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                       void* arg) {
  (void)heap; (void)pq; (void)arg;
  const mi_delayed_t d = mi_tf_delayed(mi_atomic_load_acquire(mi_page_thread_free_word(page)));
  if (d == MI_USE_DELAYED_FREE || d == MI_DELAYED_FREEING) {
    _mi_page_use_delayed_free(page, MI_NEVER_DELAYED_FREE, false);
  }
  return true;
}

static bool mi_heap_page_collect(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page,
                                 void* arg) {
  (void)heap;
  const mi_collect_t collect = *(const mi_collect_t*)arg;
  // (only mi_collect(true) gathers every free block on `free`; otherwise the lists are left as
  // they are, and what other threads freed is counted, not taken)
  if (collect == MI_FORCE) _mi_page_free_collect(page, true);
  if (mi_page_all_free_now(page)) {
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
  if (collect == MI_FORCE && !heap->no_reclaim) {
    // adopt what exited threads left (bounded by what is there now): empty parts are released
    for (size_t n = _mi_segment_abandoned_count(); n > 0; n--) {
      if (!_mi_segment_try_reclaim_abandoned(heap, &heap->tld->segments)) break;
    }
  }
  _mi_heap_collect_retired(heap, collect >= MI_FORCE);
  if (collect == MI_FORCE) _mi_guarded_collect();  // freed guarded blocks leave the quarantine
  mi_heap_visit_pages(heap, &mi_heap_page_collect, &collect);
  if (collect == MI_FORCE) _mi_purge_collect(true);  // (else, thread exit too: the engine decides)
  mi_assert_internal(collect != MI_ABANDON || heap->page_count == 0);
  mi_assert_expensive(collect == MI_ABANDON || _mi_page_queue_is_valid(heap, &heap->pages[MI_BIN_FULL]));
}

void _mi_heap_collect_abandon(mi_heap_t* heap) { mi_heap_collect_ex(heap, MI_ABANDON); }

void mi_heap_collect(mi_heap_t* heap, bool force) mi_attr_noexcept {
  mi_heap_collect_ex(heap, force ? MI_FORCE : MI_NORMAL);
  mi_purge_safe_point();
}

void mi_collect(bool force) mi_attr_noexcept {
  mi_heap_collect(mi_prim_get_default_heap(), force);
}

void mi_collect_reduce(size_t target_thread_owned) mi_attr_noexcept {
  (void)target_thread_owned;
  mi_collect(true);
}

/* ---------------------------------------------------------------------------------------------
   Ownership
--------------------------------------------------------------------------------------------- */
// Was p allocated from `heap` (the start of, or a pointer into, a block of one of its pages)?
bool mi_heap_contains_block(mi_heap_t* heap, const void* p) mi_attr_noexcept {
  if (heap == NULL || !mi_heap_is_initialized(heap) || !mi_is_in_heap_region(p)) return false;
  const mi_page_t* page = _mi_segment_page_of(_mi_ptr_segment_checked(p), p);
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

bool mi_unsafe_heap_page_is_under_utilized(mi_heap_t* heap, void* p,
                                           size_t perc_threshold) mi_attr_noexcept {
  if (!mi_heap_contains_block(heap, p)) return false;
  const mi_page_t* page = _mi_segment_page_of(_mi_ptr_segment_checked(p), p);
  const size_t capacity = (page->capacity > 0 ? page->capacity : 1);  // blocks handed out so far
  return (size_t)page->used * 100 < perc_threshold * capacity;
}

/* ---------------------------------------------------------------------------------------------
   First-class heaps
--------------------------------------------------------------------------------------------- */
static bool mi_heap_is_backing(const mi_heap_t* heap) { return heap->tld->heap_backing == heap; }

static bool mi_heap_is_owned(const mi_heap_t* heap, const char* fn) {
  if (heap == NULL || !mi_heap_is_initialized(heap) || heap->thread_id != _mi_thread_id()) {
    _mi_warning_message("%s: %p is not a heap of this thread", fn, (const void*)heap);
    return false;
  }
  return true;
}

mi_heap_t* mi_heap_new_ex(int heap_tag, bool allow_destroy, mi_arena_id_t arena_id) mi_attr_noexcept {
  if (heap_tag < 0 || heap_tag > 255 || (arena_id != 0 && !_mi_arena_id_is_valid(arena_id))) {
    _mi_warning_message("mi_heap_new_ex: invalid tag %d or arena id %d", heap_tag, arena_id);
    errno = EINVAL;
    return NULL;
  }
  mi_heap_t* backing = mi_heap_get_backing();
  if (!mi_heap_is_initialized(backing)) {  // a thread whose exit has begun gets no new heaps
    errno = ENOMEM;
    return NULL;
  }
  mi_heap_t* heap = (mi_heap_t*)mi_heap_malloc(backing, sizeof(mi_heap_t));
  if (heap == NULL) return NULL;
  // no_reclaim: abandoned pages must not join a heap that may be destroyed wholesale
  // an arena heap never adopts: abandoned memory elsewhere is not its arena's
  _mi_heap_init(heap, backing->tld, (uint8_t)heap_tag, allow_destroy || arena_id != 0);
  heap->arena_id = arena_id;
  return heap;
}

mi_heap_t* mi_heap_new_in_arena(mi_arena_id_t arena_id) mi_attr_noexcept {
  return mi_heap_new_ex(0, true, arena_id);
}

mi_heap_t* mi_heap_new(void) mi_attr_noexcept { return mi_heap_new_ex(0, true, 0); }

// Unlink the heap from its thread and release its memory.
static void mi_heap_free(mi_heap_t* heap) {
  mi_tld_t* tld = heap->tld;
  if (mi_prim_get_default_heap() == heap) _mi_heap_set_default_direct(tld->heap_backing);
  mi_heap_t* prev = NULL;
  mi_heap_t* curr = tld->heaps;
  while (curr != heap && curr != NULL) {
    prev = curr;
    curr = curr->next;
  }
  if (curr == heap) {
    if (prev != NULL) prev->next = heap->next;
    else tld->heaps = heap->next;
  }
  mi_free(heap);
}

// Stop remote frees from reaching `heap` through its delayed list, and empty that list.
static void mi_heap_detach_delayed(mi_heap_t* heap) {
  mi_heap_visit_pages(heap, &mi_heap_page_never_delayed, NULL);
  _mi_heap_delayed_free_all(heap);
}

// Move every page of `from` into `to` (same thread); the blocks stay valid. At thread exit the
// pages keep their tag (they are abandoned next, and the tag says which heap adopts them).
static void mi_heap_absorb(mi_heap_t* to, mi_heap_t* from, bool keep_tag) {
  mi_heap_detach_delayed(from);
  for (size_t bin = 0; bin <= MI_BIN_FULL; bin++) {
    mi_page_queue_t* from_pq = &from->pages[bin];
    mi_page_queue_t* to_pq = &to->pages[bin];
    mi_page_t* page = from_pq->first;
    while (page != NULL) {
      mi_page_t* next = page->next;
      _mi_page_queue_remove(from, from_pq, page);
      mi_page_set_heap(page, to);
      if (!keep_tag) page->heap_tag = to->tag;
      _mi_page_queue_push_back(to, to_pq, page);
      if (mi_page_is_in_full(page)) {
        // Re-arm: a full page reports remote frees to its new heap. A free that came meanwhile
        // (the page was disarmed since the detach) is on thread_free, where nobody looks while
        // the page sits in the full queue: then it has room, and leaves that queue.
        _mi_page_use_delayed_free(page, MI_USE_DELAYED_FREE, true);
        if (mi_page_thread_free(page) != NULL) _mi_page_unfull(page);
      } else {
        _mi_page_use_delayed_free(page, MI_NO_DELAYED_FREE, true);
      }
      page = next;
    }
  }
  // retired pages moved along stay on the target's sweep
  if (from->page_retired_min < to->page_retired_min) to->page_retired_min = from->page_retired_min;
  if (from->page_retired_max > to->page_retired_max) to->page_retired_max = from->page_retired_max;
  from->page_retired_min = MI_BIN_FULL;
  from->page_retired_max = 0;
  mi_assert_internal(from->page_count == 0);
  mi_assert_expensive(_mi_page_queue_is_valid(to, &to->pages[MI_BIN_FULL]));
}

void mi_heap_delete(mi_heap_t* heap) mi_attr_noexcept {
  if (!mi_heap_is_owned(heap, "mi_heap_delete")) return;
  if (mi_heap_is_backing(heap)) {
    _mi_warning_message("mi_heap_delete: the backing heap cannot be deleted");
    return;
  }
  mi_heap_absorb(heap->tld->heap_backing, heap, false);
  mi_heap_free(heap);
}

// Thread exit: every other heap of the thread hands its pages to the backing heap.
void _mi_heap_delete_others(mi_heap_t* backing) {
  mi_assert_internal(mi_heap_is_backing(backing));
  mi_heap_t* heap = backing->tld->heaps;
  while (heap != NULL) {
    mi_heap_t* next = heap->next;
    if (heap != backing) {
      mi_heap_absorb(backing, heap, true);
      mi_heap_free(heap);
    }
    heap = next;
  }
}

typedef struct mi_visit_s {
  const mi_heap_t* heap;
  bool visit_blocks;
  mi_block_visit_fun* visitor;
  void* arg;
} mi_visit_t;

#if MI_TRACK_ENABLED
static bool mi_heap_page_visit(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page, void* arg);

// Memory checkers see a destroyed heap's live blocks freed: no leak, and a later use is reported.
static bool mi_track_destroyed_block(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                                     size_t size, void* arg) {
  (void)heap; (void)area; (void)arg;
  if (block != NULL) {
    mi_track_free(block);
    mi_track_mem_noaccess(block, size);
  }
  return true;
}
#endif

static bool mi_heap_page_destroy(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page, void* arg) {
  (void)heap; (void)arg;
#if MI_TRACK_ENABLED
  const mi_visit_t v = {heap, true, &mi_track_destroyed_block, NULL};
  mi_heap_page_visit(heap, pq, page, (void*)&v);
#endif
  _mi_page_free(page, pq);  // live blocks included: that is what destroy means
  return true;
}

void mi_heap_destroy(mi_heap_t* heap) mi_attr_noexcept {
  if (!mi_heap_is_owned(heap, "mi_heap_destroy")) return;
  if (mi_heap_is_backing(heap) || !heap->no_reclaim) {
    _mi_warning_message("mi_heap_destroy: heap %p may hold adopted blocks; deleting it instead",
                        (void*)heap);
    mi_heap_delete(heap);
    return;
  }
  mi_heap_detach_delayed(heap);
  _mi_guarded_heap_destroy(heap);  // its guard pages become ordinary memory again
  mi_heap_visit_pages(heap, &mi_heap_page_destroy, NULL);
  mi_heap_free(heap);
  mi_purge_safe_point();
}

// MIMALLOC_DESTROY_ON_EXIT: every page of every heap of the calling thread goes, live or not.
void _mi_heap_unsafe_destroy_all(void) {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (!mi_heap_is_initialized(heap)) return;
  for (mi_heap_t* h = heap->tld->heaps; h != NULL; h = h->next) {
    mi_heap_detach_delayed(h);
    mi_heap_visit_pages(h, &mi_heap_page_destroy, NULL);
  }
}

/* ---------------------------------------------------------------------------------------------
   Visiting blocks
--------------------------------------------------------------------------------------------- */
#define MI_VISIT_MAX_BLOCKS MI_PAGE_BLOCKS_MAX  // blocks in the densest page

// Call the visitor for every live block of the page: all blocks handed out minus the free ones.
static bool mi_page_visit_blocks(mi_page_t* page, const mi_heap_area_t* area, const mi_visit_t* v) {
  if (page->used == 0) return true;
  const size_t bsize = mi_page_block_size(page);
  uint8_t* const start = mi_page_start(page);
  const size_t usable = area->block_size;
  if (page->capacity == 1) return v->visitor(v->heap, area, start, usable, v->arg);
  uint64_t free_map[MI_VISIT_MAX_BLOCKS / 64];
  const size_t capacity = page->capacity;
  mi_assert_internal(capacity <= MI_VISIT_MAX_BLOCKS);
  memset(free_map, 0, sizeof(free_map));
  for (mi_block_t* b = page->free; b != NULL; b = mi_block_next(page, b)) {
    const size_t i = (size_t)((uint8_t*)b - start) / bsize;
    free_map[i / 64] |= (uint64_t)1 << (i % 64);
  }
  for (size_t i = 0; i < capacity; i++) {
    if (free_map[i / 64] & ((uint64_t)1 << (i % 64))) continue;
    if (!v->visitor(v->heap, area, start + i * bsize, usable, v->arg)) return false;
  }
  return true;
}

// One area: the page, then (visit_blocks) its live blocks. The caller has the page to itself:
// it owns it, or the page is abandoned and its segment off the abandoned list.
static bool mi_page_area_visit(mi_page_t* page, const mi_visit_t* v) {
  _mi_page_free_collect(page, true);  // every free block is now on `free`
  const size_t bsize = mi_page_block_size(page);
  const mi_heap_area_t area = {
      .blocks = mi_page_start(page),
      .reserved = (size_t)page->reserved * bsize,
      .committed = (size_t)page->capacity * bsize,
      .used = page->used,
      .block_size = bsize - MI_PADDING,  // what the program may use (a secure canary follows)
      .full_block_size = bsize,
      .heap_tag = page->heap_tag,
  };
  if (!v->visitor(v->heap, &area, NULL, area.block_size, v->arg)) return false;
  return !v->visit_blocks || mi_page_visit_blocks(page, &area, v);
}

static bool mi_heap_page_visit(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page, void* arg) {
  (void)heap; (void)pq;
  return mi_page_area_visit(page, (const mi_visit_t*)arg);
}

bool mi_heap_visit_blocks(const mi_heap_t* heap, bool visit_blocks, mi_block_visit_fun* visitor,
                          void* arg) mi_attr_noexcept {
  if (visitor == NULL || heap == NULL || !mi_heap_is_initialized(heap)) return false;
  // Blocks other threads freed into full pages wait on the heap's delayed list, still counted as
  // live by their pages: hand them to their pages first, so only live blocks are visited.
  _mi_heap_delayed_free_all((mi_heap_t*)heap);
  const mi_visit_t v = {heap, visit_blocks, visitor, arg};
  return mi_heap_visit_pages((mi_heap_t*)heap, &mi_heap_page_visit, (void*)&v);
}

/* ---------------------------------------------------------------------------------------------
   Visiting abandoned memory (segment.c takes each abandoned segment of the sub-process off the
   list while its pages are visited here)
--------------------------------------------------------------------------------------------- */
typedef struct mi_abandoned_visit_s {
  mi_visit_t v;
  int heap_tag;  // -1: every tag
} mi_abandoned_visit_t;

static bool mi_abandoned_page_visit(mi_page_t* page, void* arg) {
  const mi_abandoned_visit_t* av = (const mi_abandoned_visit_t*)arg;
  if (av->heap_tag >= 0 && page->heap_tag != (uint8_t)av->heap_tag) return true;
  if (mi_page_owner(page) != 0) return true;  // (a fork child's quarantined pages, say)
  return mi_page_area_visit(page, &av->v);
}

bool mi_abandoned_visit_blocks(mi_subproc_id_t subproc_id, int heap_tag, bool visit_blocks,
                               mi_block_visit_fun* visitor, void* arg) mi_attr_noexcept {
  if (visitor == NULL || heap_tag < -1 || heap_tag > 255 || subproc_id == NULL) {
    _mi_warning_message("mi_abandoned_visit_blocks: invalid arguments (tag %d)", heap_tag);
    errno = EINVAL;
    return false;
  }
  mi_process_init();
  const mi_abandoned_visit_t av = {{NULL, visit_blocks, visitor, arg}, heap_tag};
  return _mi_segments_abandoned_visit(_mi_subproc_of_id(subproc_id), &mi_abandoned_page_visit,
                                      (void*)&av);
}
