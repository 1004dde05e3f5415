/* test-glibc-extras: glibc's malloc extras answer with shardalloc's figures when shardalloc is
   malloc (src/malloc-glibc.c, docs/api.md "glibc's malloc extras"): the symbols resolve to the
   library; mallinfo2 follows blocks allocated and freed (in use, free, small free blocks, huge
   blocks, another thread's blocks until it exits, not in a fork child) and agrees with
   mi_stats_get; mallinfo's int fields saturate; malloc_trim returns
   memory freed by another thread (RSS drops) and says 0 when there is nothing left; mallopt maps
   M_TRIM_THRESHOLD, M_DECAY_TIME and M_PURGE onto the purge options and refuses the rest;
   malloc_stats prints the statistics on stderr; malloc_info writes a document and rejects options.
   Linked with libshardalloc.so or libshardalloc-secure.so, or not linked and preloaded: the mi_*
   functions it compares with are looked up at run time either way.
   `--xml FILE` only writes malloc_info's document (with blocks live) to FILE, for
   check-malloc-info.py. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // mallinfo: tested on purpose

#include <mimalloc-stats.h>  // mi_stats_t, mi_option_t (types only: functions come from dlsym)

/* ---- the library's own functions, wherever it came from ---- */
static bool (*sa_in_heap)(const void*);
static bool (*sa_stats_get)(mi_stats_t*);
static long (*sa_option_get)(mi_option_t);

static void* need(const char* name) {
  void* fn = dlsym(RTLD_DEFAULT, name);
  if (fn == NULL) {
    fprintf(stderr, "test-glibc-extras: %s not found: is shardalloc linked or preloaded?\n", name);
    exit(1);
  }
  return fn;
}

static void resolve(void) {
  *(void**)&sa_in_heap = need("mi_is_in_heap_region");
  *(void**)&sa_stats_get = need("mi_stats_get");
  *(void**)&sa_option_get = need("mi_option_get");
}

static mi_stats_t stats_now(void) {
  mi_stats_t st;
  memset(&st, 0, sizeof(st));
  st.size = sizeof(st);
  st.version = MI_STAT_VERSION;
  if (!sa_stats_get(&st)) fprintf(stderr, "mi_stats_get failed\n");
  return st;
}

/* ---- checks ---- */
static void check_symbols(void) {
  t_section("the extras and malloc come from shardalloc");
  const char* names[] = {"malloc_trim",  "mallinfo",    "mallinfo2",
                         "malloc_stats", "malloc_info", "mallopt"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    Dl_info info;
    void* fn = dlsym(RTLD_DEFAULT, names[i]);
    const bool found = fn != NULL && dladdr(fn, &info) != 0 && info.dli_fname != NULL;
    CHECK(found && strstr(info.dli_fname, "shardalloc") != NULL, "%s comes from %s", names[i],
          found ? info.dli_fname : "(nowhere)");
  }
  void* p = malloc(100);
  CHECK(sa_in_heap(p), "malloc(100) = %p is not shardalloc's", p);
  free(p);
}

#define SMALL_COUNT 2000
#define SMALL_SIZE  1000
#define HUGE_SIZE   (20 * T_MiB)

