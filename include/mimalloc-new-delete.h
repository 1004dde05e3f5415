/* shardalloc: every global operator new / new[] / delete / delete[] of the program routed to the
   mi_* functions. Include this header in exactly one C++ source file of a program that links
   shardalloc statically (libshardalloc.a) or that must keep libstdc++'s operators out even
   without preloading. The definitions here are ordinary C++ with the standard's semantics: new
   calls the new_handler in a loop and throws std::bad_alloc, the nothrow forms return nullptr
   for whatever that loop throws (under -fno-exceptions the library's C paths are used instead).

   The shared library and shardalloc.o define the same operators themselves (weakly), so
   including this header is harmless there and these definitions win. */
#ifndef MIMALLOC_NEW_DELETE_H
#define MIMALLOC_NEW_DELETE_H

#if defined(__cplusplus)
#include <cstddef>
#include <new>

#include "mimalloc.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
/* The standard loop, in C++ (strong references to the C++ runtime: also right in a fully static
   program). alignment 0: plain malloc. */
static inline void* mi_new_delete_alloc(std::size_t n, std::size_t alignment) {
  for (;;) {
    void* p = (alignment == 0 ? mi_malloc(n) : mi_malloc_aligned(n, alignment));
    if (p != nullptr) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}
static inline void* mi_new_delete_alloc_nothrow(std::size_t n, std::size_t alignment) noexcept {
  try {
    return mi_new_delete_alloc(n, alignment);
  } catch (...) {
    return nullptr;
  }
}
#else
static inline void* mi_new_delete_alloc(std::size_t n, std::size_t alignment) {
  return (alignment == 0 ? mi_new(n) : mi_new_aligned(n, alignment));
}
static inline void* mi_new_delete_alloc_nothrow(std::size_t n, std::size_t alignment) noexcept {
  return (alignment == 0 ? mi_new_nothrow(n) : mi_new_aligned_nothrow(n, alignment));
}
#endif

void* operator new(std::size_t n) noexcept(false) { return mi_new_delete_alloc(n, 0); }
void* operator new[](std::size_t n) noexcept(false) { return mi_new_delete_alloc(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return mi_new_delete_alloc_nothrow(n, 0);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return mi_new_delete_alloc_nothrow(n, 0);
}

void operator delete(void* p) noexcept { mi_free(p); }
void operator delete[](void* p) noexcept { mi_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { mi_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { mi_free(p); }

#if (__cplusplus >= 201402L) || defined(__cpp_sized_deallocation)
void operator delete(void* p, std::size_t n) noexcept { mi_free_size(p, n); }
void operator delete[](void* p, std::size_t n) noexcept { mi_free_size(p, n); }
#endif

#if (__cplusplus >= 201703L) && defined(__cpp_aligned_new)
void* operator new(std::size_t n, std::align_val_t al) noexcept(false) {
  return mi_new_delete_alloc(n, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t n, std::align_val_t al) noexcept(false) {
  return mi_new_delete_alloc(n, static_cast<std::size_t>(al));
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return mi_new_delete_alloc_nothrow(n, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return mi_new_delete_alloc_nothrow(n, static_cast<std::size_t>(al));
}
void operator delete(void* p, std::align_val_t al) noexcept {
  mi_free_aligned(p, static_cast<std::size_t>(al));
}
void operator delete[](void* p, std::align_val_t al) noexcept {
  mi_free_aligned(p, static_cast<std::size_t>(al));
}
void operator delete(void* p, std::size_t n, std::align_val_t al) noexcept {
  mi_free_size_aligned(p, n, static_cast<std::size_t>(al));
}
void operator delete[](void* p, std::size_t n, std::align_val_t al) noexcept {
  mi_free_size_aligned(p, n, static_cast<std::size_t>(al));
}
void operator delete(void* p, std::align_val_t al, const std::nothrow_t&) noexcept {
  mi_free_aligned(p, static_cast<std::size_t>(al));
}
void operator delete[](void* p, std::align_val_t al, const std::nothrow_t&) noexcept {
  mi_free_aligned(p, static_cast<std::size_t>(al));
}
#endif

#endif /* __cplusplus */
#endif /* MIMALLOC_NEW_DELETE_H */
