/* glibc's malloc extras with shardalloc's meanings, for programs that call them while shardalloc
 * is their malloc (preloaded or linked; built with the override only): malloc_trim returns free
 * memory now, mallinfo/mallinfo2 and malloc_info/malloc_stats report shardalloc's figures,
 * mallopt maps the parameters that have a counterpart onto shardalloc's options. Layer: override.
 * Calls the public mi_* API, the statistics (stats.c) and the purge entry points of the segment
 * and arena layers; holds no lock of its own. Field-by-field meanings: docs/api.md. */
#include <limits.h>
#include <malloc.h>
#include <stdio.h>

#include "internal/internal.h"

#if !defined(SA_OVERRIDE) || !SA_OVERRIDE
/* A build without the override that compiles every source anyway (the Rust crate's): shardalloc
   is not malloc there, so glibc's own functions must stay, and nothing is defined. */
typedef int mi_glibc_extras_absent_t;  // (ISO C wants a declaration in every translation unit)
#else

#define mi_decl_glibc __attribute__((visibility("default"), used))

/* ---------------------------------------------------------------------------------------------
   Returning free memory now (malloc_trim, mallopt's M_PURGE). The one place that does it on
   request: the calling thread's heaps are collected (remote frees taken in, retired pages freed,
   abandoned segments adopted or freed), then a forced pass of the memory-return engine purges
   everything pending in the process: free slices of every segment, free arena blocks, the
   huge-mapping cache. Memory freed while MIMALLOC_PURGE_DELAY is -1 is never pending, so it is
   not found here either.
   Returns the bytes given back (purged or unmapped) in the process meanwhile.
--------------------------------------------------------------------------------------------- */
size_t _mi_trim(void) {
  const int64_t purged_before = mi_atomic_load_relaxed(&_mi_stats_main.purged);
  const int64_t reserved_before = mi_atomic_load_relaxed(&_mi_stats_main.reserved.current);
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) {
    mi_tld_t* tld = heap->tld;
    for (mi_heap_t* h = tld->heaps; h != NULL; h = h->next) mi_heap_collect(h, true);
  } else {
    // a thread that never allocated owns nothing: it can still free emptied abandoned segments
    for (size_t n = _mi_segment_abandoned_count(); n > 0; n--) _mi_segment_try_free_abandoned();
  }
  _mi_purge_collect(true);
  const int64_t purged = mi_atomic_load_relaxed(&_mi_stats_main.purged) - purged_before;
  const int64_t unmapped =
      reserved_before - mi_atomic_load_relaxed(&_mi_stats_main.reserved.current);
  return (size_t)(purged > 0 ? purged : 0) + (size_t)(unmapped > 0 ? unmapped : 0);
}

// `pad` (glibc: bytes to leave at the top of the heap) has no counterpart: free memory goes back
// in whole 64 KiB slices, and memory about to be reused is kept by the purge delay instead.
mi_decl_glibc int malloc_trim(size_t pad) {
  (void)pad;
  return (_mi_trim() > 0 ? 1 : 0);
}

/* ---------------------------------------------------------------------------------------------
   mallinfo2 / mallinfo
--------------------------------------------------------------------------------------------- */
typedef struct mi_glibc_figures_s {
  struct mallinfo2 info;
  mi_stats_t stats;
  size_t free_bytes;  // free blocks' bytes in pages (for malloc_info's "rest")
} mi_glibc_figures_t;

static void mi_glibc_figures(mi_glibc_figures_t* f) {
  mi_stats_t* st = &f->stats;
  memset(f, 0, sizeof(*f));
  st->size = sizeof(*st);
  st->version = MI_STAT_VERSION;
  mi_stats_get(st);
  size_t used = 0, free_count = 0, small_count = 0, small_bytes = 0, page_bytes = 0, huge = 0;
  _mi_stats_usage(&used, &free_count, &f->free_bytes, &small_count, &small_bytes, &page_bytes,
                  &huge);
  const size_t reserved = (size_t)(st->reserved.current > 0 ? st->reserved.current : 0);
  const size_t committed = (size_t)(st->committed.current > 0 ? st->committed.current : 0);
  const size_t huge_bytes = (size_t)(st->malloc_huge.current > 0 ? st->malloc_huge.current : 0);
  struct mallinfo2* mi = &f->info;
  mi->arena = reserved;
  mi->ordblks = free_count;
  mi->smblks = small_count;
  mi->hblks = huge;
  mi->hblkhd = huge_bytes;
  mi->usmblks = (size_t)(st->committed.peak > 0 ? st->committed.peak : 0);
  mi->fsmblks = small_bytes;
  mi->uordblks = used + huge_bytes;
  mi->fordblks = (committed > mi->uordblks ? committed - mi->uordblks : 0);
  mi->keepcost = (committed > page_bytes ? committed - page_bytes : 0);
  if (mi->keepcost > mi->fordblks) mi->keepcost = mi->fordblks;  // (the parts are of other ages)
}

