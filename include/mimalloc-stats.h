/* shardalloc: the statistics as data, spelled as mimalloc 2.x's mimalloc-stats.h (statistics
   version 4, the field set of mimalloc 2.4.1). mi_stats_get fills an mi_stats_t, mi_stats_get_json
   writes the same figures as JSON. Separate from mimalloc.h, as in mimalloc: include this header
   (it includes mimalloc.h) to use them. Usable from C99 and C++. */
#ifndef MIMALLOC_STATS_H
#define MIMALLOC_STATS_H

#include <stdint.h> /* int64_t */

#include "mimalloc.h"

/* Layout version of mi_stats_t. A caller passes the version it was compiled with; the library
   refuses a layout it does not know. Fields are only ever appended within one version, which is
   what the caller's `size` allows for. */
#define MI_STAT_VERSION 4

/* Index of the last of the per-size-class entries in malloc_bins and page_bins (74 entries, as in
   mimalloc 2.x). It has its own name because shardalloc's size classes are not mimalloc's (the
   library's internal MI_BIN_HUGE is a different number); MI_BIN_HUGE is provided with this value
   for programs written for mimalloc, unless something defined it before. */
#define MI_STATS_BIN_HUGE 73
#if !defined(MI_BIN_HUGE) && !defined(SA_BUILD_LIB)
#define MI_BIN_HUGE MI_STATS_BIN_HUGE
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* An amount that goes up and down (bytes or a number of things): everything ever added, the
   highest level reached, and the level now. mi_stats_reset restarts total and peak from current. */
typedef struct mi_stat_count_s {
  int64_t total;
  int64_t peak;
  int64_t current;
} mi_stat_count_t;

/* An amount that only goes up (bytes or events) since start or the last mi_stats_reset. */
typedef struct mi_stat_counter_s {
  int64_t total;
} mi_stat_counter_t;

/* The process-wide figures; amounts in bytes unless the name says calls or count. shardalloc has
   no counterpart for these, which stay 0: page_committed, malloc_normal, malloc_requested,
   malloc_normal_count and the bins (per-block accounting would slow malloc and free down); reset
   and reset_calls (every purge, decommit or reset, is in purged and purge_calls); commit_calls
   (Linux commits on first touch); malloc_guarded_count, arena_rollback_count, arena_purges,
   pages_retire, page_searches, page_searches_count, segments_cache, the mimalloc 3.x counters. */
