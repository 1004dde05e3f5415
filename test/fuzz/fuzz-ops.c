/* fuzz-ops: a libFuzzer target that reads its input as a program of allocator operations on a table
 * of 64 slots (the encoding is in test/fuzz/README.md; test/fuzz/make-corpus.py writes inputs) and
 * checks every block against a model of its contents: a pattern derived from (slot, generation)
 * over the bytes written, zeros where a zeroing call promised them. A second, persistent thread
 * frees, reallocates and allocates blocks handed to it, so remote frees run concurrently with the
 * owner's work. Any mismatch, unexpected allocator message or lost block ends in abort() with a
 * message naming the slot, the byte and the last operations. Each input frees all it allocated.
 * Built with clang -fsanitize=fuzzer,address around the library's own sources (`make fuzz`), and
 * with any compiler plus replay.c, which runs committed inputs as a ctest (`fuzz-corpus`). */
#include <mimalloc.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fuzz-ops: the word-wise pattern code assumes a little-endian machine"
#endif

/* The byte loops over block contents (up to 34 MiB per block) run uninstrumented: the contents
   are the model's business, not AddressSanitizer's (it sees none of shardalloc's memory anyway),
   and libFuzzer's comparison tracing would make every pattern word a callback (20x slower) and
   steer mutations toward pattern values, which are nothing the input controls. */
#if defined(__clang__)
#define NO_INSTRUMENT __attribute__((no_sanitize("address", "coverage")))
#elif defined(__GNUC__)
#define NO_INSTRUMENT __attribute__((no_sanitize_address))
#else
#define NO_INSTRUMENT
#endif

/* Two allocator bugs this harness found (README.md, "Findings"; both fixed, their inputs are in
   known/ and the corpus): a zeroing reallocation that moved a block without growing it left the
   new block's tail as it was, and mi_realloc_aligned with an alignment up to 16 returned an
   unaligned p in place. FUZZ_STRICT=1 (the default) checks both; 0 steps around them. */
#ifndef FUZZ_STRICT
#define FUZZ_STRICT 1
#endif

#define NSLOTS        64
#define NHEAPS        4
#define KiB           ((size_t)1024)
#define MiB           (1024 * KiB)
#define ONE_MAX       (34 * MiB)  // largest single request: above a 32 MiB segment
#define LIVE_MAX      (40 * MiB)  // requested bytes live at once, both threads together
#define SENTINEL_SPAN 32          // bytes checked at each end of every block before each op

// 1..NHEAPS: heaps[owner - 1]; OWNER_ABANDONED: a worker's block after that worker exited
enum { OWNER_BACKING = 0, OWNER_WORKER = NHEAPS + 1, OWNER_ABANDONED = NHEAPS + 2 };

/* One block as the model knows it: bytes [0, filled) hold pattern(seed, i), [filled, size) zero. */
typedef struct slot_s {
  uint8_t* p;     // NULL: empty
  size_t size;    // bytes requested (what the model covers)
  size_t filled;  // <= size
  size_t usable;  // mi_usable_size(p) when it was made or last reallocated
  uint64_t seed;  // from slot and generation
  size_t align;   // 0, or the alignment asked for: (p + offset) % align == 0
  size_t offset;
  int owner;        // OWNER_BACKING, heap index + 1, OWNER_WORKER, OWNER_ABANDONED
  bool zero_tail;   // [size, usable) reads as zero (allocated zeroed, only zeroing calls since)
  bool exact;       // usable size must equal mi_good_size(size) (plain malloc-family blocks)
  bool busy;        // handed to the worker and not back yet: the main thread keeps off
  const char* how;  // the call that made or last resized it
} slot_t;

static slot_t slots[NSLOTS];
static mi_heap_t* heaps[NHEAPS];
static int default_owner;  // whose heap mi_malloc uses: OWNER_BACKING or heap index + 1
static size_t live_bytes;  // requested bytes of all blocks, busy ones included
static uint64_t generation;
static bool trace;  // FUZZ_TRACE=1: print each operation (for reproductions)

/* ---------------------------------------------------------------------------------------------
   Failure reports. The last operations of the main thread are kept for the message.
--------------------------------------------------------------------------------------------- */
#define LOG_LEN 24
static struct {
  unsigned long n;
  char text[LOG_LEN][96];
} oplog;

static _Thread_local const char* thread_name = "main";

static void print_log(void) {
  unsigned long first = (oplog.n > LOG_LEN ? oplog.n - LOG_LEN : 0);
  fprintf(stderr, "fuzz-ops: the last operations of the main thread (of %lu):\n", oplog.n);
  for (unsigned long i = first; i < oplog.n; i++) {
    fprintf(stderr, "  #%lu %s\n", i, oplog.text[i % LOG_LEN]);
  }
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "\nfuzz-ops: FAILED (%s thread): ", thread_name);
  vfprintf(stderr, fmt, args);
  fprintf(stderr, "\n");
  va_end(args);
  print_log();
  fflush(stderr);
  abort();
}

__attribute__((format(printf, 1, 2))) static void log_op(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(oplog.text[oplog.n % LOG_LEN], sizeof(oplog.text[0]), fmt, args);
  va_end(args);
  if (trace) fprintf(stderr, "op #%lu %s\n", oplog.n, oplog.text[oplog.n % LOG_LEN]);
  oplog.n++;
}

/* Allocator errors and warnings: every operation here is legal, so any is a failure, except in
   the ERRORS operation, which provokes them on purpose (per thread: the worker is not excused). */
static _Thread_local int errors_expected;

static void on_error(int err, void* arg) {
  (void)arg;
  if (!errors_expected) fail("the allocator reported error %d", err);
}

static void on_output(const char* msg, void* arg) {
  (void)arg;
  if (!errors_expected) fail("unexpected allocator message: %s", msg);
}

/* ---------------------------------------------------------------------------------------------
   The content model: a pattern word per 8 bytes, a function of the seed and the word's index,
   so any byte can be checked alone and a block keeps its pattern when it moves.
--------------------------------------------------------------------------------------------- */
NO_INSTRUMENT static inline uint64_t pattern_word(uint64_t seed, size_t w) {
  // cheap (the loops strength-reduce the multiply), yet no two words of a block or of two blocks
  // alike in practice: a shifted, misplaced or foreign copy shows
  const uint64_t x = seed + (uint64_t)w * 0x9E3779B97F4A7C15ull;
  return x ^ (x >> 29);
}

NO_INSTRUMENT static inline uint8_t pattern_byte(uint64_t seed, size_t i) {
  return (uint8_t)(pattern_word(seed, i >> 3) >> (8 * (i & 7)));
}

NO_INSTRUMENT static void fill_pattern(uint8_t* p, size_t from, size_t to, uint64_t seed) {
  size_t i = from;
  for (; i < to && (i & 7) != 0; i++) p[i] = pattern_byte(seed, i);
  for (; i + 8 <= to; i += 8) {
    const uint64_t w = pattern_word(seed, i >> 3);
    memcpy(p + i, &w, 8);
  }
  for (; i < to; i++) p[i] = pattern_byte(seed, i);
}

// Index of the first byte in [from, to) that differs from the pattern, or SIZE_MAX.
NO_INSTRUMENT static size_t find_pattern_error(const uint8_t* p, size_t from, size_t to,
                                               uint64_t seed) {
  size_t i = from;
  for (; i < to && (i & 7) != 0; i++) {
    if (p[i] != pattern_byte(seed, i)) return i;
  }
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != pattern_word(seed, i >> 3)) break;  // the byte loop below finds which
  }
  for (; i < to; i++) {
    if (p[i] != pattern_byte(seed, i)) return i;
  }
  return SIZE_MAX;
}

NO_INSTRUMENT static size_t find_nonzero(const uint8_t* p, size_t from, size_t to) {
  size_t i = from;
  for (; i < to && ((uintptr_t)(p + i) & 7) != 0; i++) {
    if (p[i] != 0) return i;
  }
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != 0) break;
  }
  for (; i < to; i++) {
    if (p[i] != 0) return i;
  }
  return SIZE_MAX;
}

NO_INSTRUMENT static uint8_t read_byte(const uint8_t* p, size_t i) { return p[i]; }

