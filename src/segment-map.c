/* The segment map: one bit per 32 MiB of the 48-bit address space (1 MiB of zero-initialised,
 * lazily backed memory), set while a segment header lives there. Lets free() reject NULL and
 * foreign pointers with one load, and backs mi_is_in_heap_region. Bits are set and cleared
 * atomically by the thread that maps or releases the segment. */
#include "internal/internal.h"

_Atomic(uint64_t) _mi_segment_map[MI_SEGMENT_MAP_BITS / 64];

static size_t mi_segment_map_index(const mi_segment_t* segment) {
  mi_assert_internal(((uintptr_t)segment & MI_SEGMENT_MASK) == 0);
  return (uintptr_t)segment >> MI_SEGMENT_SHIFT;
}

void _mi_segment_map_allocated_at(const mi_segment_t* segment) {
  const size_t index = mi_segment_map_index(segment);
  if (index >= MI_SEGMENT_MAP_BITS) {
    _mi_error_message(EFAULT, "segment %p lies beyond the 48-bit address space", (void*)segment);
    return;
  }
  mi_atomic_or_acq_rel(&_mi_segment_map[index / 64], (uint64_t)1 << (index % 64));
}

void _mi_segment_map_freed_at(const mi_segment_t* segment) {
  const size_t index = mi_segment_map_index(segment);
  if (index >= MI_SEGMENT_MAP_BITS) return;
  mi_atomic_and_acq_rel(&_mi_segment_map[index / 64], ~((uint64_t)1 << (index % 64)));
}

bool mi_is_in_heap_region(const void* p) mi_attr_noexcept {
  return (p != NULL && _mi_segment_map_contains(_mi_ptr_segment(p)));
}
