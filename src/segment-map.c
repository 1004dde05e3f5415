/* The segment map: one entry per 32 MiB of the 47-bit user address space, set while a segment
 * header lives there, kept twice: a byte per frame (4 MiB of zero-initialised memory, backed only
 * around the frames in use), which free() and mi_is_in_heap_region test with one load to reject
 * NULL and foreign pointers, and a bit per frame (512 KiB), which walks over the live segments
 * scan a word at a time. Both are set and cleared atomically by the thread that maps or releases
 * the segment (the byte last when set, first when cleared). */
#include <pthread.h>

#include "internal/internal.h"

_Atomic(uint64_t) _mi_segment_map[MI_SEGMENT_MAP_BITS / 64];
_Atomic(uint8_t) _mi_segment_map_live[MI_SEGMENT_MAP_BITS];

static size_t mi_segment_map_index(const mi_segment_t* segment) {
  mi_assert_internal(((uintptr_t)segment & MI_SEGMENT_MASK) == 0);
  return (uintptr_t)segment >> MI_SEGMENT_SHIFT;
}

// The words of the map that ever had a bit set: [lo, hi) (only grows).
static _Atomic(size_t) mi_segment_map_lo = MI_SEGMENT_MAP_BITS / 64;
static _Atomic(size_t) mi_segment_map_hi;

static void mi_segment_map_span_add(size_t w) {
  size_t lo = mi_atomic_load_relaxed(&mi_segment_map_lo);
  while (w < lo && !mi_atomic_cas_weak_acq_rel(&mi_segment_map_lo, &lo, w)) {
  }
  size_t hi = mi_atomic_load_relaxed(&mi_segment_map_hi);
  while (w + 1 > hi && !mi_atomic_cas_weak_acq_rel(&mi_segment_map_hi, &hi, w + 1)) {
  }
}

// False when the segment lies where the map cannot describe it: at or above 2^47, or in the
// last frame below it, which lookups of NULL reach.
bool _mi_segment_map_allocated_at(const mi_segment_t* segment) {
  const size_t index = mi_segment_map_index(segment);
  if (index >= MI_SEGMENT_MAP_BITS - 1) {
    _mi_warning_message("segment %p lies outside the usable address space", (void*)segment);
    return false;
  }
  mi_segment_map_span_add(index / 64);
  mi_atomic_or_acq_rel(&_mi_segment_map[index / 64], (uint64_t)1 << (index % 64));
  mi_atomic_store_release(&_mi_segment_map_live[index], 1);  // (the header is complete)
  return true;
}

void _mi_segment_map_freed_at(const mi_segment_t* segment) {
  const size_t index = mi_segment_map_index(segment);
  if (index >= MI_SEGMENT_MAP_BITS - 1) return;
  mi_atomic_store_release(&_mi_segment_map_live[index], 0);
  mi_atomic_and_acq_rel(&_mi_segment_map[index / 64], ~((uint64_t)1 << (index % 64)));
}

/* ---------------------------------------------------------------------------------------------
   Displaced blocks: a huge block whose required alignment and offset put it within a few bytes
   past a 32 MiB boundary has its header in the frame below, so the address mask does not find it.
   The few such blocks are kept in a small table, consulted only when the map says "not ours".
--------------------------------------------------------------------------------------------- */
#define MI_DISPLACED_MAX 64

typedef struct mi_displaced_s {
  const void* block;
  mi_segment_t* segment;
} mi_displaced_t;

static mi_displaced_t mi_displaced[MI_DISPLACED_MAX];
static _Atomic(size_t) mi_displaced_count;
static pthread_mutex_t mi_displaced_lock = PTHREAD_MUTEX_INITIALIZER;

bool _mi_segment_map_register_displaced(const void* block, mi_segment_t* segment) {
  bool ok = false;
  mi_lock(&mi_displaced_lock);
  for (size_t i = 0; i < MI_DISPLACED_MAX; i++) {
    if (mi_displaced[i].block == NULL) {
      mi_displaced[i] = (mi_displaced_t){block, segment};
      mi_atomic_add_relaxed(&mi_displaced_count, 1);
      ok = true;
      break;
    }
  }
  mi_unlock(&mi_displaced_lock);
  if (!ok) _mi_warning_message("too many huge blocks with an offset alignment (%d)", MI_DISPLACED_MAX);
  return ok;
}

void _mi_segment_map_unregister_displaced(const void* block) {
  mi_lock(&mi_displaced_lock);
  for (size_t i = 0; i < MI_DISPLACED_MAX; i++) {
    if (mi_displaced[i].block == block) {
      mi_displaced[i] = (mi_displaced_t){NULL, NULL};
      mi_atomic_sub_relaxed(&mi_displaced_count, 1);
      break;
    }
  }
  mi_unlock(&mi_displaced_lock);
}

mi_segment_t* _mi_segment_map_displaced_lookup(const void* p) {
  if (mi_atomic_load_relaxed(&mi_displaced_count) == 0) return NULL;
  mi_segment_t* segment = NULL;
  mi_lock(&mi_displaced_lock);
  for (size_t i = 0; i < MI_DISPLACED_MAX; i++) {
    if (mi_displaced[i].block == p) {
      segment = mi_displaced[i].segment;
      break;
    }
  }
  mi_unlock(&mi_displaced_lock);
  return segment;
}

bool mi_is_in_heap_region(const void* p) mi_attr_noexcept {
  if (p == NULL || ((uintptr_t)p >> 47) != 0) return false;
  return _mi_ptr_segment_checked(p) != NULL;
}

void _mi_segment_map_fork_lock(bool lock) {
  if (lock) mi_lock(&mi_displaced_lock);
  else mi_unlock(&mi_displaced_lock);
}

// Call `visit` for every live segment (a fork child; purge passes, under their map lock). Only
// the words that ever had a bit set are read (the map is 512 KiB).
void _mi_segment_map_visit(void (*visit)(mi_segment_t* segment, void* arg), void* arg) {
  const size_t hi = mi_atomic_load_acquire(&mi_segment_map_hi);
  for (size_t w = mi_atomic_load_acquire(&mi_segment_map_lo); w < hi; w++) {
    uint64_t bits = mi_atomic_load_acquire(&_mi_segment_map[w]);  // headers are complete
    while (bits != 0) {
      const size_t bit = (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      visit((mi_segment_t*)((w * 64 + bit) << MI_SEGMENT_SHIFT), arg);
    }
  }
}

// MIMALLOC_DESTROY_ON_EXIT: no segment is ours any more, so a late free of a block is ignored.
void _mi_segment_map_unsafe_destroy(void) {
  for (size_t w = 0; w < MI_SEGMENT_MAP_BITS / 64; w++) {
    uint64_t bits = atomic_exchange_explicit(&_mi_segment_map[w], 0, memory_order_relaxed);
    for (; bits != 0; bits &= bits - 1) {
      mi_atomic_store_relaxed(&_mi_segment_map_live[w * 64 + (size_t)__builtin_ctzll(bits)], 0);
    }
  }
  mi_lock(&mi_displaced_lock);
  memset(mi_displaced, 0, sizeof(mi_displaced));
  mi_atomic_store_relaxed(&mi_displaced_count, 0);
  mi_unlock(&mi_displaced_lock);
}