mi_decl_glibc struct mallinfo2 mallinfo2(void) {
  mi_glibc_figures_t f;
  mi_glibc_figures(&f);
  return f.info;
}

static int mi_int_saturate(size_t n) { return (n > (size_t)INT_MAX ? INT_MAX : (int)n); }

// The same figures in glibc's old int fields, which stop at INT_MAX instead of wrapping.
mi_decl_glibc struct mallinfo mallinfo(void) {
  mi_glibc_figures_t f;
  mi_glibc_figures(&f);
  const struct mallinfo2* m = &f.info;
  struct mallinfo mi;
  mi.arena = mi_int_saturate(m->arena);
  mi.ordblks = mi_int_saturate(m->ordblks);
  mi.smblks = mi_int_saturate(m->smblks);
  mi.hblks = mi_int_saturate(m->hblks);
  mi.hblkhd = mi_int_saturate(m->hblkhd);
  mi.usmblks = mi_int_saturate(m->usmblks);
  mi.fsmblks = mi_int_saturate(m->fsmblks);
  mi.uordblks = mi_int_saturate(m->uordblks);
  mi.fordblks = mi_int_saturate(m->fordblks);
  mi.keepcost = mi_int_saturate(m->keepcost);
  return mi;
}

/* ---------------------------------------------------------------------------------------------
   malloc_stats (text on stderr) and malloc_info (XML)
--------------------------------------------------------------------------------------------- */
static void mi_glibc_out(const char* msg, void* arg) { fputs(msg, (FILE*)arg); }

// mi_stats_print's table, then glibc's two summary lines and the mallinfo2 figures.
mi_decl_glibc void malloc_stats(void) {
  mi_stats_print_out(&mi_glibc_out, stderr);
  mi_glibc_figures_t f;
  mi_glibc_figures(&f);
  const struct mallinfo2* m = &f.info;
  fprintf(stderr,
          "Total (incl. mmap):\n"
          "system bytes     = %10zu\n"
          "in use bytes     = %10zu\n"
          "mallinfo2: arena %zu, ordblks %zu, smblks %zu, hblks %zu, hblkhd %zu, usmblks %zu, "
          "fsmblks %zu, uordblks %zu, fordblks %zu, keepcost %zu\n",
          (size_t)(f.stats.committed.current > 0 ? f.stats.committed.current : 0), m->uordblks,
          m->arena, m->ordblks, m->smblks, m->hblks, m->hblkhd, m->usmblks, m->fsmblks, m->uordblks,
          m->fordblks, m->keepcost);
}

typedef struct mi_xml_stat_s {
  const char* name;
  const char* unit;
  const mi_stat_count_t* count;      // current, peak and total; or
  const mi_stat_counter_t* counter;  // a total
} mi_xml_stat_t;

/* glibc's elements where they have a meaning here (total type fast/rest/mmap, system, aspace),
   then one element with the mallinfo2 fields, every statistic and the process figures. Numbers
   only: nothing needs escaping. 0, or -1 with errno EINVAL for options other than 0 or no file
   (and stdio's errno when writing fails). */
