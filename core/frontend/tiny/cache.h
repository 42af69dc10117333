/*
 * core/frontend/tiny/cache.h — the per-thread state of front end `tiny`, embedded in the
 * engine's thread cache (struct sl_mcache.fe): the bitmap core's entries (bitmap/cache.h)
 * first, then the current tiny block and the tiny allocator's figures. Functions:
 * tiny.h.
 */
#ifndef SPANLAB_FE_TINY_CACHE_H
#define SPANLAB_FE_TINY_CACHE_H

#include "../bitmap/cache.h"

typedef struct sl_fe_tiny_cache {
	sl_bm_cache bm; /* first member: the bitmap core's state (bitmap/bmcore.h's sl_bm) */
	/* The current tiny block, its word in the span's tinywords, and the offset of its
	 * first unused byte (16: no block). */
	uintptr_t tiny;
	uint16_t *tinyword;
	uint32_t tinyoff;
	uint32_t tinycls;	   /* the 16-byte class (tiny blocks), 0: the table has none */
	/* Statistics (owner writes, anyone reads: relaxed). */
	uint64_t tiny_allocs;	   /* tiny objects allocated */
	uint64_t tiny_blocks;	   /* blocks taken (counted in bm.cls[tinycls].nmalloc) */
	uint64_t tiny_class_bytes; /* bytes those would have taken in their own classes */
	uint64_t tiny_frees;	   /* tiny objects this thread freed */
	uint64_t tiny_released;	   /* tiny blocks this thread gave back */
} sl_fe_tiny_cache;

#endif
