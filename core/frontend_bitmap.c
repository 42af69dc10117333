/*
 * core/frontend_bitmap.c — the slow paths of front ends `bitmap` and `tiny` (fast paths
 * in core/frontend/bitmap.h): refilling the cache word from the span's bitmap, taking a
 * span from mcentral and giving it back, remote frees, tiny blocks, statistics. See
 * malloc.c ("Front ends") for the design.
 *
 * The remote-free word s->xfree (encoding in frontend/bitmap.h) carries the span's state
 * and is changed only by compare-and-swap or exchange:
 *
 *   OWNED            a cache owns the span (as its current span or on its owned list).
 *                    Other threads push freed objects on the list (one CAS); the owner
 *                    takes the whole list with one exchange when it needs slots (it has
 *                    scanned every word of its current span, or looks for another owned
 *                    span to allocate from), and merges it.
 *   in mcentral      the count field holds the objects in use. A pusher decrements it
 *                    with the same CAS that links the object. LISTED says the span is on
 *                    the partial list; a pusher that finds it clear takes the mcentral's
 *                    lock *before* its CAS and lists the span (so a span that went back
 *                    full becomes reusable on its first remote free, while later pushes
 *                    take no lock). The pusher whose CAS takes the count to zero also
 *                    sets DYING and releases the span to the mheap under the lock; a
 *                    DYING span is never cached again.
 *
 * Every transition that can release a span happens under the mcentral's lock after a
 * CAS that exactly one thread wins, so no thread touches a released span. Spans taken
 * from mcentral merge their pending list into the bitmap under the lock.
 *
 * Owned spans (mimalloc's rule that a page stays with its thread). A span a cache takes
 * from mcentral stays owned (s->fe_owner = the cache's entry for the class, xfree
 * OWNED) when it fills: it goes on the class's owned list instead of back to mcentral,
 * so the owner's later frees into it are plain bit sets (frontend/bitmap.h). When the
 * current span is full the owner looks at its owned spans, oldest first (in FIFO-like
 * programs the emptiest), merging their remote frees: it takes the first with at least
 * half its slots free, else the one with the most if at least an eighth are free;
 * otherwise it takes a span from mcentral. A span goes back to mcentral when
 *   - the owned list would exceed SL_BM_OWN_MAX (8) spans as the cache takes a span
 *     from mcentral: the one with the fewest free slots goes (the frees of its objects
 *     become remote frees; a span that went back full is listed by the first);
 *   - the thread exits, calls malloc_trim, or moves to another NUMA node (every span).
 * So a thread holds at most 9 spans per class, entirely free ones included, until it
 * exits or trims (Go's mcache holds one; the cost is memory a quiet thread keeps).
 * While a span is owned, next/prev link the owned list and nfree holds its free slots
 * as last counted (a popcount of its bitmap during that scan); both are used only by
 * the owner's thread.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#if defined(SPANLAB_FRONTEND_BITMAP) || defined(SPANLAB_FRONTEND_TINY)

#define SL_BM_NODE_CHECK 16	/* slow paths between two checks of the NUMA node */

/* Slow-path statistics (relaxed atomics). Tiny frees and block releases are counted
 * in the freeing thread's cache (a global counter would be a contended atomic on every
 * tiny free); only threads without a cache count here. */
static uint64_t sl_bm_merged;
static uint64_t sl_tiny_uncached_frees, sl_tiny_uncached_released;

#define SL_STAT_ADD(var, n) __atomic_fetch_add(&(var), (n), __ATOMIC_RELAXED)

static SL_NOINLINE SL_COLD void sl_bm_double_free(const void *p, const sl_span *s)
{
	sl_fatal("free(): double free or invalid pointer %p (size class %u, %u bytes)", p, s->sizeclass,
		 s->elemsize);
}

/* The size class tiny blocks come from: the 16-byte class, 0 if the table has none. */
static uint32_t sl_bm_tiny_class(void)
{
	if (!SL_FE_BITMAP_TINY)
		return 0;
	uint32_t c = sl_sc_size_to_class(16);
	return sl_sc_class_to_size(c) == 16 ? c : 0;
}

static inline uint32_t sl_bm_nwords(const sl_span *s) { return (s->nelems + 63) / 64; }

static inline uint32_t sl_bm_index(const sl_span *s, const void *p)
{
	uint64_t off = (uintptr_t)p - s->base;
	return (uint32_t)(((unsigned __int128)off * s->divmagic) >> 64);
}

