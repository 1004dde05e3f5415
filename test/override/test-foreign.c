/* test-foreign: pointers shardalloc did not allocate reach free, realloc and malloc_usable_size
   of a program linked with libshardalloc.so. None may crash:
   - free ignores them (they are not ours to release);
   - malloc_usable_size returns 0;
   - realloc returns a new shardalloc block holding the old contents (every readable byte up to
     the new size: the size of a foreign block is unknown), also when the foreign block ends at
     the end of a mapping, also through the aligned and zeroing forms; a pointer into no readable
     memory at all gives NULL with EINVAL (the debug build reports it as an error and aborts).
   Foreign memory here: static and stack arrays, mmap'ed pages, and blocks from glibc's own malloc
   (reached through dlopen("libc.so.6"), the way a library bound to glibc would get them).
   Also: mi_new in a C program (no C++ runtime to throw std::bad_alloc) aborts with a message. */
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <mimalloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char static_block[256];

static void check_foreign(void* p, size_t n, const char* what) {
  t_ctx(what, 0, 0, 0);
  (void)what;
  // The foreign block holds a pattern; free and usable size must leave it (and us) alone.
  t_fill(p, n, 7);
  CHECK(!mi_is_in_heap_region(p), "%s: %p counted as shardalloc memory", what, p);
  CHECK_EQ(malloc_usable_size(p), (size_t)0);
  CHECK_EQ(mi_usable_size(p), (size_t)0);
  free(p);
  mi_free(p);
  CHECK(t_check_fill(p, n, 7) == SIZE_MAX, "%s: free of a foreign pointer touched its bytes", what);

  // realloc: a new block of ours with the contents.
  void* q = realloc(p, n * 2);
  if (CHECK_NOT_NULL(q, "%s: realloc(foreign, %zu) failed", what, n * 2)) {
    CHECK(mi_is_in_heap_region(q), "%s: realloc result %p is not ours", what, q);
    CHECK(t_check_fill(q, n, 7) == SIZE_MAX, "%s: realloc did not carry the contents over", what);
    CHECK(t_check_fill(p, n, 7) == SIZE_MAX, "%s: realloc changed the foreign block", what);
    free(q);
  }
  q = realloc(p, n / 2);  // shrinking
  if (CHECK_NOT_NULL(q, "%s: realloc(foreign, %zu) failed", what, n / 2)) {
    CHECK(t_check_fill(q, n / 2, 7) == SIZE_MAX, "%s: shrinking realloc lost contents", what);
    free(q);
  }
  q = mi_realloc_aligned(p, n, 256);
  if (CHECK_NOT_NULL(q, "%s: mi_realloc_aligned(foreign) failed", what)) {
    CHECK_ALIGNED(q, 256);
    CHECK(t_check_fill(q, n, 7) == SIZE_MAX, "%s: aligned realloc lost contents", what);
    free(q);
  }
  q = mi_rezalloc(p, n + 1000);
  if (CHECK_NOT_NULL(q, "%s: mi_rezalloc(foreign) failed", what)) {
    CHECK(t_check_fill(q, n, 7) == SIZE_MAX, "%s: rezalloc lost contents", what);
    free(q);
  }
  t_ctx(NULL, 0, 0, 0);
}

int main(void) {
  t_begin("test-foreign", "free/realloc/malloc_usable_size of memory shardalloc did not allocate");

  t_section("static, stack and mmap'ed memory");
  check_foreign(static_block, sizeof(static_block), "static array");
  char stack_block[512];
  check_foreign(stack_block, sizeof(stack_block), "stack array");
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uint8_t* map = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (CHECK(map != MAP_FAILED, "mmap")) {
    check_foreign(map + 64, 1000, "mmap'ed block");
    // A block in the last bytes of a mapping followed by an unmapped page: realloc to a larger
    // size must copy only what is readable, not fault past the end.
    munmap(map + 3 * page, page);
    uint8_t* tail = map + 3 * page - 48;
    t_fill(tail, 48, 9);
    void* q = realloc(tail, 100000);
    if (CHECK_NOT_NULL(q, "realloc of a block at the end of a mapping")) {
      CHECK(t_check_fill(q, 48, 9) == SIZE_MAX, "end-of-mapping realloc lost contents");
      free(q);
    }
    munmap(map, 3 * page);
  }

  t_section("glibc's own malloc (dlopen libc.so.6)");
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  void* (*glibc_malloc)(size_t) = libc ? (void* (*)(size_t))dlsym(libc, "malloc") : NULL;
  if (CHECK(glibc_malloc != NULL && glibc_malloc != malloc, "glibc's malloc not found")) {
    for (size_t n = 16; n <= (size_t)1 << 20; n *= 8) {
      void* g = glibc_malloc(n);
      if (CHECK_NOT_NULL(g, "glibc malloc(%zu)", n)) check_foreign(g, n, "glibc block");
    }
  }
  if (libc) dlclose(libc);

  t_section("realloc of a pointer into no readable memory: EINVAL, or abort in the debug build");
  pid_t pid = fork();
  if (pid == 0) {
    uint8_t* gone = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, page);
    errno = 0;
    void* q = realloc(gone + 16, 100);
    _exit(q == NULL && errno == EINVAL ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (SA_TEST_DEBUG >= 1) {  // the level the library was built with
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status 0x%x, want SIGABRT", status);
  } else {
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x, want NULL/EINVAL", status);
  }

  t_section("mi_new in a C program: out of memory aborts (no C++ runtime to throw)");
  pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    volatile size_t huge = SIZE_MAX / 4;
    void* q = mi_new(huge);
    _exit(q == NULL ? 2 : 3);
  }
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status 0x%x, want SIGABRT", status);
  return t_end();
}
