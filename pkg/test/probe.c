/* probe: the launcher tests' witness, a program that does not link shardalloc. It prints
   LD_PRELOAD, which object serves malloc, whether a malloc'd block lies in shardalloc's heap, the
   secure level of the shardalloc library loaded and three of its options (all read through dlsym,
   so it runs under any allocator: "none" when no shardalloc is loaded). Exit status 0 unless a
   call fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "mimalloc.h"

static const char* object_of(void* fn) {
  Dl_info info;
  if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL) return "?";
  return info.dli_fname;
}

int main(void) {
  void* malloc_fn = dlsym(RTLD_DEFAULT, "malloc");
  const char* preload = getenv("LD_PRELOAD");
  printf("LD_PRELOAD: %s\n", preload != NULL ? preload : "");
  printf("malloc: %s\n", object_of(malloc_fn));
  bool (*in_heap)(const void*) = (bool (*)(const void*))dlsym(RTLD_DEFAULT, "mi_is_in_heap_region");
  int (*secure_level)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "shardalloc_build_secure_level");
  long (*option_get)(mi_option_t) = (long (*)(mi_option_t))dlsym(RTLD_DEFAULT, "mi_option_get");
  if (in_heap == NULL || secure_level == NULL || option_get == NULL) {
    printf("shardalloc: none\n");
    return 0;
  }
  printf("shardalloc: %s\n", object_of((void*)in_heap));
  void* p = malloc(100);
  if (p == NULL) {
    perror("probe: malloc");
    return 1;
  }
  printf("in heap: %s\n", in_heap(p) ? "yes" : "no");
  free(p);
  printf("secure level: %d\n", secure_level());
  printf("option verbose: %ld\n", option_get(mi_option_verbose));
  printf("option show_stats: %ld\n", option_get(mi_option_show_stats));
  printf("option purge_delay: %ld\n", option_get(mi_option_purge_delay));
  return 0;
}
