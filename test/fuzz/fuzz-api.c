/* fuzz-api: a single-threaded libFuzzer target over the whole allocation API (the malloc, zeroing,
 * aligned and _at, reallocation and zeroing-reallocation families, frees, usable sizes and
 * ownership, mi_expand, string duplicates, first-class heaps and their allocations, collection,
 * mi_heap_visit_blocks and failing calls), built for speed: thousands of inputs a second where
 * fuzz-ops (two threads, remote frees) runs a hundred. Each input is a program of operations on
 * 32 slots (the encoding: test/fuzz/README.md; make-corpus-api.py writes inputs); every block is
 * checked against a model of its contents (a pattern of (slot, generation) over the bytes
 * written, zeros where a zeroing call promised them), its size, alignment and usable size, and
 * visits must report exactly the model's live blocks. Contents are written and checked on a fixed
 * sample of positions (all of the first 4 KiB, 32-byte windows beyond, the last 32 bytes), so a
 * 32 MiB block costs about 100 page touches. Any mismatch or unexpected allocator message
 * aborts with a report naming the slot, the byte and the last operations. Each input ends with
 * every heap's live blocks counted and everything freed. Built with clang
 * -fsanitize=fuzzer,address around the library's sources as shipped (`make fuzz-api`;
 * test/fuzz/CMakeLists.txt says why), and with any compiler plus replay.c, which replays
 * corpus-api/ as a ctest in every build (`fuzz-api-corpus`). */
#include <mimalloc.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fuzz-api: the word-wise pattern code assumes a little-endian machine"
#endif

// Byte loops over block contents run uninstrumented (see fuzz-ops.c): the contents are the
// model's business, and comparison tracing of pattern words would only slow things down.
#if defined(__clang__)
#define NO_INSTRUMENT __attribute__((no_sanitize("address", "coverage")))
#elif defined(__GNUC__)
#define NO_INSTRUMENT __attribute__((no_sanitize_address))
#else
#define NO_INSTRUMENT
#endif

#define NSLOTS   32
#define NHEAPS   3
#define KiB      ((size_t)1024)
#define MiB      (1024 * KiB)
#define ONE_MAX  (34 * MiB)  // largest request: above a 32 MiB segment
#define LIVE_MAX (40 * MiB)  // requested bytes live at once
/* Bytes an input may have the allocator write. A request costs its size (zeroing forms clear it,
   reallocations copy it, debug builds fill every new and freed block); a huge one, which gets a
   mapping of its own and is touched only on the sampled positions, costs HUGE_CHARGE unless it is
   zeroed or reallocated. Once the budget is spent, sizes keep their low 12 bits. It bounds the
   slowest input: memory written is what costs here (page faults, fills); fuzz-ops covers blocks
   of many MiB written whole. */
#define BUDGET      (256 * KiB)
#define HUGE_CHARGE (256 * KiB)
#define HUGE_MIN    (16 * MiB + 1)  // requests above 16 MiB get a segment of their own

enum { OWNER_BACKING = 0 };  // else heaps[owner - 1]

/* One block as the model knows it: bytes [0, filled) hold pattern(seed, i), [filled, size) zero
   (both only on the sampled positions). */
typedef struct slot_s {
  uint8_t* p;     // NULL: empty
  size_t size;    // bytes requested
  size_t filled;  // <= size
  size_t usable;  // mi_usable_size(p) when made or last resized
  uint64_t seed;  // from slot and generation
  size_t align;   // 0, or the alignment asked for: (p + offset) % align == 0
  size_t offset;
  int owner;        // OWNER_BACKING or heap index + 1
  bool zero_tail;   // [size, usable) reads as zero
  bool exact;       // usable == mi_good_size(size) (plain malloc-family blocks)
  const char* how;  // the call that made or last resized it
} slot_t;

static slot_t slots[NSLOTS];
static mi_heap_t* heaps[NHEAPS];
static int default_owner;
static size_t live_bytes;
static size_t budget_left;
static uint64_t generation;
static size_t backing_baseline;  // live blocks of the backing heap between inputs
static bool baseline_known;      // backing_baseline counted (at the end of the last input)
static bool initialized;
static bool trace;  // FUZZ_TRACE=1: print each operation

/* ---------------------------------------------------------------------------------------------
   Failure reports, with the last operations
--------------------------------------------------------------------------------------------- */
/* The last operations, kept as raw numbers (formatting each one would cost more than many of
   the operations): what, the slot (-1: none), and up to four numbers for `fmt`. */
#define LOG_LEN 24
typedef struct op_note_s {
  const char* what;
  const char* fmt;  // printf format of the numbers (size_t each)
  int slot;
  size_t num[4];
} op_note_t;
static struct {
  unsigned long n;
  op_note_t note[LOG_LEN];
} oplog;

static void print_note(const op_note_t* e, unsigned long i) {
  fprintf(stderr, "  #%lu %s", i, e->what);
  if (e->slot >= 0) fprintf(stderr, " (slot %d)", e->slot);
  if (e->fmt != NULL) {
    fputs(": ", stderr);
    fprintf(stderr, e->fmt, e->num[0], e->num[1], e->num[2], e->num[3]);
  }
  fputc('\n', stderr);
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "\nfuzz-api: FAILED: ");
  vfprintf(stderr, fmt, args);
  fprintf(stderr, "\n");
  va_end(args);
  const unsigned long first = (oplog.n > LOG_LEN ? oplog.n - LOG_LEN : 0);
  fprintf(stderr, "fuzz-api: the last operations (of %lu):\n", oplog.n);
  for (unsigned long i = first; i < oplog.n; i++) print_note(&oplog.note[i % LOG_LEN], i);
  fflush(stderr);
  abort();
}

// Notes an operation: `fmt` (NULL: none) formats a, b, c, d, each a size_t.
static void log_op(const char* what, int slot, const char* fmt, size_t a, size_t b, size_t c,
                   size_t d) {
  op_note_t* e = &oplog.note[oplog.n % LOG_LEN];
  *e = (op_note_t){what, fmt, slot, {a, b, c, d}};
  if (trace) print_note(e, oplog.n);
  oplog.n++;
}

// Every operation is legal: outside the failing calls of op_errors, any allocator message fails.
static int errors_expected;

static void on_error(int err, void* arg) {
  (void)arg;
  if (!errors_expected) fail("the allocator reported error %d", err);
}

static void on_output(const char* msg, void* arg) {
  (void)arg;
  if (!errors_expected) fail("unexpected allocator message: %s", msg);
}

/* ---------------------------------------------------------------------------------------------
   Contents: a pattern word per 8 bytes, a function of the seed and the word's index, written and
   checked on the sample positions of a block of `size` bytes: [0, 1 KiB), a 32-byte window at
   every 16 KiB below 1 MiB and every 1 MiB beyond, and [size - 32, size). These loops, and the
   model's other scans, run without coverage tracing: they follow the model, not the input. The positions depend
   on nothing but `size`, so a block keeps them when it moves; when its size changes, the new
   last window is written (its bytes were not sampled before: never checked, so nothing is lost).
--------------------------------------------------------------------------------------------- */
#define DENSE     ((size_t)1024)
#define WINDOW    ((size_t)32)
#define NEAR_STEP ((size_t)16384)
#define NEAR_END  ((size_t)1 << 20)
#define FAR_STEP  ((size_t)1 << 20)
_Static_assert(DENSE <= NEAR_STEP && NEAR_END % FAR_STEP == 0 && FAR_STEP % NEAR_STEP == 0,
               "windows sit on fixed multiples");

