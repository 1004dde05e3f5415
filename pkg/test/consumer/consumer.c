/* consumer: a program built against an installed shardalloc (pkg-config, find_package, add_subdirectory,
   the .deb) by pkg/test/test-install.sh. It checks that the headers and the library it runs on
   agree, that its malloc is shardalloc's, and the secure level of the library (argument 1, when
   given); prints what it found and exits 1 on any mismatch. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mimalloc.h>
#include <shardalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails = 0;

static void check(int ok, const char* what) {
  if (!ok) {
    printf("consumer: FAIL: %s\n", what);
    fails++;
  }
}

int main(int argc, char** argv) {
  Dl_info info;
  const char* from = "?";
  if (dladdr(dlsym(RTLD_DEFAULT, "malloc"), &info) != 0 && info.dli_fname != NULL) {
    from = info.dli_fname;
  }
  printf(
      "consumer: shardalloc %d.%d.%d headers, library version %d, secure level %d, "
      "malloc from %s\n",
      SHARDALLOC_VERSION_MAJOR, SHARDALLOC_VERSION_MINOR, SHARDALLOC_VERSION_PATCH, mi_version(),
      shardalloc_build_secure_level(), from);
  check(mi_version() == SHARDALLOC_VERSION, "the library's version is the headers'");
  check(shardalloc_build_overrides_malloc(), "the library replaces malloc");
  char* p = malloc(100);
  check(p != NULL && mi_is_in_heap_region(p), "malloc's block is in shardalloc's heap");
  free(p);
  char* q = mi_malloc(50);
  check(q != NULL && mi_usable_size(q) >= 50, "mi_malloc");
  if (q != NULL) strcpy(q, "consumer");
  mi_free(q);
  if (argc > 1) {
    check(shardalloc_build_secure_level() == atoi(argv[1]), "the expected secure level");
  }
  return fails == 0 ? 0 : 1;
}
