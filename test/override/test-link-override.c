/* test-link-override: a program that calls the plain C allocation functions and is linked with
   shardalloc — statically (test-static, libshardalloc.a: our malloc symbols in the executable
   override libc's) or dynamically (test-dynamic, libshardalloc.so ahead of libc, no LD_PRELOAD).
   mi_is_in_heap_region(p) proves that shardalloc served each block: from malloc, calloc, realloc,
   the aligned forms, from libc-internal allocations (strdup, getline), from another thread; and
   memory crosses freely between free and mi_free. Built with -fno-builtin-* so the compiler keeps
   every call. */
#include <malloc.h>
#include <mimalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#if defined(LINK_STATIC)
#if defined(LINK_STATIC_FULL)
#define LINK_KIND "static-full"
#else
#define LINK_KIND "static"
#endif
#else
#define LINK_KIND "dynamic"
#endif

static void check_ours(void* p, size_t n, const char* what) {
  if (!CHECK_NOT_NULL(p, "%s returned NULL", what)) return;
  if (!CHECK(mi_is_in_heap_region(p), "%s: %p is not in shardalloc's heap (libc served it?)", what,
             p))
    return;
  CHECK(mi_usable_size(p) >= n, "%s: mi_usable_size %zu < %zu", what, mi_usable_size(p), n);
  CHECK(malloc_usable_size(p) == mi_usable_size(p),
        "%s: malloc_usable_size %zu != mi_usable_size %zu", what, malloc_usable_size(p),
        mi_usable_size(p));
}

static void* thread_malloc(void* arg) {
  (void)arg;
  return malloc(5000);
}

int main(void) {
  t_begin("test-" LINK_KIND,
          "plain malloc/free in a program linked with shardalloc (" LINK_KIND ")");

  t_section("malloc / calloc / realloc / free are served by shardalloc");
  char* p = malloc(100);
  check_ours(p, 100, "malloc(100)");
  if (p != NULL) {
    memcpy(p, "static override", 16);
    p = realloc(p, 100000);
    check_ours(p, 100000, "realloc(p, 100000)");
    if (p != NULL) CHECK(strcmp(p, "static override") == 0, "realloc lost the content: '%.16s'", p);
    free(p);
  }
  unsigned char* z = calloc(1000, 10);
  check_ours(z, 10000, "calloc(1000, 10)");
  if (z != NULL) CHECK_ZERO(z, 10000);
  free(z);
  void* big = malloc(20 * T_MiB);
  check_ours(big, 20 * T_MiB, "malloc(20 MiB)");
  free(big);
  void* zero = malloc(0);
  check_ours(zero, 0, "malloc(0)");
  free(zero);
  void* rn = realloc(NULL, 64);
  check_ours(rn, 64, "realloc(NULL, 64)");
  free(rn);
  free(NULL);

  t_section("aligned_alloc / posix_memalign / memalign / valloc are served by shardalloc");
  void* a = aligned_alloc(256, 1000);
  check_ours(a, 1000, "aligned_alloc(256, 1000)");
  if (a != NULL) CHECK_ALIGNED(a, 256);
  free(a);
  void* pm = NULL;
  CHECK(posix_memalign(&pm, 4096, 5000) == 0, "posix_memalign failed");
  check_ours(pm, 5000, "posix_memalign(4096, 5000)");
  if (pm != NULL) CHECK_ALIGNED(pm, 4096);
  free(pm);
  void* ma = memalign(64, 300);
  check_ours(ma, 300, "memalign(64, 300)");
  free(ma);
  void* va = valloc(10);
  check_ours(va, 10, "valloc(10)");
  if (va != NULL) CHECK_ALIGNED(va, (size_t)sysconf(_SC_PAGESIZE));
  free(va);

  t_section("allocations made inside libc (strdup, getline) come from shardalloc too");
  char* s = strdup("allocated inside libc");
  check_ours(s, 22, "strdup");
  free(s);
  FILE* f = fopen("/proc/self/status", "r");
  if (f != NULL) {
    char* line = NULL;
    size_t cap = 0;
    if (CHECK(getline(&line, &cap, f) > 0, "getline failed")) check_ours(line, 1, "getline buffer");
    free(line);
    fclose(f);
  }

  t_section("blocks cross between free and mi_free; a block from another thread is ours");
  void* m = mi_malloc(500);
  free(m);  // mi_ block, plain free
  void* n = malloc(500);
  if (mi_is_in_heap_region(n))
    mi_free(n);  // plain block, mi_free
  else
    free(n);  // (not ours: already reported by check_ours above)
  pthread_t t;
  void* from_thread = NULL;
  if (CHECK(pthread_create(&t, NULL, thread_malloc, NULL) == 0, "pthread_create failed")) {
    pthread_join(t, &from_thread);
    check_ours(from_thread, 5000, "malloc in a thread");
    free(from_thread);
  }
  return t_end();
}
