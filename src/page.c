/* Pages: initialisation, lazy free-list extension, collecting the three free lists, the full-page
 * protocol (delayed frees), retiring empty pages, and the malloc slow path that finds a page with
 * a free block. Owner thread only, except the atomic `thread_free` word and the heap's delayed
 * list, which other threads push onto. Calls: page queues, segments. */
#include "internal/internal.h"

#define MI_EXTEND_BYTES         4096  // at most one OS page of blocks threaded per extension
#define MI_MAX_CANDIDATE_SEARCH 8     // pages examined per search before taking a fresh one
#define MI_RETIRE_CYCLES_SMALL  16    // slow-path sweeps an empty small page survives
#define MI_RETIRE_CYCLES_LARGE  3
#define MI_TICK_INTERVAL_MS 5   // periodic work of the slow path at most this often
#define MI_TICK_CHECK_CALLS 32  // slow-path calls per look at the clock
#define MI_TICK_CHECK_FREES 16  // free-path events (tick_events) per look at the clock
#define MI_BIN_SMALL_OBJ_MAX    (MI_BIN_SMALL_STEPS + 8 * (13 - 7))  // bin of the 8 KiB class
_Static_assert(MI_SMALL_OBJ_SIZE_MAX == 8192, "MI_BIN_SMALL_OBJ_MAX assumes 8 KiB small objects");

