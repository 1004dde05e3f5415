/* Build information: how this copy of the library was configured at compile time (debug and
 * secure levels, malloc override, TLS model), for bindings and tests that must know which build
 * they linked. Reads only preprocessor macros; calls nothing and touches no shared data. */
#include "internal/internal.h"
#include "shardalloc.h"

/* The secure level requested with -DSHARDALLOC_SECURE=N (0: not a secure build). The checks it
   will turn on come with the secure build (issue 9); the level is reported already. */
#ifndef SHARDALLOC_SECURE
#define SHARDALLOC_SECURE 0
#endif
_Static_assert(SHARDALLOC_SECURE >= 0 && SHARDALLOC_SECURE <= 5, "SHARDALLOC_SECURE must be 0..5");
_Static_assert(SA_DEBUG >= 0 && SA_DEBUG <= 3, "SA_DEBUG must be 0..3");

int shardalloc_build_secure_level(void) mi_attr_noexcept { return SHARDALLOC_SECURE; }

int shardalloc_build_debug_level(void) mi_attr_noexcept { return SA_DEBUG; }

/* SA_OVERRIDE is defined by the builds that compile src/override.c (CMake's SHARDALLOC_OVERRIDE,
   the Rust crate's `override` feature). */
bool shardalloc_build_overrides_malloc(void) mi_attr_noexcept {
#if defined(SA_OVERRIDE) && SA_OVERRIDE
  return true;
#else
  return false;
#endif
}

bool shardalloc_build_local_dynamic_tls(void) mi_attr_noexcept {
#if defined(SA_LOCAL_DYNAMIC_TLS)
  return true;
#else
  return false;
#endif
}
