/* Memory return: the one policy and clock that decide when free committed memory goes back to
 * the OS (docs/memory-return.md). Sources report pending memory with the time it became free:
 * free slices of owned and abandoned segments (segment.c), free arena blocks (arena.c), cached
 * huge mappings (os.c) and remotely freed huge blocks (segment.c). A pass weighs all of it on a
 * decay curve and purges the oldest first. Passes run on a helper thread that sleeps while
 * nothing is pending (or, with MIMALLOC_PURGE_BACKGROUND=0, on the allocating threads' ticks).
 * Calls: segments, arenas, OS. Shared: the pass lock, the helper's state (atomics, a condvar). */
#include <pthread.h>
#include <time.h>

#include "internal/internal.h"

/* ---------------------------------------------------------------------------------------------
   The clock: milliseconds since the process started, in 32 bits (ages are differences, exact for
   49 days). One clock for every source.
--------------------------------------------------------------------------------------------- */
static long long mi_purge_epoch;

uint32_t _mi_purge_clock(void) { return (uint32_t)(_mi_prim_clock_now() - mi_purge_epoch); }

/* ---------------------------------------------------------------------------------------------
   The policy: a decay curve. Decay time D = purge_delay x arena_purge_mult ms (50 ms by
   default). Of the memory that became free at one moment and is not reused, the fraction still
   kept `a` ms later is h(a) = 1 - smoothstep(a / D): nearly all of it while a << D (memory freed
   and needed again soon is not purged, so it does not fault in again), half at D/2, none from D
   on (memory nobody reuses goes back within D). Each piece of pending memory gets a deadline
   drawn from that curve: a hash of its stamp and address picks u in [0, 1), and the piece is due
   once smoothstep(age / D) > u. A cohort then goes back exactly along the curve, whenever and
   however often passes look at it, and no history is kept. purge_delay 0: purge at once
   (sources purge as they free, nothing is ever pending); -1: never.
--------------------------------------------------------------------------------------------- */
long long _mi_purge_decay_ms(void) {
  const long delay = mi_option_get(mi_option_purge_delay);
  if (delay <= 0) return delay;
  const long mult = mi_option_get_clamp(mi_option_arena_purge_mult, 1, 1000);
  return (long long)delay * mult;
}

// The inverse of smoothstep at (i + 0.5) / 256, in 1/65536 of D: the deadline for u in bin i.
#define MI_PURGE_CURVE 256
static uint32_t mi_purge_curve[MI_PURGE_CURVE];

static void mi_purge_curve_init(void) {
  for (size_t i = 0; i < MI_PURGE_CURVE; i++) {
    const double u = ((double)i + 0.5) / MI_PURGE_CURVE;
    double lo = 0.0, hi = 1.0;
    for (int k = 0; k < 40; k++) {  // smoothstep is increasing on [0, 1]
      const double x = (lo + hi) / 2;
      if (x * x * (3.0 - 2.0 * x) < u) lo = x;
      else hi = x;
    }
    mi_purge_curve[i] = (uint32_t)(lo * 65536.0);
  }
}

// Whether `bytes` pending since `since` (at address `key`) go back in this pass. Counts them as
// purged or still pending.
bool _mi_purge_due(mi_purge_pass_t* pass, uint32_t since, uintptr_t key, size_t bytes) {
  bool due = pass->force;
  if (!due) {
    const uint32_t age = pass->now - since;  // (wraps: exact for ages below 49 days)
    uint64_t h = (uint64_t)key ^ ((uint64_t)since << 40);  // (a fixed mix: the same every pass)
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    const uint64_t deadline = (uint64_t)pass->decay * mi_purge_curve[h >> 56] >> 16;
    due = ((int32_t)age >= 0 && (uint64_t)age >= deadline);
  }
  if (due) pass->purged += bytes;
  else pass->pending += bytes;
  return due;
}

/* ---------------------------------------------------------------------------------------------
   Adapting D to the program. A purge that the program undoes a moment later (it writes that
   memory again) costs a page fault per 4 KiB and saves next to nothing: such refaults show that
   the program reuses its free memory on a cycle longer than D. Sources whose reuse can be watched
   (free slices of segments) report memory that a pass purged and that is written again within
   MI_PURGE_REFAULT_WINDOW x D. While more than a quarter of what passes purge comes back that
   soon, the effective decay time doubles, up to 16 D (1 s at most); while almost nothing comes
   back it shrinks toward D by an eighth per pass. Holding memory longer is allowed only while it
   is cheap: while the free spans inside segments that stay pending after a pass are at most an
   eighth of the committed memory (or 8 MiB, if more), and the whole units pending (free arena
   blocks, cached huge mappings: any new segment or huge block reuses one whole) at most the live
   memory; above that the effective time shrinks by a quarter per pass, and above twice that it
   is D again at once. larson, which empties pages and carves them again on cycles of tens of
   milliseconds with a few MiB free at a time, stops paying a fault for each cycle, and so does a
   program that replaces big blocks (malloc-large); a program with much free memory in its
   segments (threads-rss-mixed) keeps it for D, as before.
--------------------------------------------------------------------------------------------- */
#define MI_PURGE_REFAULT_WINDOW 4
#define MI_PURGE_ADAPT_MAX      16
#define MI_PURGE_ALLOWANCE      ((size_t)8 << 20)  // held longer only while pending is at most this,
                                              // or an eighth of the committed memory if more
