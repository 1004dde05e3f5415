/* test-track: a program with two memory bugs for the checkers to find in shardalloc's blocks
   (built with SHARDALLOC_VALGRIND or SHARDALLOC_ASAN; run by check-track.sh):
   - a block whose last pointer is dropped (a leak: memcheck must report it allocated at
     LEAK_LINE), unless --no-leak (the first block of a page would show as still reachable: the
     page descriptor holds its address);
   - a read of a block after mi_free (memcheck: "Invalid read" at UAF_LINE; AddressSanitizer:
     use-after-poison, at UAF_LINE).
   A heap destroyed with live blocks, their pointers dropped, must not count as leaked.
   It prints both line numbers first, so the script checks the report against them. */
#include <stdio.h>
#include <string.h>

#include <mimalloc.h>

static void* volatile keep;

__attribute__((noinline)) static void leak(void) {
  // (the first block of a page is reachable through the page descriptor's start address, so the
  // leak is the page's second block)
  keep = mi_malloc(5000);
  const int leak_line = __LINE__ + 1;  // the allocation's line
  char* p = (char*)mi_malloc(5000);
  memset(p, 1, 5000);
  printf("leak-line=%d\n", leak_line);
  p = NULL;  // the only pointer is gone
}

// Overwrites the dead stack below the caller, where a copy of the leaked pointer may linger
// (memcheck would count it as a reference).
__attribute__((noinline)) static void scrub_stack(void) {
  volatile char junk[8192];
  for (size_t i = 0; i < sizeof(junk); i++) junk[i] = 0;
}

__attribute__((noinline)) static int use_after_free(void) {
  char* p = (char*)mi_malloc(64);
  memset(p, 2, 64);
  keep = p;
  mi_free(p);
  printf("uaf-line=%d\n", __LINE__ + 2);
  fflush(stdout);
  return ((volatile char*)p)[8];
}

int main(int argc, char** argv) {
  // a clean phase first: many blocks allocated, used and freed raise no report
  for (int i = 0; i < 10000; i++) {
    char* q = (char*)mi_malloc((size_t)(16 + i % 2000));
    q[0] = (char)i;
    mi_free(q);
  }
  // a heap destroyed with live blocks whose pointers are gone: freed for the checkers, no leak
  mi_heap_t* heap = mi_heap_new();
  for (int i = 0; i < 1000; i++) {
    char* q = (char*)mi_heap_malloc(heap, (size_t)(24 + i % 500));
    q[0] = (char)i;
  }
  mi_heap_destroy(heap);
  if (argc < 2 || strcmp(argv[1], "--no-leak") != 0) leak();
  scrub_stack();
  fflush(stdout);
  return use_after_free() == 12345;
}
