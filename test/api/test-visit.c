/* test-visit: mi_heap_visit_blocks visits exactly the live blocks, once each, and reports usable
   sizes:
   - blocks another thread freed into a full page (they wait on the heap's delayed-free list,
     still counted live by their page) are not visited, and mi_usable_size of every visited block
     works (in the secure build it aborts on a freed block);
   - area.block_size and the size given for each block are the usable size (mi_usable_size), also
     in the secure build, where an 8-byte canary follows it: a visitor that fills what it is told
     the block holds must not damage the block (the free afterwards checks the canary).
   Runs against the plain and the secure library. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define BLOCK 48
#define COUNT 3000  // more than two 64 KiB pages of 48-byte blocks: the first pages fill up

static void* blocks[COUNT];

typedef struct visit_s {
  size_t live, visited_in_set, bad_size, area_mismatch;
  bool fill;
} visit_t;

static int cmp_ptr(const void* a, const void* b) {
  const uintptr_t x = t_addr(*(void* const*)a), y = t_addr(*(void* const*)b);
  return x < y ? -1 : x > y;
}

static bool in_set(void** sorted, size_t n, const void* p) {
  return bsearch(&p, sorted, n, sizeof(void*), cmp_ptr) != NULL;
}

static void** sorted_blocks;
static size_t sorted_count;

static bool visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block, size_t size,
                    void* arg) {
  (void)heap;
  visit_t* v = (visit_t*)arg;
  if (block == NULL) {  // the area itself
    if (area->block_size > area->full_block_size) v->area_mismatch++;
    return true;
  }
  if (!in_set(sorted_blocks, sorted_count, block)) return true;
  v->visited_in_set++;
  const size_t usable = mi_usable_size(block);  // aborts (secure) if the block was freed
  if (size != usable || area->block_size != usable) v->bad_size++;
  if (v->fill) memset(block, 0xA5, size);  // all of what the visitor is told it may use
  return true;
}

// The owner: allocates, lets the other thread free some, then visits.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void wait_stage(int s) {
  pthread_mutex_lock(&mu);
  while (stage < s) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}
static void set_stage(int s) {
  pthread_mutex_lock(&mu);
  stage = s;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

#define REMOTE_FREED 40  // blocks of the first (full) page freed by the other thread

static void* owner(void* arg) {
  (void)arg;
  for (size_t i = 0; i < COUNT; i++) blocks[i] = mi_malloc(BLOCK);
  sorted_count = COUNT;
  sorted_blocks = calloc(COUNT, sizeof(void*));
  memcpy(sorted_blocks, blocks, sizeof blocks);
  qsort(sorted_blocks, COUNT, sizeof(void*), cmp_ptr);
  set_stage(1);
  wait_stage(2);  // the main thread freed REMOTE_FREED blocks of the first page

  t_section("blocks freed by another thread into a full page are not visited");
  visit_t v = {0};
  CHECK(mi_heap_visit_blocks(mi_heap_get_default(), true, &visitor, &v), "visit failed");
  CHECK(v.visited_in_set == COUNT - REMOTE_FREED,
        "%zu of our blocks visited, %d are live (%d were freed by another thread)",
        v.visited_in_set, COUNT - REMOTE_FREED, REMOTE_FREED);
  CHECK(v.bad_size == 0, "%zu blocks visited with a size other than their usable size",
        v.bad_size);
  CHECK(v.area_mismatch == 0, "%zu areas with block_size > full_block_size", v.area_mismatch);

  t_section("a visitor fills every visited block with the size it is given; frees still pass");
  visit_t f = {0};
  f.fill = true;
  CHECK(mi_heap_visit_blocks(mi_heap_get_default(), true, &visitor, &f), "visit failed");
  for (size_t i = REMOTE_FREED; i < COUNT; i++) mi_free(blocks[i]);  // canaries checked (secure)

  t_section("a heap of its own: one block of each of 40 sizes, visited with its usable size");
  mi_heap_t* heap = mi_heap_new();
  void* own[40];
  for (size_t i = 0; i < 40; i++) own[i] = mi_heap_malloc(heap, 1 + i * 37);
  free(sorted_blocks);
  sorted_blocks = calloc(40, sizeof(void*));
  memcpy(sorted_blocks, own, sizeof own);
  sorted_count = 40;
  qsort(sorted_blocks, 40, sizeof(void*), cmp_ptr);
  visit_t h = {0};
  h.fill = true;
  CHECK(mi_heap_visit_blocks(heap, true, &visitor, &h), "visit failed");
  CHECK(h.visited_in_set == 40 && h.bad_size == 0, "%zu visited, %zu with a wrong size",
        h.visited_in_set, h.bad_size);
  for (size_t i = 0; i < 40; i++) mi_free(own[i]);
  mi_heap_delete(heap);
  free(sorted_blocks);
  return NULL;
}

int main(void) {
  t_begin("test-visit", "heap visiting: only live blocks, usable sizes");
  pthread_t th;
  if (!CHECK(pthread_create(&th, NULL, owner, NULL) == 0, "pthread_create")) return t_end();
  wait_stage(1);
  // The first block's page filled up before the second page was made: it sits in the full
  // queue, so these frees go to the owner heap's delayed list.
  for (size_t i = 0; i < REMOTE_FREED; i++) mi_free(blocks[i]);
  set_stage(2);
  pthread_join(th, NULL);
  return t_end();
}
