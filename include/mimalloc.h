/* shardalloc: public interface, spelled as the mimalloc 2.x API so that programs, benchmarks and
   bindings written for mimalloc build against shardalloc unchanged. Usable from C99 and C++.
   Everything here is implemented by the library; nothing is a stub. New code may include
   <shardalloc.h>, which includes this file. */
#ifndef MIMALLOC_H
#define MIMALLOC_H

#include <stddef.h> /* size_t, wchar_t */
#if !defined(__cplusplus)
#include <stdbool.h>
#endif

/* ------------------------------------------------------------------------------------------------
   Version. MI_MALLOC_VERSION is shardalloc's own version, major*10000 + minor*100 + patch; it is
   not a mimalloc version number. mi_version() returns the value the linked library was built with.
------------------------------------------------------------------------------------------------ */
#define SHARDALLOC_VERSION_MAJOR 0
#define SHARDALLOC_VERSION_MINOR 1
#define SHARDALLOC_VERSION_PATCH 0
#define MI_MALLOC_VERSION        100

#if MI_MALLOC_VERSION != \
    (SHARDALLOC_VERSION_MAJOR * 10000 + SHARDALLOC_VERSION_MINOR * 100 + SHARDALLOC_VERSION_PATCH)
#error "mimalloc.h: MI_MALLOC_VERSION does not match SHARDALLOC_VERSION_MAJOR/MINOR/PATCH"
#endif

/* ------------------------------------------------------------------------------------------------
   Declaration decorations. GNU attributes are written in their __x__ form so that a program that
   #defines malloc (as mimalloc-override.h does) cannot break them.
------------------------------------------------------------------------------------------------ */
#if defined(__has_attribute)
#define MI_HAS_ATTRIBUTE_(x) __has_attribute(x)
#else
#define MI_HAS_ATTRIBUTE_(x) 0
#endif

#if defined(__cplusplus) && (__cplusplus >= 201103L)
#define mi_attr_noexcept noexcept
#elif defined(__cplusplus)
#define mi_attr_noexcept throw()
#else
#define mi_attr_noexcept
#endif

#if defined(__cplusplus) && (__cplusplus >= 201703L)
#define mi_decl_nodiscard [[nodiscard]]
#elif defined(__GNUC__) || MI_HAS_ATTRIBUTE_(__warn_unused_result__)
#define mi_decl_nodiscard __attribute__((__warn_unused_result__))
#else
#define mi_decl_nodiscard
#endif

#if defined(__GNUC__) || MI_HAS_ATTRIBUTE_(__visibility__)
#define mi_decl_export __attribute__((__visibility__("default")))
#else
#define mi_decl_export
#endif

/* Aliasing is expressed with mi_attr_malloc on the compilers we support; mi_decl_restrict stays
   for source compatibility with code that names it. */
#define mi_decl_restrict

/* Calling-convention marker; the default convention is the right one on every platform we build
   for, so it is empty. */
#define mi_cdecl

#if MI_HAS_ATTRIBUTE_(__malloc__) || defined(__GNUC__)
#define mi_attr_malloc __attribute__((__malloc__))
#else
#define mi_attr_malloc
#endif

#if MI_HAS_ATTRIBUTE_(__alloc_size__)
#define mi_attr_alloc_size(s)     __attribute__((__alloc_size__(s)))
#define mi_attr_alloc_size2(a, b) __attribute__((__alloc_size__(a, b)))
#else
#define mi_attr_alloc_size(s)
#define mi_attr_alloc_size2(a, b)
#endif

#if MI_HAS_ATTRIBUTE_(__alloc_align__)
#define mi_attr_alloc_align(p) __attribute__((__alloc_align__(p)))
#else
#define mi_attr_alloc_align(p)
#endif

