/* Core types of shardalloc: sizes, blocks, pages, segments, heaps and thread-local data, with the
 * invariants each structure keeps. Fields that other threads read or write are tagged [shared];
 * everything else belongs to the owning thread. No code lives here. */
#pragma once
#ifndef SA_TYPES_H
#define SA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "mimalloc.h"        // MI_SMALL_SIZE_MAX, mi_option_t
#include "mimalloc-stats.h"  // mi_stat_count_t, and the public mi_stats_t that stats.c fills

#ifndef SA_DEBUG
#define SA_DEBUG 0
#endif

/* ---------------------------------------------------------------------------------------------
   Sizes. A segment is 32 MiB aligned to its size; it is cut into 64 KiB slices; a page is a run of
   slices holding blocks of one size.
--------------------------------------------------------------------------------------------- */
#define MI_INTPTR_SIZE        8
#define MI_SEGMENT_SHIFT      25
#define MI_SLICE_SHIFT        16
#define MI_SEGMENT_SIZE       ((size_t)1 << MI_SEGMENT_SHIFT)     // 32 MiB
#define MI_SEGMENT_MASK       (MI_SEGMENT_SIZE - 1)
#define MI_SLICE_SIZE         ((size_t)1 << MI_SLICE_SHIFT)       // 64 KiB
#define MI_SLICES_PER_SEGMENT (MI_SEGMENT_SIZE / MI_SLICE_SIZE)   // 512

#define MI_SMALL_PAGE_SIZE    MI_SLICE_SIZE                       // 64 KiB
#define MI_MEDIUM_PAGE_SLICES 8
#define MI_MEDIUM_PAGE_SIZE   (MI_MEDIUM_PAGE_SLICES * MI_SLICE_SIZE) // 512 KiB
#define MI_SMALL_OBJ_SIZE_MAX (MI_SMALL_PAGE_SIZE / 8)            // 8 KiB
#define MI_MEDIUM_OBJ_SIZE_MAX (MI_MEDIUM_PAGE_SIZE / 8)          // 64 KiB
#define MI_LARGE_OBJ_SIZE_MAX (MI_SEGMENT_SIZE / 2)               // 16 MiB: above is huge
#define MI_THP_UNIT           ((size_t)2 << 20)                   // a transparent huge page
#define MI_THP_UNIT_SLICES    (MI_THP_UNIT / MI_SLICE_SIZE)       // 32

#define MI_MAX_ALIGN_SIZE     16          // every block is aligned at least to this
#define MI_GRANULE_SHIFT      4
#define MI_GRANULE_SIZE       ((size_t)1 << MI_GRANULE_SHIFT)
// MI_SMALL_SIZE_MAX (mimalloc.h): 1024, the sizes served through the direct page table
#define MI_PAGES_DIRECT       (MI_SMALL_SIZE_MAX / MI_GRANULE_SIZE + 1)   // indexed by granules

// Alignments up to this are served by over-allocating inside a page; larger ones get a huge segment
// placed so that the block lands on the alignment.
#define MI_BLOCK_ALIGNMENT_MAX (MI_SEGMENT_SIZE / 2)
// Largest request we try to satisfy; beyond it the answer is ENOMEM without asking the OS.
#define MI_MAX_ALLOC_SIZE     ((size_t)PTRDIFF_MAX - 2 * MI_SEGMENT_SIZE)

/* Size classes ("bins"): 16-byte steps up to 128 B (bins 1..8), then 8 classes per power of two
   up to 16 MiB (bins 9..144), so a request > 128 B wastes at most 1/8 of itself. Bin 0 is unused.
   All blocks above 64 KiB live one per page; requests above 16 MiB are huge (own segment). */
#define MI_BIN_SMALL_STEPS    8
#define MI_BIN_LARGE_MAX      (MI_BIN_SMALL_STEPS + 8 * (24 - 7))   // 144: the 16 MiB class
#define MI_BIN_HUGE           (MI_BIN_LARGE_MAX + 1)                // pages with one huge block
#define MI_BIN_FULL           (MI_BIN_HUGE + 1)                     // pages without free blocks

