/* OS memory layer: page-rounded and aligned mappings, release, decommit. Calls only the platform
 * layer (prim). Counts what is mapped and purged in the process-wide statistics. Thread-safe:
 * no state besides the configuration (written once at start) and atomic counters. */
#include "internal/internal.h"

static mi_os_config_t mi_os_config = {4096, 2 * 1024 * 1024, true};

static bool mi_os_advise_huge;  // allow_large_os_pages: ask for huge pages on large mappings

void _mi_os_init(void) { _mi_prim_mem_init(&mi_os_config); }

// After the options are read: MIMALLOC_ALLOW_THP=0 turns transparent huge pages off for the
// process; MIMALLOC_ALLOW_LARGE_OS_PAGES=1 asks for them (MADV_HUGEPAGE) on arenas and other
// mappings of at least one huge page.
void _mi_os_init_options(void) {
  const bool allow_thp = mi_option_is_enabled(mi_option_allow_thp);
  _mi_prim_thp_configure(allow_thp);
  mi_os_advise_huge = allow_thp && mi_option_is_enabled(mi_option_allow_large_os_pages);
}

size_t _mi_os_page_size(void) { return mi_os_config.page_size; }

static void* mi_os_map(size_t size) {
  void* p = NULL;
  int err = _mi_prim_alloc(NULL, size, &p);
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
  *memid = (mi_memid_t){.kind = MI_MEM_OS, .base = p, .size = size,
                        .initially_zero = true, .initially_committed = true};
  return p;
}

// Map `size` bytes aligned to `alignment` (a power of two >= the page size) by mapping
// `size + alignment` and unmapping the unaligned head and the tail.
void* _mi_os_alloc_aligned(size_t size, size_t alignment, mi_memid_t* memid) {
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
  if (mi_os_advise_huge && size >= mi_os_config.large_page_size) _mi_prim_advise_huge(aligned, size);
  *memid = (mi_memid_t){.kind = MI_MEM_OS, .base = aligned, .size = size,
                        .initially_zero = true, .initially_committed = true};
  return aligned;
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
