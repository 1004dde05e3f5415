/* Arenas: large address ranges cut into 32 MiB blocks that hold segments (and huge blocks, when
 * they must not come from the OS directly), tracked by atomic bitmaps so any thread claims and
 * releases blocks without a lock. Only adding an arena takes a lock. Arenas come from three
 * places: the allocator's own reservations as it grows (MIMALLOC_ARENA_RESERVE, 1 GiB by
 * default), mi_reserve_os_memory / mi_reserve_huge_os_pages_* (and the options that call them at
 * start), and memory the program hands over with mi_manage_os_memory. An exclusive arena serves
 * only heaps created for it (mi_heap_new_in_arena); every other heap uses the shared arenas and,
 * unless MIMALLOC_DISALLOW_OS_ALLOC is set, the OS. A released block is pending memory of the
 * memory-return engine (purge.c), which purges it when its policy says; claiming it again
 * first takes it back. Memory the program manages and
 * huge OS pages are never purged or unmapped. */
#include <pthread.h>

#include "internal/internal.h"

#define MI_ARENA_BLOCK_SIZE MI_SEGMENT_SIZE
#define MI_MAX_ARENAS       64
#define MI_ARENA_FIELDS_MAX 16  // up to 1024 blocks = 32 GiB per arena

typedef struct mi_arena_s {
  uint8_t* start;  // aligned to MI_ARENA_BLOCK_SIZE
  size_t block_count;
  size_t field_count;
  mi_memid_t memid;            // the OS mapping (kind MI_MEM_NONE: the program's memory)
  bool exclusive;              // only heaps created for this arena use it
  bool is_external;            // the program's memory (mi_manage_os_memory): never unmapped
  bool is_pinned;              // huge OS pages or memory declared large: never purged
  bool is_committed;           // false: blocks are made accessible (mprotect) when first claimed
  _Atomic(size_t) search_idx;  // field where the last claim succeeded
  mi_bitmap_field_t blocks_inuse[MI_ARENA_FIELDS_MAX];
  mi_bitmap_field_t blocks_dirty[MI_ARENA_FIELDS_MAX];      // written since last known zero
  mi_bitmap_field_t blocks_purge[MI_ARENA_FIELDS_MAX];      // free and waiting to be purged
  mi_bitmap_field_t blocks_committed[MI_ARENA_FIELDS_MAX];  // accessible (when !is_committed)
  _Atomic(uint32_t) purge_since[MI_ARENA_FIELDS_MAX * MI_BITMAP_FIELD_BITS];  // when each block
                                    // of blocks_purge was freed (_mi_purge_clock)
} mi_arena_t;

static _Atomic(mi_arena_t*) mi_arenas[MI_MAX_ARENAS];
static _Atomic(size_t) mi_arena_count;
static pthread_mutex_t mi_arena_grow_lock = PTHREAD_MUTEX_INITIALIZER;

void _mi_arena_fork_lock(bool lock) {
  if (lock)
    mi_lock(&mi_arena_grow_lock);
  else
    mi_unlock(&mi_arena_grow_lock);
}

// The arena of an id (index + 1), or NULL.
static mi_arena_t* mi_arena_from_id(mi_arena_id_t id) {
  if (id <= 0 || (size_t)id > mi_atomic_load_acquire(&mi_arena_count)) return NULL;
  return mi_atomic_load_acquire(&mi_arenas[id - 1]);
}

// Blocks of a segment may serve a heap that asks for arena `req` (0: any shared memory).
bool _mi_arena_memid_is_suitable(mi_memid_t memid, mi_arena_id_t req) {
  if (req == 0) return (memid.exclusive_arena == 0);
  return (memid.kind == MI_MEM_ARENA && (mi_arena_id_t)memid.arena_index + 1 == req);
}

bool _mi_arena_id_is_valid(mi_arena_id_t id) { return mi_arena_from_id(id) != NULL; }

/* A free block still resident (pending for the engine) is taken before untouched or purged ones:
   it needs no page faults, and what is not reused is what the engine returns. */
