/* larson: a server simulation. Each of T lanes owns an array of slots holding live blocks; a
   thread of the lane repeatedly frees a random slot and refills it with a block of random size
   (16..1024 B), and after its round it starts a fresh thread that carries on with the same array
   and exits. So most frees are of blocks another (often dead) thread allocated: cross-thread
   frees of long-lived blocks under thread churn. One op = one free + one malloc. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define SLOTS      4000
#define PER_ROUND  20000
#define ROUNDS     1500 /* per lane with 2 lanes at --scale 1; T lanes do 2/T as many */
#define SIZE_MIN_B 16
#define SIZE_MAX_B 1024

typedef struct lane_s {
  BENCH_OWN_LINE unsigned char* slot[SLOTS];
  uint64_t rng;
  uint64_t rounds_left;
  uint64_t check;
  sem_t* done;
} lane_t;

static void* lane_round(void* arg) {
  lane_t* l = arg;
  uint64_t check = 0;
  for (unsigned i = 0; i < PER_ROUND; i++) {
    uint64_t x = rng_next(&l->rng);
    unsigned k = (unsigned)(x % SLOTS);
    size_t size = SIZE_MIN_B + (size_t)((x >> 32) % (SIZE_MAX_B - SIZE_MIN_B + 1));
    unsigned char* old = l->slot[k];
    check += old[0];
    free(old);
    unsigned char* p = malloc(size);
    if (p == NULL) bench_fail("larson", "malloc(%zu) returned NULL", size);
    p[0] = (unsigned char)x;
    p[size - 1] = (unsigned char)k;
    l->slot[k] = p;
  }
  l->check += check;
  if (--l->rounds_left == 0) {
    sem_post(l->done);
    return NULL;
  }
  /* hand the array to a fresh thread, then exit */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t next;
  if (pthread_create(&next, &attr, lane_round, l) != 0) {
    bench_fail("larson", "cannot create a thread");
  }
  pthread_attr_destroy(&attr);
  return NULL;
}

int wl_larson(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  const uint64_t rounds = scaled(ROUNDS * 2.0 / T, a->scale); /* fixed total work */
  lane_t* lanes = xcalloc_lines("larson", T, sizeof(lane_t));
  sem_t done;
  sem_init(&done, 0, 0);
  /* the main thread fills the arrays: the first round already frees foreign blocks */
  for (unsigned t = 0; t < T; t++) {
    lane_t* l = &lanes[t];
    l->rng = rng_seed(a->seed, t);
    l->rounds_left = rounds;
    l->check = 0;
    l->done = &done;
    for (unsigned k = 0; k < SLOTS; k++) {
      size_t size = (size_t)rng_range(&l->rng, SIZE_MIN_B, SIZE_MAX_B);
      l->slot[k] = xmalloc_or_fail("larson", size);
      l->slot[k][0] = (unsigned char)k;
    }
  }
  double t0 = now_s();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (unsigned t = 0; t < T; t++) {
    pthread_t tid;
    if (pthread_create(&tid, &attr, lane_round, &lanes[t]) != 0) {
      bench_fail("larson", "cannot create a thread");
    }
  }
  pthread_attr_destroy(&attr);
  for (unsigned t = 0; t < T; t++) {
    while (sem_wait(&done) != 0) {
    }
  }
  r->wall_s = now_s() - t0;
  r->ops = (double)T * (double)rounds * PER_ROUND;
  for (unsigned t = 0; t < T; t++) {
    r->check += lanes[t].check;
    for (unsigned k = 0; k < SLOTS; k++) free(lanes[t].slot[k]);
  }
  free(lanes);
  sem_destroy(&done);
  return 0;
}
