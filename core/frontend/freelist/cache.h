/*
 * core/frontend/freelist/cache.h — the per-thread state of front end `freelist`, which
 * the engine's thread cache embeds (struct sl_mcache.fe, core/internal.h). Included by
 * core/frontend.h from core/internal.h, after the engine's types; the functions are in
 * freelist.h. Front end `percpu` embeds this type too, as its fallback (percpu/cache.h).
 */
#ifndef SPANLAB_FE_FREELIST_CACHE_H
#define SPANLAB_FE_FREELIST_CACHE_H

/* One size class of a thread's cache. */
typedef struct sl_freelist {
	void *head;	  /* objects linked through word 0 (sl_link_set) */
	uint32_t count;	  /* objects on the list (relaxed stores: statistics read it) */
	uint32_t max;	  /* flush above this; grows on refill up to the class's cap */
	uint64_t nmalloc; /* objects handed to the program (statistics) */
	uint64_t keyslot; /* word of a freed object holding sl_free_key (SL_KEY_OFFSET / 8);
			   * also pads the entry to 32 bytes: two per cache line */
} sl_freelist;

/* With several NUMA heaps: objects of other nodes' heaps this thread freed, per class,
 * all of one heap; they go home a batch at a time (freelist.c). */
typedef struct sl_remote_list {
	void *head;	/* linked through word 0, keys set like any freed object */
	sl_mheap *heap; /* the heap they all belong to (meaningful when count > 0) */
	uint32_t count;
} sl_remote_list;

/*
 * Everything here is written by the owner thread only. Statistics (SL_COUNTER_ADD,
 * read by anyone): the free fast path counts nothing, so objects the thread freed =
 * lists[].nmalloc + nout + count - nin (what came in from mcentral or from the program
 * went out to one or the other, or is still on the list).
 */
typedef struct sl_fe_freelist_cache {
	sl_freelist lists[SL_NUM_CLASSES];     /* [0] unused */
	sl_remote_list remote[SL_NUM_CLASSES]; /* untouched with one heap */
	uint64_t nin[SL_NUM_CLASSES];	       /* objects received from mcentral */
	uint64_t nout[SL_NUM_CLASSES];	       /* objects given to mcentral */
	sl_batch *spare;		       /* empty batch nodes, linked through head */
	uint32_t nspare;
	/* Dynamic sizing (SPANLAB_TCACHE_DYNAMIC, freelist.c "Thread-cache sizing"):
	 * tc_budget, bytes of the shared pool this cache holds; tc_used, what the lists'
	 * flush thresholds take of it, the sum over classes of (max - batch) * size;
	 * tc_victim, the class the next shrink looks at first; tc_flushes, per class, the
	 * batches its list gave back since its last refill. */
	uint32_t tc_victim;
	uint64_t tc_budget, tc_used;
	uint32_t tc_flushes[SL_NUM_CLASSES];
	/* Per class, the refills since the list last gave a batch back (up to
	 * SPANLAB_FREELIST_REFILL_RUN): each such refill takes twice the objects of the
	 * one before (freelist.c, sl_fl_refill). */
	uint8_t refill_run[SL_NUM_CLASSES];
} sl_fe_freelist_cache;

#endif
