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
   the inline free path; the size and alignment arguments are not needed to free. The nothrow
   forms return NULL when memory runs out without calling the new_handler: C cannot catch what a
   handler throws (mimalloc-new-delete.h, compiled as C++, runs the full standard loop).

   A program may replace only some operators, typically operator new(size_t) and operator
   delete(void*). The standard then has the other forms call the replaced ones (new[] calls new,
   sized delete calls delete, ...), so ours must not serve those blocks: on first use the eight
   replaceable base operators are looked up (the process's definition, as dynamic lookup or the
   static link resolved it), and if any is not ours, the derived forms forward to the base ones.
--------------------------------------------------------------------------------------------- */
#include <dlfcn.h>

_Static_assert(_Generic((size_t)0, unsigned long: 1, default: 0),
               "the mangled names below spell size_t as unsigned long ('m')");

typedef struct mi_nothrow_s mi_nothrow_t;  // std::nothrow_t, only ever passed by reference
typedef size_t mi_align_val_t;              // std::align_val_t, an enum class over size_t

#define mi_decl_operator(target) mi_decl_override __attribute__((weak, alias(#target)))

static inline void* mi_operator_new(size_t size, bool nothrow) {
  void* p = mi_heap_malloc_inline(mi_prim_get_default_heap(), size, false);
  return (mi_likely(p != NULL) ? p : _mi_new_retry(size, nothrow));
}

// The base operators (a program that replaces any operator replaces at least one of these).
static void* mi_op_new(size_t n) { return mi_operator_new(n, false); }
static void* mi_op_new_array(size_t n);
static void mi_op_delete(void* p) { mi_free_inline(p); }
static void mi_op_delete_array(void* p);
static void* mi_op_new_aligned(size_t n, mi_align_val_t al) { return mi_new_aligned(n, al); }
static void* mi_op_new_array_aligned(size_t n, mi_align_val_t al);
static void mi_op_delete_aligned(void* p, mi_align_val_t al) { mi_free_aligned(p, al); }
static void mi_op_delete_array_aligned(void* p, mi_align_val_t al);

void* _Znwm(size_t) mi_decl_operator(mi_op_new);
void* _Znam(size_t) mi_decl_operator(mi_op_new_array);
void _ZdlPv(void*) mi_decl_operator(mi_op_delete);
void _ZdaPv(void*) mi_decl_operator(mi_op_delete_array);
void* _ZnwmSt11align_val_t(size_t, mi_align_val_t) mi_decl_operator(mi_op_new_aligned);
void* _ZnamSt11align_val_t(size_t, mi_align_val_t) mi_decl_operator(mi_op_new_array_aligned);
void _ZdlPvSt11align_val_t(void*, mi_align_val_t) mi_decl_operator(mi_op_delete_aligned);
void _ZdaPvSt11align_val_t(void*, mi_align_val_t) mi_decl_operator(mi_op_delete_array_aligned);

// The operators the process actually uses, when any of them is not ours.
typedef struct mi_cxx_ops_s {
  void* (*new_)(size_t);
  void* (*new_array)(size_t);
  void (*delete_)(void*);
  void (*delete_array)(void*);
  void* (*new_aligned)(size_t, mi_align_val_t);
  void* (*new_array_aligned)(size_t, mi_align_val_t);
  void (*delete_aligned)(void*, mi_align_val_t);
  void (*delete_array_aligned)(void*, mi_align_val_t);
} mi_cxx_ops_t;

static mi_cxx_ops_t mi_cxx_ops;
static _Atomic(int) mi_cxx_state;  // 0: not looked up yet, 1: all ours, 2: some replaced

// The definition the process uses: dynamic lookup finds a replacement in the executable or in a
// library loaded before us; in a static link (no dynamic symbols) the linked address tells.
typedef void (*mi_fn_t)(void);
static mi_fn_t mi_cxx_lookup(const char* name, mi_fn_t linked) {
  void* p = dlsym(RTLD_DEFAULT, name);
  if (p == NULL) return linked;
  mi_fn_t fn;
  memcpy(&fn, &p, sizeof(fn));  // (POSIX guarantees the conversion; ISO C does not spell it)
  return fn;
}

