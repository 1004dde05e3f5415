/* OS memory layer: page-rounded and aligned mappings, release, decommit. Calls only the platform
 * layer (prim). Counts what is mapped and purged in the process-wide statistics. Thread-safe:
 * no state besides the configuration (written once at start) and atomic counters. */
#include <pthread.h>

#include "internal/internal.h"

static mi_os_config_t mi_os_config = {4096, 2 * 1024 * 1024, true};

static bool mi_os_advise_huge;  // allow_large_os_pages: ask for huge pages on large mappings
static bool mi_os_thp_blocks;   // ask for huge pages on big blocks only (see below)

void _mi_os_init(void) { _mi_prim_mem_init(&mi_os_config); }

/* Transparent huge pages (THP). MIMALLOC_ALLOW_THP=0 turns them off for the process.
   MIMALLOC_ALLOW_LARGE_OS_PAGES=1 asks for them (MADV_HUGEPAGE) on arenas and every other mapping
   of at least one huge page: small pages then cost a huge page of RSS each.
   By default, where the kernel gives huge pages only where asked (its "madvise" mode), they are
   asked for on the memory of big blocks alone (mi_os_thp_blocks): the own mappings of huge blocks
   of 2 MiB or more, and the 2 MiB units of a segment that such a block covers whole (segment.c
   decides and calls _mi_os_advise_thp). A program writes such a block through, so a unit costs
   the same memory as its 512 small pages and one fault instead of 512; the rest of the arena is
   advised against huge pages, so that a unit given back to small blocks merges with its
   neighbours into one kernel mapping again. (A program that touches a big block sparsely pays a
   huge page per touched unit: MIMALLOC_ALLOW_THP=0.) In the "always" mode the kernel uses huge
   pages everywhere it can, and nothing is advised. */
void _mi_os_init_options(void) {
  const bool allow_thp = mi_option_is_enabled(mi_option_allow_thp);
  _mi_prim_thp_configure(allow_thp);
  mi_os_advise_huge = allow_thp && mi_option_is_enabled(mi_option_allow_large_os_pages);
  mi_os_thp_blocks = allow_thp && !mi_os_advise_huge && MI_THP_UNIT == mi_os_config.large_page_size &&
                     _mi_prim_thp_mode() == MI_THP_MADVISE;
}

bool _mi_os_thp_blocks(void) { return mi_os_thp_blocks; }

// Huge pages on [p, p+size) (huge) or not, in the mode that asks for them on big blocks.
void _mi_os_advise_thp(void* p, size_t size, bool huge) {
  if (mi_os_thp_blocks) _mi_prim_advise_thp(p, size, huge);
}

// A new mapping of ours: a huge block's (the segment layer advises it in the big-block mode) or
// not (arenas, segments: against huge pages in that mode).
static void mi_os_advise_mapping(void* p, size_t size, bool huge_block) {
  if (size < mi_os_config.large_page_size) return;
  if (mi_os_advise_huge) _mi_prim_advise_thp(p, size, true);
  else if (!huge_block) _mi_os_advise_thp(p, size, false);
}

size_t _mi_os_page_size(void) { return mi_os_config.page_size; }

// Secure builds place large mappings at random addresses in [2^42, 2^46) (a hint: the kernel may
// choose elsewhere), so that where the heap lies cannot be guessed from where libraries lie.
static void* mi_os_random_hint(size_t size) {
#if SA_SECURE >= 1
  static _Atomic(uint64_t) counter;
  if (size < MI_SEGMENT_SIZE) return NULL;
  const uint64_t r = _mi_random_weak(mi_atomic_add_relaxed(&counter, 1) ^ _mi_process_secret);
  const uint64_t lo = (uint64_t)1 << 42, span = ((uint64_t)1 << 46) - lo - size;
  return (void*)(uintptr_t)((lo + r % span) & ~(uint64_t)(MI_SEGMENT_SIZE - 1));
#else
  (void)size;
  return NULL;
#endif
}

void _mi_os_protect(void* p, size_t size, bool protect) {
  if (_mi_prim_protect(p, size, protect) != 0) {
    _mi_warning_message("unable to %sprotect guard page %p", protect ? "" : "un", p);
  }
}

static void* mi_os_map(size_t size) {
  void* p = NULL;
  int err = _mi_prim_alloc(mi_os_random_hint(size), size, &p);
  if (err != 0) {
    _mi_warning_message("unable to map %zu bytes from the OS (error %d)", size, err);
    return NULL;
  }
  mi_stat_increase(reserved, size);
  mi_stat_counter_add(mmaps, 1);
  return p;
}