static void check_mallinfo2(void) {
  t_section("mallinfo2 follows %d blocks of %d bytes and a %zu MiB block", SMALL_COUNT, SMALL_SIZE,
            (size_t)HUGE_SIZE >> 20);
  static void* blocks[SMALL_COUNT];
  const struct mallinfo2 m0 = mallinfo2();
  for (int i = 0; i < SMALL_COUNT; i++) {
    blocks[i] = malloc(SMALL_SIZE);
    memset(blocks[i], 0x11, SMALL_SIZE);
  }
  void* huge = malloc(HUGE_SIZE);
  memset(huge, 0x22, 4096);
  const struct mallinfo2 m1 = mallinfo2();
  const mi_stats_t st1 = stats_now();
  CHECK_GE(m1.uordblks, m0.uordblks + (size_t)SMALL_COUNT * SMALL_SIZE + HUGE_SIZE);
  CHECK_LE(m1.uordblks,
           m0.uordblks + (size_t)SMALL_COUNT * SMALL_SIZE * 9 / 8 + HUGE_SIZE + 256 * T_KiB);
  CHECK_GE(m1.hblks, m0.hblks + 1);
  CHECK_GE(m1.hblkhd, m0.hblkhd + HUGE_SIZE);
  CHECK_EQ(m1.hblkhd, (size_t)st1.malloc_huge.current);
  CHECK_EQ(m1.arena, (size_t)st1.reserved.current);
  CHECK_EQ(m1.uordblks + m1.fordblks, (size_t)st1.committed.current);
  CHECK_LE(m1.keepcost, m1.fordblks);
  CHECK_GE(m1.usmblks, (size_t)st1.committed.current);
  CHECK_GE(m1.arena, m1.uordblks + m1.fordblks);

  t_section("freeing every other small block: free blocks counted, in-use bytes drop");
  for (int i = 0; i < SMALL_COUNT; i += 2) free(blocks[i]);
  const struct mallinfo2 m2 = mallinfo2();
  CHECK_GE(m2.ordblks, m1.ordblks + SMALL_COUNT / 2);
  CHECK_GE(m2.smblks, m1.smblks + SMALL_COUNT / 2);  // 1000-byte blocks are small (<= 1 KiB)
  CHECK_GE(m2.fsmblks, m1.fsmblks + (size_t)SMALL_COUNT / 2 * SMALL_SIZE);
  CHECK_LE(m2.smblks, m2.ordblks);
  CHECK_LE(m2.uordblks + (size_t)SMALL_COUNT / 2 * SMALL_SIZE, m1.uordblks);

  t_section("mallinfo gives the same figures in ints");
  const struct mallinfo2 m3 = mallinfo2();
  const struct mallinfo i3 = mallinfo();  // (nothing allocates between the two calls)
  CHECK_EQ(i3.arena, m3.arena);
  CHECK_EQ(i3.ordblks, m3.ordblks);
  CHECK_EQ(i3.smblks, m3.smblks);
  CHECK_EQ(i3.hblks, m3.hblks);
  CHECK_EQ(i3.hblkhd, m3.hblkhd);
  CHECK_EQ(i3.fsmblks, m3.fsmblks);
  CHECK_EQ(i3.uordblks, m3.uordblks);
  CHECK_EQ(i3.fordblks, m3.fordblks);
  CHECK_EQ(i3.keepcost, m3.keepcost);
  CHECK_EQ((size_t)i3.usmblks, m3.usmblks > INT32_MAX ? (size_t)INT32_MAX : m3.usmblks);

  t_section("everything freed: in-use bytes and huge blocks back where they were");
  for (int i = 1; i < SMALL_COUNT; i += 2) free(blocks[i]);
  free(huge);
  const struct mallinfo2 m4 = mallinfo2();
  CHECK_LE(m4.uordblks, m0.uordblks + 64 * T_KiB);
  CHECK_EQ(m4.hblks, m0.hblks);
  CHECK_EQ(m4.hblkhd, m0.hblkhd);
}

// An in-use figure over INT_MAX: the old struct's ints saturate.
static void check_mallinfo_saturates(void) {
  t_section("mallinfo: a 3 GiB block (not touched) saturates the int fields");
  const size_t size = 3 * T_GiB;
  void* p = malloc(size);
  if (!CHECK(p != NULL, "malloc(3 GiB) failed")) return;
  const struct mallinfo2 m2 = mallinfo2();
  const struct mallinfo m = mallinfo();
  CHECK_GE(m2.uordblks, size);
  CHECK_EQ(m.uordblks, INT32_MAX);
  CHECK_EQ(m.hblkhd, INT32_MAX);
  CHECK_EQ(m.arena, INT32_MAX);
  CHECK(m.fordblks >= 0 && m.keepcost >= 0 && m.ordblks >= 0, "negative field");
  free(p);
}