_Static_assert(MI_SEGMENT_SIZE % MI_SLICE_SIZE == 0, "a segment is a whole number of slices");
_Static_assert(MI_SLICES_PER_SEGMENT == 512, "slice masks below assume 512 slices");
_Static_assert(MI_SMALL_SIZE_MAX <= MI_SMALL_OBJ_SIZE_MAX, "direct sizes must be small objects");
_Static_assert(MI_MEDIUM_PAGE_SIZE <= MI_SEGMENT_SIZE / 8, "medium pages must fit many times");
_Static_assert((MI_GRANULE_SIZE & (MI_GRANULE_SIZE - 1)) == 0, "granule is a power of two");
_Static_assert(MI_MAX_ALIGN_SIZE == MI_GRANULE_SIZE, "every class is a multiple of the alignment");
_Static_assert(MI_BIN_FULL <= 255, "a page stores its bin in a byte");

/* ---------------------------------------------------------------------------------------------
   Blocks and free lists. A free block's first word links to the next free block. The link is only
   ever read or written through mi_block_nextx / mi_block_set_nextx (internal.h), so that a secure
   build can encode it without touching the code that walks the lists.
--------------------------------------------------------------------------------------------- */
typedef uintptr_t mi_encoded_t;
typedef struct mi_block_s {
  mi_encoded_t next;
} mi_block_t;

typedef uintptr_t mi_threadid_t;

/* The `thread_free` word of a page is a block pointer with a 2-bit state in its low bits, telling a
   freeing thread whether the owner wants to hear about the free through its heap (the page sits in
   the full queue, where the owner never looks). */
typedef enum mi_delayed_e {
  MI_USE_DELAYED_FREE   = 0,  // page is full: push the next free onto the heap's delayed list
  MI_DELAYED_FREEING    = 1,  // a thread is doing that push right now (the heap must stay alive)
  MI_NO_DELAYED_FREE    = 2,  // plain push onto the page's thread_free list
  MI_NEVER_DELAYED_FREE = 3   // sticky: the page is abandoned or its heap is going away
} mi_delayed_t;

/* A page's owner word (in its segment's page_owner array): the owning thread's id (0 while the
   page is abandoned or not in use) with two flags in its low bits (thread ids are at least 8-byte
   aligned). The free hit path is a block of a page whose word equals the freeing thread's id:
   owned, not in the full queue, no aligned blocks, in one compare. Atomic (relaxed): other threads
   read it (is the page theirs? does it hold aligned blocks?); only the owner, or the thread that
   abandons or adopts the page, writes it. */
#define MI_PAGE_IN_FULL     ((uintptr_t)0x01)
#define MI_PAGE_HAS_ALIGNED ((uintptr_t)0x02)
#define MI_PAGE_FLAGS_MASK  ((uintptr_t)0x03)

