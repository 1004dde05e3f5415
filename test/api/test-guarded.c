/* Guarded sampling: mi_heap_guarded_set_sample_rate / _set_size_bound, MIMALLOC_GUARDED_* and the
   statistic malloc_guarded_count; guarded blocks are ordinary blocks to the API (usable size,
   realloc, calloc, frees from other threads, heap destroy); the fault handler is there only while
   guard pages are, and chains to the program's own; and the bugs it is for: a program that
   overflows a sampled block by one byte, or uses one after free, under
   MIMALLOC_GUARDED_SAMPLE_RATE=1, dies of SIGSEGV after one line naming the block. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mimalloc-stats.h"
#include "mimalloc.h"
#include "testutil.h"

static int64_t guarded_count(void) {
  mi_stats_t st;
  st.size = sizeof(st);
  st.version = MI_STAT_VERSION;
  mi_stats_get(&st);
  return st.malloc_guarded_count.total;
}

static bool segv_is_default(void) {
  struct sigaction cur;
  sigaction(SIGSEGV, NULL, &cur);
  return (cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == SIG_DFL;
}

/* ---- the bugs, run as this program again with MIMALLOC_GUARDED_SAMPLE_RATE=1 ---- */
static volatile char sink;

static int bug(const char* which) {
  if (strcmp(which, "overflow") == 0) {  // one byte past a 128-byte block
    char* p = (char*)t_launder(mi_malloc(128));  // (laundered: UBSan must not see the bug first)
    memset(p, 1, 128);
    p[128] = 1;
  } else if (strcmp(which, "overflow-precise") == 0) {  // MIMALLOC_GUARDED_PRECISE=1: 100 bytes
    char* p = (char*)t_launder(mi_malloc(100));
    memset(p, 1, 100);
    sink = p[100];
  } else if (strcmp(which, "use-after-free") == 0) {
    char* p = mi_malloc(64);
    memset(p, 1, 64);
    mi_free(p);
    p[10] = 2;
  } else if (strcmp(which, "own-handler") == 0) {  // the program's handler still runs
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = (void (*)(int))(uintptr_t)&_exit;  // _exit(SIGSEGV): exit status 11
    sigaction(SIGSEGV, &sa, NULL);
    char* p = (char*)t_launder(mi_malloc(256));
    p[256] = 1;
  } else if (strcmp(which, "clean") == 0) {  // every block guarded, no bug: exits 0
    void* ps[500];
    for (size_t i = 0; i < 500; i++) {
      ps[i] = mi_malloc(1 + i * 37);
      memset(ps[i], 3, 1 + i * 37);
    }
    for (size_t i = 0; i < 500; i++) mi_free(ps[i]);
    return guarded_count() >= 500 ? 0 : 3;
  }
  return 0;  // (the bug went unnoticed: exit 0, which the parent reports)
}

static char out[4096];

// This program again with `bug` as argument and `env` added; its stderr in `out`, its status.
static int run_bug(char* argv0, const char* which, const char* env1, const char* env2) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    putenv((char*)(uintptr_t)env1);
    if (env2 != NULL) putenv((char*)(uintptr_t)env2);
    char* args[] = {argv0, (char*)(uintptr_t)which, NULL};
    execv("/proc/self/exe", args);
    _exit(127);
  }
  close(fds[1]);
  return t_child_output(pid, fds[0], out, sizeof(out));
}

