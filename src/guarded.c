/* Guarded sampling (the GWP-ASan idea): about one eligible allocation in N is placed right before
 * an inaccessible OS page, and kept inaccessible for a while after it is freed, so that an
 * overflow or a use after free faults at the faulting instruction; the fault handler names the
 * block. The malloc hit path knows nothing of it: while a heap samples, the slow path hands pages
 * out with at most as many blocks on their free lists as allocations remain before the next
 * sample (_mi_guarded_page_expose), so it runs again in time. Calls: heap allocation and free,
 * OS protection, the platform's fault handler. The registry is shared by all threads (a lock;
 * the fault handler reads it without one). */
#include "internal/internal.h"

/* A guarded block is an ordinary block of a page marked as holding aligned blocks (so every free
   of it takes the generic path, which finds the block start), laid out as
     [header | ... | object (size bytes) | guard page | rest]
   with the object ending exactly at the guard page (`precise`) or at the size rounded up to 16
   bytes, and the header (two words) at the block start, on a page the object never shares. */
typedef struct mi_guarded_header_s {
  uintptr_t magic;  // block address ^ process secret ^ MI_GUARDED_MAGIC
  uintptr_t slot;   // its registry entry
} mi_guarded_header_t;

#define MI_GUARDED_MAGIC      ((uintptr_t)0x6775617264656421ull)
#define MI_GUARDED_SLOTS      4096  // live and freed guarded blocks at most (each splits mappings)
#define MI_GUARDED_QUARANTINE 64    // freed guarded blocks kept inaccessible, oldest released first

typedef enum mi_guarded_state_e { MI_GUARDED_FREE, MI_GUARDED_LIVE, MI_GUARDED_FREED } mi_guarded_state_t;

// Written under the lock, read by the fault handler without it (word by word: a report read in
// the middle of an update may name the wrong size, nothing worse).
typedef struct mi_guarded_entry_s {
  _Atomic(uintptr_t) block;  // start of the underlying block
  _Atomic(uintptr_t) p;      // what the program got
  _Atomic(size_t) size;      // what it asked for
  _Atomic(uintptr_t) guard;  // the guard page
  _Atomic(int) state;        // mi_guarded_state_t
  size_t gen;                // changes at each reuse (quarantine entries name slot and gen)
} mi_guarded_entry_t;

static mi_guarded_entry_t mi_guarded_slots[MI_GUARDED_SLOTS];
_Atomic(bool) _mi_guarded_used;  // set by the first guarded block: frees and sizes look from then
static pthread_mutex_t mi_guarded_lock = PTHREAD_MUTEX_INITIALIZER;
// (under the lock:)
static uint16_t mi_guarded_free_stack[MI_GUARDED_SLOTS];
static size_t mi_guarded_free_top;
static bool mi_guarded_free_stack_ready;
static size_t mi_guarded_in_use;      // live + freed entries: the fault handler is installed while > 0
static struct { uint16_t slot; size_t gen; } mi_guarded_quarantine[MI_GUARDED_QUARANTINE];
static size_t mi_guarded_q_head, mi_guarded_q_count;

static size_t mi_guarded_page(void) { return _mi_os_page_size(); }

