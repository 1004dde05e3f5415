/* test-arena [--disallow | --reserved]: arenas and OS memory (issue 7).
   Default run: an exclusive arena reserved with mi_reserve_os_memory_ex serves a heap made with
   mi_heap_new_in_arena and nothing else; the heap gets ENOMEM when the arena is full (small,
   large and huge blocks all land inside it); mi_heap_destroy gives the arena back; memory the
   program maps itself (PROT_NONE, uncommitted) is managed as an exclusive arena too;
   mi_arena_area, mi_debug_show_arenas, mi_heap_new_ex's checks, and 1 GiB huge OS pages (ENOMEM
   where the system has none, which is the usual case).
   --disallow (run with MIMALLOC_DISALLOW_OS_ALLOC=1): before anything is allocated, a static
   buffer and an mmap of the program's are handed over with mi_manage_os_memory; every block
   (small to huge) then lies inside them, exhaustion is a clean ENOMEM, and freeing makes room.
   --reserved (run with MIMALLOC_RESERVE_OS_MEMORY=96M): arena 1 exists at start, 96 MiB. */
#include <pthread.h>
#include <sys/mman.h>

#include <mimalloc.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

static bool in_range(const void* p, const void* start, size_t size) {
  return t_addr(p) >= t_addr(start) && t_addr(p) < t_addr(start) + size;
}

// Output capture for mi_debug_show_arenas (no allocation: a static buffer).
static char captured[8192];
static size_t captured_len;
static void capture(const char* msg, void* arg) {
  (void)arg;
  const size_t n = strlen(msg);
  if (captured_len + n < sizeof(captured)) {
    memcpy(captured + captured_len, msg, n + 1);
    captured_len += n;
  }
}

static size_t free_1g_pages(void) {
  int fd = open("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", O_RDONLY);
  if (fd < 0) return 0;
  char buf[32] = {0};
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return (n > 0 ? (size_t)strtoul(buf, NULL, 10) : 0);
}

// Fill `heap` with blocks of cycling sizes (16 B .. 6 MiB, and one 40 MiB if it fits) until it
// says ENOMEM; every block must lie in [start, start+size). Returns the bytes allocated; the
// blocks are left in `out` (count in *n).
static size_t fill_until_enomem(mi_heap_t* heap, const void* start, size_t size, void** out,
                                size_t max, size_t* n) {
  static const size_t sizes[] = {16, 100, 1000, 9000, 70000, 300 * 1024, 2 * MIB, 6 * MIB};
  size_t total = 0, count = 0, outside = 0;
  bool enomem = false;
  for (size_t i = 0; count < max; i++) {
    const size_t sz = (i == 3 ? 40 * MIB : sizes[i % 8]);
    errno = 0;
    void* p = (heap != NULL ? mi_heap_malloc(heap, sz) : malloc(sz));
    if (p == NULL) {
      enomem = (errno == ENOMEM);
      if (sz <= 16) break;  // even the smallest fails: full
      continue;
    }
    memset(p, 0x5a, sz < 4096 ? sz : 4096);
    if (!in_range(p, start, size)) outside++;
    out[count++] = p;
    total += sz;
  }
  CHECK(outside == 0, "%zu of %zu blocks lie outside the arena", outside, count);
  CHECK(enomem, "allocation stopped without ENOMEM after %zu blocks", count);
  CHECK(count < max, "no ENOMEM after %zu blocks (%zu bytes)", count, total);
  *n = count;
  return total;
}

static void* other_thread(void* arg) {
  void** blocks = (void**)arg;
  for (size_t i = 0; blocks[i] != NULL; i++) mi_free(blocks[i]);  // remote frees into the arena
  return NULL;
}

