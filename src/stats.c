/* Statistics: process-wide counters of what the allocator took from and gave back to the OS
 * (updated with relaxed atomics at OS, arena, segment and page events, never on the malloc and
 * free hit paths), their printing in mimalloc's v2 layout, their snapshot as the public
 * mi_stats_t and as JSON (mimalloc-stats.h), and mi_process_info. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal/internal.h"

mi_stats_main_t _mi_stats_main;
static long long mi_process_start;  // clock (ms) at process init

void _mi_stats_init(void) { mi_process_start = _mi_prim_clock_now(); }

/* ---------------------------------------------------------------------------------------------
   Updating
--------------------------------------------------------------------------------------------- */
void _mi_stat_increase(mi_stat_atomic_t* stat, size_t amount) {
  mi_atomic_add_relaxed(&stat->total, (int64_t)amount);
  const int64_t current = mi_atomic_add_relaxed(&stat->current, (int64_t)amount) + (int64_t)amount;
  int64_t peak = mi_atomic_load_relaxed(&stat->peak);
  while (current > peak && !mi_atomic_cas_weak_relaxed(&stat->peak, &peak, current)) {
  }
}

void _mi_stat_decrease(mi_stat_atomic_t* stat, size_t amount) {
  mi_atomic_sub_relaxed(&stat->current, (int64_t)amount);
}

void _mi_stat_counter_add(_Atomic(int64_t)* counter, size_t amount) {
  mi_atomic_add_relaxed(counter, (int64_t)amount);
}

/* ---------------------------------------------------------------------------------------------
   Blocks in use and free in pages, for mallinfo and malloc_info (malloc-glibc.c). The malloc and
   free paths count nothing: a thread sums the pages of its own heaps (fields only it writes) when
   it flushes its statistics -- on its periodic tick at most every MI_USAGE_INTERVAL_MS, and at
   once when it holds few pages (its exit among them) -- and adds the change since its last sum to
   the process's figures. Each thread's part is thus as of its last sum, an exited thread's is 0
   (its abandoned pages count again once another thread adopts them), and a fork child keeps only
   the forking thread's. Off until the program first asks: until then no thread sums anything.
--------------------------------------------------------------------------------------------- */
#define MI_USAGE_INTERVAL_MS 50
#define MI_USAGE_FEW_PAGES   64  // summed on every flush: cheap, and covers the exit flush
enum {
  MI_USAGE_USED,         // usable bytes of blocks handed out (huge blocks: see malloc_huge)
  MI_USAGE_FREE_COUNT,   // free blocks in the pages' lists (made, not handed out)
  MI_USAGE_FREE,         // ... their usable bytes
  MI_USAGE_SMALL_COUNT,  // free blocks of sizes up to MI_SMALL_SIZE_MAX
  MI_USAGE_SMALL,        // ... their usable bytes
  MI_USAGE_PAGE_BYTES,   // bytes of the slices the pages span (huge: the mapping)
  MI_USAGE_HUGE_COUNT,   // huge blocks
  MI_USAGE_N
};
static _Atomic(int) mi_usage_wanted;
static _Atomic(int64_t) mi_usage_total[MI_USAGE_N];
static __thread int64_t mi_usage_mine[MI_USAGE_N] mi_decl_tls;  // this thread's part of the total
static __thread long long mi_usage_next mi_decl_tls;            // clock of its next sum