/* ---------------------------------------------------------------------------------------------
   Initialisation and extension
--------------------------------------------------------------------------------------------- */
// Thread up to one OS page worth of new blocks onto the (empty) free list; untouched memory
// beyond stays unbacked.
#if SA_SECURE >= 2
static size_t mi_gcd(size_t a, size_t b) {
  while (b != 0) {
    const size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}
#endif

static void mi_page_extend_free(mi_heap_t* heap, mi_page_t* page) {
  (void)heap;
  mi_assert_internal(page->free == NULL && page->capacity < page->reserved);
  const size_t bsize = mi_page_block_size(page);
  size_t extend = page->reserved - page->capacity;
  const size_t max_extend = (bsize >= MI_EXTEND_BYTES ? 1 : MI_EXTEND_BYTES / bsize);
  if (extend > max_extend) extend = max_extend;
  uint8_t* const start = mi_page_start(page) + page->capacity * bsize;
  mi_track_mem_noaccess(start, extend * bsize);  // free blocks: only their links are ours
#if SA_SECURE >= 2
  // Secure builds thread the new blocks in a random order: block r, r+s, r+2s, ... (mod extend),
  // a permutation because the stride s is coprime with extend.
  const uint64_t rnd = _mi_heap_random_next(heap);
  const size_t first = (size_t)(rnd % extend);
  size_t stride = 1;
  if (extend > 2) {  // a random stride in [1, extend-1], moved up (cyclically) to a coprime one
    stride = 1 + (size_t)((rnd >> 32) % (extend - 1));
    while (mi_gcd(stride, extend) != 1) stride = stride % (extend - 1) + 1;
  }
  mi_block_t* const head = (mi_block_t*)(start + first * bsize);
  uint8_t* const end = start + extend * bsize;
  const size_t step = stride * bsize;  // (in bytes: the walk needs no multiplication)
  mi_block_t* block = head;
  for (size_t i = 1; i < extend; i++) {
    uint8_t* next = (uint8_t*)block + step;
    if (next >= end) next -= extend * bsize;
    mi_block_set_next(page, block, (mi_block_t*)next);
    block = (mi_block_t*)next;
  }
  mi_block_set_next(page, block, NULL);
#else
  mi_block_t* const head = (mi_block_t*)start;
  mi_block_t* block = head;
  for (size_t i = 1; i < extend; i++) {
    mi_block_t* next = (mi_block_t*)((uint8_t*)block + bsize);
    mi_block_set_next(page, block, next);
    block = next;
  }
  mi_block_set_next(page, block, NULL);
#endif
  // Publish the list only once every link is written (the compiler may not sink a link store
  // below this): a fork() that catches this thread here leaves the child either the page as it
  // was or the whole list (and the child checks the lists of such pages before using them).
  atomic_signal_fence(memory_order_seq_cst);
  page->capacity += (uint16_t)extend;
  page->free = head;
  page->free_is_zero = page->is_zero_init;  // fresh blocks are zero apart from their link
  heap->tld->stats.pages_extended++;
}

static void mi_page_init(mi_heap_t* heap, mi_page_t* page, size_t block_size) {
  page->block_size = block_size;
  page->bin = (uint8_t)(page->is_huge ? MI_BIN_HUGE : _mi_bin(block_size));
  page->block_size_shift =
      (uint8_t)(_mi_is_power_of_two(block_size) ? mi_bsr(block_size) : 0);
  page->block_size_recip =
      (page->block_size_shift == 0 && block_size <= MI_MEDIUM_BLOCK_MAX && !page->is_huge
           ? (uint32_t)((((uint64_t)1 << 36) + block_size - 1) / block_size)
           : 0);
  const size_t area =
      (page->is_huge ? block_size : page->slice_count * MI_SLICE_SIZE - MI_PAGE_GUARD);
  page->reserved = (uint16_t)(page->is_huge ? 1 : area / block_size);
  page->capacity = 0;
  page->used = 0;
  page->free = NULL;
  page->local_free = NULL;
  mi_atomic_store_relaxed(mi_page_owner_word(page), heap->thread_id);  // (no flags)
  page->retire_expire = 0;
  page->heap_tag = heap->tag;
#if SA_SECURE >= 3
  page->keys[0] = _mi_heap_random_next(heap);
  page->keys[1] = _mi_heap_random_next(heap);
#endif
  page->next = page->prev = NULL;
  mi_atomic_store_relaxed(mi_page_thread_free_word(page), mi_tf_empty(MI_NO_DELAYED_FREE));
  mi_page_set_heap(page, heap);
  mi_assert_internal(page->reserved > 0);
  mi_page_extend_free(heap, page);
  heap->tld->stats.pages.total++;
  mi_assert_expensive(_mi_page_is_valid(page));
}

/* ---------------------------------------------------------------------------------------------
   Collecting the free lists
--------------------------------------------------------------------------------------------- */
// Take the atomic thread_free list (its state bits stay): its head and length, and the blocks
// no longer count as used. NULL if it was empty. The list is not walked.
static mi_block_t* mi_page_thread_free_take(mi_page_t* page) {
  uintptr_t tfree = mi_atomic_load_relaxed(mi_page_thread_free_word(page));
  do {
    if (mi_tf_block(tfree) == NULL) return NULL;
  } while (!mi_atomic_cas_weak_acq_rel(mi_page_thread_free_word(page), &tfree, mi_tf_take(tfree)));
  const size_t count = mi_tf_count(tfree);
  if (mi_unlikely(count == 0 || count > page->used)) {
    _mi_error_message(EFAULT, "corrupted free list in page %p: its thread-free list holds %zu "
                      "blocks of %u in use", (void*)page, count, (unsigned)page->used);
    return NULL;  // leak the list rather than spread the corruption
  }
  page->used -= (uint16_t)count;
  return mi_tf_block(tfree);
}

// Put `list` in front of `*into` (walking `list` to its end).
static void mi_page_list_prepend(mi_page_t* page, mi_block_t** into, mi_block_t* list) {
  mi_block_t* tail = list;
  mi_block_t* next;
  for (size_t n = 1; (next = mi_block_next(page, tail)) != NULL && n <= page->capacity; n++) {
    tail = next;
  }
  mi_block_set_next(page, tail, *into);
  *into = list;
}

/* Account for the blocks other threads freed (afterwards `used` is exact) and refill `free` if it
   is empty. No list is walked then: `free` takes `local_free` and `local_free` the blocks of other
   threads, or `free` takes those directly. With `free` non-empty the other threads' blocks join
   `local_free` (a walk only when both are non-empty). `force` moves every free block onto `free`
   (visiting, collecting). */
void _mi_page_free_collect(mi_page_t* page, bool force) {
  mi_block_t* theirs = mi_page_thread_free_take(page);
  if (mi_likely(page->free == NULL)) {
    if (page->local_free != NULL) {
      page->free = page->local_free;
      page->local_free = theirs;
    } else if (theirs != NULL) {
      page->free = theirs;
    } else {
      return;
    }
    page->free_is_zero = false;
    theirs = NULL;
    if (!force || page->local_free == NULL) return;
  }
  if (theirs != NULL) {
    if (page->local_free == NULL) page->local_free = theirs;
    else mi_page_list_prepend(page, &page->local_free, theirs);
  }
  if (force && page->local_free != NULL) {
    mi_page_list_prepend(page, &page->free, page->local_free);
    page->local_free = NULL;
    page->free_is_zero = false;
  }
}

/* ---------------------------------------------------------------------------------------------
   Full pages and delayed frees. A page without free blocks leaves its queue for the full queue and
   arms MI_USE_DELAYED_FREE, so the next remote free into it also tells the owning heap.
--------------------------------------------------------------------------------------------- */
void _mi_page_use_delayed_free(mi_page_t* page, mi_delayed_t delay, bool override_never) {
  uintptr_t tfree = mi_atomic_load_acquire(mi_page_thread_free_word(page));
  size_t spins = 0;
  for (;;) {
    const mi_delayed_t old = mi_tf_delayed(tfree);
    if (old == MI_DELAYED_FREEING) {  // another thread is between its two steps: wait for it
      if (++spins % 16 == 0) _mi_prim_thread_yield();
      else mi_atomic_yield();
      tfree = mi_atomic_load_acquire(mi_page_thread_free_word(page));
      continue;
    }
    if (old == delay) return;
    if (old == MI_NEVER_DELAYED_FREE && !override_never) return;
    if (mi_atomic_cas_weak_acq_rel(mi_page_thread_free_word(page), &tfree, mi_tf_set_delayed(tfree, delay))) {
      return;
    }
  }
}

// Move a page without free blocks to the full queue. False if a remote free arrived meanwhile
// (the page then has room and stays).
static bool mi_page_to_full(mi_page_t* page, mi_page_queue_t* pq) {
  mi_heap_t* heap = mi_page_heap(page);
  // (over a NEVER left from an earlier abandonment or heap move: the page has an owner now)
  _mi_page_use_delayed_free(page, MI_USE_DELAYED_FREE, true);
  if (mi_page_thread_free(page) != NULL) {
    // it has room after all: disarm (waiting out any delayed push already under way), so a page
    // outside the full queue never sends frees to the heap, where they could outlive the page
    _mi_page_use_delayed_free(page, MI_NO_DELAYED_FREE, false);
    return false;
  }
  _mi_page_queue_remove(heap, pq, page);
  _mi_page_queue_push_back(heap, &heap->pages[MI_BIN_FULL], page);
  return true;
}

/* A block of a full page was freed: the page goes back to its size queue, at the end. At the
   front it would serve the very next malloc with its one free block and be full again at once: a
   queue move and a slow path for every block freed into it. At the end it is reached when the
   pages before it are used up, by which time more of its blocks are free.
   The page stays armed for delayed frees: the next remote free into it still goes through the
   heap's delayed list (the block stays counted in `used` until the owner takes it, so the page
   cannot go away meanwhile), which disarms it. Leaving it armed saves an atomic update here. */
void _mi_page_unfull(mi_page_t* page) {
  mi_assert_internal(mi_page_is_in_full(page));
  mi_heap_t* heap = mi_page_heap(page);
  mi_assert_expensive(_mi_page_is_valid(page));
  _mi_page_queue_remove(heap, &heap->pages[MI_BIN_FULL], page);
  _mi_page_queue_push_back(heap, _mi_heap_page_queue_of(heap, page), page);
}

bool _mi_heap_delayed_free_partial(mi_heap_t* heap) {
  if (mi_atomic_load_relaxed(&heap->thread_delayed_free) == NULL) return true;
  mi_block_t* block = mi_atomic_exchange_acq_rel(&heap->thread_delayed_free, NULL);
  while (block != NULL) {
    mi_block_t* next = mi_block_nextx(heap->keys, block);
#if SA_SECURE >= 3
    if (next != NULL && !mi_is_in_heap_region(next)) {
      _mi_error_message(EFAULT, "corrupted free list: the delayed-free block %p links to %p", (void*)block,
                        (void*)next);
      next = NULL;  // (with an error handler registered: drop the rest)
    }
#endif
    _mi_free_delayed_block(block);
    block = next;
  }
  return (mi_atomic_load_relaxed(&heap->thread_delayed_free) == NULL);
}

void _mi_heap_delayed_free_all(mi_heap_t* heap) {
  while (!_mi_heap_delayed_free_partial(heap)) {
  }
}

/* ---------------------------------------------------------------------------------------------
   Retiring and freeing pages
--------------------------------------------------------------------------------------------- */
void _mi_page_free(mi_page_t* page, mi_page_queue_t* pq) {
  mi_heap_t* heap = mi_page_heap(page);
  mi_assert_expensive(_mi_page_queue_is_valid(heap, pq));
  _mi_page_queue_remove(heap, pq, page);
  heap->tld->stats.pages.current--;
  _mi_segment_page_free(page, &heap->tld->segments);
}

// All blocks of the page are free. Keep the only page of a queue for a few slow-path sweeps (a
// loop that allocates and frees one block must not map and unmap a page each time); give any
// other page back to its segment at once, unless it holds a single block (see below).
static void mi_page_retire_keep(mi_heap_t* heap, mi_page_t* page, size_t bin) {
  page->retire_expire = (bin <= MI_BIN_SMALL_OBJ_MAX ? MI_RETIRE_CYCLES_SMALL : MI_RETIRE_CYCLES_LARGE);
  if (bin < heap->page_retired_min) heap->page_retired_min = bin;
  if (bin > heap->page_retired_max) heap->page_retired_max = bin;
}

static void mi_heap_tick_event(mi_heap_t* heap);

// A page of one block (a large page) empties with every free of its block, and its queue seldom
// holds it alone: the other blocks of the size live in full pages that come back one by one. So
// such a page stays too, at the front of its queue, unless an empty page is kept there already;
// only for blocks up to twice the largest medium size (buffers just over 64 KiB), so that growing
// buffers do not leave one kept page in every large bin.
#define MI_RETIRE_SINGLE_MAX (2 * MI_MEDIUM_OBJ_SIZE_MAX)
static bool mi_page_queue_has_retired(const mi_page_queue_t* pq, const mi_page_t* page) {
  const mi_page_t* first = (pq->first == page ? page->next : pq->first);  // (page: just unfull'd)
  return first != NULL && first->retire_expire != 0 && mi_page_all_free(first);
}

static mi_decl_noinline void mi_page_retire_slow(mi_heap_t* heap, mi_page_t* page) {
  if (mi_page_is_in_full(page)) _mi_page_unfull(page);
  mi_page_queue_t* pq = _mi_heap_page_queue_of(heap, page);
  if (page->bin <= MI_BIN_SMALL_OBJ_MAX && pq->first == page && pq->last == page) {
    mi_page_retire_keep(heap, page, page->bin);
  } else if (!page->is_huge && page->reserved == 1 && page->block_size <= MI_RETIRE_SINGLE_MAX &&
             !mi_page_queue_has_retired(pq, page)) {
    _mi_page_queue_move_to_front(heap, pq, page);
    mi_page_retire_keep(heap, page, page->bin);
  } else {
    _mi_page_free(page, pq);
    mi_heap_tick_event(heap);  // the page is gone, the heap consistent: periodic work may run
  }
}

void _mi_page_retire(mi_page_t* page) {
  mi_heap_t* heap = mi_page_heap(page);
  const size_t bin = page->bin;  // MI_BIN_HUGE for huge pages, which never stay
  const mi_page_queue_t* pq = &heap->pages[bin];
  // Only small pages stay (64 KiB each, so a thread that goes idle holds a few MiB at most: what
  // a retired page holds, the memory-return engine cannot take back while its owner idles).
  if (mi_likely(pq->first == page && pq->last == page && bin <= MI_BIN_SMALL_OBJ_MAX)) {
    mi_page_retire_keep(heap, page, bin);  // not in the full queue: it is first in its own
    return;
  }
  mi_page_retire_slow(heap, page);
}

// Count down the retired pages; free those that expired (all of them when forced).
void _mi_heap_collect_retired(mi_heap_t* heap, bool force) {
  size_t min = MI_BIN_FULL, max = 0;
  for (size_t bin = heap->page_retired_min; bin <= heap->page_retired_max; bin++) {
    mi_page_queue_t* pq = &heap->pages[bin];
    mi_page_t* page = pq->first;
    if (page == NULL || page->retire_expire == 0) continue;
    if (!mi_page_all_free(page)) {
      page->retire_expire = 0;
      continue;
    }
    page->retire_expire--;
    if (force || page->retire_expire == 0) {
      _mi_page_free(page, pq);
    } else {
      if (bin < min) min = bin;
      if (bin > max) max = bin;
    }
  }
  heap->page_retired_min = min;
  heap->page_retired_max = max;
}

/* ---------------------------------------------------------------------------------------------
   Abandon and reclaim (thread exit and adoption)
--------------------------------------------------------------------------------------------- */
// The heap lets go of a page with live blocks; the page must not be armed for delayed frees.
void _mi_page_abandon(mi_page_t* page, mi_page_queue_t* pq) {
  mi_heap_t* heap = mi_page_heap(page);
  mi_assert_internal(mi_tf_delayed(mi_atomic_load_relaxed(mi_page_thread_free_word(page))) >=
                     MI_NO_DELAYED_FREE);
  _mi_page_queue_remove(heap, pq, page);
  heap->tld->stats.pages.current--;
  mi_page_set_heap(page, NULL);
  mi_page_set_owner(page, 0);  // every free into it is a remote one from now on
  _mi_segment_page_abandon(page, &heap->tld->segments);
}

// Adopt a page of an abandoned segment into `heap`.
// (Its delayed state stays: not armed, remote frees go to the page's own list, and its lists stay
// as they are until the page is next used.)
void _mi_page_reclaim(mi_heap_t* heap, mi_page_t* page) {
  mi_assert_internal(page->block_size > 0 && page->next == NULL && page->prev == NULL);
  mi_page_set_heap(page, heap);  // (the page keeps its tag: segment.c chose the heap by it)
  mi_page_set_owner(page, heap->thread_id);
  mi_page_queue_t* pq = _mi_heap_page_queue_of(heap, page);
  _mi_page_queue_push_back(heap, pq, page);
  heap->tld->stats.pages.current++;
  if (mi_page_all_free_now(page)) _mi_page_free(page, pq);
}

/* ---------------------------------------------------------------------------------------------
   Finding a page with a free block
--------------------------------------------------------------------------------------------- */
static mi_page_t* mi_page_fresh(mi_heap_t* heap, mi_page_queue_t* pq, bool may_adopt,
                                bool* adopted) {
  mi_page_t* page = _mi_segment_page_alloc(heap, pq->block_size, 0, 0, may_adopt, adopted,
                                           &heap->tld->segments);
  if (page == NULL) return NULL;
  mi_page_init(heap, page, pq->block_size);
  heap->tld->stats.pages.current++;
  _mi_page_queue_push(heap, pq, page);
  return page;
}

// Look at a bounded number of pages of the queue; pages without any room move to the full queue.
#define MI_ADOPT_TRIES 8  // abandoned segments adopted at most before a fresh page is carved

// The first of a bounded number of pages of the queue that has (or can be given) a free block;
// pages without any room move to the full queue.
static mi_page_t* mi_page_queue_find_candidate(mi_heap_t* heap, mi_page_queue_t* pq) {
  size_t candidates = 0;
  mi_page_t* page = pq->first;
  while (page != NULL && candidates++ < MI_MAX_CANDIDATE_SEARCH) {
    mi_page_t* next = page->next;
#if SA_SECURE >= 2
    // Secure builds sometimes extend a page that has free blocks to reuse, so the next block's
    // address does not follow from the last one freed.
    if (page->free == NULL && page->capacity < page->reserved && (_mi_heap_random_next(heap) & 1)) {
      mi_page_extend_free(heap, page);
    }
#endif
    if (page->free == NULL) _mi_page_free_collect(page, false);
    if (!mi_page_immediate_available(page) && page->capacity < page->reserved) {
      mi_page_extend_free(heap, page);
    }
    if (mi_page_immediate_available(page)) {
      page->retire_expire = 0;
      _mi_page_queue_move_to_front(heap, pq, page);
      return page;
    }
    if (!mi_page_to_full(page, pq)) {  // a remote free raced in: use it
      _mi_page_free_collect(page, false);
      if (mi_page_immediate_available(page)) return page;
    }
    page = next;
  }
  return NULL;
}

// A page of the queue with a free block; else a fresh page, after adopting abandoned segments (a
// few, oldest first) whose pages of this size may serve first.
static mi_page_t* mi_page_queue_find_free(mi_heap_t* heap, mi_page_queue_t* pq) {
  mi_page_t* page = mi_page_queue_find_candidate(heap, pq);
  if (page != NULL) return page;
  _mi_heap_collect_retired(heap, false);
  for (size_t tries = 0;; tries++) {
    bool adopted;
    page = mi_page_fresh(heap, pq, tries < MI_ADOPT_TRIES, &adopted);
    if (page != NULL || !adopted) return page;
    page = mi_page_queue_find_candidate(heap, pq);
    if (page != NULL) return page;
  }
}

static mi_page_t* mi_huge_page_alloc(mi_heap_t* heap, size_t size, size_t page_alignment,
                                     size_t align_offset) {
  const size_t block_size = _mi_align_up(size == 0 ? 1 : size, _mi_os_page_size());
  mi_page_queue_t* pq = &heap->pages[MI_BIN_HUGE];
  bool adopted;
  mi_page_t* page = _mi_segment_page_alloc(heap, block_size, page_alignment, align_offset, false,
                                           &adopted, &heap->tld->segments);
  if (page == NULL) return NULL;
  mi_assert_internal(page->is_huge);
  mi_page_init(heap, page, block_size);
  heap->tld->stats.pages.current++;
  heap->tld->stats.huge.total++;
  _mi_page_queue_push(heap, pq, page);
  return page;
}

static mi_page_t* mi_find_page(mi_heap_t* heap, size_t size, size_t huge_alignment,
                               size_t align_offset) {
  if (mi_unlikely(size > MI_LARGE_OBJ_SIZE_MAX || huge_alignment > 0)) {
    return mi_huge_page_alloc(heap, size, huge_alignment, align_offset);
  }
  // (a small size's queue: the one of the page the direct table points at, unless that is empty)
  mi_page_t* page = (size <= MI_SMALL_SIZE_MAX ? _mi_heap_get_free_small_page(heap, size) : NULL);
  mi_page_queue_t* pq =
      &heap->pages[page != NULL && page != &_mi_page_empty ? page->bin : _mi_bin(size)];
  page = pq->first;
  if (page != NULL) {
    // (a page with free blocks serves as it is: what other threads freed into it waits)
    if (page->free == NULL) _mi_page_free_collect(page, false);
    if (mi_page_immediate_available(page)) {
      page->retire_expire = 0;
      return page;
    }
  }
  return mi_page_queue_find_free(heap, pq);
}

/* Periodic work, on the slow path of any thread that allocates (time-based, so that a thread that
   allocates little still does it): flush the statistics, and the memory-return engine's tick
   (purge.c: starts its helper thread, or runs a pass when there is none). */
static mi_decl_noinline void mi_heap_tick(mi_heap_t* heap, long long now) {
  heap->tld->tick_next = now + MI_TICK_INTERVAL_MS;
  _mi_stats_flush(heap->tld);
  _mi_purge_tick(now);
}

// An event on a free path (a page freed, a block freed into an abandoned segment): look at the
// clock now and then, so that a thread that frees much and allocates little still ticks.
static void mi_heap_tick_event(mi_heap_t* heap) {
  mi_purge_safe_point();  // memory to return: the helper thread may start
  if ((++heap->tld->tick_events % MI_TICK_CHECK_FREES) != 0) return;
  const long long now = _mi_prim_clock_now();
  if (now >= heap->tld->tick_next) mi_heap_tick(heap, now);
}

// A thread that frees into abandoned segments ticks too, so that memory of exited threads is
// returned while the thread frees it, even if it hardly allocates.
void _mi_heap_abandoned_free_tick(void) {
  _mi_purge_poke();  // (a pass visits abandoned segments)
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (!mi_heap_is_initialized(heap)) return;
  mi_heap_tick_event(heap);
}

// The slow path's bookkeeping: statistics, callbacks, delayed frees, periodic work.
static mi_decl_always_inline void mi_malloc_generic_prologue(mi_heap_t* heap) {
  heap->tld->heartbeat++;  // (also the count of slow-path calls in the statistics)
  mi_purge_safe_point();
  if (mi_unlikely(mi_atomic_load_relaxed(&_mi_deferred_fun) != NULL)) _mi_deferred_free(heap, false);
  if (mi_atomic_load_relaxed(&heap->thread_delayed_free) != NULL) {
    _mi_heap_delayed_free_partial(heap);
  }
  // MIMALLOC_GENERIC_COLLECT=N: a sweep of the heap every N calls (the option is read again at
  // each sweep, and every 1024 calls while it is off: not on every call)
  if (--heap->tld->collect_countdown <= 0) {
    const long every = mi_option_get(mi_option_generic_collect);
    if (every > 0 && heap->tld->collect_countdown == 0) mi_heap_collect(heap, false);
    heap->tld->collect_countdown = (every > 0 ? every : 1024);
  }
  if ((heap->tld->heartbeat % MI_TICK_CHECK_CALLS) == 0) {  // the clock costs a few ns
    const long long now = _mi_prim_clock_now();
    if (now >= heap->tld->tick_next) mi_heap_tick(heap, now);
  }
}

// Find a page and take a block from it; `sampled`: the heap samples guarded blocks (guarded.c),
// so the free list handed out is limited first.
static mi_decl_always_inline void* mi_malloc_generic_page(mi_heap_t* heap, size_t size, bool zero,
                                                          size_t huge_alignment,
                                                          size_t align_offset, bool sampled) {
  mi_page_t* page = mi_find_page(heap, size, huge_alignment, align_offset);
  if (mi_unlikely(page == NULL)) {  // give back what we can and try once more
    mi_heap_collect(heap, true);
    page = mi_find_page(heap, size, huge_alignment, align_offset);
  }
  if (mi_unlikely(page == NULL)) {
    _mi_error_message(ENOMEM, "unable to allocate memory (%zu bytes)", size);
    return mi_enomem();
  }
  mi_assert_internal(mi_page_immediate_available(page));
  mi_assert_expensive(_mi_page_is_valid(page));
  mi_assert_expensive(_mi_page_queue_is_valid(heap, _mi_heap_page_queue_of(heap, page)));
  if (sampled && mi_page_block_size(page) <= MI_SMALL_SIZE_MAX) _mi_guarded_page_expose(heap, page);
  void* p = _mi_page_malloc_zero(heap, page, size, zero);
  // A page that is now exhausted (one-block pages, mostly) moves out of the way at once.
  if (page->used == page->reserved && page->free == NULL) {
    mi_page_to_full(page, _mi_heap_page_queue_of(heap, page));
  }
  return p;
}

// The slow path of a heap that samples guarded blocks: a guarded block when one is due.
static mi_decl_noinline void* mi_malloc_generic_sampled(mi_heap_t* heap, size_t size, bool zero,
                                                        size_t huge_alignment,
                                                        size_t align_offset) {
  mi_malloc_generic_prologue(heap);
  // an eligible size: guarded when the sample is due, else counted if no cut free list counts it
  if (huge_alignment == 0 && size >= heap->guarded_size_min && size <= heap->guarded_size_max) {
    if (heap->guarded_countdown == 0) {
      void* p = _mi_guarded_malloc(heap, size, zero);
      if (p != NULL) return p;
    } else if (size > MI_SMALL_SIZE_MAX) {
      heap->guarded_countdown--;
    }
  }
  return mi_malloc_generic_page(heap, size, zero, huge_alignment, align_offset, true);
}

// The malloc slow path: initialise the thread if needed, do the periodic work, find a page.
void* _mi_malloc_generic(mi_heap_t* heap, size_t size, bool zero, size_t huge_alignment,
                         size_t align_offset) {
  if (mi_unlikely(!mi_heap_is_initialized(heap))) {
    heap = _mi_heap_default_init();
    if (!mi_heap_is_initialized(heap)) {
      if (_mi_thread_is_exiting()) {
        return _mi_malloc_while_exiting(size, zero, huge_alignment, align_offset);
      }
      return mi_enomem();
    }
  }
  // (one compare for both: generic_size_max is 0 while the heap samples guarded blocks, so that
  // a heap that does not costs nothing here)
  if (mi_unlikely(size > heap->generic_size_max)) {
    if (size > MI_MAX_ALLOC_SIZE) {
      _mi_error_message(EOVERFLOW, "allocation request is too large (%zu bytes)", size);
      return mi_enomem();
    }
    return mi_malloc_generic_sampled(heap, size, zero, huge_alignment, align_offset);
  }
  mi_malloc_generic_prologue(heap);
  return mi_malloc_generic_page(heap, size, zero, huge_alignment, align_offset, false);
}

/* ---------------------------------------------------------------------------------------------
   Validation (debug level 3, and the pages a fork child takes over)
--------------------------------------------------------------------------------------------- */
// A list of the page walked without trusting it: every link must be a block of the page handed
// out so far, and there are at most `capacity` of them. Its length, or SIZE_MAX if it is damaged;
// with `report`, a damaged link is reported as a corrupted free list (an abort by default).
static size_t mi_page_list_count(const mi_page_t* page, const mi_block_t* list, bool report) {
  const size_t bsize = mi_page_block_size(page);
  const uint8_t* const start = mi_page_start(page);
  const size_t span = (size_t)page->capacity * bsize;
  size_t n = 0;
  for (const mi_block_t* prev = NULL; list != NULL; prev = list, list = mi_block_nextx(mi_page_keys(page), list)) {
    const size_t diff = (size_t)((const uint8_t*)list - start);  // huge if list < start
    if (diff >= span || diff % bsize != 0 || ++n > page->capacity) {
      if (report) {
        _mi_error_message(EFAULT, "corrupted free list in page %p: the free block %p links to %p",
                          (const void*)page, (const void*)prev, (const void*)list);
      }
      return SIZE_MAX;
    }
  }
  return n;
}

static bool mi_page_lists_check(const mi_page_t* page, bool report) {
  if (page->block_size <= 1 || page->capacity > page->reserved || page->used > page->capacity) {
    return false;
  }
  const size_t nfree = mi_page_list_count(page, page->free, report);
  const size_t nlocal = mi_page_list_count(page, page->local_free, report);
  const size_t nthread = mi_page_list_count(page, mi_page_thread_free(page), report);
  return nfree != SIZE_MAX && nlocal != SIZE_MAX && nthread != SIZE_MAX &&
         page->used + nfree + nlocal == page->capacity && nthread <= page->used;
}

// Do the page's counts and its three lists agree (used + |free| + |local_free| = capacity, the
// thread_free blocks among the used ones)? Owner only (other threads may push onto thread_free
// meanwhile: that keeps the answer). Reports nothing.
bool _mi_page_lists_are_consistent(const mi_page_t* page) { return mi_page_lists_check(page, false); }

bool _mi_page_is_valid(mi_page_t* page) {
  if (page == NULL || _mi_slice_first(page) != page) return false;
  if (!_mi_segment_is_valid(_mi_page_segment(page))) return false;
  return mi_page_lists_check(page, true);  // (a damaged link is named as such)
}
