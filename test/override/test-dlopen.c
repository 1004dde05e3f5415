/* test-dlopen LIB: a running, multi-threaded process that was not linked with shardalloc dlopens
   LIB (built with SHARDALLOC_LOCAL_DYNAMIC_TLS=ON) and uses the mi_* API through dlsym:
   - from the main thread, from threads that existed before the dlopen and from threads started
     after it, with blocks freed by other threads and heaps created and destroyed;
   - the process's malloc stays the C library's (a dlopened library does not interpose);
   - after dlclose (the library is marked NODELETE: blocks and thread records outlive the handle)
     threads still exit cleanly and blocks allocated before can still be freed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

typedef struct mi_heap_s mi_heap_t;
static void* (*p_mi_malloc)(size_t);
static void (*p_mi_free)(void*);
static size_t (*p_mi_usable_size)(const void*);
static bool (*p_mi_is_in_heap_region)(const void*);
static mi_heap_t* (*p_mi_heap_new)(void);
static void* (*p_mi_heap_malloc)(mi_heap_t*, size_t);
static void (*p_mi_heap_destroy)(mi_heap_t*);
static int (*p_mi_version)(void);

#define LOOKUP(handle, name)                                             \
  do {                                                                   \
    *(void**)&p_##name = dlsym(handle, #name);                           \
    if (!CHECK(p_##name != NULL, "dlsym(%s): %s", #name, dlerror())) return false; \
  } while (0)

static bool lookup_all(void* handle) {
  LOOKUP(handle, mi_malloc);
  LOOKUP(handle, mi_free);
  LOOKUP(handle, mi_usable_size);
  LOOKUP(handle, mi_is_in_heap_region);
  LOOKUP(handle, mi_heap_new);
  LOOKUP(handle, mi_heap_malloc);
  LOOKUP(handle, mi_heap_destroy);
  LOOKUP(handle, mi_version);
  return true;
}

#define EXCHANGE 256
static void* _Atomic exchange[EXCHANGE];  // blocks passed between threads

// Allocates, checks and frees; also takes blocks other threads left in `exchange` and frees them.
static void* worker(void* arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg;
  for (int round = 0; round < 20000; round++) {
    const size_t n = t_rand_range(&seed, 1, round % 100 == 0 ? 300000 : 2000);
    uint8_t* p = p_mi_malloc(n);
    if (!CHECK(p != NULL && p_mi_is_in_heap_region(p) && p_mi_usable_size(p) >= n,
               "mi_malloc(%zu) = %p", n, (void*)p))
      break;
    t_fill(p, n, n);
    void* old = atomic_exchange(&exchange[t_rand(&seed) % EXCHANGE], p);
    p_mi_free(old);  // another thread's block, or NULL
  }
  mi_heap_t* heap = p_mi_heap_new();
  if (CHECK_NOT_NULL(heap, "mi_heap_new")) {
    for (int i = 0; i < 1000; i++) CHECK_NOT_NULL(p_mi_heap_malloc(heap, (size_t)i * 8), "heap malloc");
    p_mi_heap_destroy(heap);
  }
  return NULL;
}

static pthread_barrier_t go;
static void* early_thread(void* arg) {
  pthread_barrier_wait(&go);  // until the library is loaded
  return worker(arg);
}

int main(int argc, char** argv) {
  t_begin("test-dlopen", "the library dlopen'ed into a running multi-threaded process");
  if (argc < 2) {
    fprintf(stderr, "usage: test-dlopen path/to/libshardalloc.so\n");
    return 2;
  }

  t_section("threads started before dlopen; dlopen(RTLD_NOW | RTLD_LOCAL)");
  pthread_barrier_init(&go, NULL, 3);
  pthread_t early[2];
  for (int i = 0; i < 2; i++) pthread_create(&early[i], NULL, early_thread, (void*)(uintptr_t)(i + 1));
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!CHECK(handle != NULL, "dlopen(%s): %s", argv[1], dlerror())) return t_end();
  if (!lookup_all(handle)) return t_end();
  CHECK(p_mi_version() > 0, "mi_version");

  t_section("main thread, 2 early threads and 4 new threads; blocks freed by other threads");
  pthread_barrier_wait(&go);
  pthread_t late[4];
  for (int i = 0; i < 4; i++) pthread_create(&late[i], NULL, worker, (void*)(uintptr_t)(i + 10));
  worker((void*)(uintptr_t)99);
  for (int i = 0; i < 2; i++) pthread_join(early[i], NULL);
  for (int i = 0; i < 4; i++) pthread_join(late[i], NULL);

  t_section("the process's malloc is still the C library's");
  void* libc_block = malloc(100);
  CHECK(libc_block != NULL && !p_mi_is_in_heap_region(libc_block), "malloc served by shardalloc");
  free(libc_block);

  t_section("dlclose; then thread exits and frees of older blocks");
  void (*keep_free)(void*) = p_mi_free;
  CHECK(dlclose(handle) == 0, "dlclose: %s", dlerror());
  for (int i = 0; i < 4; i++) pthread_create(&late[i], NULL, worker, (void*)(uintptr_t)(i + 20));
  for (int i = 0; i < 4; i++) pthread_join(late[i], NULL);
  for (int i = 0; i < EXCHANGE; i++) keep_free(atomic_exchange(&exchange[i], NULL));
  return t_end();
}
