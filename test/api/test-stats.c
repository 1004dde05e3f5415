/* test-stats: mi_stats_print_out, mi_thread_stats_print_out, mi_stats_reset and mi_process_info
   report real figures: the rows follow the allocations (pages, segments, reserved, threads), a
   collect shows up as purged bytes, and the process figures (elapsed time, RSS, page faults,
   memory held) move as they should. With MIMALLOC_SHOW_STATS=1 (ctest api-stats-at-exit) the
   statistics are printed at exit as well. */
#include <mimalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

typedef struct capture_s {
  char text[8192];
  size_t len;
} capture_t;

static void capture_out(const char* msg, void* arg) {
  capture_t* c = (capture_t*)arg;
  const size_t n = strlen(msg);
  if (c->len + n < sizeof(c->text)) {
    memcpy(c->text + c->len, msg, n + 1);
    c->len += n;
  }
}

static capture_t stats_now(void) {
  capture_t c = {.len = 0};
  c.text[0] = 0;
  mi_stats_print_out(capture_out, &c);
  return c;
}

// Parses one amount ("123", "1.5 MiB") starting at *s; returns bytes or the count.
static double parse_amount(const char** s) {
  char* end;
  double v = strtod(*s, &end);
  if (end == *s) return -1;
  while (*end == ' ') end++;
  double mult = 1;
  if (strncmp(end, "KiB", 3) == 0) mult = 1024.0;
  else if (strncmp(end, "MiB", 3) == 0) mult = 1024.0 * 1024;
  else if (strncmp(end, "GiB", 3) == 0) mult = 1024.0 * 1024 * 1024;
  else if (strncmp(end, "TiB", 3) == 0) mult = 1024.0 * 1024 * 1024 * 1024;
  if (mult > 1) end += 3;
  else if (*end == 'B') end++;
  *s = end;
  return v * mult;
}

