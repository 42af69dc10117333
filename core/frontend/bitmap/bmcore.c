/*
 * core/frontend/bitmap/bmcore.c — the slow paths of the bitmap core (bmcore.h), the
 * cache's side: refilling the cache word from the span's bitmap, choosing the next span
 * among the owned ones or from mcentral, frees, thread exit, statistics. mcentral's side
 * (giving spans to caches and taking them back, remote frees) is in core/mcentral.c.
 * Compiled for front ends `bitmap` and `tiny` (tiny/tiny.cmake). See core/malloc.c
 * ("Front ends") for the design.
 *
 * Owned spans (mimalloc's rule that a page stays with its thread). A span a cache takes
 * from mcentral stays owned (s->fe_owner = the cache's entry for the class, xfree
 * OWNED) when it fills: it goes on the class's owned list instead of back to mcentral,
 * so the owner's later frees into it are plain bit sets (bmcore.h). When the
 * current span is full the owner looks at its SL_BM_SCAN (4) oldest owned spans (in
 * FIFO-like programs the emptiest), merging their remote frees and counting their free
 * slots. It takes the first with at least half its slots free, else the one
 * with the most if at least an eighth are free; otherwise it takes a span from
 * mcentral. A span goes back to mcentral when
 *   - the owned list would exceed the class's limit as the cache takes a span from
 *     mcentral: SL_BM_OWN_MAX (8) spans, or as many as SL_BM_OWN_BYTES (256 KiB) of
 *     spans hold if that is more (32 spans of one page), while the thread's owned
 *     spans of all classes together hold more than SL_BM_OWN_THREAD_BYTES (4 MiB; a
 *     class may own more than its limit while they hold less); the one with the
 *     fewest free slots among those looked at goes (the frees of its objects become
 *     remote frees; a span that went back full is listed once an eighth of it is
 *     free, SPANLAB_BITMAP_RELIST);
 *   - the thread exits, calls malloc_trim, or moves to another NUMA node (every span).
 * So a thread holds at most the class's limit plus one spans per class, and besides
 * those at most SL_BM_OWN_THREAD_BYTES of spans over all classes, entirely free ones
 * included, until it exits or trims (Go's mcache holds one span per class; the cost
 * is memory a quiet thread keeps). The thread budget is what lets a program whose live
 * objects of a class fill more than the class's limit keep freeing them with plain
 * bit sets: beyond the owned spans its frees are remote frees, and the spans they free
 * slots in come back to a cache a few slots at a time. A switch costs at most
 * SL_BM_SCAN merges and popcounts, however long the list.
 * With SL_BM_ROTATE (SPANLAB_BITMAP_ROTATE, default 0) the spans a switch looked at
 * and did not take become the newest, so that the switches go round the list.
 * The cache has one more entry outside cls[] (`extra`, bitmap/cache.h) that `tiny`
 * takes its blocks from; its spans follow the same rules, and the free fast path
 * never takes a free into them (the owner check sees no cls[] entry).
 * While a span is owned, next/prev link the owned list and nfree holds its free slots
 * as last counted (a popcount of its bitmap that stops at half its slots); both are
 * used only by the owner's thread.
 */
#include <errno.h>

#include "../../internal.h"

/* Loads the first non-empty word of s's bitmap in [w, end) into entry e of cache c;
 * false if there is none. */
static inline bool sl_bm_load(sl_mcache *c, sl_bm_class *e, sl_span *s, uint64_t *w, uint64_t *end)
{
	for (; w < end; w++) {
		if (*w) {
			e->wordptr = w;
			e->cache = *w;
			e->wordbase = s->base + (uintptr_t)(w - s->freebits) * 64 * e->elemsize;
			SL_COUNTER_ADD(sl_bm(c)->refills, 1);
			return true;
		}
	}
	return false;
}

/* ---- The owned list (the owner's thread only) ---- */

/* The owned list is circular, oldest first: e->owned is the span that filled first,
 * e->owned->prev the last. */
static void sl_bm_own_push(sl_mcache *c, sl_bm_class *e, sl_span *s)
{
	sl_bm(c)->owned_bytes += s->npages << SL_PAGE_SHIFT;
	sl_span *h = e->owned;
	if (!h) {
		s->next = s->prev = s;
		e->owned = s;
	} else {
		s->next = h;
		s->prev = h->prev;
		h->prev->next = s;
		h->prev = s;
	}
	e->nowned++;
}

