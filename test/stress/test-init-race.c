/* test-init-race: threads that allocate while another thread is still initialising the process.
   Linked with an archive of the mi_* API (secure level 4, no malloc override: pthread_create's
   own malloc must not initialise shardalloc first), so that this program's constructor (priority
   101) runs before shardalloc's own: it starts RACERS threads that wait on a flag, then releases
   them and calls mi_malloc itself, so several first calls race through process initialisation.
   Every thread then allocates, checks and frees blocks (also remotely), and the process runs RUNS
   times (the program re-executes itself: initialisation happens once per process). A thread that
   went on before initialisation was complete would run on options, secrets and locks not set up
   yet: its segments get a cookie made without the process secret (frees then abort) and it has
   no thread-exit hook (its segments outlive it). */
#include <mimalloc-stats.h>
#include <mimalloc.h>
#include <pthread.h>

#include "testutil.h"

#define RACERS 4
#define RUNS   300

static atomic_int go;
static pthread_t racers[RACERS];
static void* racer_blocks[RACERS][64];

static void* racer(void* arg) {
  const size_t id = (size_t)(uintptr_t)arg;
  while (!atomic_load_explicit(&go, memory_order_acquire)) {
  }
  for (size_t i = 0; i < 64; i++) {
    racer_blocks[id][i] = mi_malloc(16 + i * 8);
    if (racer_blocks[id][i] != NULL) memset(racer_blocks[id][i], (int)id, 16 + i * 8);
  }
  return NULL;
}

static int started;
__attribute__((constructor(101))) static void start_racers(void) {
  if (getenv("INIT_RACE_CHILD") == NULL) return;  // only in the re-executed children
  for (size_t i = 0; i < RACERS; i++) {
    if (pthread_create(&racers[i], NULL, racer, (void*)(uintptr_t)i) == 0) started++;
  }
  atomic_store_explicit(&go, 1, memory_order_release);
  void* p = mi_malloc(32);  // the main thread's first call races with theirs
  if (p != NULL) memset(p, 1, 32);
  mi_free(p);
}

static int child_main(void) {
  for (int i = 0; i < started; i++) pthread_join(racers[i], NULL);
  int bad = 0;
  for (size_t id = 0; id < RACERS; id++) {
    for (size_t i = 0; i < 64; i++) {
      unsigned char* p = racer_blocks[id][i];
      if (p == NULL || p[0] != id || p[15 + i * 8] != id) bad++;
      mi_free(p);  // from another thread than the one that allocated it
    }
  }
  for (int i = 0; i < 1000; i++) mi_free(mi_malloc((size_t)(i % 300) + 1));
  // The racers exited and all their blocks are freed: once collected, only the main thread's
  // memory is left. (A thread that went on before the process was ready had no thread-exit hook
  // yet: its segments stayed owned by a thread that is gone.)
  mi_collect(true);
  mi_stats_t_decl(st);
  mi_stats_get(&st);
  if (st.segments.current > 2) {
    fprintf(stderr, "init-race child: %lld segments live after every racer exited\n",
            (long long)st.segments.current);
    return 4;
  }
  return bad == 0 && started == RACERS ? 0 : 3;
}

int main(int argc, char** argv) {
  (void)argc;
  if (getenv("INIT_RACE_CHILD") != NULL) return child_main();
  t_begin("test-init-race", "first mallocs of several threads race through process init");
  const int runs = (int)t_scaled(RUNS, 60);
  static const char* const env[] = {"INIT_RACE_CHILD=1", NULL};
  int failed = 0;
  for (int r = 0; r < runs; r++) {
    if (!t_run_self(argv, env, 30, r)) failed++;
  }
  t_section("%d of %d processes failed", failed, runs);
  CHECK(failed == 0, "every process ran cleanly");
  return t_end();
}