/* ------------------------------------------------------------------------------------------------
   Conventions for every function below (where shardalloc is stricter than mimalloc):
   - A failing allocation returns NULL and sets errno to ENOMEM, also when count*size overflows
     (never EOVERFLOW); an alignment that is zero or not a power of two gives NULL with EINVAL.
   - Freeing never changes errno; freeing NULL does nothing. In secure builds a double or invalid
     free aborts with a one-line message instead of printing and continuing.
   - A size of 0 gives a unique non-NULL block that must be freed like any other.
------------------------------------------------------------------------------------------------ */
#ifdef __cplusplus
/* The C declarations use `long long`, which C++98 lacks and its compilers accept anyway. */
#if defined(__GNUC__) && (__cplusplus < 201103L)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wlong-long"
#endif
extern "C" {
#endif

/* Standard malloc family. mi_realloc(NULL, n) is mi_malloc(n); mi_realloc(p, 0) frees p and
   returns a fresh minimal block (glibc returns NULL here); on failure p is left as it was. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_malloc(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_calloc(size_t count, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(1, 2);
mi_decl_nodiscard mi_decl_export void* mi_realloc(void* p, size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(2);
/* Grows or shrinks in place only: returns p, or NULL (p untouched) when newsize does not fit. */
mi_decl_nodiscard mi_decl_export void* mi_expand(void* p, size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(2);
mi_decl_export void mi_free(void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_decl_restrict char* mi_strdup(const char* s)
    mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export mi_decl_restrict char* mi_strndup(const char* s, size_t n)
    mi_attr_noexcept mi_attr_malloc;
/* With resolved_name == NULL the result is allocated here and released with mi_free; otherwise
   resolved_name itself is returned, which is why this one carries no malloc attribute. */
mi_decl_nodiscard mi_decl_export char* mi_realpath(const char* fname,
                                                   char* resolved_name) mi_attr_noexcept;

/* Extended: small-object fast paths, zeroing, overflow-checked arrays, size queries. */
#define MI_SMALL_WSIZE_MAX 128
#define MI_SMALL_SIZE_MAX  (MI_SMALL_WSIZE_MAX * sizeof(void*))

/* The _small forms require size <= MI_SMALL_SIZE_MAX. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_malloc_small(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_zalloc_small(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_zalloc(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_mallocn(size_t count, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(1, 2);
mi_decl_nodiscard mi_decl_export void* mi_reallocn(void* p, size_t count,
                                                   size_t size) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3);
/* Like mi_realloc, but p is freed when the reallocation fails. */
mi_decl_nodiscard mi_decl_export void* mi_reallocf(void* p, size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(2);
/* Bytes usable in the block at p (0 for NULL); mi_good_size is the usable size mi_malloc(size)
   would give. */
mi_decl_nodiscard mi_decl_export size_t mi_usable_size(const void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export size_t mi_good_size(size_t size) mi_attr_noexcept;
mi_decl_export void mi_free_small(void* p) mi_attr_noexcept;

/* Usable-size variants: each also stores the usable size of the block through its size_t*
   argument(s), which may be NULL. They carry no alloc_size attribute on purpose: the caller may
   use the whole block, and alloc_size would make object-size checking (_FORTIFY_SOURCE) reject
   that. mi_ufree reports the size of the block it frees. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_umalloc(size_t size, size_t* block_size)
    mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_ucalloc(
    size_t count, size_t size, size_t* block_size) mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export void* mi_urealloc(void* p, size_t newsize, size_t* block_size_pre,
                                                   size_t* block_size_post) mi_attr_noexcept;
mi_decl_export void mi_ufree(void* p, size_t* block_size) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_umalloc_aligned(
    size_t size, size_t alignment, size_t* block_size) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_uzalloc_aligned(
    size_t size, size_t alignment, size_t* block_size) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_umalloc_small(
    size_t size, size_t* block_size) mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_uzalloc_small(
    size_t size, size_t* block_size) mi_attr_noexcept mi_attr_malloc;

/* Aligned allocation: the alignment is any power of two up to at least 1 GiB (zero or not a power
   of two: NULL with errno EINVAL). The _at forms align p + offset rather than p, so they make no
   alignment claim about p itself. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_malloc_aligned(size_t size,
                                                                          size_t alignment)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1) mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_malloc_aligned_at(
    size_t size, size_t alignment, size_t offset) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_zalloc_aligned(size_t size,
                                                                          size_t alignment)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1) mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_zalloc_aligned_at(
    size_t size, size_t alignment, size_t offset) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_calloc_aligned(size_t count, size_t size,
                                                                          size_t alignment)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(1, 2) mi_attr_alloc_align(3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_calloc_aligned_at(
    size_t count, size_t size, size_t alignment, size_t offset) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size2(1, 2);
mi_decl_nodiscard mi_decl_export void* mi_realloc_aligned(void* p, size_t newsize,
                                                          size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size(2) mi_attr_alloc_align(3);
mi_decl_nodiscard mi_decl_export void* mi_realloc_aligned_at(void* p, size_t newsize,
                                                             size_t alignment,
                                                             size_t offset) mi_attr_noexcept
    mi_attr_alloc_size(2);

/* Zeroing reallocation: the bytes past the old size come back zeroed. Only valid on blocks that
   were allocated zeroed (mi_zalloc, mi_calloc, ...), since the old block's slack is assumed 0. */
mi_decl_nodiscard mi_decl_export void* mi_rezalloc(void* p, size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export void* mi_recalloc(void* p, size_t newcount,
                                                   size_t size) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export void* mi_rezalloc_aligned(void* p, size_t newsize,
                                                           size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size(2) mi_attr_alloc_align(3);
mi_decl_nodiscard mi_decl_export void* mi_rezalloc_aligned_at(void* p, size_t newsize,
                                                              size_t alignment,
                                                              size_t offset) mi_attr_noexcept
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export void* mi_recalloc_aligned(void* p, size_t newcount, size_t size,
                                                           size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3) mi_attr_alloc_align(4);
mi_decl_nodiscard mi_decl_export void* mi_recalloc_aligned_at(void* p, size_t newcount, size_t size,
                                                              size_t alignment,
                                                              size_t offset) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3);

/* ------------------------------------------------------------------------------------------------
   Heaps. A heap is allocated from only by the thread that owns it; its blocks may be freed by any
   thread with mi_free. Every thread has a backing heap and a default heap (initially the same)
   that mi_malloc and friends use.
------------------------------------------------------------------------------------------------ */
typedef struct mi_heap_s mi_heap_t;

mi_decl_nodiscard mi_decl_export mi_heap_t* mi_heap_get_default(void) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_heap_t* mi_heap_get_backing(void) mi_attr_noexcept;
/* Makes heap the calling thread's default heap and returns the previous one. */
mi_decl_export mi_heap_t* mi_heap_set_default(mi_heap_t* heap) mi_attr_noexcept;
mi_decl_export void mi_heap_collect(mi_heap_t* heap, bool force) mi_attr_noexcept;

/* First-class heaps of the calling thread. mi_heap_delete: live blocks move to the backing heap
   and stay valid. mi_heap_destroy: every block of the heap is released at once (do not use them
   afterwards). Deleting or destroying the backing heap is refused. */
mi_decl_nodiscard mi_decl_export mi_heap_t* mi_heap_new(void) mi_attr_noexcept;
mi_decl_export void mi_heap_delete(mi_heap_t* heap) mi_attr_noexcept;
mi_decl_export void mi_heap_destroy(mi_heap_t* heap) mi_attr_noexcept;

/* Heap allocation: the mi_ functions above, taking the heap as first argument. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_malloc(mi_heap_t* heap, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_zalloc(mi_heap_t* heap, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_calloc(mi_heap_t* heap,
                                                                       size_t count, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_mallocn(mi_heap_t* heap,
                                                                        size_t count, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_malloc_small(
    mi_heap_t* heap, size_t size) mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_zalloc_small(
    mi_heap_t* heap, size_t size) mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export void* mi_heap_realloc(mi_heap_t* heap, void* p,
                                                       size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(3);
mi_decl_nodiscard mi_decl_export void* mi_heap_reallocn(mi_heap_t* heap, void* p, size_t count,
                                                        size_t size) mi_attr_noexcept
    mi_attr_alloc_size2(3, 4);
mi_decl_nodiscard mi_decl_export void* mi_heap_reallocf(mi_heap_t* heap, void* p,
                                                        size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict char* mi_heap_strdup(
    mi_heap_t* heap, const char* s) mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export mi_decl_restrict char* mi_heap_strndup(
    mi_heap_t* heap, const char* s, size_t n) mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export char* mi_heap_realpath(mi_heap_t* heap, const char* fname,
                                                        char* resolved_name) mi_attr_noexcept;

mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_malloc_aligned(
    mi_heap_t* heap, size_t size, size_t alignment) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(2) mi_attr_alloc_align(3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_malloc_aligned_at(
    mi_heap_t* heap, size_t size, size_t alignment, size_t offset) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_zalloc_aligned(
    mi_heap_t* heap, size_t size, size_t alignment) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(2) mi_attr_alloc_align(3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_zalloc_aligned_at(
    mi_heap_t* heap, size_t size, size_t alignment, size_t offset) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_calloc_aligned(
    mi_heap_t* heap, size_t count, size_t size, size_t alignment) mi_attr_noexcept mi_attr_malloc
    mi_attr_alloc_size2(2, 3) mi_attr_alloc_align(4);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_calloc_aligned_at(
    mi_heap_t* heap, size_t count, size_t size, size_t alignment,
    size_t offset) mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export void* mi_heap_realloc_aligned(mi_heap_t* heap, void* p,
                                                               size_t newsize,
                                                               size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size(3) mi_attr_alloc_align(4);
mi_decl_nodiscard mi_decl_export void* mi_heap_realloc_aligned_at(mi_heap_t* heap, void* p,
                                                                  size_t newsize, size_t alignment,
                                                                  size_t offset) mi_attr_noexcept
    mi_attr_alloc_size(3);

/* Heap forms of the zeroing reallocation functions (same precondition: p was allocated zeroed). */
mi_decl_nodiscard mi_decl_export void* mi_heap_rezalloc(mi_heap_t* heap, void* p,
                                                        size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(3);
mi_decl_nodiscard mi_decl_export void* mi_heap_recalloc(mi_heap_t* heap, void* p, size_t newcount,
                                                        size_t size) mi_attr_noexcept
    mi_attr_alloc_size2(3, 4);
mi_decl_nodiscard mi_decl_export void* mi_heap_rezalloc_aligned(mi_heap_t* heap, void* p,
                                                                size_t newsize,
                                                                size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size(3) mi_attr_alloc_align(4);
mi_decl_nodiscard mi_decl_export void* mi_heap_rezalloc_aligned_at(mi_heap_t* heap, void* p,
                                                                   size_t newsize, size_t alignment,
                                                                   size_t offset) mi_attr_noexcept
    mi_attr_alloc_size(3);
mi_decl_nodiscard mi_decl_export void* mi_heap_recalloc_aligned(mi_heap_t* heap, void* p,
                                                                size_t newcount, size_t size,
                                                                size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size2(3, 4) mi_attr_alloc_align(5);
mi_decl_nodiscard mi_decl_export void* mi_heap_recalloc_aligned_at(mi_heap_t* heap, void* p,
                                                                   size_t newcount, size_t size,
                                                                   size_t alignment,
                                                                   size_t offset) mi_attr_noexcept
    mi_attr_alloc_size2(3, 4);

/* C++ semantics, for operator new and for C++ code that calls the allocator directly: when
   memory runs out, std::get_new_handler()'s handler is called and the allocation retried while
   one is installed; without one, std::bad_alloc is thrown. The nothrow forms return NULL at once
   (the library is C: it cannot catch what a handler throws; mimalloc-new-delete.h's nothrow
   operators run the full loop). In a program without the C++ runtime there is nothing to throw:
   the process aborts with a message.
   mi_new_n and mi_new_reallocn throw std::bad_alloc at once when count * size overflows.
   mi_new_realloc leaves p untouched when it throws. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_new(size_t size) mi_attr_malloc
    mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_new_aligned(size_t size,
                                                                       size_t alignment)
    mi_attr_malloc mi_attr_alloc_size(1) mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_new_nothrow(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_new_aligned_nothrow(
    size_t size, size_t alignment) mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1)
    mi_attr_alloc_align(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_new_n(size_t count, size_t size)
    mi_attr_malloc mi_attr_alloc_size2(1, 2);
mi_decl_nodiscard mi_decl_export void* mi_new_realloc(void* p, size_t newsize)
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export void* mi_new_reallocn(void* p, size_t newcount, size_t size)
    mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_alloc_new(mi_heap_t* heap,
                                                                          size_t size)
    mi_attr_malloc mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_heap_alloc_new_n(mi_heap_t* heap,
                                                                            size_t count,
                                                                            size_t size)
    mi_attr_malloc mi_attr_alloc_size2(2, 3);

/* Ownership queries. mi_heap_contains_block: p is a block allocated in heap. mi_heap_check_owned
   and mi_check_owned (default heap): p points anywhere into that heap's pages (may be slow).
   mi_is_in_heap_region: p lies in memory shardalloc manages for any heap. */
mi_decl_nodiscard mi_decl_export bool mi_heap_contains_block(mi_heap_t* heap,
                                                             const void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export bool mi_heap_check_owned(mi_heap_t* heap,
                                                          const void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export bool mi_check_owned(const void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export bool mi_is_in_heap_region(const void* p) mi_attr_noexcept;
/* True if the page holding block p (of heap) has fewer than perc_threshold percent of its blocks
   in use: a hint for programs that move objects out of sparse pages (p must be a live block of
   heap, hence "unsafe"). */
mi_decl_nodiscard mi_decl_export bool mi_unsafe_heap_page_is_under_utilized(
    mi_heap_t* heap, void* p, size_t perc_threshold) mi_attr_noexcept;

/* Walking a heap: the visitor is called once per area (a page) with block == NULL, then, if
   visit_blocks, once per live block of that area; returning false stops the walk (and
   mi_heap_visit_blocks then returns false). Only the owning thread may walk a heap, and the
   visitor must not allocate from or free into it. */
typedef struct mi_heap_area_s {
  void*  blocks;           /* start of the area */
  size_t reserved;         /* bytes reserved for blocks */
  size_t committed;        /* bytes in blocks handed out at least once */
  size_t used;             /* live blocks */
  size_t block_size;       /* usable size of each block */
  size_t full_block_size;  /* size of each block including any metadata */
  int    heap_tag;         /* tag of the owning heap */
} mi_heap_area_t;

typedef bool(mi_cdecl mi_block_visit_fun)(const mi_heap_t* heap, const mi_heap_area_t* area,
                                          void* block, size_t block_size, void* arg);

mi_decl_export bool mi_heap_visit_blocks(const mi_heap_t* heap, bool visit_blocks,
                                         mi_block_visit_fun* visitor, void* arg) mi_attr_noexcept;

/* Typed convenience macros. */
#define mi_malloc_tp(tp)         ((tp*)mi_malloc(sizeof(tp)))
#define mi_zalloc_tp(tp)         ((tp*)mi_zalloc(sizeof(tp)))
#define mi_calloc_tp(tp, n)      ((tp*)mi_calloc((n), sizeof(tp)))
#define mi_mallocn_tp(tp, n)     ((tp*)mi_mallocn((n), sizeof(tp)))
#define mi_reallocn_tp(p, tp, n) ((tp*)mi_reallocn((p), (n), sizeof(tp)))
#define mi_recalloc_tp(p, tp, n) ((tp*)mi_recalloc((p), (n), sizeof(tp)))

#define mi_heap_malloc_tp(hp, tp)         ((tp*)mi_heap_malloc((hp), sizeof(tp)))
#define mi_heap_zalloc_tp(hp, tp)         ((tp*)mi_heap_zalloc((hp), sizeof(tp)))
#define mi_heap_calloc_tp(hp, tp, n)      ((tp*)mi_heap_calloc((hp), (n), sizeof(tp)))
#define mi_heap_mallocn_tp(hp, tp, n)     ((tp*)mi_heap_mallocn((hp), (n), sizeof(tp)))
#define mi_heap_reallocn_tp(hp, p, tp, n) ((tp*)mi_heap_reallocn((hp), (p), (n), sizeof(tp)))
#define mi_heap_recalloc_tp(hp, p, tp, n) ((tp*)mi_heap_recalloc((hp), (p), (n), sizeof(tp)))

/* mimalloc 2.4's names for code written against its v3 API, where a thread's heap is a "theap". */
typedef mi_heap_t mi_theap_t;
#define mi_theap_get_default()             mi_heap_get_default()
#define mi_theap_set_default(hp)           mi_heap_set_default(hp)
#define mi_theap_collect(hp, force)        mi_heap_collect((hp), (force))
#define mi_theap_malloc(hp, sz)            mi_heap_malloc((hp), (sz))
#define mi_theap_zalloc(hp, sz)            mi_heap_zalloc((hp), (sz))
#define mi_theap_calloc(hp, n, sz)         mi_heap_calloc((hp), (n), (sz))
#define mi_theap_malloc_small(hp, sz)      mi_heap_malloc_small((hp), (sz))
#define mi_theap_malloc_aligned(hp, sz, a) mi_heap_malloc_aligned((hp), (sz), (a))
#define mi_theap_realloc(hp, p, newsz)     mi_heap_realloc((hp), (p), (newsz))

/* ------------------------------------------------------------------------------------------------
   Process and thread control, output and callbacks.
------------------------------------------------------------------------------------------------ */
/* Returns MI_MALLOC_VERSION as it was when the library was built. */
mi_decl_nodiscard mi_decl_export int mi_version(void) mi_attr_noexcept;
/* Returns free memory to the OS where possible; force also collects what is merely cached. */
mi_decl_export void mi_collect(bool force) mi_attr_noexcept;
/* Deprecated in mimalloc: like mi_collect(true) for the calling thread (the target is not used). */
mi_decl_export void mi_collect_reduce(size_t target_thread_owned) mi_attr_noexcept;
/* Windows-only notion (redirection of the C runtime's malloc): always false on this platform. */
mi_decl_nodiscard mi_decl_export bool mi_is_redirected(void) mi_attr_noexcept;

/* Process and thread set-up and teardown run by themselves (on first use, at thread and process
   exit); these let a host choose the moment instead. */
mi_decl_export void mi_process_init(void) mi_attr_noexcept;
mi_decl_export void mi_cdecl mi_process_done(void) mi_attr_noexcept;
mi_decl_export void mi_thread_init(void) mi_attr_noexcept;
mi_decl_export void mi_thread_done(void) mi_attr_noexcept;
/* A hint that the calling thread belongs to a thread pool. As in mimalloc 2.x it changes nothing:
   shardalloc treats every thread alike. */
mi_decl_export void mi_thread_set_in_threadpool(void) mi_attr_noexcept;

/* Callbacks. The output function receives every message (default: stderr); the error function
   receives an errno-style code for each detected error; the deferred-free function is called
   now and then from the allocation slow path with an increasing heartbeat, to let a program
   release memory it holds back. Passing NULL restores the default. */
typedef void(mi_cdecl mi_output_fun)(const char* msg, void* arg);
typedef void(mi_cdecl mi_error_fun)(int err, void* arg);
typedef void(mi_cdecl mi_deferred_free_fun)(bool force, unsigned long long heartbeat, void* arg);

mi_decl_export void mi_register_output(mi_output_fun* out, void* arg) mi_attr_noexcept;
mi_decl_export void mi_register_error(mi_error_fun* fun, void* arg) mi_attr_noexcept;
mi_decl_export void mi_register_deferred_free(mi_deferred_free_fun* deferred_free,
                                              void* arg) mi_attr_noexcept;
/* Statistics, process-wide: what shardalloc reserved from and returned to the OS, segments,
   pages, arenas, threads, and the process's times, page faults and RSS, in mimalloc's v2 layout
   through `out` (NULL: the registered output function, default stderr). mi_stats_print's
   argument is an mi_output_fun* or NULL. mi_thread_stats_print_out prints the calling thread's
   own pages and slow-path calls. mi_stats_reset restarts totals and peaks from the current
   figures; mi_stats_merge has nothing to do (statistics are kept process-wide as they happen).
   MIMALLOC_SHOW_STATS=1 prints them at exit. The same figures as a struct or as JSON:
   mi_stats_get and mi_stats_get_json, declared in mimalloc-stats.h (as in mimalloc). */
mi_decl_export void mi_stats_print(void* out) mi_attr_noexcept;
mi_decl_export void mi_stats_print_out(mi_output_fun* out, void* arg) mi_attr_noexcept;
mi_decl_export void mi_thread_stats_print_out(mi_output_fun* out, void* arg) mi_attr_noexcept;
mi_decl_export void mi_stats_reset(void) mi_attr_noexcept;
mi_decl_export void mi_stats_merge(void) mi_attr_noexcept;
/* Process figures; any pointer may be NULL. The commit figures are the "committed" statistic,
   current and peak: memory touched since it was mapped or last purged (at most what can be
   resident). */
mi_decl_export void mi_process_info(size_t* elapsed_msecs, size_t* user_msecs,
                                    size_t* system_msecs, size_t* current_rss, size_t* peak_rss,
                                    size_t* current_commit, size_t* peak_commit,
                                    size_t* page_faults) mi_attr_noexcept;

/* Prints every option and its current value through the output function. */
mi_decl_export void mi_options_print(void) mi_attr_noexcept;

/* ------------------------------------------------------------------------------------------------
   Options. Names and numbers are mimalloc 2.4.1's, so that values stored or passed across the
   interface keep their meaning. Each is read once from the environment as MIMALLOC_<NAME>
   (case-insensitive) and may be changed with mi_option_set.
------------------------------------------------------------------------------------------------ */
typedef enum mi_option_e {
  mi_option_show_errors = 0,                 /* print error and warning messages */
  mi_option_show_stats = 1,                  /* print statistics at process exit */
  mi_option_verbose = 2,                     /* print options and events; 2 and up also trace */
  mi_option_eager_commit = 3,                /* commit segments when they are reserved */
  mi_option_arena_eager_commit = 4,          /* commit arenas up front (2: if OS overcommits) */
  mi_option_purge_decommits = 5,             /* purge by decommitting (else by MADV_FREE reset) */
  mi_option_allow_large_os_pages = 6,        /* back memory with 2 MiB pages where possible */
  mi_option_reserve_huge_os_pages = 7,       /* reserve this many 1 GiB pages at start */
  mi_option_reserve_huge_os_pages_at = 8,    /* ...on this NUMA node (-1: spread over nodes) */
  mi_option_reserve_os_memory = 9,           /* reserve an arena of this many KiB at start */
  mi_option_deprecated_segment_cache = 10,   /* no effect; keeps the numbering */
  mi_option_deprecated_page_reset = 11,      /* reset a page's memory when it is freed */
  mi_option_abandoned_page_purge = 12,       /* purge memory when a thread abandons it */
  mi_option_deprecated_segment_reset = 13,   /* no effect; keeps the numbering */
  mi_option_eager_commit_delay = 14,         /* commit a thread's first N segments lazily */
  mi_option_purge_delay = 15,                /* ms before freed memory is purged (-1: never) */
  mi_option_use_numa_nodes = 16,             /* 0: detect the NUMA nodes; N: use at most N */
  mi_option_disallow_os_alloc = 17,          /* allocate only from arenas reserved up front */
  mi_option_os_tag = 18,                     /* VM tag for mmap where the OS has one */
  mi_option_max_errors = 19,                 /* stop printing errors after this many */
  mi_option_max_warnings = 20,               /* stop printing warnings after this many */
  mi_option_max_segment_reclaim = 21,        /* % of abandoned segments tried per reclaim */
  mi_option_destroy_on_exit = 22,            /* release all memory at exit (unsafe if in use) */
  mi_option_arena_reserve = 23,              /* KiB reserved per new arena */
  mi_option_arena_purge_mult = 24,           /* arena purge delay = purge_delay * this */
  mi_option_purge_extend_delay = 25,         /* ms a pending purge is pushed back per free */
  mi_option_abandoned_reclaim_on_free = 26,  /* a free into abandoned memory may reclaim it */
  mi_option_disallow_arena_alloc = 27,       /* never allocate from shared arenas */
  mi_option_retry_on_oom = 28,               /* ms to retry on out-of-memory (Windows only) */
  mi_option_visit_abandoned = 29,            /* allow visiting abandoned blocks (costs locks) */
  mi_option_guarded_min = 30,                /* guarded allocation: smallest size guarded */
  mi_option_guarded_max = 31,                /* guarded allocation: largest size guarded */
  mi_option_guarded_precise = 32,            /* place guarded objects right against the guard */
  mi_option_guarded_sample_rate = 33,        /* guard one in N eligible allocations (0: none) */
  mi_option_guarded_sample_seed = 34,        /* seed for that sampling (0: random) */
  mi_option_target_segments_per_thread = 35, /* abandon segments above this count (0: off) */
  mi_option_generic_collect = 36,            /* collect the heap every N slow-path calls */
  mi_option_allow_thp = 37,                  /* 0: no transparent huge pages in the process */
  /* shardalloc's own options (not in mimalloc) */
  mi_option_purge_background = 38,           /* 1: a helper thread purges what is due, also in
                                                idle processes (read once at start) */
  _mi_option_last = 39,

  /* Older names, still accepted. */
  mi_option_large_os_pages = mi_option_allow_large_os_pages,
  mi_option_eager_region_commit = mi_option_arena_eager_commit,
  mi_option_reset_decommits = mi_option_purge_decommits,
  mi_option_reset_delay = mi_option_purge_delay,
  mi_option_abandoned_page_reset = mi_option_abandoned_page_purge,
  mi_option_limit_os_alloc = mi_option_disallow_os_alloc
} mi_option_t;

mi_decl_nodiscard mi_decl_export bool mi_option_is_enabled(mi_option_t option) mi_attr_noexcept;
mi_decl_export void mi_option_enable(mi_option_t option) mi_attr_noexcept;
mi_decl_export void mi_option_disable(mi_option_t option) mi_attr_noexcept;
mi_decl_export void mi_option_set_enabled(mi_option_t option, bool enable) mi_attr_noexcept;
/* The _default setters change the value only if neither the environment nor mi_option_set has
   set it. */
mi_decl_export void mi_option_set_enabled_default(mi_option_t option, bool enable) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export long mi_option_get(mi_option_t option) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export long mi_option_get_clamp(mi_option_t option, long lo,
                                                          long hi) mi_attr_noexcept;
/* For options measured in KiB (reserve_os_memory, arena_reserve): the value in bytes. */
mi_decl_nodiscard mi_decl_export size_t mi_option_get_size(mi_option_t option) mi_attr_noexcept;
mi_decl_export void mi_option_set(mi_option_t option, long value) mi_attr_noexcept;
mi_decl_export void mi_option_set_default(mi_option_t option, long value) mi_attr_noexcept;

/* ------------------------------------------------------------------------------------------------
   Arenas: address ranges cut into 32 MiB blocks that hold shardalloc's segments. Ids start at 1
   (0: none). An exclusive arena serves only heaps created for it with mi_heap_new_in_arena or
   mi_heap_new_ex; the other heaps use the shared arenas and, unless MIMALLOC_DISALLOW_OS_ALLOC
   is set, the OS. The functions returning int give 0 or an errno value (ENOMEM, EINVAL).
------------------------------------------------------------------------------------------------ */
typedef int mi_arena_id_t;

/* Reserve `size` bytes (rounded up to 32 MiB, at most 32 GiB) from the OS as a new arena.
   `commit` has no effect on Linux (memory is committed on first touch); `allow_large` asks for
   transparent huge pages. */
mi_decl_export int mi_reserve_os_memory(size_t size, bool commit, bool allow_large) mi_attr_noexcept;
mi_decl_export int mi_reserve_os_memory_ex(size_t size, bool commit, bool allow_large,
                                           bool exclusive, mi_arena_id_t* arena_id) mi_attr_noexcept;
/* Hand the program's own memory to shardalloc: the 32 MiB-aligned blocks inside
   [start, start + size) become an arena (at least one such block is needed; at most 32 GiB is
   used). It is never unmapped or purged. Not committed (e.g. mapped PROT_NONE): each block is made
   readable and writable when first used. is_zero: it reads as zero. numa_node is ignored. */
mi_decl_export bool mi_manage_os_memory(void* start, size_t size, bool is_committed,
                                        bool is_large, bool is_zero, int numa_node) mi_attr_noexcept;
mi_decl_export bool mi_manage_os_memory_ex(void* start, size_t size, bool is_committed,
                                           bool is_large, bool is_zero, int numa_node,
                                           bool exclusive, mi_arena_id_t* arena_id) mi_attr_noexcept;
/* Start and size of an arena; NULL (and *size 0) for an unknown id. */
mi_decl_export void* mi_arena_area(mi_arena_id_t arena_id, size_t* size) mi_attr_noexcept;
/* 1 GiB huge OS pages (hugetlbfs; the administrator must reserve them): as many of `pages` as
   the system grants, as one arena that is never purged; ENOMEM when it grants none. NUMA nodes
   and the timeout are accepted and not needed. mi_reserve_huge_os_pages is the deprecated form. */
mi_decl_export int mi_reserve_huge_os_pages_interleave(size_t pages, size_t numa_nodes,
                                                       size_t timeout_msecs) mi_attr_noexcept;
mi_decl_export int mi_reserve_huge_os_pages_at(size_t pages, int numa_node,
                                               size_t timeout_msecs) mi_attr_noexcept;
mi_decl_export int mi_reserve_huge_os_pages_at_ex(size_t pages, int numa_node, size_t timeout_msecs,
                                                  bool exclusive,
                                                  mi_arena_id_t* arena_id) mi_attr_noexcept;
mi_decl_export int mi_reserve_huge_os_pages(size_t pages, double max_secs,
                                            size_t* pages_reserved) mi_attr_noexcept;
/* One line per arena through the output function: address, size, blocks in use, kind. */
mi_decl_export void mi_debug_show_arenas(void) mi_attr_noexcept;
mi_decl_export void mi_arenas_print(void) mi_attr_noexcept;
/* A heap that allocates only in `arena_id` (ENOMEM when it is full); mi_heap_new_ex also sets the
   heap's tag and whether mi_heap_destroy is allowed (then it never adopts abandoned memory). */
mi_decl_nodiscard mi_decl_export mi_heap_t* mi_heap_new_in_arena(mi_arena_id_t arena_id) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_heap_t* mi_heap_new_ex(int heap_tag, bool allow_destroy,
                                                          mi_arena_id_t arena_id) mi_attr_noexcept;

/* ------------------------------------------------------------------------------------------------
   Sub-processes: groups of threads whose memory stays apart (one per interpreter of a process that
   runs several, say). A thread that exits with live blocks leaves them "abandoned"; only threads of
   the same sub-process adopt that memory. mi_subproc_main() is the group every thread starts in.
   mi_subproc_add_current_thread moves the calling thread into `subproc`; call it before the thread
   allocates (a thread that already holds memory stays where it is, with a warning).
   mi_subproc_delete gives up the handle: the sub-process is released at once if none of its threads
   runs and its abandoned memory is all freed, else as soon as that is so (the main one stays).
------------------------------------------------------------------------------------------------ */
typedef void* mi_subproc_id_t;

mi_decl_nodiscard mi_decl_export mi_subproc_id_t mi_subproc_main(void) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_subproc_id_t mi_subproc_new(void) mi_attr_noexcept;
mi_decl_export void mi_subproc_delete(mi_subproc_id_t subproc) mi_attr_noexcept;
mi_decl_export void mi_subproc_add_current_thread(mi_subproc_id_t subproc) mi_attr_noexcept;

/* Walks the abandoned memory of `subproc` (blocks of threads that exited), as mi_heap_visit_blocks
   walks a heap, with heap == NULL: the pages whose heap had tag `heap_tag` (mi_heap_new_ex; -1:
   every tag). Safe while other threads run: each abandoned segment is taken off the list while it
   is visited (nobody adopts it meanwhile), and blocks freed during the walk may still be reported.
   The visitor may allocate and free. mimalloc needs MIMALLOC_VISIT_ABANDONED=1 at start for this;
   shardalloc's abandoned list is always kept under a lock, so it works with or without the
   option. Returns false when the visitor stopped the walk or the arguments are invalid. */
mi_decl_export bool mi_abandoned_visit_blocks(mi_subproc_id_t subproc_id, int heap_tag,
                                              bool visit_blocks, mi_block_visit_fun* visitor,
                                              void* arg) mi_attr_noexcept;

/* Guarded sampling (the GWP-ASan idea): about one allocation in `sample_rate` whose size lies in
   [min, max] is placed right before an inaccessible page, so that an overflow faults at once, and
   stays inaccessible for a while after it is freed, so that a use after free faults too; a fault
   there prints one line naming the block. 0 turns it off, 1 guards every eligible allocation; a
   seed of 0 starts the sequence at random, another value makes it repeatable. New heaps take
   MIMALLOC_GUARDED_SAMPLE_RATE, _SAMPLE_SEED, _MIN and _MAX; these change one heap of the calling
   thread. */
mi_decl_export void mi_heap_guarded_set_sample_rate(mi_heap_t* heap, size_t sample_rate,
                                                    size_t seed) mi_attr_noexcept;
mi_decl_export void mi_heap_guarded_set_size_bound(mi_heap_t* heap, size_t min,
                                                   size_t max) mi_attr_noexcept;

/* ------------------------------------------------------------------------------------------------
   mi_ equivalents of POSIX, BSD and Windows functions, with those functions' conventions and the
   error rules stated at the top of this file.
------------------------------------------------------------------------------------------------ */
/* Frees p only if it lies in shardalloc's memory; anything else is ignored. */
mi_decl_export void mi_cfree(void* p) mi_attr_noexcept;
/* mi_expand that also sets errno to ENOMEM when it returns NULL (Windows _expand). */
mi_decl_nodiscard mi_decl_export void* mi__expand(void* p, size_t newsize) mi_attr_noexcept
    mi_attr_alloc_size(2);
mi_decl_nodiscard mi_decl_export size_t mi_malloc_size(const void* p) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export size_t mi_malloc_good_size(size_t size) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export size_t mi_malloc_usable_size(const void* p) mi_attr_noexcept;

/* Returns 0, ENOMEM, or EINVAL when the alignment is not a power of two multiple of
   sizeof(void*); on any error *p is left untouched. */
mi_decl_nodiscard mi_decl_export int mi_posix_memalign(void** p, size_t alignment,
                                                       size_t size) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_memalign(size_t alignment, size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2) mi_attr_alloc_align(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_valloc(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_pvalloc(size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(1);
/* size need not be a multiple of alignment; a bad alignment gives NULL with errno EINVAL. */
mi_decl_nodiscard mi_decl_export mi_decl_restrict void* mi_aligned_alloc(size_t alignment,
                                                                         size_t size)
    mi_attr_noexcept mi_attr_malloc mi_attr_alloc_size(2) mi_attr_alloc_align(1);

/* Array reallocation. mi_reallocarray: NULL with errno ENOMEM on overflow or exhaustion.
   mi_reallocarr (NetBSD): p points to the pointer to reallocate; returns 0 or ENOMEM and leaves
   that pointer unchanged on failure. */
mi_decl_nodiscard mi_decl_export void* mi_reallocarray(void* p, size_t count,
                                                       size_t size) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3);
mi_decl_nodiscard mi_decl_export int mi_reallocarr(void* p, size_t count,
                                                   size_t size) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export void* mi_aligned_recalloc(void* p, size_t newcount, size_t size,
                                                           size_t alignment) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3) mi_attr_alloc_align(4);
mi_decl_nodiscard mi_decl_export void* mi_aligned_offset_recalloc(void* p, size_t newcount,
                                                                  size_t size, size_t alignment,
                                                                  size_t offset) mi_attr_noexcept
    mi_attr_alloc_size2(2, 3);

/* Sized and aligned frees (C++ sized/aligned operator delete): size and alignment must be those
   the block was allocated with (checked in debug builds); p is then freed as by mi_free. */
mi_decl_export void mi_free_size(void* p, size_t size) mi_attr_noexcept;
mi_decl_export void mi_free_size_aligned(void* p, size_t size, size_t alignment) mi_attr_noexcept;
mi_decl_export void mi_free_aligned(void* p, size_t alignment) mi_attr_noexcept;

/* Windows-style duplicates. The _dupenv_s forms store a copy of the environment variable (or
   NULL when it is unset) in *buf and return 0 or an errno value. */
mi_decl_nodiscard mi_decl_export int mi_dupenv_s(char** buf, size_t* size,
                                                 const char* name) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export int mi_wdupenv_s(wchar_t** buf, size_t* size,
                                                  const wchar_t* name) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export mi_decl_restrict wchar_t* mi_wcsdup(const wchar_t* s)
    mi_attr_noexcept mi_attr_malloc;
mi_decl_nodiscard mi_decl_export mi_decl_restrict unsigned char* mi_mbsdup(const unsigned char* s)
    mi_attr_noexcept mi_attr_malloc;

#ifdef __cplusplus
}
#if defined(__GNUC__) && (__cplusplus < 201103L)
#pragma GCC diagnostic pop
#endif
#endif

/* ------------------------------------------------------------------------------------------------
   Allocators for the C++ standard containers (std::vector<T, mi_stl_allocator<T>> and so on).
   - mi_stl_allocator<T> (C++98 and later): allocates with mi_new_n, so a failure runs the
     new-handler loop and throws std::bad_alloc; frees with mi_free. It has no state: all
     instances are equal and storage may move freely between containers.
   - mi_heap_stl_allocator<T> (C++11 and later): allocates in one heap, shared by every copy and
     rebound copy, which compare equal exactly when they share it. A default-constructed one makes
     a fresh heap (mi_heap_new) that is mi_heap_delete'd when its last copy goes: blocks still
     live then move to the thread's backing heap and stay valid. One built from an explicit heap
     does not own it; the caller deletes that heap after the last container using it.
   - mi_heap_destroy_stl_allocator<T> (C++11 and later): the same, but deallocate does nothing and
     an owned heap is released as a whole with mi_heap_destroy when the last copy goes. Every
     container using it must be gone by then; it suits short-lived data built in one phase.
   Like the heaps themselves, a heap allocator may allocate only on the thread that made its heap;
   blocks may be freed from any thread.
------------------------------------------------------------------------------------------------ */
#ifdef __cplusplus
#include <cstddef> /* std::size_t, std::ptrdiff_t */
#include <new>     /* placement new, std::bad_alloc */
#if (__cplusplus >= 201103L)
#include <memory>      /* std::shared_ptr */
#include <type_traits> /* std::true_type, std::false_type */
#include <utility>     /* std::forward */
#endif

template <class T>
struct mi_stl_allocator {
  typedef T value_type;
  typedef std::size_t size_type;
  typedef std::ptrdiff_t difference_type;
  typedef T* pointer;
  typedef const T* const_pointer;
  typedef T& reference;
  typedef const T& const_reference;
  template <class U>
  struct rebind {
    typedef mi_stl_allocator<U> other;
  };
#if (__cplusplus >= 201103L)
  typedef std::true_type propagate_on_container_copy_assignment;
  typedef std::true_type propagate_on_container_move_assignment;
  typedef std::true_type propagate_on_container_swap;
  typedef std::true_type is_always_equal;
#endif

  mi_stl_allocator() mi_attr_noexcept {}
  template <class U>
  mi_stl_allocator(const mi_stl_allocator<U>&) mi_attr_noexcept {}

  mi_decl_nodiscard T* allocate(size_type count) {
    return static_cast<T*>(mi_new_n(count, sizeof(T)));
  }
  /* The C++98 form with a locality hint, which is ignored. */
  mi_decl_nodiscard T* allocate(size_type count, const void*) { return allocate(count); }
  void deallocate(T* p, size_type) mi_attr_noexcept { mi_free(p); }
  /* Object sizes are bounded by PTRDIFF_MAX, so that pointer differences stay defined. */
  size_type max_size() const mi_attr_noexcept {
    return (static_cast<size_type>(-1) >> 1) / sizeof(T);
  }

  pointer address(reference x) const mi_attr_noexcept { return &x; }
  const_pointer address(const_reference x) const mi_attr_noexcept { return &x; }
#if (__cplusplus >= 201103L)
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  void destroy(U* p) mi_attr_noexcept {
    p->~U();
  }
#else
  void construct(pointer p, const_reference value) { ::new (static_cast<void*>(p)) T(value); }
  void destroy(pointer p) { p->~T(); }
#endif
};

template <class T1, class T2>
bool operator==(const mi_stl_allocator<T1>&, const mi_stl_allocator<T2>&) mi_attr_noexcept {
  return true;
}
template <class T1, class T2>
bool operator!=(const mi_stl_allocator<T1>&, const mi_stl_allocator<T2>&) mi_attr_noexcept {
  return false;
}

#if (__cplusplus >= 201103L)
#define MI_HAS_HEAP_STL_ALLOCATOR 1

/* What the two heap allocators share. The heap sits in a shared_ptr whose deleter is chosen at
   construction: mi_heap_delete or mi_heap_destroy (by destroy_heap) for a heap made here, nothing
   for a heap passed in. Not meant to be used by itself. */
template <class T, bool destroy_heap>
struct mi_heap_stl_allocator_base {
  typedef T value_type;
  typedef std::size_t size_type;
  typedef std::ptrdiff_t difference_type;
  /* The allocator travels with the storage it made, so a container never frees into a heap
     other than the one its blocks came from. */
  typedef std::true_type propagate_on_container_copy_assignment;
  typedef std::true_type propagate_on_container_move_assignment;
  typedef std::true_type propagate_on_container_swap;
  typedef std::false_type is_always_equal;

  mi_decl_nodiscard T* allocate(size_type count) {
    return static_cast<T*>(mi_heap_alloc_new_n(heap_.get(), count, sizeof(T)));
  }
  size_type max_size() const noexcept { return (static_cast<size_type>(-1) >> 1) / sizeof(T); }
  /* The heap every copy of this allocator allocates in. */
  mi_heap_t* heap() const noexcept { return heap_.get(); }
  /* mi_heap_collect on that heap: frees what it caches, force also what is merely retained. */
  void collect(bool force) noexcept { mi_heap_collect(heap_.get(), force); }

 protected:
  mi_heap_stl_allocator_base() : heap_(new_heap(), &release_heap) {}
  /* Declared so that a move copies: a container still allocates through its allocator after its
     contents were moved away, so a moved-from allocator must keep its heap. */
  mi_heap_stl_allocator_base(const mi_heap_stl_allocator_base&) = default;
  mi_heap_stl_allocator_base& operator=(const mi_heap_stl_allocator_base&) = default;
  mi_heap_stl_allocator_base(mi_heap_t* heap) : heap_(heap, &keep_heap) {}
  template <class U>
  mi_heap_stl_allocator_base(const mi_heap_stl_allocator_base<U, destroy_heap>& other) noexcept
      : heap_(other.heap_) {}

 private:
  template <class U, bool D>
  friend struct mi_heap_stl_allocator_base;

  static mi_heap_t* new_heap() {
    mi_heap_t* heap = mi_heap_new();
    if (heap == nullptr) throw std::bad_alloc();
    return heap;
  }
  static void release_heap(mi_heap_t* heap) noexcept {
    if (destroy_heap) {
      mi_heap_destroy(heap);
    } else {
      mi_heap_delete(heap);
    }
  }
  static void keep_heap(mi_heap_t*) noexcept {}

  std::shared_ptr<mi_heap_t> heap_;
};

template <class T>
struct mi_heap_stl_allocator : public mi_heap_stl_allocator_base<T, false> {
  template <class U>
  struct rebind {
    typedef mi_heap_stl_allocator<U> other;
  };

  mi_heap_stl_allocator() : mi_heap_stl_allocator_base<T, false>() {}
  /* Allocates in heap (not NULL), which stays the caller's to delete. */
  mi_heap_stl_allocator(mi_heap_t* heap) : mi_heap_stl_allocator_base<T, false>(heap) {}
  template <class U>
  mi_heap_stl_allocator(const mi_heap_stl_allocator<U>& other) noexcept
      : mi_heap_stl_allocator_base<T, false>(other) {}

  void deallocate(T* p, std::size_t) noexcept { mi_free(p); }
};

template <class T1, class T2>
bool operator==(const mi_heap_stl_allocator<T1>& a, const mi_heap_stl_allocator<T2>& b) noexcept {
  return a.heap() == b.heap();
}
template <class T1, class T2>
bool operator!=(const mi_heap_stl_allocator<T1>& a, const mi_heap_stl_allocator<T2>& b) noexcept {
  return a.heap() != b.heap();
}

template <class T>
struct mi_heap_destroy_stl_allocator : public mi_heap_stl_allocator_base<T, true> {
  template <class U>
  struct rebind {
    typedef mi_heap_destroy_stl_allocator<U> other;
  };

  mi_heap_destroy_stl_allocator() : mi_heap_stl_allocator_base<T, true>() {}
  /* Allocates in heap (not NULL), which stays the caller's to destroy. */
  mi_heap_destroy_stl_allocator(mi_heap_t* heap) : mi_heap_stl_allocator_base<T, true>(heap) {}
  template <class U>
  mi_heap_destroy_stl_allocator(const mi_heap_destroy_stl_allocator<U>& other) noexcept
      : mi_heap_stl_allocator_base<T, true>(other) {}

  /* Blocks are released only with the whole heap. */
  void deallocate(T*, std::size_t) noexcept {}
};

template <class T1, class T2>
bool operator==(const mi_heap_destroy_stl_allocator<T1>& a,
                const mi_heap_destroy_stl_allocator<T2>& b) noexcept {
  return a.heap() == b.heap();
}
template <class T1, class T2>
bool operator!=(const mi_heap_destroy_stl_allocator<T1>& a,
                const mi_heap_destroy_stl_allocator<T2>& b) noexcept {
  return a.heap() != b.heap();
}
#endif /* C++11 */
#endif /* __cplusplus */

#endif /* MIMALLOC_H */
