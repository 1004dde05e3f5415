/* test-heap-absorb: mi_heap_delete while another thread frees the heap's blocks. The deleted heap's
   pages move to the backing heap; a full page is re-armed so that remote frees reach its new heap
   through the delayed list. Frees that arrive while the move is under way land on the page's
   thread_free list, where nobody looks while the page is in the full queue: the move must notice
   them and take the page out of the full queue. The debug build (SHARDALLOC_DEBUG=3) checks the
   full queue after every move (a full page armed for delayed frees has nothing on thread_free);
   every build checks the blocks and that the memory is used again afterwards. */
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define BLOCK  48
#define COUNT  40000  // some 30 pages of 48-byte blocks: all but the last go full
#define ROUNDS 200

static _Atomic(void*) handoff[COUNT];
static atomic_int phase;  // 0 idle, 1 blocks handed over, 2 stop
static atomic_size_t freed;  // frees done in this round

static void* freer(void* arg) {
  (void)arg;
  for (;;) {
    int ph;
    while ((ph = atomic_load(&phase)) == 0) sched_yield();
    if (ph == 2) return NULL;
    // in a scattered order, so that first frees into several full pages happen at any moment
    for (size_t n = 0; n < COUNT; n++) {
      const size_t i = (n * 7919) % COUNT;  // (7919 is coprime with COUNT)
      void* p = atomic_exchange(&handoff[i], NULL);
      if (p == NULL) continue;
      CHECK(((unsigned char*)p)[BLOCK - 1] == (unsigned char)i, "block %zu damaged", i);
      mi_free(p);  // a remote free into the (maybe deleted) heap's pages
      atomic_store(&freed, n + 1);
      for (volatile int spin = 0; spin < 50; spin++) {  // spread the frees out
      }
    }
    atomic_store(&phase, 0);
  }
}

int main(void) {
  t_begin("test-heap-absorb", "mi_heap_delete while another thread frees the heap's blocks");
  pthread_t th;
  if (!CHECK(pthread_create(&th, NULL, freer, NULL) == 0, "pthread_create")) return t_end();
  const int rounds = (int)t_scaled(ROUNDS, 50);
  for (int r = 0; r < rounds; r++) {
    mi_heap_t* heap = mi_heap_new();
    if (!CHECK_NOT_NULL(heap, "mi_heap_new")) break;
    for (size_t i = 0; i < COUNT; i++) {
      unsigned char* p = mi_heap_malloc(heap, BLOCK);
      if (!CHECK_NOT_NULL(p, "mi_heap_malloc")) break;
      memset(p, (int)(unsigned char)i, BLOCK);
      atomic_store(&handoff[i], p);
    }
    atomic_store(&freed, 0);
    atomic_store(&phase, 1);
    // delete the heap just as the other thread starts freeing (after 0..15 frees): full pages
    // then get their first remote frees while they move
    const size_t at = (size_t)(t_mix64((uint64_t)r) % 16);
    while (atomic_load(&freed) < at && atomic_load(&phase) == 1) sched_yield();
    mi_heap_delete(heap);
    while (atomic_load(&phase) != 0) sched_yield();
    // the blocks are all free now: the backing heap serves this size from those pages again
    void* again[COUNT];
    for (size_t i = 0; i < COUNT; i++) again[i] = mi_malloc(BLOCK);
    for (size_t i = 0; i < COUNT; i++) mi_free(again[i]);
  }
  atomic_store(&phase, 2);
  pthread_join(th, NULL);
  return t_end();
}
