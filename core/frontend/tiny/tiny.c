/*
 * core/frontend/tiny/tiny.c — the slow paths of front end `tiny` (fast paths in tiny.h):
 * tiny blocks taken, held, released and freed into, their figures. Everything else is
 * the bitmap core's (bitmap/bmcore.c, compiled in by tiny.cmake). See core/malloc.c
 * ("Front ends") for the design.
 */
#include <errno.h>

#include "../../internal.h"

/* Tiny frees and block releases are counted in the freeing thread's cache (a global
 * counter would be a contended atomic on every tiny free); only threads without a
 * cache count here (relaxed atomics). */
static uint64_t sl_tiny_uncached_frees, sl_tiny_uncached_released;

/* The size class tiny blocks come from: the 16-byte class, 0 if the table has none. */
static uint32_t sl_tiny_class(void)
{
	uint32_t c = sl_sc_size_to_class(16);
	return sl_sc_class_to_size(c) == 16 ? c : 0;
}

/* Drops the cache's hold on its current block; the last one out frees the block. */
static void sl_tiny_retire(sl_mcache *c)
{
	if (!c->fe.tiny)
		return;
	void *b = (void *)c->fe.tiny;
	uint16_t *w = c->fe.tinyword;
	c->fe.tiny = 0;
	c->fe.tinyword = NULL;
	c->fe.tinyoff = 16;
	uint32_t old = __atomic_fetch_and(w, (uint16_t)~SL_TINY_HOLD, __ATOMIC_ACQ_REL);
	if (!(old & SL_TINY_LIVE)) {
		__atomic_store_n(w, 0, __ATOMIC_RELAXED);
		SL_COUNTER_ADD(c->fe.tiny_released, 1);
		sl_bm_free_object(sl_span_of(b), b, false);
	}
}

SL_NOINLINE void *sl_fe_tiny_alloc_tiny_slow(size_t size)
{
	sl_mcache *c = sl_tls_cache;
	if (!c) {
		sl_ensure_init();
		c = sl_mcache_get_slow();
	}
	uint32_t tcls = c ? c->fe.tinycls : 0;
	if (!tcls)
		return sl_bm_alloc(sl_sc_size_to_class(size));
	/* A new block from the extra entry (bitmap/cache.h): its spans hold tiny blocks
	 * and ordinary 16-byte objects do not share them, so that the frees of those
	 * take the core's fast path. */
	sl_bm_class *e = SPANLAB_TINY_UNPROTECTED ? &sl_bm(c)->cls[tcls] : &sl_bm(c)->extra;
	void *b = sl_bm_alloc_entry(c, e, tcls);
	if (!b)
		return NULL;
	sl_span *s = e->span; /* the block came from the entry's current span */
	sl_sb_tiny_mark(s); /* before any of the block's objects is handed out */
	uint16_t *w = &s->tinywords[((uintptr_t)b - s->base) >> 4];
	uint32_t fill = ((uint32_t)size + 1) & ~1u;
	/* Go's rule: the new block becomes the current one only if it has more room left
	 * than the current one; else it holds this object alone (and goes back to its span
	 * when the object is freed). */
	bool hold = !c->fe.tiny || fill < c->fe.tinyoff;
	__atomic_store_n(w, (uint16_t)((hold ? SL_TINY_HOLD : 0) | 1u | (fill >> 1 << SL_TINY_FILL_SHIFT)),
			 __ATOMIC_RELAXED);
	if (hold) {
		sl_tiny_retire(c);
		c->fe.tiny = (uintptr_t)b;
		c->fe.tinyword = w;
		c->fe.tinyoff = fill;
	}
	SL_COUNTER_ADD(c->fe.tiny_blocks, 1);
	SL_COUNTER_ADD(c->fe.tiny_allocs, 1);
	SL_COUNTER_ADD(c->fe.tiny_class_bytes, sl_sc_class_to_size(sl_sc_size_to_class(size)));
	return b;
}

/* p lies in a 16-byte slot of a span with tiny words. Returns false if the slot is not
 * a tiny block (an ordinary 16-byte object). */
