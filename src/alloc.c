/* The allocation API: malloc, zalloc, calloc and their heap and usable-size forms, realloc and
 * its zeroing forms, string duplication. The hit path is inline (internal.h); anything else goes
 * to the page layer's _mi_malloc_generic. Owner thread only, through the heap it is given. */
#include <limits.h>
#include <stdlib.h>

#include "internal/internal.h"

/* ---------------------------------------------------------------------------------------------
   malloc / zalloc / calloc
--------------------------------------------------------------------------------------------- */
void* _mi_heap_malloc_zero(mi_heap_t* heap, size_t size, bool zero) {
  return mi_heap_malloc_inline(heap, size, zero);
}

void* _mi_heap_malloc_zero_ex(mi_heap_t* heap, size_t size, bool zero, size_t huge_alignment,
                              size_t align_offset) {
  if (mi_likely(huge_alignment == 0)) return mi_heap_malloc_inline(heap, size, zero);
  return _mi_malloc_generic(heap, size + MI_PADDING, zero, huge_alignment, align_offset);
}

void* mi_heap_malloc(mi_heap_t* heap, size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(heap, size, false);
}

void* mi_malloc(size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(mi_prim_get_default_heap(), size, false);
}

// "Small" is a promise by the caller; a broken promise still gets a correct block.
void* mi_heap_malloc_small(mi_heap_t* heap, size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(heap, size, false);
}

void* mi_malloc_small(size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(mi_prim_get_default_heap(), size, false);
}

void* mi_heap_zalloc_small(mi_heap_t* heap, size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(heap, size, true);
}

void* mi_zalloc_small(size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(mi_prim_get_default_heap(), size, true);
}

void* mi_heap_zalloc(mi_heap_t* heap, size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(heap, size, true);
}

void* _mi_alloc_overflow(size_t count, size_t size) {
  _mi_error_message(EOVERFLOW, "allocation request is too large (%zu * %zu bytes)", count, size);
  return mi_enomem();
}

void* mi_zalloc(size_t size) mi_attr_noexcept {
  return mi_heap_malloc_inline(mi_prim_get_default_heap(), size, true);
}

void* mi_heap_calloc(mi_heap_t* heap, size_t count, size_t size) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return _mi_alloc_overflow(count, size);
  return mi_heap_malloc_inline(heap, total, true);
}

void* mi_calloc(size_t count, size_t size) mi_attr_noexcept {
  return mi_heap_calloc(mi_prim_get_default_heap(), count, size);
}

// Like calloc, but uninitialised.
void* mi_heap_mallocn(mi_heap_t* heap, size_t count, size_t size) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return _mi_alloc_overflow(count, size);
  return mi_heap_malloc_inline(heap, total, false);
}

void* mi_mallocn(size_t count, size_t size) mi_attr_noexcept {
  return mi_heap_mallocn(mi_prim_get_default_heap(), count, size);
}

/* ---------------------------------------------------------------------------------------------
   Forms that also report the usable size of the block
--------------------------------------------------------------------------------------------- */
static void* mi_report_size(void* p, size_t* block_size) {
  if (block_size != NULL) *block_size = (p != NULL ? mi_usable_size(p) : 0);
  return p;
}

void* mi_umalloc(size_t size, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_malloc(size), block_size);
}

void* mi_ucalloc(size_t count, size_t size, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_calloc(count, size), block_size);
}

void* mi_umalloc_small(size_t size, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_malloc_small(size), block_size);
}

void* mi_uzalloc_small(size_t size, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_zalloc_small(size), block_size);
}

void* mi_umalloc_aligned(size_t size, size_t alignment, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_malloc_aligned(size, alignment), block_size);
}

void* mi_uzalloc_aligned(size_t size, size_t alignment, size_t* block_size) mi_attr_noexcept {
  return mi_report_size(mi_zalloc_aligned(size, alignment), block_size);
}

void* mi_urealloc(void* p, size_t newsize, size_t* block_size_pre,
                  size_t* block_size_post) mi_attr_noexcept {
  if (block_size_pre != NULL) *block_size_pre = mi_usable_size(p);
  void* newp = mi_realloc(p, newsize);
  if (block_size_post != NULL) *block_size_post = (newp != NULL ? mi_usable_size(newp) : 0);
  return newp;
}