typedef struct mi_stats_s {
  size_t size;    /* in: sizeof(mi_stats_t) as the caller was compiled (mi_stats_t_decl sets it) */
  size_t version; /* in: MI_STAT_VERSION as the caller was compiled */

  mi_stat_count_t pages;            /* pages (runs of slices holding blocks of one size) */
  mi_stat_count_t reserved;         /* bytes of address space mapped from the OS */
  mi_stat_count_t committed;        /* bytes touched since mapped or last purged */
  mi_stat_count_t page_committed;   /* bytes committed inside pages */
  mi_stat_count_t pages_abandoned;  /* pages whose thread exited with live blocks in them */
  mi_stat_count_t threads;          /* threads that use the allocator */
  mi_stat_count_t malloc_normal;    /* bytes in blocks up to the huge threshold */
  mi_stat_count_t malloc_huge;      /* bytes in huge blocks (each in its own segment) */
  mi_stat_count_t malloc_requested; /* bytes asked for by the program */

  mi_stat_counter_t reset;                /* bytes reset (contents dropped, still mapped) */
  mi_stat_counter_t purged;               /* bytes returned to the OS by purging */
  mi_stat_counter_t mmap_calls;           /* OS mappings made */
  mi_stat_counter_t commit_calls;         /* explicit commits */
  mi_stat_counter_t reset_calls;          /* resets */
  mi_stat_counter_t purge_calls;          /* purges */
  mi_stat_counter_t arena_count;          /* arenas created */
  mi_stat_counter_t malloc_normal_count;  /* blocks allocated up to the huge threshold */
  mi_stat_counter_t malloc_huge_count;    /* huge blocks allocated */
  mi_stat_counter_t malloc_guarded_count; /* blocks allocated with a guard page */
  mi_stat_counter_t arena_rollback_count; /* arena claims undone after a race */
  mi_stat_counter_t arena_purges;         /* purges of free arena memory */
  mi_stat_counter_t pages_extended;       /* free-list extensions of a page */
  mi_stat_counter_t pages_retire;         /* pages retired once empty */
  mi_stat_counter_t page_searches;        /* pages visited looking for a free block */
  mi_stat_counter_t page_searches_count;  /* such searches */

  /* mimalloc 1.x/2.x only (segment-based allocators) */
  mi_stat_count_t segments;           /* segments (32 MiB units that hold pages) */
  mi_stat_count_t segments_abandoned; /* segments whose owning thread exited */
  mi_stat_count_t segments_cache;     /* segments kept for reuse */
  mi_stat_count_t _segments_reserved;

  /* mimalloc 3.x only (per-page abandonment); 0 here */
  mi_stat_counter_t pages_reclaim_on_alloc;
  mi_stat_counter_t pages_reclaim_on_free;
  mi_stat_counter_t pages_reabandon_full;
  mi_stat_counter_t pages_unabandon_busy_wait;

  mi_stat_count_t _stat_reserved[4];
  mi_stat_counter_t _stat_counter_reserved[4];

  mi_stat_count_t malloc_bins[MI_STATS_BIN_HUGE + 1]; /* bytes per size class */
  mi_stat_count_t page_bins[MI_STATS_BIN_HUGE + 1];   /* pages per size class */
} mi_stats_t;

/* Declares `name` as a zeroed mi_stats_t with size and version set, ready for mi_stats_get:
     mi_stats_t_decl(stats);
     if (mi_stats_get(&stats)) ... */
#ifdef __cplusplus
#define mi_stats_t_decl(name)     \
  mi_stats_t name = {};           \
  name.size = sizeof(mi_stats_t); \
  name.version = MI_STAT_VERSION
#else
#define mi_stats_t_decl(name)     \
  mi_stats_t name = {0};          \
  name.size = sizeof(mi_stats_t); \
  name.version = MI_STAT_VERSION
#endif

/* Fills *stats with the current process-wide figures. Most are updated as things happen;
   pages_extended and malloc_huge_count are counted per thread and added to the process's figures
   by the calling thread here, by the others every few milliseconds while they allocate and when
   they exit.
   The caller sets stats->size and stats->version first (mi_stats_t_decl does); they are left as
   they are, and of the fields after them only what lies within stats->size bytes is written, so
   a caller built with an older, shorter mi_stats_t gets the fields it knows. Returns false, writing nothing, when stats is NULL, size is smaller than the
   size and version fields, or version is not MI_STAT_VERSION. */
mi_decl_export bool mi_stats_get(mi_stats_t* stats) mi_attr_noexcept;

/* The same figures as one JSON object: "version" (MI_STAT_VERSION, also as "stat_version"),
   "mimalloc_version" (mi_version(): shardalloc's own version number), "allocator", "process" (the
   figures of mi_process_info), every count as {"total":..,"peak":..,"current":..}, every counter
   as {"total":..}, and "malloc_bins" and "page_bins" as arrays of counts.
   With buf != NULL the text (NUL-terminated) is written into buf and buf is returned, or NULL if
   it does not fit in buf_size bytes (buf then holds an empty string when buf_size > 0). With
   buf == NULL, buf_size is ignored and the text goes into a block from mi_malloc that the caller
   releases with mi_free (NULL if that allocation fails). Allocates nothing else. */
mi_decl_nodiscard mi_decl_export char* mi_stats_get_json(size_t buf_size,
                                                         char* buf) mi_attr_noexcept;

#ifdef __cplusplus
}
#endif

#endif /* MIMALLOC_STATS_H */