/* ---- Free marks (see frontend/bitmap.h) ---- */

/* True if object p of SMALL span s holds the free mark: freed and not handed out since. */
static bool sl_bm_marked(const sl_span *s, const void *p)
{
	if (!sl_fe_bitmap_maybe_marked(s, p))
		return false;
	uintptr_t w = *(const uintptr_t *)((const char *)p + s->keyoff);
	if (w == sl_free_key)
		return true;
	/* 8-byte object: word 0 may be a remote-free link XORed with the key, to an object
	 * of the same class or NULL (the key itself, handled above). */
	const void *d = (const void *)(w ^ sl_free_key);
	const sl_span *t = sl_span_of(d);
	return t && __atomic_load_n(&t->state, __ATOMIC_RELAXED) == SL_SPAN_SMALL && t->sizeclass == s->sizeclass &&
	       sl_span_is_object(t, d);
}

/* The link word of an object on a remote-free list: XORed with the link key from 16
 * bytes up (word 1 holds the mark; sl_link_get in core/internal.h), with the free key in
 * 8-byte objects (word 0 is also the mark). Either key makes a link the program
 * overwrote after the free decode misaligned (the free key is odd, the link key's low
 * bits are 100), and the decode then aborts naming the object. */
static inline void sl_bm_link_set(const sl_span *s, void *p, uintptr_t next)
{
	*(uintptr_t *)p = next ^ (s->keyoff ? sl_link_key : sl_free_key);
}

static inline void *sl_bm_link_get(const sl_span *s, const void *p)
{
	return sl_link_decode(p, s->keyoff ? sl_link_key : sl_free_key);
}

static inline void sl_bm_mark(const sl_span *s, void *p) { *(uintptr_t *)((char *)p + s->keyoff) = sl_free_key; }
static inline void sl_bm_unmark(const sl_span *s, void *p) { *(uintptr_t *)((char *)p + s->keyoff) = 0; }

/* Span s goes back to the mheap: no object of it may keep the mark (a large object or
 * a span of another class made of these pages would otherwise carry a stale one). */
static void sl_bm_clear_marks(sl_span *s)
{
	for (uintptr_t p = s->base; p < s->base + s->limit; p += s->elemsize)
		if (sl_fe_bitmap_maybe_marked(s, (void *)p))
			sl_bm_unmark(s, (void *)p);
}

/* ---- Span bitmaps (the mcentral's lock held) ---- */

static size_t sl_bm_meta_size(const sl_mcentral *ct)
{
	size_t n = (size_t)(ct->nelems + 63) / 64 * sizeof(uint64_t);
	if (SL_FE_BITMAP_TINY && ct->elemsize == 16)
		n += (size_t)ct->nelems * sizeof(uint16_t);
	return n;
}

/* Gives new SMALL span s its bitmap (every slot free), from the class's spare ones or
 * the metadata allocator (never malloc). */
static bool sl_bm_span_init(sl_mcentral *ct, sl_span *s)
{
	if (ct->nelems >= 65536 || ct->elemsize % 8)
		sl_fatal("bitmap front end: size class %u (%u bytes, %u per span) is not supported", ct->sizeclass,
			 ct->elemsize, ct->nelems);
	size_t size = sl_bm_meta_size(ct);
	void *m = ct->fe_spare;
	if (m)
		ct->fe_spare = *(void **)m;
	else if (!(m = sl_meta_alloc(size)))
		return false;
	memset(m, 0, size);
	uint64_t *bits = m;
	uint32_t nw = sl_bm_nwords(s);
	for (uint32_t w = 0; w < nw; w++)
		bits[w] = ~(uint64_t)0;
	if (s->nelems % 64)
		bits[nw - 1] = ((uint64_t)1 << (s->nelems % 64)) - 1;
	s->freebits = bits;
	s->tinywords = SL_FE_BITMAP_TINY && ct->elemsize == 16 ? (uint16_t *)(bits + nw) : NULL;
	atomic_store_explicit(&s->xfree, SL_XF_LISTED, memory_order_relaxed); /* on partial, none in use */
	return true;
}

