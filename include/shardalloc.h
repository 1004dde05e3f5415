/* shardalloc: the header to include in new code. The interface itself is the mimalloc 2.x API
   declared in mimalloc.h, which this file includes; keeping that name too lets existing mimalloc
   users switch allocators without touching their sources. */
#ifndef SHARDALLOC_H
#define SHARDALLOC_H

#include "mimalloc.h"

/* Version of these headers, major*10000 + minor*100 + patch (see SHARDALLOC_VERSION_MAJOR etc. in
   mimalloc.h); mi_version() gives the linked library's. */
#define SHARDALLOC_VERSION MI_MALLOC_VERSION

#endif /* SHARDALLOC_H */
