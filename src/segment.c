/* Segments: 32 MiB regions aligned to their size, owned by one thread, cut into 64 KiB slices.
 * Pages are carved from runs of free slices ("spans") kept in the owner's span queues; freed
 * pages coalesce with free neighbours; an empty segment goes back to its arena. Huge blocks get a
 * segment of their own, placed so that the block meets any requested alignment. Segments of an
 * exited thread are abandoned to a global list and adopted by threads that need memory. Free
 * dirty slices are pending memory of the memory-return engine (purge.c), which purges them.
 * Calls: arena, OS, segment map, purge. Other threads read `thread_id` and the abandoned list;
 * purge passes of any thread read and purge the pending slices under the segment's mask lock. */
#include <pthread.h>
#include <sched.h>

#include "internal/internal.h"

/* ---------------------------------------------------------------------------------------------
   Slice masks (one bit per slice)
--------------------------------------------------------------------------------------------- */
// The bits of word w (slices 64w .. 64w+63) that lie in [idx, idx+count).
static uint64_t mi_slice_mask_bits(size_t w, size_t idx, size_t count) {
  const size_t lo = w * 64;
  const size_t a = (idx > lo ? idx : lo);
  const size_t b = (idx + count < lo + 64 ? idx + count : lo + 64);
  if (a >= b) return 0;
  const uint64_t ones = (b - a == 64 ? ~(uint64_t)0 : ((uint64_t)1 << (b - a)) - 1);
  return ones << (a - lo);
}

// Set or clear [idx, idx+count); returns how many bits changed.
static size_t mi_slice_mask_set(mi_slice_mask_t* mask, size_t idx, size_t count, bool set) {
  size_t changed = 0;
  if (count == 0) return 0;
  for (size_t w = idx / 64; w <= (idx + count - 1) / 64; w++) {
    const uint64_t bits = mi_slice_mask_bits(w, idx, count);
    const uint64_t old = mask->bits[w];
    mask->bits[w] = (set ? old | bits : old & ~bits);
    changed += (size_t)__builtin_popcountll(set ? bits & ~old : bits & old);
  }
  return changed;
}

static size_t mi_slice_mask_count(const mi_slice_mask_t* mask) {
  size_t n = 0;
  for (size_t i = 0; i < MI_SLICE_MASK_FIELDS; i++)
    n += (size_t)__builtin_popcountll(mask->bits[i]);
  return n;
}

static bool mi_slice_mask_any(const mi_slice_mask_t* mask, size_t idx, size_t count) {
  if (count == 0) return false;
  for (size_t w = idx / 64; w <= (idx + count - 1) / 64; w++) {
    if (mask->bits[w] & mi_slice_mask_bits(w, idx, count)) return true;
  }
  return false;
}

// The first slice at or after `from` whose bit equals `set` (MI_SLICES_PER_SEGMENT if none).
static size_t mi_slice_mask_find(const mi_slice_mask_t* mask, size_t from, bool set) {
  while (from < MI_SLICES_PER_SEGMENT) {
    uint64_t word = mask->bits[from / 64];
    if (!set) word = ~word;
    word &= ~(uint64_t)0 << (from % 64);
    if (word != 0) return (from & ~(size_t)63) + (size_t)__builtin_ctzll(word);
    from = (from & ~(size_t)63) + 64;
  }
  return MI_SLICES_PER_SEGMENT;
}

/* ---------------------------------------------------------------------------------------------
   Pending memory. A free span's dirty slices are pending: each is stamped with the time it became
   free and reported to the engine (purge.c), which purges them when its policy says; carving
   them again first takes them back. The owner changes the masks under the segment's mask lock,
   since a pass of another thread (the helper) purges owned segments too.
--------------------------------------------------------------------------------------------- */
static void mi_segment_mask_lock(mi_segment_t* segment) {
  size_t spins = 0;
  while (atomic_exchange_explicit(&segment->mask_lock, 1, memory_order_acquire) != 0) {
    if (++spins >= 64) _mi_prim_thread_yield();  // the holder may be inside a purge syscall
  }
  mi_locks_enter();
}

static void mi_segment_mask_unlock(mi_segment_t* segment) {
  atomic_store_explicit(&segment->mask_lock, 0, memory_order_release);
  mi_locks_leave();
}

// Clear [idx, idx+count) from the pending slices (mask lock held).
static void mi_segment_pending_clear(mi_segment_t* segment, size_t idx, size_t count) {
  const size_t n = mi_slice_mask_set(&segment->purge_mask, idx, count, false);
  if (n > 0) mi_atomic_sub_relaxed(&segment->purge_count, (uint32_t)n);
}

// Purge [idx, idx+count), pending slices all (mask lock held). Returns the bytes purged.
static size_t mi_segment_purge_range(mi_segment_t* segment, size_t idx, size_t count) {
  const size_t bytes = count * MI_SLICE_SIZE;
  if (_mi_os_purge((uint8_t*)segment + idx * MI_SLICE_SIZE, bytes)) {
    mi_slice_mask_set(&segment->dirty_mask, idx, count, false);  // reads as zero again
  }
  mi_stat_decrease(committed, bytes);  // (pending slices are dirty; MADV_FREE: may be reclaimed)
  mi_segment_pending_clear(segment, idx, count);
  return bytes;
}

// A pass of the engine purged [idx, idx+count) at `now`: if the program writes them again soon,
// the purge was a fault for nothing (mi_segment_mark_dirty tells the engine).
static void mi_segment_purged_by_pass(mi_segment_t* segment, size_t idx, size_t count, uint32_t now) {
  if (mi_slice_mask_any(&segment->dirty_mask, idx, count)) return;  // (MADV_FREE: still dirty)
  mi_slice_mask_set(&segment->purged_mask, idx, count, true);
  for (size_t i = idx; i < idx + count; i++) segment->purge_since[i] = now;
}

// Purge every pending slice now (mask lock held).
static void mi_segment_purge_all(mi_segment_t* segment) {
  size_t i = mi_slice_mask_find(&segment->purge_mask, 0, true);
  while (i < MI_SLICES_PER_SEGMENT) {
    const size_t end = mi_slice_mask_find(&segment->purge_mask, i, false);
    mi_segment_purge_range(segment, i, end - i);
    i = mi_slice_mask_find(&segment->purge_mask, end, true);
  }
}

// [idx, idx+count) became free: its dirty slices become pending (purged at once with delay 0).
static void mi_segment_schedule_purge(mi_segment_t* segment, size_t idx, size_t count) {
  const long long decay = _mi_purge_decay_ms();
  if (decay < 0 || count == 0 || segment->kind != MI_SEGMENT_NORMAL || segment->memid.no_purge) {
    return;
  }
  const uint32_t now = _mi_purge_clock();
  size_t added = 0;
  mi_segment_mask_lock(segment);
  const bool was_pending = (mi_atomic_load_relaxed(&segment->purge_count) > 0);
  for (size_t w = idx / 64; w <= (idx + count - 1) / 64; w++) {
    uint64_t bits = segment->dirty_mask.bits[w] & ~segment->purge_mask.bits[w] &
                    mi_slice_mask_bits(w, idx, count);
    segment->purge_mask.bits[w] |= bits;
    added += (size_t)__builtin_popcountll(bits);
    while (bits != 0) {  // (slices pending already keep their stamp)
      segment->purge_since[w * 64 + (size_t)__builtin_ctzll(bits)] = now;
      bits &= bits - 1;
    }
  }
  if (added > 0) mi_atomic_add_relaxed(&segment->purge_count, (uint32_t)added);
  if (added > 0 && decay == 0) mi_segment_purge_all(segment);
  mi_segment_mask_unlock(segment);
  if (added > 0 && decay > 0 && !was_pending) _mi_purge_report();
}

// A huge block freed by another thread while its owner idles: its pages (but the first and the
// last, which hold the free-list link and the secure canary) go back; the owner unmaps the rest
// when it collects the free (mask lock held).
static size_t mi_segment_huge_purge(mi_segment_t* segment) {
  const size_t psize = _mi_os_page_size();
  const mi_page_t* page = &segment->slices[0];
  const uintptr_t start = _mi_align_up((uintptr_t)page->page_start + psize, psize);
  const uintptr_t end = ((uintptr_t)page->page_start + page->block_size - psize) & ~(psize - 1);
  if (end <= start) return 0;
  _mi_os_purge((void*)start, end - start);
  mi_stat_decrease(committed, end - start);
  segment->huge_purged = end - start;
  return end - start;
}

static void mi_segment_purge_run(mi_segment_t* segment, size_t idx, size_t count,
                                 mi_purge_pass_t* pass) {
  mi_segment_purge_range(segment, idx, count);
  if (!pass->force) {
    mi_segment_purged_by_pass(segment, idx, count, pass->now);
    pass->watched += count * MI_SLICE_SIZE;
  }
}