static const char* owner_name(int owner) {
  static const char* const names[] = {
      "backing heap",        "heap 0", "heap 1", "heap 2", "heap 3", "worker heap",
      "exited worker's heap"};
  _Static_assert(sizeof(names) / sizeof(names[0]) == OWNER_ABANDONED + 1, "one name per owner");
  return (owner >= 0 && owner <= OWNER_ABANDONED ? names[owner] : "?");
}

typedef void check_fun(const slot_t* s, int idx, size_t from, size_t to, const char* when);

// Checks bytes [from, to) of the block of `s` (slot `idx`) against the model.
static void check_range(const slot_t* s, int idx, size_t from, size_t to, const char* when) {
  if (to > s->size) to = s->size;
  if (from >= to) return;
  const size_t pat_end = (s->filled < to ? s->filled : to);
  size_t bad = (from < pat_end ? find_pattern_error(s->p, from, pat_end, s->seed) : SIZE_MAX);
  bool want_zero = false;
  if (bad == SIZE_MAX && to > s->filled) {
    bad = find_nonzero(s->p, (from > s->filled ? from : s->filled), to);
    want_zero = true;
  }
  if (bad == SIZE_MAX) return;
  fail(
      "%s: slot %d (%p, %zu bytes from %s, %s, pattern up to %zu): byte %zu is 0x%02x, "
      "expected 0x%02x",
      when, idx, (void*)s->p, s->size, s->how, owner_name(s->owner), s->filled, bad,
      read_byte(s->p, bad), want_zero ? 0 : pattern_byte(s->seed, bad));
}

// Bytes [from, to) of the unused tail [size, usable) must read as zero.
static void check_tail_range(const slot_t* s, int idx, size_t from, size_t to, const char* when) {
  const size_t bad = find_nonzero(s->p, from, to);
  if (bad == SIZE_MAX) return;
  fail(
      "%s: slot %d (%p, %zu bytes from %s): byte %zu of the unused tail (usable %zu) is "
      "0x%02x, expected 0",
      when, idx, (void*)s->p, s->size, s->how, bad, mi_usable_size(s->p), read_byte(s->p, bad));
}

/* Ranges over SAMPLE_MIN are checked by sample, or a run would spend its time reading blocks of
   many MiB: the first and last 4 KiB, and 64 bytes of every 4 KiB page between, at an offset that
   moves from one check to the next (every page touched: purged or overlapping pages show). */
#define SAMPLE_MIN  (64 * KiB)
#define SAMPLE_PAGE ((size_t)4096)
#define SAMPLE_SPAN ((size_t)64)
static _Thread_local size_t sample_salt;

static void check_sampled(check_fun* check, const slot_t* s, int idx, size_t from, size_t to,
                          bool full, const char* when) {
  if (from >= to) return;
  if (full || to - from <= SAMPLE_MIN) {
    check(s, idx, from, to, when);
    return;
  }
  check(s, idx, from, from + SAMPLE_PAGE, when);
  check(s, idx, to - SAMPLE_PAGE, to, when);
  sample_salt += 8 * 131;
  for (size_t page = from + SAMPLE_PAGE; page + SAMPLE_PAGE <= to - SAMPLE_PAGE;
       page += SAMPLE_PAGE) {
    const size_t at =
        page + (sample_salt + page / SAMPLE_PAGE * 8 * 67) % (SAMPLE_PAGE - SAMPLE_SPAN);
    check(s, idx, at, at + SAMPLE_SPAN, when);
  }
}

// The whole block (sampled when large), and its unused tail when that must be zero.
static void check_block_ex(const slot_t* s, int idx, bool full, const char* when) {
  check_sampled(&check_range, s, idx, 0, s->size, full, when);
  if (s->zero_tail) {
    check_sampled(&check_tail_range, s, idx, s->size, mi_usable_size(s->p), full, when);
  }
}

static void check_block(const slot_t* s, int idx, const char* when) {
  check_block_ex(s, idx, false, when);
}

static void check_zero_tail(const slot_t* s, int idx, const char* when) {
  if (s->zero_tail) {
    check_sampled(&check_tail_range, s, idx, s->size, mi_usable_size(s->p), false, when);
  }
}

// Before a block goes: small blocks in full anyway, one large block in four too (by its seed).
static void check_before_free(const slot_t* s, int idx, const char* when) {
  check_block_ex(s, idx, (s->seed >> 20) % 4 == 0, when);
}

static void check_sentinels(void) {
  for (int i = 0; i < NSLOTS; i++) {
    const slot_t* s = &slots[i];
    if (s->p == NULL || s->busy) continue;
    check_range(s, i, 0, SENTINEL_SPAN, "sentinel check");
    if (s->size > SENTINEL_SPAN)
      check_range(s, i, s->size - SENTINEL_SPAN, s->size, "sentinel check");
  }
}

static void check_all(const char* when) {
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && !slots[i].busy) check_block(&slots[i], i, when);
  }
}

/* ---------------------------------------------------------------------------------------------
   New blocks and their properties
--------------------------------------------------------------------------------------------- */
static uint64_t new_seed(int idx) {
  generation++;
  return ((uint64_t)idx << 56) ^ (generation * 0xD6E8FEB86659FD93ull) ^ 0x5A5A5A5A5A5A5A5Aull;
}

// The block just returned by an allocation call: checks and, unless zeroed, fills it.
static slot_t new_block(int idx, void* p, size_t size, bool zeroed, size_t align, size_t offset,
                        int owner, bool exact, uint64_t seed, const char* how) {
  if (p == NULL) fail("%s(%zu) returned NULL (slot %d)", how, size, idx);
  if (align != 0 && ((uintptr_t)p + offset) % align != 0) {
    fail("%s: %p + %zu is not aligned to %zu (slot %d)", how, p, offset, align, idx);
  }
  slot_t s = {.p = (uint8_t*)p,
              .size = size,
              .filled = 0,
              .seed = seed,
              .align = align,
              .offset = offset,
              .owner = owner,
              .zero_tail = zeroed,
              .exact = exact,
              .usable = mi_usable_size(p),
              .busy = false,
              .how = how};
  const size_t usable = mi_usable_size(p);
  if (usable < size) fail("%s(%zu) = %p: usable size %zu (slot %d)", how, size, p, usable, idx);
  if (exact && usable != mi_good_size(size)) {
    fail("%s(%zu): usable size %zu, mi_good_size says %zu", how, size, usable, mi_good_size(size));
  }
  if (zeroed) {
    check_block(&s, idx, how);  // the model says zero everywhere, the unused tail included
  } else {
    fill_pattern(s.p, 0, size, s.seed);
    s.filled = size;
  }
  return s;
}

/* The block of `s` went through a reallocation call that returned `newp` for `newsize` bytes;
   `zero`: a zeroing form (then s->zero_tail held before). Checks what must have survived and
   brings the model up to date. A block that moved belongs to `owner_if_moved` now. */
static void realloc_model(slot_t* s, int idx, void* newp, size_t newsize, bool zero,
                          int owner_if_moved, bool exact_if_moved, const char* how) {
  if (newp == NULL) fail("%s(%p, %zu) returned NULL (slot %d)", how, (void*)s->p, newsize, idx);
  const slot_t old = *s;
  const bool moved = ((uint8_t*)newp != old.p);
  const size_t keep = (old.size < newsize ? old.size : newsize);
  s->p = (uint8_t*)newp;
  s->size = keep;
  s->filled = (old.filled < keep ? old.filled : keep);
  s->how = how;
  check_sampled(&check_range, s, idx, 0, keep, false, how);  // the preserved prefix
  s->size = newsize;
  if (zero) {
    // Grown bytes read as zero. The tail stays zero unless pattern bytes were cut off in place,
    // or the block moved without growing past its old usable size: then the new block's tail is
    // whatever that block held (a known gap, see the README; FUZZ_STRICT checks it).
    check_sampled(&check_range, s, idx, keep, newsize, false, how);
    if (moved && newsize <= old.usable) {
      s->zero_tail = FUZZ_STRICT;
    } else if (!moved && old.filled > newsize) {
      s->zero_tail = false;
    }
    check_zero_tail(s, idx, how);
  } else {
    if (newsize > keep) {
      fill_pattern(s->p, s->filled, newsize, s->seed);
      s->filled = newsize;
    }
    s->zero_tail = false;
  }
  const size_t usable = mi_usable_size(s->p);
  if (usable < newsize)
    fail("%s(%zu) = %p: usable size %zu (slot %d)", how, newsize, newp, usable, idx);
  s->usable = usable;
  if (moved) {  // a new block: aligned only if the caller (an aligned form) says so afterwards
    s->owner = owner_if_moved;
    s->exact = exact_if_moved;
    s->align = s->offset = 0;
    if (s->exact && usable != mi_good_size(newsize)) {
      fail("%s(%zu): usable size %zu, mi_good_size says %zu", how, newsize, usable,
           mi_good_size(newsize));
    }
  } else {
    s->exact = false;
  }
}