NO_INSTRUMENT static inline uint64_t pattern_word(uint64_t seed, size_t w) {
  const uint64_t x = seed + (uint64_t)w * 0x9E3779B97F4A7C15ull;
  return x ^ (x >> 29);
}

NO_INSTRUMENT static inline uint8_t pattern_byte(uint64_t seed, size_t i) {
  return (uint8_t)(pattern_word(seed, i >> 3) >> (8 * (i & 7)));
}

NO_INSTRUMENT static void fill_range(uint8_t* p, size_t from, size_t to, uint64_t seed) {
  size_t i = from;
  for (; i < to && (i & 7) != 0; i++) p[i] = pattern_byte(seed, i);
  for (; i + 8 <= to; i += 8) {
    const uint64_t w = pattern_word(seed, i >> 3);
    memcpy(p + i, &w, 8);
  }
  for (; i < to; i++) p[i] = pattern_byte(seed, i);
}

// The first byte in [from, to) that is not the pattern (zero: not zero), or SIZE_MAX.
NO_INSTRUMENT static size_t find_bad(const uint8_t* p, size_t from, size_t to, uint64_t seed,
                                     bool zero) {
  size_t i = from;
  for (; i < to && (i & 7) != 0; i++) {
    if (p[i] != (zero ? 0 : pattern_byte(seed, i))) return i;
  }
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != (zero ? 0 : pattern_word(seed, i >> 3))) break;
  }
  for (; i < to; i++) {
    if (p[i] != (zero ? 0 : pattern_byte(seed, i))) return i;
  }
  return SIZE_MAX;
}

NO_INSTRUMENT static uint8_t read_byte(const uint8_t* p, size_t i) { return p[i]; }

typedef void sample_fun(slot_t* s, int idx, size_t from, size_t to, const char* when);

// Calls fn on the sample ranges of a `size`-byte block that lie in [from, to).
NO_INSTRUMENT static void for_samples(size_t size, size_t from, size_t to, sample_fun* fn,
                                      slot_t* s, int idx, const char* when) {
  if (to > size) to = size;
  if (from >= to) return;
  if (from < DENSE) fn(s, idx, from, (to < DENSE ? to : DENSE), when);
  // windows at the multiples of the step (the same positions whatever `from` is)
  size_t pos = (from < NEAR_END ? from & ~(NEAR_STEP - 1) : from & ~(FAR_STEP - 1));
  if (pos < NEAR_STEP) pos = NEAR_STEP;
  while (pos < to) {
    const size_t a = (pos > from ? pos : from);
    const size_t b = (pos + WINDOW < to ? pos + WINDOW : to);
    if (a < b) fn(s, idx, a, b, when);
    pos += (pos < NEAR_END ? NEAR_STEP : FAR_STEP);
  }
  if (size > DENSE) {
    const size_t a = (size - WINDOW > from ? size - WINDOW : from);
    if (a < to) fn(s, idx, a, to, when);
  }
}

NO_INSTRUMENT static void range_fill(slot_t* s, int idx, size_t from, size_t to, const char* when) {
  (void)idx;
  (void)when;
  fill_range(s->p, from, to, s->seed);
}

// Bytes [from, to) against the model: pattern below `filled`, zero from there.
NO_INSTRUMENT static void range_check(slot_t* s, int idx, size_t from, size_t to,
                                      const char* when) {
  size_t bad = SIZE_MAX;
  bool zero = false;
  if (from < s->filled)
    bad = find_bad(s->p, from, (to < s->filled ? to : s->filled), s->seed, false);
  if (bad == SIZE_MAX && to > s->filled) {
    zero = true;
    bad = find_bad(s->p, (from > s->filled ? from : s->filled), to, 0, true);
  }
  if (bad == SIZE_MAX) return;
  fail(
      "%s: slot %d (%p, %zu bytes from %s, owner %d, pattern up to %zu): byte %zu is 0x%02x, "
      "expected 0x%02x",
      when, idx, (void*)s->p, s->size, s->how, s->owner, s->filled, bad, read_byte(s->p, bad),
      zero ? 0 : pattern_byte(s->seed, bad));
}

NO_INSTRUMENT static void range_zero(slot_t* s, int idx, size_t from, size_t to, const char* when) {
  const size_t bad = find_bad(s->p, from, to, 0, true);
  if (bad == SIZE_MAX) return;
  fail(
      "%s: slot %d (%p, %zu bytes from %s): byte %zu of the unused tail (usable %zu) is 0x%02x, "
      "expected 0",
      when, idx, (void*)s->p, s->size, s->how, bad, s->usable, read_byte(s->p, bad));
}

static void fill_samples(slot_t* s, int idx, size_t from, size_t to) {
  for_samples(s->size, from, to, &range_fill, s, idx, NULL);
}

static void check_zero_tail(slot_t* s, int idx, const char* when) {
  if (s->zero_tail) for_samples(s->usable, s->size, s->usable, &range_zero, s, idx, when);
}

static void check_block(slot_t* s, int idx, const char* when) {
  for_samples(s->size, 0, s->size, &range_check, s, idx, when);
  check_zero_tail(s, idx, when);
}

static void check_all(const char* when) {
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL) check_block(&slots[i], i, when);
  }
}

// After each operation: the first and last bytes of one slot, a different one each time.
NO_INSTRUMENT static void spot_check(void) {
  const int idx = (int)(oplog.n % NSLOTS);
  slot_t* s = &slots[idx];
  if (s->p == NULL) return;
  range_check(s, idx, 0, (s->size < WINDOW ? s->size : WINDOW), "spot check");
  if (s->size > WINDOW) range_check(s, idx, s->size - WINDOW, s->size, "spot check");
}

/* ---------------------------------------------------------------------------------------------
   New and resized blocks
--------------------------------------------------------------------------------------------- */
static uint64_t new_seed(int idx) {
  generation++;
  return ((uint64_t)idx << 56) ^ (generation * 0xD6E8FEB86659FD93ull) ^ 0xA5A5A5A5A5A5A5A5ull;
}

// The block just returned by an allocation call: checks it and, unless zeroed, fills it.
static void new_block(int idx, void* p, size_t size, bool zeroed, size_t align, size_t offset,
                      int owner, bool exact, const char* how) {
  if (p == NULL) fail("%s(%zu) returned NULL (slot %d)", how, size, idx);
  if (align != 0 && ((uintptr_t)p + offset) % align != 0) {
    fail("%s: %p + %zu is not aligned to %zu (slot %d)", how, p, offset, align, idx);
  }
  if (align == 0 && ((uintptr_t)p % 16) != 0)
    fail("%s: %p is not 16-aligned (slot %d)", how, p, idx);
  const size_t usable = mi_usable_size(p);
  if (usable < size) fail("%s(%zu) = %p: usable size %zu (slot %d)", how, size, p, usable, idx);
  if (exact && usable != mi_good_size(size)) {
    fail("%s(%zu): usable size %zu, mi_good_size says %zu", how, size, usable, mi_good_size(size));
  }
  slot_t* s = &slots[idx];
  *s = (slot_t){.p = (uint8_t*)p,
                .size = size,
                .usable = usable,
                .seed = new_seed(idx),
                .align = align,
                .offset = offset,
                .owner = owner,
                .zero_tail = zeroed,
                .exact = exact,
                .how = how};
  if (zeroed) {
    check_block(s, idx, how);  // zero everywhere, the unused tail included
  } else {
    fill_samples(s, idx, 0, size);
    s->filled = size;
  }
  live_bytes += size;
}

