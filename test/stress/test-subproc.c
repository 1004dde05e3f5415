/* Sub-processes and abandoned visiting (mimalloc 2.4's mi_subproc_* and mi_abandoned_visit_blocks):
   threads of one sub-process never adopt another's abandoned memory; mi_abandoned_visit_blocks
   finds exactly the live blocks exited threads left, by heap tag, also while other threads
   allocate, free and exit; adopted pages join the heap of their tag; a deleted sub-process whose
   memory is all freed gives its segments back. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mimalloc-stats.h"
#include "mimalloc.h"
#include "testutil.h"

#define TAG 5

/* ---- a thread that joins a sub-process, leaves blocks behind and exits ---- */
typedef struct leaver_s {
  mi_subproc_id_t subproc;
  size_t count;        // blocks left in the default heap
  size_t tagged;       // blocks left in a heap of tag TAG
  void** blocks;       // count + tagged pointers (default heap first)
} leaver_t;

static void* leaver_main(void* arg) {
  leaver_t* l = (leaver_t*)arg;
  mi_subproc_add_current_thread(l->subproc);
  for (size_t i = 0; i < l->count; i++) {
    l->blocks[i] = mi_malloc(48 + (i % 5) * 16);
    memset(l->blocks[i], 0x5a, 48);
  }
  if (l->tagged > 0) {
    mi_heap_t* h = mi_heap_new_ex(TAG, false, 0);
    for (size_t i = 0; i < l->tagged; i++) l->blocks[l->count + i] = mi_heap_malloc(h, 200);
  }
  // a little garbage too, freed: the segments hold live and free blocks
  for (int i = 0; i < 1000; i++) mi_free(mi_malloc(64));
  return NULL;
}

static void run_leaver(leaver_t* l) {
  pthread_t t;
  pthread_create(&t, NULL, &leaver_main, l);
  pthread_join(t, NULL);
}

/* ---- counting visitor: how many visited blocks are in a given set ---- */
typedef struct count_s {
  void** set;
  size_t set_count;
  size_t found;       // blocks of the set
  size_t others;      // blocks not in it
  size_t areas;
  bool alloc_in_visitor;  // exercise: the visitor may allocate and free
} count_t;

static int ptr_cmp(const void* a, const void* b) {
  const uintptr_t x = *(const uintptr_t*)a, y = *(const uintptr_t*)b;
  return (x > y) - (x < y);
}

static bool in_set(count_t* c, void* p) {
  return bsearch(&p, c->set, c->set_count, sizeof(void*), &ptr_cmp) != NULL;
}

static bool count_visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                          size_t size, void* arg) {
  count_t* c = (count_t*)arg;
  (void)area;
  (void)size;
  if (heap != NULL) return false;  // abandoned areas have no heap
  if (block == NULL) {
    c->areas++;
    return true;
  }
  if (c->alloc_in_visitor) mi_free(mi_malloc(32));
  if (c->set != NULL && in_set(c, block)) c->found++;
  else c->others++;
  return true;
}

static size_t visit_count(mi_subproc_id_t sp, int tag, void** set, size_t n, size_t* others) {
  qsort(set, n, sizeof(void*), &ptr_cmp);
  count_t c = {set, n, 0, 0, 0, true};
  const bool ok = mi_abandoned_visit_blocks(sp, tag, true, &count_visitor, &c);
  CHECK(ok, "mi_abandoned_visit_blocks returned false");
  if (others != NULL) *others = c.others;
  return c.found;
}

static int64_t abandoned_segments(void) {
  mi_stats_t st;
  st.size = sizeof(st);
  st.version = MI_STAT_VERSION;
  mi_stats_get(&st);
  return st.segments_abandoned.current;
}

/* ---- a thread that adopts everything its sub-process abandoned ---- */
typedef struct adopter_s {
  mi_subproc_id_t subproc;     // NULL: stays in the main one
  pthread_barrier_t* ready;    // if set: wait here twice (heap made; then: adopt now)
  void** tagged;               // blocks that must land in our tag-TAG heap
  size_t tagged_count;
  size_t tagged_seen;
  void** all;                  // blocks the sub-process abandoned
  size_t all_count;
  size_t abandoned_after;      // of those, still abandoned after our mi_collect(true)
} adopter_t;

static bool heap_count_visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                               size_t size, void* arg) {
  (void)heap; (void)area; (void)size;
  count_t* c = (count_t*)arg;
  if (block != NULL && in_set(c, block)) c->found++;
  return true;
}

static size_t visit_count(mi_subproc_id_t sp, int tag, void** set, size_t n, size_t* others);