/* ---- other threads' blocks, thread exit, fork ---- */
#define WORKER_BLOCKS 2000
#define WORKER_SIZE   4000  // 8 MB: far more pages than a thread sums on every flush

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  int stage;  // 1: the worker holds its blocks, 2: it may free them and exit
} w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void stage_set(int stage) {
  pthread_mutex_lock(&w.lock);
  w.stage = stage;
  pthread_cond_broadcast(&w.cv);
  pthread_mutex_unlock(&w.lock);
}

static void stage_wait(int stage) {
  pthread_mutex_lock(&w.lock);
  while (w.stage < stage) pthread_cond_wait(&w.cv, &w.lock);
  pthread_mutex_unlock(&w.lock);
}

static void* worker_holds(void* arg) {
  (void)arg;
  static void* blocks[WORKER_BLOCKS];
  for (int i = 0; i < WORKER_BLOCKS; i++) blocks[i] = malloc(WORKER_SIZE);
  (void)mallinfo2();  // the worker's figure now, not at its next tick
  stage_set(1);
  stage_wait(2);
  for (int i = 0; i < WORKER_BLOCKS; i++) free(blocks[i]);
  return NULL;
}

static void check_threads_and_fork(void) {
  t_section("mallinfo2 adds another thread's blocks, drops them at its exit, and in a fork child");
  const size_t held = (size_t)WORKER_BLOCKS * WORKER_SIZE;
  const struct mallinfo2 m0 = mallinfo2();
  pthread_t t;
  pthread_create(&t, NULL, &worker_holds, NULL);
  stage_wait(1);
  const struct mallinfo2 m1 = mallinfo2();
  CHECK_GE(m1.uordblks, m0.uordblks + held);
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {  // the worker is gone here, and so is its part of the figures
    const struct mallinfo2 mc = mallinfo2();
    _exit(mc.uordblks + held / 2 <= m1.uordblks ? 0 : 1);
  }
  int status = -1;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "fork child: in-use bytes still count the parent's other thread (status 0x%x)", status);
  stage_set(2);
  pthread_join(t, NULL);
  const struct mallinfo2 m2 = mallinfo2();
  CHECK_LE(m2.uordblks, m0.uordblks + 256 * T_KiB);
}

/* ---- malloc_trim ---- */
#define BURST_BLOCK 512
static size_t burst_count(void) { return t_scaled(64 * T_MiB, 16 * T_MiB) / BURST_BLOCK; }

static void** burst_alloc(void) {
  const size_t n = burst_count();
  void** b = malloc(n * sizeof(void*));
  for (size_t i = 0; i < n; i++) {
    b[i] = malloc(BURST_BLOCK);
    memset(b[i], (int)(i & 0xFF), BURST_BLOCK);
  }
  return b;
}

static void* free_all(void* arg) {
  void** b = arg;
  for (size_t i = 0; i < burst_count(); i++) free(b[i]);
  return NULL;
}

// A burst of small blocks freed by another thread stays with its owner until the owner
// collects: malloc_trim on the owner returns it.
static void check_trim_remote(void) {
  const size_t bytes = burst_count() * BURST_BLOCK;
  t_section("malloc_trim(0) returns %zu MiB of small blocks another thread freed", bytes >> 20);
  void** b = burst_alloc();
  const size_t rss_full = t_rss_bytes_quiet();
  pthread_t t;
  pthread_create(&t, NULL, &free_all, b);
  pthread_join(t, NULL);
  const size_t rss_freed = t_rss_bytes_quiet();
  const int r = malloc_trim(0);
  const size_t rss_trimmed = t_rss_bytes_quiet();
  printf("    rss: %zu MiB full, %zu MiB after the remote frees, %zu MiB after malloc_trim (%d)\n",
         rss_full >> 20, rss_freed >> 20, rss_trimmed >> 20, r);
  CHECK_EQ(r, 1);
  CHECK(rss_trimmed + bytes / 2 <= rss_freed, "RSS %zu -> %zu: less than %zu MiB returned",
        rss_freed, rss_trimmed, bytes / 2 >> 20);
  CHECK_EQ(malloc_trim(0), 0);  // nothing left to return
  free(b);
}