/* The block of slot idx went through a reallocation that returned newp for newsize bytes (zero:
   a zeroing form, on a block whose tail was zero). Checks what must have survived and brings the
   model up to date; a block that moved belongs to owner_if_moved. */
static void resized(int idx, void* newp, size_t newsize, bool zero, int owner_if_moved,
                    bool exact_if_moved, const char* how) {
  slot_t* s = &slots[idx];
  if (newp == NULL) fail("%s(%p, %zu) returned NULL (slot %d)", how, (void*)s->p, newsize, idx);
  const slot_t old = *s;
  const bool moved = ((uint8_t*)newp != old.p);
  const size_t keep = (old.size < newsize ? old.size : newsize);
  // what survived, on the old block's sample positions
  s->p = (uint8_t*)newp;
  s->how = how;
  for_samples(old.size, 0, keep, &range_check, s, idx, how);
  s->size = newsize;
  s->filled = (old.filled < keep ? old.filled : keep);
  s->usable = mi_usable_size(newp);
  if (s->usable < newsize) {
    fail("%s(%zu) = %p: usable size %zu (slot %d)", how, newsize, newp, s->usable, idx);
  }
  if (zero) {
    for_samples(newsize, keep, newsize, &range_check, s, idx, how);  // grown bytes read zero
    if (!moved && old.filled > newsize) s->zero_tail = false;        // cut pattern stays there
    check_zero_tail(s, idx, how);
  } else {
    fill_samples(s, idx, s->filled, newsize);
    s->filled = newsize;
    s->zero_tail = false;
  }
  if (newsize > DENSE && s->filled > newsize - WINDOW) {  // the new last window
    fill_range(s->p, newsize - WINDOW, s->filled, s->seed);
  }
  live_bytes += newsize - old.size;
  if (moved) {
    s->owner = owner_if_moved;
    s->exact = exact_if_moved;
    s->align = s->offset = 0;
    if (s->exact && s->usable != mi_good_size(newsize)) {
      fail("%s(%zu): usable size %zu, mi_good_size says %zu", how, newsize, s->usable,
           mi_good_size(newsize));
    }
  } else {
    s->exact = false;
  }
}

/* ---------------------------------------------------------------------------------------------
   Input decoding (bytes past the end read as zero)
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

static int in_slot(input_t* in) { return in_u8(in) % NSLOTS; }

// clang-format off
static const size_t edges[16] = {
    0, 16, 128, 1024, 1040, 4096, 8 * KiB, 16 * KiB,
    64 * KiB, 72 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, 2 * MiB, 8 * MiB};
static const size_t big_edges[8] = {
    4 * MiB, 16 * MiB, 16 * MiB + 64 * KiB, 17 * MiB, 24 * MiB, 32 * MiB - 64 * KiB, 32 * MiB,
    ONE_MAX};
// clang-format on

static size_t edge_delta(size_t edge, int delta) {
  return (delta < 0 && (size_t)-delta > edge ? 0 : edge + (size_t)(ptrdiff_t)delta);
}

// What a request of n bytes aligned to `align` costs the budget: alignments up to 16 MiB are
// served by over-allocating (n + align bytes, all filled in debug builds), larger ones and huge
// sizes by a mapping of their own (only the sampled bytes touched, unless `full`: zeroed or
// copied).
static size_t charge_of(size_t n, size_t align, bool full) {
  if (!full && (n >= HUGE_MIN || align >= HUGE_MIN)) return HUGE_CHARGE;
  return n + (align > 16 ? align : 0);
}

// Takes a request from the budget; false (nothing taken) when it would not fit.
static bool spend(size_t n, size_t align, bool full) {
  const size_t c = charge_of(n, align, full);
  if (c > budget_left || live_bytes + n > LIVE_MAX) return false;
  budget_left -= c;
  return true;
}

/* A size: c < 0x80: c; < 0xC0: up to 16 KiB; < 0xD0: an edge of a size class or page kind plus a
   signed delta byte; < 0xF0: up to 512 KiB; < 0xFC: up to 3 MiB (multiples of 4); else a large
   or huge edge (4 .. 34 MiB) plus a delta. Requests over the budget keep their low 12 bits. */
static size_t in_size_for(input_t* in, size_t align, bool full) {
  const uint8_t c = in_u8(in);
  size_t n;
  if (c < 0x80) {
    n = c;
  } else if (c < 0xC0) {
    n = ((size_t)(c & 0x3F) << 8) | in_u8(in);
  } else if (c < 0xD0) {
    n = edge_delta(edges[c & 15], (int8_t)in_u8(in));
  } else if (c < 0xF0) {
    n = (((size_t)(c & 0x1F) << 16) | in_u16(in)) >> 2;
  } else if (c < 0xFC) {
    n = (((size_t)(c & 0x0F) << 16) | in_u16(in)) << 2;
  } else {
    const uint8_t which = in_u8(in);
    n = edge_delta(big_edges[which & 7], (int8_t)in_u8(in));
  }
  if (n > ONE_MAX) n = ONE_MAX;
  if (!spend(n, align, full)) {
    n &= 0xFFF;
    if (!spend(n, align, full)) {
      n = 0;
      spend(0, align, full);  // (in_align kept the alignment affordable)
    }
  }
  return n;
}

/* n as a whole number of elements (for the count * size forms): rounded down, unless that would
   take a huge request (charged as one) below the huge threshold, where it would be filled whole. */
static size_t whole(size_t n, size_t elem) {
  const size_t down = n / elem * elem;
  return (n >= HUGE_MIN && down < HUGE_MIN ? down + elem : down);
}

static size_t in_size(input_t* in) { return in_size_for(in, 0, false); }
static size_t in_size_full(input_t* in) { return in_size_for(in, 0, true); }

// Alignment: a < 0xE0: 2^(a % 13) (1 B .. 4 KiB); < 0xFC: 8 KiB .. 4 MiB; else 8 .. 64 MiB;
// 16 when the budget cannot pay for it.
static size_t in_align(input_t* in) {
  const uint8_t a = in_u8(in);
  size_t align;
  if (a < 0xE0)
    align = (size_t)1 << (a % 13);
  else if (a < 0xFC)
    align = (size_t)1 << (13 + (a - 0xE0) % 10);
  else
    align = (size_t)8 * MiB << (a & 3);
  return (charge_of(0, align, false) > budget_left ? 16 : align);
}

// Offset for the _at forms: 0; 0..63; or 0..63 KiB in KiB steps.
static size_t in_offset(input_t* in) {
  const uint8_t o = in_u8(in);
  if (o < 0x80) return 0;
  if (o < 0xC0) return o & 0x3F;
  return (size_t)(o & 0x3F) << 10;
}

// Element size for the calloc forms: 1 .. 128 (count = size / elem).
static size_t in_elem(input_t* in) { return (size_t)1 << (in_u8(in) & 7); }

/* ---------------------------------------------------------------------------------------------
   Slots, heaps
--------------------------------------------------------------------------------------------- */
static mi_heap_t* heap_of(int owner) {
  return (owner == OWNER_BACKING ? mi_heap_get_backing() : heaps[owner - 1]);
}

static mi_heap_t* get_heap(int h) {
  if (heaps[h] == NULL) {
    heaps[h] = mi_heap_new();
    if (heaps[h] == NULL) fail("mi_heap_new failed");
  }
  return heaps[h];
}

static void forget(int idx) {
  live_bytes -= slots[idx].size;
  memset(&slots[idx], 0, sizeof(slots[idx]));
}

