/* test-callbacks: mi_register_error gets mimalloc's codes (EOVERFLOW for sizes no allocation can
   have, ENOMEM when memory runs out, EINVAL for an invalid pointer in builds that check them)
   while errno stays ENOMEM; with a handler registered nothing aborts; mi_register_deferred_free
   is called from the slow path with a growing heartbeat and with force on mi_collect(true);
   mi_register_output receives the library's messages (and NULL restores stderr). */
#include <mimalloc.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

static int codes[64];
static size_t ncodes;
static void on_error(int err, void* arg) {
  if (ncodes < 64) codes[ncodes++] = err;
  *(int*)arg += 1;
}

static size_t count_code(int err) {
  size_t n = 0;
  for (size_t i = 0; i < ncodes; i++) n += (codes[i] == err);
  return n;
}

static unsigned long long beats[4096];
static size_t nbeats, nforced;
static void on_deferred(bool force, unsigned long long heartbeat, void* arg) {
  (void)arg;
  if (force) nforced++;
  if (nbeats < 4096) beats[nbeats++] = heartbeat;
}

static char out_text[16384];
static size_t out_len;
static void on_output(const char* msg, void* arg) {
  *(int*)arg += 1;
  const size_t n = strlen(msg);
  if (out_len + n < sizeof(out_text)) {
    memcpy(out_text + out_len, msg, n + 1);
    out_len += n;
  }
}

int main(void) {
  t_begin("test-callbacks", "error, deferred-free and output callbacks");
  const size_t half = (size_t)t_addr((void*)(SIZE_MAX / 2)), quarter = half / 2;  // not constants

  t_section("mi_register_error: EOVERFLOW, ENOMEM, EINVAL; errno stays ENOMEM");
  int calls = 0;
  mi_register_error(on_error, &calls);
  errno = 0;
  CHECK(mi_malloc(half) == NULL && errno == ENOMEM, "huge request: NULL, errno %d", errno);
  errno = 0;
  CHECK(mi_calloc(quarter, 8) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
  errno = 0;
  CHECK(mi_mallocn(half, 3) == NULL && errno == ENOMEM, "mallocn overflow");
  CHECK(mi_reallocn(NULL, half, 3) == NULL && errno == ENOMEM, "reallocn overflow");
  CHECK(mi_calloc_aligned(half, 4, 64) == NULL && errno == ENOMEM, "calloc_aligned");
  CHECK(count_code(EOVERFLOW) == 5, "EOVERFLOW reported %zu times, want 5", count_code(EOVERFLOW));

  mi_arena_id_t id = 0;
  mi_heap_t* heap = NULL;
  if (CHECK(mi_reserve_os_memory_ex(32 * MIB, true, false, true, &id) == 0, "small arena")) {
    heap = mi_heap_new_in_arena(id);
  }
  void* blocks[64];
  size_t n = 0;
  while (heap != NULL && n < 64) {
    errno = 0;
    blocks[n] = mi_heap_malloc(heap, 4 * MIB);
    if (blocks[n] == NULL) break;
    n++;
  }
  CHECK(heap != NULL && n < 64 && errno == ENOMEM && count_code(ENOMEM) >= 1,
        "exhausted arena: %zu blocks, errno %d, ENOMEM reported %zu times", n, errno,
        count_code(ENOMEM));
  if (heap != NULL) mi_heap_destroy(heap);

#if defined(SA_TEST_DEBUG) && SA_TEST_DEBUG >= 1
  char* p = (char*)mi_malloc(100);
  const size_t before = count_code(EINVAL);
  mi_free(p + 8);  // interior pointer: detected in debug builds, reported, not freed
  CHECK(count_code(EINVAL) == before + 1, "interior free: EINVAL reported");
  mi_free(p);
#endif
  CHECK(calls == (int)ncodes && calls >= 6, "the handler's argument is passed: %d calls", calls);
  mi_register_error(NULL, NULL);

  t_section("mi_register_deferred_free: heartbeat from the slow path, force on mi_collect(true)");
  mi_register_deferred_free(on_deferred, NULL);
  void* keep[20000];
  for (size_t i = 0; i < 20000; i++) keep[i] = mi_malloc(16 + (i % 64) * 64);
  for (size_t i = 0; i < 20000; i++) mi_free(keep[i]);
  CHECK(nbeats >= 10, "called %zu times over 20000 mixed allocations", nbeats);
  bool growing = true;
  for (size_t i = 1; i < nbeats; i++) growing = growing && beats[i] > beats[i - 1];
  CHECK(growing, "the heartbeat grows with every call");
  mi_collect(true);
  CHECK(nforced >= 1, "mi_collect(true) calls it with force");
  mi_register_deferred_free(NULL, NULL);
  const size_t after = nbeats;
  for (size_t i = 0; i < 2000; i++) mi_free(mi_malloc(4096 + i));
  CHECK(nbeats == after, "unregistered: not called any more");

  t_section("mi_register_output receives messages; NULL restores stderr");
  int outs = 0;
  mi_register_output(on_output, &outs);
  mi_stats_print_out(NULL, NULL);  // NULL: the registered output
  mi_options_print();
  mi_register_output(NULL, NULL);
  CHECK(outs > 10 && strstr(out_text, "heap stats:") != NULL &&
            strstr(out_text, "option 'purge_delay'") != NULL,
        "%d messages:\n%.400s", outs, out_text);
  return t_end();
}
