/* test-options: the MIMALLOC_<NAME> environment variables and the options they set, each run in
   a child process started with its own environment (options are read once, at start):
   - value syntax: names matched case-insensitively, 1/0/true/false/on/off/yes/no, sizes with
     K/M/G suffixes (and KiB/MiB, a bare number of bytes), invalid values keep the default;
   - verbose prints the options and the process start; show_errors shows errors and warnings,
     max_errors/max_warnings cap them; without show_errors nothing is printed;
   - arena_reserve sizes the arenas; purge_decommits=0 purges with MADV_FREE (LazyFree memory)
     where the default gives the pages back at once;
   - destroy_on_exit releases every arena at mi_process_done; without it the memory stays.
   The parent checks each child's exit status and output. */
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

#include <mimalloc.h>
#include <mimalloc-stats.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

extern char** environ;

/* ---------------------------------------------------------------------------------------------
   Children
--------------------------------------------------------------------------------------------- */
// A line of /proc/self/smaps_rollup or /proc/self/status in KiB, read without allocating.
static size_t proc_kib(const char* file, const char* key) {
  char buf[4096];
  int fd = open(file, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, key);
  return (p != NULL ? (size_t)strtoul(p + strlen(key), NULL, 10) : 0);
}

static int child_syntax(void) {
  t_begin("test-options", "child: value syntax");
  CHECK(mi_option_get(mi_option_arena_reserve) == 64 * 1024, "arena_reserve %ld KiB, want 65536",
        mi_option_get(mi_option_arena_reserve));
  CHECK(mi_option_get_size(mi_option_arena_reserve) == 64 * MIB, "get_size %zu",
        mi_option_get_size(mi_option_arena_reserve));
  CHECK(mi_option_is_enabled(mi_option_show_errors), "show_errors=on");
  CHECK(!mi_option_is_enabled(mi_option_verbose), "verbose=off");
  CHECK(mi_option_get(mi_option_purge_delay) == 25, "purge_delay=25: %ld",
        mi_option_get(mi_option_purge_delay));
  CHECK(mi_option_get(mi_option_max_warnings) == 32, "max_warnings=lots (invalid): default 32, %ld",
        mi_option_get(mi_option_max_warnings));
  CHECK(mi_option_is_enabled(mi_option_allow_thp), "allow_thp=yes");
  CHECK(!mi_option_is_enabled(mi_option_eager_commit), "eager_commit=FALSE");
  CHECK(mi_option_get(mi_option_arena_purge_mult) == 3, "arena_purge_mult=3");
  void* p = mi_malloc(100);
  size_t size = 0;
  CHECK(mi_arena_area(1, &size) != NULL && size == 64 * MIB, "first arena %zu MiB, want 64",
        size / MIB);
  mi_free(p);
  // set/get round trips, set_default does not override an explicit setting
  mi_option_set(mi_option_max_errors, 7);
  mi_option_set_default(mi_option_max_errors, 9);
  CHECK(mi_option_get(mi_option_max_errors) == 7, "set then set_default: %ld",
        mi_option_get(mi_option_max_errors));
  mi_option_set_enabled(mi_option_verbose, true);
  CHECK(mi_option_is_enabled(mi_option_verbose), "set_enabled(true)");
  mi_option_disable(mi_option_verbose);
  CHECK(mi_option_get_clamp(mi_option_purge_delay, 0, 20) == 20, "get_clamp");
  return t_end();
}

static int child_messages(void) {
  // errors: a request larger than any allocation can be; warnings: misuse of heaps
  for (int i = 0; i < 10; i++) {
    void* p = mi_malloc(SIZE_MAX / 2);
    if (p != NULL) return 2;
  }
  for (int i = 0; i < 10; i++) (void)mi_heap_set_default(NULL);
  return 0;
}

static int child_arena_reserve(void) { return (mi_malloc(10) == NULL); }

static int child_decommits(void) {
  t_begin("test-options", "child: purge_decommits");
  const bool lazy = (getenv("MIMALLOC_PURGE_DECOMMITS") != NULL);
  static void* blocks[65536];
  for (size_t i = 0; i < 65536; i++) {
    blocks[i] = mi_malloc(1024);
    if (blocks[i] != NULL) memset(blocks[i], 7, 1024);
  }
  for (size_t i = 0; i < 65536; i++) mi_free(blocks[i]);
  mi_collect(true);
  const size_t lazyfree = proc_kib("/proc/self/smaps_rollup", "LazyFree:") / 1024;
  const size_t rss = proc_kib("/proc/self/status", "VmRSS:") / 1024;
  printf("    %s: LazyFree %zu MiB, RSS %zu MiB after freeing 64 MiB\n",
         lazy ? "MADV_FREE" : "MADV_DONTNEED", lazyfree, rss);
  if (lazy) {
    CHECK(lazyfree >= 32, "purge_decommits=0: LazyFree %zu MiB, want >= 32", lazyfree);
  } else {
    CHECK(lazyfree < 8 && rss < 40, "default: LazyFree %zu MiB, RSS %zu MiB", lazyfree, rss);
  }
  return t_end();
}

