/* test-stats-json: mimalloc-stats.h. mi_stats_get fills an mi_stats_t with real figures that
   follow the allocations (reserved, committed, pages, segments, huge blocks, threads) and fall
   after a collect; it honours the caller's size and version. mi_stats_get_json gives the same
   figures as JSON, into an mi_malloc'd block or the caller's buffer (NULL when that is too small).
   With --print-json the program only prints the JSON (ctest api-stats-json-valid feeds it to
   python3 -m json.tool). */
#include <mimalloc-stats.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#if MI_STATS_BIN_HUGE != 73 || MI_BIN_HUGE != 73
#error "mimalloc-stats.h: the bins arrays must have 74 entries, as mimalloc's"
#endif
_Static_assert(sizeof(((mi_stats_t*)0)->malloc_bins) == 74 * sizeof(mi_stat_count_t),
               "malloc_bins has 74 entries");
_Static_assert(sizeof(((mi_stats_t*)0)->page_bins) == 74 * sizeof(mi_stat_count_t),
               "page_bins has 74 entries");

// Every field of mi_stats_t but the header, the reserved ones and the bins (the JSON has them all).
typedef struct field_s {
  const char* name;
  size_t offset;
  bool is_count;
} field_t;
#define COUNT(f) \
  { #f, offsetof(mi_stats_t, f), true }
#define COUNTER(f) \
  { #f, offsetof(mi_stats_t, f), false }
static const field_t fields[] = {
    COUNT(pages),
    COUNT(reserved),
    COUNT(committed),
    COUNT(page_committed),
    COUNT(pages_abandoned),
    COUNT(threads),
    COUNT(malloc_normal),
    COUNT(malloc_huge),
    COUNT(malloc_requested),
    COUNTER(reset),
    COUNTER(purged),
    COUNTER(mmap_calls),
    COUNTER(commit_calls),
    COUNTER(reset_calls),
    COUNTER(purge_calls),
    COUNTER(arena_count),
    COUNTER(malloc_normal_count),
    COUNTER(malloc_huge_count),
    COUNTER(malloc_guarded_count),
    COUNTER(arena_rollback_count),
    COUNTER(arena_purges),
    COUNTER(pages_extended),
    COUNTER(pages_retire),
    COUNTER(page_searches),
    COUNTER(page_searches_count),
    COUNT(segments),
    COUNT(segments_abandoned),
    COUNT(segments_cache),
    COUNTER(pages_reclaim_on_alloc),
    COUNTER(pages_reclaim_on_free),
    COUNTER(pages_reabandon_full),
    COUNTER(pages_unabandon_busy_wait),
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static mi_stats_t get(void) {
  mi_stats_t_decl(s);
  CHECK(mi_stats_get(&s), "mi_stats_get refused a mi_stats_t_decl struct");
  return s;
}

// The values of "name": {...} in the JSON text: 3 for a count, 1 for a counter, 0 if missing.
static int json_field(const char* json, const char* name, long long v[3]) {
  char key[64];
  snprintf(key, sizeof(key), "\"%s\": ", name);
  const char* at = strstr(json, key);
  if (at == NULL) return 0;
  at += strlen(key);
  if (sscanf(at, "{\"total\": %lld, \"peak\": %lld, \"current\": %lld}", &v[0], &v[1], &v[2]) ==
      3) {
    return 3;
  }
  return sscanf(at, "{\"total\": %lld}", &v[0]) == 1 ? 1 : 0;
}

// Entries of the array "name" (objects with a "total"), or -1 if it is missing.
static int json_array_length(const char* json, const char* name) {
  char key[64];
  snprintf(key, sizeof(key), "\"%s\": [", name);
  const char* at = strstr(json, key);
  if (at == NULL) return -1;
  const char* end = strchr(at, ']');
  if (end == NULL) return -1;
  int n = 0;
  for (const char* p = strstr(at, "{\"total\""); p != NULL && p < end;
       p = strstr(p + 1, "{\"total\""))
    n++;
  return n;
}

static pthread_barrier_t hold;
static void* held_thread(void* arg) {
  (void)arg;
  void* p = mi_malloc(1000);
  pthread_barrier_wait(&hold);  // alive, with a heap
  pthread_barrier_wait(&hold);  // until the main thread has looked
  mi_free(p);
  return NULL;
}

static int print_json(void) {
  void* p = mi_malloc(100);  // a thread and some figures to show
  char* json = mi_stats_get_json(0, NULL);
  if (json == NULL) return 1;
  fputs(json, stdout);
  mi_free(json);
  mi_free(p);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--print-json") == 0) return print_json();
  t_begin("test-stats-json", "mi_stats_get and mi_stats_get_json with real figures");

  t_section("mi_stats_t_decl: zeroed, size and version set");
  {
    mi_stats_t_decl(s);
    CHECK_EQ(s.size, sizeof(mi_stats_t));
    CHECK_EQ(s.version, MI_STAT_VERSION);
    const unsigned char* b = (const unsigned char*)&s;
    size_t nonzero = 0;
    for (size_t i = offsetof(mi_stats_t, pages); i < sizeof(s); i++) nonzero += (b[i] != 0);
    CHECK_EQ(nonzero, 0);
  }

  t_section("the figures follow 64 MiB of 1 KiB blocks, a 40 MiB block and a thread");
  void* first = mi_malloc(16);  // this thread is initialised before the baseline
  const mi_stats_t s0 = get();
  CHECK(s0.threads.current >= 1, "threads %lld", (long long)s0.threads.current);
  const size_t count = 64 * 1024;
  void** blocks = (void**)mi_malloc(count * sizeof(void*));
  for (size_t i = 0; i < count; i++) {
    blocks[i] = mi_malloc(1024);
    if (blocks[i] != NULL) memset(blocks[i], 1, 1024);
  }
  char* huge = (char*)mi_malloc(40 * T_MiB);
  if (huge != NULL) memset(huge, 2, 40 * T_MiB);
  pthread_barrier_init(&hold, NULL, 2);
  pthread_t thread;
  pthread_create(&thread, NULL, held_thread, NULL);
  pthread_barrier_wait(&hold);
  const mi_stats_t s1 = get();
  pthread_barrier_wait(&hold);
  pthread_join(thread, NULL);
  CHECK(s1.pages.current >= s0.pages.current + 900, "pages %lld -> %lld, want +900",
        (long long)s0.pages.current, (long long)s1.pages.current);
  CHECK(s1.reserved.current >= s0.reserved.current + (int64_t)(104 * T_MiB) ||
            s1.reserved.current >= (int64_t)(104 * T_MiB),
        "reserved %lld -> %lld", (long long)s0.reserved.current, (long long)s1.reserved.current);
  CHECK(s1.committed.current >= s0.committed.current + (int64_t)(104 * T_MiB) &&
            s1.committed.current <= s1.reserved.current,
        "committed %lld -> %lld, want +104 MiB and <= reserved %lld",
        (long long)s0.committed.current, (long long)s1.committed.current,
        (long long)s1.reserved.current);
  CHECK(s1.segments.current >= s0.segments.current + 3, "segments %lld -> %lld",
        (long long)s0.segments.current, (long long)s1.segments.current);
  CHECK(s1.threads.current == s0.threads.current + 1, "threads %lld -> %lld with one more alive",
        (long long)s0.threads.current, (long long)s1.threads.current);
  CHECK(s1.malloc_huge.current >= s0.malloc_huge.current + (int64_t)(40 * T_MiB),
        "malloc_huge %lld -> %lld", (long long)s0.malloc_huge.current,
        (long long)s1.malloc_huge.current);
  CHECK(s1.malloc_huge_count.total >= s0.malloc_huge_count.total + 1,
        "malloc_huge_count %lld -> %lld", (long long)s0.malloc_huge_count.total,
        (long long)s1.malloc_huge_count.total);
  CHECK(s1.pages_extended.total >= s0.pages_extended.total + 900, "pages_extended %lld -> %lld",
        (long long)s0.pages_extended.total, (long long)s1.pages_extended.total);
  CHECK(s1.mmap_calls.total >= 1 && s1.arena_count.total >= 1, "mmap_calls %lld, arena_count %lld",
        (long long)s1.mmap_calls.total, (long long)s1.arena_count.total);
  for (size_t i = 0; i < FIELD_COUNT; i++) {
    if (!fields[i].is_count) continue;
    const mi_stat_count_t* c = (const mi_stat_count_t*)((const char*)&s1 + fields[i].offset);
    CHECK(c->peak >= c->current && c->total >= c->current, "%s: total %lld peak %lld current %lld",
          fields[i].name, (long long)c->total, (long long)c->peak, (long long)c->current);
  }

  t_section("after free and mi_collect(true): committed, pages and huge bytes fall");
  for (size_t i = 0; i < count; i++) mi_free(blocks[i]);
  mi_free(blocks);
  mi_free(huge);
  mi_collect(true);
  const mi_stats_t s2 = get();
  CHECK(s2.committed.current < s1.committed.current &&
            s2.committed.current <= s0.committed.current + (int64_t)(8 * T_MiB),
        "committed %lld -> %lld -> %lld", (long long)s0.committed.current,
        (long long)s1.committed.current, (long long)s2.committed.current);
  CHECK(s2.committed.peak >= s1.committed.current, "committed peak %lld < %lld",
        (long long)s2.committed.peak, (long long)s1.committed.current);
  CHECK(s2.pages.current <= s0.pages.current + 8, "pages %lld after freeing (%lld before)",
        (long long)s2.pages.current, (long long)s0.pages.current);
  CHECK(s2.malloc_huge.current == s0.malloc_huge.current, "malloc_huge %lld -> %lld",
        (long long)s0.malloc_huge.current, (long long)s2.malloc_huge.current);
  CHECK(s2.purged.total >= s1.purged.total + (int64_t)(32 * T_MiB) &&
            s2.purge_calls.total > s1.purge_calls.total,
        "purged %lld -> %lld bytes in %lld -> %lld calls", (long long)s1.purged.total,
        (long long)s2.purged.total, (long long)s1.purge_calls.total,
        (long long)s2.purge_calls.total);
  CHECK(s2.threads.current == s0.threads.current, "threads %lld after join, %lld before",
        (long long)s2.threads.current, (long long)s0.threads.current);

  t_section("the caller's size and version are honoured");
  {
    mi_stats_t s;
    memset(&s, 0xA5, sizeof(s));
    s.size = offsetof(mi_stats_t, committed);  // an older, shorter mi_stats_t
    s.version = MI_STAT_VERSION;
    CHECK(mi_stats_get(&s), "a shorter size is refused");
    CHECK(s.pages.current > 0 && s.reserved.current > 0, "pages %lld, reserved %lld",
          (long long)s.pages.current, (long long)s.reserved.current);
    CHECK_EQ(s.size, offsetof(mi_stats_t, committed));
    const unsigned char* b = (const unsigned char*)&s;
    size_t touched = 0;
    for (size_t i = offsetof(mi_stats_t, committed); i < sizeof(s); i++) touched += (b[i] != 0xA5);
    CHECK(touched == 0, "%zu bytes written past the caller's size", touched);

    memset(&s, 0xA5, sizeof(s));
    s.size = offsetof(mi_stats_t, pages);  // the header alone: nothing to fill
    s.version = MI_STAT_VERSION;
    CHECK(mi_stats_get(&s), "a header-only size is refused");
    touched = 0;
    for (size_t i = offsetof(mi_stats_t, pages); i < sizeof(s); i++) touched += (b[i] != 0xA5);
    CHECK_EQ(touched, 0);

    memset(&s, 0xA5, sizeof(s));
    s.size = sizeof(size_t);  // too small for the header
    s.version = MI_STAT_VERSION;
    CHECK(!mi_stats_get(&s), "a size below the header is accepted");
    s.size = sizeof(mi_stats_t);
    s.version = MI_STAT_VERSION + 1;  // a layout this library does not know
    CHECK(!mi_stats_get(&s), "an unknown version is accepted");
    touched = 0;
    for (size_t i = offsetof(mi_stats_t, pages); i < sizeof(s); i++) touched += (b[i] != 0xA5);
    CHECK(touched == 0, "a refused call wrote %zu bytes", touched);
    CHECK(!mi_stats_get(NULL), "mi_stats_get(NULL) returned true");

    mi_stats_t_decl(full);  // a longer caller struct: only sizeof(mi_stats_t) bytes are filled
    unsigned char longer[sizeof(mi_stats_t) + 64];
    memset(longer, 0xA5, sizeof(longer));
    full.size = sizeof(longer);
    memcpy(longer, &full, offsetof(mi_stats_t, pages));
    CHECK(mi_stats_get((mi_stats_t*)(void*)longer), "a longer size is refused");
    touched = 0;
    for (size_t i = sizeof(mi_stats_t); i < sizeof(longer); i++) touched += (longer[i] != 0xA5);
    CHECK(touched == 0, "%zu bytes written past sizeof(mi_stats_t)", touched);
  }

  t_section("mi_stats_get_json into an mi_malloc'd block");
  char* json = mi_stats_get_json(0, NULL);
  size_t json_len = 0;
  if (CHECK_NOT_NULL(json, "mi_stats_get_json(0, NULL) gave NULL")) {
    json_len = strlen(json);
    CHECK(json_len > 1000 && json[0] == '{' && strcmp(json + json_len - 2, "}\n") == 0,
          "not one object (%zu bytes):\n%.200s", json_len, json);
    CHECK(mi_usable_size(json) >= json_len + 1, "block %zu bytes for %zu", mi_usable_size(json),
          json_len + 1);
    long long v[3];
    char version[32];
    snprintf(version, sizeof(version), "\"version\": %d,", MI_STAT_VERSION);
    CHECK(strstr(json, version) != NULL, "%s missing", version);
    CHECK(strstr(json, "\"mimalloc_version\": ") != NULL, "mimalloc_version missing");
    CHECK(strstr(json, "\"process\": {\"elapsed_msecs\": ") != NULL, "process missing");
    for (size_t i = 0; i < FIELD_COUNT; i++) {
      const int n = json_field(json, fields[i].name, v);
      CHECK(n == (fields[i].is_count ? 3 : 1), "field %s: %d values", fields[i].name, n);
    }
    CHECK_EQ(json_array_length(json, "malloc_bins"), 74);
    CHECK_EQ(json_array_length(json, "page_bins"), 74);
    mi_free(json);
  }

  t_section("mi_stats_get_json into the caller's buffer; too small gives NULL");
  static char buf[64 * 1024];
  CHECK(mi_stats_get_json(sizeof(buf), buf) == buf, "a 64 KiB buffer is too small");
  CHECK(strlen(buf) + 200 > json_len && strlen(buf) < json_len + 200, "%zu bytes, before %zu",
        strlen(buf), json_len);
  memset(buf, 'x', 100);
  CHECK(mi_stats_get_json(100, buf) == NULL, "100 bytes were enough");
  CHECK(buf[0] == 0, "a too-small buffer holds \"%.20s...\", not an empty string", buf);
  CHECK(mi_stats_get_json(json_len / 2, buf) == NULL, "half the size was enough");
  CHECK(mi_stats_get_json(0, buf) == NULL, "0 bytes were enough");
  // Exactly the length + 1 fits, the length alone does not (retried: the clock may add a digit).
  bool exact_fit = false, one_short = false;
  for (int tries = 0; tries < 10 && !(exact_fit && one_short); tries++) {
    if (mi_stats_get_json(sizeof(buf), buf) == NULL) break;
    const size_t len = strlen(buf);
    exact_fit = (mi_stats_get_json(len + 1, buf) == buf && strlen(buf) == len);
    one_short = (mi_stats_get_json(len, buf) == NULL);
  }
  CHECK(exact_fit && one_short, "length+1 fits: %d, length alone fails: %d", exact_fit, one_short);

  t_section("the JSON's numbers are those of mi_stats_get");
  bool compared = false;
  for (int tries = 0; tries < 20 && !compared; tries++) {
    // Only while nothing moves between the two snapshots (a purge may run in between).
    const mi_stats_t a = get();
    char* text = mi_stats_get_json(sizeof(buf), buf);
    const mi_stats_t b = get();
    if (text == NULL || memcmp(&a, &b, sizeof(a)) != 0) continue;
    compared = true;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
      long long v[3] = {0, 0, 0};
      const int n = json_field(text, fields[i].name, v);
      const char* at = (const char*)&a + fields[i].offset;
      if (fields[i].is_count) {
        const mi_stat_count_t* c = (const mi_stat_count_t*)at;
        CHECK(n == 3 && v[0] == c->total && v[1] == c->peak && v[2] == c->current,
              "%s: json %lld/%lld/%lld, struct %lld/%lld/%lld", fields[i].name, v[0], v[1], v[2],
              (long long)c->total, (long long)c->peak, (long long)c->current);
      } else {
        const mi_stat_counter_t* c = (const mi_stat_counter_t*)at;
        CHECK(n == 1 && v[0] == c->total, "%s: json %lld, struct %lld", fields[i].name, v[0],
              (long long)c->total);
      }
    }
  }
  CHECK(compared, "the figures never held still for two snapshots");
  mi_free(first);
  return t_end();
}