static mi_decl_noinline bool mi_cxx_resolve(void) {
  mi_cxx_ops_t ops;
#define MI_CXX_LOOKUP(field, name) \
  ops.field = (__typeof__(ops.field))mi_cxx_lookup(#name, (mi_fn_t)&name)
  MI_CXX_LOOKUP(new_, _Znwm);
  MI_CXX_LOOKUP(new_array, _Znam);
  MI_CXX_LOOKUP(delete_, _ZdlPv);
  MI_CXX_LOOKUP(delete_array, _ZdaPv);
  MI_CXX_LOOKUP(new_aligned, _ZnwmSt11align_val_t);
  MI_CXX_LOOKUP(new_array_aligned, _ZnamSt11align_val_t);
  MI_CXX_LOOKUP(delete_aligned, _ZdlPvSt11align_val_t);
  MI_CXX_LOOKUP(delete_array_aligned, _ZdaPvSt11align_val_t);
#undef MI_CXX_LOOKUP
  const bool ours = (ops.new_ == &mi_op_new && ops.new_array == &mi_op_new_array &&
                     ops.delete_ == &mi_op_delete && ops.delete_array == &mi_op_delete_array &&
                     ops.new_aligned == &mi_op_new_aligned &&
                     ops.new_array_aligned == &mi_op_new_array_aligned &&
                     ops.delete_aligned == &mi_op_delete_aligned &&
                     ops.delete_array_aligned == &mi_op_delete_array_aligned);
  if (!ours) {
    mi_cxx_ops = ops;
    _mi_verbose_message("the program replaces some C++ operators: the others forward to them");
  }
  atomic_store_explicit(&mi_cxx_state, ours ? 1 : 2, memory_order_release);
  return !ours;
}

// True when some base operator is the program's: then the derived forms forward to mi_cxx_ops.
static inline bool mi_cxx_replaced(void) {
  const int state = atomic_load_explicit(&mi_cxx_state, memory_order_acquire);
  if (mi_likely(state == 1)) return false;
  return (state == 2 || mi_cxx_resolve());
}

static void* mi_op_new_array(size_t n) {
  return (mi_cxx_replaced() ? mi_cxx_ops.new_(n) : mi_operator_new(n, false));
}
static void mi_op_delete_array(void* p) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_(p);
  else mi_free_inline(p);
}
static void* mi_op_new_array_aligned(size_t n, mi_align_val_t al) {
  return (mi_cxx_replaced() ? mi_cxx_ops.new_aligned(n, al) : mi_new_aligned(n, al));
}
static void mi_op_delete_array_aligned(void* p, mi_align_val_t al) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_aligned(p, al);
  else mi_free_aligned(p, al);
}

#define mi_decl_derived mi_decl_override __attribute__((weak))

// nothrow new / new[]: NULL instead of std::bad_alloc (a replaced base operator's exception, like
// a handler's, cannot be caught here and passes on).
mi_decl_derived void* _ZnwmRKSt9nothrow_t(size_t n, const mi_nothrow_t* tag) {
  (void)tag;
  return (mi_cxx_replaced() ? mi_cxx_ops.new_(n) : mi_operator_new(n, true));
}
mi_decl_derived void* _ZnamRKSt9nothrow_t(size_t n, const mi_nothrow_t* tag) {
  (void)tag;
  return (mi_cxx_replaced() ? mi_cxx_ops.new_array(n) : mi_operator_new(n, true));
}
mi_decl_derived void* _ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, mi_align_val_t al,
                                                         const mi_nothrow_t* tag) {
  (void)tag;
  return (mi_cxx_replaced() ? mi_cxx_ops.new_aligned(n, al) : mi_new_aligned_nothrow(n, al));
}
mi_decl_derived void* _ZnamSt11align_val_tRKSt9nothrow_t(size_t n, mi_align_val_t al,
                                                         const mi_nothrow_t* tag) {
  (void)tag;
  return (mi_cxx_replaced() ? mi_cxx_ops.new_array_aligned(n, al) : mi_new_aligned_nothrow(n, al));
}

// sized (C++14) and nothrow delete / delete[]
mi_decl_derived void _ZdlPvm(void* p, size_t n) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_(p);
  else mi_free_size(p, n);
}
mi_decl_derived void _ZdaPvm(void* p, size_t n) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_array(p);
  else mi_free_size(p, n);
}
mi_decl_derived void _ZdlPvRKSt9nothrow_t(void* p, const mi_nothrow_t* tag) {
  (void)tag;
  if (mi_cxx_replaced()) mi_cxx_ops.delete_(p);
  else mi_free_inline(p);
}
mi_decl_derived void _ZdaPvRKSt9nothrow_t(void* p, const mi_nothrow_t* tag) {
  (void)tag;
  if (mi_cxx_replaced()) mi_cxx_ops.delete_array(p);
  else mi_free_inline(p);
}

// aligned + sized and aligned + nothrow delete / delete[] (C++17)
mi_decl_derived void _ZdlPvmSt11align_val_t(void* p, size_t n, mi_align_val_t al) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_aligned(p, al);
  else mi_free_size_aligned(p, n, al);
}
mi_decl_derived void _ZdaPvmSt11align_val_t(void* p, size_t n, mi_align_val_t al) {
  if (mi_cxx_replaced()) mi_cxx_ops.delete_array_aligned(p, al);
  else mi_free_size_aligned(p, n, al);
}
mi_decl_derived void _ZdlPvSt11align_val_tRKSt9nothrow_t(void* p, mi_align_val_t al,
                                                        const mi_nothrow_t* tag) {
  (void)tag;
  if (mi_cxx_replaced()) mi_cxx_ops.delete_aligned(p, al);
  else mi_free_aligned(p, al);
}
mi_decl_derived void _ZdaPvSt11align_val_tRKSt9nothrow_t(void* p, mi_align_val_t al,
                                                        const mi_nothrow_t* tag) {
  (void)tag;
  if (mi_cxx_replaced()) mi_cxx_ops.delete_array_aligned(p, al);
  else mi_free_aligned(p, al);
}