// A pass of the engine: purge the pending slices that are due, in runs.
void _mi_segment_purge_apply(mi_segment_t* segment, mi_purge_pass_t* pass) {
  if (segment->kind == MI_SEGMENT_HUGE) {
    const uint32_t since = mi_atomic_load_relaxed(&segment->huge_free_since);
    if (since == 0) return;
    mi_segment_mask_lock(segment);
    if (segment->huge_purged == 0 &&
        _mi_purge_due(pass, since, (uintptr_t)segment, segment->slices[0].block_size)) {
      mi_segment_huge_purge(segment);
    }
    mi_segment_mask_unlock(segment);
    return;
  }
  if (mi_atomic_load_relaxed(&segment->purge_count) == 0) return;
  mi_segment_mask_lock(segment);
  size_t run = 0, run_start = 0;  // consecutive slices taken
  size_t i = mi_slice_mask_find(&segment->purge_mask, 0, true);
  while (i < MI_SLICES_PER_SEGMENT) {
    const bool take = _mi_purge_due(pass, segment->purge_since[i], (uintptr_t)segment, MI_SLICE_SIZE);
    if (take && run > 0 && run_start + run == i) {
      run++;
    } else {
      if (run > 0) mi_segment_purge_run(segment, run_start, run, pass);
      run = (take ? 1 : 0);
      run_start = i;
    }
    i = mi_slice_mask_find(&segment->purge_mask, i + 1, true);
  }
  if (run > 0) mi_segment_purge_run(segment, run_start, run, pass);
  mi_segment_mask_unlock(segment);
}

// A huge block is being freed by a thread that does not own it (before its push: after the push
// the owner may release the segment). Its memory is pending from now on.
void _mi_segment_huge_free_remote(mi_segment_t* segment) {
  if (_mi_purge_decay_ms() < 0 || segment->memid.no_purge) return;
  uint32_t none = 0;
  if (atomic_compare_exchange_strong(&segment->huge_free_since, &none, _mi_purge_clock())) {
    _mi_purge_report();
  }
}

/* ---------------------------------------------------------------------------------------------
   Span queues: free slice runs binned by length (1..8 exact, then one bin per power of two).
--------------------------------------------------------------------------------------------- */
static size_t mi_slice_bin(size_t slice_count) {
  mi_assert_internal(slice_count >= 1 && slice_count <= MI_SLICES_PER_SEGMENT);
  if (slice_count <= 8) return slice_count;
  return 8 + (mi_bsr(slice_count - 1) - 2);  // 9..16 -> 9, ..., 257..512 -> 14
}

static mi_span_queue_t* mi_span_queue_for(size_t slice_count, mi_segments_tld_t* tld) {
  mi_span_queue_t* sq = &tld->spans[mi_slice_bin(slice_count)];
  mi_assert_internal(sq <= &tld->spans[MI_SEGMENT_BIN_MAX]);
  return sq;
}

static void mi_span_queue_push(mi_span_queue_t* sq, mi_page_t* slice) {
  slice->prev = NULL;
  slice->next = sq->first;
  if (sq->first != NULL)
    sq->first->prev = slice;
  else
    sq->last = slice;
  sq->first = slice;
}

static void mi_span_queue_delete(mi_span_queue_t* sq, mi_page_t* slice) {
  if (slice->prev != NULL) slice->prev->next = slice->next;
  if (slice->next != NULL) slice->next->prev = slice->prev;
  if (slice == sq->first) sq->first = slice->next;
  if (slice == sq->last) sq->last = slice->prev;
  slice->next = slice->prev = NULL;
}

static size_t mi_slice_index(const mi_segment_t* segment, const mi_page_t* slice) {
  return (size_t)(slice - segment->slices);
}

static mi_page_t* mi_segment_slices_end(mi_segment_t* segment) {
  return &segment->slices[segment->segment_slices];
}

// Mark [idx, idx+count) as one free span, queue it if the segment is owned, schedule its purge.
static void mi_segment_span_free(mi_segment_t* segment, size_t idx, size_t count,
                                 mi_segments_tld_t* tld) {
  mi_assert_internal(idx + count <= segment->segment_slices && count > 0);
  mi_page_t* first = &segment->slices[idx];
  first->slice_count = (uint32_t)count;
  first->slice_index = (uint16_t)idx;
  first->block_size = 0;
  segment->slice_page[idx] = (uint16_t)idx;
  if (count > 1) {  // (the last slice points back too: its right neighbour coalesces with it)
    mi_page_t* last = &segment->slices[idx + count - 1];
    last->slice_count = 0;
    last->slice_index = (uint16_t)(idx + count - 1);
    last->block_size = 0;
    segment->slice_page[idx + count - 1] = (uint16_t)idx;
  }
  if (tld != NULL) {
    mi_span_queue_push(mi_span_queue_for(count, tld), first);
  } else {
    first->next = first->prev = NULL;
  }
  mi_segment_schedule_purge(segment, idx, count);
}

static void mi_segment_span_remove_from_queue(mi_page_t* slice, mi_segments_tld_t* tld) {
  mi_assert_internal(slice->block_size == 0 && slice->slice_count > 0);
  if (tld == NULL) return;  // an abandoned segment's spans are in no queue
  mi_span_queue_delete(mi_span_queue_for(slice->slice_count, tld), slice);
}

// Free the span of `slice` (a page being released), merging it with free neighbours. tld is
// NULL for an abandoned segment, visited by another thread.
static void mi_segment_span_free_coalesce(mi_segment_t* segment, mi_page_t* slice,
                                          mi_segments_tld_t* tld) {
  size_t count = slice->slice_count;
  mi_page_t* next = slice + count;
  if (next < mi_segment_slices_end(segment) && next->block_size == 0) {
    count += next->slice_count;
    mi_segment_span_remove_from_queue(next, tld);
  }
  if (slice > segment->slices) {
    mi_page_t* prev_last = slice - 1;
    mi_page_t* prev = _mi_slice_first(prev_last);
    if (prev->block_size == 0) {
      count += prev->slice_count;
      mi_segment_span_remove_from_queue(prev, tld);
      slice = prev;
    }
  }
  mi_segment_span_free(segment, mi_slice_index(segment, slice), count, tld);
}

// [idx, idx+count) is about to be written: dirty (and committed) until purged. Slices that a pass
// purged a moment ago fault in again: the engine hears of it (mask lock held, or a new segment).
static void mi_segment_mark_dirty(mi_segment_t* segment, size_t idx, size_t count) {
  if (mi_unlikely(mi_slice_mask_any(&segment->purged_mask, idx, count))) {
    const uint32_t now = _mi_purge_clock();
    size_t soon = 0;
    for (size_t i = idx; i < idx + count; i++) {
      if (mi_slice_mask_any(&segment->purged_mask, i, 1) &&
          _mi_purge_refault_is_soon(now - segment->purge_since[i])) {
        soon++;
      }
    }
    mi_slice_mask_set(&segment->purged_mask, idx, count, false);
    if (soon > 0) _mi_purge_refault(soon * MI_SLICE_SIZE);
  }
  const size_t now_dirty = mi_slice_mask_set(&segment->dirty_mask, idx, count, true);
  mi_stat_increase(committed, now_dirty * MI_SLICE_SIZE);
}

/* Huge pages for big blocks (os.c says when they are asked for). The 2 MiB units that a span of
   a block of MI_THP_UNIT or more covers whole are advised for huge pages; a unit that a span of
   smaller blocks touches is advised against them again (its memory may still be one huge page, if
   it was not purged meanwhile: the advice only decides how it faults in). A big block starts on a
   unit where it can (mi_segments_page_find_and_allocate); the unit at its end (at both ends when
   it could not) is shared with its neighbours and keeps small pages, so a purge of the freed
   block's span frees its units whole and never splits a huge page. (The owner; never the
   program's memory.) */
static uint32_t mi_thp_units_bits(size_t first, size_t end) {  // units [first, end)
  return (end > first ? ((1u << (end - first)) - 1) << first : 0);
}

static void mi_segment_thp_advise(mi_segment_t* segment, uint32_t units, bool huge) {
  const size_t first = (size_t)__builtin_ctz(units);
  const size_t end = 32 - (size_t)__builtin_clz(units);  // (the units between are already so)
  _mi_os_advise_thp((uint8_t*)segment + first * MI_THP_UNIT, (end - first) * MI_THP_UNIT, huge);
}

static void mi_segment_thp_carve(mi_segment_t* segment, size_t idx, size_t count, bool big) {
  if (!_mi_os_thp_blocks() || segment->memid.no_purge) return;
  if (big) {
    const size_t first = _mi_divide_up(idx, MI_THP_UNIT_SLICES);
    const size_t end = (idx + count) / MI_THP_UNIT_SLICES;
    const uint32_t add = mi_thp_units_bits(first, end) & ~(uint32_t)segment->thp_units;
    if (add == 0) return;
    mi_segment_thp_advise(segment, add, true);
    segment->thp_units |= (uint16_t)add;
  } else {
    const size_t first = idx / MI_THP_UNIT_SLICES;
    const size_t end = _mi_divide_up(idx + count, MI_THP_UNIT_SLICES);
    const uint32_t drop = mi_thp_units_bits(first, end) & segment->thp_units;
    if (drop == 0) return;
    mi_segment_thp_advise(segment, drop, false);
    segment->thp_units &= (uint16_t)~drop;
  }
}