/* ---------------------------------------------------------------------------------------------
   Pages. A page descriptor is also a slice descriptor: a segment has one per 64 KiB slice, and a
   page (or a free span) is described by its first slice; the segment's slice_page array maps
   every slice of a page to the first, so any interior pointer finds its page. The descriptor holds
   what the owner reads and writes; the words other threads use (owner, thread_free) live in
   arrays of the segment header, so that a remote free never touches a line the owner writes on
   every malloc and free.
   Invariants of a page in use (block_size > 0):
     capacity <= reserved;  blocks [0, capacity) have been threaded into lists at least once;
     used - |thread_free| = live blocks;
     used - |thread_free| + |free| + |local_free| = capacity.
   A free span has block_size == 0 and is linked (next/prev) into its segment tld's span queue.
--------------------------------------------------------------------------------------------- */
typedef struct mi_page_s {
  // slice bookkeeping
  uint32_t slice_count;          // slices in this page or span (valid in its first slice)
  uint16_t slice_index;          // this descriptor's index in its segment (page_owner, ...)
  // constant while the page is in use (other threads may read them):
  uint8_t  is_committed : 1;     // memory is committed (always, until purging lands)
  uint8_t  is_zero_init : 1;     // the page memory was zero when the page was carved
  uint8_t  is_huge : 1;          // the only page of a huge segment
  uint8_t  : 0;                  // (the owner-only bits below get a byte of their own)
  // owner only:
  uint8_t  free_is_zero : 1;     // every block in `free` is known to be zero
  uint8_t  retire_expire : 7;    // countdown before a retired (empty) page goes back to its segment
  uint8_t  heap_tag;
  uint8_t  block_size_shift;     // log2(block_size) if a power of two, else 0
  uint8_t  bin;                  // size class: index of the page's queue (MI_BIN_HUGE if huge)
  // block counts (a page holds at most MI_PAGE_BLOCKS_MAX blocks)
  uint16_t used;                 // blocks handed out and not yet freed by the owner
  uint16_t capacity;             // blocks threaded into the lists so far (lazy extension)
  uint16_t reserved;             // blocks that fit in the page
  uint32_t block_size_recip;     // ceil(2^36 / block_size) for other sizes of medium pages or
                                 // smaller (block index = offset * recip >> 36, exact), else 0
  // the fast-path fields
  mi_block_t* free;              // blocks malloc pops
  mi_block_t* local_free;        // blocks freed by the owner, swapped into `free` when it is empty
  size_t   block_size;           // 0 for a free span; 1 marks the segment's info slices
  uint8_t* page_start;           // address of block 0
#if defined(SHARDALLOC_SECURE) && SHARDALLOC_SECURE >= 3
  uintptr_t keys[2];             // per-page secrets: encoded free lists, canaries (secure builds)
#endif
  _Atomic(uintptr_t) xheap;      // [shared] owning heap, read by remote frees of full pages
  struct mi_page_s* next;        // page queue or span queue links (owner only)
  struct mi_page_s* prev;
} mi_page_t;

// The most blocks a page can hold: a small page of 16-byte blocks (medium pages hold blocks above
// 8 KiB, large and huge pages one block), so block counts fit 16 bits.
#define MI_PAGE_BLOCKS_MAX (MI_SMALL_PAGE_SIZE / MI_GRANULE_SIZE)
_Static_assert(MI_PAGE_BLOCKS_MAX <= UINT16_MAX, "block counts are 16-bit");
_Static_assert(MI_MEDIUM_PAGE_SIZE / MI_SMALL_OBJ_SIZE_MAX <= MI_PAGE_BLOCKS_MAX, "medium pages");

typedef enum mi_page_kind_e {
  MI_PAGE_SMALL,   // blocks <= 8 KiB, one 64 KiB slice
  MI_PAGE_MEDIUM,  // blocks <= 64 KiB, 512 KiB
  MI_PAGE_LARGE,   // one block <= 16 MiB, a run of slices
  MI_PAGE_HUGE     // one block, its own segment
} mi_page_kind_t;

/* ---------------------------------------------------------------------------------------------
   Memory provenance: where a segment's memory came from, so it goes back to the same place.
--------------------------------------------------------------------------------------------- */
typedef enum mi_memkind_e {
  MI_MEM_NONE,
  MI_MEM_OS,      // mapped directly from the OS, unmapped on release
  MI_MEM_ARENA,   // blocks of an arena
  MI_MEM_STATIC   // part of the library image, never released
} mi_memkind_t;

typedef struct mi_memid_s {
  mi_memkind_t kind;
  void*  base;               // start of the OS mapping (MI_MEM_OS) — may precede the segment
  size_t size;               // size of the OS mapping (MI_MEM_OS)
  size_t arena_index;        // MI_MEM_ARENA: which arena
  size_t block_index;        // MI_MEM_ARENA: first arena block
  size_t block_count;        // MI_MEM_ARENA: number of blocks
  int    exclusive_arena;    // MI_MEM_ARENA: the arena's id if it is exclusive, else 0
  bool   no_purge;           // the program's memory or huge OS pages: never purged
  bool   initially_zero;     // the memory was zero when handed out
  bool   initially_committed;
} mi_memid_t;

