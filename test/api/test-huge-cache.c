/* test-huge-cache [--no-cache]: blocks above the largest size class (each in a mapping of its
   own) that are freed and allocated again within the purge delay are not given back to the OS
   and faulted in again every time: 40 cycles of malloc(20 MiB), touch every page, free must take
   few page faults after the first; the memory still goes back once the delay has passed (light
   activity for 400 ms brings RSS down), and mi_collect(true) returns it at once.
   --no-cache (run with MIMALLOC_PURGE_DELAY=0, and MIMALLOC_ALLOW_THP=0 so that faults count
   4 KiB pages, not huge pages): every cycle faults the block in anew. */
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

#define MIB    ((size_t)1 << 20)
#define BLOCK  (20 * MIB)
#define CYCLES 40

static long minor_faults(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

int main(int argc, char** argv) {
  const bool no_cache = (argc > 1 && strcmp(argv[1], "--no-cache") == 0);
  t_begin("test-huge-cache", no_cache ? "purge_delay 0: huge blocks are faulted in every cycle"
                                      : "huge blocks reused within the purge delay are not re-faulted");
  const long pages = (long)(BLOCK / (size_t)sysconf(_SC_PAGESIZE));
  long before = minor_faults();
  for (int i = 0; i < CYCLES; i++) {
    char* p = malloc(BLOCK);
    if (!CHECK_NOT_NULL(p, "malloc(20 MiB)")) break;
    if (i == 0) before = minor_faults();  // the first cycle faults in any case
    memset(p, i, BLOCK);
    free(p);
  }
  const long faults = minor_faults() - before;
  printf("    %d cycles of a 20 MiB block: %ld minor faults (%ld pages per cycle)\n", CYCLES, faults,
         pages);
  if (no_cache) {
    CHECK(faults >= (long)(CYCLES * pages * 8 / 10), "only %ld faults with the cache off", faults);
    return t_end();
  }
  CHECK(faults <= (long)(CYCLES * pages / 10), "%ld faults: the block was faulted in again", faults);

  t_section("the kept mapping goes back after the delay, and at once with mi_collect(true)");
  const size_t held = t_rss_bytes_quiet();
  uint64_t seed = 5;
  // light activity until it is back, 1.5 s at most (the decay time is 500 ms)
  const double start = t_now();
  for (int t = 0; t < 150 && t_rss_bytes_quiet() + 15 * MIB > held; t++) {
    void* batch[64];
    for (int i = 0; i < 64; i++) batch[i] = malloc(t_rand_range(&seed, 16, 4096));
    for (int i = 0; i < 64; i++) free(batch[(i * 37) % 64]);
    usleep(10 * 1000);
  }
  const size_t after = t_rss_bytes_quiet();
  printf("    RSS %zu MiB right after, %zu MiB %.2f s later\n", held / MIB, after / MIB,
         t_now() - start);
  CHECK(after + 15 * MIB <= held, "RSS %zu -> %zu MiB: the kept block was not returned", held / MIB,
        after / MIB);
  char* p = malloc(BLOCK);
  if (CHECK_NOT_NULL(p, "malloc(20 MiB)")) {
    memset(p, 1, BLOCK);
    free(p);
  }
  const size_t kept = t_rss_bytes_quiet();
  mi_collect(true);
  const size_t collected = t_rss_bytes_quiet();
  CHECK(collected + 15 * MIB <= kept, "mi_collect(true): RSS %zu -> %zu MiB", kept / MIB,
        collected / MIB);
  return t_end();
}