static _Atomic(long long) mi_purge_decay_eff;  // the effective D, ms (below D: D)
static _Atomic(size_t) mi_purge_refaulted;     // bytes reported since the last pass
static size_t mi_purge_avg_watched;            // decaying sums over passes (pass lock held)
static size_t mi_purge_avg_refaulted;

static long long mi_purge_decay_effective(void) {
  const long long d = _mi_purge_decay_ms();
  if (d <= 0) return d;
  long long max = MI_PURGE_ADAPT_MAX * d;
  if (max > 1000) max = (d > 1000 ? d : 1000);
  const long long e = mi_atomic_load_relaxed(&mi_purge_decay_eff);
  return (e < d ? d : (e > max ? max : e));
}

bool _mi_purge_refault_is_soon(uint32_t age) {
  const long long d = _mi_purge_decay_ms();
  return (d > 0 && (long long)age < MI_PURGE_REFAULT_WINDOW * d);
}

void _mi_purge_refault(size_t bytes) { mi_atomic_add_relaxed(&mi_purge_refaulted, bytes); }

// After a pass (not a forced one): weigh its purges against the refaults reported since the last.
static void mi_purge_adapt(const mi_purge_pass_t* pass) {
  const size_t refaulted = atomic_exchange_explicit(&mi_purge_refaulted, 0, memory_order_relaxed);
  mi_purge_avg_watched += pass->watched - mi_purge_avg_watched / 8;
  mi_purge_avg_refaulted += refaulted - mi_purge_avg_refaulted / 8;
  const long long d = _mi_purge_decay_ms();
  long long e = mi_purge_decay_effective();
  const int64_t committed = mi_atomic_load_relaxed(&_mi_stats_main.committed.current);
  const size_t footprint = (committed > 0 ? (size_t)committed : 0);
  const size_t allowance = (footprint / 8 > MI_PURGE_ALLOWANCE ? footprint / 8 : MI_PURGE_ALLOWANCE);
  const size_t live = (footprint > pass->pending ? footprint - pass->pending : 0);
  const size_t whole = pass->pending - pass->pending_spans;
  const size_t whole_allowance = (live > MI_PURGE_ALLOWANCE ? live : MI_PURGE_ALLOWANCE);
  if (pass->pending_spans > allowance || whole > whole_allowance) {
    // what is held is no longer small: back toward D, at once if it is twice the allowance
    e = (pass->pending_spans > 2 * allowance || whole > 2 * whole_allowance ? d : e - e / 4);
  } else if (refaulted > 0 && mi_purge_avg_refaulted * 4 > mi_purge_avg_watched) {
    e *= 2;  // (clamped to 16 D when read)
  } else if (mi_purge_avg_refaulted * 16 < mi_purge_avg_watched) {
    e -= e / 8;
    if (e < d) e = d;
  }
  mi_atomic_store_relaxed(&mi_purge_decay_eff, e);
}

/* ---------------------------------------------------------------------------------------------
   Passes. One at a time (mi_purge_pass_lock). The segment walk holds mi_purge_map_lock, which a
   segment also takes to leave the segment map, so every segment a pass looks at stays mapped.
--------------------------------------------------------------------------------------------- */
static pthread_mutex_t mi_purge_pass_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mi_purge_map_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(bool) mi_purge_stopped;  // MIMALLOC_DESTROY_ON_EXIT (set under the pass lock)
static _Atomic(long long) mi_purge_last;  // clock of the last pass (ticks: one per interval)

void _mi_purge_map_lock(bool lock) {
  if (lock) mi_lock(&mi_purge_map_lock);
  else mi_unlock(&mi_purge_map_lock);
}

static void mi_purge_visit_apply(mi_segment_t* segment, void* arg) {
  _mi_segment_purge_apply(segment, (mi_purge_pass_t*)arg);
}

#define MI_PURGE_VISITS 16  // abandoned segments visited per pass, at most