static void expect_fault(char* argv0, const char* which, const char* env2, const char* message,
                         const char* state) {
  const int st = run_bug(argv0, which, "MIMALLOC_GUARDED_SAMPLE_RATE=1", env2);
  // (sanitizer builds: their own SEGV handler, which ours chains to, ends the process its way)
  const bool killed = (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
                      ((T_UNDER_ASAN || T_UNDER_TSAN) && !(WIFEXITED(st) && WEXITSTATUS(st) == 0));
  const char* line = strstr(out, message);
  const bool named = (line != NULL && strstr(line, "0x") != NULL && strstr(line, state) != NULL);
  CHECK(killed && named, "%s: want SIGSEGV and \"%s ... %s\"; got status 0x%x, stderr: %s", which,
        message, state, st, out);
  if (line != NULL) {
    const char* end = strchr(line, '\n');
    printf("    %-18s %.*s\n", which, (int)(end != NULL ? end - line : (long)strlen(line)), line);
  }
}

static void test_crashes(char* argv0) {
  t_section("bugs under MIMALLOC_GUARDED_SAMPLE_RATE=1: killed with a message naming the block");
  expect_fault(argv0, "overflow", NULL, "buffer overflow past the end of the guarded block",
               "(size 128, not freed)");
  expect_fault(argv0, "overflow-precise", "MIMALLOC_GUARDED_PRECISE=1",
               "buffer overflow past the end of the guarded block", "(size 100, not freed)");
  expect_fault(argv0, "use-after-free", NULL, "use after free of the guarded block",
               "(size 64, freed)");
  // the program's own handler runs after the message
  int st = run_bug(argv0, "own-handler", "MIMALLOC_GUARDED_SAMPLE_RATE=1", NULL);
#ifdef SA_TEST_UBSAN
  // Under UBSan the program's handler runs but the message is missing (the sanitizer runtime's
  // own SIGSEGV handling comes between; not understood yet, an open item of issue 21).
  const bool want_message = false;
#else
  const bool want_message = true;
#endif
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == SIGSEGV &&
            (!want_message || strstr(out, "overflow past the end of the guarded block") != NULL),
        "own handler: want the message and exit status %d; got 0x%x, stderr: %s", SIGSEGV, st, out);
  st = run_bug(argv0, "clean", "MIMALLOC_GUARDED_SAMPLE_RATE=1", NULL);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a correct program runs to its end (0x%x): %s", st,
        out);
}

/* ---- the API, in this process ---- */
static void test_rate_and_bounds(void) {
  t_section("sample rate, size bounds, statistic");
  mi_heap_t* heap = mi_heap_get_default();
  int64_t before = guarded_count();
  void* p = mi_malloc(100);
  CHECK_EQ(guarded_count(), before);  // the default rate is 0
  mi_free(p);

  mi_heap_guarded_set_sample_rate(heap, 1, 0);
  mi_heap_guarded_set_size_bound(heap, 0, 1 << 20);
  before = guarded_count();
  for (size_t size = 1; size <= 20000; size = size * 3 + 1) {
    const int64_t c = guarded_count();
    char* q = mi_malloc(size);
    CHECK(guarded_count() == c + 1, "size %zu guarded at rate 1", size);
    CHECK(q != NULL && mi_usable_size(q) >= size && mi_usable_size(q) < size + 16,
          "size %zu: usable %zu (up to the guard page)", size, mi_usable_size(q));
    CHECK_ALIGNED(q, 16);
    memset(q, 7, mi_usable_size(q));
    q = mi_realloc(q, size + 1);  // grows into a new block (sampled too)
    CHECK(q != NULL && q[size - 1] == 7, "realloc keeps the contents (size %zu)", size);
    mi_free(q);
  }
  char* z = mi_calloc(10, 30);
  CHECK_ZERO(z, 300);
  mi_free(z);

  // bounds: only [1000, 2000]
  mi_heap_guarded_set_size_bound(heap, 1000, 2000);
  before = guarded_count();
  mi_free(mi_malloc(500));
  mi_free(mi_malloc(5000));
  CHECK_EQ(guarded_count(), before);
  mi_free(mi_malloc(1500));
  CHECK_EQ(guarded_count(), before + 1);

  // rate 100: about one in 100 (a wide statistical bound, no timing)
  mi_heap_guarded_set_size_bound(heap, 0, 1 << 20);
  mi_heap_guarded_set_sample_rate(heap, 100, 42);
  before = guarded_count();
  const size_t n = 50000;
  void** ps = calloc(256, sizeof(void*));
  for (size_t i = 0; i < n; i++) {
    const size_t slot = i % 256;
    mi_free(ps[slot]);
    ps[slot] = mi_malloc(16 + (i % 7) * 40);
  }
  for (size_t i = 0; i < 256; i++) ps[i] = (mi_free(ps[i]), NULL);
  const int64_t got = guarded_count() - before;
  printf("    rate 100: %lld of %zu allocations guarded\n", (long long)got, n);
  CHECK(got >= (int64_t)(n / 100 / 3) && got <= (int64_t)(n / 100 * 3),
        "rate 100 guards about 1 in 100 (%lld of %zu)", (long long)got, n);
  // again with the same seed: about the same count (not exactly: the pages' free lists differ)
  mi_heap_guarded_set_sample_rate(heap, 100, 42);
  const int64_t before2 = guarded_count();
  for (size_t i = 0; i < n; i++) {
    const size_t slot = i % 256;
    mi_free(ps[slot]);
    ps[slot] = mi_malloc(16 + (i % 7) * 40);
  }
  for (size_t i = 0; i < 256; i++) ps[i] = (mi_free(ps[i]), NULL);
  const int64_t got2 = guarded_count() - before2;
  CHECK(got2 >= got / 2 && got2 <= got * 2, "rate 100 again: %lld, first %lld", (long long)got2,
        (long long)got);
  free(ps);

  mi_heap_guarded_set_sample_rate(heap, 0, 0);
  before = guarded_count();
  for (int i = 0; i < 1000; i++) mi_free(mi_malloc(64));
  CHECK_EQ(guarded_count(), before);
  mi_heap_guarded_set_sample_rate(NULL, 1, 0);  // refused with a warning (not a heap)
  mi_collect(true);
}

