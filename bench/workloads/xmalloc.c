/* xmalloc: producer threads allocate blocks (mostly 16..256 B, one in eight 256 B..4 KiB), write
   a tag into each and pass them in batches of 64 through a bounded queue to consumer threads,
   which check the tag and free them: every free is remote (the thread-free lists, delayed free
   of full pages). T threads = T/2 producers and the rest consumers (at least one of each).
   The batches themselves are malloc'ed by producers and freed by consumers too.
   One op = one block allocated and freed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common.h"

#define BATCH     64
#define QUEUE_CAP 256 /* batches in flight at most: bounds the memory */
#define BLOCKS    2.4e7

typedef struct batch_s {
  unsigned n;
  uint64_t* block[BATCH];
} batch_t;

typedef struct queue_s {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  batch_t* ring[QUEUE_CAP];
  unsigned head, count;
  unsigned producers_left;
} queue_t;

typedef struct role_s {
  BENCH_OWN_LINE queue_t* q;
  bool producer;
  uint64_t blocks; /* producer: blocks to make */
  uint64_t rng;
  uint64_t check; /* producer: sum of sizes made; consumer: sum of sizes freed */
} role_t;

static void push(queue_t* q, batch_t* b) {
  pthread_mutex_lock(&q->lock);
  while (q->count == QUEUE_CAP) pthread_cond_wait(&q->not_full, &q->lock);
  q->ring[(q->head + q->count++) % QUEUE_CAP] = b;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

/* NULL once every producer is done and the queue is empty. */
static batch_t* pop(queue_t* q) {
  pthread_mutex_lock(&q->lock);
  while (q->count == 0 && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->lock);
  batch_t* b = NULL;
  if (q->count > 0) {
    b = q->ring[q->head];
    q->head = (q->head + 1) % QUEUE_CAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
  }
  pthread_mutex_unlock(&q->lock);
  return b;
}

static void* producer(role_t* r) {
  uint64_t left = r->blocks;
  while (left > 0) {
    batch_t* b = xmalloc_or_fail("xmalloc", sizeof(batch_t));
    b->n = left < BATCH ? (unsigned)left : BATCH;
    for (unsigned i = 0; i < b->n; i++) {
      uint64_t x = rng_next(&r->rng);
      size_t size = (x & 7) ? 16 + (x >> 8) % 241 : 256 + (x >> 8) % 3841;
      uint64_t* p = malloc(size);
      if (p == NULL) bench_fail("xmalloc", "malloc(%zu) returned NULL", size);
      p[0] = size ^ (uint64_t)(uintptr_t)p; /* the consumer checks this tag */
      r->check += size;
      b->block[i] = p;
    }
    left -= b->n;
    push(r->q, b);
  }
  pthread_mutex_lock(&r->q->lock);
  if (--r->q->producers_left == 0) pthread_cond_broadcast(&r->q->not_empty);
  pthread_mutex_unlock(&r->q->lock);
  return NULL;
}

static void* consumer(role_t* r) {
  batch_t* b;
  while ((b = pop(r->q)) != NULL) {
    for (unsigned i = 0; i < b->n; i++) {
      uint64_t* p = b->block[i];
      r->check += p[0] ^ (uint64_t)(uintptr_t)p; /* = the size */
      free(p);
    }
    free(b);
  }
  return NULL;
}

static void* role_main(void* arg) {
  role_t* r = arg;
  return r->producer ? producer(r) : consumer(r);
}

int wl_xmalloc(const bench_args_t* a, bench_result_t* res) {
  unsigned producers = a->threads / 2, consumers;
  if (producers == 0) producers = 1;
  consumers = a->threads > producers ? a->threads - producers : 1;
  const uint64_t total = scaled(BLOCKS, a->scale);
  queue_t q = {.producers_left = producers};
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  pthread_cond_init(&q.not_full, NULL);
  unsigned n = producers + consumers;
  role_t* roles = xcalloc_lines("xmalloc", n, sizeof(role_t));
  for (unsigned i = 0; i < n; i++) {
    bool prod = i < producers;
    roles[i] = (role_t){.q = &q, .producer = prod, .rng = rng_seed(a->seed, i)};
    if (prod) roles[i].blocks = total / producers + (i < total % producers ? 1 : 0);
  }
  double t0 = now_s();
  run_threads(n, role_main, roles, sizeof(role_t));
  res->wall_s = now_s() - t0;
  res->ops = (double)total;
  uint64_t made = 0, freed = 0;
  for (unsigned i = 0; i < n; i++) *(roles[i].producer ? &made : &freed) += roles[i].check;
  if (made != freed) bench_fail("xmalloc", "block tags do not add up: a block was corrupted");
  res->check = freed;
  free(roles);
  pthread_cond_destroy(&q.not_full);
  pthread_cond_destroy(&q.not_empty);
  pthread_mutex_destroy(&q.lock);
  return 0;
}
