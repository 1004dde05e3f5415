/* test-realloc-rss: a buffer grown by realloc as a vector grows (capacity doubled when full, bytes
   written as they are pushed) to 100 MiB peaks near 100 MiB of RSS: huge blocks grow in place or
   move with mremap, so the old and the new copy are never resident together (a copying realloc
   peaks at about 1.5x to 2x). Also: contents survive every step, and shrinking gives memory back.
   Peak RSS is the process's VmHWM, against its RSS before the buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MIB   ((size_t)1 << 20)
#define FINAL (100 * MIB)

static size_t status_kib(const char* field) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  char line[256];
  size_t kib = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, field, strlen(field)) == 0) kib = (size_t)strtoull(line + strlen(field), NULL, 10);
  }
  fclose(f);
  return kib;
}

int main(void) {
  t_begin("test-realloc-rss", "realloc growth of a big buffer: no copy, peak RSS near its size");
  t_section("a vector of bytes pushed to 100 MiB");
  const size_t base_kib = status_kib("VmRSS:");
  size_t cap = 4096, len = 0;
  unsigned char* v = malloc(cap);
  bool intact = (v != NULL);
  size_t moves = 0;
  while (intact && len < FINAL) {
    if (len == cap) {
      unsigned char* w = realloc(v, cap * 2);
      if (w == NULL) {
        intact = false;
        break;
      }
      if (w != v) moves++;
      // contents kept: spot checks (a full check would double the time)
      for (size_t i = 0; i < len; i += len / 64 + 1) intact = intact && w[i] == (unsigned char)(i * 7);
      v = w;
      cap *= 2;
    }
    const size_t n = (cap - len < FINAL - len ? cap - len : FINAL - len);
    for (size_t i = len; i < len + n; i++) v[i] = (unsigned char)(i * 7);
    len += n;
  }
  const size_t peak_kib = status_kib("VmHWM:");
  const size_t grown_kib = peak_kib - (peak_kib > base_kib ? base_kib : peak_kib);
  printf("    100 MiB pushed (capacity %zu MiB, %zu moves): RSS %zu MiB before, peak %zu MiB "
         "(%.2fx the final size)\n",
         cap / MIB, moves, base_kib / 1024, peak_kib / 1024, (double)grown_kib * 1024 / FINAL);
  CHECK(intact, "the contents survive every realloc");
  CHECK((double)grown_kib * 1024 <= 1.1 * FINAL, "peak RSS grew by %zu MiB for a %zu MiB buffer",
        grown_kib / 1024, FINAL / MIB);

  t_section("shrinking a huge buffer gives its tail back");
  unsigned char* s = realloc(v, 20 * MIB);
  CHECK(s != NULL && s[20 * MIB - 1] == (unsigned char)((20 * MIB - 1) * 7) && s[12345] ==
        (unsigned char)(12345 * 7), "contents kept when shrinking");
  const size_t after_kib = status_kib("VmRSS:");
  printf("    shrunk to 20 MiB: RSS %zu MiB\n", after_kib / 1024);
  CHECK(after_kib < base_kib + 40 * 1024, "RSS %zu MiB after shrinking to 20 MiB",
        after_kib / 1024);
  free(s);
  return t_end();
}