static void mi_usage_sum(const mi_tld_t* tld, int64_t* u) {
  for (const mi_heap_t* heap = tld->heaps; heap != NULL; heap = heap->next) {
    for (size_t bin = 0; bin <= MI_BIN_FULL; bin++) {
      for (const mi_page_t* page = heap->pages[bin].first; page != NULL; page = page->next) {
        if (page->is_huge) {
          u[MI_USAGE_HUGE_COUNT]++;
          u[MI_USAGE_PAGE_BYTES] += (int64_t)_mi_page_segment(page)->memid.size;
          continue;
        }
        const int64_t usable = (int64_t)(page->block_size - MI_PADDING);
        const int64_t free_count = (int64_t)page->capacity - (int64_t)page->used;
        u[MI_USAGE_USED] += (int64_t)page->used * usable;
        u[MI_USAGE_FREE_COUNT] += free_count;
        u[MI_USAGE_FREE] += free_count * usable;
        if (usable <= (int64_t)MI_SMALL_SIZE_MAX) {
          u[MI_USAGE_SMALL_COUNT] += free_count;
          u[MI_USAGE_SMALL] += free_count * usable;
        }
        u[MI_USAGE_PAGE_BYTES] += (int64_t)page->slice_count * (int64_t)MI_SLICE_SIZE;
      }
    }
  }
}

static void mi_usage_publish(const mi_tld_t* tld) {
  int64_t now[MI_USAGE_N] = {0};
  mi_usage_sum(tld, now);
  for (size_t i = 0; i < MI_USAGE_N; i++) {
    if (now[i] != mi_usage_mine[i])
      mi_atomic_add_relaxed(&mi_usage_total[i], now[i] - mi_usage_mine[i]);
    mi_usage_mine[i] = now[i];
  }
}

static void mi_usage_flush(const mi_tld_t* tld) {
  if (mi_likely(mi_atomic_load_relaxed(&mi_usage_wanted) == 0)) return;
  size_t pages = 0;
  for (const mi_heap_t* heap = tld->heaps; heap != NULL; heap = heap->next)
    pages += heap->page_count;
  if (pages > MI_USAGE_FEW_PAGES) {
    const long long now = _mi_prim_clock_now();
    if (now < mi_usage_next) return;
    mi_usage_next = now + MI_USAGE_INTERVAL_MS;
  }
  mi_usage_publish(tld);
}

// In a fork child only the forking thread remains: the others' parts go (their pages, if the
// child adopts them, count again in its sums).
static void mi_usage_fork_child(void) {
  for (size_t i = 0; i < MI_USAGE_N; i++)
    mi_atomic_store_relaxed(&mi_usage_total[i], mi_usage_mine[i]);
}

/* The process's figures, the calling thread's summed now; the first call turns the sums on (the
   other threads' parts then arrive with their next ticks). Any pointer may be NULL. */
void _mi_stats_usage(size_t* used, size_t* free_count, size_t* free_bytes, size_t* small_count,
                     size_t* small_bytes, size_t* page_bytes, size_t* huge_count) {
  int expected = 0;
  if (mi_atomic_load_relaxed(&mi_usage_wanted) == 0 &&
      atomic_compare_exchange_strong(&mi_usage_wanted, &expected, 1)) {
    if (!_mi_prim_atfork(NULL, NULL, &mi_usage_fork_child)) {
      _mi_warning_message("unable to register the fork handler of the usage figures");
    }
  }
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) mi_usage_publish(heap->tld);
  size_t* const out[MI_USAGE_N] = {used,        free_count, free_bytes, small_count,
                                   small_bytes, page_bytes, huge_count};
  for (size_t i = 0; i < MI_USAGE_N; i++) {
    const int64_t v = mi_atomic_load_relaxed(&mi_usage_total[i]);
    if (out[i] != NULL) *out[i] = (size_t)(v > 0 ? v : 0);
  }
}

// The hot counters (page extensions, slow-path calls) are per thread, added to the process's
// figures now and then, so that threads do not share a cache line on every slow-path call.
void _mi_stats_flush(mi_tld_t* tld) {
  mi_tld_stats_t* t = &tld->stats;
  mi_atomic_add_relaxed(&_mi_stats_main.pages_extended, t->pages_extended - t->flushed_extended);
  mi_atomic_add_relaxed(&_mi_stats_main.malloc_generic, (int64_t)tld->heartbeat - t->flushed_generic);
  mi_atomic_add_relaxed(&_mi_stats_main.malloc_huge_count, t->huge.total - t->flushed_huge);
  t->flushed_extended = t->pages_extended;
  t->flushed_generic = (int64_t)tld->heartbeat;
  t->flushed_huge = t->huge.total;
  mi_usage_flush(tld);
}