static void* adopter_main(void* arg) {
  adopter_t* a = (adopter_t*)arg;
  if (a->subproc != NULL) mi_subproc_add_current_thread(a->subproc);
  mi_heap_t* tagged = mi_heap_new_ex(TAG, false, 0);
  if (a->ready != NULL) {
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->ready);
  }
  mi_collect(true);  // adopts what its sub-process abandoned
  if (a->tagged_count > 0) {
    qsort(a->tagged, a->tagged_count, sizeof(void*), &ptr_cmp);
    count_t c = {a->tagged, a->tagged_count, 0, 0, 0, false};
    mi_heap_visit_blocks(tagged, true, &heap_count_visitor, &c);
    a->tagged_seen = c.found;
  }
  if (a->all_count > 0) {
    a->abandoned_after = visit_count(a->subproc != NULL ? a->subproc : mi_subproc_main(), -1,
                                     a->all, a->all_count, NULL);
  }
  return NULL;
}

static void run_adopter(adopter_t* a) {
  pthread_t t;
  pthread_create(&t, NULL, &adopter_main, a);
  pthread_join(t, NULL);
}

static void test_ids(void) {
  t_section("ids");
  mi_subproc_id_t main_id = mi_subproc_main();
  CHECK(main_id != NULL && main_id == mi_subproc_main(), "mi_subproc_main is stable and not NULL");
  mi_subproc_id_t a = mi_subproc_new(), b = mi_subproc_new();
  CHECK(a != NULL && b != NULL && a != b && a != main_id, "mi_subproc_new gives distinct ids");
  mi_subproc_delete(a);
  mi_subproc_delete(b);
  mi_subproc_delete(NULL);     // nothing
  mi_subproc_delete(main_id);  // the main one stays
  CHECK(mi_subproc_main() == main_id, "the main sub-process survives a delete");
  void* p = mi_malloc(10);
  CHECK(p != NULL, "allocation still works");
  mi_free(p);
  // invalid visit arguments
  CHECK(!mi_abandoned_visit_blocks(main_id, 0, true, NULL, NULL), "NULL visitor refused");
  CHECK(!mi_abandoned_visit_blocks(main_id, 300, true, &count_visitor, NULL), "tag 300 refused");

  t_section("mi_theap_* (mimalloc 2.4's names of the heap functions)");
  mi_theap_t* th = mi_theap_get_default();
  CHECK(th == mi_heap_get_default(), "mi_theap_get_default");
  CHECK(mi_theap_set_default(th) == th, "mi_theap_set_default");
  char* q = (char*)mi_theap_malloc(th, 10);
  q = (char*)mi_theap_realloc(th, q, 100);
  char* z = (char*)mi_theap_zalloc(th, 64);
  char* c = (char*)mi_theap_calloc(th, 4, 16);
  char* s = (char*)mi_theap_malloc_small(th, 24);
  char* al = (char*)mi_theap_malloc_aligned(th, 100, 256);
  CHECK(q != NULL && z != NULL && c != NULL && s != NULL && al != NULL, "allocations");
  CHECK_ZERO(z, 64);
  CHECK_ZERO(c, 64);
  CHECK_ALIGNED(al, 256);
  mi_free(q); mi_free(z); mi_free(c); mi_free(s); mi_free(al);
  mi_theap_collect(th, true);
}

static void test_isolation(void) {
  t_section("isolation: threads of one sub-process never adopt another's memory");
  const int64_t base = abandoned_segments();
  mi_subproc_id_t sp = mi_subproc_new();
  const size_t n = 2000, tagged = 300;
  void** blocks = calloc(n + tagged, sizeof(void*));
  leaver_t l = {sp, n, tagged, blocks};
  run_leaver(&l);
  CHECK(abandoned_segments() > base, "the leaver's segments are abandoned (%lld > %lld)",
        (long long)abandoned_segments(), (long long)base);
  size_t others = 0;
  CHECK_EQ(visit_count(sp, -1, blocks, n + tagged, &others), n + tagged);
  CHECK_EQ(visit_count(sp, 0, blocks, n + tagged, NULL), n);
  CHECK_EQ(visit_count(sp, TAG, blocks, n + tagged, NULL), tagged);
  CHECK_EQ(visit_count(mi_subproc_main(), -1, blocks, n + tagged, NULL), (size_t)0);

  // threads of the main sub-process (this one, and a fresh one) adopt all they may: not these
  mi_collect(true);
  adopter_t main_adopter = {NULL, NULL, NULL, 0, 0, blocks, n + tagged, 0};
  run_adopter(&main_adopter);
  CHECK_EQ(visit_count(sp, -1, blocks, n + tagged, NULL), n + tagged);
  // a thread of another sub-process neither
  mi_subproc_id_t other = mi_subproc_new();
  adopter_t other_adopter = {other, NULL, NULL, 0, 0, blocks, n + tagged, 0};
  run_adopter(&other_adopter);
  CHECK_EQ(visit_count(sp, -1, blocks, n + tagged, NULL), n + tagged);
  mi_subproc_delete(other);
  // a thread of the same sub-process adopts them (and leaves them again when it exits, tags kept)
  adopter_t same = {sp, NULL, NULL, 0, 0, blocks, n + tagged, SIZE_MAX};
  run_adopter(&same);
  CHECK_EQ(same.abandoned_after, (size_t)0);
  CHECK_EQ(visit_count(sp, -1, blocks, n + tagged, NULL), n + tagged);
  CHECK_EQ(visit_count(sp, TAG, blocks, n + tagged, NULL), tagged);

  // deleting it while memory is live keeps it; once all is freed its segments go
  mi_subproc_delete(sp);
  for (size_t i = 0; i < n + tagged; i++) mi_free(blocks[i]);
  const double deadline = t_now() + 5.0;
  while (abandoned_segments() > base && t_now() < deadline) {  // the periodic work releases them
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 200; i++) mi_free(mi_malloc(5000 + (size_t)i));
  }
  CHECK(abandoned_segments() <= base, "the deleted sub-process's segments were released (%lld, "
        "before %lld)", (long long)abandoned_segments(), (long long)base);
  free(blocks);
}