/* A new span on the partial list, with its bitmap; NULL when memory is exhausted. */
static sl_span *sl_bm_grow(sl_mcentral *ct)
{
	sl_span *s = sl_mcentral_grow(ct);
	if (s && !sl_bm_span_init(ct, s)) {
		sl_partial_remove(ct, s);
		ct->nspans--;
		sl_mheap_free(ct->heap, s);
		s = NULL;
	}
	return s;
}

/* Span s has no object in use and nobody can reach it any more: back to the mheap. */
static void sl_bm_release(sl_mcentral *ct, sl_span *s)
{
	if (s->partial)
		sl_partial_remove(ct, s);
	ct->nspans--;
	sl_bm_clear_marks(s);
	*(void **)s->freebits = ct->fe_spare;
	ct->fe_spare = s->freebits;
	s->freebits = NULL;
	s->tinywords = NULL;
	atomic_store_explicit(&s->xfree, 0, memory_order_relaxed);
	sl_mheap_free(ct->heap, s);
}

/* Sets the bits of a remote-free list's objects in s->freebits (by the owner, or under
 * the lock). An object whose bit is already set was freed twice: abort naming it.
 * Returns the number of objects. */
static uint32_t sl_bm_merge(sl_span *s, void *list)
{
	uint64_t n = 0;
	const void *prev = NULL;
	while (list) {
		/* A decoded link that is no object of this span was overwritten (the first
		 * object comes from the remote-free word). */
		if (!sl_span_is_object(s, list))
			sl_link_corrupt(prev ? prev : list);
		uint32_t idx = sl_bm_index(s, list);
		uint64_t bit = (uint64_t)1 << (idx & 63);
		if (s->freebits[idx >> 6] & bit)
			sl_bm_double_free(list, s);
		s->freebits[idx >> 6] |= bit;
		n++;
		prev = list;
		list = sl_bm_link_get(s, list);
	}
	if (n)
		SL_STAT_ADD(sl_bm_merged, n);
	return (uint32_t)n;
}

static inline uint32_t sl_bm_popcount64(uint64_t x)
{
#if defined(__POPCNT__)
	return (uint32_t)__builtin_popcountll(x);
#else
	/* Without the instruction, bit tricks beat the library call. */
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
	return (uint32_t)((x * 0x0101010101010101ull) >> 56);
#endif
}

static uint32_t sl_bm_popcount(const sl_span *s)
{
	uint32_t n = 0, nw = sl_bm_nwords(s);
	for (uint32_t w = 0; w < nw; w++)
		n += sl_bm_popcount64(s->freebits[w]);
	return n;
}

/* ---- mcentral side: cacheSpan, uncacheSpan, remote free ---- */

/* Takes a span with free slots from mcentral (or a new one) for cache c. */
static sl_span *sl_bm_cache_span(sl_mcentral *ct, sl_mcache *c)
{
	sl_sync_lock(&ct->lock);
	sl_span *s;
	for (;;) {
		if (!(s = ct->partial) && !(s = sl_bm_grow(ct)))
			break;
		sl_partial_remove(ct, s);
		uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire);
		while (!(x & SL_XF_DYING) &&
		       !atomic_compare_exchange_weak_explicit(&s->xfree, &x, SL_XF_OWNED, memory_order_acq_rel,
							      memory_order_acquire))
			;
		if (x & SL_XF_DYING)
			continue; /* its last free is releasing it */
		sl_bm_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		__atomic_store_n(&s->fe_owner, (void *)&c->fe.cls[ct->sizeclass], __ATOMIC_RELAXED);
		break;
	}
	sl_sync_unlock(&ct->lock);
	return s;
}

/* Gives owned span s (its bitmap up to date, on no list of the cache) back to
 * mcentral: listed if it has free slots, released if every object is free, else left
 * off every list until its first remote free. */
static void sl_bm_uncache_span(sl_span *s)
{
	__atomic_store_n(&s->fe_owner, NULL, __ATOMIC_RELAXED);
	sl_mcentral *ct = &s->heap->central[s->sizeclass];
	sl_sync_lock(&ct->lock);
	for (;;) {
		uint64_t x = atomic_exchange_explicit(&s->xfree, SL_XF_OWNED, memory_order_acq_rel);
		sl_bm_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		uint32_t nfree = sl_bm_popcount(s);
		if (nfree == s->nelems) {
			sl_bm_release(ct, s); /* nothing in use: nobody can push */
			break;
		}
		uint64_t want = (uint64_t)(s->nelems - nfree) << 48 | (nfree ? SL_XF_LISTED : 0);
		uint64_t expect = SL_XF_OWNED;
		if (atomic_compare_exchange_strong_explicit(&s->xfree, &expect, want, memory_order_acq_rel,
							    memory_order_acquire)) {
			s->nfree = nfree;
			if (nfree)
				sl_partial_push(ct, s);
			break;
		}
		/* A remote free arrived meanwhile: merge it too. */
	}
	sl_sync_unlock(&ct->lock);
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
	sl_bm_uncache_span(s);
}

