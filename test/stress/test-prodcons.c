/* test-prodcons: producers and consumers with full pages in play, calling only the plain C
   malloc/free, so the same binary runs under any allocator (LD_PRELOAD) and doubles as the
   workload of bench/prodcons-compare.sh.

   P producer threads allocate blocks of three fixed sizes (64, 256 and 1024 bytes, in turn) in
   batches of 64, stamp each with a pattern derived from its address and size (first, middle and
   last word: cheap, so the allocator dominates the time) and push the batch into a bounded queue
   (mutex + condition variables, 32 batches = 2048 blocks). C consumer threads pop batches, verify
   every block and free it. Producers allocate far more than the queue holds, so their pages fill up
   completely and come back to them only through remote frees. At the end it prints ops/s, where one
   op is one malloc or one free.

   Checks: every block arrives intact (an allocator that hands out a live block twice shows up as a
   damaged stamp), the counts of blocks produced and consumed match, and, with SHARDALLOC_EXPECT=1
   in the environment, malloc resolves to libshardalloc (ctest sets it for the entry linked with
   libshardalloc.so and for the preloaded one).

   Usage: test-prodcons [--producers P] [--consumers C] [--ops N] [--quiet]
     --ops N   blocks allocated in all (each is one malloc and one free); default 20,000,000,
               quick mode 1,000,000
     --quiet   print only the result line and the summary line
   Built with -DPRODCONS_MI_API (the TSan configuration, where the library leaves malloc to the
   sanitizer) it calls mi_malloc/mi_free instead. */
#include <pthread.h>

#include "malloc-origin.h"
#include "testutil.h"

#if defined(PRODCONS_MI_API)
#include <mimalloc.h>
#define p_malloc(n) mi_malloc(n)
#define p_free(p)   mi_free(p)
#else
#define p_malloc(n) malloc(n)
#define p_free(p)   free(p)
#endif

#define BATCH 64
#define QCAP  32
static const size_t block_sizes[3] = {64, 256, 1024};

typedef struct {
  void* p[BATCH];
  uint32_t size[BATCH];
  unsigned count;
} batch_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  batch_t ring[QCAP];
  unsigned head, count;
  int producers_left;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .not_empty = PTHREAD_COND_INITIALIZER,
       .not_full = PTHREAD_COND_INITIALIZER};

static size_t batches_per_producer;
static atomic_ullong produced, consumed, damaged;

static uint64_t seed_of(const void* p, size_t size) { return t_mix64(t_addr(p) ^ (size << 48)); }

/* Stamp: seed at the start, seed+1 in the middle, ~seed at the end (sizes are multiples of 16). */
static void stamp(void* block, size_t size) {
  unsigned char* b = t_launder(block);
  uint64_t s = seed_of(block, size), m = s + 1, e = ~s;
  memcpy(b, &s, 8);
  memcpy(b + (size / 2 & ~(size_t)7), &m, 8);
  memcpy(b + size - 8, &e, 8);
}

static bool stamp_ok(const void* block, size_t size) {
  const unsigned char* b = t_launder(block);
  uint64_t s = seed_of(block, size), got_s, got_m, got_e;
  memcpy(&got_s, b, 8);
  memcpy(&got_m, b + (size / 2 & ~(size_t)7), 8);
  memcpy(&got_e, b + size - 8, 8);
  return got_s == s && got_m == s + 1 && got_e == ~s;
}

