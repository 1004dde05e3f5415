/* bignum: arbitrary-precision arithmetic in the style of continued-fraction factoring, on one
   thread. For each of many random odd N of 128..256 bits it expands sqrt(N) as a continued
   fraction (P, Q, a recurrences), keeps the numerators A_k mod N, and trial-divides every Q by a
   small factor base, as a factoring program would. Numbers are immutable and freshly malloc'ed
   by every operation (2..17 limbs of 32 bits), so the allocator sees a stream of tiny,
   short-lived blocks. The recurrence checks itself: N - P^2 must be divisible by Q.
   One op = one number allocated (results and temporaries). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define NUMBERS 13000 /* values of N at --scale 1 */
#define STEPS   120   /* continued-fraction steps per N */

typedef struct bn_s {
  uint32_t n;   /* limbs in use; 0 is the number zero; d[n-1] != 0 */
  uint32_t d[]; /* little-endian */
} bn_t;

static uint64_t bn_ops;

static bn_t* bn_new(uint32_t limbs) {
  bn_t* x = malloc(sizeof(bn_t) + (limbs ? limbs : 1) * sizeof(uint32_t));
  if (x == NULL) bench_fail("bignum", "malloc returned NULL");
  x->n = limbs;
  bn_ops++;
  return x;
}

static bn_t* bn_trim(bn_t* x) {
  while (x->n > 0 && x->d[x->n - 1] == 0) x->n--;
  return x;
}

static bn_t* bn_from(uint64_t v) {
  bn_t* x = bn_new(2);
  x->d[0] = (uint32_t)v;
  x->d[1] = (uint32_t)(v >> 32);
  return bn_trim(x);
}

static bn_t* bn_copy(const bn_t* a) {
  bn_t* x = bn_new(a->n);
  memcpy(x->d, a->d, a->n * sizeof(uint32_t));
  return x;
}

static int bn_cmp(const bn_t* a, const bn_t* b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (uint32_t i = a->n; i-- > 0;) {
    if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
  }
  return 0;
}

static bn_t* bn_add(const bn_t* a, const bn_t* b) {
  if (a->n < b->n) {
    const bn_t* t = a;
    a = b;
    b = t;
  }
  bn_t* x = bn_new(a->n + 1);
  uint64_t carry = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t s = (uint64_t)a->d[i] + (i < b->n ? b->d[i] : 0) + carry;
    x->d[i] = (uint32_t)s;
    carry = s >> 32;
  }
  x->d[a->n] = (uint32_t)carry;
  return bn_trim(x);
}

/* a - b, a >= b */
static bn_t* bn_sub(const bn_t* a, const bn_t* b) {
  bn_t* x = bn_new(a->n);
  int64_t borrow = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
    borrow = t < 0;
    x->d[i] = (uint32_t)t;
  }
  if (borrow) bench_fail("bignum", "subtraction went negative");
  return bn_trim(x);
}

static bn_t* bn_mul(const bn_t* a, const bn_t* b) {
  bn_t* x = bn_new(a->n + b->n);
  memset(x->d, 0, x->n * sizeof(uint32_t));
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t carry = 0;
    for (uint32_t j = 0; j < b->n; j++) {
      uint64_t t = (uint64_t)a->d[i] * b->d[j] + x->d[i + j] + carry;
      x->d[i + j] = (uint32_t)t;
      carry = t >> 32;
    }
    x->d[i + b->n] = (uint32_t)carry;
  }
  return bn_trim(x);
}

/* quotient of a / v for a one-limb v; *rem gets the remainder */
static bn_t* bn_divsmall(const bn_t* a, uint32_t v, uint32_t* rem) {
  bn_t* q = bn_new(a->n);
  uint64_t r = 0;
  for (uint32_t i = a->n; i-- > 0;) {
    uint64_t cur = (r << 32) | a->d[i];
    q->d[i] = (uint32_t)(cur / v);
    r = cur % v;
  }
  *rem = (uint32_t)r;
  return bn_trim(q);
}

