/* test-thp [--no-thp | --large]: the transparent-huge-page options, and huge pages for big blocks.
     (default)  THP stay allowed for the process (THP_enabled: 1 in /proc/self/status). In the
                kernel's "madvise" mode, big blocks' memory is advised for huge pages and nothing
                else is (/proc/self/smaps: THPeligible 1 and 0): an 8 MiB block's 2 MiB units, a
                40 MiB block's mapping, not a small block's page; once the 8 MiB block is freed and
                its memory carved for small blocks, those units are advised against again.
     --no-thp   run with MIMALLOC_ALLOW_THP=0: the process has THP turned off (THP_enabled: 0) and
                no block is eligible.
     --large    run with MIMALLOC_ALLOW_LARGE_OS_PAGES=1: the arena that holds a block is advised
                for huge pages, small blocks' pages included.
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

#define MIB ((size_t)1 << 20)

// A block of `size` whose memory lies in [lo, hi) (kept live in `keep`, up to `max` tries), or NULL.
static void* alloc_inside(size_t size, uintptr_t lo, uintptr_t hi, void** keep, size_t max) {
  for (size_t i = 0; i < max; i++) {
    void* q = mi_malloc(size);
    keep[i] = q;
    if (q != NULL && (uintptr_t)q >= lo && (uintptr_t)q < hi) return q;
  }
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = (argc > 1 ? argv[1] : "");
  t_begin("test-thp", "MIMALLOC_ALLOW_THP, MIMALLOC_ALLOW_LARGE_OS_PAGES, huge pages for big blocks");
  uint8_t* p = (uint8_t*)mi_malloc(8 * MIB);  // (the options act at process init)
  CHECK_NOT_NULL(p, "mi_malloc(8 MiB)");
  uint8_t* small = (uint8_t*)mi_malloc(64);
  uint8_t* huge = (uint8_t*)mi_malloc(40 * MIB);
  CHECK(small != NULL && huge != NULL, "mi_malloc(64), mi_malloc(40 MiB)");
  const int enabled = thp_enabled();
  char kmode[32];
  thp_mode(kmode, sizeof(kmode));
  const bool thp = (enabled == 1 && strcmp(kmode, "never") != 0 && thp_eligible(p) >= 0);
  const bool madvise_mode = (thp && strcmp(kmode, "madvise") == 0);
  printf("    kernel THP mode '%s', THP_enabled %d, option allow_thp %ld, allow_large_os_pages %ld\n",
         kmode, enabled, mi_option_get(mi_option_allow_thp),
         mi_option_get(mi_option_allow_large_os_pages));
  printf("    THPeligible: 8 MiB block %d (its 2nd MiB %d, last MiB %d), 64 B block %d, 40 MiB block %d\n",
         thp_eligible(p), thp_eligible(p + MIB), thp_eligible(p + 7 * MIB), thp_eligible(small),
         thp_eligible(huge + 20 * MIB));
  if (strcmp(mode, "--no-thp") == 0) {
    t_section("MIMALLOC_ALLOW_THP=0 turns THP off for the process");
    CHECK(mi_option_get(mi_option_allow_thp) == 0, "run with MIMALLOC_ALLOW_THP=0");
    if (enabled >= 0) CHECK_EQ(enabled, 0);
    if (thp_eligible(p) >= 0) CHECK_EQ(thp_eligible(p + MIB), 0);
  } else if (strcmp(mode, "--large") == 0) {
    t_section("MIMALLOC_ALLOW_LARGE_OS_PAGES=1 advises arenas for huge pages");
    CHECK(mi_option_is_enabled(mi_option_allow_large_os_pages), "run with the option set");
    if (thp) {
      CHECK_EQ(thp_eligible(p), 1);
      CHECK_EQ(thp_eligible(small), 1);
    }
  } else {
    t_section("by default THP stay allowed, and only big blocks are advised for huge pages");
    if (enabled >= 0) CHECK_EQ(enabled, 1);
    if (madvise_mode) {
      // the 8 MiB block starts on a 2 MiB unit and covers at least three more whole
      CHECK_EQ((uintptr_t)p % (2 * MIB), 0);
      CHECK_EQ(thp_eligible(p), 1);
      CHECK_EQ(thp_eligible(p + 5 * MIB), 1);
      CHECK_EQ(thp_eligible(small), 0);
      CHECK_EQ(thp_eligible(huge + 20 * MIB), 1);
      t_section("a big block's units carved for small blocks are advised against huge pages again");
      const uintptr_t lo = (uintptr_t)p;
      mi_free(p);
      mi_collect(false);
      static void* keep[4096];
      void* q = alloc_inside(32 * 1024, lo, lo + 2 * MIB, keep, 4096);
      CHECK_NOT_NULL(q, "a 32 KiB block in the freed block's first unit");
      if (q != NULL) CHECK_EQ(thp_eligible(q), 0);
      for (size_t i = 0; i < 4096; i++) mi_free(keep[i]);  // (the rest are NULL)
      p = NULL;
    }
  }
  mi_free(p);
  mi_free(small);
  mi_free(huge);
  return t_end();
}