/* ---------------------------------------------------------------------------------------------
   Segments. 32 MiB aligned, so `segment = (p - 1) & ~MI_SEGMENT_MASK`. The header sits in the
   first slice(s): the segment fields, then one descriptor per slice (+1 for a pointer at the very
   end, reached through the "- 1" of the lookup).
   Invariants: used = pages carved (info span and free spans excluded); a normal segment is freed
   when used drops to 0; thread_id is the owner, 0 while abandoned.
--------------------------------------------------------------------------------------------- */
#define MI_SLICE_MASK_FIELDS (MI_SLICES_PER_SEGMENT / 64)
typedef struct mi_slice_mask_s {
  uint64_t bits[MI_SLICE_MASK_FIELDS];
} mi_slice_mask_t;

/* A purge pass (purge.c): its clock and decay time; what the sources purged and what stays. */
typedef struct mi_purge_pass_s {
  uint32_t  now;       // _mi_purge_clock() at the start of the pass
  long long decay;     // D, ms (> 0)
  bool      force;     // purge everything pending
  size_t    pending;   // bytes left pending
  size_t    pending_spans;  // of those, free spans inside segments (the rest: whole arena blocks
                            // and cached huge mappings)
  size_t    purged;    // bytes purged
  size_t    watched;   // of those, bytes whose refault is watched (free slices of segments)
} mi_purge_pass_t;

typedef enum mi_segment_kind_e { MI_SEGMENT_NORMAL, MI_SEGMENT_HUGE } mi_segment_kind_t;

typedef struct mi_segment_s {
  _Atomic(mi_threadid_t) thread_id;  // [shared] owner; read by every free (first field: hot)
  uintptr_t cookie;                  // segment address ^ process secret, checked in secure builds
  mi_segment_kind_t kind;
  uint32_t segment_slices;           // slices covered by the descriptors in use
  uint32_t segment_info_slices;      // slices taken by this header
  size_t   segment_size;             // bytes from the segment start to its end
  size_t   used;                     // pages in use
  size_t   abandoned;                // pages abandoned (all of `used` once the owner exited)
  mi_memid_t memid;
  mi_slice_mask_t dirty_mask;        // slices written since the memory was last known zero
  // Pending memory (purge.c): the masks, stamps and counts below change under mask_lock only,
  // since a purge pass of any thread looks at owned segments too.
  mi_slice_mask_t purge_mask;        // free dirty slices not purged yet
  mi_slice_mask_t purged_mask;       // free slices a pass purged (at purge_since), not written since
  _Atomic(uint32_t) purge_count;     // [shared] slices set in purge_mask (read without the lock)
  _Atomic(uint8_t) mask_lock;        // [shared] guards the masks, stamps and counts
  _Atomic(uint32_t) huge_free_since; // [shared] huge: the block was freed by another thread then
  size_t huge_purged;                // huge: bytes of the block purged since (under mask_lock)
  struct mi_segment_s* abandoned_next; // link in the global abandoned list [shared, under lock]
  bool from_fork;                    // a thread that vanished in a fork() left it: its pages'
                                     // lists are checked before anyone adopts or visits it
  struct mi_subproc_s* subproc;      // while abandoned: the sub-process whose threads may adopt
                                     // it (NULL: the main one); NULL while owned
  size_t visit_epoch;                // the last mi_abandoned_visit_blocks walk that saw it
  uint8_t* displaced_block;          // huge block outside this header's frame (see segment-map.c)
  uint16_t thp_units;                // 2 MiB units advised for huge pages (big blocks' memory:
                                     // see mi_segment_thp_carve); changed by the owner only
  // Per slice, apart from the descriptors (each array on lines of its own):
  _Alignas(64) uint16_t slice_page[MI_SLICES_PER_SEGMENT + 1];  // [shared] the index of the first
                                     // slice of the page or span each slice is part of (of a free
                                     // span's middle slices: stale); written when pages are carved
  _Alignas(64) _Atomic(uintptr_t) page_owner[MI_SLICES_PER_SEGMENT];  // [shared] by first slice:
                                     // owner thread id | MI_PAGE_IN_FULL | MI_PAGE_HAS_ALIGNED
  _Alignas(64) _Atomic(uintptr_t) page_thread_free[MI_SLICES_PER_SEGMENT];  // [shared] remote
                                     // frees of a page (see mi_tf_*), at mi_tf_slot(first slice)
  _Alignas(64) mi_page_t slices[MI_SLICES_PER_SEGMENT + 1];
  uint32_t purge_since[MI_SLICES_PER_SEGMENT];  // of each slice in purge_mask: when it became free;
                                     // in purged_mask: when it was purged (_mi_purge_clock; under
                                     // mask_lock)
} mi_segment_t;

