/* test-thp [--no-thp | --large]: the transparent-huge-page options do what mimalloc's do.
     (default)  THP stay allowed for the process (THP_enabled: 1 in /proc/self/status);
     --no-thp   run with MIMALLOC_ALLOW_THP=0: the process has THP turned off (THP_enabled: 0);
     --large    run with MIMALLOC_ALLOW_LARGE_OS_PAGES=1: the arena that holds a block is advised
                for huge pages (its /proc/self/smaps entry says THPeligible: 1 where the kernel
                offers THP at all; without the option, in the kernel's "madvise" mode, it is 0).
   A kernel without THP (no THP_enabled line, or THP "never") skips the checks that need it. */
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

// The value of "THP_enabled:" in /proc/self/status, or -1 if the kernel does not report it.
static int thp_enabled(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  int v = -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "THP_enabled:", 12) == 0) v = atoi(line + 12);
  }
  fclose(f);
  return v;
}

// The kernel's THP mode: "always", "madvise" or "never" (the bracketed word), or "" if unknown.
static void thp_mode(char* mode, size_t size) {
  mode[0] = 0;
  FILE* f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (f == NULL) return;
  char line[128];
  if (fgets(line, sizeof(line), f) != NULL) {
    const char* open = strchr(line, '[');
    const char* close = (open != NULL ? strchr(open, ']') : NULL);
    if (open != NULL && close != NULL && (size_t)(close - open) < size) {
      memcpy(mode, open + 1, (size_t)(close - open - 1));
      mode[close - open - 1] = 0;
    }
  }
  fclose(f);
}

// THPeligible of the mapping that contains p (-1 if not found).
static int thp_eligible(const void* p) {
  FILE* f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[512];
  bool inside = false;
  int v = -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = ((uintptr_t)p >= start && (uintptr_t)p < end);
    } else if (inside && strncmp(line, "THPeligible:", 12) == 0) {
      v = atoi(line + 12);
      break;
    }
  }
  fclose(f);
  return v;
}

int main(int argc, char** argv) {
  const char* mode = (argc > 1 ? argv[1] : "");
  t_begin("test-thp", "MIMALLOC_ALLOW_THP and MIMALLOC_ALLOW_LARGE_OS_PAGES");
  void* p = mi_malloc(8 << 20);  // initialises the library (the options act at process init)
  CHECK_NOT_NULL(p, "mi_malloc(8 MiB)");
  const int enabled = thp_enabled();
  char kmode[32];
  thp_mode(kmode, sizeof(kmode));
  printf("    kernel THP mode '%s', THP_enabled %d, option allow_thp %ld, allow_large_os_pages %ld\n",
         kmode, enabled, mi_option_get(mi_option_allow_thp),
         mi_option_get(mi_option_allow_large_os_pages));
  if (strcmp(mode, "--no-thp") == 0) {
    t_section("MIMALLOC_ALLOW_THP=0 turns THP off for the process");
    CHECK(mi_option_get(mi_option_allow_thp) == 0, "run with MIMALLOC_ALLOW_THP=0");
    if (enabled >= 0) CHECK_EQ(enabled, 0);
  } else if (strcmp(mode, "--large") == 0) {
    t_section("MIMALLOC_ALLOW_LARGE_OS_PAGES=1 advises arenas for huge pages");
    CHECK(mi_option_is_enabled(mi_option_allow_large_os_pages), "run with the option set");
    const int eligible = thp_eligible(p);
    if (enabled == 1 && strcmp(kmode, "never") != 0 && eligible >= 0) CHECK_EQ(eligible, 1);
  } else {
    t_section("by default THP stay allowed and arenas are not advised");
    if (enabled >= 0) CHECK_EQ(enabled, 1);
    const int eligible = thp_eligible(p);
    if (strcmp(kmode, "madvise") == 0 && eligible >= 0) CHECK_EQ(eligible, 0);
  }
  mi_free(p);
  return t_end();
}