static void* leave_a_block(void* arg) {
  (void)arg;
  return mi_malloc(1000);  // live when the thread exits: its segment is abandoned
}

static int child_destroy(void) {
  setvbuf(stdout, NULL, _IONBF, 0);  // no stdio buffer in memory that mi_process_done releases
  t_begin("test-options", "child: destroy_on_exit");
  const bool destroy = (getenv("MIMALLOC_DESTROY_ON_EXIT") != NULL);
  static void* blocks[2048];
  for (size_t i = 0; i < 2048; i++) {
    blocks[i] = mi_malloc(64 * 1024);
    if (blocks[i] != NULL) memset(blocks[i], 9, 64 * 1024);
  }
  pthread_t t;
  pthread_create(&t, NULL, leave_a_block, NULL);
  pthread_join(t, NULL);
  const size_t before = proc_kib("/proc/self/status", "VmRSS:") / 1024;
  mi_process_done();
  const size_t after = proc_kib("/proc/self/status", "VmRSS:") / 1024;
  printf("    destroy_on_exit=%d: RSS %zu -> %zu MiB at mi_process_done\n", destroy, before, after);
  CHECK(before >= 128, "RSS %zu MiB with 128 MiB live", before);
  if (T_UNDER_ASAN) printf("    (ASan build: RSS includes resident shadow memory, not checked)\n");
  if (destroy) {
    if (!T_UNDER_ASAN) CHECK(after < 32, "RSS %zu MiB after mi_process_done, want < 32", after);
    mi_free(blocks[5]);  // not ours any more: ignored, no crash
    void* later[64];     // a destructor that allocates afterwards still works (fresh memory)
    for (int i = 0; i < 64; i++) later[i] = mi_malloc((size_t)(100 + i * 1000));
    mi_collect(true);  // (visits the abandoned list, which must have been emptied)
    for (int i = 0; i < 64; i++) mi_free(later[i]);
  } else {
    CHECK(after + 8 >= before, "RSS fell from %zu to %zu MiB without the option", before, after);
  }
  fflush(stdout);
  _exit(t_failed == 0 ? 0 : 1);
}

// generic_collect: every Nth slow-path call also collects the heap, which runs the deferred-free
// callback a second time; the child prints how often it ran.
static size_t deferred_calls;
static void on_deferred(bool force, unsigned long long heartbeat, void* arg) {
  (void)force;
  (void)heartbeat;
  (void)arg;
  deferred_calls++;
}

static int child_generic(void) {
  mi_register_deferred_free(on_deferred, NULL);
  static void* blocks[50000];
  for (size_t i = 0; i < 50000; i++) blocks[i] = mi_malloc(16 + (i % 32) * 16);
  for (size_t i = 0; i < 50000; i++) mi_free(blocks[i]);
  printf("    deferred-free calls: %zu\n", deferred_calls);
  return 0;
}

// abandoned_page_purge: a thread frees 3 MiB (too little to count as shrinking), keeps one block
// and exits; its segment is abandoned with that memory waiting for a 100 s purge delay, unless
// the option purges it at abandonment. The child prints the purge calls the exit caused.
static void* abandoning_thread(void* arg) {
  (void)arg;
  void* b[48];
  for (size_t i = 0; i < 48; i++) {
    b[i] = mi_malloc(60000);
    if (b[i] != NULL) memset(b[i], 3, 60000);
  }
  void* keep = mi_malloc(16);
  for (size_t i = 0; i < 48; i++) mi_free(b[i]);
  return keep;
}

static int child_abandon(void) {
  void* keep = NULL;
  pthread_t t;
  pthread_create(&t, NULL, abandoning_thread, NULL);
  pthread_join(t, &keep);  // the thread's segment is abandoned as it exits
  mi_stats_t_decl(after);
  mi_stats_get(&after);
  printf("    purge calls: %lld\n", (long long)after.purge_calls.total);
  mi_free(keep);
  return 0;
}