// The same on the thread that freed its own burst (it purges much on its own already): 1, then
// 0, and RSS does not grow.
static void* local_burst(void* arg) {
  int* result = arg;
  void** b = burst_alloc();
  free_all(b);
  const size_t rss_freed = t_rss_bytes_quiet();
  result[0] = malloc_trim(0);
  const size_t rss_trimmed = t_rss_bytes_quiet();
  result[1] = malloc_trim(0);
  result[2] = (rss_trimmed <= rss_freed);
  free(b);
  return NULL;
}

static void check_trim_local(void) {
  t_section("malloc_trim(0) on a thread that freed its own burst");
  int result[3] = {-1, -1, -1};
  pthread_t t;
  pthread_create(&t, NULL, &local_burst, result);
  pthread_join(t, NULL);
  CHECK_EQ(result[0], 1);
  CHECK_EQ(result[1], 0);
  CHECK(result[2] == 1, "RSS grew across malloc_trim");
}

/* ---- mallopt ---- */
#ifndef M_DECAY_TIME
#define M_DECAY_TIME (-100)
#endif
#ifndef M_PURGE
#define M_PURGE (-101)
#endif
#ifndef M_PURGE_ALL
#define M_PURGE_ALL (-104)
#endif

static void check_mallopt(void) {
  t_section("mallopt: M_TRIM_THRESHOLD and M_DECAY_TIME set purge_delay; others refused");
  const long before = sa_option_get(mi_option_purge_delay);
  CHECK_EQ(mallopt(M_MMAP_THRESHOLD, 1 << 20), 0);
  CHECK_EQ(mallopt(M_ARENA_MAX, 2), 0);
  CHECK_EQ(mallopt(M_TOP_PAD, 0), 0);
  CHECK_EQ(mallopt(M_MXFAST, 0), 0);
  CHECK_EQ(mallopt(12345, 1), 0);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), before);
  CHECK_EQ(mallopt(M_TRIM_THRESHOLD, 0), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), 0);
  CHECK_EQ(mallopt(M_TRIM_THRESHOLD, 128 * 1024), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), before);
  CHECK_EQ(mallopt(M_DECAY_TIME, 2), 0);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), before);
  CHECK_EQ(mallopt(M_DECAY_TIME, 0), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), 0);
  CHECK_EQ(mallopt(M_DECAY_TIME, 1), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), before);

  // Never purge: a burst freed remotely is not found by malloc_trim, and RSS stays.
  t_section("mallopt(M_TRIM_THRESHOLD, -1): freed memory stays, malloc_trim finds none");
  CHECK_EQ(mallopt(M_TRIM_THRESHOLD, -1), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), -1);
  void** b = burst_alloc();
  pthread_t t;
  pthread_create(&t, NULL, &free_all, b);
  pthread_join(t, NULL);
  const size_t rss_freed = t_rss_bytes_quiet();
  CHECK_EQ(malloc_trim(0), 0);
  const size_t bytes = burst_count() * BURST_BLOCK;
  CHECK(t_rss_bytes_quiet() + bytes / 2 > rss_freed, "RSS dropped with purging off");
  free(b);

  // Back on: what was freed under -1 was never scheduled; a new burst is, and M_PURGE returns it.
  t_section("mallopt(M_DECAY_TIME, 1) restores the delay; mallopt(M_PURGE) returns memory");
  CHECK_EQ(mallopt(M_DECAY_TIME, 1), 1);
  CHECK_EQ(sa_option_get(mi_option_purge_delay), before);
  b = burst_alloc();
  pthread_create(&t, NULL, &free_all, b);
  pthread_join(t, NULL);
  const size_t rss_freed2 = t_rss_bytes_quiet();
  CHECK_EQ(mallopt(M_PURGE, 0), 1);
  const size_t rss_purged = t_rss_bytes_quiet();
  CHECK(rss_purged + bytes / 2 <= rss_freed2, "M_PURGE: RSS %zu -> %zu", rss_freed2, rss_purged);
  CHECK_EQ(mallopt(M_PURGE_ALL, 0), 1);
  free(b);
}