/* The alignment to ask a reallocation for. Known gap (README.md): with an alignment up to 16,
   mi_realloc_aligned[_at] returns p in place even when p + offset is not aligned (p can be an
   interior pointer of an earlier _at allocation); unless FUZZ_STRICT, ask for 32 then. */
static size_t realloc_alignment(const void* p, size_t align, size_t offset) {
  if (!FUZZ_STRICT && p != NULL && align <= 16 && ((uintptr_t)p + offset) % align != 0) return 32;
  return align;
}

/* ---------------------------------------------------------------------------------------------
   The worker thread: jobs in a ring, executed in order. The main thread posts a job with a copy
   of the slot (the slot stays busy), the worker writes the result into the job, and the main
   thread applies finished jobs when it reaps them.
--------------------------------------------------------------------------------------------- */
typedef enum { JOB_FREE, JOB_REALLOC, JOB_ALLOC, JOB_COUNT, JOB_COLLECT, JOB_EXIT } job_kind_t;

typedef struct job_s {
  job_kind_t kind;
  int idx;  // slot
  unsigned variant;
  slot_t s;        // FREE, REALLOC: the block as posted; REALLOC, ALLOC: the block after
  size_t newsize;  // REALLOC, ALLOC
  size_t align, offset;
  uint64_t seed;  // ALLOC
  size_t count;   // COUNT: live blocks in the worker's heap
} job_t;

#define QCAP 128  // > NSLOTS: a slot is in at most one job; COUNT and COLLECT need no slot
static struct {
  pthread_mutex_t lock;
  pthread_cond_t posted_cv, finished_cv;
  job_t ring[QCAP];
  unsigned long posted, taken, finished, reaped;
  bool started;
} wq = {.lock = PTHREAD_MUTEX_INITIALIZER,
        .posted_cv = PTHREAD_COND_INITIALIZER,
        .finished_cv = PTHREAD_COND_INITIALIZER};

static size_t heap_live_blocks(mi_heap_t* heap);

static void worker_free(job_t* j) {
  slot_t* s = &j->s;
  check_before_free(s, j->idx, "worker free");
  const bool at_offset_zero = (s->align != 0 && s->offset % s->align == 0);
  switch (j->variant % 4) {
    case 0:
      mi_free(s->p);
      break;
    case 1:
      mi_free_size(s->p, s->size);
      break;
    case 2:
      if (at_offset_zero)
        mi_free_aligned(s->p, s->align);
      else
        mi_free(s->p);
      break;
    default:
      if (at_offset_zero)
        mi_free_size_aligned(s->p, s->size, s->align);
      else
        mi_free_size(s->p, s->size);
      break;
  }
}

static void worker_realloc(job_t* j) {
  slot_t* s = &j->s;
  check_block(s, j->idx, "worker realloc");
  void* newp;
  if (j->variant % 3 == 2 && s->zero_tail) {
    newp = mi_rezalloc(s->p, j->newsize);
    realloc_model(s, j->idx, newp, j->newsize, true, OWNER_WORKER, true, "worker mi_rezalloc");
  } else if (j->variant % 3 == 1 && j->align != 0) {
    const size_t align = realloc_alignment(s->p, j->align, j->offset);
    newp = mi_realloc_aligned_at(s->p, j->newsize, align, j->offset);
    const bool moved = (newp != (void*)s->p);
    const size_t old_align = s->align, old_offset = s->offset;
    realloc_model(s, j->idx, newp, j->newsize, false, OWNER_WORKER, false,
                  "worker mi_realloc_aligned_at");
    s->align = (moved ? align : old_align);
    s->offset = (moved ? j->offset : old_offset);
    if (((uintptr_t)s->p + j->offset) % align != 0) {
      fail("worker mi_realloc_aligned_at(%zu, align %zu, offset %zu) = %p: not aligned", j->newsize,
           align, j->offset, (void*)s->p);
    }
  } else {
    newp = mi_realloc(s->p, j->newsize);
    realloc_model(s, j->idx, newp, j->newsize, false, OWNER_WORKER, true, "worker mi_realloc");
  }
}

static void worker_alloc(job_t* j) {
  const size_t n = j->newsize;
  switch (j->variant % 3) {
    case 0:
      j->s = new_block(j->idx, mi_malloc(n), n, false, 0, 0, OWNER_WORKER, true, j->seed,
                       "worker mi_malloc");
      break;
    case 1:
      j->s = new_block(j->idx, mi_zalloc(n), n, true, 0, 0, OWNER_WORKER, true, j->seed,
                       "worker mi_zalloc");
      break;
    default:
      j->s = new_block(j->idx, mi_malloc_aligned_at(n, j->align, j->offset), n, false, j->align,
                       j->offset, OWNER_WORKER, false, j->seed, "worker mi_malloc_aligned_at");
      break;
  }
}

static void run_job(job_t* j) {
  switch (j->kind) {
    case JOB_FREE:
      worker_free(j);
      break;
    case JOB_REALLOC:
      worker_realloc(j);
      break;
    case JOB_ALLOC:
      worker_alloc(j);
      break;
    case JOB_COUNT:
      j->count = heap_live_blocks(mi_heap_get_backing());
      break;
    case JOB_COLLECT:
      mi_collect(j->variant & 1);
      break;
    case JOB_EXIT:
      break;  // worker_main returns: the thread's heap is abandoned with its live blocks
  }
}

static void* worker_main(void* arg) {
  (void)arg;
  thread_name = "worker";
  for (;;) {
    pthread_mutex_lock(&wq.lock);
    while (wq.taken == wq.posted) pthread_cond_wait(&wq.posted_cv, &wq.lock);
    job_t* j = &wq.ring[wq.taken % QCAP];
    wq.taken++;
    pthread_mutex_unlock(&wq.lock);
    run_job(j);
    const bool last = (j->kind == JOB_EXIT);  // read before the entry goes back to the main thread
    pthread_mutex_lock(&wq.lock);
    wq.finished++;
    pthread_cond_signal(&wq.finished_cv);
    pthread_mutex_unlock(&wq.lock);
    if (last) return NULL;
  }
}

static void apply_job(const job_t* j) {
  slot_t* s = &slots[j->idx];
  switch (j->kind) {
    case JOB_FREE:
      memset(s, 0, sizeof(*s));
      break;
    case JOB_REALLOC:
    case JOB_ALLOC: {
      // an in-place reallocation keeps the owner the slot has now (a heap deleted meanwhile
      // handed its blocks to the backing heap)
      const int owner = s->owner;
      const uint8_t* before = s->p;
      *s = j->s;
      if (j->kind == JOB_REALLOC && s->p == before) s->owner = owner;
      s->busy = false;
      break;
    }
    default:
      break;
  }
}

// Applies finished jobs; with `all`, waits until the worker is idle first. Returns the count of
// the last COUNT job applied (or SIZE_MAX).
static size_t reap(bool all) {
  job_t done[QCAP];
  size_t n = 0;
  pthread_mutex_lock(&wq.lock);
  if (all) {
    while (wq.finished != wq.posted) pthread_cond_wait(&wq.finished_cv, &wq.lock);
  }
  for (; wq.reaped != wq.finished; wq.reaped++) done[n++] = wq.ring[wq.reaped % QCAP];
  pthread_mutex_unlock(&wq.lock);
  size_t count = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    apply_job(&done[i]);
    if (done[i].kind == JOB_COUNT) count = done[i].count;
  }
  return count;
}

static void post(const job_t* j) {
  pthread_mutex_lock(&wq.lock);
  const bool full = (wq.posted - wq.reaped >= QCAP);
  pthread_mutex_unlock(&wq.lock);
  if (full) reap(true);
  pthread_mutex_lock(&wq.lock);
  wq.ring[wq.posted % QCAP] = *j;
  wq.posted++;
  pthread_cond_signal(&wq.posted_cv);
  pthread_mutex_unlock(&wq.lock);
  if (j->kind <= JOB_ALLOC) slots[j->idx].busy = true;
}