static long long number_after(const char* text, const char* key) {
  const char* p = strstr(text, key);
  return (p != NULL ? strtoll(p + strlen(key), NULL, 10) : -1);
}

/* ---------------------------------------------------------------------------------------------
   The parent
--------------------------------------------------------------------------------------------- */
static char child_out[65536];

// Runs this program with `scenario` and the environment (NULL-terminated "K=V" list) added to a
// copy of ours without any MIMALLOC_ variable; returns the exit status, output in child_out.
static int run_child(const char* self, const char* scenario, const char* const* env) {
  const char* envp[128];
  size_t n = 0;
  for (char** e = environ; *e != NULL && n < 100; e++) {
    if (strncasecmp(*e, "mimalloc_", 9) != 0) envp[n++] = *e;
  }
  for (; *env != NULL && n < 126; env++) envp[n++] = *env;
  envp[n] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  char* argv[] = {(char*)self, (char*)scenario, NULL};
  pid_t pid;
  const int err = posix_spawn(&pid, self, &fa, NULL, argv, (char* const*)envp);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  size_t len = 0;
  ssize_t r;
  while ((r = read(fds[0], child_out + len, sizeof(child_out) - 1 - len)) > 0) len += (size_t)r;
  child_out[len] = 0;
  close(fds[0]);
  if (err != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static size_t count_lines(const char* text, const char* needle) {
  size_t n = 0;
  for (const char* p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) n++;
  return n;
}

static void expect_child(const char* self, const char* scenario, const char* const* env,
                         const char* what) {
  const int st = run_child(self, scenario, env);
  CHECK(st == 0, "%s: child exit %d, output:\n%s", what, st, child_out);
  if (strstr(child_out, "    ") != NULL) {
    const char* line = strstr(child_out, "    ");
    const char* end = strchr(line, '\n');
    printf("%.*s\n", (int)(end != NULL ? end - line : (long)strlen(line)), line);
  }
}

int main(int argc, char** argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "syntax") == 0) return child_syntax();
    if (strcmp(argv[1], "messages") == 0) return child_messages();
    if (strcmp(argv[1], "arena") == 0) return child_arena_reserve();
    if (strcmp(argv[1], "decommits") == 0) return child_decommits();
    if (strcmp(argv[1], "destroy") == 0) return child_destroy();
    if (strcmp(argv[1], "generic") == 0) return child_generic();
    if (strcmp(argv[1], "abandon") == 0) return child_abandon();
    return 2;
  }
  t_begin("test-options", "MIMALLOC_* environment options change what they name");
  const char* self = "/proc/self/exe";
  char path[4096];
  const ssize_t pl = readlink(self, path, sizeof(path) - 1);
  if (pl > 0) {
    path[pl] = 0;
    self = path;
  }

  t_section("value syntax: case, booleans, sizes, invalid values");
  const char* syntax[] = {
      "mimalloc_Arena_Reserve=64MiB", "MIMALLOC_SHOW_ERRORS=on",     "MIMALLOC_VERBOSE=off",
      "MIMALLOC_PURGE_DELAY=25",      "MIMALLOC_MAX_WARNINGS=lots",  "MIMALLOC_ALLOW_THP=yes",
      "MIMALLOC_EAGER_COMMIT=FALSE",  "MIMALLOC_ARENA_PURGE_MULT=3", NULL};
  expect_child(self, "syntax", syntax, "value syntax");
  CHECK(strstr(child_out, "invalid value \"lots\"") != NULL,
        "an invalid value is reported (show_errors=on):\n%s", child_out);
  const char* sizes[][2] = {
      {"MIMALLOC_ARENA_RESERVE=65536K", "65536"},   {"MIMALLOC_ARENA_RESERVE=64m", "65536"},
      {"MIMALLOC_ARENA_RESERVE=1G", "1048576"},     {"MIMALLOC_ARENA_RESERVE=1gb", "1048576"},
      {"MIMALLOC_ARENA_RESERVE=33554432", "32768"}, {"MIMALLOC_ARENA_RESERVE=1000", "1"}};
  for (size_t i = 0; i < 6; i++) {
    const char* env[] = {sizes[i][0], "MIMALLOC_VERBOSE=1", NULL};
    const int st = run_child(self, "arena", env);
    char want[64];
    snprintf(want, sizeof(want), "option 'arena_reserve': %s KiB", sizes[i][1]);
    CHECK(st == 0 && strstr(child_out, want) != NULL, "%s: want \"%s\" in:\n%.600s", sizes[i][0],
          want, child_out);
  }

  t_section("verbose prints the options and the process start");
  const char* verbose[] = {"MIMALLOC_VERBOSE=1", NULL};
  CHECK(run_child(self, "arena", verbose) == 0, "verbose child");
  CHECK(count_lines(child_out, "shardalloc: option '") >= 38 &&
            strstr(child_out, "process init") != NULL,
        "verbose output:\n%.800s", child_out);
  const char* quiet[] = {"MIMALLOC_SHOW_ERRORS=0", NULL};  // (debug builds default to 1)
  CHECK(run_child(self, "arena", quiet) == 0 && child_out[0] == 0, "quiet by default: \"%s\"",
        child_out);

  t_section("show_errors, max_errors, max_warnings");
  CHECK(run_child(self, "messages", quiet) == 0 && child_out[0] == 0,
        "no messages without show_errors: \"%s\"", child_out);
  const char* shown[] = {"MIMALLOC_SHOW_ERRORS=1", NULL};
  CHECK(run_child(self, "messages", shown) == 0, "messages child");
  CHECK(count_lines(child_out, "shardalloc: error:") == 10 &&
            count_lines(child_out, "shardalloc: warning:") == 10,
        "10 errors and 10 warnings shown:\n%s", child_out);
  const char* capped[] = {"MIMALLOC_SHOW_ERRORS=1", "MIMALLOC_MAX_ERRORS=3",
                          "MIMALLOC_MAX_WARNINGS=2", NULL};
  CHECK(run_child(self, "messages", capped) == 0, "capped child");
  CHECK(count_lines(child_out, "shardalloc: error:") == 3 &&
            count_lines(child_out, "shardalloc: warning:") == 2,
        "max_errors=3, max_warnings=2:\n%s", child_out);

  t_section("arena_reserve: the size of each arena");
  const char* small_arena[] = {"MIMALLOC_ARENA_RESERVE=96M", "MIMALLOC_VERBOSE=1", NULL};
  CHECK(run_child(self, "arena", small_arena) == 0 && strstr(child_out, "arena 1: 96 MiB") != NULL,
        "arena_reserve=96M:\n%.800s", child_out);

  t_section("purge_decommits: MADV_DONTNEED by default, MADV_FREE with 0");
  const char* dontneed[] = {"MIMALLOC_PURGE_DELAY=0", NULL};
  expect_child(self, "decommits", dontneed, "purge_decommits=1");
  const char* lazyfree[] = {"MIMALLOC_PURGE_DELAY=0", "MIMALLOC_PURGE_DECOMMITS=0", NULL};
  expect_child(self, "decommits", lazyfree, "purge_decommits=0");

  t_section("generic_collect: a collection every N slow-path calls");
  const char* generic_default[] = {NULL};
  CHECK(run_child(self, "generic", generic_default) == 0, "generic child");
  const long long calls_default = number_after(child_out, "deferred-free calls: ");
  const char* generic_every[] = {"MIMALLOC_GENERIC_COLLECT=1", NULL};
  CHECK(run_child(self, "generic", generic_every) == 0, "generic child");
  const long long calls_every = number_after(child_out, "deferred-free calls: ");
  printf("    deferred-free calls: %lld by default, %lld with generic_collect=1\n", calls_default,
         calls_every);
  CHECK(calls_default > 10 && calls_every >= 2 * calls_default - 2,
        "collecting at every slow-path call runs the callback twice as often");

  t_section("abandoned_page_purge: an exited thread's free memory is purged at once");
  const char* keep_delay[] = {"MIMALLOC_PURGE_DELAY=100000", NULL};
  CHECK(run_child(self, "abandon", keep_delay) == 0, "abandon child");
  const long long purges_default = number_after(child_out, "purge calls: ");
  const char* purge_now[] = {"MIMALLOC_PURGE_DELAY=100000", "MIMALLOC_ABANDONED_PAGE_PURGE=1",
                             NULL};
  CHECK(run_child(self, "abandon", purge_now) == 0, "abandon child");
  const long long purges_option = number_after(child_out, "purge calls: ");
  printf("    purge calls: %lld without, %lld with abandoned_page_purge\n", purges_default,
         purges_option);
  CHECK(purges_default == 0 && purges_option >= 1, "the option purges at abandonment");

  t_section("destroy_on_exit: mi_process_done releases the arenas");
  expect_child(self, "destroy", quiet, "without destroy_on_exit");
  const char* destroy[] = {"MIMALLOC_DESTROY_ON_EXIT=1", NULL};
  expect_child(self, "destroy", destroy, "with destroy_on_exit");
  return t_end();
}