/* Free of p (an object of s) by a thread that does not own s, or with no cache. */
static void sl_bm_free_remote(sl_span *s, void *p)
{
	sl_mcentral *ct = &s->heap->central[s->sizeclass];
	bool locked = false;
	if (s->keyoff)
		sl_bm_mark(s, p); /* 8-byte objects: the encoded link below is the mark */
	uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire), nx;
	for (;;) {
		if (x & SL_XF_OWNED) {
			sl_bm_link_set(s, p, (uintptr_t)(x & SL_XF_PTRMASK));
			nx = (uintptr_t)p | SL_XF_OWNED;
		} else {
			if ((x & SL_XF_DYING) || (x >> 48) == 0) {
				if (locked)
					sl_sync_unlock(&ct->lock);
				sl_bm_double_free(p, s); /* nothing of s is in use */
			}
			if (!(x & SL_XF_LISTED) && !locked) {
				sl_sync_lock(&ct->lock);
				locked = true;
				x = atomic_load_explicit(&s->xfree, memory_order_acquire);
				continue;
			}
			sl_bm_link_set(s, p, (uintptr_t)(x & SL_XF_PTRMASK));
			nx = ((x & ~SL_XF_PTRMASK) - SL_XF_ONE) | (uintptr_t)p | SL_XF_LISTED;
			if ((nx >> 48) == 0)
				nx |= SL_XF_DYING;
		}
		if (atomic_compare_exchange_weak_explicit(&s->xfree, &x, nx, memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	if (!(nx & SL_XF_OWNED) && (!(x & SL_XF_LISTED) || (nx & SL_XF_DYING))) {
		if (!locked) {
			sl_sync_lock(&ct->lock);
			locked = true;
		}
		if (nx & SL_XF_DYING) {
			/* The last object: merge (catches a double free that made the count reach
			 * zero early) and release. */
			uint64_t list = atomic_exchange_explicit(&s->xfree, SL_XF_DYING, memory_order_acq_rel);
			sl_bm_merge(s, (void *)(uintptr_t)(list & SL_XF_PTRMASK));
			sl_bm_release(ct, s);
		} else if (!s->partial) {
			sl_partial_push(ct, s);
		}
	}
	if (locked)
		sl_sync_unlock(&ct->lock);
}

/* One object straight from mcentral, for a thread without a cache (initialising, or
 * after its cache was torn down at exit). */
static void *sl_bm_alloc_uncached(uint32_t cls)
{
	sl_mcentral *ct = &sl_local_heap()->central[cls];
	void *p = NULL;
	sl_sync_lock(&ct->lock);
	for (;;) {
		sl_span *s = ct->partial;
		if (!s && !(s = sl_bm_grow(ct)))
			break;
		/* Reserve one object (count + 1: no free can now take the count to zero) and
		 * take the pending list. */
		uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire);
		while (!(x & SL_XF_DYING) &&
		       !atomic_compare_exchange_weak_explicit(&s->xfree, &x, (x & ~SL_XF_PTRMASK) + SL_XF_ONE,
							      memory_order_acq_rel, memory_order_acquire))
			;
		if (x & SL_XF_DYING) {
			sl_partial_remove(ct, s);
			continue;
		}
		sl_bm_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		uint32_t nw = sl_bm_nwords(s), w = 0;
		while (w < nw && !s->freebits[w])
			w++;
		if (w == nw)
			sl_fatal("bitmap front end: span %p of class %u is listed without a free slot", (void *)s->base, cls);
		uint32_t i = (uint32_t)__builtin_ctzll(s->freebits[w]);
		s->freebits[w] &= s->freebits[w] - 1;
		p = (void *)(s->base + ((uintptr_t)w * 64 + i) * s->elemsize);
		sl_bm_unmark(s, p);
		if (!sl_bm_popcount(s)) {
			/* Full: off the partial list unless a remote free is pending. */
			x = atomic_load_explicit(&s->xfree, memory_order_acquire);
			while (!(x & SL_XF_PTRMASK)) {
				if (atomic_compare_exchange_weak_explicit(&s->xfree, &x, x & ~SL_XF_LISTED,
									  memory_order_acq_rel, memory_order_acquire)) {
					sl_partial_remove(ct, s);
					break;
				}
			}
		}
		break;
	}
	sl_sync_unlock(&ct->lock);
	if (p)
		__atomic_fetch_add(&sl_uncached_mallocs[cls], 1, __ATOMIC_RELAXED);
	return p;
}

/* ---- The cache side ---- */

/* Loads the first non-empty word of s's bitmap in [w, end) into entry e of cache c;
 * false if there is none. */
static inline bool sl_bm_load(sl_mcache *c, sl_bm_class *e, sl_span *s, uint64_t *w, uint64_t *end)
{
	for (; w < end; w++) {
		if (*w) {
			e->wordptr = w;
			e->cache = *w;
			e->wordbase = s->base + (uintptr_t)(w - s->freebits) * 64 * e->elemsize;
			SL_COUNTER_ADD(c->fe.refills, 1);
			return true;
		}
	}
	return false;
}

/* Owned span s: merges the remote frees pending on it, if any (the number merged). */
static inline uint32_t sl_bm_collect(sl_span *s)
{
	if (!(atomic_load_explicit(&s->xfree, memory_order_relaxed) & SL_XF_PTRMASK))
		return 0;
	uint64_t x = atomic_exchange_explicit(&s->xfree, SL_XF_OWNED, memory_order_acq_rel);
	return sl_bm_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
}

/* ---- The owned list (the owner's thread only) ---- */

/* The owned list is circular, oldest first: e->owned is the span that filled first,
 * e->owned->prev the last. */
static void sl_bm_own_push(sl_bm_class *e, sl_span *s)
{
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

static void sl_bm_own_remove(sl_bm_class *e, sl_span *s)
{
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

/* Entry e's current span is full (or there is none): the span to allocate from next,
 * by the policy at the top of this file; NULL when memory is exhausted. */
static sl_span *sl_bm_next_span(sl_mcache *c, sl_bm_class *e, uint32_t cls)
{
	sl_span *full = e->span;
	e->span = NULL;
	if (full)
		sl_bm_own_push(e, full);
	/* Oldest first (in FIFO-like programs the emptiest); stop at one half free. */
	sl_span *best = NULL, *fewest = NULL, *s = e->owned;
	for (uint32_t n = e->nowned; n; n--, s = s->next) {
		sl_bm_collect(s);
		s->nfree = sl_bm_popcount(s);
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
		sl_bm_own_remove(e, best);
		return best;
	}
	if (fewest && e->nowned > SL_BM_OWN_MAX) {
		sl_bm_own_remove(e, fewest);
		sl_bm_uncache_span(fewest);
	}
	return sl_bm_cache_span(&c->heap->central[cls], c);
}

static void sl_bm_tiny_retire(sl_mcache *c);

void sl_fe_bitmap_flush(sl_mcache *c)
{
	sl_bm_tiny_retire(c);
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		sl_bm_class *e = &c->fe.cls[cls];
		sl_bm_uncache(e);
		while (e->owned) {
			sl_span *s = e->owned;
			sl_bm_own_remove(e, s);
			sl_bm_uncache_span(s);
		}
	}
}

SL_NOINLINE void *sl_fe_bitmap_alloc_slow(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_UNLIKELY(!c)) {
		sl_ensure_init(); /* a thread with a cache has seen it done */
		if (!(c = sl_mcache_get_slow())) {
			void *p = sl_bm_alloc_uncached(cls);
			if (!p)
				errno = ENOMEM;
			return p;
		}
	}
	if (SL_NUMA_MAX_NODES > 1 && sl_nheaps > 1 && ++c->fe.nslow >= SL_BM_NODE_CHECK) {
		/* A thread that moved to another node gives its spans back to their heap. */
		c->fe.nslow = 0;
		sl_mheap *h = &sl_heaps[sl_numa_current_node() % sl_nheaps];
		if (h != c->heap) {
			sl_fe_bitmap_flush(c);
			c->heap = h;
		}
	}
	sl_bm_class *e = &c->fe.cls[cls];
	sl_span *s = e->span;
	if (SL_UNLIKELY(e->cache != 0)) {
		/* the fast path found no cache (a thread's first allocation) */
	} else if (s) {
		/* The loaded word is used up (an empty cache word stands for a word whose
		 * slots are all taken): the next word with free slots; after the last word,
		 * merge the remote frees and scan again from the start. */
		uint64_t *w = e->wordptr, *end = s->freebits + sl_bm_nwords(s), *stop = end;
		if (w) {
			*w = 0;
			stop = w++; /* from here to the end is scanned now: no need to again */
		} else {
			w = s->freebits;
		}
		e->wordptr = NULL;
		if (!sl_bm_load(c, e, s, w, end)) {
			if (sl_bm_collect(s))
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
		sl_bm_load(c, e, s, s->freebits, s->freebits + sl_bm_nwords(s));
	}
	uint64_t bits = e->cache;
	e->cache = bits & (bits - 1);
	SL_COUNTER_ADD(e->nmalloc, 1);
	void **p = (void **)(e->wordbase + (uintptr_t)__builtin_ctzll(bits) * e->elemsize);
	p[e->elemsize >= 16] = NULL; /* the free mark's word */
	return p;
}

/* Free of object p of s (not a tiny object): by the owner into the bitmap, else
 * remote. Counted in the freeing thread's cache unless it is a tiny block (!count). */
static void sl_bm_free_object(sl_span *s, void *p, bool count)
{
	if (sl_bm_marked(s, p))
		sl_bm_double_free(p, s);
	sl_mcache *c = sl_tls_cache;
	if (c) {
		sl_bm_class *e = &c->fe.cls[s->sizeclass];
		if (count)
			SL_COUNTER_ADD(e->nfree, 1);
		if (__atomic_load_n(&s->fe_owner, __ATOMIC_RELAXED) == (void *)e) {
			uint32_t idx = sl_bm_index(s, p);
			uint64_t bit = (uint64_t)1 << (idx & 63);
			uint64_t *w = &s->freebits[idx >> 6];
			if (w == e->wordptr)
				w = &e->cache;
			if (*w & bit)
				sl_bm_double_free(p, s);
			*w |= bit;
			sl_bm_mark(s, p);
			return;
		}
		if (s->heap != c->heap)
			__atomic_fetch_add(&s->heap->remote_frees, 1, __ATOMIC_RELAXED);
	} else if (count) {
		__atomic_fetch_add(&sl_uncached_frees[s->sizeclass], 1, __ATOMIC_RELAXED);
	}
	sl_bm_free_remote(s, p);
}

/* ---- Tiny blocks (`tiny` only; see frontend/tiny.h) ---- */

/* Drops the cache's hold on its current block; the last one out frees the block. */
static void sl_bm_tiny_retire(sl_mcache *c)
{
	if (!SL_FE_BITMAP_TINY || !c->fe.tiny)
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

SL_NOINLINE void *sl_fe_bitmap_alloc_tiny_slow(size_t size)
{
	sl_ensure_init();
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	uint32_t tcls = sl_bm_tiny_class();
	if (!c || !tcls)
		return sl_fe_bitmap_alloc(sl_sc_size_to_class(size));
	void *b = sl_fe_bitmap_alloc(tcls);
	if (!b)
		return NULL;
	sl_span *s = sl_span_of(b);
	uint16_t *w = &s->tinywords[((uintptr_t)b - s->base) >> 4];
	uint32_t fill = ((uint32_t)size + 1) & ~1u;
	/* Go's rule: the new block becomes the current one only if it has more room left
	 * than the current one; else it holds this object alone (and goes back to its span
	 * when the object is freed). */
	bool hold = !c->fe.tiny || fill < c->fe.tinyoff;
	__atomic_store_n(w, (uint16_t)((hold ? SL_TINY_HOLD : 0) | 1u | (fill >> 1 << SL_TINY_FILL_SHIFT)),
			 __ATOMIC_RELAXED);
	if (hold) {
		sl_bm_tiny_retire(c);
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
static bool sl_bm_tiny_free(sl_span *s, void *p)
{
	uintptr_t off = (uintptr_t)p - s->base;
	uint32_t o = (uint32_t)(off & 15);
	uint16_t *w = &s->tinywords[off >> 4];
	if (!__atomic_load_n(w, __ATOMIC_ACQUIRE)) {
		if (o)
			sl_bm_double_free(p, s); /* its block was released meanwhile */
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
		SL_COUNTER_ADD(c->fe.cls[s->sizeclass].nfree, 1);
		SL_COUNTER_ADD(c->fe.tiny_frees, 1);
	} else {
		__atomic_fetch_add(&sl_uncached_frees[s->sizeclass], 1, __ATOMIC_RELAXED);
		SL_STAT_ADD(sl_tiny_uncached_frees, 1);
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
			SL_STAT_ADD(sl_tiny_uncached_released, 1);
		sl_bm_free_object(s, b, false);
	}
	return true;
}

/* ---- Contract hooks ---- */

void sl_fe_bitmap_free_small(sl_span *s, void *p)
{
	if (SL_FE_BITMAP_TINY && s->tinywords && sl_bm_tiny_free(s, p))
		return;
	sl_bm_free_object(s, p, true);
}

bool sl_fe_bitmap_check_interior(sl_span *s, const void *p)
{
	if (!SL_FE_BITMAP_TINY || !s->tinywords)
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
size_t sl_fe_bitmap_usable(sl_span *s, const void *p)
{
	if (SL_FE_BITMAP_TINY && s->tinywords) {
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

void sl_fe_bitmap_cache_init(sl_mcache *c)
{
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		sl_bm_class *e = &c->fe.cls[cls];
		e->elemsize = sl_classes[cls].size;
		e->slowfree = SL_FE_BITMAP_TINY && e->elemsize == 16;
	}
	c->fe.tinyoff = 16;
	c->fe.tinycls = sl_bm_tiny_class();
}

/* Thread exit: the current tiny block and every span go back to mcentral. */
void sl_fe_bitmap_cache_teardown(sl_mcache *c) { sl_fe_bitmap_flush(c); }

/* Free objects of a span on the partial list (its mcentral's lock held). */
uint64_t sl_fe_bitmap_span_free_objects(sl_span *s)
{
	uint64_t x = atomic_load_explicit(&s->xfree, memory_order_relaxed);
	return (x & SL_XF_OWNED) ? 0 : s->nelems - (x >> 48);
}

/* The per-cache counters summed over every cache of the registry (an idle cache keeps
 * its counts) and the uncached path (sl_bm_sum_cache). */
typedef struct sl_bm_sums {
	uint64_t refills, tiny_allocs, tiny_class_bytes, tiny_blocks, tiny_frees, tiny_released;
} sl_bm_sums;

/* Adds a cache's counts, then (c == NULL) the uncached path's. */
static void sl_bm_sum_cache(sl_mcache *c, void *arg)
{
	sl_bm_sums *sum = arg;
	if (!c) {
		sum->tiny_frees += __atomic_load_n(&sl_tiny_uncached_frees, __ATOMIC_RELAXED);
		sum->tiny_released += __atomic_load_n(&sl_tiny_uncached_released, __ATOMIC_RELAXED);
		return;
	}
	sum->refills += SL_COUNTER_READ(c->fe.refills);
	sum->tiny_allocs += SL_COUNTER_READ(c->fe.tiny_allocs);
	sum->tiny_class_bytes += SL_COUNTER_READ(c->fe.tiny_class_bytes);
	sum->tiny_blocks += SL_COUNTER_READ(c->fe.tiny_blocks);
	sum->tiny_frees += SL_COUNTER_READ(c->fe.tiny_frees);
	sum->tiny_released += SL_COUNTER_READ(c->fe.tiny_released);
}

void sl_fe_bitmap_stats(spanlab_stats *out)
{
	sl_bm_sums sum = {0};
	sl_mcache_foreach(sl_bm_sum_cache, &sum);
	out->bitmap_refills = sum.refills;
	out->remote_merged = __atomic_load_n(&sl_bm_merged, __ATOMIC_RELAXED);
	if (!SL_FE_BITMAP_TINY)
		return;
	out->tiny_allocs = sum.tiny_allocs;
	out->tiny_objects = sum.tiny_allocs > sum.tiny_frees ? sum.tiny_allocs - sum.tiny_frees : 0;
	out->tiny_blocks = sum.tiny_blocks > sum.tiny_released ? sum.tiny_blocks - sum.tiny_released : 0;
	uint64_t block_bytes = sum.tiny_blocks * 16;
	out->tiny_saved = sum.tiny_class_bytes > block_bytes ? sum.tiny_class_bytes - block_bytes : 0;
}

#endif
