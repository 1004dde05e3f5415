/* test-secure-layout: the address-space side of the secure build, each fault in a child process.
   Level 1: the OS page after a segment's header and the segment's last slice are guard pages (a
   write there dies of SIGSEGV), and so is the OS page after a huge block's end; segments are
   mapped at random addresses in [2^42, 2^46).
   Level 2: a page's new blocks come in a random order, not one after the other.
   Level 3: a 64 KiB request, padded by the canary, still shares a medium page with others.
   Level 5 (when the test is linked with a level-5 build): the last OS page of every page is a guard,
   so running off the end of a page's last block faults at once.
   The offsets used (a 64 KiB header area, 32 MiB segments, 64 KiB small pages) are shardalloc's
   layout, fixed in src/internal/types.h; the test checks the level it was linked with first. */
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

#include <shardalloc.h>

#include "testutil.h"

#define KIB     ((uintptr_t)1 << 10)
#define MIB     ((uintptr_t)1 << 20)
#define SEGMENT (32 * MIB)

static volatile char* volatile target;

// Writes one byte at `target` in a child; returns the signal that ended it (0: none).
static int write_in_child(volatile char* at) {
  target = at;
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    *target = 1;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

int main(void) {
  const int level = shardalloc_build_secure_level();
  t_begin("test-secure-layout", "guard pages and randomisation of the secure build");
  if (!CHECK(level >= 1, "linked against a secure build (level %d)", level)) return t_end();
  printf("    secure level %d\n", level);

  t_section("level 1: guard pages after the segment header and at the segment's end");
  char* p = (char*)mi_malloc(100);
  const uintptr_t seg = (uintptr_t)p & ~(SEGMENT - 1);
  CHECK(write_in_child((volatile char*)(seg + 64 * KIB - 1)) == SIGSEGV,
        "a write to the last byte of the header area faults");
  CHECK(write_in_child((volatile char*)(seg + SEGMENT - 1)) == SIGSEGV,
        "a write to the last byte of the segment faults");
  CHECK(write_in_child((volatile char*)(seg + SEGMENT - 64 * KIB)) == SIGSEGV,
        "a write to the start of the guard slice faults");
  CHECK(write_in_child((volatile char*)p) == 0, "the block itself is writable");
  printf("    segment at %p\n", (void*)seg);
  CHECK(seg >= ((uintptr_t)1 << 42) && seg < ((uintptr_t)1 << 46),
        "segment %p in the randomised range [2^42, 2^46)", (void*)seg);
  mi_free(p);

  t_section("level 1: a guard page after a huge block");
  for (int round = 0; round < 2; round++) {  // the second time from the huge-mapping cache
    const size_t size = (round == 0 ? 40 * MIB : 36 * MIB + 100);
    char* h = (char*)mi_malloc(size);
    if (!CHECK(h != NULL, "a huge block of %zu bytes", size)) break;
    const uintptr_t end = ((uintptr_t)h + mi_usable_size(h) + 4095) & ~(uintptr_t)4095;
    CHECK(write_in_child((volatile char*)(end - 1)) == 0, "round %d: the page with its end is ours",
          round);
    CHECK(write_in_child((volatile char*)end) == SIGSEGV, "round %d: the page after it faults",
          round);
    mi_free(h);
  }
  char* again = (char*)mi_malloc(39 * MIB);  // a cached mapping reused: no stale guard inside
  if (CHECK(again != NULL, "a huge block again")) {
    memset(again, 7, 39 * MIB);
    CHECK(again[39 * MIB - 1] == 7, "all of a reused mapping is writable");
  }
  mi_free(again);

  t_section("level 2: new blocks come in a random order");
  if (level >= 2) {
    mi_heap_t* heap = mi_heap_new();
    char* prev = (char*)mi_heap_malloc(heap, 40);
    size_t in_order = 0;
    for (int i = 0; i < 200; i++) {
      char* q = (char*)mi_heap_malloc(heap, 40);
      if (q > prev && (size_t)(q - prev) <= 64) in_order++;
      prev = q;
    }
    CHECK(in_order < 100, "%zu of 200 blocks followed the previous one", in_order);
    mi_heap_destroy(heap);
  }

  t_section("level 3: a 64 KiB request, canary included, still gets a medium page");
  if (level >= 3) {
    // Its block is the class above 64 KiB; medium pages hold that class (several blocks a page),
    // so most blocks handed out one after the other are one block apart. Each on a large page
    // of its own, they would be at least two slices (128 KiB) apart.
    mi_heap_t* heap = mi_heap_new();
    char* prev = (char*)mi_heap_malloc(heap, 64 * KIB);
    const size_t block = mi_usable_size(prev) + 8;  // the block: usable bytes, then the canary
    size_t adjacent = 0;
    for (int i = 0; i < 20; i++) {
      char* q = (char*)mi_heap_malloc(heap, 64 * KIB);
      if (q > prev && (size_t)(q - prev) == block) adjacent++;
      prev = q;
    }
    CHECK(block > 64 * KIB && block < 128 * KIB, "a 64 KiB request takes a %zu-byte block", block);
    CHECK(adjacent >= 14, "%zu of 20 blocks of 64 KiB followed the previous one in its page",
          adjacent);
    mi_heap_destroy(heap);
  }

  t_section("level 5: a guard page after every page");
  if (level >= 5) {
    // 4088-byte requests take 4096-byte blocks (with the canary); a 64 KiB small page keeps its
    // last 4 KiB as the guard, so its 15th block ends at offset 60 KiB, where the guard begins.
    mi_heap_t* heap = mi_heap_new();
    char* last = NULL;
    for (int i = 0; i < 64 && last == NULL; i++) {
      char* q = (char*)mi_heap_malloc(heap, 4088);
      if (q != NULL && ((uintptr_t)q + 4096) % (64 * KIB) == 60 * KIB) last = q;
    }
    if (CHECK(last != NULL, "found the last block of a small page")) {
      CHECK(write_in_child(last + 4095) == 0, "the block's last byte (its canary) is writable");
      CHECK(write_in_child(last + 4096) == SIGSEGV, "one byte past the page's last block faults");
    }
    mi_heap_destroy(heap);
  }
  return t_end();
}
