/* Arenas: large OS reservations (MIMALLOC_ARENA_RESERVE, 1 GiB by default) cut into 32 MiB blocks
 * that hold segments, tracked by atomic bitmaps so any thread claims and releases blocks without a
 * lock. Only growth (reserving a new arena) takes a lock. Requests an arena cannot serve go to the
 * OS directly. A released block is purged (its pages given back to the OS) once it has stayed
 * free for purge_delay x arena_purge_mult ms (100 ms by default); claiming it again before then
 * cancels the purge, so a segment that is freed and soon needed again costs no page faults. */
#include <pthread.h>

#include "internal/internal.h"

#define MI_ARENA_BLOCK_SIZE MI_SEGMENT_SIZE
#define MI_MAX_ARENAS       64
#define MI_ARENA_FIELDS_MAX 4  // up to 256 blocks = 8 GiB per arena

typedef struct mi_arena_s {
  uint8_t* start;  // aligned to MI_ARENA_BLOCK_SIZE
  size_t block_count;
  size_t field_count;
  mi_memid_t memid;            // the OS mapping
  _Atomic(size_t) search_idx;  // field where the last claim succeeded
  mi_bitmap_field_t blocks_inuse[MI_ARENA_FIELDS_MAX];
  mi_bitmap_field_t blocks_dirty[MI_ARENA_FIELDS_MAX];  // written since last known zero
  mi_bitmap_field_t blocks_purge[MI_ARENA_FIELDS_MAX];  // free and waiting to be purged
  _Atomic(long long) purge_expire;  // when the oldest pending purge is due (0: none)
} mi_arena_t;

static _Atomic(mi_arena_t*) mi_arenas[MI_MAX_ARENAS];
static pthread_mutex_t mi_arena_grow_lock = PTHREAD_MUTEX_INITIALIZER;

void _mi_arena_fork_lock(bool lock) {
  if (lock)
    pthread_mutex_lock(&mi_arena_grow_lock);
  else
    pthread_mutex_unlock(&mi_arena_grow_lock);
}
static _Atomic(size_t) mi_arena_count;

static bool mi_arena_try_claim(mi_arena_t* arena, size_t arena_index, size_t blocks, void** p,
                               mi_memid_t* memid) {
  size_t bit;
  const size_t start = mi_atomic_load_relaxed(&arena->search_idx);
  if (!_mi_bitmap_try_find_claim(arena->blocks_inuse, arena->field_count, start, blocks, &bit)) {
    return false;
  }
  if (bit + blocks > arena->block_count) {  // the tail of the last field is past the arena
    _mi_bitmap_unclaim(arena->blocks_inuse, blocks, bit);
    return false;
  }
  mi_atomic_store_relaxed(&arena->search_idx, bit / MI_BITMAP_FIELD_BITS);
  _mi_bitmap_clear(arena->blocks_purge, blocks, bit);  // in use again: still committed, no purge
  bool any_dirty = false;
  _mi_bitmap_claim(arena->blocks_dirty, blocks, bit, &any_dirty);
  if (any_dirty) mi_stat_decrease(committed, blocks * MI_ARENA_BLOCK_SIZE);  // the segment counts
  *p = arena->start + bit * MI_ARENA_BLOCK_SIZE;
  *memid = (mi_memid_t){.kind = MI_MEM_ARENA,
                        .arena_index = arena_index,
                        .block_index = bit,
                        .block_count = blocks,
                        .initially_zero = !any_dirty,
                        .initially_committed = true};
  return true;
}

static bool mi_arena_reserve(void) {
  size_t size = (size_t)mi_option_get_size(mi_option_arena_reserve);
  size = _mi_align_up(size < MI_ARENA_BLOCK_SIZE ? MI_ARENA_BLOCK_SIZE : size, MI_ARENA_BLOCK_SIZE);
  const size_t max_size = MI_ARENA_FIELDS_MAX * MI_BITMAP_FIELD_BITS * MI_ARENA_BLOCK_SIZE;
  if (size > max_size) size = max_size;
  mi_memid_t memid;
  void* start = _mi_os_alloc_aligned(size, MI_ARENA_BLOCK_SIZE, &memid);
  if (start == NULL) return false;
  mi_memid_t meta_id;
  mi_arena_t* arena = (mi_arena_t*)_mi_os_alloc(sizeof(mi_arena_t), &meta_id);
  if (arena == NULL) {
    _mi_os_free(start, size, memid);
    return false;
  }
  arena->start = (uint8_t*)start;
  arena->block_count = size / MI_ARENA_BLOCK_SIZE;
  arena->field_count = _mi_divide_up(arena->block_count, MI_BITMAP_FIELD_BITS);
  arena->memid = memid;
  const size_t tail = arena->field_count * MI_BITMAP_FIELD_BITS - arena->block_count;
  if (tail > 0) {  // bits past the end are permanently in use, so a search never stops on them
    _mi_bitmap_claim(arena->blocks_inuse, tail, arena->block_count, NULL);
  }
  const size_t count = mi_atomic_load_relaxed(&mi_arena_count);
  mi_atomic_store_release(&mi_arenas[count], arena);
  mi_atomic_store_release(&mi_arena_count, count + 1);
  mi_stat_increase(arenas, 1);
  _mi_verbose_message("reserved arena %zu: %zu MiB at %p", count, size / (1024 * 1024), start);
  return true;
}

static bool mi_arenas_try_alloc(size_t blocks, void** p, mi_memid_t* memid) {
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[i]);
    if (arena != NULL && mi_arena_try_claim(arena, i, blocks, p, memid)) return true;
  }
  return false;
}

