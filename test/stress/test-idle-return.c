/* test-idle-return MODE: with default options, a process that frees memory and then makes no
   allocator call at all is back within 10 MiB of its live data within 1 s (the memory-return
   engine's helper thread, src/purge.c). Each mode runs in a child of its own (the helper starts
   there afresh) and reads RSS without allocating:
     --remote-huge  the main thread allocates 256 MiB of huge blocks (4 x 64 MiB, touched) and
                    stays idle; a second thread frees them all and blocks (remote frees while
                    the owner never calls the allocator again);
     --huge-cache   the main thread allocates and frees 4 x 48 MiB huge blocks (they go to the
                    cache of huge mappings), then idles;
     --local        the main thread allocates 192 MiB of mixed small, medium and large blocks,
                    frees them all, then idles;
     --off          --local with MIMALLOC_PURGE_BACKGROUND=0 (set by the test): the control, RSS
                    stays up while the process idles.
   No timing is asserted beyond the 1 s bound the engine promises (it polls for up to 3 s and
   reports when RSS fell). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MIB        ((size_t)1 << 20)
#define SLACK_MIB  10
#define BOUND_S    1.0

static size_t rss_mib(void) { return t_rss_bytes_quiet() / MIB; }

// Polls RSS (without allocating) until it is at most `limit` MiB or 3 s passed; the time it took.
static double wait_rss_below(size_t limit, size_t* rss) {
  const double start = t_now();
  double when = 0;
  do {
    usleep(10 * 1000);
    when = t_now() - start;
    *rss = rss_mib();
  } while (*rss > limit && when < 3.0);
  return when;
}

static void touch(void* p, size_t size) { memset(p, 0x5a, size); }

#define HUGE_COUNT 4
static void* huge_blocks[HUGE_COUNT];
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static bool freed;

static void* free_remote(void* arg) {
  (void)arg;
  for (int i = 0; i < HUGE_COUNT; i++) free(huge_blocks[i]);
  pthread_mutex_lock(&done_lock);
  freed = true;
  pthread_cond_signal(&done_cond);
  pthread_mutex_unlock(&done_lock);
  for (;;) pause();  // blocks, alive, without allocator calls
  return NULL;
}

static int run_mode(const char* mode) {
  const size_t base = rss_mib();
  size_t allocated = 0;  // RSS with every block live: the test allocated for real
  if (strcmp(mode, "--remote-huge") == 0) {
    for (int i = 0; i < HUGE_COUNT; i++) {
      huge_blocks[i] = malloc(64 * MIB);
      if (huge_blocks[i] == NULL) return 2;
      touch(huge_blocks[i], 64 * MIB);
    }
    allocated = rss_mib();
    pthread_t t;
    pthread_create(&t, NULL, free_remote, NULL);  // (the main thread's last allocator call)
    pthread_mutex_lock(&done_lock);
    while (!freed) pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
  } else if (strcmp(mode, "--huge-cache") == 0) {
    for (int i = 0; i < HUGE_COUNT; i++) {
      huge_blocks[i] = malloc(48 * MIB);
      if (huge_blocks[i] == NULL) return 2;
      touch(huge_blocks[i], 48 * MIB);
    }
    allocated = rss_mib();
    for (int i = 0; i < HUGE_COUNT; i++) free(huge_blocks[i]);
  } else {  // --local, --off
    static void* blocks[1 << 16];
    size_t n = 0, total = 0;
    uint64_t rng = 42;
    while (total < 192 * MIB && n < (1 << 16)) {
      const uint64_t r = t_rand(&rng) % 100;
      const size_t size = (r < 70 ? t_rand_range(&rng, 16, 1024)
                                  : r < 95 ? t_rand_range(&rng, 1024, 64 * 1024)
                                           : t_rand_range(&rng, 64 * 1024, 2 * MIB));
      blocks[n] = malloc(size);
      if (blocks[n] == NULL) return 2;
      touch(blocks[n++], size);
      total += size;
    }
    allocated = rss_mib();
    for (size_t i = 0; i < n; i++) free(blocks[i]);
  }
  const size_t peak = rss_mib();
  size_t rss = 0;
  const double when = wait_rss_below(base + SLACK_MIB, &rss);
  printf("    %s: RSS %zu MiB before, %zu MiB allocated, %zu MiB after the frees, %zu MiB %.2f s "
         "later\n", mode, base, allocated, peak, rss, when);
  fflush(stdout);
  if (strcmp(mode, "--off") == 0) {
    return (rss > base + (peak - base) / 2 ? 0 : 1);  // the control: nothing returned it
  }
  // (RSS right after the frees may be down already: the engine works while the frees run, the
  // more so on a slow machine)
  return (allocated > base + 100 && rss <= base + SLACK_MIB && when <= BOUND_S + 0.05 ? 0 : 1);
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "--child") == 0) return run_mode(argv[2]);
  t_begin("test-idle-return", "an idle process returns freed memory within 1 s (default options)");
  const char* modes[] = {"--remote-huge", "--huge-cache", "--local", "--off"};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (argc >= 2 && strcmp(argv[1], modes[i]) != 0) continue;
    t_section("%s", modes[i]);
    char* child_argv[] = {argv[0], (char*)"--child", (char*)modes[i], NULL};
    const char* off_env[] = {"MIMALLOC_PURGE_BACKGROUND=0", NULL};
    const char* no_env[] = {NULL};
    const bool off = (strcmp(modes[i], "--off") == 0);
    t_run_self(child_argv, off ? off_env : no_env, 30, (int)i);  // (exit status 1: see its line)
  }
  return t_end();
}