static bool mi_arena_try_claim_dirty(mi_arena_t* arena, size_t* bit) {
  for (size_t f = 0; f < arena->field_count; f++) {
    size_t map = mi_atomic_load_relaxed(&arena->blocks_inuse[f]);
    size_t cand = mi_atomic_load_relaxed(&arena->blocks_purge[f]) & ~map;
    while (cand != 0) {
      const size_t mask = cand & (~cand + 1);  // the lowest candidate
      if (mi_atomic_cas_weak_acq_rel(&arena->blocks_inuse[f], &map, map | mask)) {
        *bit = f * MI_BITMAP_FIELD_BITS + (size_t)__builtin_ctzll(mask);
        return true;
      }
      cand &= ~map;  // (map was reloaded by the failed CAS)
    }
  }
  return false;
}

static bool mi_arena_try_claim(mi_arena_t* arena, size_t arena_index, size_t blocks, void** p,
                               mi_memid_t* memid) {
  size_t bit;
  const size_t start = mi_atomic_load_relaxed(&arena->search_idx);
  if (!(blocks == 1 && mi_arena_try_claim_dirty(arena, &bit)) &&
      !_mi_bitmap_try_find_claim(arena->blocks_inuse, arena->field_count, start, blocks, &bit)) {
    return false;
  }
  if (bit + blocks > arena->block_count) {  // the tail of the last field is past the arena
    _mi_bitmap_unclaim(arena->blocks_inuse, blocks, bit);
    return false;
  }
  uint8_t* const addr = arena->start + bit * MI_ARENA_BLOCK_SIZE;
  const size_t bytes = blocks * MI_ARENA_BLOCK_SIZE;
  if (!arena->is_committed) {  // the program's memory, handed over inaccessible
    for (size_t i = 0; i < blocks; i++) {
      bool was = false;
      _mi_bitmap_claim(arena->blocks_committed, 1, bit + i, &was);
      if (was) continue;
      if (_mi_prim_protect(addr + i * MI_ARENA_BLOCK_SIZE, MI_ARENA_BLOCK_SIZE, false) != 0) {
        _mi_warning_message("unable to make arena memory at %p accessible", (void*)addr);
        _mi_bitmap_clear(arena->blocks_committed, 1, bit + i);
        _mi_bitmap_unclaim(arena->blocks_inuse, blocks, bit);
        return false;
      }
    }
  }
  mi_atomic_store_relaxed(&arena->search_idx, bit / MI_BITMAP_FIELD_BITS);
  _mi_bitmap_clear(arena->blocks_purge, blocks, bit);  // in use again: still committed, no purge
  size_t dirty = 0;  // free dirty blocks count as committed; the segment counts them now
  for (size_t i = 0; i < blocks; i++) {
    bool was = false;
    _mi_bitmap_claim(arena->blocks_dirty, 1, bit + i, &was);
    if (was) dirty++;
  }
  const bool any_dirty = (dirty > 0);
  mi_stat_decrease(committed, dirty * MI_ARENA_BLOCK_SIZE);
  *p = addr;
  *memid = (mi_memid_t){.kind = MI_MEM_ARENA,
                        .base = addr,
                        .size = bytes,
                        .arena_index = arena_index,
                        .block_index = bit,
                        .block_count = blocks,
                        .exclusive_arena = (arena->exclusive ? (int)arena_index + 1 : 0),
                        .no_purge = (arena->is_external || arena->is_pinned),
                        .initially_zero = !any_dirty,
                        .initially_committed = true};
  return true;
}

/* Register [start, start + size) as an arena (size a multiple of the block size, start aligned),
   with mi_arena_grow_lock held. Returns its id, or 0 when the table is full or metadata cannot
   be had. */
