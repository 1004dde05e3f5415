/* Process and thread life cycle: the static empty heap every thread starts with, the main
 * thread's static heap, per-thread heap and tld records, process init (options, randomness, the
 * thread-exit hook) and exit, thread init and thread done (abandonment). */
#include <pthread.h>

#include "internal/internal.h"

/* ---------------------------------------------------------------------------------------------
   The empty page and heap. Every thread's default heap starts as _mi_heap_empty, whose direct
   table points at _mi_page_empty (no free blocks), so the first malloc takes the slow path.
--------------------------------------------------------------------------------------------- */
const mi_page_t _mi_page_empty;

#define MI_PAGE_EMPTY() ((mi_page_t*)&_mi_page_empty)
#define MI_INIT4(x)  x(), x(), x(), x()
#define MI_INIT16(x) MI_INIT4(x), MI_INIT4(x), MI_INIT4(x), MI_INIT4(x)
#define MI_INIT64(x) MI_INIT16(x), MI_INIT16(x), MI_INIT16(x), MI_INIT16(x)
_Static_assert(MI_PAGES_DIRECT == 65, "the initialiser below lists 65 entries");

mi_heap_t _mi_heap_empty = {
    .pages_free_direct = {MI_INIT64(MI_PAGE_EMPTY), MI_PAGE_EMPTY()},
};

__thread mi_heap_t* _mi_heap_default mi_decl_tls = &_mi_heap_empty;

/* ---------------------------------------------------------------------------------------------
   The main thread's heap and tld are static: the thread that initialises the process never
   needs to allocate metadata. Other threads get a record mapped from the OS.
--------------------------------------------------------------------------------------------- */
mi_heap_t _mi_heap_main;
static mi_tld_t mi_tld_main;

typedef struct mi_thread_data_s {
  mi_heap_t heap;
  mi_tld_t tld;
  mi_memid_t memid;
} mi_thread_data_t;

static _Atomic(size_t) mi_thread_count;

/* Records of exited threads are kept for the next threads (a program that runs 100,000 short
   threads maps none after the first few). Lock-free: a slot holds a record or NULL. */
#define MI_THREAD_DATA_CACHE 32
static _Atomic(mi_thread_data_t*) mi_thread_data_cache[MI_THREAD_DATA_CACHE];

static mi_thread_data_t* mi_thread_data_alloc(void) {
  for (size_t i = 0; i < MI_THREAD_DATA_CACHE; i++) {
    if (mi_atomic_load_relaxed(&mi_thread_data_cache[i]) == NULL) continue;
    mi_thread_data_t* td = mi_atomic_exchange_acq_rel(&mi_thread_data_cache[i], NULL);
    if (td != NULL) return td;
  }
  mi_memid_t memid;
  mi_thread_data_t* td = (mi_thread_data_t*)_mi_os_alloc(sizeof(mi_thread_data_t), &memid);
  if (td != NULL) td->memid = memid;
  return td;
}

static void mi_thread_data_free(mi_thread_data_t* td) {
  for (size_t i = 0; i < MI_THREAD_DATA_CACHE; i++) {
    mi_thread_data_t* expected = NULL;
    if (mi_atomic_load_relaxed(&mi_thread_data_cache[i]) == NULL &&
        mi_atomic_cas_strong_acq_rel(&mi_thread_data_cache[i], &expected, td)) {
      return;
    }
  }
  _mi_os_free(td, sizeof(*td), td->memid);
}
uintptr_t _mi_process_secret;  // hidden (the library is built with -fvisibility=hidden)

/* ---------------------------------------------------------------------------------------------
   Threads
--------------------------------------------------------------------------------------------- */
static void mi_thread_done_ex(mi_heap_t* heap);

/* Set once the thread's exit has begun (its key destructor ran): the thread has given up its
   heap, and has no later hook that would give up a new one. An allocation it still makes (in a
   later key destructor, a C++ thread_local destructor, an output callback that prints the
   verbose "thread done" line) gets a heap for that allocation only, whose pages are abandoned at
   once (_mi_malloc_while_exiting): the block lives in abandoned memory, which others adopt. */
static __thread bool mi_thread_exiting mi_decl_tls;

static void mi_thread_heap_install(mi_heap_t* heap) {
  _mi_heap_set_default_direct(heap);
  _mi_prim_thread_associate_default_heap(heap);  // may allocate in libc: the heap is ready now
  mi_atomic_add_relaxed(&mi_thread_count, 1);
  mi_stat_increase(threads, 1);
}

void mi_thread_init(void) mi_attr_noexcept {
  mi_process_init();
  if (mi_thread_exiting || mi_heap_is_initialized(mi_prim_get_default_heap())) return;
  mi_thread_data_t* td = mi_thread_data_alloc();
  if (td == NULL) {
    _mi_error_message(ENOMEM, "unable to allocate thread-local heap metadata");
    return;
  }
  memset(&td->tld, 0, sizeof(td->tld));
  td->tld.heap_backing = &td->heap;
  _mi_heap_init(&td->heap, &td->tld, 0, false);
  mi_thread_heap_install(&td->heap);
}