/* ---------------------------------------------------------------------------------------------
   Per-heap settings and the sampling sequence
--------------------------------------------------------------------------------------------- */
static uint64_t mi_guarded_next_random(mi_heap_t* heap) {  // splitmix64
  uint64_t z = (heap->guarded_seed += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Eligible allocations to let pass before the next guarded one: uniform in [0, 2*rate - 2], so
// one in `rate` on average (rate 1: every one).
static size_t mi_guarded_interval(mi_heap_t* heap) {
  if (heap->guarded_rate <= 1) return 0;
  return (size_t)(mi_guarded_next_random(heap) % (2 * heap->guarded_rate - 1));
}

// Eligibility goes by size class: a request is eligible when its class lies between the classes
// of the bounds, that is when it lies in [guarded_size_min, guarded_size_max]: the first size of
// the lower bound's class and the last of the upper bound's (no class computed per request).
static size_t mi_guarded_class_first(size_t size) {
  if (size > MI_LARGE_OBJ_SIZE_MAX) return size;
  const size_t bin = _mi_bin(size);
  return (bin <= 1 ? 1 : _mi_bin_size(bin - 1) + 1);
}

static void mi_heap_guarded_set_rate(mi_heap_t* heap, size_t rate, size_t seed) {
  heap->guarded_rate = rate;
  heap->generic_size_max = (rate != 0 ? 0 : MI_MAX_ALLOC_SIZE);  // (page.c: the sampled path)
  heap->guarded_seed = (seed != 0 ? (uint64_t)seed : (uint64_t)_mi_heap_random_next(heap));
  heap->guarded_countdown = mi_guarded_interval(heap);
}

static void mi_heap_guarded_set_bounds(mi_heap_t* heap, size_t min, size_t max) {
  const size_t lo = (min == 0 ? 1 : min);
  heap->guarded_size_min =
      mi_guarded_class_first(lo > SIZE_MAX - MI_PADDING ? SIZE_MAX : lo + MI_PADDING);
  heap->guarded_size_max = (max > MI_LARGE_OBJ_SIZE_MAX - MI_PADDING
                                ? SIZE_MAX
                                : _mi_bin_size(_mi_bin(max + MI_PADDING)));
}

// A new heap takes the options (MIMALLOC_GUARDED_*).
void _mi_heap_guarded_init(mi_heap_t* heap) {
  const long rate = mi_option_get(mi_option_guarded_sample_rate);
  const long seed = mi_option_get(mi_option_guarded_sample_seed);
  const long min = mi_option_get(mi_option_guarded_min);
  const long max = mi_option_get(mi_option_guarded_max);
  mi_heap_guarded_set_bounds(heap, min < 0 ? 0 : (size_t)min, max < 0 ? 0 : (size_t)max);
  mi_heap_guarded_set_rate(heap, rate < 0 ? 0 : (size_t)rate, seed < 0 ? 0 : (size_t)seed);
}

static bool mi_heap_guarded_owned(mi_heap_t* heap, const char* fn) {
  if (heap == NULL || !mi_heap_is_initialized(heap) || heap->thread_id != _mi_thread_id()) {
    _mi_warning_message("%s: %p is not a heap of this thread", fn, (void*)heap);
    return false;
  }
  return true;
}

void mi_heap_guarded_set_sample_rate(mi_heap_t* heap, size_t sample_rate, size_t seed) mi_attr_noexcept {
  if (!mi_heap_guarded_owned(heap, "mi_heap_guarded_set_sample_rate")) return;
  mi_heap_guarded_set_rate(heap, sample_rate, seed);
}

void mi_heap_guarded_set_size_bound(mi_heap_t* heap, size_t min, size_t max) mi_attr_noexcept {
  if (!mi_heap_guarded_owned(heap, "mi_heap_guarded_set_size_bound")) return;
  mi_heap_guarded_set_bounds(heap, min, max);
}

/* The slow path is about to hand out `page`'s free list (the page is the heap's): leave on it at
   most as many blocks as eligible allocations remain before the next sample (at least the one
   handed out now) and count them as done; the rest waits on local_free, which is swapped in when
   `free` runs dry, in the slow path. Pages of sizes above the direct table's are not cut: every
   allocation of those sizes comes through the slow path. */
void _mi_guarded_page_expose(mi_heap_t* heap, mi_page_t* page) {
  const size_t bsize = mi_page_block_size(page);
  if (bsize > MI_SMALL_SIZE_MAX || bsize < heap->guarded_size_min || bsize > heap->guarded_size_max) {
    return;
  }
  const size_t keep = (heap->guarded_countdown == 0 ? 1 : heap->guarded_countdown);
  // (cheap when the page has fewer free blocks than that: no walk, they all count as used)
  const size_t free_max = (size_t)page->capacity - page->used;
  if (free_max <= keep) {
    heap->guarded_countdown -= (free_max < heap->guarded_countdown ? free_max : heap->guarded_countdown);
    return;
  }
  mi_block_t* last = page->free;
  size_t n = 1;
  mi_block_t* rest;
  while ((rest = mi_block_next(page, last)) != NULL && n < keep) {
    last = rest;
    n++;
  }
  heap->guarded_countdown -= (n < heap->guarded_countdown ? n : heap->guarded_countdown);
  if (rest == NULL) return;
  mi_block_set_next(page, last, NULL);
  if (page->local_free == NULL) {
    page->local_free = rest;
  } else {  // (local_free holds what other threads freed just now: short)
    mi_block_t* tail = page->local_free;
    for (mi_block_t* next; (next = mi_block_next(page, tail)) != NULL;) tail = next;
    mi_block_set_next(page, tail, rest);
  }
}

/* ---------------------------------------------------------------------------------------------
   The registry
--------------------------------------------------------------------------------------------- */
static bool mi_guarded_describe(void* addr, char* buf, size_t size);

// Under the lock. The fault handler is there while any guard page is.
static void mi_guarded_in_use_add(long delta) {
  const size_t before = mi_guarded_in_use;
  mi_guarded_in_use = (size_t)((long)mi_guarded_in_use + delta);
  if (before == 0 && mi_guarded_in_use > 0) _mi_prim_fault_handler(true, &mi_guarded_describe);
  if (before > 0 && mi_guarded_in_use == 0) _mi_prim_fault_handler(false, NULL);
}

static bool mi_guarded_slot_take(size_t* slot) {
  if (!mi_guarded_free_stack_ready) {
    for (size_t i = 0; i < MI_GUARDED_SLOTS; i++) {
      mi_guarded_free_stack[i] = (uint16_t)(MI_GUARDED_SLOTS - 1 - i);
    }
    mi_guarded_free_top = MI_GUARDED_SLOTS;
    mi_guarded_free_stack_ready = true;
  }
  if (mi_guarded_free_top == 0) return false;
  *slot = mi_guarded_free_stack[--mi_guarded_free_top];
  return true;
}

static uintptr_t mi_guarded_magic(const void* block) {
  return (uintptr_t)block ^ _mi_process_cookie() ^ MI_GUARDED_MAGIC;
}

// Under the lock: the entry's memory becomes accessible again and the block an ordinary one; the
// caller frees it (outside the lock) unless its heap is being destroyed.
static uintptr_t mi_guarded_slot_release(size_t slot) {
  mi_guarded_entry_t* e = &mi_guarded_slots[slot];
  const uintptr_t block = mi_atomic_load_relaxed(&e->block);
  const uintptr_t guard = mi_atomic_load_relaxed(&e->guard);
  const uintptr_t p = mi_atomic_load_relaxed(&e->p);
  const size_t ps = mi_guarded_page();
  const uintptr_t from = (mi_atomic_load_relaxed(&e->state) == MI_GUARDED_FREED ? p & ~(ps - 1) : guard);
  _mi_os_protect((void*)from, guard + ps - from, false);
  mi_guarded_header_t* hdr = (mi_guarded_header_t*)block;
  hdr->magic = 0;
  hdr->slot = 0;
  mi_atomic_store_relaxed(&e->state, MI_GUARDED_FREE);
  mi_atomic_store_relaxed(&e->block, 0);
  e->gen++;
  mi_guarded_free_stack[mi_guarded_free_top++] = (uint16_t)slot;
  mi_guarded_in_use_add(-1);
  return block;
}

/* ---------------------------------------------------------------------------------------------
   Allocation
--------------------------------------------------------------------------------------------- */
static void* mi_guarded_alloc(mi_heap_t* heap, size_t size, bool zero) {
  const size_t ps = mi_guarded_page();
  const bool precise = mi_option_is_enabled(mi_option_guarded_precise);
  const size_t obj = (precise ? size : _mi_align_up(size == 0 ? 1 : size, MI_MAX_ALIGN_SIZE));
  if (obj > MI_MAX_ALLOC_SIZE / 2) return NULL;
  // (room for the header on a page of its own, the object's pages and the guard, wherever the
  // block starts)
  const size_t need = _mi_align_up(obj, ps) + 2 * ps + sizeof(mi_guarded_header_t);
  const size_t countdown = heap->guarded_countdown;
  heap->guarded_countdown = SIZE_MAX;  // (the block below is not sampled itself)
  uint8_t* block = (uint8_t*)_mi_heap_malloc_zero(heap, need, zero);
  heap->guarded_countdown = countdown;
  if (block == NULL) return NULL;
  mi_page_t* page = _mi_ptr_page(block);
  mi_page_set_flag(page, MI_PAGE_HAS_ALIGNED, true);  // frees find the block start (free.c)
  const size_t usable = mi_page_block_size(page) - MI_PADDING;
  const uintptr_t guard = ((uintptr_t)block + usable - ps) & ~(uintptr_t)(ps - 1);
  uint8_t* const p = (uint8_t*)guard - obj;
  mi_assert_internal((p - block) >= (ptrdiff_t)sizeof(mi_guarded_header_t) &&
                     ((uintptr_t)p & ~(uintptr_t)(ps - 1)) > (uintptr_t)block);

  mi_lock(&mi_guarded_lock);
  size_t slot;
  bool ok = mi_guarded_slot_take(&slot);
  if (ok && _mi_prim_protect((void*)guard, ps, true) != 0) {
    mi_guarded_free_stack[mi_guarded_free_top++] = (uint16_t)slot;
    ok = false;
  }
  if (ok) {
    mi_guarded_entry_t* e = &mi_guarded_slots[slot];
    mi_atomic_store_relaxed(&e->p, (uintptr_t)p);
    mi_atomic_store_relaxed(&e->size, size);
    mi_atomic_store_relaxed(&e->guard, guard);
    mi_atomic_store_relaxed(&e->state, MI_GUARDED_LIVE);
    mi_atomic_store_release(&e->block, (uintptr_t)block);
    mi_guarded_header_t* hdr = (mi_guarded_header_t*)block;
    hdr->magic = mi_guarded_magic(block);
    hdr->slot = slot;
    mi_guarded_in_use_add(1);
    mi_atomic_store_release(&_mi_guarded_used, true);
  }
  mi_unlock(&mi_guarded_lock);
  if (!ok) {  // no slot (too many guarded blocks) or no protection: an ordinary block
    mi_free(block);
    return NULL;
  }
  mi_stat_counter_add(malloc_guarded_count, 1);
  return p;
}

/* The slow path, while the heap samples, found a sample due for this eligible request (page.c):
   a guarded block, or NULL if none could be made. */
void* _mi_guarded_malloc(mi_heap_t* heap, size_t size, bool zero) {
  heap->guarded_countdown = mi_guarded_interval(heap);
  return mi_guarded_alloc(heap, size - MI_PADDING, zero);
}

/* ---------------------------------------------------------------------------------------------
   Free, size, collection
--------------------------------------------------------------------------------------------- */
// Is this block (start of a block of a page with aligned blocks) a guarded one? Its slot if so.
static bool mi_guarded_slot_of(const void* block, size_t* slot) {
  const mi_guarded_header_t* hdr = (const mi_guarded_header_t*)block;
  if (mi_likely(mi_word_load(&hdr->magic) != mi_guarded_magic(block))) return false;
  *slot = hdr->slot;
  return *slot < MI_GUARDED_SLOTS;
}

// If block is a guarded one: the bytes usable at p, up to its guard page.
bool _mi_guarded_usable_size(const void* block, const void* p, size_t* usable) {
  size_t slot;
  if (!mi_guarded_slot_of(block, &slot)) return false;
  const uintptr_t guard = mi_atomic_load_relaxed(&mi_guarded_slots[slot].guard);
  *usable = ((uintptr_t)p < guard ? guard - (uintptr_t)p : 0);
  return true;
}

/* p (of block) is freed: its pages become inaccessible and it joins the quarantine; the oldest
   quarantined block, if the quarantine is full, becomes an ordinary block and is freed. */
void _mi_guarded_free(void* block, void* p) {
  size_t slot;
  if (!mi_guarded_slot_of(block, &slot)) return;
  const size_t ps = mi_guarded_page();
  uintptr_t evicted = 0;
  mi_lock(&mi_guarded_lock);
  mi_guarded_entry_t* e = &mi_guarded_slots[slot];
  const int state = mi_atomic_load_relaxed(&e->state);
  if (state != MI_GUARDED_LIVE || mi_atomic_load_relaxed(&e->block) != (uintptr_t)block) {
    mi_unlock(&mi_guarded_lock);
    _mi_error_message(EAGAIN, "double free of the guarded block %p", p);
    return;
  }
  const uintptr_t from = mi_atomic_load_relaxed(&e->p) & ~(uintptr_t)(ps - 1);
  const uintptr_t guard = mi_atomic_load_relaxed(&e->guard);
#if SA_DEBUG >= 1
  memset((void*)mi_atomic_load_relaxed(&e->p), MI_DEBUG_FREED, guard - mi_atomic_load_relaxed(&e->p));
#endif
  _mi_os_protect((void*)from, guard - from, true);
  mi_atomic_store_relaxed(&e->state, MI_GUARDED_FREED);
  if (mi_guarded_q_count == MI_GUARDED_QUARANTINE) {
    const size_t oldest = mi_guarded_quarantine[mi_guarded_q_head].slot;
    const size_t gen = mi_guarded_quarantine[mi_guarded_q_head].gen;
    mi_guarded_q_head = (mi_guarded_q_head + 1) % MI_GUARDED_QUARANTINE;
    mi_guarded_q_count--;
    if (mi_guarded_slots[oldest].gen == gen &&
        mi_atomic_load_relaxed(&mi_guarded_slots[oldest].state) == MI_GUARDED_FREED) {
      evicted = mi_guarded_slot_release(oldest);
    }
  }
  const size_t tail = (mi_guarded_q_head + mi_guarded_q_count) % MI_GUARDED_QUARANTINE;
  mi_guarded_quarantine[tail].slot = (uint16_t)slot;
  mi_guarded_quarantine[tail].gen = e->gen;
  mi_guarded_q_count++;
  mi_unlock(&mi_guarded_lock);
  if (evicted != 0) mi_free((void*)evicted);
}

// mi_collect(true): the quarantine is emptied (its blocks are freed for real).
void _mi_guarded_collect(void) {
  if (!mi_atomic_load_relaxed(&_mi_guarded_used)) return;
  for (;;) {
    uintptr_t block = 0;
    mi_lock(&mi_guarded_lock);
    while (block == 0 && mi_guarded_q_count > 0) {
      const size_t slot = mi_guarded_quarantine[mi_guarded_q_head].slot;
      const size_t gen = mi_guarded_quarantine[mi_guarded_q_head].gen;
      mi_guarded_q_head = (mi_guarded_q_head + 1) % MI_GUARDED_QUARANTINE;
      mi_guarded_q_count--;
      if (mi_guarded_slots[slot].gen == gen &&
          mi_atomic_load_relaxed(&mi_guarded_slots[slot].state) == MI_GUARDED_FREED) {
        block = mi_guarded_slot_release(slot);
      }
    }
    mi_unlock(&mi_guarded_lock);
    if (block == 0) return;
    mi_free((void*)block);
  }
}

// mi_heap_destroy releases the heap's pages wholesale: its guarded blocks (live or quarantined)
// must be accessible memory again first.
void _mi_guarded_heap_destroy(mi_heap_t* heap) {
  if (!mi_atomic_load_relaxed(&_mi_guarded_used)) return;
  mi_lock(&mi_guarded_lock);
  for (size_t slot = 0; slot < MI_GUARDED_SLOTS && mi_guarded_in_use > 0; slot++) {
    const uintptr_t block = mi_atomic_load_relaxed(&mi_guarded_slots[slot].block);
    if (block == 0 || mi_page_heap(_mi_ptr_page((void*)block)) != heap) continue;
    mi_guarded_slot_release(slot);  // (a quarantine entry for it no longer matches its gen)
  }
  mi_unlock(&mi_guarded_lock);
}

void _mi_guarded_fork_lock(bool lock) {
  if (lock) mi_lock(&mi_guarded_lock);
  else mi_unlock(&mi_guarded_lock);
}

/* ---------------------------------------------------------------------------------------------
   The fault report (called from a signal handler: no locks, no allocation, no stdio)
--------------------------------------------------------------------------------------------- */
static char* mi_put_str(char* out, char* end, const char* s) {
  while (*s != 0 && out < end) *out++ = *s++;
  return out;
}

static char* mi_put_num(char* out, char* end, uintptr_t x, unsigned base) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = "0123456789abcdef"[x % base];
    x /= base;
  } while (x != 0);
  if (base == 16) out = mi_put_str(out, end, "0x");
  while (n > 0 && out < end) *out++ = digits[--n];
  return out;
}