static void test_tags(void) {
  t_section("adopted pages join the adopting thread's heap of their tag");
  mi_subproc_id_t sp = mi_subproc_new();
  pthread_barrier_t ready;
  pthread_barrier_init(&ready, NULL, 2);
  const size_t n = 200, tagged = 300;
  void** blocks = calloc(n + tagged, sizeof(void*));
  void** tagged_set = calloc(tagged, sizeof(void*));
  adopter_t a = {sp, &ready, tagged_set, tagged, 0, NULL, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, &adopter_main, &a);
  pthread_barrier_wait(&ready);  // its tagged heap exists; nothing abandoned yet
  leaver_t l = {sp, n, tagged, blocks};
  run_leaver(&l);
  memcpy(tagged_set, blocks + n, tagged * sizeof(void*));
  pthread_barrier_wait(&ready);  // now it adopts
  pthread_join(t, NULL);
  CHECK_EQ(a.tagged_seen, tagged);
  CHECK_EQ(visit_count(sp, TAG, blocks, n + tagged, NULL), tagged);  // abandoned again, tag kept
  for (size_t i = 0; i < n + tagged; i++) mi_free(blocks[i]);
  mi_subproc_delete(sp);
  pthread_barrier_destroy(&ready);
  free(tagged_set);
  free(blocks);
}

static void test_delete_releases(void) {
  t_section("a sub-process whose memory is all freed is released by mi_subproc_delete");
  const int64_t base = abandoned_segments();
  mi_subproc_id_t sp = mi_subproc_new();
  const size_t n = 500;
  void** blocks = calloc(n, sizeof(void*));
  leaver_t l = {sp, n, 0, blocks};
  run_leaver(&l);
  CHECK(abandoned_segments() > base, "abandoned");
  for (size_t i = 0; i < n; i++) mi_free(blocks[i]);  // (remote frees into abandoned pages)
  mi_subproc_delete(sp);  // visits its segments now: all empty, released
  CHECK(abandoned_segments() <= base, "released at delete (%lld, before %lld)",
        (long long)abandoned_segments(), (long long)base);
  free(blocks);
}

/* ---- visiting while other threads allocate, free and exit ---- */
#define WORKERS 3
static atomic_bool stop;
static mi_subproc_id_t stress_sp;

static void* worker_main(void* arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
  void* slots[256] = {0};
  while (!atomic_load(&stop)) {
    const size_t i = t_rand_range(&rng, 0, 255);
    mi_free(slots[i]);
    slots[i] = mi_malloc(t_rand_range(&rng, 8, 3000));
  }
  for (size_t i = 0; i < 256; i++) mi_free(slots[i]);
  return NULL;
}

// Threads that come and go, each leaving a few blocks that the churner frees later (abandoning,
// adopting and releasing segments on the same list while the walk runs). They join a sub-process
// of their own: a thread of the walked one would adopt its segments, and blocks in an adopted
// segment are no longer abandoned (a walk rightly misses them). Between rounds the churner also
// frees blocks of the walked sub-process (remote frees into the pages being visited).
#define CHURN_ROUNDS 40
static mi_subproc_id_t churn_sp;
static void* _Atomic churn_left[CHURN_ROUNDS * 16];
static void** stress_extra;  // blocks the leaver left that are not counted (freed while walking)
static size_t stress_extra_count;

static void* churn_thread(void* arg) {
  const size_t round = (size_t)(uintptr_t)arg;
  mi_subproc_add_current_thread(churn_sp);
  for (size_t i = 0; i < 16; i++) atomic_store(&churn_left[round * 16 + i], mi_malloc(100));
  return NULL;
}

