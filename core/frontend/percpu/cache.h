/*
 * core/frontend/percpu/cache.h — the per-thread state of front end `percpu`, embedded in
 * the engine's thread cache (struct sl_mcache.fe). The free objects themselves are in
 * the CPU caches (percpu.h); a thread keeps its own figures, and `freelist`'s state as
 * its first member for the fallback and the NUMA remote lists (freelist/freelist.h's
 * sl_fl finds it there).
 */
#ifndef SPANLAB_FE_PERCPU_CACHE_H
#define SPANLAB_FE_PERCPU_CACHE_H

#include "../freelist/cache.h"

typedef struct sl_fe_percpu_cache {
	sl_fe_freelist_cache fl;	  /* first member: see above */
	uint64_t nmalloc[SL_NUM_CLASSES]; /* objects this thread allocated (with CPU caches) */
	uint64_t nfree[SL_NUM_CLASSES];	  /* objects this thread freed (with CPU caches) */
} sl_fe_percpu_cache;

#endif