/* ---------------------------------------------------------------------------------------------
   realloc of a pointer shardalloc did not allocate: memory the dynamic loader handed out before
   the allocator was bound, or another allocator's. Its size is unknown, so the new block receives
   every byte readable from p, up to the new size: the old contents are at most that long, and
   bytes past them are indeterminate in realloc's contract anyway. p is left alone (not ours to
   free). `newp` comes from `alloc(heap, newsize, zero, alignment, offset)`; NULL with errno
   EINVAL when p is not readable memory at all.
--------------------------------------------------------------------------------------------- */
void* _mi_realloc_foreign(const void* p, void* (*alloc)(mi_heap_t*, size_t, bool, size_t, size_t),
                          mi_heap_t* heap, size_t newsize, bool zero, size_t alignment,
                          size_t offset) {
  _mi_warning_message("realloc of a pointer that shardalloc did not allocate: %p (copied, not freed)",
                      p);
  unsigned char probe;
  if (_mi_prim_copy_readable(&probe, p, 1) == 0) {
    _mi_error_message(EINVAL, "realloc of an invalid pointer %p", p);
    errno = EINVAL;
    return NULL;
  }
  void* newp = alloc(heap, newsize, zero, alignment, offset);
  if (newp != NULL) _mi_prim_copy_readable(newp, p, newsize);
  return newp;
}

static void* mi_heap_malloc_zero_unaligned(mi_heap_t* heap, size_t size, bool zero,
                                           size_t alignment, size_t offset) {
  (void)alignment;
  (void)offset;
  return _mi_heap_malloc_zero(heap, size, zero);
}

/* ---------------------------------------------------------------------------------------------
   realloc. In place when the new size fits the block and uses at least half of it; otherwise a
   new block, a copy and a free. On failure the old block is untouched. With `zero`, the bytes
   past the old usable size read as zero (valid for blocks that were allocated zeroed).
--------------------------------------------------------------------------------------------- */
void* _mi_heap_realloc_zero(mi_heap_t* heap, void* p, size_t newsize, bool zero) {
  if (p == NULL) return _mi_heap_malloc_zero(heap, newsize, zero);
  if (mi_unlikely(!mi_is_in_heap_region(p))) {
#if SA_SECURE >= 4
    _mi_error_message(EINVAL, "realloc of an invalid pointer %p: shardalloc did not allocate it", p);
    errno = EINVAL;
    return NULL;
#endif
    return _mi_realloc_foreign(p, &mi_heap_malloc_zero_unaligned, heap, newsize, zero, 0, 0);
  }
  const size_t size = _mi_usable_size(p, "mi_realloc");
  if (mi_likely(newsize <= size && newsize >= (size / 2) && newsize > 0)) return p;
  if (!zero && newsize > size && size > MI_MEDIUM_OBJ_SIZE_MAX) {
    void* q = (newsize <= MI_LARGE_OBJ_SIZE_MAX ? _mi_segment_large_realloc(p, newsize)  // in place
                                                : NULL);
    if (q != NULL) return q;
  }
  if (!zero && newsize > MI_LARGE_OBJ_SIZE_MAX && size > MI_LARGE_OBJ_SIZE_MAX) {
    void* q = _mi_segment_huge_realloc(p, newsize);  // huge to huge: in place, or mremap
    if (q != NULL) return q;
  }
  void* newp = mi_heap_malloc(heap, newsize);
  if (mi_unlikely(newp == NULL)) return NULL;  // errno is ENOMEM, p intact
  const size_t keep = (size < newsize ? size : newsize);
  // zeroing forms: all of the new block past what is copied (it may be another block's old data)
  if (zero) memset((uint8_t*)newp + keep, 0, mi_usable_size(newp) - keep);
  if (keep > 0) memcpy(newp, p, keep);
  // A large buffer that outgrew the large sizes: its old copy will not be needed again, so its
  // pages go now instead of sitting next to the new copy until the engine's decay returns them.
  if (size > MI_LARGE_OBJ_SIZE_MAX / 4 && newsize > MI_LARGE_OBJ_SIZE_MAX) {
    _mi_segment_block_discard(p, size);
  }
  mi_free(p);
  return newp;
}