/* Long division (normalised schoolbook, base 2^32): *q = u / v, *r = u % v, v != 0. */
static void bn_divmod(const bn_t* u, const bn_t* v, bn_t** q, bn_t** r) {
  if (v->n == 0) bench_fail("bignum", "division by zero");
  if (bn_cmp(u, v) < 0) {
    *q = bn_from(0);
    *r = bn_copy(u);
    return;
  }
  if (v->n == 1) {
    uint32_t rem;
    *q = bn_divsmall(u, v->d[0], &rem);
    *r = bn_from(rem);
    return;
  }
  const uint32_t n = v->n, m = u->n - v->n;
  const int s = __builtin_clz(v->d[n - 1]);
  /* normalised copies: vn = v << s, un = u << s with one more limb */
  bn_t* vn = bn_new(n);
  bn_t* un = bn_new(u->n + 1);
  for (uint32_t i = n - 1; i > 0; i--) {
    vn->d[i] = (v->d[i] << s) | (s ? (uint32_t)((uint64_t)v->d[i - 1] >> (32 - s)) : 0);
  }
  vn->d[0] = v->d[0] << s;
  un->d[u->n] = s ? (uint32_t)((uint64_t)u->d[u->n - 1] >> (32 - s)) : 0;
  for (uint32_t i = u->n - 1; i > 0; i--) {
    un->d[i] = (u->d[i] << s) | (s ? (uint32_t)((uint64_t)u->d[i - 1] >> (32 - s)) : 0);
  }
  un->d[0] = u->d[0] << s;
  bn_t* qq = bn_new(m + 1);
  const uint64_t B = UINT64_C(1) << 32;
  for (uint32_t j = m + 1; j-- > 0;) {
    uint64_t num = ((uint64_t)un->d[j + n] << 32) | un->d[j + n - 1];
    uint64_t qhat = num / vn->d[n - 1];
    uint64_t rhat = num % vn->d[n - 1];
    while (qhat >= B || qhat * vn->d[n - 2] > ((rhat << 32) | un->d[j + n - 2])) {
      qhat--;
      rhat += vn->d[n - 1];
      if (rhat >= B) break;
    }
    int64_t borrow = 0;
    uint64_t carry = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint64_t p = qhat * vn->d[i] + carry;
      carry = p >> 32;
      int64_t t = (int64_t)un->d[i + j] - borrow - (int64_t)(p & 0xffffffffu);
      un->d[i + j] = (uint32_t)t;
      borrow = t < 0;
    }
    int64_t t = (int64_t)un->d[j + n] - borrow - (int64_t)carry;
    un->d[j + n] = (uint32_t)t;
    if (t < 0) { /* qhat was one too large: add v back */
      qhat--;
      uint64_t c = 0;
      for (uint32_t i = 0; i < n; i++) {
        uint64_t sum = (uint64_t)un->d[i + j] + vn->d[i] + c;
        un->d[i + j] = (uint32_t)sum;
        c = sum >> 32;
      }
      un->d[j + n] += (uint32_t)c;
    }
    qq->d[j] = (uint32_t)qhat;
  }
  bn_t* rr = bn_new(n);
  for (uint32_t i = 0; i < n; i++) {
    rr->d[i] = (un->d[i] >> s) | (s ? (uint32_t)((uint64_t)un->d[i + 1] << (32 - s)) : 0);
  }
  free(vn);
  free(un);
  *q = bn_trim(qq);
  *r = bn_trim(rr);
}

static bn_t* bn_div(const bn_t* u, const bn_t* v) {
  bn_t *q, *r;
  bn_divmod(u, v, &q, &r);
  free(r);
  return q;
}

static bn_t* bn_mod(const bn_t* u, const bn_t* v) {
  bn_t *q, *r;
  bn_divmod(u, v, &q, &r);
  free(q);
  return r;
}

static int bn_is_zero(const bn_t* a) { return a->n == 0; }

/* floor(sqrt(a)) by Newton's iteration from above */
static bn_t* bn_isqrt(const bn_t* a) {
  if (bn_is_zero(a)) return bn_from(0);
  /* start at 2^ceil(bits/2) >= sqrt(a) */
  uint32_t bits = 32 * (a->n - 1) + (32 - (uint32_t)__builtin_clz(a->d[a->n - 1]));
  uint32_t half = (bits + 1) / 2;
  bn_t* x = bn_new(half / 32 + 1);
  memset(x->d, 0, x->n * sizeof(uint32_t));
  x->d[half / 32] = UINT32_C(1) << (half % 32);
  bn_trim(x);
  for (;;) {
    bn_t* t = bn_div(a, x);
    bn_t* s = bn_add(x, t);
    uint32_t rem;
    bn_t* y = bn_divsmall(s, 2, &rem);
    free(t);
    free(s);
    if (bn_cmp(y, x) >= 0) {
      free(y);
      return x;
    }
    free(x);
    x = y;
  }
}