static void mi_os_unmap(void* p, size_t size) {
  if (p == NULL || size == 0) return;
  mi_track_mem_undefined(p, size);  // (ASan keeps a range's poison past munmap: a later mapping
                                    // at the same address would inherit it)
  int err = _mi_prim_free(p, size);
  if (err != 0) _mi_warning_message("unable to unmap %p (%zu bytes, error %d)", p, size, err);
  mi_stat_decrease(reserved, size);
}

void* _mi_os_alloc(size_t size, mi_memid_t* memid) {
  *memid = (mi_memid_t){.kind = MI_MEM_NONE};
  if (size == 0) return NULL;
  size = _mi_align_up(size, _mi_os_page_size());
  void* p = mi_os_map(size);
  if (p == NULL) return NULL;
  *memid = (mi_memid_t){.kind = MI_MEM_OS,
                        .base = p,
                        .size = size,
                        .initially_zero = true,
                        .initially_committed = true};
  return p;
}

// Map `size` bytes aligned to `alignment` (a power of two >= the page size) by mapping
// `size + alignment` and unmapping the unaligned head and the tail; advised as a huge block's
// mapping (huge_block) or as the others.
static void* mi_os_alloc_aligned(size_t size, size_t alignment, bool huge_block, mi_memid_t* memid) {
  *memid = (mi_memid_t){.kind = MI_MEM_NONE};
  mi_assert(_mi_is_power_of_two(alignment));
  if (size == 0) return NULL;
  size = _mi_align_up(size, _mi_os_page_size());
  if (alignment < _mi_os_page_size()) alignment = _mi_os_page_size();
  if (size > SIZE_MAX / 2 || alignment > SIZE_MAX / 2) return NULL;
  const size_t over = size + alignment;
  uint8_t* base = (uint8_t*)mi_os_map(over);
  if (base == NULL) return NULL;
  uint8_t* aligned = (uint8_t*)_mi_align_up((uintptr_t)base, alignment);
  const size_t head = (size_t)(aligned - base);
  const size_t tail = over - head - size;
  if (head > 0) mi_os_unmap(base, head);
  if (tail > 0) mi_os_unmap(aligned + size, tail);
  mi_os_advise_mapping(aligned, size, huge_block);
  *memid = (mi_memid_t){.kind = MI_MEM_OS,
                        .base = aligned,
                        .size = size,
                        .initially_zero = true,
                        .initially_committed = true};
  return aligned;
}

void* _mi_os_alloc_aligned(size_t size, size_t alignment, mi_memid_t* memid) {
  return mi_os_alloc_aligned(size, alignment, false, memid);
}

// `size` bytes (a multiple of 1 GiB) of 1 GiB huge OS pages, or NULL when the system has none.
void* _mi_os_alloc_huge_os_pages(size_t size, mi_memid_t* memid) {
  *memid = (mi_memid_t){.kind = MI_MEM_NONE};
  void* p = NULL;
  if (_mi_prim_alloc_huge_os_pages(size, &p) != 0) return NULL;
  mi_stat_increase(reserved, size);
  mi_stat_counter_add(mmaps, 1);
  *memid = (mi_memid_t){.kind = MI_MEM_OS, .base = p, .size = size, .initially_zero = true,
                        .initially_committed = true};
  return p;
}

void _mi_os_free(void* p, size_t size, mi_memid_t memid) {
  (void)p;
  (void)size;
  if (memid.kind != MI_MEM_OS) return;
  mi_os_unmap(memid.base, memid.size);
}

// Purge as configured: decommit (MADV_DONTNEED, the default) or reset (MADV_FREE, with
// MIMALLOC_PURGE_DECOMMITS=0). True if the range now reads as zero.
bool _mi_os_purge(void* p, size_t size) {
  mi_stat_counter_add(purged, size);
  mi_stat_counter_add(purges, 1);
  if (mi_option_is_enabled(mi_option_purge_decommits)) return _mi_os_decommit(p, size);
  const size_t psize = _mi_os_page_size();
  uint8_t* start = (uint8_t*)_mi_align_up((uintptr_t)p, psize);
  uint8_t* end = (uint8_t*)(((uintptr_t)p + size) & ~(uintptr_t)(psize - 1));
  if (end > start) _mi_prim_reset(start, (size_t)(end - start));
  return false;
}