static void test_exclusive_reserved(void) {
  t_section("an exclusive reserved arena serves only its heap, up to ENOMEM");
  mi_arena_id_t id = 0;
  CHECK(mi_reserve_os_memory_ex(128 * MIB, true, false, true, &id) == 0 && id > 0,
        "mi_reserve_os_memory_ex: id %d", id);
  size_t size = 0;
  void* start = mi_arena_area(id, &size);
  CHECK(start != NULL && size == 128 * MIB && t_is_aligned(start, 32 * MIB),
        "mi_arena_area: %p, %zu bytes", start, size);
  size_t none = 1;
  CHECK(mi_arena_area(id + 100, &none) == NULL && none == 0, "unknown id gives NULL");

  mi_heap_t* heap = mi_heap_new_in_arena(id);
  if (!CHECK(heap != NULL, "mi_heap_new_in_arena(%d)", id)) return;
  // the default heap never lands in the exclusive arena
  void* plain[64];
  size_t plain_outside = 0;
  for (size_t i = 0; i < 64; i++) {
    plain[i] = mi_malloc(1000 * (i + 1));
    if (plain[i] != NULL && in_range(plain[i], start, size)) plain_outside++;
  }
  CHECK(plain_outside == 0, "%zu default-heap blocks in the exclusive arena", plain_outside);
  static void* blocks[200000];
  size_t count = 0;
  const size_t total = fill_until_enomem(heap, start, size, blocks, 200000, &count);
  CHECK(total > 64 * MIB, "only %zu MiB fit in a 128 MiB arena", total / MIB);
  CHECK(mi_heap_contains_block(heap, blocks[0]) && mi_heap_check_owned(heap, blocks[count - 1]),
        "the heap owns its blocks");
  for (size_t i = 0; i < 64; i++) mi_free(plain[i]);

  t_section("blocks of the arena heap freed from another thread; then the heap is destroyed");
  static void* half[100001];
  size_t h = 0;
  for (size_t i = 0; i < count; i += 2) {
    half[h++] = blocks[i];
    blocks[i] = NULL;
  }
  half[h] = NULL;
  pthread_t t;
  pthread_create(&t, NULL, other_thread, half);
  pthread_join(t, NULL);
  void* again = mi_heap_malloc(heap, 1000);
  CHECK(again != NULL && in_range(again, start, size), "room again after remote frees: %p", again);
  mi_heap_destroy(heap);

  t_section("after mi_heap_destroy the arena serves a new heap");
  heap = mi_heap_new_in_arena(id);
  void* big = (heap != NULL ? mi_heap_malloc(heap, 60 * MIB) : NULL);
  CHECK(big != NULL && in_range(big, start, size), "60 MiB in the emptied arena: %p", big);
  if (heap != NULL) mi_heap_destroy(heap);
}

// A thread whose arena heap still holds blocks exits; its segment is abandoned. The main thread's
// default heap, collecting, must not adopt it (it would then hand out the exclusive arena).
static mi_arena_id_t exit_arena;
static void* volatile live;
static void* arena_thread(void* arg) {
  (void)arg;
  mi_heap_t* heap = mi_heap_new_in_arena(exit_arena);
  for (int i = 0; i < 100; i++) live = mi_heap_malloc(heap, 48);  // left live
  return NULL;
}

static void test_exclusive_after_exit(void) {
  t_section("an exited thread's arena segment is not adopted by other heaps");
  if (!CHECK(mi_reserve_os_memory_ex(64 * MIB, true, false, true, &exit_arena) == 0, "arena"))
    return;
  size_t size = 0;
  void* start = mi_arena_area(exit_arena, &size);
  pthread_t t;
  pthread_create(&t, NULL, arena_thread, NULL);
  pthread_join(t, NULL);
  mi_collect(true);
  size_t inside = 0;
  void* blocks[100];
  for (int i = 0; i < 100; i++) {
    blocks[i] = mi_malloc(48);
    if (in_range(blocks[i], start, size)) inside++;
  }
  CHECK(inside == 0, "%zu of 100 default-heap blocks came from the exclusive arena", inside);
  for (int i = 0; i < 100; i++) mi_free(blocks[i]);
}