static pthread_t worker_thread;

static void start_worker(void) {
  if (wq.started) return;
  if (pthread_create(&worker_thread, NULL, &worker_main, NULL) != 0) {
    fail("cannot start the worker thread");
  }
  wq.started = true;
}

static size_t worker_live_blocks(void) {
  job_t j = {.kind = JOB_COUNT};
  post(&j);
  return reap(true);
}

/* The worker exits (its heap is abandoned with the blocks it still owns, which stay valid and
   become anyone's to free or adopt) and a new one starts. The new worker's heap is the one the
   end of the input counts: its count now is the baseline. */
static size_t worker_baseline;

static void restart_worker(void) {
  job_t j = {.kind = JOB_EXIT};
  post(&j);
  reap(true);
  if (pthread_join(worker_thread, NULL) != 0) fail("cannot join the worker thread");
  wq.started = false;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].owner == OWNER_WORKER) slots[i].owner = OWNER_ABANDONED;
  }
  start_worker();
  worker_baseline = worker_live_blocks();
}

/* ---------------------------------------------------------------------------------------------
   Counting live blocks of a heap (after a collect, so remote frees are accounted for)
--------------------------------------------------------------------------------------------- */
typedef struct count_s {
  size_t areas_used, blocks;
} count_t;

static bool count_visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                          size_t block_size, void* arg) {
  (void)heap;
  (void)block_size;
  count_t* c = (count_t*)arg;
  if (block == NULL)
    c->areas_used += area->used;
  else
    c->blocks++;
  return true;
}

static size_t heap_live_blocks(mi_heap_t* heap) {
  mi_heap_collect(heap, false);
  count_t c = {0, 0};
  if (!mi_heap_visit_blocks(heap, true, &count_visitor, &c)) fail("mi_heap_visit_blocks failed");
  if (c.areas_used != c.blocks) {
    fail("mi_heap_visit_blocks: the areas report %zu blocks in use, %zu blocks visited",
         c.areas_used, c.blocks);
  }
  return c.blocks;
}

static size_t model_blocks_of(int owner) {
  size_t n = 0;
  for (int i = 0; i < NSLOTS; i++) n += (slots[i].p != NULL && slots[i].owner == owner);
  return n;
}

/* ---------------------------------------------------------------------------------------------
   Input decoding
--------------------------------------------------------------------------------------------- */
typedef struct input_s {
  const uint8_t* p;
  size_t n;
} input_t;

static uint8_t in_u8(input_t* in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}

static size_t in_u16(input_t* in) {
  const size_t lo = in_u8(in);
  return lo | ((size_t)in_u8(in) << 8);
}

// Sizes on the edges of shardalloc's size classes, page kinds and segments (+- a delta byte).
// clang-format off
static const size_t small_edges[16] = {
    0, 8, 16, 1024, 1040, 8 * KiB, 12 * KiB, 16 * KiB,
    64 * KiB, 96 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 768 * KiB, MiB, 2 * MiB};
static const size_t big_edges[8] = {
    4 * MiB, 8 * MiB, 16 * MiB, 17 * MiB, 24 * MiB, 32 * MiB - 64 * KiB, 32 * MiB, ONE_MAX};
// clang-format on

static size_t edge_plus_delta(size_t edge, int delta) {
  return (delta < 0 && (size_t)-delta > edge ? 0 : edge + (size_t)(ptrdiff_t)delta);
}

/* A size: a class byte c, then 0..2 more bytes (README.md). Random bytes mostly give small sizes:
   half are 0..127, a quarter up to 16 KiB, an eighth up to 256 KiB, 1 in 16 is on the edge of a
   size class or page kind, 1 in 21 up to 3 MiB, 1 in 64 large (an edge of 4..34 MiB, or up to
   32 MiB). Bounded by ONE_MAX and, with the blocks already live, by LIVE_MAX (then cut to its low
   12 bits). */
static size_t in_size(input_t* in) {
  const uint8_t c = in_u8(in);
  size_t n;
  if (c < 0x80) {
    n = c;
  } else if (c < 0xC0) {
    n = ((size_t)(c & 0x3F) << 8) | in_u8(in);
  } else if (c < 0xE0) {
    n = (((size_t)(c & 0x1F) << 16) | in_u16(in)) >> 3;
  } else if (c < 0xF0) {
    n = edge_plus_delta(small_edges[c & 15], (int8_t)in_u8(in));
  } else if (c < 0xFC) {
    n = (((size_t)(c & 15) << 16) | in_u16(in)) << 2;
  } else if (c < 0xFF) {
    const uint8_t which = in_u8(in);
    n = edge_plus_delta(big_edges[which & 7], (int8_t)in_u8(in));
  } else {
    n = in_u16(in) << 9;
  }
  if (n > ONE_MAX) n = ONE_MAX;
  if (live_bytes + n > LIVE_MAX) n &= 0xFFF;
  return n;
}

// Alignment: a < 0xC0: 2^(a % 16) (1 B .. 32 KiB); up to 0xFB: 64 KiB .. 4 MiB; the last four:
// 8, 16, 32 or 64 MiB (beyond MI_BLOCK_ALIGNMENT_MAX: a segment placed on the alignment).
static size_t in_align(input_t* in) {
  const uint8_t a = in_u8(in);
  if (a < 0xC0) return (size_t)1 << (a & 15);
  if (a < 0xFC) return (size_t)1 << (16 + (a - 0xC0) % 7);
  return (size_t)8 * MiB << (a & 3);
}

// Offset for the _at forms: 0; 0..63; or 0..63 KiB in KiB steps.
static size_t in_offset(input_t* in) {
  const uint8_t o = in_u8(in);
  if (o < 0x80) return 0;
  if (o < 0xC0) return o & 0x3F;
  return (size_t)(o & 0x3F) << 10;
}

// Element size for the calloc-style forms: 1, 2, 4 ... 128; count = size / element.
static size_t in_elem(input_t* in) { return (size_t)1 << (in_u8(in) & 7); }

/* ---------------------------------------------------------------------------------------------
   Slots on the main thread
--------------------------------------------------------------------------------------------- */
// The slot, once the worker has given it back.
static slot_t* own_slot(int idx) {
  if (slots[idx].busy) reap(true);
  return &slots[idx];
}

static void free_main(int idx, unsigned variant) {
  slot_t* s = own_slot(idx);
  if (s->p == NULL) {
    mi_free(NULL);
    return;
  }
  check_before_free(s, idx, "free");
  const bool at_offset_zero = (s->align != 0 && s->offset % s->align == 0);
  errno = 4242;
  switch (variant % 6) {
    case 0:
      mi_free(s->p);
      break;
    case 1:
      mi_free_size(s->p, s->size);
      break;
    case 2:
      if (at_offset_zero)
        mi_free_aligned(s->p, s->align);
      else
        mi_free(s->p);
      break;
    case 3:
      if (at_offset_zero)
        mi_free_size_aligned(s->p, s->size, s->align);
      else
        mi_free_size(s->p, s->size);
      break;
    case 4: {
      size_t usable = 0;
      const size_t expect = mi_usable_size(s->p);
      mi_ufree(s->p, &usable);
      if (usable != expect) fail("mi_ufree reported %zu, usable size %zu", usable, expect);
      break;
    }
    default:
      mi_cfree(s->p);
      break;
  }
  if (errno != 4242) fail("a free changed errno to %d", errno);
  live_bytes -= s->size;
  memset(s, 0, sizeof(*s));
}

// Frees what the slot holds, so that a new block can go there.
static slot_t* empty_slot(int idx) {
  if (own_slot(idx)->p != NULL) free_main(idx, 0);
  return &slots[idx];
}

static mi_heap_t* heap_of(int owner) {
  return (owner == OWNER_BACKING ? mi_heap_get_backing() : heaps[owner - 1]);
}