static mi_arena_id_t mi_arena_add_locked(void* start, size_t size, mi_memid_t memid, bool exclusive,
                                         bool is_external, bool is_pinned, bool is_committed,
                                         bool is_zero) {
  mi_assert_internal(((uintptr_t)start % MI_ARENA_BLOCK_SIZE) == 0 &&
                     size % MI_ARENA_BLOCK_SIZE == 0);
  mi_memid_t meta_id;
  mi_arena_t* arena = (mi_arena_t*)_mi_os_alloc(sizeof(mi_arena_t), &meta_id);
  if (arena == NULL) return 0;
  arena->start = (uint8_t*)start;
  arena->block_count = size / MI_ARENA_BLOCK_SIZE;
  arena->field_count = _mi_divide_up(arena->block_count, MI_BITMAP_FIELD_BITS);
  arena->memid = memid;
  arena->exclusive = exclusive;
  arena->is_external = is_external;
  arena->is_pinned = is_pinned;
  arena->is_committed = is_committed;
  const size_t tail = arena->field_count * MI_BITMAP_FIELD_BITS - arena->block_count;
  if (tail > 0) {  // bits past the end are permanently in use, so a search never stops on them
    _mi_bitmap_claim(arena->blocks_inuse, tail, arena->block_count, NULL);
  }
  if (!is_zero) {  // every block reads as written (and counts as committed until claimed)
    for (size_t i = 0; i < arena->block_count; i++)
      _mi_bitmap_claim(arena->blocks_dirty, 1, i, NULL);
  }
  const size_t count = mi_atomic_load_relaxed(&mi_arena_count);
  if (count >= MI_MAX_ARENAS) {
    _mi_os_free(arena, sizeof(mi_arena_t), meta_id);
    _mi_warning_message("too many arenas (%d): %p is not added", MI_MAX_ARENAS, start);
    return 0;
  }
  mi_atomic_store_release(&mi_arenas[count], arena);
  mi_atomic_store_release(&mi_arena_count, count + 1);
  mi_stat_increase(arenas, 1);
  if (!is_zero) mi_stat_increase(committed, size);
  _mi_verbose_message("arena %zu: %zu MiB at %p%s%s%s", count + 1, size / (1024 * 1024), start,
                      exclusive ? ", exclusive" : "", is_external ? ", the program's memory" : "",
                      is_pinned ? ", pinned" : "");
  return (mi_arena_id_t)count + 1;
}

static size_t mi_arena_size_max(void) {
  return MI_ARENA_FIELDS_MAX * MI_BITMAP_FIELD_BITS * MI_ARENA_BLOCK_SIZE;
}

// Map `size` bytes (rounded up to blocks) from the OS and add them as an arena, with
// mi_arena_grow_lock held. 0 on failure.
static mi_arena_id_t mi_arena_reserve_os_locked(size_t size, bool allow_large, bool exclusive) {
  size = _mi_align_up(size < MI_ARENA_BLOCK_SIZE ? MI_ARENA_BLOCK_SIZE : size, MI_ARENA_BLOCK_SIZE);
  if (size > mi_arena_size_max()) size = mi_arena_size_max();
  mi_memid_t memid;
  void* start = _mi_os_alloc_aligned(size, MI_ARENA_BLOCK_SIZE, &memid);
  if (start == NULL) return 0;
  if (allow_large) _mi_prim_advise_thp(start, size, true);
  const mi_arena_id_t id =
      mi_arena_add_locked(start, size, memid, exclusive, false, false, true, memid.initially_zero);
  if (id == 0) _mi_os_free(start, size, memid);
  return id;
}

// Blocks from the shared arenas (exclusive ones are skipped).
static bool mi_arenas_try_alloc(size_t blocks, void** p, mi_memid_t* memid) {
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[i]);
    if (arena != NULL && !arena->exclusive && mi_arena_try_claim(arena, i, blocks, p, memid)) {
      return true;
    }
  }
  return false;
}

/* `size` bytes (a multiple of 32 MiB, aligned to 32 MiB) for a heap that asks for arena `req`
   (0: any shared memory): from that arena only; else from the shared arenas, a new reservation,
   or the OS directly. NULL when none can serve (MIMALLOC_DISALLOW_OS_ALLOC: no OS memory). */
void* _mi_arena_alloc(size_t size, mi_arena_id_t req, mi_memid_t* memid) {
  mi_assert_internal(size > 0 && size % MI_ARENA_BLOCK_SIZE == 0);
  const size_t blocks = size / MI_ARENA_BLOCK_SIZE;
  void* p = NULL;
  if (req != 0) {
    mi_arena_t* arena = mi_arena_from_id(req);
    if (arena == NULL || blocks > MI_BITMAP_FIELD_BITS) return NULL;
    return (mi_arena_try_claim(arena, (size_t)req - 1, blocks, &p, memid) ? p : NULL);
  }
  const bool os_allowed = !mi_option_is_enabled(mi_option_disallow_os_alloc);
  if (blocks <= MI_BITMAP_FIELD_BITS && !mi_option_is_enabled(mi_option_disallow_arena_alloc)) {
    if (mi_arenas_try_alloc(blocks, &p, memid)) return p;
    // grow: one thread reserves, the others retry on what it added
    const size_t seen = mi_atomic_load_acquire(&mi_arena_count);
    const size_t reserve = (size_t)mi_option_get_size(mi_option_arena_reserve);
    mi_lock(&mi_arena_grow_lock);
    bool ok = (mi_atomic_load_acquire(&mi_arena_count) != seen);
    if (!ok && os_allowed && seen < MI_MAX_ARENAS && size <= reserve) {
      ok = (mi_arena_reserve_os_locked(reserve, false, false) != 0);
    }
    mi_unlock(&mi_arena_grow_lock);
    if (ok && mi_arenas_try_alloc(blocks, &p, memid)) return p;
  }
  if (!os_allowed) return NULL;
  return _mi_os_alloc_aligned(size, MI_SEGMENT_SIZE, memid);
}