/* Totals and peaks start again from the current figures (the current ones stay: they describe
   memory that is still there). */
static void mi_stat_reset(mi_stat_atomic_t* stat) {
  const int64_t current = mi_atomic_load_relaxed(&stat->current);
  mi_atomic_store_relaxed(&stat->total, current);
  mi_atomic_store_relaxed(&stat->peak, current);
}

void mi_stats_reset(void) mi_attr_noexcept {
  mi_stats_main_t* s = &_mi_stats_main;
  mi_stat_atomic_t* counts[] = {
      &s->reserved,        &s->committed, &s->segments, &s->segments_abandoned, &s->pages,
      &s->pages_abandoned, &s->threads,   &s->arenas,   &s->malloc_huge};
  for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) mi_stat_reset(counts[i]);
  _Atomic(int64_t)* counters[] = {&s->purged,         &s->purges,         &s->mmaps,
                                  &s->pages_extended, &s->malloc_generic, &s->malloc_huge_count,
                                  &s->malloc_guarded_count};
  for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
    mi_atomic_store_relaxed(counters[i], 0);
  }
  mi_process_start = _mi_prim_clock_now();
}

// Statistics are kept process-wide as they happen: there is nothing per thread to merge.
void mi_stats_merge(void) mi_attr_noexcept {}

/* ---------------------------------------------------------------------------------------------
   Process information
--------------------------------------------------------------------------------------------- */
void mi_process_info(size_t* elapsed_msecs, size_t* user_msecs, size_t* system_msecs,
                     size_t* current_rss, size_t* peak_rss, size_t* current_commit,
                     size_t* peak_commit, size_t* page_faults) mi_attr_noexcept {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  size_t rss = 0, rss_peak = 0, faults = 0;
  _mi_prim_process_info(&rss, &rss_peak, &faults);
  if (rss_peak < rss) rss_peak = rss;  // the kernel's high-water mark lags a little
  const long long elapsed = _mi_prim_clock_now() - mi_process_start;
  if (elapsed_msecs != NULL) *elapsed_msecs = (size_t)(elapsed > 0 ? elapsed : 0);
  if (user_msecs != NULL) {
    *user_msecs = (size_t)usage.ru_utime.tv_sec * 1000 + (size_t)usage.ru_utime.tv_usec / 1000;
  }
  if (system_msecs != NULL) {
    *system_msecs = (size_t)usage.ru_stime.tv_sec * 1000 + (size_t)usage.ru_stime.tv_usec / 1000;
  }
  if (current_rss != NULL) *current_rss = rss;
  if (peak_rss != NULL) *peak_rss = rss_peak;
  // Memory the allocator may have resident: touched since it was mapped or last purged.
  const int64_t commit = mi_atomic_load_relaxed(&_mi_stats_main.committed.current);
  const int64_t commit_peak = mi_atomic_load_relaxed(&_mi_stats_main.committed.peak);
  if (current_commit != NULL) *current_commit = (size_t)(commit > 0 ? commit : 0);
  if (peak_commit != NULL) *peak_commit = (size_t)(commit_peak > 0 ? commit_peak : 0);
  if (page_faults != NULL) *page_faults = faults;
}

/* ---------------------------------------------------------------------------------------------
   Printing, in mimalloc's v2 layout: amounts with binary units, counts as plain numbers.
--------------------------------------------------------------------------------------------- */
typedef struct mi_printer_s {
  mi_output_fun* out;
  void* arg;
} mi_printer_t;