static void free_slot(int idx, unsigned variant) {
  slot_t* s = &slots[idx];
  if (s->p == NULL) {
    mi_free(NULL);
    return;
  }
  check_block(s, idx, "before free");
  const bool at_zero = (s->align != 0 && s->offset % s->align == 0);
  errno = 4242;
  switch (variant % 7) {
    case 0:
      mi_free(s->p);
      break;
    case 1:
      mi_free_size(s->p, s->size);
      break;
    case 2:
      if (at_zero)
        mi_free_aligned(s->p, s->align);
      else
        mi_free(s->p);
      break;
    case 3:
      if (at_zero)
        mi_free_size_aligned(s->p, s->size, s->align);
      else
        mi_free_size(s->p, s->size);
      break;
    case 4: {
      size_t usable = 0;
      mi_ufree(s->p, &usable);
      if (usable != s->usable) fail("mi_ufree reported %zu, usable size %zu", usable, s->usable);
      break;
    }
    case 5:
      mi_cfree(s->p);
      break;
    default:
      mi_free_small(s->p);
      break;
  }
  if (errno != 4242) fail("a free changed errno to %d", errno);
  forget(idx);
}

// The slot emptied for a new block.
static void empty(int idx) {
  if (slots[idx].p != NULL) free_slot(idx, 0);
}

static void check_reported(const char* how, size_t reported, const void* p) {
  if (reported != SIZE_MAX && reported != mi_usable_size(p)) {
    fail("%s reported %zu, usable size %zu", how, reported, mi_usable_size(p));
  }
}

/* ---------------------------------------------------------------------------------------------
   Operations
--------------------------------------------------------------------------------------------- */
static void op_malloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  empty(idx);
  size_t n = in_size(in);
  size_t reported = SIZE_MAX;
  const size_t elem = (size_t)1 << (v >> 5);  // for the n-forms: count = n / elem
  void* p;
  const char* how;
  switch (v % 8) {
    case 0:
      p = mi_malloc(n);
      how = "mi_malloc";
      break;
    case 1:
      n = whole(n, elem);
      p = mi_mallocn(n / elem, elem);
      how = "mi_mallocn";
      break;
    case 2:
      p = mi_umalloc(n, &reported);
      how = "mi_umalloc";
      break;
    case 3:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_malloc_small(n);
      how = "mi_malloc_small";
      break;
    case 4:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_umalloc_small(n, &reported);
      how = "mi_umalloc_small";
      break;
    case 5:
      p = mi_new(n);
      how = "mi_new";
      break;
    case 6:
      p = mi_new_nothrow(n);
      how = "mi_new_nothrow";
      break;
    default:
      n = whole(n, elem);
      p = mi_new_n(n / elem, elem);
      how = "mi_new_n";
      break;
  }
  log_op(how, idx, "%zu bytes", n, 0, 0, 0);
  new_block(idx, p, n, false, 0, 0, default_owner, true, how);
  check_reported(how, reported, p);
}

static void op_zalloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  empty(idx);
  size_t n = in_size_full(in);
  const size_t elem = in_elem(in);
  size_t reported = SIZE_MAX;
  void* p;
  const char* how;
  switch (v % 5) {
    case 0:
      p = mi_zalloc(n);
      how = "mi_zalloc";
      break;
    case 1:
      n = whole(n, elem);
      p = mi_calloc(n / elem, elem);
      how = "mi_calloc";
      break;
    case 2:
      n = whole(n, elem);
      p = mi_ucalloc(n / elem, elem, &reported);
      how = "mi_ucalloc";
      break;
    case 3:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_zalloc_small(n);
      how = "mi_zalloc_small";
      break;
    default:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_uzalloc_small(n, &reported);
      how = "mi_uzalloc_small";
      break;
  }
  log_op(how, idx, "%zu bytes", n, 0, 0, 0);
  new_block(idx, p, n, true, 0, 0, default_owner, true, how);
  check_reported(how, reported, p);
}

static void op_aligned(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  empty(idx);
  size_t align = in_align(in);
  size_t offset = in_offset(in);
  size_t n = in_size_for(in, align, v % 15 == 7 || (v % 15 >= 2 && v % 15 <= 5));
  bool zero = false;
  size_t reported = SIZE_MAX;
  void* p = NULL;
  const char* how;
  switch (v % 15) {
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
      n = whole(n, 4);
      p = mi_calloc_aligned(n / 4, 4, align);
      how = "mi_calloc_aligned";
      offset = 0;
      zero = true;
      break;
    case 5:
      n = whole(n, 2);
      p = mi_calloc_aligned_at(n / 2, 2, align, offset);
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
    case 13:
      p = mi_new_aligned(n, align);
      how = "mi_new_aligned";
      offset = 0;
      break;
    default:
      p = mi_new_aligned_nothrow(n, align);
      how = "mi_new_aligned_nothrow";
      offset = 0;
      break;
  }
  log_op(how, idx, "%zu bytes, align %zu, offset %zu", n, align, offset, 0);
  new_block(idx, p, n, zero, align, offset, default_owner, false, how);
  check_reported(how, reported, p);
}

// Reallocation of an empty slot is an allocation: the model's block starts empty.
static bool start_fresh(int idx, bool zero, int owner) {
  slot_t* s = &slots[idx];
  if (s->p != NULL) {
    check_block(s, idx, "before realloc");
    return false;
  }
  *s = (slot_t){.seed = new_seed(idx), .owner = owner, .zero_tail = zero, .how = "(none)"};
  return true;
}

// After the reallocation of a fresh slot: a new block, exact as the plain forms make it.
static void fresh_done(int idx, void* p, bool exact) {
  slot_t* s = &slots[idx];
  if (p == NULL) fail("%s(NULL, %zu) returned NULL", s->how, s->size);
  s->usable = mi_usable_size(p);
  if (exact && s->usable != mi_good_size(s->size)) {
    fail("%s(NULL, %zu): usable size %zu, mi_good_size says %zu", s->how, s->size, s->usable,
         mi_good_size(s->size));
  }
  s->exact = exact;
}

static void op_realloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  size_t n = in_size_full(in);
  const bool fresh = start_fresh(idx, false, default_owner);
  slot_t* s = &slots[idx];
  const size_t old = s->size;
  void* p;
  const char* how;
  switch (v % 9) {
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
      const size_t expect = (s->p != NULL ? s->usable : 0);
      p = mi_urealloc(s->p, n, &pre, &post);
      if (pre != expect || (p != NULL && post != mi_usable_size(p))) {
        fail("mi_urealloc reported %zu and %zu, usable sizes %zu and %zu", pre, post, expect,
             p != NULL ? mi_usable_size(p) : 0);
      }
      how = "mi_urealloc";
      break;
    }
    case 4:
      n = whole(n, 8);
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
    case 6:
      p = mi_new_realloc(s->p, n);
      how = "mi_new_realloc";
      break;
    case 7:
      n = whole(n, 4);
      p = mi_new_reallocn(s->p, n / 4, 4);
      how = "mi_new_reallocn";
      break;
    default:
      n = 0;
      p = mi_realloc(s->p, 0);
      how = "mi_realloc(p, 0)";
      break;
  }
  log_op(how, idx, "%zu -> %zu bytes", old, n, 0, 0);
  if (fresh) s->p = (uint8_t*)p;  // realloc(NULL, n) is malloc(n): a new block, not a move
  resized(idx, p, n, false, default_owner, true, how);
  if (fresh) fresh_done(idx, p, true);
}

