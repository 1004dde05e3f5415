/* The standard allocation interface: malloc, free, ... glibc's __libc_* entry points and the C++
 * operators new and delete, defined so that linking or preloading shardalloc replaces the C
 * library's allocator (and libstdc++'s operators) for the whole process. malloc, free, new and
 * delete expand the inline hit paths; the rest call the mi_* functions (the shared library binds
 * those calls locally, so no PLT hop). */
#include <stdlib.h>
#include <string.h>

#include "internal/internal.h"

#define mi_decl_override __attribute__((visibility("default"), used))

#undef strdup
#undef strndup

mi_decl_override void* malloc(size_t size) {
  return mi_heap_malloc_inline(mi_prim_get_default_heap(), size, false);
}
mi_decl_override void free(void* p) { mi_free_inline(p); }
mi_decl_override void* calloc(size_t count, size_t size) { return mi_calloc(count, size); }
mi_decl_override void* realloc(void* p, size_t size) { return mi_realloc(p, size); }
mi_decl_override void* reallocf(void* p, size_t size) { return mi_reallocf(p, size); }
mi_decl_override void* reallocarray(void* p, size_t count, size_t size) {
  return mi_reallocarray(p, count, size);
}
mi_decl_override void cfree(void* p) { mi_free(p); }
mi_decl_override size_t malloc_usable_size(void* p) { return mi_usable_size(p); }
mi_decl_override int posix_memalign(void** p, size_t alignment, size_t size) {
  return mi_posix_memalign(p, alignment, size);
}
mi_decl_override void* memalign(size_t alignment, size_t size) {
  return mi_memalign(alignment, size);
}
mi_decl_override void* aligned_alloc(size_t alignment, size_t size) {
  return mi_aligned_alloc(alignment, size);
}
mi_decl_override void* valloc(size_t size) { return mi_valloc(size); }
mi_decl_override void* pvalloc(size_t size) { return mi_pvalloc(size); }
mi_decl_override char* strdup(const char* s) { return mi_strdup(s); }
mi_decl_override char* strndup(const char* s, size_t n) { return mi_strndup(s, n); }

// glibc's internal names, used by some programs and by glibc itself in places.
mi_decl_override void* __libc_malloc(size_t size) { return mi_malloc(size); }
mi_decl_override void* __libc_calloc(size_t count, size_t size) { return mi_calloc(count, size); }
mi_decl_override void* __libc_realloc(void* p, size_t size) { return mi_realloc(p, size); }
mi_decl_override void __libc_free(void* p) { mi_free(p); }
mi_decl_override void __libc_cfree(void* p) { mi_free(p); }
mi_decl_override void* __libc_memalign(size_t alignment, size_t size) {
  return mi_memalign(alignment, size);
}
mi_decl_override void* __libc_valloc(size_t size) { return mi_valloc(size); }
mi_decl_override void* __libc_pvalloc(size_t size) { return mi_pvalloc(size); }
mi_decl_override int __posix_memalign(void** p, size_t alignment, size_t size) {
  return mi_posix_memalign(p, alignment, size);
}

/* ---------------------------------------------------------------------------------------------
   C++ operators, by their Itanium-ABI names (the library is C). Weak: a program that defines its
   own (mimalloc-new-delete.h, or a tracking allocator) keeps them when linked statically; for
   dynamic symbol lookup weak and strong are the same, so preloading still replaces libstdc++'s.
   new: the inline malloc hit path, then the new-handler loop (alloc-new.c) on failure. delete:
   the inline free path; the size and alignment arguments are not needed to free.
--------------------------------------------------------------------------------------------- */
_Static_assert(_Generic((size_t)0, unsigned long: 1, default: 0),
               "the mangled names below spell size_t as unsigned long ('m')");

#define mi_decl_operator mi_decl_override __attribute__((weak))

typedef struct mi_nothrow_s mi_nothrow_t;  // std::nothrow_t, only ever passed by reference
typedef size_t mi_align_val_t;              // std::align_val_t, an enum class over size_t

static inline void* mi_operator_new(size_t size, bool nothrow) {
  void* p = mi_heap_malloc_inline(mi_prim_get_default_heap(), size, false);
  return (mi_likely(p != NULL) ? p : _mi_new_retry(size, nothrow));
}

// operator new / new[] (size_t), and their nothrow forms
mi_decl_operator void* _Znwm(size_t n) { return mi_operator_new(n, false); }
mi_decl_operator void* _Znam(size_t n) { return mi_operator_new(n, false); }
mi_decl_operator void* _ZnwmRKSt9nothrow_t(size_t n, const mi_nothrow_t* tag) {
  (void)tag;
  return mi_operator_new(n, true);
}
mi_decl_operator void* _ZnamRKSt9nothrow_t(size_t n, const mi_nothrow_t* tag) {
  (void)tag;
  return mi_operator_new(n, true);
}

// C++17 aligned forms
mi_decl_operator void* _ZnwmSt11align_val_t(size_t n, mi_align_val_t al) {
  return mi_new_aligned(n, al);
}
mi_decl_operator void* _ZnamSt11align_val_t(size_t n, mi_align_val_t al) {
  return mi_new_aligned(n, al);
}
mi_decl_operator void* _ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, mi_align_val_t al,
                                                          const mi_nothrow_t* tag) {
  (void)tag;
  return mi_new_aligned_nothrow(n, al);
}
mi_decl_operator void* _ZnamSt11align_val_tRKSt9nothrow_t(size_t n, mi_align_val_t al,
                                                          const mi_nothrow_t* tag) {
  (void)tag;
  return mi_new_aligned_nothrow(n, al);
}

// operator delete / delete[]: plain, sized (C++14), nothrow, aligned and aligned+sized (C++17)
mi_decl_operator void _ZdlPv(void* p) { mi_free_inline(p); }
mi_decl_operator void _ZdaPv(void* p) { mi_free_inline(p); }
mi_decl_operator void _ZdlPvm(void* p, size_t n) { mi_free_size(p, n); }
mi_decl_operator void _ZdaPvm(void* p, size_t n) { mi_free_size(p, n); }
mi_decl_operator void _ZdlPvRKSt9nothrow_t(void* p, const mi_nothrow_t* tag) {
  (void)tag;
  mi_free_inline(p);
}
mi_decl_operator void _ZdaPvRKSt9nothrow_t(void* p, const mi_nothrow_t* tag) {
  (void)tag;
  mi_free_inline(p);
}
mi_decl_operator void _ZdlPvSt11align_val_t(void* p, mi_align_val_t al) { mi_free_aligned(p, al); }
mi_decl_operator void _ZdaPvSt11align_val_t(void* p, mi_align_val_t al) { mi_free_aligned(p, al); }
mi_decl_operator void _ZdlPvmSt11align_val_t(void* p, size_t n, mi_align_val_t al) {
  mi_free_size_aligned(p, n, al);
}
mi_decl_operator void _ZdaPvmSt11align_val_t(void* p, size_t n, mi_align_val_t al) {
  mi_free_size_aligned(p, n, al);
}
mi_decl_operator void _ZdlPvSt11align_val_tRKSt9nothrow_t(void* p, mi_align_val_t al,
                                                         const mi_nothrow_t* tag) {
  (void)tag;
  mi_free_aligned(p, al);
}
mi_decl_operator void _ZdaPvSt11align_val_tRKSt9nothrow_t(void* p, mi_align_val_t al,
                                                         const mi_nothrow_t* tag) {
  (void)tag;
  mi_free_aligned(p, al);
}