static void* churner_main(void* arg) {
  (void)arg;
  size_t extra_next = 0;
  for (size_t r = 0; r < CHURN_ROUNDS && !atomic_load(&stop); r++) {
    pthread_t t;
    pthread_create(&t, NULL, &churn_thread, (void*)(uintptr_t)r);
    pthread_join(t, NULL);
    if (r >= 2) {  // free what the round before last left
      for (size_t i = 0; i < 16; i++) mi_free(atomic_exchange(&churn_left[(r - 2) * 16 + i], NULL));
    }
    for (size_t i = 0; i < stress_extra_count / CHURN_ROUNDS && extra_next < stress_extra_count; i++) {
      mi_free(stress_extra[extra_next]);
      stress_extra[extra_next++] = NULL;
    }
  }
  return NULL;
}

// A second walker at the same time: each walk must meet every live block exactly once.
typedef struct walker_s {
  void** set;
  size_t n;
  size_t walks, bad;
} walker_t;

static void* walker_main(void* arg) {
  walker_t* w = (walker_t*)arg;
  while (!atomic_load(&stop)) {
    count_t c = {w->set, w->n, 0, 0, 0, false};
    if (!mi_abandoned_visit_blocks(stress_sp, -1, true, &count_visitor, &c) || c.found != w->n) w->bad++;
    w->walks++;
  }
  return NULL;
}

// A visitor that starts a walk of its own is refused (the walks would wait for each other).
static bool nested_visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                           size_t size, void* arg) {
  (void)heap; (void)area; (void)size;
  if (block == NULL) return true;
  count_t c = {NULL, 0, 0, 0, 0, false};
  *(bool*)arg = mi_abandoned_visit_blocks(stress_sp, -1, true, &count_visitor, &c);
  return false;  // once is enough
}

static void test_visit_concurrent(void) {
  t_section("visiting abandoned memory while other threads allocate, free and exit");
  stress_sp = mi_subproc_new();
  churn_sp = mi_subproc_new();
  const size_t n = t_scaled(4000, 1000);
  void** left = calloc(2 * n, sizeof(void*));
  leaver_t l = {stress_sp, 2 * n, 0, left};
  run_leaver(&l);
  // every other block is counted; the rest are freed while the walks run
  void** blocks = calloc(n, sizeof(void*));
  stress_extra = calloc(n, sizeof(void*));
  stress_extra_count = n;
  for (size_t i = 0; i < n; i++) {
    blocks[i] = left[2 * i];
    stress_extra[i] = left[2 * i + 1];
  }
  free(left);
  atomic_store(&stop, false);
  pthread_t workers[WORKERS], churner;
  for (size_t i = 0; i < WORKERS; i++) pthread_create(&workers[i], NULL, &worker_main, (void*)(i + 1));
  qsort(blocks, n, sizeof(void*), &ptr_cmp);
  bool nested_ok = true;
  mi_abandoned_visit_blocks(stress_sp, -1, true, &nested_visitor, &nested_ok);
  CHECK(!nested_ok, "a walk started from a visitor is refused");
  pthread_create(&churner, NULL, &churner_main, NULL);
  walker_t second = {blocks, n, 0, 0};
  pthread_t walker;
  pthread_create(&walker, NULL, &walker_main, &second);
  size_t walks = 0, bad = 0;
  const double end = t_now() + (t_quick() ? 0.5 : 1.5);
  while (t_now() < end) {
    count_t c = {blocks, n, 0, 0, 0, true};
    if (!mi_abandoned_visit_blocks(stress_sp, -1, true, &count_visitor, &c) || c.found != n) bad++;
    walks++;
  }
  atomic_store(&stop, true);
  for (size_t i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
  pthread_join(churner, NULL);
  pthread_join(walker, NULL);
  CHECK(bad == 0, "%zu of %zu walks missed some of the %zu live blocks", bad, walks, n);
  CHECK(second.bad == 0, "%zu of %zu walks of a second walker missed or repeated blocks",
        second.bad, second.walks);
  printf("    %zu + %zu walks while %d threads ran\n", walks, second.walks, WORKERS + 1);
  for (size_t i = 0; i < CHURN_ROUNDS * 16; i++) mi_free(atomic_exchange(&churn_left[i], NULL));
  for (size_t i = 0; i < n; i++) mi_free(blocks[i]);
  for (size_t i = 0; i < n; i++) mi_free(stress_extra[i]);
  mi_subproc_delete(stress_sp);
  mi_subproc_delete(churn_sp);
  free(blocks);
  free(stress_extra);
}

int main(void) {
  t_begin("test-subproc", "sub-processes keep abandoned memory apart; abandoned blocks visited");
  test_ids();
  test_delete_releases();
  test_isolation();
  test_tags();
  test_visit_concurrent();
  return t_end();
}