/* ---- malloc_stats and malloc_info ---- */
// Runs fn with stderr (fd 2) going to a temporary file; returns the file's text (malloc'ed).
static char* capture_stderr(void (*fn)(void)) {
  char path[] = "/tmp/sa-glibc-extras-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return NULL;
  unlink(path);
  fflush(stderr);
  const int saved = dup(2);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  const off_t size = lseek(fd, 0, SEEK_END);
  char* text = malloc((size_t)size + 1);
  const ssize_t n = pread(fd, text, (size_t)size, 0);
  text[n > 0 ? n : 0] = 0;
  close(fd);
  return text;
}

static void check_malloc_stats(void) {
  t_section("malloc_stats prints shardalloc's statistics on stderr");
  void* keep = malloc(3 * T_MiB);
  char* text = capture_stderr(&malloc_stats);
  if (!CHECK(text != NULL, "no capture")) return;
  const char* expect[] = {
      "heap stats:", "reserved:",          "committed:",         "purged:",
      "process:",    "system bytes     =", "in use bytes     =", "mallinfo2: arena "};
  for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
    CHECK(strstr(text, expect[i]) != NULL, "no '%s' in:\n%s", expect[i], text);
  }
  const char* inuse = strstr(text, "in use bytes     =");
  const size_t n = (inuse != NULL ? strtoull(inuse + strlen("in use bytes     ="), NULL, 10) : 0);
  CHECK_GE(n, 3 * T_MiB);
  free(text);
  free(keep);
}

static void check_malloc_info(void) {
  t_section("malloc_info: a document for options 0, EINVAL otherwise");
  FILE* f = tmpfile();
  if (!CHECK(f != NULL, "tmpfile failed")) return;
  CHECK_EQ(malloc_info(0, f), 0);
  const long len = ftell(f);
  rewind(f);
  char buf[256] = {0};
  CHECK(fread(buf, 1, sizeof(buf) - 1, f) > 0 && strncmp(buf, "<malloc version=\"1\"", 19) == 0,
        "document starts with: %.60s", buf);
  CHECK(len > 200, "document of %ld bytes", len);
  errno = 0;
  CHECK_EQ(malloc_info(1, f), -1);
  CHECK_ERRNO(errno, EINVAL);
  errno = 0;
  CHECK_EQ(malloc_info(0, NULL), -1);
  CHECK_ERRNO(errno, EINVAL);
  fclose(f);
}

// --xml FILE: 5 MiB of blocks live (small, medium, huge) while malloc_info writes FILE.
static int write_xml(const char* path) {
  void* small[1000];
  for (int i = 0; i < 1000; i++) small[i] = malloc(1000);
  void* medium = malloc(40000);
  void* huge = malloc(17 * T_MiB);
  FILE* f = fopen(path, "w");
  if (f == NULL) return 1;
  const int r = malloc_info(0, f);
  fclose(f);
  for (int i = 0; i < 1000; i++) free(small[i]);
  free(medium);
  free(huge);
  return (r == 0 ? 0 : 1);
}

int main(int argc, char** argv) {
  resolve();
  if (argc == 3 && strcmp(argv[1], "--xml") == 0) return write_xml(argv[2]);
  t_begin("test-glibc-extras", "glibc's malloc extras with shardalloc's figures");
  check_symbols();
  check_mallinfo2();
  check_mallinfo_saturates();
  check_threads_and_fork();
  check_trim_remote();
  check_trim_local();
  check_mallopt();
  check_malloc_stats();
  check_malloc_info();
  return t_end();
}