static void test_managed_uncommitted(void) {
  t_section("the program's own PROT_NONE mapping as an exclusive arena");
  const size_t len = 100 * MIB;  // holds at least two aligned 32 MiB blocks wherever it lands
  void* region = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!CHECK(region != MAP_FAILED, "mmap")) return;
  mi_arena_id_t id = 0;
  CHECK(mi_manage_os_memory_ex(region, len, false, false, true, -1, true, &id) && id > 0,
        "mi_manage_os_memory_ex: id %d", id);
  size_t size = 0;
  void* start = mi_arena_area(id, &size);
  CHECK(start != NULL && in_range(start, region, len) && size >= 64 * MIB &&
            t_addr(start) + size <= t_addr(region) + len,
        "area %p + %zu MiB inside %p + %zu MiB", start, size / MIB, region, len / MIB);
  mi_heap_t* heap = mi_heap_new_in_arena(id);
  if (!CHECK(heap != NULL, "mi_heap_new_in_arena")) return;
  char* p = (char*)mi_heap_zalloc(heap, 5 * MIB);
  bool zero = (p != NULL);
  for (size_t i = 0; p != NULL && i < 5 * MIB; i += 4096) zero = zero && p[i] == 0;
  CHECK(p != NULL && in_range(p, start, size) && zero, "zeroed block in the managed memory: %p", p);
  if (p != NULL) memset(p, 1, 5 * MIB);  // writable: the block was made accessible
  mi_heap_destroy(heap);
  CHECK(!mi_manage_os_memory(region, 16 * MIB, true, false, false, -1),
        "a range without an aligned 32 MiB block is refused");
}

static void test_misc(void) {
  t_section("mi_debug_show_arenas, mi_heap_new_ex checks, huge OS pages");
  mi_register_output(capture, NULL);
  mi_debug_show_arenas();
  mi_register_output(NULL, NULL);
  CHECK(strstr(captured, "arena 1:") != NULL && strstr(captured, "exclusive") != NULL &&
            strstr(captured, "the program's memory") != NULL,
        "mi_debug_show_arenas printed:\n%s", captured);
  errno = 0;
  CHECK(mi_heap_new_in_arena(999) == NULL && errno == EINVAL, "unknown arena: NULL, EINVAL");
  errno = 0;
  CHECK(mi_heap_new_ex(300, true, 0) == NULL && errno == EINVAL, "tag 300: NULL, EINVAL");
  mi_heap_t* tagged = mi_heap_new_ex(7, false, 0);
  void* q = (tagged != NULL ? mi_heap_malloc(tagged, 100) : NULL);
  CHECK(q != NULL && !in_range(q, NULL, 0), "mi_heap_new_ex(7, false, 0) allocates");
  mi_free(q);
  if (tagged != NULL) mi_heap_delete(tagged);

  const size_t avail = free_1g_pages();
  const int err = mi_reserve_huge_os_pages_interleave(1, 0, 100);
  if (avail == 0) {
    CHECK(err == ENOMEM, "no 1 GiB pages on this system: want ENOMEM, got %d", err);
    CHECK(mi_reserve_huge_os_pages_at(2, 0, 100) == ENOMEM, "_at: ENOMEM");
    mi_arena_id_t id = 5;
    CHECK(mi_reserve_huge_os_pages_at_ex(1, -1, 100, true, &id) == ENOMEM && id == 0,
          "_at_ex: ENOMEM, id 0");
    size_t got = 9;
    CHECK(mi_reserve_huge_os_pages(1, 0.1, &got) == ENOMEM && got == 0, "deprecated form");
  } else {
    CHECK(err == 0, "%zu free 1 GiB pages, reservation failed: %d", avail, err);
  }
  CHECK(mi_reserve_os_memory(0, true, false) == EINVAL, "size 0: EINVAL");
}

// --disallow: everything must come from the program's memory handed over before any allocation.
static char static_region[80 * 1024 * 1024];  // at least one aligned 32 MiB block inside

static mi_arena_id_t managed_a, managed_b;
static bool ok_a, ok_b;