static const uint32_t factor_base[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                       43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

/* Trial division of q by the factor base; returns how many primes divided it. */
static unsigned smooth_part(const bn_t* q) {
  unsigned hits = 0;
  bn_t* x = bn_copy(q);
  for (size_t i = 0; i < sizeof factor_base / sizeof factor_base[0]; i++) {
    for (;;) {
      uint32_t rem;
      bn_t* y = bn_divsmall(x, factor_base[i], &rem);
      if (rem != 0 || bn_is_zero(y)) {
        free(y);
        break;
      }
      free(x);
      x = y;
      hits++;
    }
  }
  free(x);
  return hits;
}

/* STEPS steps of the continued fraction of sqrt(N); returns a checksum. */
static uint64_t expand(const bn_t* N) {
  uint64_t check = 0;
  bn_t* a0 = bn_isqrt(N);
  bn_t* sq = bn_mul(a0, a0);
  int perfect = bn_cmp(sq, N) == 0;
  free(sq);
  if (perfect) {
    free(a0);
    return 1;
  }
  bn_t* P = bn_from(0);
  bn_t* Q = bn_from(1);
  bn_t* A_prev = bn_from(1); /* A_{-1} */
  bn_t* A = bn_copy(a0);     /* A_0 mod N (a0 < N) */
  for (unsigned k = 0; k < STEPS; k++) {
    /* a = (a0 + P) / Q;  P' = a*Q - P;  Q' = (N - P'^2) / Q */
    bn_t* s = bn_add(a0, P);
    bn_t* a = bn_div(s, Q);
    bn_t* aq = bn_mul(a, Q);
    bn_t* P1 = bn_sub(aq, P);
    bn_t* p2 = bn_mul(P1, P1);
    bn_t* d = bn_sub(N, p2);
    bn_t *Q1, *rem;
    bn_divmod(d, Q, &Q1, &rem);
    if (!bn_is_zero(rem) || bn_is_zero(Q1)) bench_fail("bignum", "continued fraction broke");
    /* A_{k+1} = a_{k+1} * A_k + A_{k-1} mod N, with a_{k+1} = (a0 + P') / Q' */
    bn_t* s1 = bn_add(a0, P1);
    bn_t* a1 = bn_div(s1, Q1);
    bn_t* prod = bn_mul(a1, A);
    bn_t* sum = bn_add(prod, A_prev);
    bn_t* A1 = bn_mod(sum, N);
    check += smooth_part(Q1) + (a1->n ? a1->d[0] : 0) + (A1->n ? A1->d[0] : 0);
    free(s), free(a), free(aq), free(p2), free(d), free(rem);
    free(s1), free(a1), free(prod), free(sum);
    free(P), free(Q), free(A_prev);
    P = P1;
    Q = Q1;
    A_prev = A;
    A = A1;
  }
  free(P), free(Q), free(A_prev), free(A), free(a0);
  return check;
}

int wl_bignum(const bench_args_t* a, bench_result_t* r) {
  uint64_t rng = rng_seed(a->seed, 0);
  const uint64_t numbers = scaled(NUMBERS, a->scale);
  bn_ops = 0;
  double t0 = now_s();
  for (uint64_t i = 0; i < numbers; i++) {
    uint32_t limbs = (uint32_t)rng_range(&rng, 4, 8);
    bn_t* N = bn_new(limbs);
    for (uint32_t k = 0; k < limbs; k++) N->d[k] = (uint32_t)rng_next(&rng);
    N->d[0] |= 1;
    N->d[limbs - 1] |= UINT32_C(1) << 31;
    r->check += expand(N);
    free(N);
  }
  r->wall_s = now_s() - t0;
  r->ops = (double)bn_ops;
  return 0;
}