// The figures of row `name` ("pages:"): up to 3 (peak, total, current; counters: total only).
static int row(const capture_t* c, const char* name, double v[3]) {
  const char* line = c->text;
  const size_t n = strlen(name);
  while (line != NULL && *line) {
    if (strncmp(line, name, n) == 0 && line[n] == ' ') {
      const char* s = line + n;
      int k = 0;
      while (k < 3) {
        while (*s == ' ') s++;
        if (*s == '\n' || *s == 0) break;
        v[k] = parse_amount(&s);
        if (v[k] < 0) break;
        k++;
      }
      return k;
    }
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return 0;
}

static double current_of(const capture_t* c, const char* name) {
  double v[3] = {-1, -1, -1};
  const int k = row(c, name, v);
  return k == 3 ? v[2] : (k == 1 ? v[0] : -1);
}

static pthread_barrier_t hold;
static void* held_thread(void* arg) {
  (void)arg;
  void* p = malloc(1000);
  pthread_barrier_wait(&hold);  // both threads alive with a heap
  pthread_barrier_wait(&hold);  // until the main thread has looked
  free(p);
  return NULL;
}

int main(void) {
  t_begin("test-stats", "statistics and process information with real figures");

  t_section("every row is printed");
  capture_t c = stats_now();
  const char* rows[] = {"heap stats:", "reserved:", "committed:", "purged:", "segments:", "-abandoned:",
                        "pages:", "-extended:", "arenas:", "mmaps:", "purges:", "threads:",
                        "elapsed:", "process:"};
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    CHECK(strstr(c.text, rows[i]) != NULL, "row '%s' missing in:\n%s", rows[i], c.text);
  }

  t_section("the rows follow 64 MiB of 1 KiB blocks and a 40 MiB block");
  const double pages0 = current_of(&c, "pages:"), reserved0 = current_of(&c, "reserved:");
  const double committed0 = current_of(&c, "committed:");
  const size_t count = 64 * 1024;
  void** blocks = malloc(count * sizeof(void*));
  for (size_t i = 0; i < count; i++) {
    blocks[i] = malloc(1024);
    if (blocks[i] != NULL) memset(blocks[i], 1, 1024);
  }
  char* huge = malloc(40 * MIB);
  if (huge != NULL) memset(huge, 2, 40 * MIB);
  c = stats_now();
  const double pages1 = current_of(&c, "pages:"), reserved1 = current_of(&c, "reserved:");
  CHECK(pages1 >= pages0 + 900, "pages: %.0f -> %.0f, want +900 (64 MiB in 64 KiB pages)",
        pages0, pages1);
  CHECK(reserved1 >= 104.0 * MIB, "reserved: %.0f bytes, want >= 104 MiB (was %.0f)", reserved1,
        reserved0);
  const double committed1 = current_of(&c, "committed:");
  CHECK(committed1 >= committed0 + 104.0 * MIB && committed1 <= reserved1,
        "committed: %.0f -> %.0f bytes, want +104 MiB and <= reserved %.0f", committed0,
        committed1, reserved1);
  CHECK(current_of(&c, "segments:") >= 3, "segments: %.0f", current_of(&c, "segments:"));
  CHECK(current_of(&c, "arenas:") >= 1, "arenas: %.0f", current_of(&c, "arenas:"));
  CHECK(current_of(&c, "mmaps:") >= 1, "mmaps: %.0f", current_of(&c, "mmaps:"));

  size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
  mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
  CHECK(rss >= 100 * MIB && peak_rss >= rss, "rss %zu, peak %zu: want >= 100 MiB", rss, peak_rss);
  CHECK(commit >= 104 * MIB && peak_commit >= commit, "commit %zu, peak %zu", commit, peak_commit);
  CHECK(faults >= 100 * MIB / 4096 / 2, "page faults %zu: 104 MiB were touched", faults);
  CHECK(user + sys > 0, "user %zu ms + system %zu ms is 0", user, sys);
  mi_process_info(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);  // all may be NULL

  t_section("after free and mi_collect(true): pages gone, memory purged, RSS down");
  const double purged1 = current_of(&c, "purged:");
  for (size_t i = 0; i < count; i++) free(blocks[i]);
  free(blocks);
  free(huge);
  mi_collect(true);
  c = stats_now();
  const double pages2 = current_of(&c, "pages:");
  CHECK(pages2 <= pages0 + 8, "pages: %.0f after freeing everything (%.0f before)", pages2, pages0);
  CHECK(current_of(&c, "purged:") >= purged1 + 32.0 * MIB, "purged: %.0f -> %.0f bytes", purged1,
        current_of(&c, "purged:"));
  CHECK(current_of(&c, "committed:") <= committed0 + 8.0 * MIB,
        "committed: %.0f bytes after freeing and collecting (%.0f before, %.0f at the peak)",
        current_of(&c, "committed:"), committed0, committed1);
  size_t rss2, elapsed2;
  usleep(20 * 1000);
  mi_process_info(&elapsed2, NULL, NULL, &rss2, NULL, NULL, NULL, NULL);
  CHECK(rss2 < rss / 2, "rss %zu after collect, %zu before", rss2, rss);
  CHECK(elapsed2 >= elapsed + 20, "elapsed %zu -> %zu ms across a 20 ms sleep", elapsed, elapsed2);

  t_section("one-block pages freed together: at most one is kept (the rest go back at once)");
  const double pages3 = current_of(&c, "pages:");
  static void* big[500];
  for (size_t i = 0; i < 500; i++) {
    big[i] = malloc(100000);  // a large page (one block) each
    if (big[i] != NULL) memset(big[i], 3, 100000);
  }
  c = stats_now();
  const double pages4 = current_of(&c, "pages:");
  CHECK(pages4 >= pages3 + 500, "pages: %.0f -> %.0f with 500 blocks of 100,000 bytes", pages3,
        pages4);
  for (size_t i = 0; i < 500; i++) free(big[i]);
  c = stats_now();
  const double pages5 = current_of(&c, "pages:");
  CHECK(pages5 <= pages3 + 2, "pages: %.0f after freeing them (%.0f before): empty pages kept",
        pages5, pages3);

  t_section("threads are counted while they live");
  const double threads0 = current_of(&c, "threads:");
  pthread_barrier_init(&hold, NULL, 3);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, held_thread, NULL);
  pthread_barrier_wait(&hold);
  c = stats_now();
  CHECK(current_of(&c, "threads:") == threads0 + 2, "threads: %.0f, want %.0f",
        current_of(&c, "threads:"), threads0 + 2);
  pthread_barrier_wait(&hold);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  c = stats_now();
  CHECK(current_of(&c, "threads:") == threads0, "threads after join: %.0f, want %.0f",
        current_of(&c, "threads:"), threads0);

  t_section("mi_stats_reset, mi_stats_merge, mi_thread_stats_print_out, mi_stats_print");
  mi_stats_reset();
  mi_stats_merge();
  c = stats_now();
  double v[3];
  CHECK(row(&c, "purged:", v) == 1 && v[0] == 0, "purged after reset: %.0f", v[0]);
  CHECK(row(&c, "segments:", v) == 3 && v[0] == v[2] && v[1] == v[2],
        "segments after reset: peak %.0f total %.0f current %.0f", v[0], v[1], v[2]);
  capture_t th = {.len = 0};
  th.text[0] = 0;
  mi_thread_stats_print_out(capture_out, &th);
  CHECK(strstr(th.text, "thread stats:") != NULL && strstr(th.text, "pages:") != NULL,
        "thread stats:\n%s", th.text);
  capture_t reg = {.len = 0};
  reg.text[0] = 0;
  mi_register_output(capture_out, &reg);
  mi_stats_print(NULL);  // through the registered output function
  mi_register_output(NULL, NULL);
  CHECK(strstr(reg.text, "heap stats:") != NULL, "mi_stats_print(NULL) did not reach the output");
  return t_end();
}