/* ---------------------------------------------------------------------------------------------
   Free dirty blocks are pending memory for the engine (purge.c): each is stamped when freed, and
   purged when a pass takes it (claimed meanwhile, so nobody uses it during the purge).
--------------------------------------------------------------------------------------------- */
// Purge one block now. False if it is in use (its claimer clears the purge bit, or its freer is
// about to release it).
static bool mi_arena_purge_block(mi_arena_t* arena, size_t bit) {
  const size_t field = bit / MI_BITMAP_FIELD_BITS;
  size_t map = mi_atomic_load_relaxed(&arena->blocks_inuse[field]);
  const size_t mask = (size_t)1 << (bit % MI_BITMAP_FIELD_BITS);
  do {
    if ((map & mask) != 0) return false;
  } while (!mi_atomic_cas_weak_acq_rel(&arena->blocks_inuse[field], &map, map | mask));
  bool purged = false;
  if (_mi_bitmap_clear(arena->blocks_purge, 1, bit)) {
    purged = true;
    if (_mi_os_purge(arena->start + bit * MI_ARENA_BLOCK_SIZE, MI_ARENA_BLOCK_SIZE)) {
      _mi_bitmap_clear(arena->blocks_dirty, 1, bit);  // reads as zero now
    }
    mi_stat_decrease(committed, MI_ARENA_BLOCK_SIZE);
  }
  _mi_bitmap_unclaim(arena->blocks_inuse, 1, bit);
  return purged;
}

// A pass of the engine: purge the free blocks that are due.
void _mi_arenas_purge_apply(mi_purge_pass_t* pass) {
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[i]);
    if (arena == NULL) continue;
    for (size_t f = 0; f < arena->field_count; f++) {
      size_t bits = mi_atomic_load_relaxed(&arena->blocks_purge[f]);
      while (bits != 0) {
        const size_t bit = f * MI_BITMAP_FIELD_BITS + (size_t)__builtin_ctzll(bits);
        bits &= bits - 1;
        const uint32_t since = mi_atomic_load_relaxed(&arena->purge_since[bit]);
        uint8_t* const block = arena->start + bit * MI_ARENA_BLOCK_SIZE;
        if (_mi_purge_due(pass, since, (uintptr_t)block, MI_ARENA_BLOCK_SIZE) &&
            !mi_arena_purge_block(arena, bit)) {
          pass->purged -= MI_ARENA_BLOCK_SIZE;  // in use again meanwhile
        }
      }
    }
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
    _mi_error_message(EFAULT, "invalid pointer %p: freed to an arena it does not belong to", p);
    return;
  }
  mi_track_mem_undefined(p, memid.block_count * MI_ARENA_BLOCK_SIZE);  // no block lives here
  // A free dirty block counts as committed (all of it: which slices were written is not kept).
  // The program's memory and huge OS pages are never purged.
  const long long delay = (arena->is_external || arena->is_pinned ? -1 : _mi_purge_decay_ms());
  const size_t bytes = memid.block_count * MI_ARENA_BLOCK_SIZE;
  if (delay == 0 && _mi_os_purge(p, bytes)) {
    // purged at once, before the block can be claimed again; it then reads as zero
    _mi_bitmap_clear(arena->blocks_dirty, memid.block_count, memid.block_index);
  } else {
    mi_stat_increase(committed, bytes);
  }
  if (delay > 0) {  // pending from now (delay < 0: never purged)
    const uint32_t now = _mi_purge_clock();
    for (size_t i = 0; i < memid.block_count; i++) {
      mi_atomic_store_relaxed(&arena->purge_since[memid.block_index + i], now);
    }
    _mi_bitmap_claim(arena->blocks_purge, memid.block_count, memid.block_index, NULL);
  }
  _mi_bitmap_unclaim(arena->blocks_inuse, memid.block_count, memid.block_index);
  if (delay > 0) _mi_purge_report();
}