// The segment's memory goes back to its arena, whose memory has small pages.
static void mi_segment_thp_release(mi_segment_t* segment) {
  if (segment->thp_units == 0) return;
  mi_segment_thp_advise(segment, segment->thp_units, false);
  segment->thp_units = 0;
}

// Whether pages of `block_size` are big blocks: their units get huge pages.
static bool mi_thp_is_big(size_t block_size) { return block_size >= MI_THP_UNIT; }

static size_t mi_segment_info_size(void);

// A huge block's own mapping [base, base+size), fresh or from the cache: huge pages for the units
// of a big block (from the mapping's start when only the header precedes the block there; a
// huge alignment's lead is never touched), small pages for the rest.
static void mi_segment_huge_thp(mi_memid_t memid, const uint8_t* block, size_t block_size) {
  if (!_mi_os_thp_blocks() || memid.kind != MI_MEM_OS || memid.no_purge) return;
  uint8_t* const base = (uint8_t*)memid.base;
  uint8_t* from = base;
  if (!mi_thp_is_big(block_size)) {
    from = base + memid.size;
  } else if ((size_t)(block - base) > mi_segment_info_size()) {
    from = (uint8_t*)_mi_align_up((uintptr_t)block, MI_THP_UNIT);
    if (from > base + memid.size) from = base + memid.size;
  }
  if (from > base) _mi_os_advise_thp(base, (size_t)(from - base), false);
  if (from < base + memid.size) _mi_os_advise_thp(from, memid.size - (size_t)(from - base), true);
}

// Turn [idx, idx+count) into a page for blocks of `block_size`: every slice points back to the
// first.
static mi_page_t* mi_segment_span_allocate(mi_segment_t* segment, size_t idx, size_t count,
                                           size_t block_size) {
  mi_page_t* page = &segment->slices[idx];
  page->slice_count = (uint32_t)count;
  page->slice_index = (uint16_t)idx;
  page->block_size = 1;  // in use (no longer a free span) until the page layer sets the size
  segment->slice_page[idx] = (uint16_t)idx;
  for (size_t i = 1; i < count; i++) {
    mi_page_t* slice = &segment->slices[idx + i];
    slice->slice_count = 0;
    slice->slice_index = (uint16_t)(idx + i);
    slice->block_size = 1;
    segment->slice_page[idx + i] = (uint16_t)idx;
  }
  page->page_start = (uint8_t*)segment + idx * MI_SLICE_SIZE;
  page->is_committed = true;
  page->is_huge = false;
#if SA_SECURE >= 5
  _mi_os_protect(page->page_start + count * MI_SLICE_SIZE - MI_PAGE_GUARD, MI_PAGE_GUARD, true);
#endif
  mi_segment_mask_lock(segment);
  page->is_zero_init =
      segment->memid.initially_zero && !mi_slice_mask_any(&segment->dirty_mask, idx, count);
  mi_segment_pending_clear(segment, idx, count);  // reused before its purge
  mi_segment_mark_dirty(segment, idx, count);
  mi_segment_mask_unlock(segment);
  mi_segment_thp_carve(segment, idx, count, mi_thp_is_big(block_size));
  segment->used++;
  mi_stat_increase(pages, 1);
  return page;
}


