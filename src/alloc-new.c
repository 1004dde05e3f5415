/* C++ allocation semantics for C callers and for the operators in override.c: when memory runs
 * out, call the program's std::new_handler and retry, as long as one is installed; without one,
 * throw std::bad_alloc.
 *
 * The library is C and links only libc, so the two C++ hooks are found at run time:
 *   std::get_new_handler()    _ZSt15get_new_handlerv
 *   std::__throw_bad_alloc()  _ZSt17__throw_bad_allocv  (throws through our frames: this file is
 *                                                         built with -fexceptions)
 * first as weak references (resolved when the program links libstdc++), else, when memory has
 * run out, in the libstdc++ the process has loaded by then (a C program that dlopens a C++
 * library). A fully static C++ program gets them only if something else pulled them into the
 * link (link with -Wl,-u,_ZSt17__throw_bad_allocv, or use mimalloc-new-delete.h, whose operators
 * throw by themselves). With no C++ runtime at all there is nothing to throw: abort with a
 * message.
 *
 * The nothrow forms return NULL without calling the handler: C cannot catch what a handler
 * throws, and an exception out of a noexcept function ends the program. mimalloc-new-delete.h,
 * compiled as C++, runs the standard loop for them. */
#include <dlfcn.h>
#include <stdlib.h>

#include "internal/internal.h"

typedef void (*mi_new_handler_t)(void);
typedef mi_new_handler_t (*mi_get_new_handler_t)(void);
typedef void (*mi_throw_t)(void);

extern mi_new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

// A libstdc++ function by name, in the global scope or in a libstdc++ loaded privately (by a
// library dlopen'ed with RTLD_LOCAL). dlopen itself is looked up too: a reference to it would make
// every static link of the library warn that it needs glibc's shared objects at run time.
static void* mi_cxx_runtime_lookup(const char* name) {
  void* p = dlsym(RTLD_DEFAULT, name);
  if (p != NULL) return p;
  void* (*open_fn)(const char*, int) = NULL;
  int (*close_fn)(void*) = NULL;
  void* q = dlsym(RTLD_DEFAULT, "dlopen");
  memcpy(&open_fn, &q, sizeof(q));
  q = dlsym(RTLD_DEFAULT, "dlclose");
  memcpy(&close_fn, &q, sizeof(q));
  if (open_fn == NULL || close_fn == NULL) return NULL;
  void* lib = open_fn("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
  if (lib == NULL) return NULL;
  p = dlsym(lib, name);
  close_fn(lib);  // (NOLOAD: only drops the reference just taken)
  return p;
}

static mi_new_handler_t mi_get_new_handler(void) {
  mi_get_new_handler_t get = _ZSt15get_new_handlerv;
  if (get == NULL) {
    void* p = mi_cxx_runtime_lookup("_ZSt15get_new_handlerv");
    memcpy(&get, &p, sizeof(get));
  }
  return (get != NULL ? get() : NULL);
}

static mi_decl_noinline __attribute__((noreturn)) void mi_throw_bad_alloc(void) {
  mi_throw_t throw_fn = _ZSt17__throw_bad_allocv;
  if (throw_fn == NULL) {
    void* p = mi_cxx_runtime_lookup("_ZSt17__throw_bad_allocv");
    memcpy(&throw_fn, &p, sizeof(throw_fn));
  }
  if (throw_fn != NULL) throw_fn();
  _mi_error_message(ENOMEM, "out of memory in 'new' and no C++ runtime to throw std::bad_alloc");
  abort();
}

/* After an allocation failed: true when a handler ran and the allocation may be retried; false
   for a nothrow caller, which then returns NULL. A throwing caller does not return. */
static bool mi_new_handler_retry(bool nothrow) {
  if (nothrow) return false;
  mi_new_handler_t handler = mi_get_new_handler();
  if (handler != NULL) {
    handler();
    return true;
  }
  mi_throw_bad_alloc();
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