// One pass over every source (pass lock held). Returns the bytes still pending after it.
static size_t mi_purge_pass_locked(bool force) {
  // Exited threads' segments: pages that emptied through remote frees become free spans (and
  // pending memory), empty segments are released.
  size_t visits = _mi_segment_abandoned_count();
  if (visits > MI_PURGE_VISITS) visits = MI_PURGE_VISITS;
  while (visits-- > 0) _mi_segment_try_free_abandoned();
  mi_purge_pass_t pass;
  memset(&pass, 0, sizeof(pass));
  pass.now = _mi_purge_clock();
  pass.decay = mi_purge_decay_effective();
  pass.force = force;
  if (pass.decay < 0) return 0;  // purging is off (the option may change at run time)
  if (pass.decay == 0) pass.decay = 1;
  mi_lock(&mi_purge_map_lock);
  _mi_segment_map_visit(&mi_purge_visit_apply, &pass);
  mi_unlock(&mi_purge_map_lock);
  pass.pending_spans = pass.pending;
  _mi_arenas_purge_apply(&pass);
  _mi_os_huge_cache_apply(&pass);
  if (!force) mi_purge_adapt(&pass);
  return pass.pending;
}

static size_t mi_purge_pass(bool force, bool wait) {
  if (wait) mi_lock(&mi_purge_pass_lock);
  else if (pthread_mutex_trylock(&mi_purge_pass_lock) != 0) return 1;  // another runs one
  else mi_locks_enter();
  size_t pending = 0;
  if (!mi_atomic_load_relaxed(&mi_purge_stopped)) {
    mi_atomic_store_relaxed(&mi_purge_last, _mi_prim_clock_now());
    pending = mi_purge_pass_locked(force);
  }
  mi_unlock(&mi_purge_pass_lock);
  return pending;
}

// Between passes: D/8, 5 ms .. 100 ms.
static long mi_purge_interval_ms(void) {
  const long long d = mi_purge_decay_effective() / 8;
  return (long)(d < 5 ? 5 : (d > 100 ? 100 : d));
}

/* ---------------------------------------------------------------------------------------------
   The helper thread (MIMALLOC_PURGE_BACKGROUND, on by default). Started by the first report of
   pending memory (at the next safe point of the reporting thread: the thread creation may
   allocate); it runs passes every interval while anything is pending and sleeps on a condition
   variable otherwise. After MI_PURGE_IDLE_EXIT_MS without a report it exits (the next report
   starts it again): a process whose main thread ends with pthread_exit lives until its last
   thread ends, and that must not wait for this one. Never allocates. In a fork child it does not
   exist: the next report starts it again.
--------------------------------------------------------------------------------------------- */
#define MI_PURGE_IDLE_EXIT_MS 1000
static _Atomic(int) mi_purge_state;           // 0: no thread, 1: starting or running
_Atomic(bool) _mi_purge_start_wanted;         // a report came and no thread runs
static _Atomic(size_t) mi_purge_reports;      // reports so far (the helper's wake-up check)
static _Atomic(bool) mi_purge_sleeping;       // the helper waits on mi_purge_wake
static _Atomic(bool) mi_purge_fork_check;     // a fork child: is anything pending? (next tick)
static pthread_mutex_t mi_purge_wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mi_purge_wake = PTHREAD_COND_INITIALIZER;

// Wait for a report, MI_PURGE_IDLE_EXIT_MS at most. False: none came, and the helper is gone
// (mi_purge_state is 0: the next report asks for a new one). Under mi_purge_wake_lock.
static bool mi_purge_wait_report(size_t reports) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += MI_PURGE_IDLE_EXIT_MS / 1000;
  until.tv_nsec += (long)(MI_PURGE_IDLE_EXIT_MS % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  atomic_store(&mi_purge_sleeping, true);
  while (atomic_load(&mi_purge_reports) == reports) {
    if (pthread_cond_timedwait(&mi_purge_wake, &mi_purge_wake_lock, &until) != 0 &&
        atomic_load(&mi_purge_reports) == reports) {
      // (state before sleeping: a reporter that sees sleeping cleared also sees no helper)
      atomic_store(&mi_purge_state, 0);
      atomic_store(&mi_purge_sleeping, false);
      return false;
    }
  }
  atomic_store(&mi_purge_sleeping, false);
  return true;
}

static void* mi_purge_main(void* arg) {
  (void)arg;
  for (;;) {
    const size_t reports = atomic_load(&mi_purge_reports);
    const size_t pending = mi_purge_pass(false, true);
    if (mi_atomic_load_relaxed(&mi_purge_stopped)) return NULL;
    if (pending > 0) {
      _mi_prim_sleep_ms(mi_purge_interval_ms());
      continue;
    }
    // Nothing pending: sleep until a report. (The reporter increments the count, then reads
    // `sleeping`; we set `sleeping`, then read the count: one of the two sees the other.)
    pthread_mutex_lock(&mi_purge_wake_lock);
    const bool woken = mi_purge_wait_report(reports);
    pthread_mutex_unlock(&mi_purge_wake_lock);
    if (!woken) return NULL;
    _mi_prim_sleep_ms(mi_purge_interval_ms());  // let what was reported age a little
  }
  return NULL;
}

