/* malloc-origin.h: which loaded object the process's `malloc` resolves to, for the stress programs
   that call only the plain C names (so they can run under any allocator). A wrong LD_PRELOAD path
   or a link line that lets libc win makes ld.so serve glibc silently; with SHARDALLOC_EXPECT=1 in
   the environment (set by the ctest entries) the program fails unless malloc comes from
   libshardalloc. Needs -ldl on old glibc (CMAKE_DL_LIBS). */
#ifndef SA_MALLOC_ORIGIN_H
#define SA_MALLOC_ORIGIN_H

#include <dlfcn.h>

#include "testutil.h"

/* Path of the object that defines the `malloc` every caller in the process binds to. */
static inline const char* t_malloc_origin(void) {
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) return "(unknown)";
  return info.dli_fname;
}

static inline bool t_expect_shardalloc(void) {
  const char* s = getenv("SHARDALLOC_EXPECT");
  return s != NULL && strcmp(s, "1") == 0;
}

/* One check when SHARDALLOC_EXPECT=1: malloc comes from libshardalloc. */
static inline void t_check_malloc_origin(void) {
  const char* origin = t_malloc_origin();
  if (!t_expect_shardalloc()) return;
  CHECK(strstr(origin, "libshardalloc") != NULL,
        "SHARDALLOC_EXPECT=1 but malloc resolves to '%s', not libshardalloc", origin);
}

#endif
