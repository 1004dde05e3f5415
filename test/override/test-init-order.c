/* test-init-order: malloc works, and is shardalloc's, at every point of a process's life where
   programs allocate: ELF constructors (before main, including the earliest priority), atexit
   handlers and ELF destructors (after main), and pthread key destructors of exiting threads,
   which run around the allocator's own thread teardown (a destructor that allocates after it
   brings the thread's heap back; a block it leaves behind is freed later by another thread).
   Linked with libshardalloc.so (test-init-order) and preloaded into a program that is not
   (test-init-order-preload). Checks after main end the process with _exit(1) on failure. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#if !defined(INIT_PRELOAD)
#include <mimalloc.h>
#endif

static bool ours(const void* p) {
#if defined(INIT_PRELOAD)
  static bool (*fn)(const void*);
  if (fn == NULL) fn = (bool (*)(const void*))dlsym(RTLD_DEFAULT, "mi_is_in_heap_region");
  if (fn == NULL) {
    fprintf(stderr, "test-init-order: mi_is_in_heap_region not found: is LD_PRELOAD set?\n");
    _exit(1);
  }
  return fn(p);
#else
  return mi_is_in_heap_region(p);
#endif
}

// Allocates, grows and frees a few blocks; true if all were shardalloc's and kept their bytes.
static bool churn(const char* tag) {
  bool ok = true;
  char* s = strdup(tag);
  ok = ok && s != NULL && ours(s);
  for (size_t n = 8; n <= 1 << 20 && ok; n *= 4) {
    char* p = malloc(n);
    ok = ok && p != NULL && ours(p);
    if (p == NULL) break;
    memset(p, 0x5a, n);
    p = realloc(p, n * 3);
    ok = ok && p != NULL && ours(p) && (unsigned char)p[n - 1] == 0x5a;
    free(p);
  }
  ok = ok && strcmp(s, tag) == 0;
  free(s);
  return ok;
}

static void after_main_check(bool ok, const char* where) {
  if (ok) {
    printf("  ok: allocation in %s\n", where);
    fflush(stdout);
  } else {
    fprintf(stderr, "  FAIL: allocation in %s was not served by shardalloc\n", where);
    _exit(1);
  }
}

/* --- before main --- */
static char* early_block;
static bool early_ok, ctor_ok;
__attribute__((constructor(101))) static void earliest_constructor(void) {
  early_block = malloc(1000);
  if (early_block != NULL) memset(early_block, 'e', 1000);
  early_ok = churn("earliest constructor");
}
__attribute__((constructor)) static void constructor(void) { ctor_ok = churn("constructor"); }

/* --- after main --- */
static void atexit_handler(void) { after_main_check(churn("atexit handler"), "an atexit handler"); }
__attribute__((destructor)) static void destructor(void) {
  after_main_check(churn("ELF destructor"), "an ELF destructor");
}

/* --- thread exit --- */
static pthread_key_t user_key;
static atomic_int key_dtor_ok;
static void* _Atomic left_behind[8];
static atomic_int next_slot;

static void key_destructor(void* value) {
  if (churn("key destructor")) atomic_fetch_add(&key_dtor_ok, 1);
  free(value);
  // A block that outlives the thread: freed by main after the join.
  char* keep = malloc(4000);
  if (keep != NULL) memset(keep, 'k', 4000);
  left_behind[atomic_fetch_add(&next_slot, 1) % 8] = keep;
}

static void* thread_main(void* arg) {
  (void)arg;
  pthread_setspecific(user_key, malloc(100));
  char* blocks[64];
  for (int i = 0; i < 64; i++) blocks[i] = malloc((size_t)(16 * (i + 1)));
  for (int i = 0; i < 64; i++) free(blocks[i]);
  return NULL;
}

int main(void) {
  t_begin("test-init-order", "allocation before main, after main and in thread destructors");

  t_section("ELF constructors");
  CHECK(early_block != NULL && ours(early_block), "malloc in the earliest constructor");
  CHECK(early_ok, "allocation in a constructor(101)");
  CHECK(ctor_ok, "allocation in a constructor");
  if (early_block != NULL) {
    CHECK(early_block[999] == 'e', "block from the constructor changed");
    free(early_block);
  }

  t_section("pthread key destructors (8 threads)");
  CHECK(pthread_key_create(&user_key, key_destructor) == 0, "pthread_key_create");
  pthread_t threads[8];
  for (int i = 0; i < 8; i++) pthread_create(&threads[i], NULL, thread_main, NULL);
  for (int i = 0; i < 8; i++) pthread_join(threads[i], NULL);
  CHECK_EQ(atomic_load(&key_dtor_ok), 8);
  for (int i = 0; i < 8; i++) {
    char* p = left_behind[i];
    if (!CHECK_NOT_NULL(p, "block left by key destructor %d", i)) continue;
    CHECK(ours(p) && p[0] == 'k' && p[3999] == 'k', "block left by key destructor %d", i);
    free(p);
  }

  atexit(atexit_handler);
  return t_end();
}
