/* shardalloc: the header to include in new code. The interface itself is the mimalloc 2.x API
   declared in mimalloc.h, which this file includes; keeping that name too lets existing mimalloc
   users switch allocators without touching their sources. */
#ifndef SHARDALLOC_H
#define SHARDALLOC_H

#include "mimalloc.h"
#include "mimalloc-stats.h"

/* Version of these headers, major*10000 + minor*100 + patch (see SHARDALLOC_VERSION_MAJOR etc. in
   mimalloc.h); mi_version() gives the linked library's. */
#define SHARDALLOC_VERSION MI_MALLOC_VERSION

#ifdef __cplusplus
extern "C" {
#endif

/* How the linked library was built (shardalloc's own, not mimalloc API): the secure level
   (SHARDALLOC_SECURE, 0 when off), the debug level (SHARDALLOC_DEBUG, 0..3), whether it defines
   malloc, free, ... for the whole process, and whether it uses local-dynamic TLS (dlopen-able). */
mi_decl_nodiscard mi_decl_export int shardalloc_build_secure_level(void) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export int shardalloc_build_debug_level(void) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export bool shardalloc_build_overrides_malloc(void) mi_attr_noexcept;
mi_decl_nodiscard mi_decl_export bool shardalloc_build_local_dynamic_tls(void) mi_attr_noexcept;

#ifdef __cplusplus
}
#endif

#endif /* SHARDALLOC_H */
