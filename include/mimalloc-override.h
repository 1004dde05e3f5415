/* shardalloc: redirect the C allocation functions to the mi_* functions by macro, in the sources
   that include this header (after every system header). This is the static override for code
   you compile yourself; it does not reach libraries or libc-internal allocations, so memory must
   not cross between these sources and code that uses the C library's allocator. To replace the
   allocator for a whole program, preload libshardalloc.so or link shardalloc.o first instead.
   C++ operators: include mimalloc-new-delete.h in one C++ file. */
#ifndef MIMALLOC_OVERRIDE_H
#define MIMALLOC_OVERRIDE_H

#include "mimalloc.h"

/* Standard C and POSIX */
#define malloc(n)                  mi_malloc(n)
#define calloc(n, c)               mi_calloc(n, c)
#define realloc(p, n)              mi_realloc(p, n)
#define free(p)                    mi_free(p)
#define strdup(s)                  mi_strdup(s)
#define strndup(s, n)              mi_strndup(s, n)
#define realpath(f, n)             mi_realpath(f, n)
#define aligned_alloc(a, n)        mi_aligned_alloc(a, n)
#define posix_memalign(p, a, n)    mi_posix_memalign(p, a, n)

/* glibc and BSD extensions */
#define memalign(a, n)             mi_memalign(a, n)
#define valloc(n)                  mi_valloc(n)
#define pvalloc(n)                 mi_pvalloc(n)
#define cfree(p)                   mi_cfree(p)
#define reallocf(p, n)             mi_reallocf(p, n)
#define reallocarray(p, c, n)      mi_reallocarray(p, c, n)
#define reallocarr(p, c, n)        mi_reallocarr(p, c, n)
#define malloc_usable_size(p)      mi_usable_size(p)
#define malloc_size(p)             mi_usable_size(p)
#define malloc_good_size(n)        mi_malloc_good_size(n)
#define _posix_memalign(p, a, n)   mi_posix_memalign(p, a, n)

/* Microsoft names, for portable code that uses them */
#define _expand(p, n)              mi__expand(p, n)
#define _msize(p)                  mi_usable_size(p)
#define _recalloc(p, c, n)         mi_recalloc(p, c, n)
#define _strdup(s)                 mi_strdup(s)
#define _strndup(s, n)             mi_strndup(s, n)
#define _wcsdup(s)                 mi_wcsdup(s)
#define _mbsdup(s)                 mi_mbsdup(s)
#define _dupenv_s(b, n, v)         mi_dupenv_s(b, n, v)
#define _wdupenv_s(b, n, v)        mi_wdupenv_s(b, n, v)
#define _aligned_malloc(n, a)      mi_malloc_aligned(n, a)
#define _aligned_realloc(p, n, a)  mi_realloc_aligned(p, n, a)
#define _aligned_recalloc(p, s, n, a)        mi_aligned_recalloc(p, s, n, a)
#define _aligned_msize(p, a, o)              mi_usable_size(p)
#define _aligned_free(p)                     mi_free(p)
#define _aligned_offset_malloc(n, a, o)      mi_malloc_aligned_at(n, a, o)
#define _aligned_offset_realloc(p, n, a, o)  mi_realloc_aligned_at(p, n, a, o)
#define _aligned_offset_recalloc(p, s, n, a, o) mi_aligned_offset_recalloc(p, s, n, a, o)

#endif /* MIMALLOC_OVERRIDE_H */