// A mi_u* form's reported size (SIZE_MAX: not a mi_u* form) must be the block's usable size.
static void check_reported(const char* how, size_t reported, const void* p) {
  if (reported != SIZE_MAX && reported != mi_usable_size(p)) {
    fail("%s reported %zu, usable size %zu", how, reported, mi_usable_size(p));
  }
}
static void op_malloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  const size_t n = in_size(in);
  slot_t* s = empty_slot(idx);
  const int owner = default_owner;
  size_t reported = SIZE_MAX;
  void* p;
  const char* how;
  switch (v % 6) {
    case 0:
      p = mi_malloc(n);
      how = "mi_malloc";
      break;
    case 1:
      p = mi_mallocn(n, 1);
      how = "mi_mallocn";
      break;
    case 2:
      p = mi_umalloc(n, &reported);
      how = "mi_umalloc";
      break;
    case 3:
      if (n <= MI_SMALL_SIZE_MAX) {
        p = mi_malloc_small(n);
        how = "mi_malloc_small";
      } else {
        p = mi_malloc(n);
        how = "mi_malloc";
      }
      break;
    case 4:
      p = mi_new(n);
      how = "mi_new";
      break;
    default:
      p = mi_new_nothrow(n);
      how = "mi_new_nothrow";
      break;
  }
  log_op("%s(%zu) -> slot %d", how, n, idx);
  *s = new_block(idx, p, n, false, 0, 0, owner, true, new_seed(idx), how);
  check_reported(how, reported, p);
  live_bytes += n;
}

static void op_zalloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  const size_t elem = in_elem(in);
  slot_t* s = empty_slot(idx);
  size_t reported = SIZE_MAX;
  void* p;
  const char* how;
  switch (v % 5) {
    case 0:
      p = mi_zalloc(n);
      how = "mi_zalloc";
      break;
    case 1:
      n = n / elem * elem;
      p = mi_calloc(n / elem, elem);
      how = "mi_calloc";
      break;
    case 2:
      n = n / elem * elem;
      p = mi_ucalloc(n / elem, elem, &reported);
      how = "mi_ucalloc";
      break;
    case 3:
      if (n <= MI_SMALL_SIZE_MAX) {
        p = mi_zalloc_small(n);
        how = "mi_zalloc_small";
      } else {
        p = mi_zalloc(n);
        how = "mi_zalloc";
      }
      break;
    default:
      if (n <= MI_SMALL_SIZE_MAX) {
        p = mi_uzalloc_small(n, &reported);
        how = "mi_uzalloc_small";
      } else {
        p = mi_zalloc(n);
        how = "mi_zalloc";
      }
      break;
  }
  log_op("%s(%zu) -> slot %d", how, n, idx);
  *s = new_block(idx, p, n, true, 0, 0, default_owner, true, new_seed(idx), how);
  check_reported(how, reported, p);
  live_bytes += n;
}

static void op_aligned(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  size_t align = in_align(in);
  size_t offset = in_offset(in);
  slot_t* s = empty_slot(idx);
  bool zero = false;
  size_t reported = SIZE_MAX;
  void* p = NULL;
  const char* how;
  switch (v % 14) {
    case 0:
      p = mi_malloc_aligned(n, align);
      how = "mi_malloc_aligned";
      offset = 0;
      break;
    case 1:
      p = mi_malloc_aligned_at(n, align, offset);
      how = "mi_malloc_aligned_at";
      break;
    case 2:
      p = mi_zalloc_aligned(n, align);
      how = "mi_zalloc_aligned";
      offset = 0;
      zero = true;
      break;
    case 3:
      p = mi_zalloc_aligned_at(n, align, offset);
      how = "mi_zalloc_aligned_at";
      zero = true;
      break;
    case 4:
      p = mi_calloc_aligned(n / 4, 4, align);
      n = n / 4 * 4;
      how = "mi_calloc_aligned";
      offset = 0;
      zero = true;
      break;
    case 5:
      p = mi_calloc_aligned_at(n / 2, 2, align, offset);
      n = n / 2 * 2;
      how = "mi_calloc_aligned_at";
      zero = true;
      break;
    case 6:
      p = mi_umalloc_aligned(n, align, &reported);
      how = "mi_umalloc_aligned";
      offset = 0;
      break;
    case 7:
      p = mi_uzalloc_aligned(n, align, &reported);
      how = "mi_uzalloc_aligned";
      offset = 0;
      zero = true;
      break;
    case 8: {
      if (align < sizeof(void*)) align = sizeof(void*);
      const int err = mi_posix_memalign(&p, align, n);
      if (err != 0) fail("mi_posix_memalign(%zu, %zu) returned %d", align, n, err);
      how = "mi_posix_memalign";
      offset = 0;
      break;
    }
    case 9:
      p = mi_memalign(align, n);
      how = "mi_memalign";
      offset = 0;
      break;
    case 10:
      p = mi_aligned_alloc(align, n);
      how = "mi_aligned_alloc";
      offset = 0;
      break;
    case 11:
      p = mi_valloc(n);
      how = "mi_valloc";
      align = 4096;
      offset = 0;
      break;
    case 12:
      p = mi_pvalloc(n);
      how = "mi_pvalloc";
      align = 4096;
      offset = 0;
      n = (n == 0 ? 4096 : (n + 4095) / 4096 * 4096);
      break;
    default:
      p = mi_new_aligned(n, align);
      how = "mi_new_aligned";
      offset = 0;
      break;
  }
  log_op("%s(%zu, align %zu, offset %zu) -> slot %d", how, n, align, offset, idx);
  *s = new_block(idx, p, n, zero, align, offset, default_owner, false, new_seed(idx), how);
  check_reported(how, reported, p);
  live_bytes += n;
}

static void op_realloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  slot_t* s = own_slot(idx);
  if (s->p != NULL) {
    check_block(s, idx, "before realloc");
  }
  const bool fresh = (s->p == NULL);
  if (fresh) *s = (slot_t){.seed = new_seed(idx), .owner = default_owner};
  const size_t old = s->size;
  void* p;
  const char* how;
  switch (v % 7) {
    case 0:
      p = mi_realloc(s->p, n);
      how = "mi_realloc";
      break;
    case 1:
      p = mi_reallocn(s->p, n, 1);
      how = "mi_reallocn";
      break;
    case 2:
      p = mi_reallocf(s->p, n);
      how = "mi_reallocf";
      break;
    case 3: {
      size_t pre = 0, post = 0;
      const size_t expect_pre = (s->p != NULL ? mi_usable_size(s->p) : 0);
      p = mi_urealloc(s->p, n, &pre, &post);
      if (pre != expect_pre || (p != NULL && post != mi_usable_size(p))) {
        fail("mi_urealloc reported %zu and %zu, usable sizes %zu and %zu", pre, post, expect_pre,
             p != NULL ? mi_usable_size(p) : 0);
      }
      how = "mi_urealloc";
      break;
    }
    case 4:
      n = n / 8 * 8;
      p = mi_reallocarray(s->p, n / 8, 8);
      how = "mi_reallocarray";
      break;
    case 5: {
      p = s->p;
      const int err = mi_reallocarr(&p, n, 1);
      if (err != 0) fail("mi_reallocarr(%zu) returned %d", n, err);
      how = "mi_reallocarr";
      break;
    }
    default:
      n = 0;
      p = mi_realloc(s->p, 0);
      how = "mi_realloc(p, 0)";
      break;
  }
  log_op("%s(slot %d: %zu -> %zu)", how, idx, old, n);
  if (fresh) s->p = (uint8_t*)p;  // realloc(NULL, n) is malloc(n): a new block, not a move
  realloc_model(s, idx, p, n, false, default_owner, true, how);
  if (fresh) s->exact = true;
  live_bytes += n - old;
}

// The zeroing reallocations, on blocks whose unused tail is zero (else a plain realloc).
static void op_rezalloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  const size_t elem = in_elem(in);
  slot_t* s = own_slot(idx);
  if (s->p != NULL) {
    check_block(s, idx, "before rezalloc");
  }
  const bool fresh = (s->p == NULL);
  if (fresh) *s = (slot_t){.seed = new_seed(idx), .owner = default_owner, .zero_tail = true};
  const size_t old = s->size;
  void* p;
  const char* how;
  if (!s->zero_tail) {
    p = mi_realloc(s->p, n);
    how = "mi_realloc";
  } else if (v % 2 == 0) {
    p = mi_rezalloc(s->p, n);
    how = "mi_rezalloc";
  } else {
    n = n / elem * elem;
    p = mi_recalloc(s->p, n / elem, elem);
    how = "mi_recalloc";
  }
  log_op("%s(slot %d: %zu -> %zu)", how, idx, old, n);
  if (fresh) s->p = (uint8_t*)p;
  realloc_model(s, idx, p, n, s->zero_tail, default_owner, true, how);
  if (fresh) s->exact = true;
  live_bytes += n - old;
}