static void mi_print_line(const mi_printer_t* pr, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mi_print_line(const mi_printer_t* pr, const char* fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  vsnprintf(buf, sizeof(buf) - 1, fmt, args);
  va_end(args);
  const size_t len = strlen(buf);
  buf[len] = '\n';
  buf[len + 1] = 0;
  _mi_fputs(pr->out, pr->arg, NULL, buf);
}

// "12.3 MiB" style (unit > 0: an amount in bytes), or a plain count (unit 0), right-aligned.
static void mi_format_amount(char* buf, size_t size, int64_t n, bool bytes) {
  if (!bytes) {
    snprintf(buf, size, "%lld", (long long)n);
    return;
  }
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  const int64_t a = (n < 0 ? -n : n);
  size_t u = 0;
  int64_t base = 1;
  while (u + 1 < sizeof(units) / sizeof(units[0]) && a >= base * 1024) {
    base *= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, size, "%lld %s", (long long)n, units[0]);
  else
    snprintf(buf, size, "%.1f %s", (double)n / (double)base, units[u]);
}

static void mi_print_count(const mi_printer_t* pr, const char* name, mi_stat_atomic_t* stat,
                           bool bytes) {
  char peak[32], total[32], current[32];
  const int64_t cur = mi_atomic_load_relaxed(&stat->current);
  mi_format_amount(peak, sizeof(peak), mi_atomic_load_relaxed(&stat->peak), bytes);
  mi_format_amount(total, sizeof(total), mi_atomic_load_relaxed(&stat->total), bytes);
  mi_format_amount(current, sizeof(current), cur, bytes);
  mi_print_line(pr, "%-12s %12s %12s %12s", name, peak, total, current);
}

static void mi_print_counter(const mi_printer_t* pr, const char* name, _Atomic(int64_t)* counter,
                             bool bytes) {
  char total[32];
  mi_format_amount(total, sizeof(total), mi_atomic_load_relaxed(counter), bytes);
  mi_print_line(pr, "%-12s %12s %12s", name, "", total);
}

static void mi_print_process(const mi_printer_t* pr) {
  size_t elapsed, user, sys, rss, rss_peak, commit, commit_peak, faults;
  mi_process_info(&elapsed, &user, &sys, &rss, &rss_peak, &commit, &commit_peak, &faults);
  char rss_s[32], peak_s[32], commit_s[32];
  mi_format_amount(rss_s, sizeof(rss_s), (int64_t)rss, true);
  mi_format_amount(peak_s, sizeof(peak_s), (int64_t)rss_peak, true);
  mi_format_amount(commit_s, sizeof(commit_s), (int64_t)commit_peak, true);
  mi_print_line(pr, "%-12s %12.3f s", "elapsed:", (double)elapsed / 1000.0);
  mi_print_line(pr,
                "process:     user: %.3f s, system: %.3f s, faults: %zu, rss: %s, peak rss: %s, "
                "peak commit: %s",
                (double)user / 1000.0, (double)sys / 1000.0, faults, rss_s, peak_s, commit_s);
}

void mi_stats_print_out(mi_output_fun* out, void* arg) mi_attr_noexcept {
  const mi_printer_t pr = {out, arg};
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) _mi_stats_flush(heap->tld);
  mi_stats_main_t* s = &_mi_stats_main;
  mi_print_line(&pr, "%-12s %12s %12s %12s", "heap stats:", "peak", "total", "current");
  mi_print_count(&pr, "reserved:", &s->reserved, true);
  mi_print_count(&pr, "committed:", &s->committed, true);
  mi_print_counter(&pr, "purged:", &s->purged, true);
  mi_print_count(&pr, "segments:", &s->segments, false);
  mi_print_count(&pr, "-abandoned:", &s->segments_abandoned, false);
  mi_print_count(&pr, "pages:", &s->pages, false);
  mi_print_count(&pr, "-abandoned:", &s->pages_abandoned, false);
  mi_print_counter(&pr, "-extended:", &s->pages_extended, false);
  mi_print_count(&pr, "arenas:", &s->arenas, false);
  mi_print_counter(&pr, "mmaps:", &s->mmaps, false);
  mi_print_counter(&pr, "purges:", &s->purges, false);
  mi_print_count(&pr, "threads:", &s->threads, false);
  mi_print_counter(&pr, "slow paths:", &s->malloc_generic, false);
  if (mi_atomic_load_relaxed(&s->malloc_guarded_count) != 0) {  // (guarded sampling is on)
    mi_print_counter(&pr, "guarded:", &s->malloc_guarded_count, false);
  }
  mi_print_process(&pr);
}

