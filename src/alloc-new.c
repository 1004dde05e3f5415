/* C++ allocation semantics for C callers and for the operators in override.c: when memory runs
 * out, call the program's std::new_handler and retry, as long as one is installed; without one,
 * throw std::bad_alloc (or return NULL for the nothrow forms).
 *
 * The library is C and links only libc, so both C++ hooks are weak references to libstdc++'s
 * exported functions, resolved when the program is a C++ program and NULL otherwise:
 *   std::get_new_handler()    _ZSt15get_new_handlerv
 *   std::__throw_bad_alloc()  _ZSt17__throw_bad_allocv  (throws through our frames: the library
 *                                                         is built with unwind tables)
 * A C program that calls mi_new and runs out of memory has nothing to throw to: the process
 * aborts with a message. For the nothrow forms, a handler that throws lets its exception out (C
 * cannot catch it); mimalloc-new-delete.h, compiled as C++, catches it as the standard says. */
#include <stdlib.h>

#include "internal/internal.h"

typedef void (*mi_new_handler_t)(void);

extern mi_new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static mi_decl_noinline __attribute__((noreturn)) void mi_throw_bad_alloc(void) {
  if (_ZSt17__throw_bad_allocv != NULL) _ZSt17__throw_bad_allocv();
  _mi_error_message(ENOMEM, "out of memory in 'new' and no C++ runtime to throw std::bad_alloc");
  abort();
}

/* After an allocation failed: true when a handler ran and the allocation may be retried; false
   for a nothrow caller, which then returns NULL. A throwing caller does not return. */
static bool mi_new_handler_retry(bool nothrow) {
  mi_new_handler_t handler = (_ZSt15get_new_handlerv != NULL ? _ZSt15get_new_handlerv() : NULL);
  if (handler != NULL) {
    handler();
    return true;
  }
  if (!nothrow) mi_throw_bad_alloc();
  return false;
}

/* The slow paths: the first attempt already failed (errno is ENOMEM). Each retry follows a call
   of the program's handler, which frees memory, installs another handler, or throws. */
static mi_decl_noinline void* mi_heap_new_retry(mi_heap_t* heap, size_t size, bool nothrow) {
  void* p = NULL;
  while (p == NULL && mi_new_handler_retry(nothrow)) p = mi_heap_malloc(heap, size);
  return p;
}

void* _mi_new_retry(size_t size, bool nothrow) {
  return mi_heap_new_retry(mi_prim_get_default_heap(), size, nothrow);
}

static mi_decl_noinline void* mi_new_aligned_retry(size_t size, size_t alignment, bool nothrow) {
  void* p = NULL;
  while (p == NULL && mi_new_handler_retry(nothrow)) p = mi_malloc_aligned(size, alignment);
  return p;
}

// count * size does not fit in size_t: no handler can help, so it is not called.
static mi_decl_noinline void* mi_new_overflow(bool nothrow) {
  errno = ENOMEM;
  if (!nothrow) mi_throw_bad_alloc();
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
   The mi_new family. The first attempt is the inline malloc path; only a failure leaves it.
--------------------------------------------------------------------------------------------- */
static inline void* mi_heap_try_new(mi_heap_t* heap, size_t size, bool nothrow) {
  void* p = mi_heap_malloc_inline(heap, size, false);
  return (mi_likely(p != NULL) ? p : mi_heap_new_retry(heap, size, nothrow));
}

void* mi_heap_alloc_new(mi_heap_t* heap, size_t size) {
  return mi_heap_try_new(heap, size, false);
}

void* mi_new(size_t size) { return mi_heap_try_new(mi_prim_get_default_heap(), size, false); }

void* mi_new_nothrow(size_t size) mi_attr_noexcept {
  return mi_heap_try_new(mi_prim_get_default_heap(), size, true);
}

static void* mi_new_aligned_ex(size_t size, size_t alignment, bool nothrow) {
  void* p = mi_malloc_aligned(size, alignment);
  if (mi_likely(p != NULL)) return p;
  if (!_mi_is_power_of_two(alignment)) {  // errno is EINVAL: no handler can help
    if (!nothrow) mi_throw_bad_alloc();
    return NULL;
  }
  return mi_new_aligned_retry(size, alignment, nothrow);
}

void* mi_new_aligned(size_t size, size_t alignment) {
  return mi_new_aligned_ex(size, alignment, false);
}

void* mi_new_aligned_nothrow(size_t size, size_t alignment) mi_attr_noexcept {
  return mi_new_aligned_ex(size, alignment, true);
}

void* mi_heap_alloc_new_n(mi_heap_t* heap, size_t count, size_t size) {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(count, size, &total))) return mi_new_overflow(false);
  return mi_heap_try_new(heap, total, false);
}

void* mi_new_n(size_t count, size_t size) {
  return mi_heap_alloc_new_n(mi_prim_get_default_heap(), count, size);
}

// Like mi_realloc, with the handler loop; on failure p is untouched (and bad_alloc thrown).
void* mi_new_realloc(void* p, size_t newsize) {
  void* newp = mi_realloc(p, newsize);
  while (mi_unlikely(newp == NULL) && mi_new_handler_retry(false)) newp = mi_realloc(p, newsize);
  return newp;
}

void* mi_new_reallocn(void* p, size_t newcount, size_t size) {
  size_t total;
  if (mi_unlikely(mi_mul_overflow(newcount, size, &total))) return mi_new_overflow(false);
  return mi_new_realloc(p, total);
}