static bool mi_guarded_describe(void* addr, char* buf, size_t size) {
  const uintptr_t a = (uintptr_t)addr;
  const size_t ps = mi_guarded_page();
  for (size_t slot = 0; slot < MI_GUARDED_SLOTS; slot++) {
    const mi_guarded_entry_t* e = &mi_guarded_slots[slot];
    if (mi_atomic_load_acquire(&e->block) == 0) continue;
    const uintptr_t p = mi_atomic_load_relaxed(&e->p);
    const uintptr_t guard = mi_atomic_load_relaxed(&e->guard);
    const bool freed = (mi_atomic_load_relaxed(&e->state) == MI_GUARDED_FREED);
    const uintptr_t lo = (freed ? p & ~(uintptr_t)(ps - 1) : guard);
    if (a < lo || a >= guard + ps) continue;
    char* out = buf;
    char* const end = buf + size - 2;
    out = mi_put_str(out, end, "shardalloc: fault at ");
    out = mi_put_num(out, end, a, 16);
    out = mi_put_str(out, end,
                     a >= guard ? (freed ? ": access past the end of the freed guarded block "
                                         : ": buffer overflow past the end of the guarded block ")
                                : ": use after free of the guarded block ");
    out = mi_put_num(out, end, p, 16);
    out = mi_put_str(out, end, " (size ");
    out = mi_put_num(out, end, mi_atomic_load_relaxed(&e->size), 10);
    out = mi_put_str(out, end, freed ? ", freed)" : ", not freed)");
    *out++ = '\n';
    *out = 0;
    return true;
  }
  return false;
}