_Static_assert(sizeof(mi_segment_t) <= MI_SLICE_SIZE, "segment header must fit in one slice");
_Static_assert(MI_SEGMENT_SIZE / MI_THP_UNIT <= 16, "thp_units has a bit per 2 MiB unit");

/* ---------------------------------------------------------------------------------------------
   Queues. A page queue holds the pages of one size class of one heap; a span queue holds free
   slice runs of one size range of one thread.
--------------------------------------------------------------------------------------------- */
typedef struct mi_page_queue_s {
  mi_page_t* first;
  mi_page_t* last;
  size_t block_size;
} mi_page_queue_t;

typedef struct mi_span_queue_s {
  mi_page_t* first;
  mi_page_t* last;
  size_t slice_count;   // spans in this queue have at most this many slices
} mi_span_queue_t;

#define MI_SEGMENT_BIN_MAX 15   // span bins: 1..8 exact, then one per power of two up to 512

/* ---------------------------------------------------------------------------------------------
   Randomness (random.c): a small counter-based generator seeded from the OS.
--------------------------------------------------------------------------------------------- */
typedef struct mi_random_ctx_s {
  uint64_t state[2];
} mi_random_ctx_t;

/* ---------------------------------------------------------------------------------------------
   Statistics kept per thread and merged at thread exit.
--------------------------------------------------------------------------------------------- */
// (mi_stat_count_t, {total, peak, current}, is the public one of mimalloc-stats.h.)
typedef struct mi_tld_stats_s {
  mi_stat_count_t segments;
  mi_stat_count_t pages;
  mi_stat_count_t huge;      // huge blocks (total only)
  int64_t pages_extended;           // (slow-path calls: the tld's heartbeat)
  int64_t flushed_extended;  // parts of the counts above already added to the process's figures
  int64_t flushed_generic;
  int64_t flushed_huge;
} mi_tld_stats_t;

// Process-wide statistics (stats.c): relaxed atomics, updated at OS, arena, segment, page events.
typedef struct mi_stat_atomic_s {
  _Atomic(int64_t) total, peak, current;
} mi_stat_atomic_t;

// (Not mi_stats_t: that is the public snapshot of these figures, see mimalloc-stats.h.)
typedef struct mi_stats_main_s {
  mi_stat_atomic_t reserved;            // bytes mapped from the OS
  mi_stat_atomic_t committed;           // bytes touched since mapped or last purged (resident
                                        // at most): dirty slices, dirty free arena blocks,
                                        // huge blocks and the huge-mapping cache
  mi_stat_atomic_t segments;
  mi_stat_atomic_t segments_abandoned;
  mi_stat_atomic_t pages;
  mi_stat_atomic_t pages_abandoned;
  mi_stat_atomic_t threads;
  mi_stat_atomic_t arenas;
  mi_stat_atomic_t malloc_huge;         // bytes in huge blocks (segment.c, huge segments)
  _Atomic(int64_t) purged;              // bytes given back (decommitted or reset)
  _Atomic(int64_t) purges;              // purge calls
  _Atomic(int64_t) mmaps;
  _Atomic(int64_t) pages_extended;
  _Atomic(int64_t) malloc_generic;      // slow-path calls
  _Atomic(int64_t) malloc_huge_count;   // huge blocks allocated
  _Atomic(int64_t) malloc_guarded_count; // blocks placed before a guard page (guarded.c)
} mi_stats_main_t;