// Memory for a segment: `size` is a multiple of 32 MiB; the result is aligned to 32 MiB.
void* _mi_arena_alloc_segment(size_t size, mi_memid_t* memid) {
  mi_assert_internal(size > 0 && size % MI_ARENA_BLOCK_SIZE == 0);
  const size_t blocks = size / MI_ARENA_BLOCK_SIZE;
  void* p = NULL;
  if (blocks <= MI_BITMAP_FIELD_BITS && !mi_option_is_enabled(mi_option_disallow_arena_alloc)) {
    if (mi_arenas_try_alloc(blocks, &p, memid)) {
      _mi_arenas_try_purge(false);
      return p;
    }
    // grow: one thread reserves, the others retry on what it added
    const size_t seen = mi_atomic_load_acquire(&mi_arena_count);
    pthread_mutex_lock(&mi_arena_grow_lock);
    bool ok = (mi_atomic_load_acquire(&mi_arena_count) != seen);
    if (!ok && seen < MI_MAX_ARENAS &&
        blocks * MI_ARENA_BLOCK_SIZE <= (size_t)mi_option_get_size(mi_option_arena_reserve)) {
      ok = mi_arena_reserve();
    }
    pthread_mutex_unlock(&mi_arena_grow_lock);
    if (ok && mi_arenas_try_alloc(blocks, &p, memid)) return p;
  }
  if (mi_option_is_enabled(mi_option_disallow_os_alloc)) return NULL;
  return _mi_os_alloc_aligned(size, MI_SEGMENT_SIZE, memid);
}

/* ---------------------------------------------------------------------------------------------
   Delayed purging
--------------------------------------------------------------------------------------------- */
static long long mi_arena_purge_delay(void) {
  return mi_option_get(mi_option_purge_delay) *
         mi_option_get_clamp(mi_option_arena_purge_mult, 0, 1000);
}

// Purge one block now: claim it so nobody uses it meanwhile. False if it is in use (its claimer
// clears the purge bit, or its freer is about to release it).
static bool mi_arena_purge_block(mi_arena_t* arena, size_t bit) {
  size_t claimed;
  const size_t field = bit / MI_BITMAP_FIELD_BITS;
  size_t map = mi_atomic_load_relaxed(&arena->blocks_inuse[field]);
  const size_t mask = (size_t)1 << (bit % MI_BITMAP_FIELD_BITS);
  do {
    if ((map & mask) != 0) return false;
  } while (!mi_atomic_cas_weak_acq_rel(&arena->blocks_inuse[field], &map, map | mask));
  claimed = bit;
  if (_mi_bitmap_clear(arena->blocks_purge, 1, claimed) &&
      _mi_os_purge(arena->start + claimed * MI_ARENA_BLOCK_SIZE, MI_ARENA_BLOCK_SIZE) &&
      _mi_bitmap_clear(arena->blocks_dirty, 1, claimed)) {  // reads as zero now
    mi_stat_decrease(committed, MI_ARENA_BLOCK_SIZE);
  }
  _mi_bitmap_unclaim(arena->blocks_inuse, 1, claimed);
  return true;
}

static void mi_arena_try_purge(mi_arena_t* arena, long long now, bool force) {
  long long expire = mi_atomic_load_relaxed(&arena->purge_expire);
  if (expire == 0 || (!force && now < expire)) return;
  // one thread purges an arena at a time: the one that resets the deadline
  if (!mi_atomic_cas_strong_acq_rel(&arena->purge_expire, &expire, 0)) return;
  bool skipped = false;
  for (size_t f = 0; f < arena->field_count; f++) {
    size_t bits = mi_atomic_load_relaxed(&arena->blocks_purge[f]);
    while (bits != 0) {
      const size_t b = (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      if (!mi_arena_purge_block(arena, f * MI_BITMAP_FIELD_BITS + b)) skipped = true;
    }
  }
  if (skipped) {  // a block still being released keeps its purge: try again after another delay
    long long none = 0;
    mi_atomic_cas_strong_acq_rel(&arena->purge_expire, &none, now + mi_arena_purge_delay());
  }
}

// Purge the blocks whose delay has passed (all pending ones when forced).
void _mi_arenas_try_purge(bool force) {
  _mi_os_huge_cache_purge(force);  // freed huge mappings kept for reuse, likewise
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  if (count == 0) return;
  const long long now = _mi_prim_clock_now();
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[i]);
    if (arena != NULL) mi_arena_try_purge(arena, now, force);
  }
}

void _mi_arena_free(void* p, size_t size, mi_memid_t memid) {
  if (memid.kind == MI_MEM_OS) {
    _mi_os_free(p, size, memid);
    return;
  }
  if (memid.kind != MI_MEM_ARENA) return;
  mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[memid.arena_index]);
  if (arena == NULL || memid.block_index + memid.block_count > arena->block_count) {
    _mi_error_message(EFAULT, "freeing %p to an arena it does not belong to", p);
    return;
  }
  // A free dirty block counts as committed (all of it: which slices were written is not kept).
  const long long delay = mi_arena_purge_delay();
  const size_t bytes = memid.block_count * MI_ARENA_BLOCK_SIZE;
  if (delay == 0 && _mi_os_purge(p, bytes)) {
    // purged at once, before the block can be claimed again; it then reads as zero
    _mi_bitmap_clear(arena->blocks_dirty, memid.block_count, memid.block_index);
  } else {
    mi_stat_increase(committed, bytes);
  }
  if (delay > 0) {
    _mi_bitmap_claim(arena->blocks_purge, memid.block_count, memid.block_index, NULL);
    long long expected = 0;
    mi_atomic_cas_strong_acq_rel(&arena->purge_expire, &expected, _mi_prim_clock_now() + delay);
  }  // delay < 0: never purge
  _mi_bitmap_unclaim(arena->blocks_inuse, memid.block_count, memid.block_index);
  _mi_arenas_try_purge(false);
}
