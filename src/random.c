/* Randomness: a process seed from the OS, and per-heap xorshift128+ generators seeded from it
 * through splitmix64. Used for cookies and per-page keys; not a CSPRNG (the
 * secure build replaces it). Each context is used by one thread. */
#include "internal/internal.h"

static _Atomic(uint64_t) mi_seed_counter;
static uint64_t mi_process_seed;
static _Atomic(int) mi_process_seeded;

static uint64_t mi_splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t _mi_random_weak(uint64_t extra) {
  uint64_t x = extra ^ (uint64_t)_mi_prim_clock_now() ^ (uint64_t)(uintptr_t)&mi_seed_counter ^
               (uint64_t)_mi_prim_thread_id();
  return mi_splitmix64(&x);
}

static uint64_t mi_random_process_seed(void) {
  if (!mi_atomic_load_acquire(&mi_process_seeded)) {
    uint64_t seed;
    if (!_mi_prim_random_buf(&seed, sizeof(seed))) seed = _mi_random_weak(0);
    mi_process_seed = seed;
    mi_atomic_store_release(&mi_process_seeded, 1);
  }
  return mi_process_seed;
}

void _mi_random_init(mi_random_ctx_t* ctx) {
  uint64_t x = mi_random_process_seed() ^ (uint64_t)(uintptr_t)ctx ^
               (mi_atomic_add_relaxed(&mi_seed_counter, 1) * 0xD1342543DE82EF95ULL);
  ctx->state[0] = mi_splitmix64(&x);
  ctx->state[1] = mi_splitmix64(&x) | 1;
}

// xorshift128+ step with an output mix.
uint64_t _mi_random_next(mi_random_ctx_t* ctx) {
  uint64_t s1 = ctx->state[0];
  const uint64_t s0 = ctx->state[1];
  ctx->state[0] = s0;
  s1 ^= s1 << 23;
  ctx->state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  uint64_t r = ctx->state[1] + s0;
  return mi_splitmix64(&r);
}