/* ---------------------------------------------------------------------------------------------
   Thread-local data: one per thread, shared by all heaps of that thread.
--------------------------------------------------------------------------------------------- */
typedef struct mi_heap_s mi_heap_t;

/* A sub-process (mi_subproc_new): a group of threads whose abandoned segments only threads of the
   same group adopt. `refs` counts the handle (until mi_subproc_delete), the threads in it and its
   segments on the abandoned list; whoever drops it to 0 releases the record. The main
   sub-process is static and is named NULL inside the library. */
typedef struct mi_subproc_s {
  _Atomic(size_t) refs;   // [shared]
  mi_memid_t memid;       // where the record came from
} mi_subproc_t;

typedef struct mi_segments_tld_s {
  mi_span_queue_t spans[MI_SEGMENT_BIN_MAX + 1];  // free slice runs of this thread's segments
  mi_subproc_t* subproc;  // the thread's sub-process (NULL: the main one)
  size_t count;        // segments owned
  size_t peak_count;
} mi_segments_tld_t;

typedef struct mi_tld_s {
  unsigned long long heartbeat;   // slow-path calls, handed to deferred-free callbacks
  long long tick_next;            // clock (ms) at which the slow path next does periodic work
  unsigned long tick_events;      // page frees and frees into abandoned segments (they tick too)
  long collect_countdown;         // slow-path calls until the MIMALLOC_GENERIC_COLLECT sweep
  bool recurse;                   // inside a deferred-free callback
  mi_heap_t* heap_backing;        // the thread's default heap, freed at thread exit
  mi_heap_t* heaps;               // all heaps of the thread (list through heap->next)
  mi_segments_tld_t segments;
  mi_tld_stats_t stats;
} mi_tld_t;

/* ---------------------------------------------------------------------------------------------
   Heaps. A heap owns pages (through its queues); every page of a heap belongs to a segment of the
   heap's thread. A thread may have several heaps; each is used by that thread only, but blocks of
   any heap may be freed from any thread.
   Invariant: pages_free_direct[g] is the first page of the queue of the bin for g granules, or
   the static empty page when that queue is empty.
--------------------------------------------------------------------------------------------- */
struct mi_heap_s {
  mi_tld_t* tld;
  _Atomic(mi_block_t*) thread_delayed_free;  // [shared] frees into this heap's full pages
  mi_threadid_t thread_id;
  uintptr_t cookie;
  uintptr_t keys[2];
  mi_random_ctx_t random;
  size_t page_count;               // pages in all queues
  size_t page_retired_min;         // bins that may hold retired pages: [min, max]
  size_t page_retired_max;
  mi_heap_t* next;                 // next heap of the same thread
  bool   no_reclaim;               // do not adopt abandoned pages (first-class heaps)
  uint8_t tag;
  mi_arena_id_t arena_id;          // allocate only in this arena (0: shared arenas and the OS)
  // Guarded sampling (guarded.c). The hit path never looks at these: while the rate is not 0 the
  // slow path hands pages out with at most `guarded_countdown` blocks on their free lists, so it
  // runs again by the time the next sample is due.
  size_t generic_size_max;         // larger requests take the slow path's cold branch:
                                   // MI_MAX_ALLOC_SIZE, or 0 while the heap samples
  size_t guarded_rate;             // one eligible allocation in this many is guarded (0: none)
  size_t guarded_countdown;        // eligible allocations left before the next sample
  size_t guarded_size_min;         // eligible block sizes (size classes): [min, max]
  size_t guarded_size_max;
  uint64_t guarded_seed;           // state of the sampling sequence (deterministic for a seed)
  mi_page_t* pages_free_direct[MI_PAGES_DIRECT];
  mi_page_queue_t pages[MI_BIN_FULL + 1];
};

#endif
