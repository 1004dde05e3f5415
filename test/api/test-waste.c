/* test-waste: the internal-waste bound of DESIGN.md ("Bounded"), for every size n in 1 .. 1 MiB:
     mi_good_size(n) >= n, and the waste mi_good_size(n) - n is
       <= n / 8 (12.5%)   for n >= 128,
       <= 15              for 64 <= n < 128;
   and for allocated blocks mi_usable_size(mi_malloc(n)) == mi_good_size(n) (so the bound holds
   for what callers really get, and good_size tells the truth).

   Why 15 bytes below 128: every block is a multiple of 16 bytes (16-byte alignment of every
   result), so just above 64 no block can meet 12.5%: n = 65 would need a block in [65, 73] and
   none of those is a multiple of 16; the next multiple, 80, wastes 15 bytes (23%). From 128 on,
   classes of 16-byte steps up to 256 and 8 classes per power of two above keep waste <= n/8.
   Below 64 there is no bound (16 bytes of granularity is the floor).

   mi_good_size is checked for all 1,048,576 sizes (cheap); allocation is done only at every class
   boundary -1/0/+1 (where mi_good_size changes) and on a stride sample, so the test stays fast in
   the SHARDALLOC_DEBUG=3 build. */
#include <mimalloc.h>

#include "testutil.h"

#define MAX_N T_MiB

static size_t allowed_waste(size_t n) {
  if (n >= 128) return n / 8;
  if (n >= 64) return 15;
  return SIZE_MAX;
}

int main(void) {
  t_begin(
      "test-waste",
      "waste bound: good_size(n) - n <= n/8 for n >= 128, <= 15 for 64..127; usable == good_size");

  t_section("mi_good_size(n) for every n in 1 .. %zu", MAX_N);
  unsigned long long too_small = 0, too_wasteful = 0, classes = 0;
  size_t worst_n = 0, worst_g = 0;
  double worst_ratio = 0;
  size_t prev = 0;
  for (size_t n = 1; n <= MAX_N; n++) {
    size_t g = mi_good_size(n);
    if (g != prev) classes++;
    prev = g;
    if (g < n) {
      if (too_small++ < 5) CHECK(g >= n, "mi_good_size(%zu) = %zu < n", n, g);
      continue;
    }
    size_t waste = g - n;
    if (n >= 64) {
      double ratio = (double)waste / (double)n;
      if (ratio > worst_ratio) worst_ratio = ratio, worst_n = n, worst_g = g;
    }
    if (waste > allowed_waste(n)) {
      if (too_wasteful++ < 10)
        CHECK(waste <= allowed_waste(n),
              "n = %zu: mi_good_size = %zu wastes %zu bytes (%.1f%%), allowed %zu", n, g, waste,
              100.0 * (double)waste / (double)n, allowed_waste(n));
    }
  }
  CHECK(too_small == 0, "%llu sizes with mi_good_size(n) < n", too_small);
  CHECK(too_wasteful == 0, "%llu sizes above the waste bound", too_wasteful);
  t_section("%llu classes; worst waste for n >= 64: n = %zu -> %zu (%.1f%%)", classes, worst_n,
            worst_g, 100.0 * worst_ratio);

  size_t stride = t_scaled(97, 997);
  t_section(
      "mi_usable_size(mi_malloc(n)) == mi_good_size(n) at class boundaries -1/0/+1 and every "
      "%zu-th n",
      stride);
  unsigned long long mismatches = 0, allocations = 0, over_bound = 0;
  prev = mi_good_size(1);
  for (size_t n = 1; n <= MAX_N; n++) {
    size_t g = mi_good_size(n);
    bool boundary = (g != prev) || (n + 1 <= MAX_N && mi_good_size(n + 1) != g) ||
                    (n > 1 && mi_good_size(n - 1) != g);
    prev = g;
    if (!boundary && n % stride != 0 && n > 16) continue;
    void* p = mi_malloc(n);
    allocations++;
    if (!CHECK_NOT_NULL(p, "mi_malloc(%zu) failed", n)) continue;
    size_t u = mi_usable_size(p);
    CHECK(u >= n, "mi_usable_size(mi_malloc(%zu)) = %zu < n", n, u);
    if (u != g && mismatches++ < 10)
      CHECK(u == g, "mi_usable_size(mi_malloc(%zu)) = %zu, but mi_good_size(%zu) = %zu", n, u, n,
            g);
    if (n >= 64 && u >= n && u - n > allowed_waste(n) && over_bound++ < 5)
      CHECK(u - n <= allowed_waste(n), "mi_malloc(%zu) has usable size %zu: waste %zu > %zu", n, u,
            u - n, allowed_waste(n));
    mi_free(p);
  }
  CHECK(mismatches == 0, "%llu of %llu allocated sizes have usable size != good size", mismatches,
        allocations);
  CHECK(over_bound == 0, "%llu of %llu allocated sizes have usable size above the waste bound",
        over_bound, allocations);
  t_section("%llu sizes allocated", allocations);
  return t_end();
}