// The calling thread's default heap, initialised if needed; the empty heap on a thread whose exit
// has begun (and when metadata cannot be had).
mi_heap_t* _mi_heap_default_init(void) {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) return heap;
  mi_thread_init();  // initialises the process first if needed
  return mi_prim_get_default_heap();
}

// The backing heap of the calling thread lets go of everything: the thread's other heaps join it,
// empty pages are freed, pages with live blocks are abandoned; then its record goes.
static void mi_heap_let_go(mi_heap_t* heap) {
  mi_tld_t* tld = heap->tld;
  _mi_heap_delete_others(heap);  // their pages join the backing heap first
  _mi_heap_collect_abandon(heap);
  mi_assert_internal(tld->segments.count == 0);
  _mi_subproc_thread_done(&tld->segments);  // (after its segments were abandoned there)
  _mi_stats_flush(tld);
  (void)tld;
  if (heap != &_mi_heap_main) {
    mi_thread_data_free((mi_thread_data_t*)heap);  // heap is the first member
  } else {
    heap->thread_id = 0;  // the static main heap can be taken up again by mi_thread_init
  }
}

// Called with the thread's backing heap when the thread exits (or from mi_thread_done).
static void mi_thread_done_ex(mi_heap_t* heap) {
  if (heap == NULL || !mi_heap_is_initialized(heap)) return;
  if (heap->thread_id != _mi_thread_id()) return;  // only the owner can let its heap go
  _mi_heap_set_default_direct(heap);
  const size_t owned = heap->tld->segments.count;
  mi_heap_let_go(heap);
  _mi_heap_set_default_direct(&_mi_heap_empty);
  mi_atomic_sub_relaxed(&mi_thread_count, 1);
  mi_stat_decrease(threads, 1);
  // (last: an output callback may allocate, which must not find the heap just given up)
  if (mi_option_get(mi_option_verbose) >= 2) {
    _mi_verbose_message("thread done: %zu segment(s) owned, %zu abandoned in the process", owned,
                        _mi_segment_abandoned_count());
  }
}

static void mi_thread_done_key(void* value) {
  mi_thread_exiting = true;
  mi_thread_done_ex((mi_heap_t*)value);
}

bool _mi_thread_is_exiting(void) { return mi_thread_exiting; }

// An allocation on a thread whose exit has begun: from a heap of its own, given up right after.
void* _mi_malloc_while_exiting(size_t size, bool zero, size_t huge_alignment,
                               size_t align_offset) {
  mi_thread_data_t* td = mi_thread_data_alloc();
  if (td == NULL) return mi_enomem();
  memset(&td->tld, 0, sizeof(td->tld));
  td->tld.heap_backing = &td->heap;
  _mi_heap_init(&td->heap, &td->tld, 0, false);
  void* p = _mi_malloc_generic(&td->heap, size, zero, huge_alignment, align_offset);
  const int err = errno;
  mi_heap_let_go(&td->heap);
  errno = err;
  return p;
}

void mi_thread_done(void) mi_attr_noexcept {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (!mi_heap_is_initialized(heap)) return;
  mi_thread_done_ex(heap->tld->heap_backing);
  _mi_prim_thread_associate_default_heap(NULL);
}

/* ---------------------------------------------------------------------------------------------
   Process
--------------------------------------------------------------------------------------------- */
/* fork(): the few global locks are taken before and released after, in both processes; the child
   then takes over the memory of the threads it did not inherit. */
static void mi_fork_prepare(void) {
  _mi_guarded_fork_lock(true);
  _mi_purge_fork_lock(true);
  _mi_os_fork_lock(true);
  _mi_arena_fork_lock(true);
  _mi_segment_fork_lock(true);
  _mi_segment_map_fork_lock(true);
}

static void mi_fork_parent(void) {
  _mi_segment_map_fork_lock(false);
  _mi_segment_fork_lock(false);
  _mi_arena_fork_lock(false);
  _mi_os_fork_lock(false);
  _mi_purge_fork_lock(false);
  _mi_guarded_fork_lock(false);
}

static void mi_fork_child(void) {
  mi_fork_parent();
  _mi_segments_fork_child();
  _mi_purge_fork_child();
  mi_atomic_store_relaxed(&mi_thread_count, mi_heap_is_initialized(mi_prim_get_default_heap()) ? 1 : 0);
}

static _Atomic(int) mi_process_state;  // 0: not started, 1: initialising, 2: ready

bool _mi_process_is_initialized(void) { return mi_atomic_load_acquire(&mi_process_state) == 2; }