// Before anything (printf included) allocates.
static void manage_regions(void) {
  ok_a = mi_manage_os_memory_ex(static_region, sizeof(static_region), true, false, true, -1, false,
                                &managed_a);
  const size_t len = 100 * MIB;
  void* region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ok_b = (region != MAP_FAILED &&
          mi_manage_os_memory_ex(region, len, true, false, true, -1, false, &managed_b));
}

static void test_disallow(void) {
  const char* env = getenv("MIMALLOC_DISALLOW_OS_ALLOC");
  if (!CHECK(env != NULL && strcmp(env, "1") == 0, "run with MIMALLOC_DISALLOW_OS_ALLOC=1")) return;
  const mi_arena_id_t a = managed_a, b = managed_b;
  size_t size_a = 0, size_b = 0;
  void* start_a = mi_arena_area(a, &size_a);
  void* start_b = mi_arena_area(b, &size_b);
  t_section("all allocation stays inside a static buffer and an mmap handed over at start");
  CHECK(ok_a && ok_b && start_a != NULL && start_b != NULL, "managed: %d %d", ok_a, ok_b);
  static void* blocks[300000];
  size_t count = 0, outside = 0, total = 0;
  bool enomem = false;
  static const size_t sizes[] = {24, 200, 3000, 20000, 100000, 900 * 1024, 5 * MIB, 20 * MIB};
  for (size_t i = 0; count < 300000; i++) {
    const size_t sz = sizes[i % 8];
    errno = 0;
    void* p = malloc(sz);
    if (p == NULL) {
      enomem = (errno == ENOMEM);
      if (sz == 24) break;
      continue;
    }
    memset(p, 0x33, sz < 8192 ? sz : 8192);
    if (!in_range(p, start_a, size_a) && !in_range(p, start_b, size_b)) outside++;
    blocks[count++] = p;
    total += sz;
  }
  printf("    %zu blocks, %zu MiB in %zu + %zu MiB of managed memory, then ENOMEM\n", count,
         total / MIB, size_a / MIB, size_b / MIB);
  CHECK(outside == 0, "%zu of %zu blocks outside the managed memory", outside, count);
  CHECK(enomem && count < 300000, "exhaustion gave ENOMEM (%d) after %zu blocks", enomem, count);
  CHECK(total >= (size_a + size_b) / 2, "only %zu MiB of %zu used", total / MIB,
        (size_a + size_b) / MIB);
  t_section("freeing makes room again");
  for (size_t i = 0; i < count; i++) free(blocks[i]);
  void* big = malloc(20 * MIB);
  CHECK(big != NULL && (in_range(big, start_a, size_a) || in_range(big, start_b, size_b)),
        "20 MiB after freeing: %p", big);
  free(big);
}

static void test_reserved(void) {
  t_section("MIMALLOC_RESERVE_OS_MEMORY=96M reserves arena 1 at start");
  size_t size = 0;
  void* start = mi_arena_area(1, &size);
  CHECK(start != NULL && size == 96 * MIB, "arena 1: %p, %zu MiB", start, size / MIB);
  void* p = malloc(1000);
  CHECK(p != NULL && in_range(p, start, size), "the first blocks come from it: %p", p);
  free(p);
}

int main(int argc, char** argv) {
  const char* mode = (argc > 1 ? argv[1] : "");
  if (strcmp(mode, "--disallow") == 0) {
    manage_regions();
    t_begin("test-arena", "MIMALLOC_DISALLOW_OS_ALLOC with the program's memory");
    test_disallow();
  } else if (strcmp(mode, "--reserved") == 0) {
    t_begin("test-arena", "MIMALLOC_RESERVE_OS_MEMORY");
    test_reserved();
  } else {
    t_begin("test-arena", "arenas: reserved, managed, exclusive, huge OS pages");
    test_exclusive_reserved();
    test_exclusive_after_exit();
    test_managed_uncommitted();
    test_misc();
  }
  return t_end();
}