mi_decl_glibc int malloc_info(int options, FILE* fp) {
  if (options != 0 || fp == NULL) {
    errno = EINVAL;
    return -1;
  }
  mi_glibc_figures_t f;
  mi_glibc_figures(&f);
  size_t elapsed = 0, user = 0, sys = 0, rss = 0, rss_peak = 0, faults = 0;
  mi_process_info(&elapsed, &user, &sys, &rss, &rss_peak, NULL, NULL, &faults);
  const struct mallinfo2* m = &f.info;
  const mi_stats_t* st = &f.stats;
  bool ok = true;
  ok = ok &&
       fprintf(fp,
               "<malloc version=\"1\" allocator=\"shardalloc\" allocator_version=\"%d.%d.%d\">\n",
               SHARDALLOC_VERSION_MAJOR, SHARDALLOC_VERSION_MINOR, SHARDALLOC_VERSION_PATCH) >= 0;
  const size_t rest_bytes = (f.free_bytes > m->fsmblks ? f.free_bytes - m->fsmblks : 0);
  ok = ok && fprintf(fp,
                     "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
                     "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
                     "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
                     "<system type=\"current\" size=\"%lld\"/>\n"
                     "<system type=\"max\" size=\"%lld\"/>\n"
                     "<aspace type=\"total\" size=\"%lld\"/>\n",
                     m->smblks, m->fsmblks, m->ordblks - m->smblks, rest_bytes, m->hblks, m->hblkhd,
                     (long long)st->committed.current, (long long)st->committed.peak,
                     (long long)st->reserved.current) >= 0;
  ok = ok && fprintf(fp,
                     "<mallinfo2 arena=\"%zu\" ordblks=\"%zu\" smblks=\"%zu\" hblks=\"%zu\" "
                     "hblkhd=\"%zu\" usmblks=\"%zu\" fsmblks=\"%zu\" uordblks=\"%zu\" "
                     "fordblks=\"%zu\" keepcost=\"%zu\"/>\n",
                     m->arena, m->ordblks, m->smblks, m->hblks, m->hblkhd, m->usmblks, m->fsmblks,
                     m->uordblks, m->fordblks, m->keepcost) >= 0;
  const mi_xml_stat_t stats[] = {
      {"reserved", "bytes", &st->reserved, NULL},
      {"committed", "bytes", &st->committed, NULL},
      {"purged", "bytes", NULL, &st->purged},
      {"malloc_huge", "bytes", &st->malloc_huge, NULL},
      {"malloc_huge_count", "blocks", NULL, &st->malloc_huge_count},
      {"segments", "segments", &st->segments, NULL},
      {"segments_abandoned", "segments", &st->segments_abandoned, NULL},
      {"pages", "pages", &st->pages, NULL},
      {"pages_abandoned", "pages", &st->pages_abandoned, NULL},
      {"pages_extended", "pages", NULL, &st->pages_extended},
      {"arena_count", "arenas", NULL, &st->arena_count},
      {"mmap_calls", "calls", NULL, &st->mmap_calls},
      {"purge_calls", "calls", NULL, &st->purge_calls},
      {"threads", "threads", &st->threads, NULL},
  };
  for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]) && ok; i++) {
    const mi_xml_stat_t* s = &stats[i];
    if (s->count != NULL) {
      ok =
          fprintf(fp,
                  "<stat name=\"%s\" unit=\"%s\" current=\"%lld\" peak=\"%lld\" total=\"%lld\"/>\n",
                  s->name, s->unit, (long long)s->count->current, (long long)s->count->peak,
                  (long long)s->count->total) >= 0;
    } else {
      ok = fprintf(fp, "<stat name=\"%s\" unit=\"%s\" total=\"%lld\"/>\n", s->name, s->unit,
                   (long long)s->counter->total) >= 0;
    }
  }
  ok = ok && fprintf(fp,
                     "<process elapsed_msecs=\"%zu\" user_msecs=\"%zu\" system_msecs=\"%zu\" "
                     "rss=\"%zu\" peak_rss=\"%zu\" page_faults=\"%zu\"/>\n</malloc>\n",
                     elapsed, user, sys, rss, rss_peak, faults) >= 0;
  return (ok ? 0 : -1);
}

/* ---------------------------------------------------------------------------------------------
   mallopt: 1 for the parameters that have a counterpart, 0 for the others (glibc's arena,
   mmap-threshold, top-pad, fastbin, check and perturb parameters: shardalloc has no such knobs).
   - M_TRIM_THRESHOLD (glibc): < 0 never purge (purge_delay -1), 0 purge at once (purge_delay 0),
     > 0 keep free memory a while before it goes back: the delay in effect before mallopt first
     changed it (MIMALLOC_PURGE_DELAY, 10 ms by default). A threshold in bytes has no exact
     counterpart: shardalloc decides by time.
   - M_DECAY_TIME (bionic; -1, 0 or 1): likewise -1 never, 0 at once, 1 the delay as before; other
     values 0.
   - M_PURGE, M_PURGE_ALL (bionic; value ignored): what malloc_trim does.
--------------------------------------------------------------------------------------------- */
#ifndef M_DECAY_TIME
#define M_DECAY_TIME (-100)
#endif
#ifndef M_PURGE
#define M_PURGE (-101)
#endif
#ifndef M_PURGE_ALL
#define M_PURGE_ALL (-104)
#endif

static _Atomic(long) mi_purge_delay_before = LONG_MIN;  // LONG_MIN: mallopt has not changed it

// keep: -1 never purge, 0 purge at once, 1 the delay in effect before mallopt changed it.
static void mi_glibc_purge_delay(int keep) {
  long expected = LONG_MIN;
  atomic_compare_exchange_strong(&mi_purge_delay_before, &expected,
                                 mi_option_get(mi_option_purge_delay));
  const long delay = (keep < 0    ? -1
                      : keep == 0 ? 0
                                  : mi_atomic_load_relaxed(&mi_purge_delay_before));
  mi_option_set(mi_option_purge_delay, delay);
}

mi_decl_glibc int mallopt(int param, int value) {
  switch (param) {
    case M_TRIM_THRESHOLD:
      mi_glibc_purge_delay(value < 0 ? -1 : value == 0 ? 0 : 1);
      return 1;
    case M_DECAY_TIME:
      if (value < -1 || value > 1) return 0;
      mi_glibc_purge_delay(value);
      return 1;
    case M_PURGE:
    case M_PURGE_ALL:
      _mi_trim();
      return 1;
    default:
      return 0;
  }
}

#endif  // SA_OVERRIDE