static void sl_bm_own_remove(sl_mcache *c, sl_bm_class *e, sl_span *s)
{
	sl_bm(c)->owned_bytes -= s->npages << SL_PAGE_SHIFT;
	if (s->next == s) {
		e->owned = NULL;
	} else {
		s->prev->next = s->next;
		s->next->prev = s->prev;
		if (e->owned == s)
			e->owned = s->next;
	}
	s->next = s->prev = NULL;
	e->nowned--;
}

/* Spans entry e of class cls may keep on its owned list whatever the thread's other
 * classes own (the policy at the top of this file): SL_BM_OWN_MAX, or more while they
 * hold at most SL_BM_OWN_BYTES together. */
uint32_t sl_bm_own_limit(uint32_t cls)
{
	size_t span = (size_t)sl_sc_class_to_pages(cls) * SL_PAGE_SIZE;
	size_t n = SL_BM_OWN_BYTES / span;
	return n > SL_BM_OWN_MAX ? (uint32_t)n : SL_BM_OWN_MAX;
}

/* Free slots of s, counted word by word until the count reaches `enough` (then it is
 * at least that). */
static uint32_t sl_bm_count(const sl_span *s, uint32_t enough)
{
	uint32_t n = 0, nw = sl_sb_nwords(s);
	for (uint32_t w = 0; w < nw && n < enough; w++)
		n += sl_sb_popcount64(s->freebits[w]);
	return n;
}

/* Entry e's current span is full (or there is none): the span to allocate from next,
 * by the policy at the top of this file; NULL when memory is exhausted. */
static sl_span *sl_bm_next_span(sl_mcache *c, sl_bm_class *e, uint32_t cls)
{
	sl_span *full = e->span;
	e->span = NULL;
	if (full)
		sl_bm_own_push(c, e, full);
	/* SL_BM_SCAN spans from the head: the oldest (in FIFO-like programs the emptiest);
	 * with SL_BM_ROTATE each one looked at and not taken becomes the newest, so that
	 * the switches go round the whole list. */
	sl_span *best = NULL, *fewest = NULL, *s = e->owned;
	uint32_t n = e->nowned < SL_BM_SCAN ? e->nowned : SL_BM_SCAN;
	for (; n; n--, s = s->next) {
		if (SL_BM_ROTATE)
			e->owned = s->next; /* circular: s is the tail now */
		sl_sb_collect(s);
		s->nfree = sl_bm_count(s, (s->nelems + 1) / 2);
		if (2 * s->nfree >= s->nelems) {
			best = s;
			break;
		}
		if (!best || s->nfree > best->nfree)
			best = s;
		if (!fewest || s->nfree < fewest->nfree)
			fewest = s;
	}
	if (best && best->nfree >= (best->nelems + 7) / 8) {
		sl_bm_own_remove(c, e, best);
		return best;
	}
	if (fewest && e->nowned > sl_bm_own_limit(cls) && sl_bm(c)->owned_bytes > SL_BM_OWN_THREAD_BYTES) {
		sl_bm_own_remove(c, e, fewest);
		sl_mcentral_uncache_span(fewest);
	}
	return sl_mcentral_cache_span(&c->heap->central[cls], e);
}

/* Gives entry e's current span back to mcentral. */
static void sl_bm_uncache(sl_bm_class *e)
{
	sl_span *s = e->span;
	if (!s)
		return;
	if (e->wordptr)
		*e->wordptr = e->cache;
	e->span = NULL;
	e->cache = 0;
	e->wordptr = NULL;
	e->wordbase = 0;
	sl_mcentral_uncache_span(s);
}

void sl_bm_flush(sl_mcache *c)
{
	for (uint32_t cls = 1; cls <= SL_NUM_CLASSES; cls++) {
		/* cls[1..], then the extra entry (spans of one class; none for `bitmap`) */
		sl_bm_class *e = cls < SL_NUM_CLASSES ? &sl_bm(c)->cls[cls] : &sl_bm(c)->extra;
		sl_bm_uncache(e);
		while (e->owned) {
			sl_span *s = e->owned;
			sl_bm_own_remove(c, e, s);
			sl_mcentral_uncache_span(s);
		}
	}
}

SL_NOINLINE void *sl_bm_alloc_slow(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_UNLIKELY(!c)) {
		sl_ensure_init(); /* a thread with a cache has seen it done */
		if (!(c = sl_mcache_get_slow())) {
			void *p = sl_mcentral_alloc_object(&sl_local_heap()->central[cls]);
			if (p)
				__atomic_fetch_add(&sl_uncached_mallocs[cls], 1, __ATOMIC_RELAXED);
			else
				errno = ENOMEM;
			return p;
		}
	}
	return sl_bm_alloc_entry_slow(c, &sl_bm(c)->cls[cls], cls);
}