// Memory reserved at start by option: 1 GiB huge OS pages, then an arena of reserve_os_memory.
static void mi_process_reserve(void) {
  const long huge_pages = mi_option_get(mi_option_reserve_huge_os_pages);
  if (huge_pages > 0) {
    const long node = mi_option_get(mi_option_reserve_huge_os_pages_at);
    if (mi_reserve_huge_os_pages_at((size_t)huge_pages, (int)node, (size_t)huge_pages * 500) != 0) {
      _mi_warning_message("MIMALLOC_RESERVE_HUGE_OS_PAGES=%ld: the system has no such pages",
                          huge_pages);
    }
  }
  const size_t size = mi_option_get_size(mi_option_reserve_os_memory);
  if (size > 0) {
    const bool large = mi_option_is_enabled(mi_option_allow_large_os_pages);
    if (mi_reserve_os_memory(size, true, large) != 0) {
      _mi_warning_message("MIMALLOC_RESERVE_OS_MEMORY: unable to reserve %zu KiB", size / 1024);
    }
  }
}

static _Atomic(mi_threadid_t) mi_process_initializer;  // the thread that runs mi_process_init

// Another thread that starts allocating while the first one initialises the process waits for it
// (it would otherwise run on options, secrets and locks not set up yet); the initialising thread
// itself may allocate meanwhile (libc's pthread_atfork may call malloc), and goes on.
static void mi_process_init_wait(void) {
  if (mi_atomic_load_relaxed(&mi_process_initializer) == _mi_thread_id()) return;
  for (size_t spins = 0; mi_atomic_load_acquire(&mi_process_state) != 2; spins++) {
    if (spins < 64) mi_atomic_yield();
    else _mi_prim_thread_yield();
  }
}

void mi_process_init(void) mi_attr_noexcept {
  int expected = 0;
  if (mi_likely(mi_atomic_load_acquire(&mi_process_state) == 2)) return;
  if (!atomic_compare_exchange_strong(&mi_process_state, &expected, 1)) {
    if (expected == 1) mi_process_init_wait();
    return;
  }
  mi_atomic_store_relaxed(&mi_process_initializer, _mi_thread_id());
  _mi_os_init();
  _mi_stats_init();
  _mi_options_init();
  _mi_os_init_options();
  _mi_purge_init();
  uint64_t secret = 0;
  if (!_mi_prim_random_buf(&secret, sizeof(secret))) secret = _mi_random_weak((uintptr_t)&secret);
  _mi_process_secret = (uintptr_t)(secret | 1);
  _mi_prim_thread_init_auto_done(&mi_thread_done_key);
  if (!_mi_prim_atfork(&mi_fork_prepare, &mi_fork_parent, &mi_fork_child)) {
    _mi_warning_message("unable to register fork handlers");
  }
  // The initialising thread takes the static main heap.
  memset(&mi_tld_main, 0, sizeof(mi_tld_main));
  mi_tld_main.heap_backing = &_mi_heap_main;
  _mi_heap_init(&_mi_heap_main, &mi_tld_main, 0, false);
  if (!mi_heap_is_initialized(mi_prim_get_default_heap())) mi_thread_heap_install(&_mi_heap_main);
  mi_atomic_store_release(&mi_process_state, 2);
  mi_process_reserve();
  _mi_verbose_message("process init: thread 0x%zx, shardalloc %d.%d.%d (debug level %d)",
                      (size_t)_mi_thread_id(), SHARDALLOC_VERSION_MAJOR,
                      SHARDALLOC_VERSION_MINOR, SHARDALLOC_VERSION_PATCH, SA_DEBUG);
}

// 1: no mi_collect at exit (the Rust crate's `skip_collect_on_exit`): a process that exits with
// much memory live skips the walk, and no deferred-free callback runs from an exit handler.
#ifndef SA_SKIP_COLLECT_ON_EXIT
#define SA_SKIP_COLLECT_ON_EXIT 0
#endif

void mi_process_done(void) mi_attr_noexcept {
  static _Atomic(int) done;
  if (!_mi_process_is_initialized() || atomic_exchange(&done, 1)) return;
  // Other threads may still run and free into our heap: it is never destroyed.
  if (!SA_SKIP_COLLECT_ON_EXIT && mi_prim_get_default_heap() == &_mi_heap_main) {
    mi_collect(false);
  }
  if (mi_option_is_enabled(mi_option_show_stats) || mi_option_is_enabled(mi_option_verbose)) {
    mi_stats_print(NULL);
  }
  if (mi_option_is_enabled(mi_option_destroy_on_exit)) {
    // Give everything back now (for a library unloaded from a long-lived process); unsafe for
    // threads still running. Blocks freed later are not ours any more and are ignored.
    _mi_heap_unsafe_destroy_all();
    _mi_segments_unsafe_destroy();
    _mi_arenas_unsafe_destroy_all();
  }
  _mi_verbose_message("process done: %zu thread(s) still running",
                      mi_atomic_load_relaxed(&mi_thread_count));
}

int mi_version(void) mi_attr_noexcept { return MI_MALLOC_VERSION; }

bool mi_is_redirected(void) mi_attr_noexcept { return false; }

void mi_thread_set_in_threadpool(void) mi_attr_noexcept {}

__attribute__((constructor)) static void mi_process_load(void) { mi_process_init(); }

__attribute__((destructor)) static void mi_process_unload(void) { mi_process_done(); }