// The zeroing reallocations, on blocks whose unused tail is zero (else a plain realloc).
static void op_rezalloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  size_t n = in_size_full(in);
  const size_t elem = in_elem(in);
  const bool fresh = start_fresh(idx, true, default_owner);
  slot_t* s = &slots[idx];
  const size_t old = s->size;
  const bool zero = s->zero_tail;
  void* p;
  const char* how;
  if (!zero) {
    p = mi_realloc(s->p, n);
    how = "mi_realloc";
  } else if (v % 2 == 0) {
    p = mi_rezalloc(s->p, n);
    how = "mi_rezalloc";
  } else {
    n = whole(n, elem);
    p = mi_recalloc(s->p, n / elem, elem);
    how = "mi_recalloc";
  }
  log_op(how, idx, "%zu -> %zu bytes", old, n, 0, 0);
  if (fresh) s->p = (uint8_t*)p;
  resized(idx, p, n, zero, default_owner, true, how);
  if (fresh) fresh_done(idx, p, true);
}

static void op_realloc_aligned(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  size_t align = in_align(in);
  const size_t offset_in = in_offset(in);
  const size_t elem = in_elem(in);
  if (align > 4 * MiB) align = 4 * MiB;
  size_t n = in_size_for(in, align, true);
  const bool fresh = start_fresh(idx, true, default_owner);
  slot_t* s = &slots[idx];
  const size_t old = s->size;
  const unsigned kind = (s->zero_tail ? v % 8 : v % 2);
  const size_t offset = (kind % 2 == 1 ? offset_in : 0);  // the _at forms are the odd ones
  bool zero = true;
  void* p;
  const char* how;
  switch (kind) {
    case 0:
      p = mi_realloc_aligned(s->p, n, align);
      how = "mi_realloc_aligned";
      zero = false;
      break;
    case 1:
      p = mi_realloc_aligned_at(s->p, n, align, offset);
      how = "mi_realloc_aligned_at";
      zero = false;
      break;
    case 2:
      p = mi_rezalloc_aligned(s->p, n, align);
      how = "mi_rezalloc_aligned";
      break;
    case 3:
      p = mi_rezalloc_aligned_at(s->p, n, align, offset);
      how = "mi_rezalloc_aligned_at";
      break;
    case 4:
      n = whole(n, elem);
      p = mi_recalloc_aligned(s->p, n / elem, elem, align);
      how = "mi_recalloc_aligned";
      break;
    case 5:
      n = whole(n, elem);
      p = mi_recalloc_aligned_at(s->p, n / elem, elem, align, offset);
      how = "mi_recalloc_aligned_at";
      break;
    case 6:
      n = whole(n, elem);
      p = mi_aligned_recalloc(s->p, n / elem, elem, align);
      how = "mi_aligned_recalloc";
      break;
    default:
      n = whole(n, elem);
      p = mi_aligned_offset_recalloc(s->p, n / elem, elem, align, offset);
      how = "mi_aligned_offset_recalloc";
      break;
  }
  log_op(how, idx, "%zu -> %zu bytes, align %zu, offset %zu", old, n, align, offset);
  const bool moved = fresh || (p != (void*)s->p);
  const size_t old_align = s->align, old_offset = s->offset;
  if (fresh) s->p = (uint8_t*)p;
  resized(idx, p, n, zero, default_owner, false, how);
  s->align = (moved ? align : old_align);
  s->offset = (moved ? offset : old_offset);
  if (((uintptr_t)s->p + offset) % align != 0) {
    fail("%s: %p + %zu is not aligned to %zu (slot %d)", how, (void*)s->p, offset, align, idx);
  }
}

static void op_free(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  log_op("free", idx, "variant %zu, %zu bytes", v % 7, slots[idx].size, 0, 0);
  free_slot(idx, v);
}

static void op_usable(input_t* in) {
  const int idx = in_slot(in);
  slot_t* s = &slots[idx];
  log_op("usable size and ownership", idx, NULL, 0, 0, 0, 0);
  if (s->p == NULL) {
    if (mi_usable_size(NULL) != 0) fail("mi_usable_size(NULL) = %zu", mi_usable_size(NULL));
    return;
  }
  check_block(s, idx, "usable size");
  const size_t usable = mi_usable_size(s->p);
  if (usable != s->usable) fail("slot %d: usable size %zu, was %zu", idx, usable, s->usable);
  if (mi_malloc_usable_size(s->p) != usable || mi_malloc_size(s->p) != usable) {
    fail("slot %d: mi_malloc_usable_size / mi_malloc_size differ from mi_usable_size", idx);
  }
  if (mi_malloc_good_size(s->size) != mi_good_size(s->size) || mi_good_size(s->size) < s->size) {
    fail("slot %d: mi_good_size(%zu) = %zu", idx, s->size, mi_good_size(s->size));
  }
  if (!mi_is_in_heap_region(s->p)) fail("slot %d: %p not in the heap region", idx, (void*)s->p);
  for (int o = 0; o <= NHEAPS; o++) {
    if (o > 0 && heaps[o - 1] == NULL) continue;
    const bool mine = (o == s->owner);
    if (mi_heap_contains_block(heap_of(o), s->p) != mine) {
      fail("slot %d (owner %d): mi_heap_contains_block(owner %d) says %d", idx, s->owner, o, !mine);
    }
    if (((uintptr_t)s->p & 7) == 0 && mi_heap_check_owned(heap_of(o), s->p) != mine) {
      fail("slot %d (owner %d): mi_heap_check_owned(owner %d) says %d", idx, s->owner, o, !mine);
    }
  }
  if (((uintptr_t)s->p & 7) == 0 && mi_check_owned(s->p) != (s->owner == default_owner)) {
    fail("slot %d (owner %d, default %d): mi_check_owned is wrong", idx, s->owner, default_owner);
  }
}

static void op_expand(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  size_t n = in_size(in);
  slot_t* s = &slots[idx];
  if (s->p == NULL) return;
  check_block(s, idx, "before expand");
  if (v & 1) n = s->usable;  // the whole usable size must be usable
  errno = 0;
  void* p = (v & 2 ? mi__expand(s->p, n) : mi_expand(s->p, n));
  log_op("mi_expand", idx, "%zu -> %zu bytes, usable %zu, result %#zx", s->size, n, s->usable,
         (size_t)(uintptr_t)p);
  if (n <= s->usable ? p != (void*)s->p : p != NULL) {
    fail("mi_expand(%p, %zu) returned %p (usable size %zu)", (void*)s->p, n, p, s->usable);
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
    s->size = n;  // the tail was zero: it is part of the block now, still zero
    for_samples(n, old, n, &range_check, s, idx, "mi_expand (zero tail)");
  } else {
    s->size = n;
    fill_samples(s, idx, s->filled, n);
    s->filled = n;
  }
  if (n > DENSE && s->filled > n - WINDOW) fill_range(s->p, n - WINDOW, s->filled, s->seed);
  s->exact = false;
  live_bytes += n - old;
}

// Writes the pattern over the zeros of a zeroed block.
static void op_fill(input_t* in) {
  const int idx = in_slot(in);
  slot_t* s = &slots[idx];
  log_op("fill", idx, "bytes %zu..%zu", s->filled, s->size, 0, 0);
  if (s->p == NULL) return;
  check_block(s, idx, "before fill");
  fill_samples(s, idx, s->filled, s->size);
  s->filled = s->size;
}