/* ---------------------------------------------------------------------------------------------
   The public arena API
--------------------------------------------------------------------------------------------- */
int mi_reserve_os_memory_ex(size_t size, bool commit, bool allow_large, bool exclusive,
                            mi_arena_id_t* arena_id) mi_attr_noexcept {
  (void)commit;  // Linux commits on first touch either way
  if (arena_id != NULL) *arena_id = 0;
  if (size == 0 || size > mi_arena_size_max()) return EINVAL;
  mi_lock(&mi_arena_grow_lock);
  const mi_arena_id_t id = mi_arena_reserve_os_locked(size, allow_large, exclusive);
  mi_unlock(&mi_arena_grow_lock);
  if (id == 0) return ENOMEM;
  if (arena_id != NULL) *arena_id = id;
  return 0;
}

int mi_reserve_os_memory(size_t size, bool commit, bool allow_large) mi_attr_noexcept {
  return mi_reserve_os_memory_ex(size, commit, allow_large, false, NULL);
}

/* The program's memory [start, start + size): the 32 MiB-aligned blocks inside it become an
   arena (at most 32 GiB of it). It is never unmapped or purged; if it is not committed (say
   mapped PROT_NONE), each block is made readable and writable when first used. */
bool mi_manage_os_memory_ex(void* start, size_t size, bool is_committed, bool is_large,
                            bool is_zero, int numa_node, bool exclusive,
                            mi_arena_id_t* arena_id) mi_attr_noexcept {
  (void)numa_node;  // one node as far as shardalloc is concerned
  if (arena_id != NULL) *arena_id = 0;
  if (start == NULL || size == 0) return false;
  const uintptr_t lo = _mi_align_up((uintptr_t)start, MI_ARENA_BLOCK_SIZE);
  const uintptr_t end = (uintptr_t)start + size;
  if (end < (uintptr_t)start || lo < (uintptr_t)start || lo >= end ||
      end - lo < MI_ARENA_BLOCK_SIZE) {
    _mi_warning_message("mi_manage_os_memory: %p + %zu holds no aligned 32 MiB block", start, size);
    return false;
  }
  size_t usable = (end - lo) & ~(uintptr_t)(MI_ARENA_BLOCK_SIZE - 1);
  if (usable > mi_arena_size_max()) usable = mi_arena_size_max();
  const mi_memid_t memid = {.kind = MI_MEM_NONE};
  mi_lock(&mi_arena_grow_lock);
  const mi_arena_id_t id = mi_arena_add_locked((void*)lo, usable, memid, exclusive, true, is_large,
                                               is_committed, is_zero);
  mi_unlock(&mi_arena_grow_lock);
  if (id == 0) return false;
  if (arena_id != NULL) *arena_id = id;
  return true;
}

bool mi_manage_os_memory(void* start, size_t size, bool is_committed, bool is_large, bool is_zero,
                         int numa_node) mi_attr_noexcept {
  return mi_manage_os_memory_ex(start, size, is_committed, is_large, is_zero, numa_node, false,
                                NULL);
}

void* mi_arena_area(mi_arena_id_t arena_id, size_t* size) mi_attr_noexcept {
  if (size != NULL) *size = 0;
  mi_arena_t* arena = mi_arena_from_id(arena_id);
  if (arena == NULL) return NULL;
  if (size != NULL) *size = arena->block_count * MI_ARENA_BLOCK_SIZE;
  return arena->start;
}

/* 1 GiB huge OS pages (hugetlbfs, reserved by the administrator): as many of `pages` as the
   system grants, in one arena that is never purged. ENOMEM when it grants none (the usual case:
   no 1 GiB pages are configured). The timeout and NUMA node are not needed here: one mapping is
   tried, then fewer pages. */
