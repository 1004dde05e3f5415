/* test-basic: the smallest possible use of the library (one malloc, one free, ...), so that when
   everything else fails this one says whether the allocator works at all. */
#include <mimalloc.h>

#include "testutil.h"

int main(void) {
  t_begin("test-basic", "simplest mi_malloc/mi_free/mi_calloc/mi_realloc round trips");

  t_section("mi_malloc(16), write, read back, mi_free");
  char* p = mi_malloc(16);
  if (CHECK_NOT_NULL(p, "mi_malloc(16) failed")) {
    memcpy(p, "hello, allocator", 16);
    CHECK(memcmp(p, "hello, allocator", 16) == 0, "content not kept");
    mi_free(p);
  }

  t_section("mi_calloc(4, 8) is zeroed");
  unsigned char* z = mi_calloc(4, 8);
  if (CHECK_NOT_NULL(z, "mi_calloc(4, 8) failed")) {
    CHECK_ZERO(z, 32);
    mi_free(z);
  }

  t_section("mi_realloc grows 8 -> 1000 keeping the content");
  char* r = mi_malloc(8);
  if (CHECK_NOT_NULL(r, "mi_malloc(8) failed")) {
    memcpy(r, "1234567", 8);
    r = mi_realloc(r, 1000);
    if (CHECK_NOT_NULL(r, "mi_realloc(r, 1000) failed")) {
      CHECK(strcmp(r, "1234567") == 0, "content lost: '%.8s'", r);
      mi_free(r);
    }
  }

  t_section("mi_free(NULL) is a no-op; mi_version() > 0");
  mi_free(NULL);
  CHECK(mi_version() > 0, "mi_version() = %d", mi_version());

  return t_end();
}