void* mi_heap_realloc(mi_heap_t* heap, void* p, size_t newsize) mi_attr_noexcept {
  return _mi_heap_realloc_zero(heap, p, newsize, false);
}

void* mi_realloc(void* p, size_t newsize) mi_attr_noexcept {
  return _mi_heap_realloc_zero(mi_prim_get_default_heap(), p, newsize, false);
}

void* mi_heap_reallocn(mi_heap_t* heap, void* p, size_t count, size_t size) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return _mi_alloc_overflow(count, size);
  return mi_heap_realloc(heap, p, total);
}

void* mi_reallocn(void* p, size_t count, size_t size) mi_attr_noexcept {
  return mi_heap_reallocn(mi_prim_get_default_heap(), p, count, size);
}

// Like realloc, but p is freed when the reallocation fails.
void* mi_heap_reallocf(mi_heap_t* heap, void* p, size_t newsize) mi_attr_noexcept {
  void* newp = mi_heap_realloc(heap, p, newsize);
  if (newp == NULL && p != NULL) {
    const int err = errno;
    mi_free(p);
    errno = err;
  }
  return newp;
}

void* mi_reallocf(void* p, size_t newsize) mi_attr_noexcept {
  return mi_heap_reallocf(mi_prim_get_default_heap(), p, newsize);
}

void* mi_heap_rezalloc(mi_heap_t* heap, void* p, size_t newsize) mi_attr_noexcept {
  return _mi_heap_realloc_zero(heap, p, newsize, true);
}

void* mi_rezalloc(void* p, size_t newsize) mi_attr_noexcept {
  return mi_heap_rezalloc(mi_prim_get_default_heap(), p, newsize);
}

void* mi_heap_recalloc(mi_heap_t* heap, void* p, size_t count, size_t size) mi_attr_noexcept {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return _mi_alloc_overflow(count, size);
  return mi_heap_rezalloc(heap, p, total);
}

void* mi_recalloc(void* p, size_t count, size_t size) mi_attr_noexcept {
  return mi_heap_recalloc(mi_prim_get_default_heap(), p, count, size);
}

// In place only: p if the block already holds newsize bytes, else NULL.
void* mi_expand(void* p, size_t newsize) mi_attr_noexcept {
  if (p == NULL) return NULL;
  const size_t size = _mi_usable_size(p, "mi_expand");
  return (newsize <= size && size > 0 ? p : NULL);
}

/* ---------------------------------------------------------------------------------------------
   Strings
--------------------------------------------------------------------------------------------- */
char* mi_heap_strdup(mi_heap_t* heap, const char* s) mi_attr_noexcept {
  if (s == NULL) return NULL;
  const size_t len = strlen(s);
  char* t = (char*)mi_heap_malloc(heap, len + 1);
  if (t != NULL) memcpy(t, s, len + 1);
  return t;
}

char* mi_strdup(const char* s) mi_attr_noexcept {
  return mi_heap_strdup(mi_prim_get_default_heap(), s);
}

char* mi_heap_strndup(mi_heap_t* heap, const char* s, size_t n) mi_attr_noexcept {
  if (s == NULL) return NULL;
  const char* end = (const char*)memchr(s, 0, n);
  const size_t len = (end != NULL ? (size_t)(end - s) : n);
  char* t = (char*)mi_heap_malloc(heap, len + 1);
  if (t == NULL) return NULL;
  memcpy(t, s, len);
  t[len] = 0;
  return t;
}

char* mi_strndup(const char* s, size_t n) mi_attr_noexcept {
  return mi_heap_strndup(mi_prim_get_default_heap(), s, n);
}

// With resolved_name NULL the result is allocated in `heap` (the C library's realpath would
// allocate with whatever malloc it is bound to).
char* mi_heap_realpath(mi_heap_t* heap, const char* fname, char* resolved_name) mi_attr_noexcept {
  if (resolved_name != NULL) return realpath(fname, resolved_name);
  char buf[PATH_MAX];
  const char* rp = realpath(fname, buf);
  return (rp == NULL ? NULL : mi_heap_strdup(heap, rp));
}

char* mi_realpath(const char* fname, char* resolved_name) mi_attr_noexcept {
  return mi_heap_realpath(mi_prim_get_default_heap(), fname, resolved_name);
}
