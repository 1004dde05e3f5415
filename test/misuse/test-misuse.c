/* test-misuse: each class of memory bug, committed in a child process against the secure build
   (libshardalloc-secure.so, level 4): the child must die of SIGABRT after printing the one-line
   message that names the fault and the address. Then the control: programs that keep to the
   rules, including live blocks whose data looks like free-list links (raw addresses of free
   blocks of the same page), never abort.
   Classes: double free (small, large, from another thread, after the owner thread exited, into
   a full page's delayed list, after its canary was overwritten),
   free of an interior, unaligned, wild or foreign pointer, overflow by 1 and by 8 bytes past the
   usable size, a write after free into a free-list link, realloc of a freed block. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <shardalloc.h>

#include "testutil.h"

typedef void (*bug_fn)(void);

static void* volatile sink;  // keeps the compiler from reasoning about the bugs below

// p, with its provenance hidden from the compiler: the overflows below must reach memory, not be
// caught (or folded) by object-size checks (UBSan's build runs these tests too).
static char* launder(char* p) {
  sink = p;
  return (char*)sink;
}

static void bug_double_free_small(void) {
  char* p = malloc(40);
  sink = p;
  free(p);
  free(p);
}

static void bug_double_free_large(void) {
  char* p = malloc(3 * 1024 * 1024 + 12345);  // a size class no other block uses here
  sink = p;
  memset(p, 1, 4096);
  free(p);
  free(p);
}

static void* free_it(void* p) {
  free(p);
  return NULL;
}

static void bug_double_free_cross_thread(void) {
  void* keep[8];
  for (int i = 0; i < 8; i++) keep[i] = malloc(64);  // the page stays in use
  sink = keep;
  char* p = malloc(64);
  pthread_t t;
  pthread_create(&t, NULL, free_it, p);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, free_it, p);
  pthread_join(t, NULL);
}

// The first free comes from another thread while the block's page is full, so the block goes
// onto the owner heap's delayed list (not the page's lists); then a second free, by either thread.
static void* free_it_twice(void* p) {
  free(p);
  free(p);
  return NULL;
}

static void** fill_pages(void) {
  enum { N = 256 };  // eight full pages of 2 KiB blocks
  static void* blocks[N];
  for (int i = 0; i < N; i++) blocks[i] = malloc(2000);
  sink = blocks;
  return blocks;
}

static void bug_double_free_delayed_remote(void) {
  void** blocks = fill_pages();
  pthread_t t;
  pthread_create(&t, NULL, free_it_twice, blocks[5]);
  pthread_join(t, NULL);
}

static void bug_double_free_delayed_owner(void) {
  void** blocks = fill_pages();
  pthread_t t;
  pthread_create(&t, NULL, free_it, blocks[5]);
  pthread_join(t, NULL);
  free(blocks[5]);
}

// The freed block's canary overwritten (an overflow out of its neighbour), then a second free:
// still reported as a double free (the block is found in its page's lists).
static void bug_double_free_canary_clobbered(void) {
  char* p = malloc(40);
  const size_t usable = malloc_usable_size(p);
  sink = p;
  free(p);
  memset(launder(p) + usable, 'z', 8);
  free(p);
}

static void* alloc_and_exit(void* arg) {
  void** out = (void**)arg;
  for (int i = 0; i < 16; i++) out[i] = malloc(96);  // live blocks keep the page after exit
  return NULL;
}

static void bug_double_free_after_owner_exit(void) {
  void* blocks[16];
  pthread_t t;
  pthread_create(&t, NULL, alloc_and_exit, blocks);
  pthread_join(t, NULL);
  free(blocks[3]);
  free(blocks[3]);
}

static void bug_free_interior(void) {
  char* p = malloc(200);
  sink = p;
  free(p + 64);
}

static void bug_free_unaligned(void) {
  char* p = malloc(200);
  sink = p;
  free(p + 1);
}

static void bug_free_wild(void) {
  char* p = malloc(100);
  sink = p;
  free(p + 8 * 1024 * 1024);  // inside the segment, in no page
}

static void bug_free_foreign(void) {
  static char not_ours[64];
  sink = not_ours;
  free((void*)not_ours);
}

static void bug_overflow_1(void) {
  char* p = malloc(100);
  const size_t usable = malloc_usable_size(p);
  sink = p;
  launder(p)[usable] = 'x';  // one byte past the usable size
  free(p);
}

static void bug_overflow_8(void) {
  char* p = malloc(256);
  const size_t usable = malloc_usable_size(p);
  sink = p;
  memset(launder(p) + usable, 'y', 8);
  free(p);
}

static void bug_write_after_free(void) {
  char* a = malloc(48);
  char* b = malloc(48);
  sink = b;
  free(a);
  memset(a, 0x41, 8);                 // the link to the next free block
  for (int i = 0; i < 100000; i++) {  // allocate until the page hands out a and follows its link
    void* q = malloc(48);
    sink = q;
    if (q == a) {
      malloc(48);
      break;
    }
  }
}

static void bug_realloc_freed(void) {
  char* p = malloc(72);
  sink = p;
  free(p);
  sink = realloc(p, 300);
}

// Control: live blocks holding the raw addresses of free blocks of their page are freed fine,
// and so is everything else a correct program does.
static void no_bug(void) {
  enum { N = 4096 };
  static void* blocks[N];
  for (int i = 0; i < N; i++) blocks[i] = malloc(32 + (i % 8) * 16);
  for (int i = 0; i < N; i += 2) free(blocks[i]);
  for (int i = 1; i < N; i += 2) {
    *(void**)blocks[i] = blocks[i - 1];      // a freed neighbour's address
    ((void**)blocks[i])[1] = blocks[i - 1];  // (and in the second word)
  }
  for (int i = 1; i < N; i += 2) free(blocks[i]);
  char* r = NULL;
  for (int i = 1; i < 200; i++) r = realloc(r, (size_t)i * 97);
  free(r);
  void* a = aligned_alloc(4096, 10000);
  free(a);
  fflush(stdout);
  _exit(0);
}

static char out[8192];

// Runs fn in a child with stderr captured; returns its wait status.
static int run(bug_fn fn) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn();
    _exit(0);  // the bug went unnoticed
  }
  close(fds[1]);
  return t_child_output(pid, fds[0], out, sizeof(out));
}

// `message`, or `alternative` where it is not NULL.
static void expect_abort_either(const char* what, bug_fn fn, const char* message,
                                const char* alternative) {
  const int st = run(fn);
  const bool aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
  const char* line = strstr(out, message);
  if (line == NULL && alternative != NULL) line = strstr(out, alternative);
  const bool addressed = (line != NULL && strstr(line, "0x") != NULL);
  CHECK(aborted && line != NULL && addressed, "%s: %s, want SIGABRT and \"%s...0x...\"; stderr: %s",
        what, aborted ? "aborted" : "did not abort", message, out);
  if (line != NULL) {
    const char* end = strchr(line, '\n');
    printf("    %-32s %.*s\n", what, (int)(end != NULL ? end - line : (long)strlen(line)), line);
  }
}

static void expect_abort(const char* what, bug_fn fn, const char* message) {
  expect_abort_either(what, fn, message, NULL);
}

int main(void) {
  t_begin("test-misuse", "every class of memory bug aborts with its message (secure build)");
  if (!CHECK(shardalloc_build_secure_level() >= 4, "linked against a secure build (level %d)",
             shardalloc_build_secure_level()))
    return t_end();

  t_section("double frees");
  expect_abort("double free, small", bug_double_free_small, "shardalloc: error: double free of ");
  // (a large page goes back to its segment with its last block since the memory-return engine,
  // so the second free finds no block there: an invalid pointer, not a double free)
  expect_abort_either("double free, large", bug_double_free_large,
                      "shardalloc: error: double free of ",
                      "shardalloc: error: free of an invalid pointer ");
  expect_abort("double free, other thread", bug_double_free_cross_thread,
               "shardalloc: error: double free of ");
  expect_abort("double free, owner exited", bug_double_free_after_owner_exit,
               "shardalloc: error: double free of ");
  expect_abort("double free, delayed, other thread", bug_double_free_delayed_remote,
               "shardalloc: error: double free of ");
  expect_abort("double free, delayed, then owner", bug_double_free_delayed_owner,
               "shardalloc: error: double free of ");
  expect_abort("double free, canary overwritten", bug_double_free_canary_clobbered,
               "shardalloc: error: double free of ");

  t_section("invalid pointers");
  expect_abort("free of an interior pointer", bug_free_interior,
               "shardalloc: error: free of an invalid pointer ");
  expect_abort("free of an unaligned pointer", bug_free_unaligned,
               "shardalloc: error: free of an invalid pointer ");
  expect_abort("free of a wild pointer", bug_free_wild,
               "shardalloc: error: free of an invalid pointer ");
  expect_abort("free of a foreign pointer", bug_free_foreign,
               "shardalloc: error: free of an invalid pointer ");

  t_section("overflows and use after free");
  expect_abort("overflow by 1 byte", bug_overflow_1,
               "shardalloc: error: buffer overflow of block ");
  expect_abort("overflow by 8 bytes", bug_overflow_8,
               "shardalloc: error: buffer overflow of block ");
  expect_abort("write after free into a link", bug_write_after_free,
               "shardalloc: error: corrupted free list in page ");
  expect_abort("realloc of a freed block", bug_realloc_freed,
               "shardalloc: error: invalid pointer ");

  t_section("no false positives");
  const int st = run(no_bug);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
        "a correct program with link-like data: status "
        "0x%x, stderr: %s",
        st, out);
  return t_end();
}
