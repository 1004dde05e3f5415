/* test-heaps: first-class heaps at scale. 100k mixed blocks in one heap are visited (each area
   once, each live block once, and the walk stops when the visitor says so), all contained in it;
   every mi_heap_* allocation form lands in its heap; mi_heap_set_default redirects mi_malloc;
   blocks of a heap are freed from another thread; mi_heap_delete moves live blocks to the backing
   heap intact; mi_heap_destroy releases everything and RSS falls; the page-utilisation hint. */
#include <pthread.h>

#include <mimalloc.h>

#include "testutil.h"

#define MIB     ((size_t)1 << 20)
#define NBLOCKS 100000

static size_t rss_mib(void) {
  char buf[2048];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, "VmRSS:");
  return (p != NULL ? (size_t)strtoul(p + 6, NULL, 10) / 1024 : 0);
}

static size_t block_size_of(size_t i) {
  if (i % 1000 == 0) return 200 * 1024 + i;  // some large blocks
  if (i % 50 == 0) return 9000 + i % 50000;  // medium
  return 8 + (i * 37) % 1000;                // small
}

typedef struct visit_s {
  size_t areas, blocks, not_contained, stop_after;
  mi_heap_t* heap;
} visit_t;

static bool visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                    size_t block_size, void* arg) {
  (void)heap;
  visit_t* v = (visit_t*)arg;
  if (block == NULL) {
    v->areas++;
    if (area->used > 0 && area->block_size == 0) v->not_contained++;
  } else {
    v->blocks++;
    if (block_size < 8 || !mi_heap_contains_block(v->heap, block)) v->not_contained++;
  }
  return v->stop_after == 0 || v->areas + v->blocks < v->stop_after;
}

static void* free_all(void* arg) {
  void** blocks = (void**)arg;
  for (size_t i = 0; blocks[i] != NULL; i++) mi_free(blocks[i]);
  return NULL;
}

