/* test-fork-delayed: a block another thread freed into a full page just before fork() waits on
   the owner heap's delayed-free list; the owner thread does not exist in the child. The child must
   still see the block as free: after adopting the vanished thread's memory (mi_collect(true)) its
   heap visits exactly the blocks still live, and once it frees them the page and segment go.
   Runs against the plain and the secure library. */
#include <mimalloc.h>
#include <mimalloc-stats.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define BLOCK 48
#define COUNT 3000  // the first 64 KiB page of 48-byte blocks fills up and goes to the full queue

static void* blocks[COUNT];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void set_stage(int s) {
  pthread_mutex_lock(&mu);
  stage = s;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}
static void wait_stage(int s) {
  pthread_mutex_lock(&mu);
  while (stage < s) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void* owner(void* arg) {
  (void)arg;
  for (size_t i = 0; i < COUNT; i++) blocks[i] = mi_malloc(BLOCK);
  set_stage(1);
  wait_stage(3);  // idle until the parent is done: its heap holds the delayed block
  return NULL;
}

static uintptr_t lo, hi;  // the span of the owner's blocks
static bool count_ours(const mi_heap_t* heap, const mi_heap_area_t* area, void* block, size_t size,
                       void* arg) {
  (void)heap; (void)area; (void)size;
  if (block != NULL && t_addr(block) >= lo && t_addr(block) <= hi) ++*(size_t*)arg;
  return true;
}

static size_t segments_now(void) {
  mi_stats_t_decl(st);
  mi_stats_get(&st);
  return (size_t)st.segments.current;
}

static void child(void) {
  const unsigned long long failed_before = atomic_load(&t_failed);
  mi_collect(true);  // adopts the vanished owner's segment
  size_t ours = 0;
  mi_heap_visit_blocks(mi_heap_get_default(), true, &count_ours, &ours);
  CHECK(ours == COUNT - 1, "the child's heap shows %zu of the vanished thread's blocks live; "
        "%d are (one was freed before the fork)", ours, COUNT - 1);
  const size_t before = segments_now();
  for (size_t i = 1; i < COUNT; i++) mi_free(blocks[i]);
  mi_collect(true);
  const size_t after = segments_now();
  CHECK(after < before, "the vanished thread's segment is still there after all its blocks were "
        "freed (%zu segments before, %zu after)", before, after);
  _exit(atomic_load(&t_failed) == failed_before ? 0 : 1);
}

int main(void) {
  t_begin("test-fork-delayed", "a delayed free pending at fork() is not lost in the child");
  pthread_t th;
  if (!CHECK(pthread_create(&th, NULL, owner, NULL) == 0, "pthread_create")) return t_end();
  wait_stage(1);
  lo = UINTPTR_MAX;
  for (size_t i = 0; i < COUNT; i++) {
    if (t_addr(blocks[i]) < lo) lo = t_addr(blocks[i]);
    if (t_addr(blocks[i]) > hi) hi = t_addr(blocks[i]);
  }
  mi_free(blocks[0]);  // a remote free into the owner's full page: onto its heap's delayed list
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) child();
  int status = 0;
  if (CHECK(pid > 0, "fork failed")) {
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status 0x%x)", status);
  }
  set_stage(3);
  pthread_join(th, NULL);
  for (size_t i = 1; i < COUNT; i++) mi_free(blocks[i]);
  return t_end();
}