static bool sl_tiny_free(sl_span *s, void *p)
{
	uintptr_t off = (uintptr_t)p - s->base;
	uint32_t o = (uint32_t)(off & 15);
	uint16_t *w = &s->tinywords[off >> 4];
	if (!__atomic_load_n(w, __ATOMIC_ACQUIRE)) {
		if (o)
			sl_sb_double_free(p, s); /* its block was released meanwhile */
		return false;
	}
	if (o & 1)
		sl_fatal("free(): invalid pointer %p (inside a tiny block)", p);
	uint32_t bit = 1u << (o >> 1);
	uint32_t old = __atomic_fetch_and(w, (uint16_t)~bit, __ATOMIC_ACQ_REL);
	if (!(old & bit))
		sl_fatal("free(): double free or invalid pointer %p (tiny object)", p);
	sl_mcache *c = sl_tls_cache;
	if (c) {
		SL_COUNTER_ADD(sl_bm(c)->cls[s->sizeclass].nfree, 1);
		SL_COUNTER_ADD(c->fe.tiny_frees, 1);
	} else {
		__atomic_fetch_add(&sl_uncached_frees[s->sizeclass], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&sl_tiny_uncached_frees, 1, __ATOMIC_RELAXED);
	}
	uint32_t now = old & ~bit;
	if (c && c->fe.tinyword == w && !((now & SL_TINY_LIVE) >> (o >> 1)) && c->fe.tinyoff > o) {
		/* The last live object of this thread's current block (no live object starts
		 * after it): its bytes and the rest are handed out again, so a string freed
		 * right after it was made (a temporary) costs no block space. Only this
		 * thread moves the fill of its block. */
		__atomic_fetch_sub(w, (uint16_t)((c->fe.tinyoff - o) >> 1 << SL_TINY_FILL_SHIFT), __ATOMIC_RELAXED);
		c->fe.tinyoff = o;
	}
	if (!(now & (SL_TINY_LIVE | SL_TINY_HOLD))) {
		void *b = (void *)(s->base + (off & ~(uintptr_t)15));
		__atomic_store_n(w, 0, __ATOMIC_RELAXED);
		if (c)
			SL_COUNTER_ADD(c->fe.tiny_released, 1);
		else
			__atomic_fetch_add(&sl_tiny_uncached_released, 1, __ATOMIC_RELAXED);
		sl_bm_free_object(s, b, false);
	}
	return true;
}

/* ---- Contract hooks ---- */

void sl_fe_tiny_free_small(sl_span *s, void *p)
{
	if (__atomic_load_n(&s->tinywords, __ATOMIC_RELAXED) && sl_tiny_free(s, p))
		return;
	sl_bm_free_object(s, p, true);
}

/* The free fast path declined p (its page-map span s looked up again, any state): a
 * pointer into a SMALL span of tiny blocks, at an even offset within its objects, goes
 * to sl_fe_tiny_free_small at once. That is what the engine's slow path would do after
 * its checks, which come down to these here: sl_tiny_free checks the block's word (a
 * live tiny object starts at p), and a slot that is no tiny block must be freed at its
 * start, as the engine requires. Anything else: false. */
bool sl_tiny_free_declined(void *p)
{
	sl_span *s = sl_span_of_fast(p);
	if (!s || __atomic_load_n(&s->state, __ATOMIC_RELAXED) != SL_SPAN_SMALL)
		return false;
	uintptr_t off = (uintptr_t)p - s->base;
	if (!__atomic_load_n(&s->tinywords, __ATOMIC_RELAXED) || off >= s->limit || (off & 1))
		return false;
	if ((off & 15) && !__atomic_load_n(&s->tinywords[off >> 4], __ATOMIC_ACQUIRE))
		return false; /* inside an ordinary object: the slow path names it */
	sl_fe_tiny_free_small(s, p);
	return true;
}