// A free span of at least `slice_count` slices in a segment suitable for arena `req` (0: any
// shared memory) becomes a page for blocks of `block_size`; NULL if the thread has none. A big
// block starts on a 2 MiB unit where a span allows, so that huge pages cover all its units but
// the last (else the first fit, as for the others).
static mi_page_t* mi_segments_page_find_and_allocate(size_t slice_count, size_t block_size,
                                                     mi_arena_id_t req, mi_segments_tld_t* tld) {
  const bool aligned = (mi_thp_is_big(block_size) && _mi_os_thp_blocks());
  for (size_t align = (aligned ? MI_THP_UNIT_SLICES : 1); align >= 1; align = (align > 1 ? 1 : 0)) {
    for (mi_span_queue_t* sq = mi_span_queue_for(slice_count, tld);
         sq <= &tld->spans[MI_SEGMENT_BIN_MAX]; sq++) {
      for (mi_page_t* slice = sq->first; slice != NULL; slice = slice->next) {
        mi_segment_t* segment = _mi_page_segment(slice);
        const size_t idx = mi_slice_index(segment, slice);
        const size_t end = idx + slice->slice_count;
        const size_t start = _mi_align_up(idx, align);
        if (start + slice_count > end) continue;  // (without alignment: in the first bin only)
        if (!_mi_arena_memid_is_suitable(segment->memid, req)) continue;
        mi_span_queue_delete(sq, slice);
        if (start > idx) mi_segment_span_free(segment, idx, start - idx, tld);
        if (end > start + slice_count) {
          mi_segment_span_free(segment, start + slice_count, end - start - slice_count, tld);
        }
        mi_page_t* page = mi_segment_span_allocate(segment, start, slice_count, block_size);
        mi_assert_expensive(_mi_segment_is_valid(segment));
        return page;
      }
    }
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
   Segment allocation and release
--------------------------------------------------------------------------------------------- */
/* Secure builds (level 1 up) guard each normal segment: the last OS page of its info slices and
   its whole last slice are PROT_NONE (an overflow off the header or off the segment's end faults);
   the last slice then holds no pages. A huge segment gets one guard page after its block.
   Unprotected when the memory goes back to its arena or the huge-mapping cache. */
#define MI_SEGMENT_GUARDS (SA_SECURE >= 1)

static size_t mi_segment_info_size(void) {
  size_t size = sizeof(mi_segment_t);
  if (MI_SEGMENT_GUARDS) size += _mi_os_page_size();  // room for the guard after the header
  return _mi_align_up(size, MI_SLICE_SIZE);
}

// Slices of a normal segment that hold spans and pages (the guard slice excluded).
static size_t mi_segment_usable_slices(void) {
  return MI_SLICES_PER_SEGMENT - (MI_SEGMENT_GUARDS ? 1 : 0);
}

static void mi_segment_protect_guards(mi_segment_t* segment, bool protect) {
  if (!MI_SEGMENT_GUARDS) return;
  const size_t psize = _mi_os_page_size();
  if (segment->kind == MI_SEGMENT_HUGE) {
    // the OS page after the page that holds the block's end (mapped for it: see alloc_huge)
    const mi_page_t* page = &segment->slices[0];
    const uintptr_t end = (uintptr_t)page->page_start + page->block_size;
    _mi_os_protect((void*)_mi_align_up(end, psize), psize, protect);
    return;
  }
  _mi_os_protect((uint8_t*)segment + mi_segment_info_size() - psize, psize, protect);
  _mi_os_protect((uint8_t*)segment + (MI_SLICES_PER_SEGMENT - 1) * MI_SLICE_SIZE, MI_SLICE_SIZE,
                 protect);
}

static void mi_segment_header_init(mi_segment_t* segment, mi_memid_t memid, mi_segment_kind_t kind,
                                   size_t segment_size) {
  // Only the fixed part: slice descriptors are written when spans are made.
  memset(segment, 0, offsetof(mi_segment_t, slices));
  segment->memid = memid;
  segment->kind = kind;
  segment->segment_size = segment_size;
  segment->cookie = (uintptr_t)segment ^ _mi_process_cookie();
  mi_atomic_store_release(&segment->thread_id, _mi_thread_id());
}

static mi_segment_t* mi_segment_alloc_normal(mi_arena_id_t req, mi_segments_tld_t* tld) {
  mi_memid_t memid;
  mi_segment_t* segment = (mi_segment_t*)_mi_arena_alloc(MI_SEGMENT_SIZE, req, &memid);
  if (segment == NULL) return NULL;
  mi_segment_header_init(segment, memid, MI_SEGMENT_NORMAL, MI_SEGMENT_SIZE);
  const size_t info_slices = mi_segment_info_size() / MI_SLICE_SIZE;
  const size_t usable = mi_segment_usable_slices();
  segment->segment_slices = (uint32_t)usable;
  segment->segment_info_slices = (uint32_t)info_slices;
  // the info slices form a span that is never free (its slice_page entries are 0 from the init)
  mi_page_t* info = &segment->slices[0];
  info->slice_count = (uint32_t)info_slices;
  info->slice_index = 0;
  info->block_size = 1;
  info->capacity = 0;  // (the secure free check finds no block in it: see mi_free_check_local)
  // the one-past-the-end descriptors (and the guard slice's) must never look like a free span
  for (size_t i = usable; i <= MI_SLICES_PER_SEGMENT; i++) {
    segment->slices[i].slice_count = 1;
    segment->slices[i].slice_index = (uint16_t)i;
    segment->slices[i].block_size = 1;
    segment->slices[i].capacity = 0;
    segment->slice_page[i] = (uint16_t)i;
  }
  if (!_mi_segment_map_allocated_at(segment)) {
    _mi_arena_free(segment, MI_SEGMENT_SIZE, memid);
    return NULL;
  }
  mi_segment_mark_dirty(segment, 0, memid.initially_zero ? info_slices : MI_SLICES_PER_SEGMENT);
  mi_segment_protect_guards(segment, true);
  mi_segment_span_free(segment, info_slices, usable - info_slices, tld);
  tld->count++;
  if (tld->count > tld->peak_count) tld->peak_count = tld->count;
  mi_stat_increase(segments, 1);
  return segment;
}

// A huge segment holds one page whose block starts at `start` with (start + align_offset) a
// multiple of `alignment` (0: no requirement). The header sits in the 32 MiB frame that contains
// start - 1, so the usual lookup finds it.
// Memory for a huge segment: the OS (through the huge-mapping cache), or blocks of an arena for a
// heap bound to one or when the OS may not be asked (alignment up to 32 MiB only, there).
static void* mi_segment_huge_map(size_t size, size_t alignment, mi_arena_id_t req,
                                 mi_memid_t* memid) {
  if (req == 0 && !mi_option_is_enabled(mi_option_disallow_os_alloc)) {
    return _mi_os_alloc_huge(size, alignment, memid);
  }
  if (alignment > MI_SEGMENT_SIZE) return NULL;
  return _mi_arena_alloc(_mi_align_up(size, MI_SEGMENT_SIZE), req, memid);
}

static void mi_segment_huge_unmap(mi_memid_t memid) {
  if (memid.kind == MI_MEM_ARENA) _mi_arena_free(memid.base, memid.size, memid);
  else _mi_os_free_huge(memid);
}

static mi_page_t* mi_segment_alloc_huge(size_t block_size, size_t alignment, size_t align_offset,
                                        mi_arena_id_t req, mi_segments_tld_t* tld) {
  const size_t header_min =
      _mi_align_up(offsetof(mi_segment_t, slices) + sizeof(mi_page_t), _mi_os_page_size());
  size_t map_size, lead;  // bytes to map; distance from the mapping start to the block
  size_t map_alignment;
  if (alignment == 0) {
    lead = mi_segment_info_size();
    map_alignment = MI_SEGMENT_SIZE;
  } else {
    mi_assert_internal(_mi_is_power_of_two(alignment) && alignment > MI_BLOCK_ALIGNMENT_MAX);
    map_alignment = (alignment > MI_SEGMENT_SIZE ? alignment : MI_SEGMENT_SIZE);
    const size_t offset = align_offset % alignment;
    lead = (offset == 0 ? alignment : alignment - offset);  // mapping start is aligned
    if (lead < header_min) lead += alignment;
  }
  if (block_size > SIZE_MAX - lead - MI_SEGMENT_SIZE) return NULL;
  map_size = _mi_align_up(lead + block_size, _mi_os_page_size());
  if (MI_SEGMENT_GUARDS) map_size += _mi_os_page_size();  // a guard after the block's last page
  mi_memid_t memid;
  uint8_t* base = (uint8_t*)mi_segment_huge_map(map_size, map_alignment, req, &memid);
  if (base == NULL) return NULL;
  uint8_t* block = base + lead;
  mi_segment_huge_thp(memid, block, block_size);
  mi_segment_t* segment = _mi_ptr_segment(block);
  // With some offsets the block starts just past a frame boundary, leaving no room for the
  // header in its frame: the header then goes in the frame below and the block is registered as
  // displaced (found through the segment map's slow path).
  const bool displaced = ((size_t)(block - (uint8_t*)segment) < header_min);
  if (displaced)
    segment = (mi_segment_t*)((uintptr_t)(block - header_min) & ~(uintptr_t)MI_SEGMENT_MASK);
  mi_segment_header_init(segment, memid, MI_SEGMENT_HUGE,
                         (size_t)(block - (uint8_t*)segment) + block_size);
  segment->segment_slices = 1;
  segment->segment_info_slices = 0;
  mi_page_t* page = &segment->slices[0];
  page->slice_count = 1;
  page->slice_index = 0;
  page->page_start = block;
  page->block_size = block_size;  // (as mi_page_init will set it; the guard is placed by it)
  page->is_committed = true;
  page->is_zero_init = memid.initially_zero;
  page->is_huge = true;
  // (every slice_page entry is 0 from the init: any pointer into the header's frame, an interior
  // pointer of an aligned allocation too, finds the page; the descriptors past slices[0] may lie
  // in the block itself and are never read)
  segment->used = 1;
  mi_segment_protect_guards(segment, true);
  if (displaced) {
    segment->displaced_block = block;
    if (!_mi_segment_map_register_displaced(block, segment)) {
      mi_segment_protect_guards(segment, false);
      mi_segment_huge_unmap(memid);
      return NULL;
    }
  }
  if (!_mi_segment_map_allocated_at(segment)) {
    if (displaced) _mi_segment_map_unregister_displaced(block);
    mi_segment_protect_guards(segment, false);
    mi_segment_huge_unmap(memid);
    return NULL;
  }
  mi_stat_increase(committed, memid.size);
  tld->count++;
  if (tld->count > tld->peak_count) tld->peak_count = tld->count;
  mi_stat_increase(segments, 1);
  mi_stat_increase(pages, 1);
  mi_stat_increase(malloc_huge, block_size);
  return page;
}

static void mi_segment_free(mi_segment_t* segment, mi_segments_tld_t* tld) {
  mi_assert_internal(segment->used == 0 || segment->kind == MI_SEGMENT_HUGE);
  if (segment->kind == MI_SEGMENT_NORMAL && tld != NULL) {
    // take the free spans out of the owner's queues (an unowned segment has none queued, and may
    // still hold empty pages: see _mi_segment_try_free_abandoned)
    for (mi_page_t* slice = &segment->slices[segment->segment_info_slices];
         slice < mi_segment_slices_end(segment); slice += slice->slice_count) {
      mi_assert_internal(slice->block_size == 0 && slice->slice_count > 0);
      mi_segment_span_remove_from_queue(slice, tld);
    }
  }
  // Out of the map before its memory goes: purge passes look at mapped segments only.
  _mi_purge_map_lock(true);
  _mi_segment_map_freed_at(segment);
  _mi_purge_map_lock(false);
  if (segment->displaced_block != NULL)
    _mi_segment_map_unregister_displaced(segment->displaced_block);
  mi_atomic_store_release(&segment->thread_id, 0);
  if (tld != NULL) tld->count--;
  mi_stat_decrease(segments, 1);
  if (segment->kind == MI_SEGMENT_HUGE) {
    mi_stat_decrease(malloc_huge, segment->slices[0].block_size);
    mi_stat_decrease(committed, segment->memid.size - segment->huge_purged);
    mi_segment_protect_guards(segment, false);
    if (segment->huge_purged > 0 && segment->memid.kind == MI_MEM_OS) {
      _mi_os_free(segment->memid.base, segment->memid.size, segment->memid);  // not worth caching
    } else {
      mi_segment_huge_unmap(segment->memid);
    }
  } else {
    // the arena counts the block as committed while it is free and dirty
    mi_stat_decrease(committed, mi_slice_mask_count(&segment->dirty_mask) * MI_SLICE_SIZE);
    mi_segment_protect_guards(segment, false);
    mi_segment_thp_release(segment);
    _mi_arena_free(segment, MI_SEGMENT_SIZE, segment->memid);
  }
}

static void mi_segment_abandon(mi_segment_t* segment, mi_segments_tld_t* tld);

/* realloc of a huge block by its owner, in place: the block's end moves within its mapping, or
   the mapping grows (by a quarter at least, so that a buffer grown in small steps is remapped
   seldom) with mremap, moved to a fresh aligned range if it cannot grow where it is. Nothing is
   copied and RSS does not double. Only for plain huge blocks of their own OS mapping (not
   aligned, not in an arena, not in secure or checker builds, whose guards and canaries sit at
   the block's end). NULL when it cannot: the caller copies. */
void* _mi_segment_huge_realloc(void* p, size_t newsize) {
#if SA_SECURE == 0 && !MI_TRACK_ENABLED
  mi_segment_t* segment = _mi_ptr_segment(p);
  if (segment->kind != MI_SEGMENT_HUGE || segment->memid.kind != MI_MEM_OS ||
      segment->memid.base != (void*)segment || segment->displaced_block != NULL ||
      newsize > MI_MAX_ALLOC_SIZE) {
    return NULL;
  }
  mi_page_t* page = &segment->slices[0];
  if (page->page_start != (uint8_t*)p || mi_page_has_aligned(page) ||
      mi_page_owner(page) != _mi_thread_id()) {
    return NULL;
  }
  const size_t psize = _mi_os_page_size();
  const size_t block_size = _mi_align_up(newsize + MI_PADDING, psize);
  const size_t lead = (size_t)(page->page_start - (uint8_t*)segment);
  const size_t old_block = page->block_size;
  if (lead + block_size > segment->memid.size) {
    size_t map_size = segment->memid.size + segment->memid.size / 4;
    if (map_size < lead + block_size) map_size = lead + block_size;
    map_size = _mi_align_up(map_size, psize);
    // The page leaves its queue and the segment the map while it moves (no other thread can reach
    // it: its one block is the caller's, and purge passes look at mapped segments only).
    mi_heap_t* heap = mi_page_heap(page);
    mi_page_queue_t* pq = _mi_heap_page_queue_of(heap, page);
    _mi_page_queue_remove(heap, pq, page);
    _mi_purge_map_lock(true);
    _mi_segment_map_freed_at(segment);
    _mi_purge_map_lock(false);
    const size_t old_map = segment->memid.size;
    mi_memid_t memid;
    uint8_t* base = (uint8_t*)_mi_os_remap(segment->memid.base, old_map, map_size,
                                           MI_SEGMENT_SIZE, &memid);
    if (base != NULL) {
      segment = (mi_segment_t*)base;
      segment->memid = memid;
      segment->cookie = (uintptr_t)segment ^ _mi_process_cookie();
      page = &segment->slices[0];
      page->page_start = base + lead;
      mi_stat_increase(committed, memid.size - old_map);
    }
    if (!_mi_segment_map_allocated_at(segment)) {
      _mi_error_message(ENOMEM, "realloc: the moved huge block %p lies outside the usable "
                        "address space", (void*)page->page_start);
    }
    _mi_page_queue_push(heap, pq, page);
    if (base == NULL) return NULL;
  } else if (segment->memid.size - (lead + block_size) > segment->memid.size / 4) {
    mi_memid_t memid;  // shrunk by more than a quarter: the tail goes (in place)
    const size_t old_map = segment->memid.size;
    if (_mi_os_remap(segment->memid.base, old_map, lead + block_size, MI_SEGMENT_SIZE, &memid) ==
        segment->memid.base) {
      segment->memid = memid;
      mi_stat_decrease(committed, old_map - memid.size);
    }
  }
  page->block_size = block_size;
  page->block_size_shift = (uint8_t)(_mi_is_power_of_two(block_size) ? mi_bsr(block_size) : 0);
  segment->segment_size = lead + block_size;
  mi_stat_decrease(malloc_huge, old_block);
  mi_stat_increase(malloc_huge, block_size);
  return page->page_start;
#else
  (void)p;
  (void)newsize;
  return NULL;
#endif
}

/* ---------------------------------------------------------------------------------------------
   Pages
--------------------------------------------------------------------------------------------- */
mi_page_kind_t _mi_page_kind_of_size(size_t block_size) {
  if (block_size <= MI_SMALL_OBJ_SIZE_MAX) return MI_PAGE_SMALL;
  if (block_size <= MI_MEDIUM_BLOCK_MAX) return MI_PAGE_MEDIUM;
  if (block_size <= MI_LARGE_OBJ_SIZE_MAX) return MI_PAGE_LARGE;
  return MI_PAGE_HUGE;
}

static size_t mi_page_slices_for(size_t block_size) {
  switch (_mi_page_kind_of_size(block_size)) {
    case MI_PAGE_SMALL:
      return 1;
    case MI_PAGE_MEDIUM:
      return MI_MEDIUM_PAGE_SLICES;
    default:  // (with room for the level-5 guard page at the end)
      return _mi_divide_up(block_size + MI_PAGE_GUARD, MI_SLICE_SIZE);
  }
}

/* realloc of a large block (a page of one block) by its owner, in place: the page takes slices of
   the free span right after it, so a buffer that grows does not leave its old copy behind (nor
   copy it). The page moves to the queue of its new size class. NULL when it cannot (no free span
   there, not large, secure or checker builds): the caller copies. */
void* _mi_segment_large_realloc(void* p, size_t newsize) {
#if SA_SECURE == 0 && !MI_TRACK_ENABLED
  mi_segment_t* segment = _mi_ptr_segment(p);
  if (segment->kind != MI_SEGMENT_NORMAL || newsize > MI_LARGE_OBJ_SIZE_MAX) return NULL;
  mi_page_t* page = _mi_segment_page_of(segment, p);
  if (page->page_start != (uint8_t*)p || page->reserved != 1 || page->used != 1 ||
      mi_page_has_aligned(page) || mi_page_owner(page) != _mi_thread_id()) {
    return NULL;
  }
  const size_t bin = _mi_bin(newsize + MI_PADDING);
  const size_t block_size = _mi_bin_size(bin);
  if (_mi_page_kind_of_size(block_size) != MI_PAGE_LARGE || block_size <= page->block_size) {
    return NULL;
  }
  const size_t slices = mi_page_slices_for(block_size);
  const size_t idx = page->slice_index;
  const size_t count = page->slice_count;
  mi_heap_t* const heap = mi_page_heap(page);
  if (slices > count) {
    mi_page_t* next = &segment->slices[idx + count];
    const size_t extra = slices - count;
    if (next >= mi_segment_slices_end(segment) || next->block_size != 0 ||
        next->slice_count < extra) {
      return NULL;
    }
    mi_segments_tld_t* const tld = &heap->tld->segments;
    const size_t available = next->slice_count;
    mi_segment_span_remove_from_queue(next, tld);
    if (available > extra) mi_segment_span_free(segment, idx + slices, available - extra, tld);
    for (size_t i = count; i < slices; i++) {
      mi_page_t* slice = &segment->slices[idx + i];
      slice->slice_count = 0;
      slice->slice_index = (uint16_t)(idx + i);
      slice->block_size = 1;
      segment->slice_page[idx + i] = (uint16_t)idx;
    }
    mi_segment_mask_lock(segment);
    mi_segment_pending_clear(segment, idx + count, extra);  // reused before its purge
    mi_segment_mark_dirty(segment, idx + count, extra);
    mi_segment_mask_unlock(segment);
    page->slice_count = (uint32_t)slices;
  }
  mi_segment_thp_carve(segment, idx, slices, mi_thp_is_big(block_size));
  const bool full = mi_page_is_in_full(page);
  _mi_page_queue_remove(heap, _mi_heap_page_queue_of(heap, page), page);
  page->block_size = block_size;
  page->bin = (uint8_t)bin;
  page->block_size_shift = (uint8_t)(_mi_is_power_of_two(block_size) ? mi_bsr(block_size) : 0);
  _mi_page_queue_push(heap, &heap->pages[full ? MI_BIN_FULL : bin], page);
  mi_assert_expensive(_mi_segment_is_valid(segment));
  return p;
#else
  (void)p;
  (void)newsize;
  return NULL;
#endif
}

// The pages of a live block that is about to be freed and whose contents are dead (realloc moved
// them) go back to the OS now; the first and last OS pages stay (a free-list link, a canary).
// The slices stay dirty in the masks (the engine purges them again later: a no-op).
void _mi_segment_block_discard(void* p, size_t size) {
  const size_t psize = _mi_os_page_size();
  const uintptr_t start = _mi_align_up((uintptr_t)p + psize, psize);
  const uintptr_t end = ((uintptr_t)p + size - psize) & ~(psize - 1);
  if (end > start) _mi_os_purge((void*)start, end - start);
}

// A fresh page for blocks of `block_size`: from a free span, an adopted abandoned segment, or a
// new segment. Huge blocks and huge alignments get their own segment.
/* A fresh page for blocks of `block_size`, from a free span of the thread's segments. Without
   one, and when `may_adopt`, an abandoned segment is adopted instead (its pages join the heap,
   its free spans the thread's queues, those that emptied meanwhile are released) and NULL comes
   back with *adopted set: the adopted pages of the size may serve before a page is carved (a
   thread that starts would otherwise carve a page of its own next to one it just adopted, and
   leave both behind when it exits). Without an abandoned segment to adopt, a new segment is
   mapped. */
mi_page_t* _mi_segment_page_alloc(mi_heap_t* heap, size_t block_size, size_t page_alignment,
                                  size_t align_offset, bool may_adopt, bool* adopted,
                                  mi_segments_tld_t* tld) {
  *adopted = false;
  if (page_alignment > 0 || block_size > MI_LARGE_OBJ_SIZE_MAX) {
    return mi_segment_alloc_huge(block_size, page_alignment, align_offset, heap->arena_id, tld);
  }
  const size_t slices = mi_page_slices_for(block_size);
  mi_page_t* page = mi_segments_page_find_and_allocate(slices, block_size, heap->arena_id, tld);
  if (page != NULL) return page;
  if (may_adopt && !heap->no_reclaim && _mi_segment_try_reclaim_abandoned(heap, tld)) {
    *adopted = true;
    return NULL;
  }
  if (mi_segment_alloc_normal(heap->arena_id, tld) == NULL) return NULL;
  return mi_segments_page_find_and_allocate(slices, block_size, heap->arena_id, tld);
}

// A page with no live block stops being one (its slices become a free span next).
static void mi_segment_page_clear(mi_segment_t* segment, mi_page_t* page) {
  mi_assert_internal(segment->used > 0);
#if SA_SECURE >= 5
  if (!page->is_huge) {  // the level-5 guard at the page's end goes with the page
    _mi_os_protect(page->page_start + page->slice_count * MI_SLICE_SIZE - MI_PAGE_GUARD,
                   MI_PAGE_GUARD, false);
  }
#endif
  page->free = page->local_free = NULL;
  page->used = page->capacity = page->reserved = 0;
  mi_atomic_store_relaxed(mi_page_owner_word(page), 0);
  mi_atomic_store_relaxed(mi_page_thread_free_word(page), 0);
  mi_atomic_store_relaxed(&page->xheap, 0);
  segment->used--;
  mi_stat_decrease(pages, 1);
}

// Return a page (all its blocks free) to its segment; release the segment when it is empty.
void _mi_segment_page_free(mi_page_t* page, mi_segments_tld_t* tld) {
  mi_segment_t* segment = _mi_page_segment(page);
  mi_segment_page_clear(segment, page);
  if (segment->kind == MI_SEGMENT_HUGE) {
    mi_segment_free(segment, tld);
    return;
  }
  mi_segment_span_free_coalesce(segment, page, tld);
  mi_assert_expensive(_mi_segment_is_valid(segment));
  if (segment->used == 0) {
    mi_segment_free(segment, tld);
  } else if (segment->abandoned == segment->used) {
    mi_segment_abandon(segment, tld);  // the owner is exiting and this was its last page here
  }
}

/* ---------------------------------------------------------------------------------------------
   Abandonment: a segment whose owner exited with live blocks. Frees into it keep working (they
   are remote frees onto the pages' thread_free lists); another thread adopts it when it needs
   memory. The list is short-lived work, so a mutex keeps it simple and fork-safe.
--------------------------------------------------------------------------------------------- */
// A FIFO: the oldest abandoned segments, the likeliest to have emptied through remote frees, are
// adopted first, so none stays behind unvisited.
static pthread_mutex_t mi_abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static mi_segment_t* mi_abandoned_first;
static mi_segment_t* mi_abandoned_last;
static _Atomic(size_t) mi_abandoned_count;

static void mi_abandoned_push_locked(mi_segment_t* segment) {
  segment->abandoned_next = NULL;
  if (mi_abandoned_last != NULL)
    mi_abandoned_last->abandoned_next = segment;
  else
    mi_abandoned_first = segment;
  mi_abandoned_last = segment;
  mi_atomic_add_relaxed(&mi_abandoned_count, 1);
}

static void mi_segment_abandon(mi_segment_t* segment, mi_segments_tld_t* tld) {
  mi_assert_internal(segment->abandoned == segment->used);
  if (segment->kind == MI_SEGMENT_NORMAL) {
    for (mi_page_t* slice = &segment->slices[segment->segment_info_slices];
         slice < mi_segment_slices_end(segment); slice += slice->slice_count) {
      if (slice->block_size == 0) mi_segment_span_remove_from_queue(slice, tld);
    }
  }
  // Pending slices keep their stamps (the adopter, often the next thread a few microseconds
  // later, reuses them); with MIMALLOC_ABANDONED_PAGE_PURGE=1 they go back now.
  if (mi_option_is_enabled(mi_option_abandoned_page_purge)) {
    mi_segment_mask_lock(segment);
    mi_segment_purge_all(segment);
    mi_segment_mask_unlock(segment);
  }
  tld->count--;
  mi_stat_increase(segments_abandoned, 1);
  mi_stat_increase(pages_abandoned, segment->abandoned);
  segment->subproc = tld->subproc;  // only its threads may adopt it; it holds the record alive
  _mi_subproc_acquire(segment->subproc);
  // on the list and ownerless at once (under the lock), so a fork child sees one or the other
  mi_lock(&mi_abandoned_lock);
  mi_abandoned_push_locked(segment);
  mi_atomic_store_release(&segment->thread_id, 0);
  mi_unlock(&mi_abandoned_lock);
}

// The page's heap has let it go (thread exit); abandon the segment once all its pages are.
void _mi_segment_page_abandon(mi_page_t* page, mi_segments_tld_t* tld) {
  mi_segment_t* segment = _mi_page_segment(page);
  segment->abandoned++;  // (the statistic counts them when the segment is abandoned)
  mi_assert_internal(segment->abandoned <= segment->used);
  if (segment->abandoned == segment->used) mi_segment_abandon(segment, tld);
}

// Which segments a pop takes: any, or those adoptable by a heap (its sub-process, memory suiting
// its arena), or those of one sub-process not yet seen by the walk `epoch`.
typedef struct mi_abandoned_filter_s {
  bool all;
  mi_arena_id_t req;
  const mi_subproc_t* subproc;
  size_t epoch;  // 0: adoption (the first MI_ABANDONED_SEARCH only); else a visit (the whole list)
} mi_abandoned_filter_t;

static bool mi_abandoned_filter_takes(const mi_abandoned_filter_t* f, const mi_segment_t* segment) {
  if (f->all) return true;
  if (segment->subproc != f->subproc) return false;
  if (f->epoch != 0) return segment->visit_epoch != f->epoch;
  return _mi_arena_memid_is_suitable(segment->memid, f->req);
}

// The oldest abandoned segment the filter takes (adoption looks at the first few only, so that an
// exclusive arena's segments are adopted only by its heaps and the other way round, and a thread
// adopts only its sub-process's), owned by the caller when returned.
#define MI_ABANDONED_SEARCH 32
static mi_segment_t* mi_abandoned_pop_raw(const mi_abandoned_filter_t* f) {
  if (mi_atomic_load_relaxed(&mi_abandoned_count) == 0) return NULL;
  mi_lock(&mi_abandoned_lock);
  mi_segment_t* prev = NULL;
  mi_segment_t* segment = mi_abandoned_first;
  for (size_t n = 0; segment != NULL && !mi_abandoned_filter_takes(f, segment); n++) {
    prev = segment;
    segment = (f->epoch != 0 || n + 1 < MI_ABANDONED_SEARCH ? segment->abandoned_next : NULL);
  }
  if (segment != NULL) {
    if (f->epoch != 0) segment->visit_epoch = f->epoch;
    if (prev == NULL) mi_abandoned_first = segment->abandoned_next;
    else prev->abandoned_next = segment->abandoned_next;
    if (mi_abandoned_last == segment) mi_abandoned_last = prev;
    segment->abandoned_next = NULL;
    mi_atomic_store_release(&segment->thread_id, _mi_thread_id());  // owned before the unlock
    mi_atomic_sub_relaxed(&mi_abandoned_count, 1);
  }
  mi_unlock(&mi_abandoned_lock);
  return segment;
}

static void mi_segment_fork_check_pages(mi_segment_t* segment);

// As mi_abandoned_pop_raw; a segment that a thread vanished in a fork() left behind has its pages
// checked first (once).
static mi_segment_t* mi_abandoned_pop(const mi_abandoned_filter_t* f) {
  mi_segment_t* segment = mi_abandoned_pop_raw(f);
  if (segment != NULL && segment->from_fork) {
    segment->from_fork = false;
    mi_segment_fork_check_pages(segment);
  }
  return segment;
}

// Adopt one abandoned segment into `heap`: its free spans join this thread's queues, its pages
// join the heap (those that turned empty meanwhile are freed, which may release the segment).
static void mi_segment_reclaim(mi_segment_t* segment, mi_heap_t* heap, mi_segments_tld_t* tld) {
  mi_atomic_store_release(&segment->thread_id, _mi_thread_id());
  _mi_subproc_release(segment->subproc);  // (the adopter's thread keeps it alive now)
  segment->subproc = NULL;
  mi_stat_decrease(segments_abandoned, 1);
  mi_stat_decrease(pages_abandoned, segment->abandoned);
  segment->abandoned = 0;
  tld->count++;
  if (tld->count > tld->peak_count) tld->peak_count = tld->count;
  // First queue the free spans and note the pages: freeing a page coalesces spans, so the walk
  // must be over before any page is freed.
  uint16_t pages[MI_SLICES_PER_SEGMENT];
  size_t page_count = 0;
  mi_page_t* end = mi_segment_slices_end(segment);
  for (mi_page_t* slice = &segment->slices[segment->segment_info_slices]; slice < end;
       slice += slice->slice_count) {
    if (slice->block_size == 0) {
      mi_span_queue_push(mi_span_queue_for(slice->slice_count, tld), slice);
    } else {
      pages[page_count++] = (uint16_t)mi_slice_index(segment, slice);
    }
  }
  mi_assert_internal(page_count == segment->used);
  // Only freeing the last page can release the segment, and the loop ends there.
  // each page joins the thread's heap of its tag (mi_heap_new_ex) that may adopt, else `heap`,
  // keeping its tag (which says where it goes when it is abandoned and adopted again)
  for (size_t i = 0; i < page_count; i++) {
    mi_page_t* page = &segment->slices[pages[i]];
    _mi_page_reclaim(_mi_heap_for_tag(heap, page->heap_tag), page);  // (may free the segment)
  }
}

/* Visit the oldest abandoned segment without adopting it: collect the remote frees of its pages;
   pages that emptied become free spans, purged once purge_delay has passed since (at a later
   visit); the segment is released when nothing in it is live any more, else it goes back to the
   list. This returns exited threads' memory without long-lived threads hoarding sparse segments
   (which scatters their new pages and starves new threads of segments to adopt). */
static bool mi_segment_try_free_popped(mi_segment_t* segment);

/* Whole-list passes (walks of mi_abandoned_visit_blocks, the collection at mi_subproc_delete) run
   one at a time, and each must meet every segment that stays abandoned while it runs. The release
   checks (_mi_segment_try_free_abandoned: periodic work, the purger, malloc_trim) take a segment off
   the list for a moment, where a pass would miss it; so they stand aside while a pass runs, and a
   pass starts once those under way are done. (Adoption goes on: an adopted segment is no longer
   abandoned.) The pass lock is a plain mutex, not mi_lock: visitors run under it, and their
   messages are not held back. */
static pthread_mutex_t mi_pass_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(mi_threadid_t) mi_pass_thread;  // the thread running a pass, 0: none
static _Atomic(size_t) mi_release_checks;       // release checks under way

static bool mi_pass_begin(void) {
  const mi_threadid_t self = _mi_thread_id();
  if (mi_atomic_load_relaxed(&mi_pass_thread) == self) return false;  // from its own visitor
  pthread_mutex_lock(&mi_pass_lock);
  atomic_store(&mi_pass_thread, self);  // (seq_cst with mi_release_check_begin: Dekker)
  for (unsigned spins = 0; atomic_load(&mi_release_checks) != 0; spins++) {
    if (spins < 64) mi_atomic_yield();
    else sched_yield();  // (the check's thread may be waiting for this core)
  }
  return true;
}

static void mi_pass_end(void) {
  atomic_store(&mi_pass_thread, 0);
  pthread_mutex_unlock(&mi_pass_lock);
}

static bool mi_release_check_begin(void) {
  atomic_fetch_add(&mi_release_checks, 1);
  if (atomic_load(&mi_pass_thread) == 0) return true;
  atomic_fetch_sub(&mi_release_checks, 1);  // a pass runs: not now
  return false;
}

bool _mi_segment_try_free_abandoned(void) {
  if (!mi_release_check_begin()) return false;
  const mi_abandoned_filter_t all = {true, 0, NULL, 0};
  mi_segment_t* segment = mi_abandoned_pop(&all);  // ours while we look at it
  const bool released = (segment != NULL && mi_segment_try_free_popped(segment));
  atomic_fetch_sub(&mi_release_checks, 1);
  return released;
}

static void mi_abandoned_push_back(mi_segment_t* segment) {
  mi_lock(&mi_abandoned_lock);
  mi_abandoned_push_locked(segment);
  mi_atomic_store_release(&segment->thread_id, 0);
  mi_unlock(&mi_abandoned_lock);
}

static bool mi_segment_try_free_popped(mi_segment_t* segment) {
  bool live = false;
  if (segment->kind == MI_SEGMENT_HUGE) {
    live = !mi_page_all_free_now(&segment->slices[0]);
  } else {
    // Note the empty pages first: freeing one coalesces spans, which the walk must not see.
    uint16_t empty[MI_SLICES_PER_SEGMENT];
    size_t empty_count = 0;
    mi_page_t* end = mi_segment_slices_end(segment);
    for (mi_page_t* slice = &segment->slices[segment->segment_info_slices]; slice < end;
         slice += slice->slice_count) {
      if (slice->block_size == 0) continue;
      if (mi_page_all_free_now(slice)) empty[empty_count++] = (uint16_t)mi_slice_index(segment, slice);
    }
    for (size_t i = 0; i < empty_count; i++) {
      mi_page_t* page = &segment->slices[empty[i]];
      mi_segment_page_clear(segment, page);
      segment->abandoned--;
      mi_stat_decrease(pages_abandoned, 1);
      mi_segment_span_free_coalesce(segment, page, NULL);
    }
    live = (segment->used > 0);
  }
  if (!live) {
    mi_stat_decrease(segments_abandoned, 1);
    mi_stat_decrease(pages_abandoned, segment->abandoned);  // the huge page (normal: 0 by now)
    mi_stat_decrease(pages, segment->used);
    segment->used = 0;  // every page is empty: the whole segment goes (its spans are in no queue)
    segment->abandoned = 0;
    mi_subproc_t* const subproc = segment->subproc;
    mi_segment_free(segment, NULL);
    _mi_subproc_release(subproc);  // (last: it may release a deleted sub-process)
    return true;
  }
  mi_abandoned_push_back(segment);
  return false;
}

/* mi_subproc_delete: every abandoned segment of the sub-process is visited once as the periodic
   work would (what emptied is released), so a sub-process whose memory is all freed goes now. */
void _mi_segments_abandoned_collect(mi_subproc_t* subproc) {
  static _Atomic(size_t) epochs;
  if (!mi_pass_begin()) return;  // (from a visitor: the periodic work releases them later)
  const mi_abandoned_filter_t f = {false, 0, subproc, mi_atomic_add_relaxed(&epochs, 1) * 2 + 1};
  mi_segment_t* segment;
  while ((segment = mi_abandoned_pop(&f)) != NULL) mi_segment_try_free_popped(segment);
  mi_pass_end();
}

/* mi_abandoned_visit_blocks: each abandoned segment of the sub-process is taken off the list (so
   nobody adopts or releases it meanwhile, and the visitor runs without any lock held), its pages
   in use are handed to `visit`, and it goes back. A walk marks the segments it took with its own
   (even) epoch, so each is seen once even though it goes back to the list. A visitor may not
   start a walk of its own (false). */
bool _mi_segments_abandoned_visit(mi_subproc_t* subproc, _mi_abandoned_page_visit_fun* visit,
                                  void* arg) {
  static _Atomic(size_t) epochs;
  if (!mi_pass_begin()) return false;
  const mi_abandoned_filter_t f = {false, 0, subproc, mi_atomic_add_relaxed(&epochs, 1) * 2 + 2};
  mi_segment_t* segment;
  bool ok = true;
  while (ok && (segment = mi_abandoned_pop(&f)) != NULL) {
    mi_page_t* const end = mi_segment_slices_end(segment);
    mi_page_t* slice = (segment->kind == MI_SEGMENT_HUGE ? &segment->slices[0]
                                                         : &segment->slices[segment->segment_info_slices]);
    for (; ok && slice < end; slice += slice->slice_count) {
      if (slice->block_size > 1) ok = visit(slice, arg);
    }
    mi_abandoned_push_back(segment);
  }
  mi_pass_end();
  return ok;
}

bool _mi_segment_try_reclaim_abandoned(mi_heap_t* heap, mi_segments_tld_t* tld) {
  const mi_abandoned_filter_t f = {false, heap->arena_id, tld->subproc, 0};
  mi_segment_t* segment = mi_abandoned_pop(&f);
  if (segment == NULL) return false;
  mi_segment_reclaim(segment, heap, tld);
  return true;
}

size_t _mi_segment_abandoned_count(void) { return mi_atomic_load_relaxed(&mi_abandoned_count); }

void _mi_segment_fork_lock(bool lock) {
  if (lock)
    mi_lock(&mi_abandoned_lock);
  else
    mi_unlock(&mi_abandoned_lock);
}

/* In a fork child only the forking thread exists. Segments of the other threads are abandoned
   (their pages detached from heaps that no thread will run again), so the child's threads adopt
   them; and a page left in DELAYED_FREEING by a vanished thread is released. */
static void mi_page_fork_child_detach(mi_page_t* page, bool owned) {
  const uintptr_t tf = mi_atomic_load_relaxed(mi_page_thread_free_word(page));
  if (!owned) {
    page->next = page->prev = NULL;
    mi_page_set_flag(page, MI_PAGE_IN_FULL, false);  // has_aligned stays: interior pointers live on
    mi_page_set_owner(page, 0);
    mi_atomic_store_relaxed(&page->xheap, 0);
    mi_atomic_store_relaxed(mi_page_thread_free_word(page), mi_tf_set_delayed(tf, MI_NEVER_DELAYED_FREE));
  } else if (mi_tf_delayed(tf) == MI_DELAYED_FREEING) {
    const mi_delayed_t d = (mi_page_is_in_full(page) ? MI_USE_DELAYED_FREE : MI_NO_DELAYED_FREE);
    mi_atomic_store_relaxed(mi_page_thread_free_word(page), mi_tf_set_delayed(tf, d));
  }
}

// Owner id of a segment that a vanished thread left mid-update at fork: no thread has this id
// (thread ids have their low bits clear), so every free into it is a remote push, which is safe.
// Nobody adopts it: its live blocks stay valid, its memory is not reused.
#define MI_THREAD_ID_QUARANTINE ((mi_threadid_t)1)

/* A page whose counts and lists do not add up was being changed when its thread vanished in a
   fork (a list being threaded, a block being popped or pushed). Its free lists cannot be trusted,
   so none of its free blocks is used again: every block counts as live (the thread_free list
   stays if it is sound: those blocks were counted live already). Its live blocks stay valid and
   can be freed; the page leaks the free blocks it had, the rest of the segment is unaffected. */
static void mi_page_fork_seal(mi_segment_t* segment, mi_page_t* page) {
  _mi_verbose_message("fork: page %p of segment %p was being changed by a thread that the child "
                      "does not have: its free blocks are left unused", (void*)page,
                      (void*)segment);
  page->free = page->local_free = NULL;
  page->free_is_zero = false;
  page->used = page->capacity;
  if (!_mi_page_lists_are_consistent(page)) {  // the thread_free list itself is damaged
    const uintptr_t tf = mi_atomic_load_relaxed(mi_page_thread_free_word(page));
    mi_atomic_store_relaxed(mi_page_thread_free_word(page), mi_tf_take(tf));
  }
}

// Check (and seal where needed) every page of a segment a fork child took over, before a thread
// of the child adopts or visits it.
static void mi_segment_fork_check_pages(mi_segment_t* segment) {
  mi_page_t* end = mi_segment_slices_end(segment);
  mi_page_t* slice = (segment->kind == MI_SEGMENT_HUGE ? &segment->slices[0]
                                                       : &segment->slices[segment->segment_info_slices]);
  for (; slice < end; slice += slice->slice_count) {
    if (slice->block_size != 0 && !_mi_page_lists_are_consistent(slice)) {
      mi_page_fork_seal(segment, slice);
    }
  }
}

/* Blocks that another thread freed into a full page just before the fork wait on the page's heap's
   delayed list, still counted as live. That heap's thread does not exist in the child, so they go
   onto their pages' thread_free lists (where a remote free would have put them), and the thread
   that adopts the page finds them. The list is not trusted: a link that is not a block of a page
   ends it (the rest stays counted as live: a leak, not a corruption). */
#define MI_FORK_DELAYED_MAX ((size_t)1 << 24)
static void mi_heap_fork_child_drain_delayed(mi_heap_t* heap) {
  if (mi_atomic_load_relaxed(&heap->thread_delayed_free) == NULL) return;
  mi_block_t* block = mi_atomic_exchange_acq_rel(&heap->thread_delayed_free, NULL);
  for (size_t n = 0; block != NULL && n < MI_FORK_DELAYED_MAX; n++) {
    const mi_segment_t* segment = _mi_ptr_segment_checked(block);
    if (segment == NULL) break;
    mi_page_t* page = _mi_segment_page_of(segment, block);
    const size_t diff = (size_t)((uint8_t*)block - mi_page_start(page));
    if (page->block_size <= 1 || diff >= (size_t)page->capacity * page->block_size ||
        diff % page->block_size != 0) {
      break;
    }
    mi_block_t* next = mi_block_nextx(heap->keys, block);
    const uintptr_t tf = mi_atomic_load_relaxed(mi_page_thread_free_word(page));
    mi_block_set_next(page, block, mi_tf_block(tf));
    mi_atomic_store_relaxed(mi_page_thread_free_word(page), mi_tf_push(tf, block));
    block = next;
  }
}

static bool mi_page_fork_is_consistent(const mi_page_t* page) {
  return page->block_size > 1 && page->reserved > 0 && page->capacity <= page->reserved &&
         page->used <= page->capacity;
}

// Whether a vanished thread left the segment in a state another thread can adopt.
static bool mi_segment_fork_is_consistent(mi_segment_t* segment) {
  if (segment->kind == MI_SEGMENT_HUGE) {
    return segment->used == 1 && mi_page_fork_is_consistent(&segment->slices[0]);
  }
  mi_page_t* end = mi_segment_slices_end(segment);
  for (mi_page_t* slice = &segment->slices[segment->segment_info_slices]; slice < end;
       slice += slice->slice_count) {
    if (slice->slice_count == 0 || slice + slice->slice_count > end) return false;
    if (slice->block_size != 0 && !mi_page_fork_is_consistent(slice)) return false;
  }
  return _mi_segment_is_valid(segment);  // spans coalesced, page count matches `used`
}

static void mi_segment_fork_child(mi_segment_t* segment, void* arg) {
  const mi_threadid_t self = *(const mi_threadid_t*)arg;
  atomic_store_explicit(&segment->mask_lock, 0, memory_order_relaxed);  // its holder is gone
  const mi_threadid_t owner = mi_atomic_load_relaxed(&segment->thread_id);
  if (owner == 0 || owner == MI_THREAD_ID_QUARANTINE) return;
  const bool owned = (owner == self);
  if (!owned && !mi_segment_fork_is_consistent(segment)) {
    mi_atomic_store_relaxed(&segment->thread_id, MI_THREAD_ID_QUARANTINE);
    // No page of it may look owned to a thread of the child that happens to get the vanished
    // owner's id: every descriptor, whatever the (untrusted) page structure says.
    for (size_t i = 0; i < MI_SLICES_PER_SEGMENT; i++) {
      const uintptr_t w = mi_atomic_load_relaxed(&segment->page_owner[i]);
      mi_atomic_store_relaxed(&segment->page_owner[i], w & MI_PAGE_FLAGS_MASK);
    }
    return;  // (the forking thread cannot have been mid-update: it was calling fork)
  }
  mi_page_t* const end = mi_segment_slices_end(segment);
  mi_page_t* const first = (segment->kind == MI_SEGMENT_HUGE
                                ? &segment->slices[0]
                                : &segment->slices[segment->segment_info_slices]);
  for (mi_page_t* slice = first; slice < end; slice += slice->slice_count) {
    if (slice->block_size <= 1) continue;
    mi_heap_t* heap = mi_page_heap(slice);
    if (!owned && heap != NULL) mi_heap_fork_child_drain_delayed(heap);
    mi_page_fork_child_detach(slice, owned);
  }
  if (owned) return;
  segment->abandoned = segment->used;
  segment->from_fork = true;  // its lists are checked when it is first adopted or visited
  mi_atomic_store_relaxed(&segment->thread_id, 0);
  mi_abandoned_push_locked(segment);  // the child runs alone; the lock was released for it
}

void _mi_segments_fork_child(void) {
  mi_threadid_t self = _mi_thread_id();
  // A vanished thread's pass or release check ends here (its segment goes back to the list below);
  // one of the forking thread's own (fork from a visitor) goes on.
  atomic_store_explicit(&mi_release_checks, 0, memory_order_relaxed);
  if (mi_atomic_load_relaxed(&mi_pass_thread) != self) {
    pthread_mutex_init(&mi_pass_lock, NULL);
    mi_atomic_store_relaxed(&mi_pass_thread, 0);
  }
  _mi_segment_map_visit(&mi_segment_fork_child, &self);
}

/* ---------------------------------------------------------------------------------------------
   Validation (debug level 3)
--------------------------------------------------------------------------------------------- */
bool _mi_segment_is_valid(const mi_segment_t* segment) {
  if (segment == NULL || !_mi_segment_map_contains(segment)) return false;
  if (segment->cookie != ((uintptr_t)segment ^ _mi_process_cookie())) return false;
  if (segment->kind == MI_SEGMENT_HUGE) return segment->used <= 1;
  size_t used = 0;
  const mi_page_t* end = &segment->slices[segment->segment_slices];
  const mi_page_t* slice = &segment->slices[segment->segment_info_slices];
  bool prev_free = false;
  while (slice < end) {
    const size_t count = slice->slice_count;
    if (count == 0 || slice + count > end || _mi_slice_first(slice) != slice) return false;
    const bool is_free = (slice->block_size == 0);
    if (is_free && prev_free) return false;  // free neighbours must have been coalesced
    if (is_free && count > 1 && _mi_slice_first(&slice[count - 1]) != slice) return false;
    if (!is_free) {
      used++;
      for (size_t i = 1; i < count; i++) {
        if (_mi_slice_first(&slice[i]) != slice) return false;
      }
    }
    prev_free = is_free;
    slice += count;
  }
  return used == segment->used;
}

/* MIMALLOC_DESTROY_ON_EXIT: forget every segment before the arenas are unmapped: the segment map
   (no purge pass runs from here on) and the abandoned list (a later slow path would otherwise
   adopt a segment that is gone). */
void _mi_segments_unsafe_destroy(void) {
  _mi_purge_unsafe_destroy();
  _mi_purge_map_lock(true);
  _mi_segment_map_unsafe_destroy();
  _mi_purge_map_lock(false);
  mi_lock(&mi_abandoned_lock);
  mi_abandoned_first = mi_abandoned_last = NULL;
  mi_atomic_store_relaxed(&mi_abandoned_count, 0);
  mi_unlock(&mi_abandoned_lock);
}