// String duplicates: the copy checked, then the block joins the model with the pattern.
static void op_strdup(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  const int h = in_u8(in) % NHEAPS;
  char text[72];
  const size_t len = in_u8(in) % 64;
  for (size_t i = 0; i < len; i++) {
    const uint8_t c = in_u8(in);
    text[i] = (char)(c == 0 ? 'z' : c);
  }
  text[len] = 0;
  const size_t limit = in_u8(in) % 72;
  empty(idx);
  if (!spend((len + 1) * sizeof(wchar_t), 0, true)) return;
  int owner = default_owner;
  size_t expect = len;
  void* p;
  const char* how;
  switch (v % 7) {
    case 0:
      p = mi_strdup(text);
      how = "mi_strdup";
      break;
    case 1:
      p = mi_strndup(text, limit);
      expect = (limit < len ? limit : len);
      how = "mi_strndup";
      break;
    case 2:
      p = mi_heap_strdup(get_heap(h), text);
      owner = h + 1;
      how = "mi_heap_strdup";
      break;
    case 3:
      p = mi_heap_strndup(get_heap(h), text, limit);
      expect = (limit < len ? limit : len);
      owner = h + 1;
      how = "mi_heap_strndup";
      break;
    case 4:
      p = mi_mbsdup((const unsigned char*)text);
      how = "mi_mbsdup";
      break;
    case 5: {
      wchar_t wide[72];
      for (size_t i = 0; i <= len; i++) wide[i] = (wchar_t)(unsigned char)text[i];
      p = mi_wcsdup(wide);
      how = "mi_wcsdup";
      if (p == NULL) fail("mi_wcsdup returned NULL");
      if (wcscmp((const wchar_t*)p, wide) != 0) fail("mi_wcsdup: the copy differs");
      log_op(how, idx, "%zu chars", len, 0, 0, 0);
      new_block(idx, p, (len + 1) * sizeof(wchar_t), false, 0, 0, owner, false, how);
      return;
    }
    default: {
      static const char* const names[] = {"PATH", "HOME", "SHARDALLOC_FUZZ_API_UNSET"};
      const char* name = names[limit % 3];
      char* buf = text;  // (must be overwritten)
      size_t size = 12345;
      const int err = mi_dupenv_s(&buf, &size, name);
      const char* env = getenv(name);
      log_op("mi_dupenv_s", idx, "name %zu of 3", limit % 3, 0, 0, 0);
      if (err != 0) fail("mi_dupenv_s(%s) returned %d", name, err);
      if (env == NULL) {
        if (buf != NULL || size != 0)
          fail("mi_dupenv_s(%s): %p, %zu for an unset name", name, (void*)buf, size);
        return;
      }
      if (buf == NULL || strcmp(buf, env) != 0 || size != strlen(env) + 1) {
        fail("mi_dupenv_s(%s): not the value (size %zu)", name, size);
      }
      new_block(idx, buf, size, false, 0, 0, default_owner, true, "mi_dupenv_s");
      return;
    }
  }
  log_op(how, idx, "%zu chars, limit %zu", len, limit, 0, 0);
  if (p == NULL) fail("%s returned NULL", how);
  if (memcmp(p, text, expect) != 0 || ((const char*)p)[expect] != 0) {
    fail("%s: the copy of %zu chars differs", how, expect);
  }
  new_block(idx, p, expect + 1, false, 0, 0, owner, true, how);
}

static void op_heap_new(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_new", -1, "heap %zu", (size_t)h, 0, 0, 0);
  get_heap(h);
}

// The heap allocation forms (the reallocating ones move a slot's block into the heap).
static void op_heap_alloc(input_t* in) {
  const unsigned v = in_u8(in);
  const int h = in_u8(in) % NHEAPS;
  const int idx = in_slot(in);
  const size_t align_in = in_align(in);
  const size_t offset = in_offset(in);
  const size_t elem = in_elem(in);
  const size_t align = (align_in > 4 * MiB ? 4 * MiB : align_in);
  mi_heap_t* heap = get_heap(h);
  const unsigned kind = v % 22;
  if (kind >= 13) {
    size_t n = in_size_for(in, align, true);
    const bool fresh = start_fresh(idx, true, h + 1);
    slot_t* s = &slots[idx];
    const size_t old = s->size;
    const bool tail0 = s->zero_tail;
    bool zero = false;
    bool exact = true;
    size_t al = 0, off = 0;
    void* p;
    const char* how;
    switch (kind) {
      case 13:
        p = mi_heap_realloc(heap, s->p, n);
        how = "mi_heap_realloc";
        break;
      case 14:
        p = mi_heap_reallocf(heap, s->p, n);
        how = "mi_heap_reallocf";
        break;
      case 15:
        n = whole(n, elem);
        p = mi_heap_reallocn(heap, s->p, n / elem, elem);
        how = "mi_heap_reallocn";
        break;
      case 16:
        p = mi_heap_realloc_aligned(heap, s->p, n, align);
        how = "mi_heap_realloc_aligned";
        al = align;
        exact = false;
        break;
      case 17:
        p = mi_heap_realloc_aligned_at(heap, s->p, n, align, offset);
        how = "mi_heap_realloc_aligned_at";
        al = align;
        off = offset;
        exact = false;
        break;
      default:
        if (!tail0) {
          p = mi_heap_realloc(heap, s->p, n);
          how = "mi_heap_realloc";
        } else if (kind == 18) {
          p = mi_heap_rezalloc(heap, s->p, n);
          how = "mi_heap_rezalloc";
          zero = true;
        } else if (kind == 19) {
          n = whole(n, elem);
          p = mi_heap_recalloc(heap, s->p, n / elem, elem);
          how = "mi_heap_recalloc";
          zero = true;
        } else if (kind == 20) {
          p = mi_heap_rezalloc_aligned_at(heap, s->p, n, align, offset);
          how = "mi_heap_rezalloc_aligned_at";
          al = align;
          off = offset;
          exact = false;
          zero = true;
        } else {
          n = whole(n, elem);
          p = mi_heap_recalloc_aligned(heap, s->p, n / elem, elem, align);
          how = "mi_heap_recalloc_aligned";
          al = align;
          exact = false;
          zero = true;
        }
        break;
    }
    log_op(how, idx, "heap %zu, %zu -> %zu bytes, align %zu", (size_t)h, old, n, al);
    const bool moved = fresh || (p != (void*)s->p);
    const size_t old_align = s->align, old_offset = s->offset;
    if (fresh) s->p = (uint8_t*)p;
    resized(idx, p, n, zero, h + 1, exact, how);
    if (fresh) fresh_done(idx, p, exact);
    if (al != 0) {
      s->align = (moved ? al : old_align);
      s->offset = (moved ? off : old_offset);
      if (((uintptr_t)s->p + off) % al != 0)
        fail("%s: %p + %zu not aligned to %zu", how, p, off, al);
    }
    if (moved && !mi_heap_contains_block(heap, p))
      fail("%s: %p is not a block of heap %d", how, p, h);
    return;
  }
  empty(idx);
  size_t n =
      in_size_for(in, align, kind == 1 || kind == 2 || kind == 5 || (kind >= 8 && kind <= 10));
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
      n = whole(n, elem);
      p = mi_heap_calloc(heap, n / elem, elem);
      how = "mi_heap_calloc";
      zero = true;
      break;
    case 3:
      n = whole(n, elem);
      p = mi_heap_mallocn(heap, n / elem, elem);
      how = "mi_heap_mallocn";
      break;
    case 4:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_heap_malloc_small(heap, n);
      how = "mi_heap_malloc_small";
      break;
    case 5:
      if (n > MI_SMALL_SIZE_MAX) n &= MI_SMALL_SIZE_MAX - 1;
      p = mi_heap_zalloc_small(heap, n);
      how = "mi_heap_zalloc_small";
      zero = true;
      break;
    case 6:
      p = mi_heap_malloc_aligned(heap, n, align);
      how = "mi_heap_malloc_aligned";
      al = align;
      exact = false;
      break;
    case 7:
      p = mi_heap_malloc_aligned_at(heap, n, align, offset);
      how = "mi_heap_malloc_aligned_at";
      al = align;
      off = offset;
      exact = false;
      break;
    case 8:
      p = mi_heap_zalloc_aligned(heap, n, align);
      how = "mi_heap_zalloc_aligned";
      al = align;
      exact = false;
      zero = true;
      break;
    case 9:
      p = mi_heap_zalloc_aligned_at(heap, n, align, offset);
      how = "mi_heap_zalloc_aligned_at";
      al = align;
      off = offset;
      exact = false;
      zero = true;
      break;
    case 10:
      n = whole(n, elem);
      p = mi_heap_calloc_aligned_at(heap, n / elem, elem, align, offset);
      how = "mi_heap_calloc_aligned_at";
      al = align;
      off = offset;
      exact = false;
      zero = true;
      break;
    case 11:
      p = mi_heap_alloc_new(heap, n);
      how = "mi_heap_alloc_new";
      break;
    default:
      n = whole(n, elem);
      p = mi_heap_alloc_new_n(heap, n / elem, elem);
      how = "mi_heap_alloc_new_n";
      break;
  }
  log_op(how, idx, "heap %zu, %zu bytes, align %zu, offset %zu", (size_t)h, n, al, off);
  new_block(idx, p, n, zero, al, off, h + 1, exact, how);
  if (!mi_heap_contains_block(heap, p)) fail("%s: %p is not a block of heap %d", how, p, h);
}

