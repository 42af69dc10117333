/*
 * core/frontend/bitmap/cache.h — the per-thread state of front end `bitmap`, embedded in
 * the engine's thread cache (struct sl_mcache.fe): the bitmap core's per-class entries
 * (sl_bm_cache, also the base of front end `tiny`'s state, tiny/cache.h). Functions:
 * bmcore.h (the core) and bitmap.h.
 */
#ifndef SPANLAB_FE_BITMAP_CACHE_H
#define SPANLAB_FE_BITMAP_CACHE_H

/* The front end hands whole spans to thread caches and keeps their state in span
 * bitmaps (core/spanbits.h; mcentral's side in core/mcentral.c). */
#define SL_FE_SPAN_BITMAPS 1

/* One size class of a bitmap cache: one cache line, touched by the fast paths only. */
typedef struct sl_bm_class {
	uint64_t cache;	    /* free slots of the bitmap word at `wordptr` (1 = free) */
	uintptr_t wordbase; /* address of that word's first slot */
	uint64_t *wordptr;  /* &span->freebits[w] for the word `cache` stands for, or NULL */
	sl_span *span;	    /* the current span (allocations come from it), or NULL */
	uint64_t nmalloc;   /* objects handed to the program (statistics, relaxed stores) */
	uint64_t nfree;	    /* objects of the class this thread freed (statistics) */
	sl_span *owned;	    /* the class's other owned spans, linked through next/prev */
	uint32_t elemsize;  /* the class's object size */
	uint32_t nowned;    /* spans on `owned` */
} __attribute__((aligned(64))) sl_bm_class;

/* The bitmap core's state: the first member of every cache type built on it. */
typedef struct sl_bm_cache {
	sl_bm_class cls[SL_NUM_CLASSES]; /* [0] unused: its span stays NULL */
	/* One more entry, outside cls[] so that the free fast path never takes a free
	 * into its spans: `tiny` allocates its blocks from it (16-byte class), in spans of
	 * their own; `bitmap` leaves it unused. */
	sl_bm_class extra;
	uint64_t refills;   /* cache words loaded (statistics) */
	size_t owned_bytes; /* bytes of the spans on every entry's `owned` list */
} sl_bm_cache;

typedef struct sl_fe_bitmap_cache {
	sl_bm_cache bm;
} sl_fe_bitmap_cache;

#endif