static void op_realloc_aligned(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  size_t align = in_align(in);
  const size_t offset_in = in_offset(in);
  const size_t elem = in_elem(in);
  if (align > 4 * MiB) align = 4 * MiB;  // a huge alignment each time would only slow things down
  slot_t* s = own_slot(idx);
  if (s->p != NULL) {
    check_block(s, idx, "before aligned realloc");
  }
  const bool fresh = (s->p == NULL);
  if (fresh) *s = (slot_t){.seed = new_seed(idx), .owner = default_owner, .zero_tail = true};
  const size_t old = s->size;
  const unsigned kind = (s->zero_tail ? v % 7 : v % 2);
  const size_t offset = (kind == 1 || kind == 3 || kind == 5 ? offset_in : 0);  // the _at forms
  align = realloc_alignment(s->p, align, offset);
  bool zero = false;
  void* p;
  const char* how;
  switch (kind) {
    case 0:
      p = mi_realloc_aligned(s->p, n, align);
      how = "mi_realloc_aligned";
      break;
    case 1:
      p = mi_realloc_aligned_at(s->p, n, align, offset);
      how = "mi_realloc_aligned_at";
      break;
    case 2:
      p = mi_rezalloc_aligned(s->p, n, align);
      how = "mi_rezalloc_aligned";
      zero = true;
      break;
    case 3:
      p = mi_rezalloc_aligned_at(s->p, n, align, offset);
      how = "mi_rezalloc_aligned_at";
      zero = true;
      break;
    case 4:
      n = n / elem * elem;
      p = mi_recalloc_aligned(s->p, n / elem, elem, align);
      how = "mi_recalloc_aligned";
      zero = true;
      break;
    case 5:
      n = n / elem * elem;
      p = mi_recalloc_aligned_at(s->p, n / elem, elem, align, offset);
      how = "mi_recalloc_aligned_at";
      zero = true;
      break;
    default:
      n = n / elem * elem;
      p = mi_aligned_recalloc(s->p, n / elem, elem, align);
      how = "mi_aligned_recalloc";
      zero = true;
      break;
  }
  log_op("%s(slot %d: %zu -> %zu, align %zu, offset %zu)", how, idx, old, n, align, offset);
  const bool moved = (p != (void*)s->p) || fresh;
  const size_t old_align = s->align, old_offset = s->offset;
  if (fresh) s->p = (uint8_t*)p;
  if (!zero) s->zero_tail = false;
  realloc_model(s, idx, p, n, zero, default_owner, false, how);
  s->align = (moved ? align : old_align);
  s->offset = (moved ? offset : old_offset);
  if (((uintptr_t)s->p + offset) % align != 0) {
    fail("%s: %p + %zu is not aligned to %zu (slot %d)", how, (void*)s->p, offset, align, idx);
  }
  live_bytes += n - old;
}

static void op_free(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  log_op("free variant %u (slot %d, %zu bytes)", v % 6, idx, slots[idx].size);
  free_main(idx, v);
}

static void op_usable(input_t* in) {
  const int idx = in_u8(in) % NSLOTS;
  slot_t* s = own_slot(idx);
  log_op("usable size (slot %d)", idx);
  if (s->p == NULL) {
    if (mi_usable_size(NULL) != 0) fail("mi_usable_size(NULL) = %zu", mi_usable_size(NULL));
    return;
  }
  check_block(s, idx, "usable size");
  const size_t usable = mi_usable_size(s->p);
  if (usable < s->size) fail("slot %d: usable size %zu < %zu", idx, usable, s->size);
  if (mi_malloc_usable_size(s->p) != usable || mi_malloc_size(s->p) != usable) {
    fail("slot %d: mi_malloc_usable_size / mi_malloc_size differ from mi_usable_size", idx);
  }
  if (s->exact && usable != mi_good_size(s->size)) {
    fail("slot %d (%s): usable size %zu, mi_good_size(%zu) = %zu", idx, s->how, usable, s->size,
         mi_good_size(s->size));
  }
  if (!mi_is_in_heap_region(s->p)) fail("slot %d: %p not in the heap region", idx, (void*)s->p);
  if (s->owner < OWNER_WORKER && !mi_heap_contains_block(heap_of(s->owner), s->p)) {
    fail("slot %d: %p is not a block of its %s", idx, (void*)s->p, owner_name(s->owner));
  }
  if (s->owner == OWNER_WORKER && mi_heap_contains_block(mi_heap_get_backing(), s->p)) {
    fail("slot %d: the worker's block %p is in the main thread's heap", idx, (void*)s->p);
  }
  // mi_check_owned walks the default heap; it only takes word-aligned pointers
  if (s->owner == default_owner && ((uintptr_t)s->p & 7) == 0 && !mi_check_owned(s->p)) {
    fail("slot %d: mi_check_owned(%p) is false", idx, (void*)s->p);
  }
}

static void op_expand(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  slot_t* s = own_slot(idx);
  if (s->p == NULL) return;
  check_block(s, idx, "before expand");
  const size_t usable = mi_usable_size(s->p);
  if (v & 1) n = usable;  // the whole usable size must be usable
  errno = 0;
  void* p = (v & 2 ? mi__expand(s->p, n) : mi_expand(s->p, n));
  log_op("mi_expand(slot %d: %zu -> %zu, usable %zu) = %p", idx, s->size, n, usable, p);
  if (n <= usable ? p != (void*)s->p : p != NULL) {
    fail("mi_expand(%p, %zu) returned %p (usable size %zu)", (void*)s->p, n, p, usable);
  }
  if (p == NULL) {
    if ((v & 2) && errno != ENOMEM) fail("mi__expand failed with errno %d, not ENOMEM", errno);
    return;
  }
  const size_t old = s->size;
  if (n < old) {
    if (s->filled > n) {
      s->filled = n;
      s->zero_tail = false;
    }
    s->size = n;
  } else if (s->zero_tail) {
    s->size = n;  // the tail was zero: the model says so and the check below confirms it
    check_sampled(&check_range, s, idx, old, n, false, "mi_expand (zero tail)");
  } else {
    fill_pattern(s->p, s->filled, n, s->seed);
    s->size = s->filled = n;
  }
  s->exact = false;
  live_bytes += n - old;
}

// Writes the pattern over the zeros of a zeroed block.
static void op_fill(input_t* in) {
  const int idx = in_u8(in) % NSLOTS;
  slot_t* s = own_slot(idx);
  log_op("fill (slot %d, %zu..%zu)", idx, s->filled, s->size);
  if (s->p == NULL) return;
  check_block(s, idx, "before fill");
  fill_pattern(s->p, s->filled, s->size, s->seed);
  s->filled = s->size;
}

static mi_heap_t* get_heap(int h) {
  if (heaps[h] == NULL) {
    heaps[h] = mi_heap_new();
    if (heaps[h] == NULL) fail("mi_heap_new failed");
  }
  return heaps[h];
}

static void op_heap_new(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_new (heap %d)", h);
  get_heap(h);
}

