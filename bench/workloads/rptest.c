/* rptest: threads that allocate, free, and hand a share of their blocks to one another. Each of
   T threads keeps 4,096 slots of live blocks. A step allocates a block (sizes skewed small: the
   smaller of two log-uniform draws in 16 B..16 KiB, so half are under about 160 B and one in
   eight over 2 KiB; 1.1 KiB on average), tags it, and either puts it in a random slot of its own
   (freeing the block that was there) or, one step in four, sends it to another thread. Sent
   blocks travel in batches of 32 through a lock-free mailbox per thread (while a mailbox holds
   512 batches, blocks for it are kept instead: the share sent, about a quarter, is in the result
   line); the receiver, every 64 steps, takes its mail and puts each block in one of its slots,
   freeing what was there: blocks live a while on a thread that did not allocate them and are
   then freed by it. Every thread does the same fixed number of steps (the total split evenly),
   then keeps taking mail until all are done. Tags are checked at every free.
   One op = one step (a malloc and, once the slots are full, a free). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

#define SLOTS       4096
#define BATCH       32
#define SEND_ONE_IN 4
#define DRAIN_EVERY 64
#define MAX_PENDING 512   /* batches waiting in a mailbox; past that, blocks are kept, not sent */
#define STEPS       2.0e7 /* in all, at --scale 1 */
#define SIZE_MIN_B  16
#define SIZE_MAX_B  16384

/* A batch of blocks sent to a thread; malloc'ed by the sender, freed by the receiver. */
typedef struct mail_s {
  struct mail_s* next;
  unsigned n;
  uint64_t* block[BATCH];
} mail_t;

typedef struct worker_s {
  BENCH_OWN_LINE uint64_t* slot[SLOTS];
  uint64_t rng;
  uint64_t steps;
  uint64_t made, freed; /* sums of the sizes allocated and freed by this thread */
  uint64_t sent;        /* blocks sent */
  mail_t** outbox;      /* one batch being filled per destination thread */
  unsigned id, nthreads;
  struct worker_s* all;
  _Atomic(unsigned)* done; /* threads that have sent all their mail */
  /* written by other threads: the head of a stack of mail, and how many batches it holds */
  BENCH_OWN_LINE _Atomic(mail_t*) inbox;
  _Atomic(unsigned) pending;
} worker_t;

static size_t skewed_size(uint64_t* rng) {
  size_t a = rng_log_size(rng, SIZE_MIN_B, SIZE_MAX_B);
  size_t b = rng_log_size(rng, SIZE_MIN_B, SIZE_MAX_B);
  return a < b ? a : b;
}

/* Block layout: word 0 = its size xor its address; first and last byte written. */
static uint64_t* block_new(worker_t* w) {
  size_t size = skewed_size(&w->rng);
  uint64_t* p = malloc(size);
  if (p == NULL) bench_fail("rptest", "malloc(%zu) returned NULL", size);
  p[0] = size ^ (uint64_t)(uintptr_t)p;
  ((unsigned char*)p)[size - 1] = (unsigned char)size;
  w->made += size;
  return p;
}

static void block_free(worker_t* w, uint64_t* p) {
  if (p == NULL) return;
  size_t size = (size_t)(p[0] ^ (uint64_t)(uintptr_t)p);
  if (size < SIZE_MIN_B || size > SIZE_MAX_B ||
      ((unsigned char*)p)[size - 1] != (unsigned char)size)
    bench_fail("rptest", "corrupted block at %p", (void*)p);
  w->freed += size;
  free(p);
}

static void keep(worker_t* w, uint64_t* p) {
  unsigned k = (unsigned)(rng_next(&w->rng) % SLOTS);
  block_free(w, w->slot[k]);
  w->slot[k] = p;
}