int mi_reserve_huge_os_pages_at_ex(size_t pages, int numa_node, size_t timeout_msecs,
                                   bool exclusive, mi_arena_id_t* arena_id) mi_attr_noexcept {
  (void)numa_node;
  (void)timeout_msecs;
  if (arena_id != NULL) *arena_id = 0;
  if (pages == 0) return 0;
  const size_t gib = (size_t)1 << 30;
  if (pages > mi_arena_size_max() / gib) pages = mi_arena_size_max() / gib;
  for (size_t n = pages; n > 0; n = n / 2) {
    mi_memid_t memid;
    void* start = _mi_os_alloc_huge_os_pages(n * gib, &memid);
    if (start == NULL) continue;
    mi_lock(&mi_arena_grow_lock);
    const mi_arena_id_t id =
        mi_arena_add_locked(start, n * gib, memid, exclusive, false, true, true, true);
    mi_unlock(&mi_arena_grow_lock);
    if (id == 0) {
      _mi_os_free(start, n * gib, memid);
      return ENOMEM;
    }
    _mi_verbose_message("reserved %zu huge (1 GiB) pages of %zu asked for", n, pages);
    if (arena_id != NULL) *arena_id = id;
    return 0;
  }
  _mi_warning_message("unable to reserve %zu huge (1 GiB) OS pages", pages);
  return ENOMEM;
}

int mi_reserve_huge_os_pages_at(size_t pages, int numa_node,
                                size_t timeout_msecs) mi_attr_noexcept {
  return mi_reserve_huge_os_pages_at_ex(pages, numa_node, timeout_msecs, false, NULL);
}

int mi_reserve_huge_os_pages_interleave(size_t pages, size_t numa_nodes,
                                        size_t timeout_msecs) mi_attr_noexcept {
  (void)numa_nodes;  // a single node: all pages in one reservation
  return mi_reserve_huge_os_pages_at(pages, -1, timeout_msecs);
}

int mi_reserve_huge_os_pages(size_t pages, double max_secs,
                             size_t* pages_reserved) mi_attr_noexcept {
  if (pages_reserved != NULL) *pages_reserved = 0;
  mi_arena_id_t id = 0;
  const int err =
      mi_reserve_huge_os_pages_at_ex(pages, -1, (size_t)(max_secs * 1000.0), false, &id);
  if (err == 0 && pages_reserved != NULL) {
    size_t size = 0;
    mi_arena_area(id, &size);
    *pages_reserved = size >> 30;
  }
  return err;
}

static size_t mi_bitmap_count(const mi_bitmap_field_t* bitmap, size_t field_count) {
  size_t n = 0;
  for (size_t f = 0; f < field_count; f++) {
    n += (size_t)__builtin_popcountll(mi_atomic_load_relaxed(&((mi_bitmap_field_t*)bitmap)[f]));
  }
  return n;
}

// One line per arena: where, how big, what kind, blocks in use / dirty / waiting for a purge.
void mi_debug_show_arenas(void) mi_attr_noexcept {
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  _mi_message("arenas: %zu", count);
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* a = mi_atomic_load_acquire(&mi_arenas[i]);
    if (a == NULL) continue;
    const size_t tail = a->field_count * MI_BITMAP_FIELD_BITS - a->block_count;
    _mi_message(
        "arena %zu: %p, %zu MiB, %zu blocks of 32 MiB: %zu in use, %zu dirty, %zu to "
        "purge%s%s%s",
        i + 1, (void*)a->start, a->block_count * (MI_ARENA_BLOCK_SIZE >> 20), a->block_count,
        mi_bitmap_count(a->blocks_inuse, a->field_count) - tail,
        mi_bitmap_count(a->blocks_dirty, a->field_count),
        mi_bitmap_count(a->blocks_purge, a->field_count), a->exclusive ? ", exclusive" : "",
        a->is_external ? ", the program's memory" : "", a->is_pinned ? ", pinned" : "");
  }
}

void mi_arenas_print(void) mi_attr_noexcept { mi_debug_show_arenas(); }

/* MIMALLOC_DESTROY_ON_EXIT: at process exit, unmap every arena shardalloc mapped (the program's
   own memory is left alone). Unsafe by design: blocks other threads still use are gone. */
void _mi_arenas_unsafe_destroy_all(void) {
  _mi_os_huge_cache_drop_all();
  mi_lock(&mi_arena_grow_lock);
  const size_t count = mi_atomic_load_acquire(&mi_arena_count);
  mi_atomic_store_release(&mi_arena_count, 0);
  for (size_t i = 0; i < count; i++) {
    mi_arena_t* arena = mi_atomic_load_acquire(&mi_arenas[i]);
    mi_atomic_store_release(&mi_arenas[i], NULL);
    if (arena == NULL) continue;
    mi_stat_decrease(arenas, 1);
    if (!arena->is_external) _mi_os_free(arena->start, arena->memid.size, arena->memid);
  }
  mi_unlock(&mi_arena_grow_lock);
}