static void op_heap_alloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int h = in_u8(in) % NHEAPS;
  const int idx = in_u8(in) % NSLOTS;
  size_t n = in_size(in);
  const size_t align = in_align(in);
  const size_t offset = in_offset(in);
  const size_t elem = in_elem(in);
  mi_heap_t* heap = get_heap(h);
  const unsigned kind = v % 14;
  if (kind >= 10) {  // reallocation forms: the slot's block moves into (or stays out of) the heap
    slot_t* s = own_slot(idx);
    if (s->p != NULL) {
      check_block(s, idx, "before heap realloc");
    }
    const bool fresh = (s->p == NULL);
    if (fresh) *s = (slot_t){.seed = new_seed(idx), .owner = h + 1, .zero_tail = true};
    const size_t old = s->size;
    const bool zero = (kind >= 12 && s->zero_tail);
    void* p;
    const char* how;
    if (kind == 10) {
      p = mi_heap_realloc(heap, s->p, n);
      how = "mi_heap_realloc";
    } else if (kind == 11) {
      p = mi_heap_reallocf(heap, s->p, n);
      how = "mi_heap_reallocf";
    } else if (!zero) {
      p = mi_heap_reallocn(heap, s->p, n, 1);
      how = "mi_heap_reallocn";
    } else if (kind == 12) {
      p = mi_heap_rezalloc(heap, s->p, n);
      how = "mi_heap_rezalloc";
    } else {
      n = n / elem * elem;
      p = mi_heap_recalloc(heap, s->p, n / elem, elem);
      how = "mi_heap_recalloc";
    }
    log_op("%s(heap %d, slot %d: %zu -> %zu)", how, h, idx, old, n);
    if (fresh) s->p = (uint8_t*)p;
    if (!zero) s->zero_tail = false;
    realloc_model(s, idx, p, n, zero, h + 1, true, how);
    if (fresh) s->exact = true;
    live_bytes += n - old;
    return;
  }
  slot_t* s = empty_slot(idx);
  bool zero = false, exact = true;
  size_t al = 0, off = 0;
  void* p;
  const char* how;
  switch (kind) {
    case 0:
      p = mi_heap_malloc(heap, n);
      how = "mi_heap_malloc";
      break;
    case 1:
      p = mi_heap_zalloc(heap, n);
      how = "mi_heap_zalloc";
      zero = true;
      break;
    case 2:
      n = n / elem * elem;
      p = mi_heap_calloc(heap, n / elem, elem);
      how = "mi_heap_calloc";
      zero = true;
      break;
    case 3:
      p = mi_heap_mallocn(heap, n, 1);
      how = "mi_heap_mallocn";
      break;
    case 4:
      if (n > MI_SMALL_SIZE_MAX) n &= (MI_SMALL_SIZE_MAX - 1);
      if (v & 0x80) {
        p = mi_heap_zalloc_small(heap, n);
        zero = true;
        how = "mi_heap_zalloc_small";
      } else {
        p = mi_heap_malloc_small(heap, n);
        how = "mi_heap_malloc_small";
      }
      break;
    case 5:
      p = mi_heap_malloc_aligned(heap, n, align);
      how = "mi_heap_malloc_aligned";
      al = align;
      exact = false;
      break;
    case 6:
      p = mi_heap_malloc_aligned_at(heap, n, align, offset);
      how = "mi_heap_malloc_aligned_at";
      al = align;
      off = offset;
      exact = false;
      break;
    case 7:
      p = mi_heap_zalloc_aligned_at(heap, n, align, offset);
      how = "mi_heap_zalloc_aligned_at";
      al = align;
      off = offset;
      exact = false;
      zero = true;
      break;
    case 8:
      n = n / elem * elem;
      p = mi_heap_calloc_aligned(heap, n / elem, elem, align);
      how = "mi_heap_calloc_aligned";
      al = align;
      exact = false;
      zero = true;
      break;
    default:
      p = mi_heap_alloc_new(heap, n);
      how = "mi_heap_alloc_new";
      break;
  }
  log_op("%s(heap %d, %zu, align %zu, offset %zu) -> slot %d", how, h, n, al, off, idx);
  *s = new_block(idx, p, n, zero, al, off, h + 1, exact, new_seed(idx), how);
  if (!mi_heap_contains_block(heap, p)) fail("%s: %p is not a block of heap %d", how, p, h);
  live_bytes += n;
}

// The heap's live blocks must be the slots the model gives it (checked when the worker is idle).
static void check_heap_count(int h) {
  pthread_mutex_lock(&wq.lock);
  const bool idle = (wq.finished == wq.posted);
  pthread_mutex_unlock(&wq.lock);
  if (!idle) return;
  reap(false);
  const size_t live = heap_live_blocks(heaps[h]);
  const size_t model = model_blocks_of(h + 1);
  if (live != model) fail("heap %d holds %zu live blocks, the model %zu", h, live, model);
}

static void heap_destroy(int h) {
  reap(true);  // a destroyed heap's blocks must not be in the worker's hands
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && slots[i].owner == h + 1) check_block(&slots[i], i, "heap destroy");
  }
  check_heap_count(h);
  mi_heap_destroy(heaps[h]);
  heaps[h] = NULL;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && slots[i].owner == h + 1) {
      live_bytes -= slots[i].size;
      memset(&slots[i], 0, sizeof(slots[i]));
    }
  }
  if (default_owner == h + 1) default_owner = OWNER_BACKING;
}

static void heap_delete(int h) {
  check_heap_count(h);
  mi_heap_delete(heaps[h]);  // the worker may be freeing blocks of it meanwhile: that is allowed
  heaps[h] = NULL;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].owner == h + 1) slots[i].owner = OWNER_BACKING;  // busy ones too
  }
  if (default_owner == h + 1) default_owner = OWNER_BACKING;
}

static void op_heap_destroy(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_destroy (heap %d, %zu blocks)", h, model_blocks_of(h + 1));
  if (heaps[h] != NULL) heap_destroy(h);
}

static void op_heap_delete(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_delete (heap %d, %zu blocks)", h, model_blocks_of(h + 1));
  if (heaps[h] != NULL) heap_delete(h);
}

static void op_heap_default(input_t* in) {
  const int h = in_u8(in) % (NHEAPS + 1);
  log_op("mi_heap_set_default (%s)", h == NHEAPS ? "backing" : owner_name(h + 1));
  if (h == NHEAPS) {
    mi_heap_set_default(mi_heap_get_backing());
    default_owner = OWNER_BACKING;
  } else {
    mi_heap_set_default(get_heap(h));
    default_owner = h + 1;
  }
  if (mi_heap_get_default() != heap_of(default_owner)) fail("mi_heap_set_default had no effect");
}

static void op_handoff_free(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  slot_t* s = own_slot(idx);
  log_op("hand-off free (slot %d, %zu bytes)", idx, s->size);
  if (s->p == NULL) return;
  job_t j = {.kind = JOB_FREE, .idx = idx, .variant = v, .s = *s};
  live_bytes -= s->size;
  post(&j);
}

static void op_handoff_realloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  const size_t n = in_size(in);
  size_t align = in_align(in);
  const size_t offset = in_offset(in);
  if (align > 4 * MiB) align = 4 * MiB;
  slot_t* s = own_slot(idx);
  log_op("hand-off realloc (slot %d, %zu -> %zu)", idx, s->size, n);
  if (s->p == NULL) return;
  job_t j = {.kind = JOB_REALLOC,
             .idx = idx,
             .variant = v,
             .s = *s,
             .newsize = n,
             .align = align,
             .offset = offset};
  live_bytes += n - s->size;
  post(&j);
}

static void op_worker_alloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  const size_t n = in_size(in);
  size_t align = in_align(in);
  const size_t offset = in_offset(in);
  if (align > 4 * MiB) align = 4 * MiB;
  empty_slot(idx);
  log_op("worker alloc variant %u (%zu bytes) -> slot %d", v % 3, n, idx);
  job_t j = {.kind = JOB_ALLOC,
             .idx = idx,
             .variant = v,
             .newsize = n,
             .align = align,
             .offset = offset,
             .seed = new_seed(idx)};
  live_bytes += n;
  post(&j);
}

static void op_sync(void) {
  log_op("sync with the worker");
  reap(true);
}

static void op_collect(input_t* in) {
  const unsigned v = in_u8(in);
  log_op("collect variant %u", v % 4);
  switch (v % 4) {
    case 0:
      mi_collect(false);
      break;
    case 1:
      mi_collect(true);
      break;
    case 2: {
      const int h = (v >> 2) % NHEAPS;
      if (heaps[h] != NULL) mi_heap_collect(heaps[h], (v >> 4) & 1);
      break;
    }
    default: {
      job_t j = {.kind = JOB_COLLECT, .variant = v >> 2};
      post(&j);
      break;
    }
  }
}

// A value the compiler cannot see through (it warns about impossible sizes it can see).
static size_t opaque(size_t n) {
  volatile size_t v = n;
  return v;
}