static void post(worker_t* to, mail_t* m) {
  atomic_fetch_add_explicit(&to->pending, 1, memory_order_relaxed);
  mail_t* head = atomic_load_explicit(&to->inbox, memory_order_relaxed);
  do {
    m->next = head;
  } while (!atomic_compare_exchange_weak_explicit(&to->inbox, &head, m, memory_order_release,
                                                  memory_order_relaxed));
}

static void send(worker_t* w, unsigned to, uint64_t* p) {
  mail_t* m = w->outbox[to];
  if (m == NULL) {
    m = xmalloc_or_fail("rptest", sizeof(mail_t));
    m->n = 0;
    w->outbox[to] = m;
  }
  m->block[m->n++] = p;
  if (m->n == BATCH) {
    post(&w->all[to], m);
    w->outbox[to] = NULL;
  }
}

static void drain(worker_t* w) {
  mail_t* m = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
  while (m != NULL) {
    mail_t* next = m->next;
    atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
    for (unsigned i = 0; i < m->n; i++) keep(w, m->block[i]);
    free(m);
    m = next;
  }
}

static void* worker_main(void* arg) {
  worker_t* w = arg;
  const unsigned T = w->nthreads;
  for (uint64_t s = 0; s < w->steps; s++) {
    uint64_t* p = block_new(w);
    uint64_t x = rng_next(&w->rng);
    unsigned to = T > 1 ? (w->id + 1 + (unsigned)((x >> 8) % (T - 1))) % T : 0; /* not itself */
    if (T > 1 && x % SEND_ONE_IN == 0 &&
        atomic_load_explicit(&w->all[to].pending, memory_order_relaxed) < MAX_PENDING) {
      send(w, to, p);
      w->sent++;
    } else {
      keep(w, p);
    }
    if (s % DRAIN_EVERY == DRAIN_EVERY - 1) drain(w);
  }
  for (unsigned t = 0; t < T; t++) {
    if (w->outbox[t] != NULL) post(&w->all[t], w->outbox[t]);
  }
  /* Keep taking mail until every thread is done sending: a thread that finished first and only
     waited would let its mail pile up for as long as the others run (gigabytes when the threads
     get unequal shares of the CPU). */
  atomic_fetch_add_explicit(w->done, 1, memory_order_release);
  const struct timespec nap = {0, 100 * 1000};
  while (atomic_load_explicit(w->done, memory_order_acquire) < T) {
    drain(w);
    nanosleep(&nap, NULL);
  }
  drain(w);
  for (unsigned k = 0; k < SLOTS; k++) block_free(w, w->slot[k]);
  return NULL;
}

int wl_rptest(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  const uint64_t steps = scaled(STEPS / T, a->scale);
  worker_t* ws = xcalloc_lines("rptest", T, sizeof(worker_t));
  _Atomic(unsigned) done;
  atomic_init(&done, 0);
  for (unsigned t = 0; t < T; t++) {
    worker_t* w = &ws[t];
    w->rng = rng_seed(a->seed, t);
    w->steps = steps;
    w->outbox = calloc(T, sizeof(mail_t*));
    if (w->outbox == NULL) bench_fail("rptest", "out of memory");
    w->id = t;
    w->nthreads = T;
    w->all = ws;
    w->done = &done;
    atomic_init(&w->inbox, NULL);
    atomic_init(&w->pending, 0);
  }
  double t0 = now_s();
  run_threads(T, worker_main, ws, sizeof(worker_t));
  r->wall_s = now_s() - t0;
  r->ops = (double)steps * T;
  uint64_t made = 0, freed = 0, sent = 0;
  for (unsigned t = 0; t < T; t++) {
    sent += ws[t].sent;
    made += ws[t].made;
    freed += ws[t].freed;
    free(ws[t].outbox);
  }
  if (made != freed) bench_fail("rptest", "sizes made and freed differ: a block was lost");
  r->check = made;
  result_extra(r, "sent_share=%.3f", (double)sent / r->ops);
  free(ws);
  return 0;
}
