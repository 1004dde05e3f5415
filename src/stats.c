/* Statistics: process-wide counters of what the allocator took from and gave back to the OS
 * (updated with relaxed atomics at OS, arena, segment and page events, never on the malloc and
 * free hit paths), their printing in mimalloc's v2 layout, and mi_process_info. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal/internal.h"

mi_stats_t _mi_stats_main;
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

// The hot counters (page extensions, slow-path calls) are per thread, added to the process's
// figures now and then, so that threads do not share a cache line on every slow-path call.
void _mi_stats_flush(mi_tld_t* tld) {
  mi_tld_stats_t* t = &tld->stats;
  mi_atomic_add_relaxed(&_mi_stats_main.pages_extended, t->pages_extended - t->flushed_extended);
  mi_atomic_add_relaxed(&_mi_stats_main.malloc_generic, t->malloc_generic - t->flushed_generic);
  t->flushed_extended = t->pages_extended;
  t->flushed_generic = t->malloc_generic;
}

/* Totals and peaks start again from the current figures (the current ones stay: they describe
   memory that is still there). */
static void mi_stat_reset(mi_stat_atomic_t* stat) {
  const int64_t current = mi_atomic_load_relaxed(&stat->current);
  mi_atomic_store_relaxed(&stat->total, current);
  mi_atomic_store_relaxed(&stat->peak, current);
}

void mi_stats_reset(void) mi_attr_noexcept {
  mi_stats_t* s = &_mi_stats_main;
  mi_stat_atomic_t* counts[] = {
      &s->reserved, &s->committed,       &s->segments, &s->segments_abandoned,
      &s->pages,    &s->pages_abandoned, &s->threads,  &s->arenas};
  for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) mi_stat_reset(counts[i]);
  _Atomic(int64_t)* counters[] = {&s->purged, &s->purges, &s->mmaps, &s->pages_extended,
                                  &s->malloc_generic};
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
  mi_stats_t* s = &_mi_stats_main;
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
  mi_print_line(&pr, "%-12s %12s %12lld", "slow paths:", "", (long long)t->malloc_generic);
  mi_print_process(&pr);
}