/* ---------------------------------------------------------------------------------------------
   Visiting: the live blocks a heap reports must be the model's, each exactly once
--------------------------------------------------------------------------------------------- */
typedef struct visit_s {
  int owner;
  size_t areas_used, blocks;
  size_t foreign;  // blocks of the backing heap the model does not know (backing_baseline)
  bool seen[NSLOTS];
} visit_t;

// The slot of `owner` whose block lies in [b, b + size), or -1.
NO_INSTRUMENT static int slot_in(int owner, const uint8_t* b, size_t size) {
  int found = -1;
  for (int i = 0; i < NSLOTS; i++) {
    const slot_t* s = &slots[i];
    if (s->p == NULL || s->owner != owner || s->p < b || s->p >= b + size) continue;
    if (found >= 0) fail("visit: block %p holds slots %d and %d", (const void*)b, found, i);
    found = i;
  }
  return found;
}

static bool visitor(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                    size_t block_size, void* arg) {
  (void)heap;
  visit_t* v = (visit_t*)arg;
  if (block_size != area->block_size) {
    fail("visit: block_size %zu, the area's %zu", block_size, area->block_size);
  }
  if (block == NULL) {
    if (area->used * area->block_size > area->committed || area->committed > area->reserved) {
      fail("visit: area of %zu-byte blocks: used %zu, committed %zu, reserved %zu",
           area->block_size, area->used, area->committed, area->reserved);
    }
    v->areas_used += area->used;
    return true;
  }
  v->blocks++;
  const int found = slot_in(v->owner, (const uint8_t*)block, block_size);
  const uint8_t* b = (const uint8_t*)block;
  if (found < 0 && v->owner == OWNER_BACKING) {
    for (int h = 0; h < NHEAPS; h++) {
      if (block == (void*)heaps[h]) return true;  // a heap's own record lives in the backing heap
    }
  }
  if (found < 0 && v->owner == OWNER_BACKING && v->foreign < backing_baseline) {
    v->foreign++;  // the program's own block (replay.c linked with the override)
    return true;
  }
  if (found < 0) {
    fail("visit: block %p (%zu bytes) of owner %d is no live block of the model", block, block_size,
         v->owner);
  }
  slot_t* s = &slots[found];
  if (v->seen[found]) fail("visit: slot %d (%p) visited twice", found, (void*)s->p);
  v->seen[found] = true;
  if (s->p + s->usable > b + block_size) {
    fail("visit: slot %d (%p, usable %zu) does not fit its block %p of %zu bytes", found,
         (void*)s->p, s->usable, block, block_size);
  }
  if (s->p == b && block_size != s->usable) {
    fail("visit: slot %d (%p): block size %zu, usable size %zu", found, block, block_size,
         s->usable);
  }
  check_block(s, found, "visited block");
  return true;
}

static bool area_counter(const mi_heap_t* heap, const mi_heap_area_t* area, void* block,
                         size_t block_size, void* arg) {
  (void)heap;
  (void)block;
  (void)block_size;
  *(size_t*)arg += area->used;
  return true;
}

// The blocks in use the heap's areas report, nothing checked.
static size_t heap_used(mi_heap_t* heap) {
  size_t used = 0;
  if (!mi_heap_visit_blocks(heap, false, &area_counter, &used)) fail("mi_heap_visit_blocks failed");
  return used;
}

NO_INSTRUMENT static size_t model_count(int owner) {
  size_t n = 0;
  for (int i = 0; i < NSLOTS; i++) n += (slots[i].p != NULL && slots[i].owner == owner);
  return n;
}

// Visits the owner's heap; with blocks, each must be a model block of it, and all of them seen.
static size_t visit(int owner, bool blocks) {
  visit_t v;
  memset(&v, 0, sizeof(v));
  v.owner = owner;
  if (!mi_heap_visit_blocks(heap_of(owner), blocks, &visitor, &v))
    fail("mi_heap_visit_blocks failed");
  size_t expect = model_count(owner);
  if (owner == OWNER_BACKING) {
    expect += backing_baseline;
    for (int h = 0; h < NHEAPS; h++) expect += (heaps[h] != NULL);
  }
  if (v.areas_used != expect) {
    fail("visit (owner %d): the areas count %zu blocks in use, the model %zu", owner, v.areas_used,
         expect);
  }
  if (blocks) {
    if (v.blocks != v.areas_used) {
      fail("visit (owner %d): %zu blocks visited, the areas count %zu", owner, v.blocks,
           v.areas_used);
    }
    for (int i = 0; i < NSLOTS; i++) {
      if (slots[i].p != NULL && slots[i].owner == owner && !v.seen[i]) {
        fail("visit (owner %d): slot %d (%p) not visited", owner, i, (void*)slots[i].p);
      }
    }
  }
  return v.areas_used;
}

static void op_visit(input_t* in) {
  const unsigned v = in_u8(in);
  const int o = (int)(v >> 1) % (NHEAPS + 1);
  log_op("mi_heap_visit_blocks", -1, "owner %zu, blocks %zu", (size_t)o, v & 1, 0, 0);
  if (o > 0 && heaps[o - 1] == NULL) return;
  visit(o, v & 1);
}

static void heap_destroy(int h) {
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && slots[i].owner == h + 1) check_block(&slots[i], i, "heap destroy");
  }
  visit(h + 1, false);
  mi_heap_destroy(heaps[h]);
  heaps[h] = NULL;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && slots[i].owner == h + 1) forget(i);
  }
  if (default_owner == h + 1) default_owner = OWNER_BACKING;
}

static void heap_delete(int h) {
  visit(h + 1, false);
  mi_heap_delete(heaps[h]);
  heaps[h] = NULL;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL && slots[i].owner == h + 1) slots[i].owner = OWNER_BACKING;
  }
  if (default_owner == h + 1) default_owner = OWNER_BACKING;
}

static void op_heap_destroy(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_destroy", -1, "heap %zu", (size_t)h, 0, 0, 0);
  if (heaps[h] != NULL) heap_destroy(h);
}

