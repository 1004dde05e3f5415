/* shardalloc: every global operator new / new[] / delete / delete[] of the program routed to the
   mi_* functions. Include this header in exactly one C++ source file of a program that links
   shardalloc statically (libshardalloc.a) or that must keep libstdc++'s operators out even
   without preloading. The definitions here are ordinary C++: the nothrow forms catch what the
   new_handler throws, as the standard asks.

   The shared library and shardalloc.o define the same operators themselves (weakly), so
   including this header is harmless there and these definitions win. */
#ifndef MIMALLOC_NEW_DELETE_H
#define MIMALLOC_NEW_DELETE_H

#if defined(__cplusplus)
#include <cstddef>
#include <new>

#include "mimalloc.h"

void* operator new(std::size_t n) noexcept(false) { return mi_new(n); }
void* operator new[](std::size_t n) noexcept(false) { return mi_new(n); }

void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return mi_new(n);  // the full handler loop; whatever it throws becomes nullptr
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept {
  return ::operator new(n, tag);
}

void operator delete(void* p) noexcept { mi_free(p); }
void operator delete[](void* p) noexcept { mi_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { mi_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { mi_free(p); }

#if (__cplusplus >= 201402L) || defined(__cpp_sized_deallocation)
void operator delete(void* p, std::size_t n) noexcept { mi_free_size(p, n); }
void operator delete[](void* p, std::size_t n) noexcept { mi_free_size(p, n); }
#endif

#if (__cplusplus >= 201703L) || defined(__cpp_aligned_new)
void* operator new(std::size_t n, std::align_val_t al) noexcept(false) {
  return mi_new_aligned(n, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t n, std::align_val_t al) noexcept(false) {
  return mi_new_aligned(n, static_cast<std::size_t>(al));
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return mi_new_aligned(n, static_cast<std::size_t>(al));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t& tag) noexcept {
  return ::operator new(n, al, tag);
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