// `out` is an mi_output_fun* passed as void* (mimalloc's legacy signature).
void mi_stats_print(void* out) mi_attr_noexcept {
  mi_output_fun* fun = NULL;
  memcpy(&fun, &out, sizeof(fun));
  mi_stats_print_out(fun, NULL);
}

// The calling thread's own figures (its pages and slow-path calls), then the process line.
void mi_thread_stats_print_out(mi_output_fun* out, void* arg) mi_attr_noexcept {
  const mi_printer_t pr = {out, arg};
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (!mi_heap_is_initialized(heap)) {
    mi_print_line(&pr, "thread stats: (this thread has not allocated)");
    return;
  }
  const mi_tld_stats_t* t = &heap->tld->stats;
  mi_print_line(&pr, "%-12s %12s %12s %12s", "thread stats:", "peak", "total", "current");
  mi_print_line(&pr, "%-12s %12s %12lld %12lld", "pages:", "", (long long)t->pages.total,
                (long long)t->pages.current);
  mi_print_line(&pr, "%-12s %12s %12lld", "-extended:", "", (long long)t->pages_extended);
  mi_print_line(&pr, "%-12s %12s %12zu", "segments:", "", heap->tld->segments.count);
  mi_print_line(&pr, "%-12s %12s %12llu", "slow paths:", "", heap->tld->heartbeat);
  mi_print_process(&pr);
}

/* ---------------------------------------------------------------------------------------------
   The figures as data: mi_stats_get and mi_stats_get_json (mimalloc-stats.h)
--------------------------------------------------------------------------------------------- */
static mi_stat_count_t mi_stat_count_load(mi_stat_atomic_t* stat) {
  mi_stat_count_t c;
  c.total = mi_atomic_load_relaxed(&stat->total);
  c.peak = mi_atomic_load_relaxed(&stat->peak);
  c.current = mi_atomic_load_relaxed(&stat->current);
  if (c.peak < c.current) c.peak = c.current;  // read between an increase and its peak update
  return c;
}

static mi_stat_counter_t mi_stat_counter_load(_Atomic(int64_t)* counter) {
  mi_stat_counter_t c;
  c.total = mi_atomic_load_relaxed(counter);
  return c;
}

/* Everything shardalloc counts, in the public layout (the calling thread's pending counts flushed
   first). The fields left 0 have no counterpart here:
   - page_committed, malloc_normal, malloc_requested, malloc_normal_count, malloc_bins, page_bins:
     per-block or per-size-class accounting would cost the malloc and free hit paths;
   - reset, reset_calls: purged and purge_calls count every purge, whether it decommits (the
     default) or resets (MIMALLOC_PURGE_DECOMMITS=0); commit_calls: Linux commits memory on first
     touch, so nothing is committed by a call;
   - segments_cache: there is no segment cache (free segments go back to their arena; the kept huge mappings are in committed);
   - arena_purges: purges of free arena memory are in purged and purge_calls with the others;
   - arena_rollback_count, pages_retire, page_searches, page_searches_count: not counted;
   - the mimalloc 3.x counters and the reserved fields. */
static void mi_stats_snapshot(mi_stats_t* st) {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) _mi_stats_flush(heap->tld);
  mi_stats_main_t* s = &_mi_stats_main;
  memset(st, 0, sizeof(*st));
  st->size = sizeof(mi_stats_t);
  st->version = MI_STAT_VERSION;
  st->pages = mi_stat_count_load(&s->pages);
  st->reserved = mi_stat_count_load(&s->reserved);
  st->committed = mi_stat_count_load(&s->committed);
  st->pages_abandoned = mi_stat_count_load(&s->pages_abandoned);
  st->threads = mi_stat_count_load(&s->threads);
  st->malloc_huge = mi_stat_count_load(&s->malloc_huge);
  st->purged = mi_stat_counter_load(&s->purged);
  st->mmap_calls = mi_stat_counter_load(&s->mmaps);
  st->purge_calls = mi_stat_counter_load(&s->purges);
  st->arena_count = mi_stat_counter_load(&s->arenas.total);
  st->malloc_huge_count = mi_stat_counter_load(&s->malloc_huge_count);
  st->malloc_guarded_count = mi_stat_counter_load(&s->malloc_guarded_count);
  st->pages_extended = mi_stat_counter_load(&s->pages_extended);
  st->segments = mi_stat_count_load(&s->segments);
  st->segments_abandoned = mi_stat_count_load(&s->segments_abandoned);
}