// Give the physical pages back; the range stays mapped and reads as zero afterwards.
bool _mi_os_decommit(void* p, size_t size) {
  const size_t psize = _mi_os_page_size();
  uint8_t* start = (uint8_t*)_mi_align_up((uintptr_t)p, psize);  // only whole pages inside
  uint8_t* end = (uint8_t*)(((uintptr_t)p + size) & ~(uintptr_t)(psize - 1));
  if (end <= start) return false;
  int err = _mi_prim_decommit(start, (size_t)(end - start));
  if (err != 0) _mi_warning_message("unable to decommit %p (error %d)", (void*)start, err);
  return (err == 0);
}

/* Resize a mapping of ours ([base, base+old_size), from _mi_os_alloc_aligned or the cache) to
   new_size bytes keeping its pages: shrunk or grown in place where the address space allows,
   else moved (mremap) to a fresh range aligned to `alignment`. Nothing is copied and the pages
   already there stay resident. NULL (the mapping untouched) if the OS cannot. */
void* _mi_os_remap(void* base, size_t old_size, size_t new_size, size_t alignment,
                   mi_memid_t* memid) {
  new_size = _mi_align_up(new_size, _mi_os_page_size());
  void* p = NULL;
  if (new_size <= old_size) {
    if (new_size < old_size) mi_os_unmap((uint8_t*)base + new_size, old_size - new_size);
    p = base;
  } else if (_mi_prim_remap(base, old_size, new_size, NULL) == 0) {
    mi_stat_increase(reserved, new_size - old_size);
    p = base;
  } else {
    mi_memid_t fresh;
    void* target = mi_os_alloc_aligned(new_size, alignment, true, &fresh);
    if (target == NULL) return NULL;
    if (_mi_prim_remap(base, old_size, new_size, target) != 0) {
      mi_os_unmap(target, new_size);
      return NULL;
    }
    mi_stat_decrease(reserved, old_size);  // (the old range is gone, the target counted)
    p = target;
  }
  *memid = (mi_memid_t){.kind = MI_MEM_OS,
                        .base = p,
                        .size = new_size,
                        .initially_zero = false,
                        .initially_committed = true};
  return p;
}

/* ---------------------------------------------------------------------------------------------
   The cache of freed huge mappings, a source of the memory-return engine (purge.c). A program that
   allocates, touches and frees blocks larger than the largest size class would otherwise map,
   fault in and unmap every page each time. A freed huge mapping is kept (resident) and stamped;
   a huge allocation takes the tightest entry that holds it (its tail unmapped when more than a
   quarter is spare) or else grows the largest smaller one with mremap, so only the difference
   is faulted in. The engine unmaps entries as its decay curve says; purge_delay 0 turns the
   cache off, -1 keeps entries until they are reused or crowded out (16 entries, 1 GiB).
--------------------------------------------------------------------------------------------- */
#define MI_HUGE_CACHE_SLOTS 16
#define MI_HUGE_CACHE_TOTAL ((size_t)1 << 30)

typedef struct mi_huge_cached_s {
  void* base;
  size_t size;
  uint32_t since;  // _mi_purge_clock() when it was freed
} mi_huge_cached_t;

static pthread_mutex_t mi_huge_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static mi_huge_cached_t mi_huge_cache[MI_HUGE_CACHE_SLOTS];
static size_t mi_huge_cache_bytes;
static _Atomic(size_t) mi_huge_cache_count;

// Take an entry out of the cache (lock held); unmap it unless `keep`.
static void mi_huge_cache_drop_locked(mi_huge_cached_t* e, bool keep) {
  if (!keep) mi_os_unmap(e->base, e->size);
  mi_stat_decrease(committed, e->size);  // a kept one is counted again by its new huge block
  mi_huge_cache_bytes -= e->size;
  e->base = NULL;
  mi_atomic_sub_relaxed(&mi_huge_cache_count, 1);
}

// A cached mapping for `size` bytes aligned to `alignment`: the tightest that holds it, else the
// largest smaller one (to grow). NULL if none; *found_size its size.
static void* mi_huge_cache_take(size_t size, size_t alignment, size_t* found_size) {
  if (mi_atomic_load_relaxed(&mi_huge_cache_count) == 0) return NULL;
  mi_lock(&mi_huge_cache_lock);
  mi_huge_cached_t* fit = NULL;
  mi_huge_cached_t* grow = NULL;
  for (size_t i = 0; i < MI_HUGE_CACHE_SLOTS; i++) {
    mi_huge_cached_t* e = &mi_huge_cache[i];
    if (e->base == NULL || ((uintptr_t)e->base % alignment) != 0) continue;
    if (e->size >= size) {
      if (fit == NULL || e->size < fit->size) fit = e;
    } else if (grow == NULL || e->size > grow->size) {
      grow = e;
    }
  }
  mi_huge_cached_t* best = (fit != NULL ? fit : grow);
  void* found = NULL;
  if (best != NULL) {
    found = best->base;
    *found_size = best->size;
    mi_huge_cache_drop_locked(best, true);
  }
  mi_unlock(&mi_huge_cache_lock);
  return found;
}