// Calls that must fail cleanly: NULL with errno set, the block given to a failed realloc intact.
static void op_errors(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_u8(in) % NSLOTS;
  slot_t* s = own_slot(idx);
  log_op("failing call variant %u (slot %d)", v % 6, idx);
  errors_expected++;
  errno = 0;
  void* p = NULL;
  int want = ENOMEM, err = 0;
  switch (v % 6) {
    case 0:
      p = mi_calloc(opaque(SIZE_MAX / 2 + 1), 4);
      break;
    case 1:
      p = mi_malloc(opaque(SIZE_MAX - 4096));
      break;
    case 2:
      p = mi_malloc_aligned(64, opaque(48));  // not a power of two
      want = EINVAL;
      break;
    case 3: {
      void* q = (void*)&err;
      err = mi_posix_memalign(&q, 4, 64);
      if (err != EINVAL || q != (void*)&err) fail("mi_posix_memalign(4) returned %d", err);
      errno = EINVAL;
      want = EINVAL;
      break;
    }
    case 4:
      p = (s->p != NULL ? mi_reallocn(s->p, opaque(SIZE_MAX / 4), 8)
                        : mi_mallocn(opaque(SIZE_MAX / 4), 8));
      break;
    default:
      p = (s->p != NULL ? mi_realloc(s->p, opaque(PTRDIFF_MAX)) : mi_malloc(opaque(PTRDIFF_MAX)));
      break;
  }
  const int got = errno;
  errors_expected--;
  if (p != NULL || got != want) {
    fail("failing call variant %u returned %p with errno %d (expected NULL, %d)", v % 6, p, got,
         want);
  }
  if (s->p != NULL) check_block(s, idx, "after a failed reallocation");
}

#ifdef FUZZ_SELFTEST
// Self-test builds only: damages one byte of a live block behind the model's back.
static void op_corrupt(input_t* in) {
  const int idx = in_u8(in) % NSLOTS;
  const size_t pos = in_u16(in);
  const uint8_t flip = in_u8(in) | 1;
  slot_t* s = own_slot(idx);
  log_op("SELFTEST corrupt (slot %d, byte %zu)", idx, s->size ? pos % s->size : 0);
  if (s->p != NULL && s->size > 0) s->p[pos % s->size] ^= flip;
}
#endif

/* ---------------------------------------------------------------------------------------------
   The operation codes: the low five bits of the first byte (more codes for the common calls).
--------------------------------------------------------------------------------------------- */
typedef enum op_e {
  OP_MALLOC,
  OP_ZALLOC,
  OP_ALIGNED,
  OP_REALLOC,
  OP_REZALLOC,
  OP_REALLOC_ALIGNED,
  OP_FREE,
  OP_USABLE,
  OP_EXPAND,
  OP_FILL,
  OP_HEAP_NEW,
  OP_HEAP_ALLOC,
  OP_HEAP_DESTROY,
  OP_HEAP_DELETE,
  OP_HEAP_DEFAULT,
  OP_HANDOFF_FREE,
  OP_HANDOFF_REALLOC,
  OP_WORKER_ALLOC,
  OP_SYNC,
  OP_COLLECT,
  OP_ERRORS,
  OP_CHECK_ALL,
  OP_WORKER_RESTART,
  OP_CORRUPT
} op_t;

// clang-format off
static const uint8_t op_of_code[32] = {
    OP_MALLOC, OP_ZALLOC, OP_ALIGNED, OP_REALLOC, OP_REZALLOC, OP_REALLOC_ALIGNED, OP_FREE,
    OP_USABLE, OP_EXPAND, OP_FILL, OP_HEAP_NEW, OP_HEAP_ALLOC, OP_HEAP_DESTROY, OP_HEAP_DELETE,
    OP_HEAP_DEFAULT, OP_HANDOFF_FREE, OP_HANDOFF_REALLOC, OP_WORKER_ALLOC, OP_SYNC, OP_COLLECT,
    OP_ERRORS, OP_CHECK_ALL,
    OP_MALLOC, OP_MALLOC, OP_FREE, OP_FREE, OP_REALLOC, OP_ALIGNED, OP_HEAP_ALLOC,  // 22..28
    OP_HANDOFF_FREE, OP_HANDOFF_REALLOC,                                         // 29, 30
    OP_CORRUPT,  // 31: FUZZ_SELFTEST builds only; else the worker restarts
};
// clang-format on

static void run_op(input_t* in) {
  const uint8_t code = in_u8(in);
  op_t op = (op_t)op_of_code[code & 31];
#ifndef FUZZ_SELFTEST
  if (op == OP_CORRUPT) op = OP_WORKER_RESTART;
#endif
  switch (op) {
    case OP_MALLOC:
      op_malloc(in);
      break;
    case OP_ZALLOC:
      op_zalloc(in);
      break;
    case OP_ALIGNED:
      op_aligned(in);
      break;
    case OP_REALLOC:
      op_realloc(in);
      break;
    case OP_REZALLOC:
      op_rezalloc(in);
      break;
    case OP_REALLOC_ALIGNED:
      op_realloc_aligned(in);
      break;
    case OP_FREE:
      op_free(in);
      break;
    case OP_USABLE:
      op_usable(in);
      break;
    case OP_EXPAND:
      op_expand(in);
      break;
    case OP_FILL:
      op_fill(in);
      break;
    case OP_HEAP_NEW:
      op_heap_new(in);
      break;
    case OP_HEAP_ALLOC:
      op_heap_alloc(in);
      break;
    case OP_HEAP_DESTROY:
      op_heap_destroy(in);
      break;
    case OP_HEAP_DELETE:
      op_heap_delete(in);
      break;
    case OP_HEAP_DEFAULT:
      op_heap_default(in);
      break;
    case OP_HANDOFF_FREE:
      op_handoff_free(in);
      break;
    case OP_HANDOFF_REALLOC:
      op_handoff_realloc(in);
      break;
    case OP_WORKER_ALLOC:
      op_worker_alloc(in);
      break;
    case OP_SYNC:
      op_sync();
      break;
    case OP_COLLECT:
      op_collect(in);
      break;
    case OP_ERRORS:
      op_errors(in);
      break;
    case OP_CHECK_ALL:
      log_op("check all");
      check_all("check all");
      break;
    case OP_WORKER_RESTART:
      log_op("the worker exits, a new one starts");
      restart_worker();
      break;
#ifdef FUZZ_SELFTEST
    case OP_CORRUPT:
      op_corrupt(in);
      break;
#else
    case OP_CORRUPT:
      break;
#endif
  }
}

/* ---------------------------------------------------------------------------------------------
   Entry points
--------------------------------------------------------------------------------------------- */
int LLVMFuzzerInitialize(int* argc, char*** argv) {
  (void)argc;
  (void)argv;
  trace = (getenv("FUZZ_TRACE") != NULL && getenv("FUZZ_TRACE")[0] == '1');
  mi_option_enable(mi_option_show_errors);  // warnings reach on_output, which fails on them
  mi_option_set(mi_option_max_errors, LONG_MAX);
  mi_option_set(mi_option_max_warnings, LONG_MAX);
  // No memory-return thread: creating it makes libc allocate its per-thread data (a block that
  // stays live in the backing heap, which the live-block counts would see).
  mi_option_disable(mi_option_purge_background);
  mi_register_error(&on_error, NULL);
  mi_register_output(&on_output, NULL);
  start_worker();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!wq.started) LLVMFuzzerInitialize(NULL, NULL);
  // Live blocks before: the input must leave both threads' heaps as it found them.
  const size_t main_before = heap_live_blocks(mi_heap_get_backing());
  worker_baseline = worker_live_blocks();
  oplog.n = 0;
  input_t in = {data, size};
  while (in.n > 0) {
    run_op(&in);
    reap(false);
    check_sentinels();
  }
  // The end: every block checked, then freed (heaps 0 and 2 destroyed with what they hold).
  log_op("end of input");
  reap(true);
  check_all("end of input");
  if (default_owner != OWNER_BACKING) {
    mi_heap_set_default(mi_heap_get_backing());
    default_owner = OWNER_BACKING;
  }
  for (int h = 0; h < NHEAPS; h += 2) {
    if (heaps[h] != NULL) heap_destroy(h);
  }
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL) free_main(i, (unsigned)i);
  }
  for (int h = 1; h < NHEAPS; h += 2) {
    if (heaps[h] != NULL) heap_delete(h);
  }
  if (live_bytes != 0)
    fail("%zu live bytes left in the model after freeing everything", live_bytes);
  const size_t main_after = heap_live_blocks(mi_heap_get_backing());
  const size_t worker_after = worker_live_blocks();
  if (main_after != main_before || worker_after != worker_baseline) {
    fail("live blocks: main heap %zu before, %zu after; worker heap %zu before, %zu after",
         main_before, main_after, worker_baseline, worker_after);
  }
  return 0;
}