bool mi_stats_get(mi_stats_t* stats) mi_attr_noexcept {
  const size_t header = offsetof(mi_stats_t, pages);  // size and version: the caller's
  if (stats == NULL || stats->size < header || stats->version != MI_STAT_VERSION) return false;
  mi_stats_t snap;
  mi_stats_snapshot(&snap);
  const size_t size = (stats->size < sizeof(snap) ? stats->size : sizeof(snap));
  memcpy((uint8_t*)stats + header, (const uint8_t*)&snap + header, size - header);
  return true;
}

// Every field of the JSON output but the bins, in the struct's order.
typedef struct mi_stat_field_s {
  const char* name;
  size_t offset;
  bool is_count;  // mi_stat_count_t, else mi_stat_counter_t
} mi_stat_field_t;

#define MI_FIELD_COUNT(f) \
  { #f, offsetof(mi_stats_t, f), true }
#define MI_FIELD_COUNTER(f) \
  { #f, offsetof(mi_stats_t, f), false }
static const mi_stat_field_t mi_stat_fields[] = {
    MI_FIELD_COUNT(pages),
    MI_FIELD_COUNT(reserved),
    MI_FIELD_COUNT(committed),
    MI_FIELD_COUNT(page_committed),
    MI_FIELD_COUNT(pages_abandoned),
    MI_FIELD_COUNT(threads),
    MI_FIELD_COUNT(malloc_normal),
    MI_FIELD_COUNT(malloc_huge),
    MI_FIELD_COUNT(malloc_requested),
    MI_FIELD_COUNTER(reset),
    MI_FIELD_COUNTER(purged),
    MI_FIELD_COUNTER(mmap_calls),
    MI_FIELD_COUNTER(commit_calls),
    MI_FIELD_COUNTER(reset_calls),
    MI_FIELD_COUNTER(purge_calls),
    MI_FIELD_COUNTER(arena_count),
    MI_FIELD_COUNTER(malloc_normal_count),
    MI_FIELD_COUNTER(malloc_huge_count),
    MI_FIELD_COUNTER(malloc_guarded_count),
    MI_FIELD_COUNTER(arena_rollback_count),
    MI_FIELD_COUNTER(arena_purges),
    MI_FIELD_COUNTER(pages_extended),
    MI_FIELD_COUNTER(pages_retire),
    MI_FIELD_COUNTER(page_searches),
    MI_FIELD_COUNTER(page_searches_count),
    MI_FIELD_COUNT(segments),
    MI_FIELD_COUNT(segments_abandoned),
    MI_FIELD_COUNT(segments_cache),
    MI_FIELD_COUNTER(pages_reclaim_on_alloc),
    MI_FIELD_COUNTER(pages_reclaim_on_free),
    MI_FIELD_COUNTER(pages_reabandon_full),
    MI_FIELD_COUNTER(pages_unabandon_busy_wait),
};
#undef MI_FIELD_COUNT
#undef MI_FIELD_COUNTER

// What the JSON text is made from, taken once so that measuring and writing give the same text.
typedef struct mi_json_figures_s {
  mi_stats_t stats;
  size_t elapsed, user, sys, rss, rss_peak, commit, commit_peak, faults;
} mi_json_figures_t;

// Appends to buf while it has room; len counts every character, so it ends as the text's length.
typedef struct mi_json_s {
  char* buf;
  size_t size;
  size_t len;
} mi_json_t;

static void mi_json_add(mi_json_t* j, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void mi_json_add(mi_json_t* j, const char* fmt, ...) {
  char* at = NULL;
  size_t room = 0;
  if (j->buf != NULL && j->len < j->size) {
    at = j->buf + j->len;
    room = j->size - j->len;
  }
  va_list args;
  va_start(args, fmt);
  const int n = vsnprintf(at, room, fmt, args);
  va_end(args);
  if (n > 0) j->len += (size_t)n;
}

static void mi_json_count(mi_json_t* j, const mi_stat_count_t* c) {
  mi_json_add(j, "{\"total\": %lld, \"peak\": %lld, \"current\": %lld}", (long long)c->total,
              (long long)c->peak, (long long)c->current);
}

static void mi_json_bins(mi_json_t* j, const char* name, const mi_stat_count_t* bins) {
  mi_json_add(j, ",\n  \"%s\": [", name);
  for (size_t i = 0; i <= MI_STATS_BIN_HUGE; i++) {
    mi_json_add(j, "%s\n    ", i == 0 ? "" : ",");
    mi_json_count(j, &bins[i]);
  }
  mi_json_add(j, "\n  ]");
}

static void mi_json_write(mi_json_t* j, const mi_json_figures_t* f) {
  mi_json_add(j, "{\n  \"version\": %d,\n  \"stat_version\": %d,\n", MI_STAT_VERSION,
              MI_STAT_VERSION);
  mi_json_add(j, "  \"mimalloc_version\": %d,\n  \"allocator\": \"shardalloc %d.%d.%d\",\n",
              MI_MALLOC_VERSION, SHARDALLOC_VERSION_MAJOR, SHARDALLOC_VERSION_MINOR,
              SHARDALLOC_VERSION_PATCH);
  mi_json_add(j,
              "  \"process\": {\"elapsed_msecs\": %zu, \"user_msecs\": %zu, \"system_msecs\": %zu, "
              "\"page_faults\": %zu, \"rss_current\": %zu, \"rss_peak\": %zu, "
              "\"commit_current\": %zu, \"commit_peak\": %zu}",
              f->elapsed, f->user, f->sys, f->faults, f->rss, f->rss_peak, f->commit,
              f->commit_peak);
  for (size_t i = 0; i < sizeof(mi_stat_fields) / sizeof(mi_stat_fields[0]); i++) {
    const mi_stat_field_t* field = &mi_stat_fields[i];
    const uint8_t* at = (const uint8_t*)&f->stats + field->offset;
    mi_json_add(j, ",\n  \"%s\": ", field->name);
    if (field->is_count) {
      mi_json_count(j, (const mi_stat_count_t*)at);
    } else {
      mi_json_add(j, "{\"total\": %lld}", (long long)((const mi_stat_counter_t*)at)->total);
    }
  }
  mi_json_bins(j, "malloc_bins", f->stats.malloc_bins);
  mi_json_bins(j, "page_bins", f->stats.page_bins);
  mi_json_add(j, "\n}\n");
}

char* mi_stats_get_json(size_t buf_size, char* buf) mi_attr_noexcept {
  mi_json_figures_t f;
  mi_stats_snapshot(&f.stats);
  mi_process_info(&f.elapsed, &f.user, &f.sys, &f.rss, &f.rss_peak, &f.commit, &f.commit_peak,
                  &f.faults);
  if (buf == NULL) {  // measure, then write into a block of exactly that size
    mi_json_t measure = {NULL, 0, 0};
    mi_json_write(&measure, &f);
    buf_size = measure.len + 1;
    buf = (char*)mi_malloc(buf_size);
    if (buf == NULL) return NULL;
  }
  mi_json_t j = {buf, buf_size, 0};
  mi_json_write(&j, &f);
  if (j.len >= buf_size) {  // did not fit (never for the block measured above)
    if (buf_size > 0) buf[0] = 0;
    return NULL;
  }
  return buf;
}
