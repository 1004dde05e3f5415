/* The platform contract: everything shardalloc needs from the OS. Implemented by src/prim/unix.c,
 * the only file with OS #ifdefs. Every function is safe to call before the C runtime is fully
 * initialised and never calls malloc. Memory functions return 0 or an errno value. */
#pragma once
#ifndef SA_PRIM_H
#define SA_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mi_os_config_s {
  size_t page_size;           // OS page size (4 KiB on x86-64)
  size_t large_page_size;     // transparent/explicit large page size (2 MiB), 0 if none
  bool   has_overcommit;      // the OS commits lazily (Linux overcommit modes 0 and 1)
} mi_os_config_t;

// Fill `config`; called once at process start.
void _mi_prim_mem_init(mi_os_config_t* config);

// Transparent huge pages: allow_thp false disables them for the whole process (as the kernel's
// PR_SET_THP_DISABLE does).
void _mi_prim_thp_configure(bool allow_thp);
// MADV_HUGEPAGE (huge) or MADV_NOHUGEPAGE on a range; nothing where the OS has no such advice.
void _mi_prim_advise_thp(void* addr, size_t size, bool huge);
// Whether the kernel backs memory with transparent huge pages: never (or unknown), only where
// advised (MADV_HUGEPAGE), or always (unless advised against).
typedef enum mi_thp_mode_e { MI_THP_NEVER, MI_THP_MADVISE, MI_THP_ALWAYS } mi_thp_mode_t;
mi_thp_mode_t _mi_prim_thp_mode(void);

// Map `size` bytes (a multiple of the page size) readable and writable. Post: *addr is page aligned
// and the memory reads as zero.
int _mi_prim_alloc(void* hint, size_t size, void** addr);
// Unmap a range obtained from _mi_prim_alloc (or a page-aligned part of one).
int _mi_prim_free(void* addr, size_t size);
// Resize the mapping [addr, addr+old_size) to new_size, keeping its pages (no copy): in place when
// `target` is NULL (ENOMEM if the range after it is taken), else moved to `target`, a mapping of
// ours of new_size that it replaces. ENOSYS where the OS cannot.
int _mi_prim_remap(void* addr, size_t old_size, size_t new_size, void* target);

// Map `size` bytes (a multiple of 1 GiB) of 1 GiB huge pages; an error code if the system has
// none to give (they must be reserved by the administrator).
int _mi_prim_alloc_huge_os_pages(size_t size, void** addr);
// Return the physical pages of a range to the OS; the range stays mapped and reads as zero.
int _mi_prim_decommit(void* addr, size_t size);
// Let the OS take the pages lazily (MADV_FREE); contents become undefined (zero or old data).
int _mi_prim_reset(void* addr, size_t size);
// Make a range inaccessible (protect) or accessible again.
int _mi_prim_protect(void* addr, size_t size, bool protect);

// Faults on guard pages (guarded sampling): with `install`, a SIGSEGV and SIGBUS handler that
// calls `describe(fault address, buf, size)` and writes buf to stderr when it returns true, then
// lets the fault take its course: the handler installed before it runs, or (none) the default
// action kills the process as the fault would have. Without `install` the handlers before it come
// back, unless the program has replaced ours meanwhile. `describe` must be async-signal-safe.
void _mi_prim_fault_handler(bool install, bool (*describe)(void* addr, char* buf, size_t size));

// Monotonic milliseconds.
long long _mi_prim_clock_now(void);
// Fill `buf` with OS randomness; false if none is available.
bool _mi_prim_random_buf(void* buf, size_t size);

// Write a message to stderr without allocating.
void _mi_prim_out_stderr(const char* msg);
// Look up `name` in the environment, case-insensitively, without allocating. True if found.
bool _mi_prim_getenv(const char* name, char* result, size_t result_size);

// Arrange for `done(heap)` to run when the current thread exits, with `heap` as argument.
void _mi_prim_thread_init_auto_done(void (*done)(void*));
void _mi_prim_thread_done_auto_done(void);
void _mi_prim_thread_associate_default_heap(void* heap);

// Run the handlers around fork() (pthread_atfork); false if they could not be registered.
bool _mi_prim_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

// Give the processor to another thread (a wait that may take a while).
void _mi_prim_thread_yield(void);

// Sleep for about `ms` milliseconds.
void _mi_prim_sleep_ms(long ms);

// Start a detached thread running `fn(NULL)` with every signal blocked (a helper thread must not
// take the program's signals). False if it could not be started.
bool _mi_prim_thread_start_background(void* (*fn)(void*));

// Copy up to `max` bytes from `src`, a pointer of unknown origin, into `dst`, stopping (without a
// fault) at the first byte that cannot be read. Returns the bytes copied (0: src not readable).
// Slow: for pointers of unknown origin only.
size_t _mi_prim_copy_readable(void* dst, const void* src, size_t max);

// Process figures for statistics; any pointer may be NULL.
void _mi_prim_process_info(size_t* current_rss, size_t* peak_rss, size_t* page_faults);

// A unique, cheap id of the current thread (the thread pointer): never 0, low bits clear.
static inline uintptr_t _mi_prim_thread_id(void) {
#if defined(__x86_64__)
  uintptr_t tid;
  __asm__("movq %%fs:0, %0" : "=r"(tid));
  return tid;
#elif defined(__aarch64__)
  uintptr_t tid;
  __asm__ volatile("mrs %0, tpidr_el0" : "=r"(tid));
  return tid;
#else
  static __thread char mi_thread_marker;
  return (uintptr_t)&mi_thread_marker;
#endif
}

#endif