/* Entry e (class cls) of the thread's cache c has no slot in its cache word: the next
 * word of the current span, else the next span (sl_bm_next_span). */
SL_NOINLINE void *sl_bm_alloc_entry_slow(sl_mcache *c, sl_bm_class *e, uint32_t cls)
{
	/* A thread that moved to another node gives its spans back to their heap. */
	sl_mcache_follow_node(c);
	sl_span *s = e->span;
	if (SL_UNLIKELY(e->cache != 0)) {
		/* the fast path found no cache (a thread's first allocation) */
	} else if (s) {
		/* The loaded word is used up (an empty cache word stands for a word whose
		 * slots are all taken): the next word with free slots; after the last word,
		 * merge the remote frees and scan again from the start. */
		uint64_t *w = e->wordptr, *end = s->freebits + sl_sb_nwords(s), *stop = end;
		if (w) {
			*w = 0;
			stop = w++; /* from here to the end is scanned now: no need to again */
		} else {
			w = s->freebits;
		}
		e->wordptr = NULL;
		if (!sl_bm_load(c, e, s, w, end)) {
			if (sl_sb_collect(s))
				stop = end;
			s = sl_bm_load(c, e, s, s->freebits, stop) ? s : NULL;
		}
	}
	while (!e->cache) {
		/* The current span is full (or there is none). */
		if (!(s = sl_bm_next_span(c, e, cls))) {
			errno = ENOMEM;
			return NULL;
		}
		e->span = s;
		e->wordptr = NULL;
		sl_bm_load(c, e, s, s->freebits, s->freebits + sl_sb_nwords(s));
	}
	uint64_t bits = e->cache;
	e->cache = bits & (bits - 1);
	SL_COUNTER_ADD(e->nmalloc, 1);
	void **p = (void **)(e->wordbase + (uintptr_t)__builtin_ctzll(bits) * e->elemsize);
	p[e->elemsize >= 16] = NULL; /* the free mark's word */
	return p;
}

/* Free of object p of s (validated; not a tiny object): by the owner into the bitmap,
 * else remote. Counted in the freeing thread's cache unless it is a tiny block
 * (!count). */
void sl_bm_free_object(sl_span *s, void *p, bool count)
{
	if (sl_sb_marked(s, p))
		sl_sb_double_free(p, s);
	sl_mcache *c = sl_tls_cache;
	if (c) {
		sl_bm_class *e = &sl_bm(c)->cls[s->sizeclass];
		if (count)
			SL_COUNTER_ADD(e->nfree, 1);
		void *owner = __atomic_load_n(&s->fe_owner, __ATOMIC_RELAXED);
		if (owner == (void *)e || owner == (void *)&sl_bm(c)->extra) {
			e = owner; /* the entry whose cache word may stand for s's word */
			uint32_t idx = sl_sb_index(s, p);
			uint64_t bit = (uint64_t)1 << (idx & 63);
			uint64_t *w = &s->freebits[idx >> 6];
			if (w == e->wordptr)
				w = &e->cache;
			if (*w & bit)
				sl_sb_double_free(p, s);
			*w |= bit;
			sl_sb_mark(s, p);
			return;
		}
		if (s->heap != c->heap)
			__atomic_fetch_add(&s->heap->remote_frees, 1, __ATOMIC_RELAXED);
	} else if (count) {
		__atomic_fetch_add(&sl_uncached_frees[s->sizeclass], 1, __ATOMIC_RELAXED);
	}
	sl_mcentral_free_remote(s, p);
}

void sl_bm_cache_init(sl_mcache *c)
{
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++)
		sl_bm(c)->cls[cls].elemsize = sl_classes[cls].size;
}

/* The refills of every cache of the registry (an idle cache keeps its counts). */
static void sl_bm_sum_refills(sl_mcache *c, void *arg)
{
	if (c)
		*(uint64_t *)arg += SL_COUNTER_READ(sl_bm(c)->refills);
}

void sl_bm_stats(spanlab_stats *out)
{
	uint64_t refills = 0;
	sl_mcache_foreach(sl_bm_sum_refills, &refills);
	out->bitmap_refills = refills;
	out->remote_merged = __atomic_load_n(&sl_sb_merged, __ATOMIC_RELAXED);
}
