/* Atomic bitmaps for arenas: find and claim a run of free bits within one field, release it, or
 * set bits unconditionally. Lock-free; used concurrently by every thread. */
#include "internal/internal.h"

static inline size_t mi_bitmap_mask(size_t count, size_t bitidx) {
  mi_assert_internal(count >= 1 && count + bitidx <= MI_BITMAP_FIELD_BITS);
  if (count >= MI_BITMAP_FIELD_BITS) return ~(size_t)0;
  return (((size_t)1 << count) - 1) << bitidx;
}

// Claim `count` consecutive zero bits in one field, starting the search at `start_field`.
bool _mi_bitmap_try_find_claim(mi_bitmap_field_t* bitmap, size_t field_count, size_t start_field,
                               size_t count, size_t* bit_index) {
  if (count == 0 || count > MI_BITMAP_FIELD_BITS) return false;
  for (size_t n = 0; n < field_count; n++) {
    const size_t idx = (start_field + n) % field_count;
    mi_bitmap_field_t* field = &bitmap[idx];
    size_t map = mi_atomic_load_relaxed(field);
    size_t bitidx = 0;
    while (bitidx + count <= MI_BITMAP_FIELD_BITS) {
      const size_t mask = mi_bitmap_mask(count, bitidx);
      if ((map & mask) != 0) {
        bitidx++;
        continue;
      }
      if (mi_atomic_cas_strong_acq_rel(field, &map, map | mask)) {
        *bit_index = idx * MI_BITMAP_FIELD_BITS + bitidx;
        return true;
      }
      // `map` was refreshed by the failed CAS: retry the same position
    }
  }
  return false;
}

void _mi_bitmap_unclaim(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index) {
  const size_t idx = bit_index / MI_BITMAP_FIELD_BITS;
  const size_t mask = mi_bitmap_mask(count, bit_index % MI_BITMAP_FIELD_BITS);
  const size_t prev = mi_atomic_and_acq_rel(&bitmap[idx], ~mask);
  mi_assert_internal((prev & mask) == mask);
  (void)prev;
}

// Clear the bits; true if any of them was set.
bool _mi_bitmap_clear(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index) {
  const size_t idx = bit_index / MI_BITMAP_FIELD_BITS;
  const size_t mask = mi_bitmap_mask(count, bit_index % MI_BITMAP_FIELD_BITS);
  return (mi_atomic_and_acq_rel(&bitmap[idx], ~mask) & mask) != 0;
}

// Set the bits; `*any_set` tells whether any was already set. True if all were zero before.
bool _mi_bitmap_claim(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index, bool* any_set) {
  const size_t idx = bit_index / MI_BITMAP_FIELD_BITS;
  const size_t mask = mi_bitmap_mask(count, bit_index % MI_BITMAP_FIELD_BITS);
  const size_t prev = mi_atomic_or_acq_rel(&bitmap[idx], mask);
  if (any_set != NULL) *any_set = ((prev & mask) != 0);
  return ((prev & mask) == 0);
}
