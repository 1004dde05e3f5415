/* test-purge-background [--off]: with MIMALLOC_PURGE_BACKGROUND=1 a process that goes idle (no
   thread calls the allocator any more) still returns freed memory: the main thread and a second
   thread (which stays alive, blocked) each allocate and free 128 MiB of mixed sizes, then
   nobody allocates, and RSS must fall below 40 MiB within 5 s. After a fork the child's purger
   starts anew: the child frees 64 MiB, goes idle, and its RSS falls too.
   --off (run with MIMALLOC_PURGE_BACKGROUND=0): the control; RSS does not fall while the process
   is idle, which shows the purger, not anything else, returned the memory.
   Both run with MIMALLOC_PURGE_DELAY=3000 and MIMALLOC_ARENA_PURGE_MULT=1 (a decay time of 3 s:
   little is due while the threads free, everything 3 s after). The frees are paced (1 MiB,
   then 6 ms without allocator calls).
   RSS is read with open/read (fopen would allocate: that is allocator activity). */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

static size_t rss_mib_quiet(void) { return t_rss_bytes_quiet() / MIB; }

// Allocates `bytes` in mixed sizes, touches them, frees them all, 1 MiB at a time.
static void churn(size_t bytes, uint64_t seed) {
  const size_t max_blocks = bytes / 16;
  void** blocks = malloc(max_blocks * sizeof(void*));
  if (blocks == NULL) return;
  size_t count = 0, total = 0;
  while (total < bytes && count < max_blocks) {
    const uint64_t r = t_rand(&seed);
    const size_t n = (r % 8 == 0 ? t_rand_range(&seed, 1024, 64 * 1024) : t_rand_range(&seed, 16, 1024));
    void* p = malloc(n);
    if (p == NULL) break;
    memset(p, 1, n);
    blocks[count++] = p;
    total += n;
  }
  size_t freed = 0;
  for (size_t i = 0; i < count; i++) {
    freed += malloc_usable_size(blocks[i]);
    free(blocks[i]);
    if (freed >= MIB) {
      usleep(6 * 1000);
      freed = 0;
    }
  }
  free(blocks);
}

static pthread_barrier_t phase;
static void* idle_thread(void* arg) {
  (void)arg;
  churn(128 * MIB, 99);
  pthread_barrier_wait(&phase);  // freed everything
  pthread_barrier_wait(&phase);  // stay alive, idle, until the end
  return NULL;
}

// Polls RSS without allocating; returns the first value below `limit` or the last one.
static size_t idle_wait(long ms, size_t limit, double* when) {
  const double start = t_now();
  size_t rss = rss_mib_quiet();
  for (long t = 0; t < ms && rss >= limit; t += 20) {
    usleep(20 * 1000);
    rss = rss_mib_quiet();
  }
  *when = t_now() - start;
  return rss;
}

int main(int argc, char** argv) {
  const bool off = (argc > 1 && strcmp(argv[1], "--off") == 0);
  t_begin("test-purge-background", off ? "control: without the background purger an idle process keeps its memory"
                                       : "the background purger returns memory of an idle process");
  const char* env = getenv("MIMALLOC_PURGE_BACKGROUND");
  if (!CHECK(env != NULL && strcmp(env, off ? "0" : "1") == 0,
             "run with MIMALLOC_PURGE_BACKGROUND=%s", off ? "0" : "1"))
    return t_end();

  t_section("two threads allocate and free 128 MiB each, then the process goes idle");
  pthread_barrier_init(&phase, NULL, 2);
  pthread_t thread;
  pthread_create(&thread, NULL, idle_thread, NULL);
  churn(128 * MIB, 7);
  pthread_barrier_wait(&phase);
  const size_t before = rss_mib_quiet();
  double when;
  if (off) {
    usleep(1000 * 1000);
    const size_t rss = rss_mib_quiet();
    printf("    RSS %zu MiB after the frees, %zu MiB after 1 s idle\n", before, rss);
    CHECK(before > 100 && rss + 8 >= before, "RSS fell from %zu to %zu MiB without the purger",
          before, rss);
  } else {
    const size_t rss = idle_wait(5000, 40, &when);
    printf("    RSS %zu MiB after the frees, %zu MiB after %.2f s idle\n", before, rss, when);
    CHECK(before > 100, "RSS %zu MiB after the frees: already returned, nothing to show", before);
    CHECK(rss < 40, "RSS %zu MiB after 5 s idle, want < 40", rss);
  }
  pthread_barrier_wait(&phase);
  pthread_join(thread, NULL);

  if (!off) {
    t_section("after fork: the child's purger returns the child's memory");
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      churn(64 * MIB, 3);
      double w;
      const size_t rss = idle_wait(5000, 40, &w);
      _exit(rss < 40 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x: RSS stayed high",
          status);
  }
  return t_end();
}