int main(void) {
  t_begin("test-heaps", "first-class heaps: visiting, ownership, delete, destroy");
  static void* blocks[NBLOCKS + 1];

  t_section("100,000 mixed blocks in one heap, visited and contained");
  mi_heap_t* heap = mi_heap_new();
  if (!CHECK(heap != NULL, "mi_heap_new")) return t_end();
  size_t bytes = 0;
  for (size_t i = 0; i < NBLOCKS; i++) {
    const size_t sz = block_size_of(i);
    blocks[i] = mi_heap_malloc(heap, sz);
    if (blocks[i] != NULL) memset(blocks[i], (int)(i & 0xff), sz);
    bytes += sz;
  }
  size_t foreign = 0;
  for (size_t i = 0; i < NBLOCKS; i++) {
    if (!mi_heap_contains_block(heap, blocks[i]) || !mi_heap_check_owned(heap, blocks[i]) ||
        mi_heap_contains_block(mi_heap_get_backing(), blocks[i]) ||
        !mi_is_in_heap_region(blocks[i]))
      foreign++;
  }
  CHECK(foreign == 0, "%zu blocks not owned by their heap", foreign);
  visit_t v = {0, 0, 0, 0, heap};
  CHECK(mi_heap_visit_blocks(heap, true, visitor, &v), "full walk returns true");
  CHECK(v.blocks == NBLOCKS && v.areas > 100 && v.not_contained == 0,
        "visited %zu areas, %zu blocks (want %d), %zu odd", v.areas, v.blocks, NBLOCKS,
        v.not_contained);
  visit_t areas_only = {0, 0, 0, 0, heap};
  mi_heap_visit_blocks(heap, false, visitor, &areas_only);
  CHECK(areas_only.blocks == 0 && areas_only.areas == v.areas, "areas only: %zu areas, %zu blocks",
        areas_only.areas, areas_only.blocks);
  visit_t stop = {0, 0, 0, 1000, heap};
  CHECK(!mi_heap_visit_blocks(heap, true, visitor, &stop) && stop.areas + stop.blocks == 1000,
        "a visitor returning false stops the walk (%zu calls)", stop.areas + stop.blocks);

  t_section("the page-utilisation hint");
  mi_heap_t* fresh = mi_heap_new();
  void* small[1024];
  for (size_t i = 0; i < 1024; i++) small[i] = mi_heap_malloc(fresh, 64);
  CHECK(!mi_unsafe_heap_page_is_under_utilized(fresh, small[1000], 50), "a full page is not");
  for (size_t i = 0; i < 1024; i++) {
    if (i != 1000) mi_free(small[i]);
  }
  CHECK(mi_unsafe_heap_page_is_under_utilized(fresh, small[1000], 10), "one block left: it is");
  CHECK(!mi_unsafe_heap_page_is_under_utilized(heap, small[1000], 100), "not a block of heap");
  mi_free(small[1000]);
  mi_heap_delete(fresh);

  t_section("mi_heap_destroy releases the 100k blocks at once; RSS falls");
  const size_t rss_full = rss_mib();
  mi_heap_destroy(heap);
  size_t rss_after = rss_mib();
  for (int t = 0; t < 50 && rss_after + bytes / MIB / 2 >= rss_full; t++) {  // (as checked below)
    usleep(20 * 1000);
    mi_free(mi_malloc(100));
    rss_after = rss_mib();
  }
  printf("    %zu MiB of blocks: RSS %zu MiB, %zu MiB after mi_heap_destroy\n", bytes / MIB,
         rss_full, rss_after);
  CHECK(rss_full >= bytes / MIB && rss_after + bytes / MIB / 2 < rss_full,
        "RSS %zu -> %zu MiB for %zu MiB of blocks", rss_full, rss_after, bytes / MIB);

  t_section("every mi_heap_* form allocates in its heap");
  heap = mi_heap_new();
  char path[] = ".";
  void* forms[] = {
      mi_heap_malloc(heap, 10),
      mi_heap_zalloc(heap, 10),
      mi_heap_calloc(heap, 3, 10),
      mi_heap_mallocn(heap, 3, 10),
      mi_heap_malloc_small(heap, 100),
      mi_heap_zalloc_small(heap, 100),
      mi_heap_realloc(heap, NULL, 50),
      mi_heap_reallocn(heap, NULL, 5, 10),
      mi_heap_reallocf(heap, NULL, 70),
      mi_heap_strdup(heap, "shardalloc"),
      mi_heap_strndup(heap, "shardalloc", 5),
      mi_heap_realpath(heap, path, NULL),
      mi_heap_malloc_aligned(heap, 100, 256),
      mi_heap_malloc_aligned_at(heap, 100, 256, 16),
      mi_heap_zalloc_aligned(heap, 100, 4096),
      mi_heap_zalloc_aligned_at(heap, 100, 4096, 8),
      mi_heap_calloc_aligned(heap, 4, 25, 128),
      mi_heap_calloc_aligned_at(heap, 4, 25, 128, 32),
      mi_heap_realloc_aligned(heap, NULL, 300, 64),
      mi_heap_realloc_aligned_at(heap, NULL, 300, 64, 8),
      mi_heap_rezalloc(heap, NULL, 40),
      mi_heap_recalloc(heap, NULL, 4, 10),
      mi_heap_rezalloc_aligned(heap, NULL, 40, 64),
      mi_heap_rezalloc_aligned_at(heap, NULL, 40, 64, 8),
      mi_heap_recalloc_aligned(heap, NULL, 4, 10, 64),
      mi_heap_recalloc_aligned_at(heap, NULL, 4, 10, 64, 8),
      mi_heap_alloc_new(heap, 100),
      mi_heap_alloc_new_n(heap, 10, 10),
      mi_heap_malloc(heap, 40 * MIB),  // huge
  };
  const size_t nforms = sizeof(forms) / sizeof(forms[0]);
  for (size_t i = 0; i < nforms; i++) {
    CHECK(forms[i] != NULL && mi_heap_contains_block(heap, forms[i]), "form %zu: %p", i, forms[i]);
  }
  for (size_t i = 0; i < nforms; i++) mi_free(forms[i]);

  t_section("mi_heap_set_default sends mi_malloc to the heap; restored afterwards");
  mi_heap_t* old = mi_heap_set_default(heap);
  CHECK(mi_heap_get_default() == heap && mi_heap_get_backing() == old, "default and backing");
  void* p = mi_malloc(123);
  CHECK(mi_heap_contains_block(heap, p), "mi_malloc went to the default heap");
  mi_free(p);
  mi_heap_set_default(old);
  p = mi_malloc(123);
  CHECK(!mi_heap_contains_block(heap, p) && mi_heap_contains_block(old, p), "restored");
  mi_free(p);

  t_section("blocks of a heap freed from another thread; mi_heap_collect");
  for (size_t i = 0; i < 20000; i++) blocks[i] = mi_heap_malloc(heap, 16 + i % 500);
  blocks[20000] = NULL;
  pthread_t t;
  pthread_create(&t, NULL, free_all, blocks);
  pthread_join(t, NULL);
  mi_heap_collect(heap, true);
  visit_t after_remote = {0, 0, 0, 0, heap};
  mi_heap_visit_blocks(heap, true, visitor, &after_remote);
  CHECK(after_remote.blocks == 0, "%zu live blocks after all were freed remotely",
        after_remote.blocks);

  t_section("mi_heap_delete: live blocks move to the backing heap and stay valid");
  for (size_t i = 0; i < 10000; i++) {
    blocks[i] = mi_heap_malloc(heap, 32 + i % 300);
    memset(blocks[i], (int)(i & 0xff), 32);
  }
  mi_heap_delete(heap);
  size_t bad = 0;
  for (size_t i = 0; i < 10000; i++) {
    const unsigned char* b = (const unsigned char*)blocks[i];
    if (b[0] != (i & 0xff) || b[31] != (i & 0xff) || !mi_heap_contains_block(old, blocks[i])) bad++;
  }
  CHECK(bad == 0, "%zu blocks damaged or not in the backing heap after mi_heap_delete", bad);
  blocks[10000] = NULL;
  pthread_create(&t, NULL, free_all, blocks);
  pthread_join(t, NULL);
  return t_end();
}