static void push(const batch_t* b) {
  pthread_mutex_lock(&q.lock);
  while (q.count == QCAP) pthread_cond_wait(&q.not_full, &q.lock);
  q.ring[(q.head + q.count) % QCAP] = *b;
  q.count++;
  pthread_cond_signal(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
}

/* Pops one batch into *b; false when the queue is empty and every producer has finished. */
static bool pop(batch_t* b) {
  pthread_mutex_lock(&q.lock);
  while (q.count == 0 && q.producers_left > 0) pthread_cond_wait(&q.not_empty, &q.lock);
  bool got = q.count > 0;
  if (got) {
    *b = q.ring[q.head];
    q.head = (q.head + 1) % QCAP;
    q.count--;
    pthread_cond_signal(&q.not_full);
  }
  pthread_mutex_unlock(&q.lock);
  return got;
}

static void* producer(void* arg) {
  (void)arg;
  batch_t b;
  unsigned long long made = 0;
  unsigned k = 0;
  for (size_t i = 0; i < batches_per_producer; i++) {
    b.count = 0;
    for (unsigned j = 0; j < BATCH; j++) {
      size_t size = block_sizes[k++ % 3];
      void* p = p_malloc(size);
      if (!CHECK_NOT_NULL(p, "malloc(%zu) failed in a producer", size)) break;
      stamp(p, size);
      b.p[b.count] = p;
      b.size[b.count] = (uint32_t)size;
      b.count++;
    }
    made += b.count;
    push(&b);
    if (b.count < BATCH) break;
  }
  atomic_fetch_add(&produced, made);
  pthread_mutex_lock(&q.lock);
  q.producers_left--;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
  return NULL;
}

static void* consumer(void* arg) {
  (void)arg;
  batch_t b;
  unsigned long long freed = 0, bad = 0;
  while (pop(&b)) {
    for (unsigned j = 0; j < b.count; j++) {
      if (!stamp_ok(b.p[j], b.size[j])) {
        bad++;
        (void)CHECK(false, "block %p of %u bytes damaged before its free (handed out twice?)",
                    b.p[j], (unsigned)b.size[j]);
        continue;  // left allocated: freeing a block of unknown state would muddy the report
      }
      p_free(b.p[j]);
      freed++;
    }
  }
  atomic_fetch_add(&consumed, freed);
  atomic_fetch_add(&damaged, bad);
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: test-prodcons [--producers P] [--consumers C] [--ops N] [--quiet]\n");
  exit(2);
}

static long arg_value(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) usage();
  char* end;
  double v = strtod(argv[++*i], &end);  // accepts 4e6
  if (*end != 0 || v < 1 || v > 1e12) usage();
  return (long)v;
}

int main(int argc, char** argv) {
  int producers = 2, consumers = 2;
  size_t ops = t_scaled(20000000, 1000000);
  bool quiet = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--producers") == 0)
      producers = (int)arg_value(argc, argv, &i);
    else if (strcmp(argv[i], "--consumers") == 0)
      consumers = (int)arg_value(argc, argv, &i);
    else if (strcmp(argv[i], "--ops") == 0)
      ops = (size_t)arg_value(argc, argv, &i);
    else if (strcmp(argv[i], "--quiet") == 0)
      quiet = true;
    else
      usage();
  }
  if (producers > 64 || consumers > 64) usage();
  batches_per_producer = (ops + (size_t)producers * BATCH - 1) / ((size_t)producers * BATCH);

  if (quiet) {
    t_program = "test-prodcons";
    t_start_time = t_now();
  } else {
    t_begin("test-prodcons", "producers -> bounded queue -> consumers, plain malloc/free");
#if defined(PRODCONS_MI_API)
    t_section("calls mi_malloc/mi_free directly (built with PRODCONS_MI_API)");
#else
    t_section("malloc resolves to %s", t_malloc_origin());
#endif
    t_section(
        "%d producers x %zu batches of %d blocks (64/256/1024 B) -> queue of %d batches "
        "-> %d consumers",
        producers, batches_per_producer, BATCH, QCAP, consumers);
  }
#if !defined(PRODCONS_MI_API)
  t_check_malloc_origin();
#endif

  q.producers_left = producers;
  pthread_t pt[64], ct[64];
  double t0 = t_now();
  for (int i = 0; i < consumers; i++)
    if (!CHECK(pthread_create(&ct[i], NULL, consumer, NULL) == 0, "pthread_create failed"))
      return t_end();
  for (int i = 0; i < producers; i++)
    if (!CHECK(pthread_create(&pt[i], NULL, producer, NULL) == 0, "pthread_create failed"))
      return t_end();
  for (int i = 0; i < producers; i++) pthread_join(pt[i], NULL);
  for (int i = 0; i < consumers; i++) pthread_join(ct[i], NULL);
  double secs = t_now() - t0;

  unsigned long long p = atomic_load(&produced), c = atomic_load(&consumed);
  CHECK_EQ(atomic_load(&damaged), 0);
  CHECK(p == c, "produced %llu != consumed %llu", p, c);
  CHECK_EQ(p, (unsigned long long)producers * batches_per_producer * BATCH);
  if (!quiet) t_section("%llu blocks produced, %llu verified and freed", p, c);
  double rate = secs > 0 ? (double)(p + c) / secs : 0;
#if defined(PRODCONS_MI_API)
  const char* origin = "mi_malloc";
#else
  const char* origin = t_malloc_origin();
#endif
  printf(
      "test-prodcons: %.0f ops/s (%llu mallocs + %llu frees in %.3f s; %dP/%dC; malloc from "
      "%s)\n",
      rate, p, c, secs, producers, consumers, origin);
  return t_end();
}
