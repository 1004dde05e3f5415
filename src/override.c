/* The standard allocation interface: malloc, free, ... and glibc's __libc_* entry points, defined
 * so that linking or preloading shardalloc replaces the C library's allocator for the whole
 * process. malloc and free expand the inline hit paths; the rest call the mi_* functions (the
 * shared library binds those calls locally, so no PLT hop). C++ operators come with the override
 * issue. */
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
