/* Internal interface of shardalloc: the functions each layer offers the layers above it, and the
 * inline fast paths (pointer to segment and page, free-list links, size classes, the malloc and
 * free hit paths). Included by every source file; never by users. */
#pragma once
#ifndef SA_INTERNAL_H
#define SA_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../prim/prim.h"
#include "mimalloc.h"
#include "track.h"
#include "types.h"

#define mi_likely(x)       __builtin_expect(!!(x), 1)
#define mi_unlikely(x)     __builtin_expect(!!(x), 0)
#define mi_decl_noinline   __attribute__((noinline))
#define mi_decl_hidden     __attribute__((visibility("hidden")))
#define mi_decl_cold       __attribute__((cold, noinline))
#define mi_decl_always_inline inline __attribute__((always_inline))

#if defined(SA_LOCAL_DYNAMIC_TLS)
#define mi_decl_tls __attribute__((tls_model("local-dynamic")))
#else
#define mi_decl_tls __attribute__((tls_model("initial-exec")))
#endif

/* ---------------------------------------------------------------------------------------------
   Assertions, compiled in by debug level: contracts (1), internal (2), full validation (3).
   A failure prints one line and aborts; it never allocates.
--------------------------------------------------------------------------------------------- */
mi_decl_hidden __attribute__((noreturn, cold)) void _mi_assert_fail(const char* assertion,
                                                                    const char* fname,
                                                                    unsigned int line,
                                                                    const char* func);