bool sl_fe_tiny_check_interior(sl_span *s, const void *p)
{
	if (!__atomic_load_n(&s->tinywords, __ATOMIC_RELAXED))
		return false;
	uintptr_t off = (uintptr_t)p - s->base;
	if (off >= s->limit)
		return false;
	uint32_t w = __atomic_load_n(&s->tinywords[off >> 4], __ATOMIC_ACQUIRE);
	return w && !(off & 1) && (w & (1u << ((off & 15) >> 1)));
}

/* A tiny object's usable size: up to the next live object of its block, else up to the
 * block's fill mark — its size rounded up to the next object's alignment. The bytes
 * are never handed out again while it lives (the fill moves back only past freed
 * objects). */
size_t sl_fe_tiny_usable(sl_span *s, const void *p)
{
	if (__atomic_load_n(&s->tinywords, __ATOMIC_RELAXED)) {
		uintptr_t off = (uintptr_t)p - s->base;
		uint32_t w = __atomic_load_n(&s->tinywords[off >> 4], __ATOMIC_ACQUIRE);
		if (w) {
			uint32_t o = (uint32_t)(off & 15);
			uint32_t higher = (w & SL_TINY_LIVE) >> (o >> 1) >> 1;
			uint32_t next = higher ? 2 * ((o >> 1) + 1 + (uint32_t)__builtin_ctz(higher))
					       : 2 * ((w >> SL_TINY_FILL_SHIFT) & 15);
			return next > o ? next - o : 1;
		}
	}
	return s->elemsize;
}

void sl_fe_tiny_cache_init(sl_mcache *c)
{
	sl_bm_cache_init(c);
	c->fe.tinyoff = 16;
	c->fe.tinycls = sl_tiny_class();
	sl_bm(c)->extra.elemsize = 16; /* the entry tiny blocks come from */
}

/* malloc_trim (and thread exit): the current tiny block, then every span goes back. */
void sl_fe_tiny_flush(sl_mcache *c)
{
	sl_tiny_retire(c);
	sl_bm_flush(c);
}

/* The per-cache counters summed over every cache of the registry (an idle cache keeps
 * its counts) and the uncached path (sl_tiny_sum_cache). */
typedef struct sl_tiny_sums {
	uint64_t tiny_allocs, tiny_class_bytes, tiny_blocks, tiny_frees, tiny_released;
} sl_tiny_sums;

/* Adds a cache's counts, then (c == NULL) the uncached path's. */
static void sl_tiny_sum_cache(sl_mcache *c, void *arg)
{
	sl_tiny_sums *sum = arg;
	if (!c) {
		sum->tiny_frees += __atomic_load_n(&sl_tiny_uncached_frees, __ATOMIC_RELAXED);
		sum->tiny_released += __atomic_load_n(&sl_tiny_uncached_released, __ATOMIC_RELAXED);
		return;
	}
	sum->tiny_allocs += SL_COUNTER_READ(c->fe.tiny_allocs);
	sum->tiny_class_bytes += SL_COUNTER_READ(c->fe.tiny_class_bytes);
	sum->tiny_blocks += SL_COUNTER_READ(c->fe.tiny_blocks);
	sum->tiny_frees += SL_COUNTER_READ(c->fe.tiny_frees);
	sum->tiny_released += SL_COUNTER_READ(c->fe.tiny_released);
}

void sl_fe_tiny_stats(spanlab_stats *out)
{
	sl_tiny_sums sum = {0};
	sl_bm_stats(out);
	sl_mcache_foreach(sl_tiny_sum_cache, &sum);
	out->tiny_allocs = sum.tiny_allocs;
	out->tiny_objects = sum.tiny_allocs > sum.tiny_frees ? sum.tiny_allocs - sum.tiny_frees : 0;
	out->tiny_blocks = sum.tiny_blocks > sum.tiny_released ? sum.tiny_blocks - sum.tiny_released : 0;
	uint64_t block_bytes = sum.tiny_blocks * 16;
	out->tiny_saved = sum.tiny_class_bytes > block_bytes ? sum.tiny_class_bytes - block_bytes : 0;
}