static void op_heap_delete(input_t* in) {
  const int h = in_u8(in) % NHEAPS;
  log_op("mi_heap_delete", -1, "heap %zu", (size_t)h, 0, 0, 0);
  if (heaps[h] != NULL) heap_delete(h);
}

static void op_heap_default(input_t* in) {
  const int h = in_u8(in) % (NHEAPS + 1);
  log_op("mi_heap_set_default", -1, "heap %zu (3: backing)", (size_t)h, 0, 0, 0);
  if (h == NHEAPS) {
    mi_heap_set_default(mi_heap_get_backing());
    default_owner = OWNER_BACKING;
  } else {
    mi_heap_set_default(get_heap(h));
    default_owner = h + 1;
  }
  if (mi_heap_get_default() != heap_of(default_owner)) fail("mi_heap_set_default had no effect");
}

/* Collection: v % 4 < 2: mi_collect, else heap (v >> 2) % 3's mi_heap_collect; forced when
   v >= 0xF8 (1 in 32: a forced collect purges all free memory at once, and the page faults of
   touching it again are the most expensive thing an input can do here). */
static void op_collect(input_t* in) {
  const unsigned v = in_u8(in);
  const bool force = (v >= 0xF8);
  log_op("collect", -1, "variant %zu, force %zu", v % 4, force, 0, 0);
  if (v % 4 < 2) {
    mi_collect(force);
  } else {
    const int h = (int)(v >> 2) % NHEAPS;
    if (heaps[h] != NULL) mi_heap_collect(heaps[h], force);
  }
}

static size_t opaque(size_t n) {
  volatile size_t v = n;
  return v;
}

// Calls that must fail cleanly: NULL with errno set, a block given to a failed call intact.
static void op_errors(input_t* in) {
  const unsigned v = in_u8(in);
  const int idx = in_slot(in);
  slot_t* s = &slots[idx];
  log_op("failing call", idx, "variant %zu", v % 8, 0, 0, 0);
  errors_expected++;
  errno = 0;
  void* p = NULL;
  int want = ENOMEM;
  switch (v % 8) {
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
      int err = 0;
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
    case 5:
      p = (s->p != NULL ? mi_realloc(s->p, opaque(PTRDIFF_MAX)) : mi_malloc(opaque(PTRDIFF_MAX)));
      break;
    case 6:
      p = mi_heap_calloc(mi_heap_get_default(), opaque(SIZE_MAX / 8), 16);
      break;
    default:
      p = (s->p != NULL ? mi_expand(s->p, opaque(SIZE_MAX / 2)) : mi_zalloc(opaque(SIZE_MAX / 2)));
      if (s->p != NULL) errno = ENOMEM;  // (mi_expand need not set errno: only NULL counts)
      break;
  }
  const int got = errno;
  errors_expected--;
  if (p != NULL || got != want) {
    fail("failing call variant %u returned %p with errno %d (expected NULL, %d)", v % 8, p, got,
         want);
  }
  if (s->p != NULL) check_block(s, idx, "after a failed call");
}

#ifdef FUZZ_SELFTEST
// Self-test builds only: damages one byte of a live block (in its first 4 KiB: a sampled byte).
static void op_corrupt(input_t* in) {
  const int idx = in_slot(in);
  const size_t pos = in_u16(in);
  const uint8_t flip = in_u8(in) | 1;
  slot_t* s = &slots[idx];
  const size_t span = (s->size < DENSE ? s->size : DENSE);
  log_op("SELFTEST corrupt", idx, "byte %zu", span ? pos % span : 0, 0, 0, 0);
  if (s->p != NULL && span > 0) s->p[pos % span] ^= flip;
}
#endif

/* ---------------------------------------------------------------------------------------------
   Operation codes: the low five bits of the code byte (more codes for the common calls)
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
  OP_STRDUP,
  OP_HEAP_NEW,
  OP_HEAP_ALLOC,
  OP_HEAP_DESTROY,
  OP_HEAP_DELETE,
  OP_HEAP_DEFAULT,
  OP_VISIT,
  OP_COLLECT,
  OP_ERRORS,
  OP_CHECK_ALL,
  OP_CORRUPT
} op_t;

// clang-format off
static const uint8_t op_of_code[32] = {
    OP_MALLOC, OP_ZALLOC, OP_ALIGNED, OP_REALLOC, OP_REZALLOC, OP_REALLOC_ALIGNED, OP_FREE,   // 0..6
    OP_USABLE, OP_EXPAND, OP_FILL, OP_STRDUP, OP_HEAP_NEW, OP_HEAP_ALLOC, OP_HEAP_DESTROY,   // 7..13
    OP_HEAP_DELETE, OP_HEAP_DEFAULT, OP_VISIT, OP_COLLECT, OP_ERRORS, OP_CHECK_ALL,          // 14..19
    OP_MALLOC, OP_MALLOC, OP_FREE, OP_FREE, OP_FREE, OP_REALLOC, OP_ALIGNED, OP_HEAP_ALLOC,  // 20..27
    OP_HEAP_ALLOC, OP_ZALLOC, OP_VISIT,                                                      // 28..30
    OP_CORRUPT,  // 31: FUZZ_SELFTEST builds only; else a check of every block
};
// clang-format on

static void run_op(input_t* in) {
  op_t op = (op_t)op_of_code[in_u8(in) & 31];
#ifndef FUZZ_SELFTEST
  if (op == OP_CORRUPT) op = OP_CHECK_ALL;
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
    case OP_STRDUP:
      op_strdup(in);
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
    case OP_VISIT:
      op_visit(in);
      break;
    case OP_COLLECT:
      op_collect(in);
      break;
    case OP_ERRORS:
      op_errors(in);
      break;
    case OP_CHECK_ALL:
      log_op("check all", -1, NULL, 0, 0, 0, 0);
      check_all("check all");
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
  // Free memory goes back after a second, not 10 ms: a purge makes the next inputs fault the
  // memory in again, the most expensive thing here (purging itself still runs: forced collects,
  // and whatever stays free for a second).
  mi_option_set(mi_option_purge_delay, 1000);
  initialized = true;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!initialized) LLVMFuzzerInitialize(NULL, NULL);
  oplog.n = 0;
  budget_left = BUDGET;
  // Whatever the backing heap holds between inputs is left alone: nothing under libFuzzer (the
  // last input's final count says so), the replay program's own blocks when it runs the harness
  // with the override (FUZZ_REPLAY: it allocates and frees between inputs, so count again).
#ifndef FUZZ_REPLAY
  if (!baseline_known)
#endif
    backing_baseline = heap_used(mi_heap_get_backing());
  baseline_known = true;
  input_t in = {data, size};
  while (in.n > 0) {
    run_op(&in);
    spot_check();
  }
  // The end: every block checked and counted (the heaps' own as they go), everything freed.
  log_op("end of input", -1, NULL, 0, 0, 0, 0);
  check_all("end of input");
  visit(OWNER_BACKING, false);
  if (default_owner != OWNER_BACKING) {
    mi_heap_set_default(mi_heap_get_backing());
    default_owner = OWNER_BACKING;
  }
  for (int h = 0; h < NHEAPS; h++) {
    if (heaps[h] == NULL) continue;
    if (h % 2 == 0)
      heap_destroy(h);
    else
      heap_delete(h);
  }
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].p != NULL) free_slot(i, (unsigned)i);
  }
  if (live_bytes != 0)
    fail("%zu live bytes left in the model after freeing everything", live_bytes);
  visit(OWNER_BACKING, false);  // nothing left behind, nothing freed twice
  return 0;
}