#define mi_assert_impl(expr) \
  ((expr) ? (void)0 : _mi_assert_fail(#expr, __FILE__, __LINE__, __func__))
#if SA_DEBUG >= 1
#define mi_assert(x) mi_assert_impl(x)
#else
#define mi_assert(x) ((void)0)
#endif
#if SA_DEBUG >= 2
#define mi_assert_internal(x) mi_assert_impl(x)
#else
#define mi_assert_internal(x) ((void)0)
#endif
#if SA_DEBUG >= 3
#define mi_assert_expensive(x) mi_assert_impl(x)
#else
#define mi_assert_expensive(x) ((void)0)
#endif

// Debug fills: new blocks 0xD0, freed blocks 0xDF.
#define MI_DEBUG_UNINIT 0xD0
#define MI_DEBUG_FREED  0xDF

/* Secure builds (SHARDALLOC_SECURE=1..5, cumulative; DESIGN.md "Secure mode"). From level 3 the
   free-list links are encoded with the page's keys and checked when decoded, and every block ends
   in an 8-byte canary (requests are padded by MI_PADDING, so usable sizes end before it), checked
   on free; from level 4 every free and realloc checks its pointer and looks for a double free.
   Detected misuse aborts with a one-line message (options.c, the error handler). */
#ifndef SHARDALLOC_SECURE
#define SHARDALLOC_SECURE 0
#endif
#define SA_SECURE SHARDALLOC_SECURE
#if SA_SECURE >= 3
#define MI_PADDING 8
#else
#define MI_PADDING 0
#endif
// Level 5: the last OS page of every page is a guard (PROT_NONE); its blocks end before it.
#if SA_SECURE >= 5
#define MI_PAGE_GUARD ((size_t)4096)
#else
#define MI_PAGE_GUARD ((size_t)0)
#endif
// The largest block a medium page holds: the class of a 64 KiB request, canary included. Without
// the canary that is 64 KiB itself; with it, the next class (64 + 8 KiB), so that a 64 KiB buffer
// in a secure build still shares a 512 KiB page with six others instead of taking a large page
// (two slices) of its own, carved and freed with every malloc and free of it.
#define MI_MEDIUM_BLOCK_MAX \
  (MI_PADDING > 0 ? MI_MEDIUM_OBJ_SIZE_MAX + MI_MEDIUM_OBJ_SIZE_MAX / 8 : MI_MEDIUM_OBJ_SIZE_MAX)
_Static_assert(MI_PADDING <= MI_MEDIUM_OBJ_SIZE_MAX / 8, "the padded 64 KiB class is the next one");
// Checked frees: every pointer freed is validated. Debug builds send every free through
// _mi_free_generic, which does it; secure builds check the free hit path inline
// (mi_free_check_local) and send only the rest there. From level 4 (and in debug builds) the
// check includes the pointer itself: the start of a block handed out.
#define MI_FREE_CHECKED   (SA_DEBUG >= 1 || SA_SECURE >= 3)
#define MI_CHECK_POINTERS (SA_DEBUG >= 1 || SA_SECURE >= 4)

/* ---------------------------------------------------------------------------------------------
   Locks. Every allocator lock is taken through these, which count the locks the calling thread
   holds. While it holds any, messages are held back and printed when it lets go of the last one
   (options.c), so an output callback that allocates never runs under an allocator lock (where
   its allocation could need that very lock).
--------------------------------------------------------------------------------------------- */
extern __thread unsigned _mi_locks_held mi_decl_tls;
extern _Atomic(bool) _mi_messages_held;  // some message waits for its thread's last unlock
void _mi_messages_release(void) mi_decl_cold;

static inline void mi_locks_enter(void) { _mi_locks_held++; }
static inline void mi_locks_leave(void) {
  if (--_mi_locks_held == 0 && mi_unlikely(mi_atomic_load_relaxed(&_mi_messages_held))) {
    _mi_messages_release();
  }
}
static inline void mi_lock(pthread_mutex_t* lock) {
  pthread_mutex_lock(lock);
  mi_locks_enter();
}
static inline void mi_unlock(pthread_mutex_t* lock) {
  pthread_mutex_unlock(lock);
  mi_locks_leave();
}

/* ---------------------------------------------------------------------------------------------
   Layer interfaces (bottom to top).
--------------------------------------------------------------------------------------------- */
// os.c
void   _mi_os_init(void);
void*  _mi_os_alloc_huge(size_t size, size_t alignment, mi_memid_t* memid);  // cached huge maps
void*  _mi_os_alloc_huge_os_pages(size_t size, mi_memid_t* memid);  // 1 GiB pages (hugetlbfs)
void   _mi_os_protect(void* p, size_t size, bool protect);  // guard pages of secure builds
void   _mi_os_free_huge(mi_memid_t memid);
void*  _mi_os_remap(void* base, size_t old_size, size_t new_size, size_t alignment,
                    mi_memid_t* memid);  // grow or move a mapping, keeping its pages
void   _mi_os_huge_cache_apply(mi_purge_pass_t* pass);  // the cache as a purge source
void   _mi_os_huge_cache_drop_all(void);
void   _mi_os_fork_lock(bool lock);
size_t _mi_os_page_size(void);
void*  _mi_os_alloc(size_t size, mi_memid_t* memid);
void*  _mi_os_alloc_aligned(size_t size, size_t alignment, mi_memid_t* memid);
bool   _mi_os_thp_blocks(void);  // huge pages asked for on big blocks' memory alone (os.c)
void   _mi_os_advise_thp(void* p, size_t size, bool huge);  // ... on a range (in that mode)
void   _mi_os_free(void* p, size_t size, mi_memid_t memid);
bool   _mi_os_decommit(void* p, size_t size);
bool   _mi_os_purge(void* p, size_t size);

// bitmap.c: bitmaps of size_t fields; a claim of `count` bits never crosses a field.
typedef _Atomic(size_t) mi_bitmap_field_t;
#define MI_BITMAP_FIELD_BITS (8 * sizeof(size_t))
bool _mi_bitmap_try_find_claim(mi_bitmap_field_t* bitmap, size_t field_count, size_t start_field,
                               size_t count, size_t* bit_index);
void _mi_bitmap_unclaim(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index);
bool _mi_bitmap_claim(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index, bool* any_set);
bool _mi_bitmap_clear(mi_bitmap_field_t* bitmap, size_t count, size_t bit_index);

// arena.c
void* _mi_arena_alloc(size_t size, mi_arena_id_t req_arena, mi_memid_t* memid);  // 32 MiB units
bool  _mi_arena_memid_is_suitable(mi_memid_t memid, mi_arena_id_t req_arena);
bool  _mi_arena_id_is_valid(mi_arena_id_t id);
void  _mi_arena_free(void* p, size_t size, mi_memid_t memid);
void  _mi_arena_fork_lock(bool lock);
void  _mi_arenas_purge_apply(mi_purge_pass_t* pass);  // free arena blocks as a purge source
void  _mi_arenas_unsafe_destroy_all(void);   // MIMALLOC_DESTROY_ON_EXIT
void  _mi_segment_map_unsafe_destroy(void);  // likewise
void  _mi_segments_unsafe_destroy(void);     // likewise: the map and the abandoned list
void  _mi_heap_unsafe_destroy_all(void);     // likewise: the calling thread's heaps

// segment-map.c: one bit per 32 MiB of address space (47-bit), set for every live segment.
// The map covers the 47-bit user address space; the index is masked, not bounds-checked, so the
// frame just below 2^47 (where NULL - 1 lands) is never given to a segment.
#define MI_SEGMENT_MAP_BITS   ((size_t)1 << (47 - MI_SEGMENT_SHIFT))
extern _Atomic(uint64_t) _mi_segment_map[MI_SEGMENT_MAP_BITS / 64];  // (for walks)
extern _Atomic(uint8_t) _mi_segment_map_live[MI_SEGMENT_MAP_BITS];     // (for the free path)
bool _mi_segment_map_allocated_at(const mi_segment_t* segment);
void _mi_segment_map_freed_at(const mi_segment_t* segment);
bool _mi_segment_map_register_displaced(const void* block, mi_segment_t* segment);
void _mi_segment_map_unregister_displaced(const void* block);
mi_segment_t* _mi_segment_map_displaced_lookup(const void* p);
void _mi_segment_map_fork_lock(bool lock);
void _mi_segment_map_visit(void (*visit)(mi_segment_t* segment, void* arg), void* arg);

// segment.c
mi_page_t* _mi_segment_page_alloc(mi_heap_t* heap, size_t block_size, size_t page_alignment,
                                  size_t align_offset, bool may_adopt, bool* adopted,
                                  mi_segments_tld_t* tld);
void _mi_segment_page_free(mi_page_t* page, mi_segments_tld_t* tld);
void _mi_segment_page_abandon(mi_page_t* page, mi_segments_tld_t* tld);
bool _mi_segment_try_reclaim_abandoned(mi_heap_t* heap, mi_segments_tld_t* tld);
bool _mi_segment_try_free_abandoned(void);
void _mi_os_init_options(void);           // reads the options it depends on (process init)
void _mi_segment_purge_apply(mi_segment_t* segment, mi_purge_pass_t* pass);  // a purge source
void _mi_segment_huge_free_remote(mi_segment_t* segment);  // a huge block freed by another thread
void* _mi_segment_huge_realloc(void* p, size_t newsize);   // in place (mremap), or NULL
void* _mi_segment_large_realloc(void* p, size_t newsize);  // into the free span after it, or NULL
void  _mi_segment_block_discard(void* p, size_t size);       // a dead block's pages go back now
size_t _mi_segment_abandoned_count(void);
mi_page_kind_t _mi_page_kind_of_size(size_t block_size);
void _mi_segment_fork_lock(bool lock);
void _mi_segments_fork_child(void);
bool _mi_segment_is_valid(const mi_segment_t* segment);
typedef bool(_mi_abandoned_page_visit_fun)(mi_page_t* page, void* arg);
bool _mi_segments_abandoned_visit(mi_subproc_t* subproc, _mi_abandoned_page_visit_fun* visit,
                                  void* arg);
void _mi_segments_abandoned_collect(mi_subproc_t* subproc);

// subproc.c: sub-processes (the main one is NULL)
mi_subproc_t* _mi_subproc_of_id(mi_subproc_id_t id);
void _mi_subproc_acquire(mi_subproc_t* subproc);
void _mi_subproc_release(mi_subproc_t* subproc);
void _mi_subproc_thread_done(mi_segments_tld_t* tld);

// guarded.c: guarded sampling (the heap fields are in types.h)
extern _Atomic(bool) _mi_guarded_used;  // some block was ever guarded
void  _mi_heap_guarded_init(mi_heap_t* heap);
void* _mi_guarded_malloc(mi_heap_t* heap, size_t size, bool zero) mi_decl_noinline;
void  _mi_guarded_page_expose(mi_heap_t* heap, mi_page_t* page) mi_decl_noinline;
bool  _mi_guarded_usable_size(const void* block, const void* p, size_t* usable);
void  _mi_guarded_free(void* block, void* p) mi_decl_noinline;
void  _mi_guarded_collect(void);
void  _mi_guarded_heap_destroy(mi_heap_t* heap);
void  _mi_guarded_fork_lock(bool lock);

// purge.c: the memory-return engine (docs/memory-return.md). In a pass, sources purge the pending
// memory that _mi_purge_due says is due; they call _mi_purge_report when memory becomes pending.
// The segment map is walked under _mi_purge_map_lock (a segment leaving the map takes it too).
uint32_t  _mi_purge_clock(void);    // ms since the process started: the stamp of pending memory
long long _mi_purge_decay_ms(void); // the decay time D; 0: purge at once; < 0: never
bool _mi_purge_due(mi_purge_pass_t* pass, uint32_t since, uintptr_t key, size_t bytes);
void _mi_purge_report(void);        // new pending memory (any thread, any lock held)
bool _mi_purge_refault_is_soon(uint32_t age);  // memory purged `age` ms ago is written again:
void _mi_purge_refault(size_t bytes);          // ... soon: a purge for nothing (any lock held)
void _mi_purge_poke(void);          // a free into an abandoned segment
extern _Atomic(bool) _mi_purge_start_wanted;  // a report came and the helper thread is not up
void _mi_purge_start_slow(void) mi_decl_noinline;
// A safe point (no allocator lock held, the thread's heap consistent: starting a thread may
// allocate): start the helper thread if a report asked for it.
static inline void mi_purge_safe_point(void) {
  if (mi_unlikely(mi_atomic_load_relaxed(&_mi_purge_start_wanted))) _mi_purge_start_slow();
}
void _mi_purge_tick(long long now); // owner threads' periodic work
void _mi_purge_collect(bool force); // mi_collect, malloc_trim
void _mi_purge_map_lock(bool lock);
void _mi_purge_init(void);
void _mi_purge_fork_lock(bool lock);
void _mi_purge_fork_child(void);
void _mi_purge_unsafe_destroy(void);

// page-queue.c
void _mi_page_queue_push(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page);
void _mi_page_queue_push_back(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page);
void _mi_page_queue_remove(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page);
void _mi_page_queue_move_to_front(mi_heap_t* heap, mi_page_queue_t* pq, mi_page_t* page);
void _mi_page_queue_init(mi_heap_t* heap);
bool _mi_page_queue_is_valid(mi_heap_t* heap, const mi_page_queue_t* pq);

// page.c
void* _mi_malloc_generic(mi_heap_t* heap, size_t size, bool zero, size_t huge_alignment,
                         size_t align_offset) mi_decl_noinline;
void  _mi_page_free_collect(mi_page_t* page, bool force);
void  _mi_page_retire(mi_page_t* page) mi_decl_noinline;
void  _mi_page_unfull(mi_page_t* page);
void  _mi_page_free(mi_page_t* page, mi_page_queue_t* pq);
void  _mi_page_abandon(mi_page_t* page, mi_page_queue_t* pq);
void  _mi_page_reclaim(mi_heap_t* heap, mi_page_t* page);
void  _mi_page_use_delayed_free(mi_page_t* page, mi_delayed_t delay, bool override_never);
bool  _mi_heap_delayed_free_partial(mi_heap_t* heap);
void  _mi_heap_delayed_free_all(mi_heap_t* heap);
void  _mi_heap_collect_retired(mi_heap_t* heap, bool force);
bool  _mi_page_is_valid(mi_page_t* page);
bool  _mi_page_lists_are_consistent(const mi_page_t* page);

// heap.c
void  _mi_heap_init(mi_heap_t* heap, mi_tld_t* tld, uint8_t tag, bool no_reclaim);
mi_heap_t* _mi_heap_for_tag(mi_heap_t* heap, uint8_t tag);  // where adopted pages of a tag go
void  _mi_heap_collect_abandon(mi_heap_t* heap);
void  _mi_heap_delete_others(mi_heap_t* backing);
void  _mi_heap_set_default_direct(mi_heap_t* heap);
uintptr_t _mi_heap_random_next(mi_heap_t* heap);

// free.c
void    _mi_free_generic(mi_segment_t* segment, size_t page_index, void* p) mi_decl_noinline;
void    _mi_free_foreign(void* p) mi_decl_noinline;
void*   _mi_new_retry(size_t size, bool nothrow) mi_decl_noinline;  // after malloc failed in new
void    _mi_heap_abandoned_free_tick(void) mi_decl_noinline;
void    _mi_free_delayed_block(mi_block_t* block);
size_t  _mi_usable_size(const void* p, const char* msg);
void*   _mi_realloc_foreign(const void* p, void* (*alloc)(mi_heap_t*, size_t, bool, size_t, size_t),
                            mi_heap_t* heap, size_t newsize, bool zero, size_t alignment,
                            size_t offset);
mi_block_t* _mi_page_ptr_unalign(const mi_page_t* page, const void* p);

// alloc.c
void* _mi_heap_malloc_zero(mi_heap_t* heap, size_t size, bool zero);
void* _mi_heap_malloc_zero_ex(mi_heap_t* heap, size_t size, bool zero, size_t huge_alignment,
                              size_t align_offset);
void* _mi_heap_realloc_zero(mi_heap_t* heap, void* p, size_t newsize, bool zero);

// init.c
extern const mi_page_t _mi_page_empty;
extern mi_heap_t _mi_heap_empty;
extern mi_heap_t _mi_heap_main;
extern __thread mi_heap_t* _mi_heap_default mi_decl_tls;
mi_heap_t* _mi_heap_default_init(void);   // initialise the thread (and process) if needed
bool  _mi_thread_is_exiting(void);
void* _mi_malloc_while_exiting(size_t size, bool zero, size_t huge_alignment, size_t align_offset);
bool  _mi_process_is_initialized(void);
extern uintptr_t _mi_process_secret;  // set once at process init (init.c)
static inline uintptr_t _mi_process_cookie(void) { return _mi_process_secret; }

// options.c
void _mi_options_init(void);
void _mi_fputs(mi_output_fun* out, void* arg, const char* prefix, const char* message);
void _mi_message(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void _mi_verbose_message(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void _mi_warning_message(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void _mi_error_message(int err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void _mi_deferred_free(mi_heap_t* heap, bool force);
extern _Atomic(mi_deferred_free_fun*) _mi_deferred_fun;  // NULL while none is registered

// stats.c
extern mi_stats_main_t _mi_stats_main;
void _mi_stats_init(void);
void _mi_stats_flush(mi_tld_t* tld);  // the thread's counters into the process's (tick, exit)
void _mi_stat_increase(mi_stat_atomic_t* stat, size_t amount);
void _mi_stat_decrease(mi_stat_atomic_t* stat, size_t amount);
void _mi_stat_counter_add(_Atomic(int64_t)* counter, size_t amount);
// The block figures mallinfo needs (stats.c says what they are and how fresh).
void _mi_stats_usage(size_t* used, size_t* free_count, size_t* free_bytes, size_t* small_count,
                     size_t* small_bytes, size_t* page_bytes, size_t* huge_count);

// malloc-glibc.c: give back free memory now (malloc_trim); the bytes returned meanwhile.
size_t _mi_trim(void);
#define mi_stat_increase(name, n)   _mi_stat_increase(&_mi_stats_main.name, n)
#define mi_stat_decrease(name, n)   _mi_stat_decrease(&_mi_stats_main.name, n)
#define mi_stat_counter_add(name, n) _mi_stat_counter_add(&_mi_stats_main.name, n)

// random.c
void     _mi_random_init(mi_random_ctx_t* ctx);
uint64_t _mi_random_next(mi_random_ctx_t* ctx);
uint64_t _mi_random_weak(uint64_t extra);

/* ---------------------------------------------------------------------------------------------
   Arithmetic helpers.
--------------------------------------------------------------------------------------------- */
static inline bool _mi_is_power_of_two(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static inline size_t _mi_align_up(size_t sz, size_t alignment) {
  mi_assert_internal(_mi_is_power_of_two(alignment));
  return (sz + alignment - 1) & ~(alignment - 1);
}

static inline size_t _mi_divide_up(size_t size, size_t divider) {
  return (size + divider - 1) / divider;
}

static inline size_t mi_bsr(size_t x) {  // index of the highest set bit; x != 0
  return (size_t)(63 - __builtin_clzll((unsigned long long)x));
}

// Multiply with overflow detection; true on overflow.
static inline bool mi_mul_overflow(size_t count, size_t size, size_t* total) {
  return __builtin_mul_overflow(count, size, total);
}

// Fail an allocation: errno = ENOMEM, NULL.
static inline void* mi_enomem(void) {
  errno = ENOMEM;
  return NULL;
}

// count * size overflowed: EOVERFLOW to the error handler, NULL with errno ENOMEM (C says ENOMEM).
void* _mi_alloc_overflow(size_t count, size_t size) mi_decl_noinline;

/* ---------------------------------------------------------------------------------------------
   Size classes (see types.h): bin of a size, and the block size of a bin.
--------------------------------------------------------------------------------------------- */
static inline size_t _mi_bin(size_t size) {
  if (size <= MI_BIN_SMALL_STEPS * MI_GRANULE_SIZE) {
    return size <= MI_GRANULE_SIZE ? 1 : (size + MI_GRANULE_SIZE - 1) >> MI_GRANULE_SHIFT;
  }
  if (size > MI_LARGE_OBJ_SIZE_MAX) return MI_BIN_HUGE;
  const size_t s = size - 1;
  const size_t b = mi_bsr(s);  // >= 7
  return MI_BIN_SMALL_STEPS + 1 + (b - 7) * 8 + ((s >> (b - 3)) & 7);
}

static inline size_t _mi_bin_size(size_t bin) {
  mi_assert_internal(bin >= 1 && bin <= MI_BIN_LARGE_MAX);
  if (bin <= MI_BIN_SMALL_STEPS) return bin * MI_GRANULE_SIZE;
  const size_t j = bin - MI_BIN_SMALL_STEPS - 1;
  return (size_t)(9 + (j % 8)) << (7 + j / 8 - 3);
}

/* ---------------------------------------------------------------------------------------------
   Pointer to segment, page and block.
--------------------------------------------------------------------------------------------- */
// The "- 1" sends NULL to an address beyond the map, and lets a block that starts exactly at a
// 32 MiB boundary (huge alignment) find the header 32 MiB below it.
static inline mi_segment_t* _mi_ptr_segment(const void* p) {
  return (mi_segment_t*)(((uintptr_t)p - 1) & ~(uintptr_t)MI_SEGMENT_MASK);
}

// Is `segment` a live shardalloc segment? False for NULL and for any foreign pointer.
static inline bool _mi_segment_map_contains(const mi_segment_t* segment) {
  const size_t index = ((uintptr_t)segment >> MI_SEGMENT_SHIFT) & (MI_SEGMENT_MAP_BITS - 1);
  return mi_atomic_load_relaxed(&_mi_segment_map_live[index]) != 0;
}

static inline mi_segment_t* _mi_page_segment(const mi_page_t* page) {
  return _mi_ptr_segment(page);  // descriptors live in the segment header
}

// The index of the first slice of the page that holds p (p in segment's frame).
static inline size_t _mi_segment_page_index_of(const mi_segment_t* segment, const void* p) {
  const size_t idx = ((uintptr_t)p - (uintptr_t)segment) >> MI_SLICE_SHIFT;
  mi_assert_internal(idx <= MI_SLICES_PER_SEGMENT);
  return segment->slice_page[idx];
}

static inline mi_page_t* _mi_segment_page_of(const mi_segment_t* segment, const void* p) {
  return (mi_page_t*)&segment->slices[_mi_segment_page_index_of(segment, p)];
}

// The first slice of the page or span that `slice` belongs to.
static inline mi_page_t* _mi_slice_first(const mi_page_t* slice) {
  mi_segment_t* const segment = _mi_ptr_segment(slice);
  return &segment->slices[segment->slice_page[slice - segment->slices]];
}

static inline mi_page_t* _mi_ptr_page(const void* p) {
  return _mi_segment_page_of(_mi_ptr_segment(p), p);
}

// The segment of any block we handed out, also a displaced huge block; NULL if not ours.
static inline mi_segment_t* _mi_ptr_segment_checked(const void* p) {
  mi_segment_t* segment = _mi_ptr_segment(p);
  if (mi_likely(_mi_segment_map_contains(segment))) return segment;
  return (p == NULL ? NULL : _mi_segment_map_displaced_lookup(p));
}

static inline uint8_t* mi_page_start(const mi_page_t* page) { return page->page_start; }

static inline size_t mi_page_block_size(const mi_page_t* page) { return page->block_size; }

static inline mi_heap_t* mi_page_heap(const mi_page_t* page) {
  return (mi_heap_t*)mi_atomic_load_relaxed(&((mi_page_t*)page)->xheap);
}

static inline void mi_page_set_heap(mi_page_t* page, mi_heap_t* heap) {
  mi_atomic_store_release(&page->xheap, (uintptr_t)heap);
}

// The page's owner word and thread_free word, in its segment's arrays.
static inline _Atomic(uintptr_t)* mi_page_owner_word(const mi_page_t* page) {
  return &_mi_page_segment(page)->page_owner[page->slice_index];
}
// Slot of a page's thread_free word: pages 64 slices apart share a cache line, neighbours (often
// used at the same time by different threads) do not.
static inline size_t mi_tf_slot(size_t first_slice) {
  return ((first_slice & 63) << 3) | (first_slice >> 6);
}
static inline _Atomic(uintptr_t)* mi_page_thread_free_word(const mi_page_t* page) {
  return &_mi_page_segment(page)->page_thread_free[mi_tf_slot(page->slice_index)];
}

static inline uintptr_t mi_page_flags(const mi_page_t* page) {
  return mi_atomic_load_relaxed(mi_page_owner_word(page)) & MI_PAGE_FLAGS_MASK;
}
// The thread that owns the page (0: abandoned, or not in use).
static inline mi_threadid_t mi_page_owner(const mi_page_t* page) {
  return mi_atomic_load_relaxed(mi_page_owner_word(page)) & ~MI_PAGE_FLAGS_MASK;
}
// The page changes hands (init, abandon, adoption, fork); its flags stay.
static inline void mi_page_set_owner(mi_page_t* page, mi_threadid_t owner) {
  const uintptr_t flags = mi_page_flags(page);
  mi_atomic_store_relaxed(mi_page_owner_word(page), owner | flags);
}
static inline bool mi_page_is_in_full(const mi_page_t* page) {
  return (mi_page_flags(page) & MI_PAGE_IN_FULL) != 0;
}
static inline bool mi_page_has_aligned(const mi_page_t* page) {
  return (mi_page_flags(page) & MI_PAGE_HAS_ALIGNED) != 0;
}
// Owner only: a plain read-modify-write is enough, others only read.
static inline void mi_page_set_flag(mi_page_t* page, uintptr_t flag, bool on) {
  _Atomic(uintptr_t)* const word = mi_page_owner_word(page);
  const uintptr_t w = mi_atomic_load_relaxed(word);
  mi_atomic_store_relaxed(word, on ? (w | flag) : (w & ~flag));
}

static inline mi_page_queue_t* _mi_heap_page_queue_of(mi_heap_t* heap, const mi_page_t* page) {
  return &heap->pages[mi_page_is_in_full(page) ? MI_BIN_FULL : page->bin];
}

static inline bool mi_page_immediate_available(const mi_page_t* page) { return page->free != NULL; }

static inline bool mi_page_all_free(const mi_page_t* page) { return page->used == 0; }

// How far `diff` bytes from the page start lie past the start of their block, without a division
// for the usual sizes (powers of two and the classes of small and medium pages).
static inline size_t mi_page_block_offset(const mi_page_t* page, size_t diff) {
  if (page->block_size_shift != 0) return diff & (((size_t)1 << page->block_size_shift) - 1);
  if (page->block_size_recip != 0) {
    const size_t index = (size_t)(((uint64_t)diff * page->block_size_recip) >> 36);
    return diff - index * page->block_size;
  }
  return diff % page->block_size;
}

/* ---------------------------------------------------------------------------------------------
   The one pair through which free-list links are read and written. `keys` are the secrets of the
   list's owner (a page or a heap); plain builds store the pointer as is.
--------------------------------------------------------------------------------------------- */
#if SA_SECURE >= 3
// Encoded link: rotate (p ^ k0) left by k1 % 64, add k1. NULL encodes to a key-dependent value.
static inline uintptr_t mi_rotl(uintptr_t x, unsigned r) {
  r &= 63;
  return (r == 0 ? x : (x << r) | (x >> (64 - r)));
}
static inline uintptr_t mi_rotr(uintptr_t x, unsigned r) {
  r &= 63;
  return (r == 0 ? x : (x >> r) | (x << (64 - r)));
}
#endif

// A word in a block: a huge block placed for an aligned_at offset may start at any byte, so its
// link and canary are read and written without assuming alignment (one plain move on x86-64).
static inline uintptr_t mi_word_load(const void* p) {
  uintptr_t w;
  memcpy(&w, p, sizeof(w));
  return w;
}
static inline void mi_word_store(void* p, uintptr_t w) { memcpy(p, &w, sizeof(w)); }

// The keys a page's lists are encoded with (secure builds), NULL otherwise.
#if SA_SECURE >= 3
#define mi_page_keys(page) ((page)->keys)
#else
#define mi_page_keys(page) ((void)(page), (const uintptr_t*)NULL)
#endif

// (Memory checkers: a free block is inaccessible but for the moment its link is read or written.)
static inline mi_block_t* mi_block_nextx(const uintptr_t* keys, const mi_block_t* block) {
  mi_track_mem_defined(block, sizeof(mi_block_t));
  const uintptr_t word = mi_word_load(block);
#if SA_SECURE >= 3
  mi_block_t* next = (mi_block_t*)(mi_rotr(word - keys[1], (unsigned)keys[1]) ^ keys[0]);
#else
  (void)keys;
  mi_block_t* next = (mi_block_t*)word;
#endif
  mi_track_mem_noaccess(block, sizeof(mi_block_t));
  return next;
}

static inline void mi_block_set_nextx(const uintptr_t* keys, mi_block_t* block,
                                      const mi_block_t* next) {
  mi_track_mem_undefined(block, sizeof(mi_block_t));
#if SA_SECURE >= 3
  mi_word_store(block, mi_rotl((uintptr_t)next ^ keys[0], (unsigned)keys[1]) + keys[1]);
#else
  (void)keys;
  mi_word_store(block, (uintptr_t)next);
#endif
  mi_track_mem_noaccess(block, sizeof(mi_block_t));
}

#if SA_SECURE >= 3
void _mi_secure_bad_link(const mi_page_t* page, const mi_block_t* block, const mi_block_t* next)
    mi_decl_cold;
// The malloc hit path found the first free block's link damaged: reports it (abort by default);
// with an error handler that returns, drops the page's free list and allocates elsewhere.
void* _mi_page_malloc_bad_link(mi_heap_t* heap, mi_page_t* page, size_t size, bool zero)
    mi_decl_cold;
// Does `p` lie in the page's handed-out blocks (or is it NULL)? A link that fails this was not
// written by the allocator (a range test: cheap enough for every pop).
static inline bool mi_page_is_block_or_null(const mi_page_t* page, const void* p) {
  // (one unsigned comparison: an address below the page wraps around to a huge distance)
  const size_t diff = (uintptr_t)p - (uintptr_t)page->page_start;
  return p == NULL || diff < (size_t)page->capacity * page->block_size;
}
#endif

static inline mi_block_t* mi_block_next(const mi_page_t* page, const mi_block_t* block) {
#if SA_SECURE >= 3
  mi_block_t* next = mi_block_nextx(mi_page_keys(page), block);
  if (mi_unlikely(!mi_page_is_block_or_null(page, next))) {
    _mi_secure_bad_link(page, block, next);  // does not return unless a handler is registered
    return NULL;
  }
  return next;
#else
  return mi_block_nextx(mi_page_keys(page), block);
#endif
}

#if SA_SECURE >= 3
// The canary in a block's last 8 bytes: its address mixed with the page's keys.
static inline uintptr_t mi_block_canary(const mi_page_t* page, const void* block) {
  return (((uintptr_t)block ^ page->keys[1]) * 0x9E3779B97F4A7C15ull) ^ page->keys[0];
}
static inline void* mi_block_canary_at(const mi_page_t* page, const void* block) {
  return (uint8_t*)block + page->block_size - MI_PADDING;
}
static inline uintptr_t mi_block_canary_read(const mi_page_t* page, const void* block) {
  return mi_word_load(mi_block_canary_at(page, block));
}
static inline void mi_block_canary_write(const mi_page_t* page, void* block, uintptr_t canary) {
  mi_word_store(mi_block_canary_at(page, block), canary);
}
// From level 4 a freed block carries the complement of its canary until it is handed out again:
// a second free of it finds that (the program cannot write there without overflowing the block).
static inline uintptr_t mi_block_canary_freed(const mi_page_t* page, const void* block) {
  return ~mi_block_canary(page, block);
}
#endif

// The secure checks of the free hit path (the owner frees into a page that is neither full nor
// holds aligned blocks): from level 4 p is the start of a block handed out, and from level 3 the
// segment's cookie and the block's canary are intact. A failure is not reported here: the free
// goes on to _mi_free_generic, which checks again and tells what is wrong.
static mi_decl_always_inline bool mi_free_check_local(const mi_segment_t* segment,
                                                      const mi_page_t* page, const void* p) {
#if SA_SECURE >= 4
  // p must be the start of a block handed out. The range test keeps the canary read below inside
  // the blocks threaded so far (p + block_size <= page_start + capacity * block_size; an address
  // below the page wraps around and reads at most block_size bytes before page_start, in the
  // same segment). A pointer inside a block, or at a block never handed out, fails the canary
  // test instead: the word read there is another block's data or link, or a freed mark, never
  // the canary the page's secret keys give that address (but with probability 2^-64); the
  // generic path then tells exactly what p is.
  const size_t diff = (size_t)((const uint8_t*)p - page->page_start);
  if (diff + page->block_size > (size_t)page->capacity * page->block_size) return false;
#endif
#if SA_SECURE >= 3
  return segment->cookie == ((uintptr_t)segment ^ _mi_process_cookie()) &&
         mi_block_canary_read(page, p) == mi_block_canary(page, p);
#else
  (void)segment;
  (void)page;
  (void)p;
  return true;
#endif
}

static inline void mi_block_set_next(const mi_page_t* page, mi_block_t* block,
                                     const mi_block_t* next) {
  mi_block_set_nextx(mi_page_keys(page), block, next);
}

/* ---------------------------------------------------------------------------------------------
   The thread_free word: the head of the list of blocks other threads freed (bits 0..47: every
   block lies below 2^47, in a frame of the segment map; any byte address, as a huge block placed
   for an aligned_at offset may be odd), the mi_delayed_t state (bits 48..49), and how many blocks
   the list holds (bits 50..63), so the owner takes the list and its length in one atomic step and
   need not walk it.
--------------------------------------------------------------------------------------------- */
#define MI_TF_BLOCK_BITS   48
#define MI_TF_BLOCK_MASK   (((uintptr_t)1 << MI_TF_BLOCK_BITS) - 1)
#define MI_TF_COUNT_SHIFT  (MI_TF_BLOCK_BITS + 2)
#define MI_TF_COUNT_ONE    ((uintptr_t)1 << MI_TF_COUNT_SHIFT)
_Static_assert(MI_SEGMENT_MAP_BITS * MI_SEGMENT_SIZE <= ((uintptr_t)1 << MI_TF_BLOCK_BITS),
               "block addresses fit the thread_free word");
_Static_assert(MI_PAGE_BLOCKS_MAX < ((uintptr_t)1 << (64 - MI_TF_COUNT_SHIFT)),
               "a page's block count fits the thread_free word");

static inline mi_block_t* mi_tf_block(uintptr_t tf) { return (mi_block_t*)(tf & MI_TF_BLOCK_MASK); }
static inline mi_delayed_t mi_tf_delayed(uintptr_t tf) {
  return (mi_delayed_t)((tf >> MI_TF_BLOCK_BITS) & 0x03);
}
static inline size_t mi_tf_count(uintptr_t tf) { return (size_t)(tf >> MI_TF_COUNT_SHIFT); }
// An empty list in state `delayed`.
static inline uintptr_t mi_tf_empty(mi_delayed_t delayed) {
  return (uintptr_t)delayed << MI_TF_BLOCK_BITS;
}
static inline uintptr_t mi_tf_set_delayed(uintptr_t tf, mi_delayed_t delayed) {
  return (tf & ~((uintptr_t)0x03 << MI_TF_BLOCK_BITS)) | ((uintptr_t)delayed << MI_TF_BLOCK_BITS);
}
// `block` pushed onto the list (its link must already point at the old head).
static inline uintptr_t mi_tf_push(uintptr_t tf, const mi_block_t* block) {
  return ((tf & ~MI_TF_BLOCK_MASK) + MI_TF_COUNT_ONE) | (uintptr_t)block;
}
// The list taken away: empty, the state kept.
static inline uintptr_t mi_tf_take(uintptr_t tf) { return mi_tf_empty(mi_tf_delayed(tf)); }
static inline mi_block_t* mi_page_thread_free(const mi_page_t* page) {
  return mi_tf_block(mi_atomic_load_relaxed(mi_page_thread_free_word(page)));
}
// Every block of the page is free, counting those other threads freed (still on its thread_free
// list, which goes with the page if it is freed): no list is taken or walked. (A remote free that
// lands meanwhile was of a block counted as used, so a `true` stays true.)
static inline bool mi_page_all_free_now(const mi_page_t* page) {
  return page->used == mi_tf_count(mi_atomic_load_acquire(mi_page_thread_free_word(page)));
}

/* ---------------------------------------------------------------------------------------------
   Thread and heap.
--------------------------------------------------------------------------------------------- */
static inline mi_threadid_t _mi_thread_id(void) { return _mi_prim_thread_id(); }

static inline mi_heap_t* mi_prim_get_default_heap(void) { return _mi_heap_default; }

static inline bool mi_heap_is_initialized(const mi_heap_t* heap) { return heap != &_mi_heap_empty; }

static inline mi_page_t* _mi_heap_get_free_small_page(mi_heap_t* heap, size_t size) {
  mi_assert_internal(size <= MI_SMALL_SIZE_MAX);
  return heap->pages_free_direct[(size + MI_GRANULE_SIZE - 1) >> MI_GRANULE_SHIFT];
}

/* ---------------------------------------------------------------------------------------------
   The malloc hit path: pop the page's free list. Anything else goes to _mi_malloc_generic.
--------------------------------------------------------------------------------------------- */
static mi_decl_always_inline void* _mi_page_malloc_zero(mi_heap_t* heap, mi_page_t* page,
                                                        size_t size, bool zero) {
  mi_block_t* const block = page->free;
  if (mi_unlikely(block == NULL)) return _mi_malloc_generic(heap, size, zero, 0, 0);
#if SA_SECURE >= 3
  mi_block_t* const next = mi_block_nextx(mi_page_keys(page), block);
  if (mi_unlikely(!mi_page_is_block_or_null(page, next))) {
    return _mi_page_malloc_bad_link(heap, page, size, zero);  // (a tail call: no frame here)
  }
  page->free = next;
#else
  page->free = mi_block_next(page, block);
#endif
  page->used++;
  mi_assert_internal(page->used <= page->capacity);
  mi_track_malloc(block, mi_page_block_size(page) - MI_PADDING, zero && page->free_is_zero);
  if (mi_unlikely(zero)) {
    if (page->free_is_zero) {
      mi_word_store(block, 0);
    } else {
      memset(block, 0, mi_page_block_size(page));
    }
  }
#if SA_DEBUG >= 1
  else if (!page->is_huge) {
    memset(block, MI_DEBUG_UNINIT, mi_page_block_size(page));
  }
#endif
#if SA_SECURE >= 3
  if (!zero) mi_word_store(block, 0);  // no encoded link (made with the page's keys) left to read
  mi_block_canary_write(page, block, mi_block_canary(page, block));
#endif
  return block;
}

static mi_decl_always_inline void* mi_heap_malloc_inline(mi_heap_t* heap, size_t size, bool zero) {
#if MI_PADDING > 0
  size = (size > SIZE_MAX - MI_PADDING ? SIZE_MAX : size + MI_PADDING);  // room for the canary
#endif
  if (mi_likely(size <= MI_SMALL_SIZE_MAX)) {
    return _mi_page_malloc_zero(heap, _mi_heap_get_free_small_page(heap, size), size, zero);
  }
  return _mi_malloc_generic(heap, size, zero, 0, 0);
}

/* ---------------------------------------------------------------------------------------------
   The free hit path: a block of a page of this thread that is neither full nor holds aligned
   blocks goes onto the page's local_free list. NULL and foreign pointers fail the map test.
--------------------------------------------------------------------------------------------- */
static mi_decl_always_inline void mi_free_inline(void* p) {
  mi_segment_t* const segment = _mi_ptr_segment(p);
  if (mi_unlikely(!_mi_segment_map_contains(segment))) {
    _mi_free_foreign(p);
    return;
  }
  const size_t index = _mi_segment_page_index_of(segment, p);
  mi_page_t* const page = &segment->slices[index];
#if SA_DEBUG >= 1
  _mi_free_generic(segment, index, p);  // debug builds check every pointer there first
  return;
#endif
  // (owned by this thread, not full, no aligned blocks: one compare)
  if (mi_likely(mi_atomic_load_relaxed(&segment->page_owner[index]) == _mi_thread_id() &&
                mi_free_check_local(segment, page, p))) {
    mi_block_t* const block = (mi_block_t*)p;
#if SA_SECURE >= 4
    mi_block_canary_write(page, block, mi_block_canary_freed(page, block));
#endif
#if MI_TRACK_ENABLED
    mi_track_free(block);
    mi_track_mem_noaccess(block, mi_page_block_size(page));
#endif
    mi_block_set_next(page, block, page->local_free);
    page->local_free = block;
    if (mi_unlikely(--page->used == 0)) _mi_page_retire(page);
    return;
  }
  _mi_free_generic(segment, index, p);
}

#endif