static void* free_remote(void* arg) {
  void** ps = (void**)arg;
  for (size_t i = 0; i < 200; i++) mi_free(ps[i]);
  return NULL;
}

static void test_handler_life_and_heaps(void) {
  t_section("fault handler only while guard pages exist; heaps; remote frees");
  mi_collect(true);
  CHECK(segv_is_default(), "no handler before any guarded block");
  mi_heap_t* heap = mi_heap_new();
  mi_heap_guarded_set_sample_rate(heap, 1, 0);
  char* p = mi_heap_malloc(heap, 300);
  CHECK(!segv_is_default(), "handler installed with the first guarded block");
  mi_free(p);  // quarantined: still protected
  CHECK(!segv_is_default(), "still installed while a freed block is kept inaccessible");
  mi_collect(true);
  CHECK(segv_is_default(), "gone once no guard page is left");

  // remote frees of guarded blocks
  void* ps[200];
  for (size_t i = 0; i < 200; i++) ps[i] = mi_heap_malloc(heap, 16 + i * 8);
  pthread_t t;
  pthread_create(&t, NULL, &free_remote, ps);
  pthread_join(t, NULL);
  mi_collect(true);
  CHECK(segv_is_default(), "remotely freed guarded blocks released by mi_collect(true)");

  // destroy with live and quarantined guarded blocks: the memory is ordinary again
  mi_heap_t* d = mi_heap_new();
  mi_heap_guarded_set_sample_rate(d, 1, 0);
  for (size_t i = 0; i < 100; i++) {
    void* q = mi_heap_malloc(d, 40 + i);
    if (i % 2 == 0) mi_free(q);
  }
  mi_heap_destroy(d);
  CHECK(segv_is_default(), "mi_heap_destroy released its guarded blocks");
  // the pages it had are reused: writing all of them must not fault
  for (size_t i = 0; i < 2000; i++) {
    char* q = mi_heap_malloc(heap, 8000);
    memset(q, 1, 8000);
    mi_free(q);
  }
  mi_heap_guarded_set_sample_rate(heap, 0, 0);
  mi_collect(true);
  for (size_t i = 0; i < 2000; i++) {
    char* q = mi_malloc(9000);
    memset(q, 1, 9000);
    mi_free(q);
  }
  mi_heap_delete(heap);
  CHECK(true, "memory once guarded is writable after release");
}

int main(int argc, char** argv) {
  if (argc > 1) return bug(argv[1]);
  t_begin("test-guarded", "guarded sampling: API, statistics, fault reports");
  test_rate_and_bounds();
  test_handler_life_and_heaps();
  test_crashes(argv[0]);
  return t_end();
}
