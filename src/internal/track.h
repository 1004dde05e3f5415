/* Telling memory checkers about blocks. With SA_VALGRIND (CMake SHARDALLOC_VALGRIND=ON) memcheck
 * sees every block as a malloc'd one (allocation stack for leaks, invalid accesses after free);
 * with SA_ASAN (SHARDALLOC_ASAN=ON, the library built with -fsanitize=address) free blocks and
 * not-yet-used page memory are poisoned, so AddressSanitizer reports a use after free. The
 * allocator's own reads and writes of a free block's link word go through mi_block_nextx /
 * mi_block_set_nextx (internal.h), which open the word for that access. Plain builds: no-ops. */
#pragma once
#ifndef SA_TRACK_H
#define SA_TRACK_H

#include <stddef.h>

#if defined(SA_VALGRIND) && SA_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define MI_TRACK_ENABLED 1
// A block handed out (size usable bytes; zero: its contents are defined zero).
#define mi_track_malloc(p, size, zero) VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zero)
#define mi_track_free(p) VALGRIND_FREELIKE_BLOCK(p, 0)
#define mi_track_mem_defined(p, size) VALGRIND_MAKE_MEM_DEFINED(p, size)
#define mi_track_mem_undefined(p, size) VALGRIND_MAKE_MEM_UNDEFINED(p, size)
#define mi_track_mem_noaccess(p, size) VALGRIND_MAKE_MEM_NOACCESS(p, size)
#elif defined(SA_ASAN) && SA_ASAN
#include <sanitizer/asan_interface.h>
#define MI_TRACK_ENABLED 1
#define mi_track_malloc(p, size, zero) ASAN_UNPOISON_MEMORY_REGION(p, size)
#define mi_track_free(p) ((void)(p))  // the caller poisons the block (it knows its size)
#define mi_track_mem_defined(p, size) ASAN_UNPOISON_MEMORY_REGION(p, size)
#define mi_track_mem_undefined(p, size) ASAN_UNPOISON_MEMORY_REGION(p, size)
#define mi_track_mem_noaccess(p, size) ASAN_POISON_MEMORY_REGION(p, size)
#else
#define MI_TRACK_ENABLED 0
#define mi_track_malloc(p, size, zero) ((void)0)
#define mi_track_free(p) ((void)0)
#define mi_track_mem_defined(p, size) ((void)0)
#define mi_track_mem_undefined(p, size) ((void)0)
#define mi_track_mem_noaccess(p, size) ((void)0)
#endif

#endif