// A mapping of at least `size` bytes whose start is a multiple of `alignment`, from the cache.
void* _mi_os_alloc_huge(size_t size, size_t alignment, mi_memid_t* memid) {
  size = _mi_align_up(size, _mi_os_page_size());
  size_t found_size = 0;
  void* found = mi_huge_cache_take(size, alignment, &found_size);
  if (found != NULL) {
    // keep a spare tail of up to a quarter (a later, larger block or a realloc uses it)
    const size_t want = (found_size < size || found_size > size + size / 4 ? size : found_size);
    void* p = _mi_os_remap(found, found_size, want, alignment, memid);
    if (p != NULL) return p;
    mi_os_unmap(found, found_size);
  }
  return mi_os_alloc_aligned(size, alignment, true, memid);
}

void _mi_os_free_huge(mi_memid_t memid) {
  if (memid.kind != MI_MEM_OS) return;
  if (_mi_purge_decay_ms() == 0 || memid.size > MI_HUGE_CACHE_TOTAL) {
    mi_os_unmap(memid.base, memid.size);
    return;
  }
  const uint32_t now = _mi_purge_clock();
  mi_lock(&mi_huge_cache_lock);
  // Room: evict the oldest entries until this one fits.
  for (;;) {
    mi_huge_cached_t* oldest = NULL;
    mi_huge_cached_t* free_slot = NULL;
    for (size_t i = 0; i < MI_HUGE_CACHE_SLOTS; i++) {
      mi_huge_cached_t* e = &mi_huge_cache[i];
      if (e->base == NULL) {
        if (free_slot == NULL) free_slot = e;
      } else if (oldest == NULL || (int32_t)(now - e->since) > (int32_t)(now - oldest->since)) {
        oldest = e;
      }
    }
    if (free_slot != NULL && mi_huge_cache_bytes + memid.size <= MI_HUGE_CACHE_TOTAL) {
      *free_slot = (mi_huge_cached_t){.base = memid.base, .size = memid.size, .since = now};
      mi_huge_cache_bytes += memid.size;
      mi_track_mem_undefined(memid.base, memid.size);  // (checkers: no block lives here now)
      mi_atomic_add_relaxed(&mi_huge_cache_count, 1);
      mi_stat_increase(committed, memid.size);  // kept unpurged
      memid.base = NULL;
      break;
    }
    if (oldest == NULL) break;
    mi_huge_cache_drop_locked(oldest, false);
  }
  mi_unlock(&mi_huge_cache_lock);
  if (memid.base != NULL) mi_os_unmap(memid.base, memid.size);
  else _mi_purge_report();
}

// A pass of the engine: unmap the entries that are due.
void _mi_os_huge_cache_apply(mi_purge_pass_t* pass) {
  if (mi_atomic_load_relaxed(&mi_huge_cache_count) == 0) return;
  mi_lock(&mi_huge_cache_lock);
  for (size_t i = 0; i < MI_HUGE_CACHE_SLOTS; i++) {
    mi_huge_cached_t* e = &mi_huge_cache[i];
    if (e->base == NULL) continue;
    if (_mi_purge_due(pass, e->since, (uintptr_t)e->base, e->size)) {
      mi_huge_cache_drop_locked(e, false);
    }
  }
  mi_unlock(&mi_huge_cache_lock);
}


// MIMALLOC_DESTROY_ON_EXIT: unmap every entry.
void _mi_os_huge_cache_drop_all(void) {
  mi_lock(&mi_huge_cache_lock);
  for (size_t i = 0; i < MI_HUGE_CACHE_SLOTS; i++) {
    if (mi_huge_cache[i].base != NULL) mi_huge_cache_drop_locked(&mi_huge_cache[i], false);
  }
  mi_unlock(&mi_huge_cache_lock);
}

void _mi_os_fork_lock(bool lock) {
  if (lock)
    mi_lock(&mi_huge_cache_lock);
  else
    mi_unlock(&mi_huge_cache_lock);
}