// A source has new pending memory (it may call this with its own locks held: no allocation, no
// thread start here).
static bool mi_purge_background(void) {
  return mi_option_is_enabled(mi_option_purge_background);  // (may change at run time)
}

void _mi_purge_report(void) {
  if (!mi_purge_background()) return;
  atomic_fetch_add(&mi_purge_reports, 1);
  if (atomic_load(&mi_purge_sleeping)) {
    pthread_mutex_lock(&mi_purge_wake_lock);
    pthread_cond_signal(&mi_purge_wake);
    // (the helper may have given up waiting just before: then a new one is needed)
    if (atomic_load(&mi_purge_state) == 0) {
      mi_atomic_store_relaxed(&_mi_purge_start_wanted, true);
    }
    pthread_mutex_unlock(&mi_purge_wake_lock);
  } else if (atomic_load(&mi_purge_state) == 0) {
    mi_atomic_store_relaxed(&_mi_purge_start_wanted, true);
  }
}

// A free into an abandoned segment: its page may have emptied, which only a pass's visit finds.
// Wakes (or asks for) the helper; cheap while it is awake.
void _mi_purge_poke(void) {
  if (atomic_load_explicit(&mi_purge_sleeping, memory_order_relaxed) ||
      mi_atomic_load_relaxed(&mi_purge_state) == 0) {
    _mi_purge_report();
  }
}

// At a safe point (mi_purge_safe_point): start the helper if a report asked for it. The thread's
// creation allocates (libc's per-thread data): from the backing heap, never a heap the program
// may destroy.
void _mi_purge_start_slow(void) {
  mi_atomic_store_relaxed(&_mi_purge_start_wanted, false);
  int expected = 0;
  if (!atomic_compare_exchange_strong(&mi_purge_state, &expected, 1)) return;
  mi_heap_t* const heap = mi_heap_get_default();
  const bool swap = (mi_heap_is_initialized(heap) && heap != mi_heap_get_backing());
  if (swap) mi_heap_set_default(mi_heap_get_backing());
  if (!_mi_prim_thread_start_background(&mi_purge_main)) {
    _mi_warning_message("unable to start the memory-return thread");
  }
  if (swap) mi_heap_set_default(heap);
}

/* The owner threads' periodic tick (page.c): with the helper, only its start; without it, a pass
   when an interval has passed since the last one (whoever ran it). */
void _mi_purge_tick(long long now) {
  if (mi_purge_background()) {
    // a fork child starts the helper only if a pass leaves something pending
    if (mi_unlikely(mi_atomic_load_relaxed(&mi_purge_fork_check))) {
      mi_atomic_store_relaxed(&mi_purge_fork_check, false);
      if (mi_purge_pass(false, true) > 0) mi_atomic_store_relaxed(&_mi_purge_start_wanted, true);
    }
    mi_purge_safe_point();
    return;
  }
  if (now - mi_atomic_load_relaxed(&mi_purge_last) < mi_purge_interval_ms()) return;
  mi_purge_pass(false, false);
}

// mi_collect, malloc_trim: a pass now; forced: everything pending goes back.
void _mi_purge_collect(bool force) { mi_purge_pass(force, force); }

void _mi_purge_init(void) {
  mi_purge_epoch = _mi_prim_clock_now() - 1;  // (a stamp is never 0)
  mi_purge_curve_init();
}

// Around fork(): a pass is never cut in half in the child.
void _mi_purge_fork_lock(bool lock) {
  if (lock) {
    mi_lock(&mi_purge_pass_lock);
    mi_lock(&mi_purge_map_lock);
  } else {
    mi_unlock(&mi_purge_map_lock);
    mi_unlock(&mi_purge_pass_lock);
  }
}

// The child has no helper thread: the next report (or tick) starts one if there is work.
void _mi_purge_fork_child(void) {
  mi_atomic_store_relaxed(&mi_purge_state, 0);
  mi_atomic_store_relaxed(&mi_purge_sleeping, false);
  pthread_mutex_init(&mi_purge_wake_lock, NULL);
  pthread_cond_init(&mi_purge_wake, NULL);
  mi_atomic_store_relaxed(&mi_purge_fork_check, true);
}

// MIMALLOC_DESTROY_ON_EXIT: no pass runs from here on (one under way is waited for).
void _mi_purge_unsafe_destroy(void) {
  mi_lock(&mi_purge_pass_lock);
  mi_atomic_store_relaxed(&mi_purge_stopped, true);
  mi_unlock(&mi_purge_pass_lock);
}
