/*
 * core/spanbits.h — span bitmaps: the per-span allocation state of the front ends that
 * hand out whole spans to thread caches (`bitmap` and `tiny`, core/frontend/bitmap/):
 * a free bitmap per span (s->freebits, 1 = free slot), the remote-free word
 * (s->xfree), and free marks in freed objects. mcentral's side of it (giving a span to
 * a cache, taking it back, remote frees, the uncached path) is in core/mcentral.c, the
 * cache's side in core/frontend/bitmap/bmcore.c. Included by core/internal.h when the
 * selected front end declares SL_FE_SPAN_BITMAPS.
 *
 * The remote-free word s->xfree: a list head (objects are 8-byte aligned, user
 * addresses fit in 48 bits) in bits 3..47, state in bits 0..2, and in bits 48..63 the
 * number of objects in use while the span sits in mcentral; core/mcentral.c ("Span
 * bitmaps") states its transitions.
 *
 * Free marks (as freelist's key, core/malloc.c): sl_free_key in word 1 of a freed
 * object of 16 bytes or more. An 8-byte object has only word 0: the owner's free stores
 * the key there, a remote free stores its list link XORed with the key, and a free that
 * finds either (sl_sb_marked) is a double free. So every double free is caught at the
 * second free, whichever threads made the two, before the owner can hand the object
 * out again (the false positive needs a live object holding the key, or an 8-byte one
 * holding the key XOR the address of an object of its class).
 */
#ifndef SPANLAB_CORE_SPANBITS_H
#define SPANLAB_CORE_SPANBITS_H

#define SL_XF_OWNED ((uint64_t)1)  /* a cache owns the span: pushers just push */
#define SL_XF_LISTED ((uint64_t)2) /* in mcentral, on its partial list */
#define SL_XF_DYING ((uint64_t)4)  /* in mcentral, every object free: being released */
#define SL_XF_PTRMASK ((uint64_t)0x0000FFFFFFFFFFF8ull)
#define SL_XF_ONE ((uint64_t)1 << 48)

/* A span that goes back to mcentral, or whose remote frees arrive there, is listed
 * (reusable by any cache) once this share of its slots is free: at least
 * nelems / SPANLAB_BITMAP_RELIST slots, and at least one (0: one, a span is listed
 * at its first free slot). Until then it is on no list and its free slots wait: a
 * cache that takes a listed span gets that many allocations from it before it needs
 * the next one, not one or two (a program that frees a few objects of each of many
 * spans it no longer owns would otherwise make its caches change spans, each time
 * under the mcentral's lock, for almost every allocation). A build-time knob
 * (README.md). */
#ifndef SPANLAB_BITMAP_RELIST
#define SPANLAB_BITMAP_RELIST 8
#endif

/* ---- mcentral.c: the span side ---- */
/* A span of class ct with free slots (from the partial list or new), owned from now on
 * by `owner` (s->fe_owner, the cache's entry for the class), its pending remote frees
 * merged into its bitmap; NULL when memory is exhausted. */
sl_span *sl_mcentral_cache_span(sl_mcentral *ct, void *owner);
/* Owned span s (its bitmap up to date, on no list of the cache) goes back to its
 * mcentral: listed if it has sl_sb_list_min free slots, released if every object is
 * free, else left off every list until the remote free that brings it there. */
void sl_mcentral_uncache_span(sl_span *s);
/* Free of object p of span s (checked for the mark, not marked yet) by a thread that
 * does not own s, or has no cache: pushed on s->xfree. */
void sl_mcentral_free_remote(sl_span *s, void *p);
/* One object of class ct for a thread without a cache; NULL when memory is exhausted. */
void *sl_mcentral_alloc_object(sl_mcentral *ct);
/* Sets the bits of a remote-free list's objects in s->freebits (by the owner, or under
 * the lock); aborts naming an object freed twice. Returns the number of objects. */
uint32_t sl_sb_merge(sl_span *s, void *list);
_Noreturn void sl_sb_double_free(const void *p, const sl_span *s) SL_COLD;
extern uint64_t sl_sb_merged; /* objects merged from remote-free lists (statistics) */

SL_INLINE uint32_t sl_sb_nwords(const sl_span *s) { return (s->nelems + 63) / 64; }

/* Free slots that list span s (SPANLAB_BITMAP_RELIST above). */
SL_INLINE uint32_t sl_sb_list_min(const sl_span *s)
{
	uint32_t n = SPANLAB_BITMAP_RELIST > 0 ? s->nelems / SPANLAB_BITMAP_RELIST : 0;
	return n > 1 ? n : 1;
}

SL_INLINE uint32_t sl_sb_index(const sl_span *s, const void *p)
{
	uint64_t off = (uintptr_t)p - s->base;
	return (uint32_t)(((unsigned __int128)off * s->divmagic) >> 64);
}

SL_INLINE uint32_t sl_sb_popcount64(uint64_t x)
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

/* Free slots of s as its bitmap says. */
SL_INLINE uint32_t sl_sb_popcount(const sl_span *s)
{
	uint32_t n = 0, nw = sl_sb_nwords(s);
	for (uint32_t w = 0; w < nw; w++)
		n += sl_sb_popcount64(s->freebits[w]);
	return n;
}

/* Cheap part of the free-mark test (the rest in sl_sb_marked): true when the object
 * may be marked freed — its mark word holds the key, or (8-byte objects) a value that
 * decodes to an 8-byte aligned user address. */
SL_INLINE bool sl_sb_maybe_marked(const sl_span *s, const void *p)
{
	uintptr_t d = *(const uintptr_t *)((const char *)p + s->keyoff) ^ sl_free_key;
	return d == 0 || (s->keyoff == 0 && (d & 7) == 0 && (d >> 48) == 0);
}

/* True if object p of SMALL span s holds the free mark: freed and not handed out since. */
SL_INLINE bool sl_sb_marked(const sl_span *s, const void *p)
{
	if (!sl_sb_maybe_marked(s, p))
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

SL_INLINE void sl_sb_mark(const sl_span *s, void *p) { *(uintptr_t *)((char *)p + s->keyoff) = sl_free_key; }
SL_INLINE void sl_sb_unmark(const sl_span *s, void *p) { *(uintptr_t *)((char *)p + s->keyoff) = 0; }

/* Owned span s: merges the remote frees pending on it, if any (the number merged). */
SL_INLINE uint32_t sl_sb_collect(sl_span *s)
{
	if (!(atomic_load_explicit(&s->xfree, memory_order_relaxed) & SL_XF_PTRMASK))
		return 0;
	uint64_t x = atomic_exchange_explicit(&s->xfree, SL_XF_OWNED, memory_order_acq_rel);
	return sl_sb_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
}

/* `tiny`: span s of the 16-byte class now holds tiny blocks (its owner's extra entry
 * took it): s->tinywords points at its block words (after the bitmap words in its
 * metadata, zero for every slot that is no tiny block) until the span is released to
 * the mheap. Spans without the mark hold no tiny block, and frees into them need no
 * block word (the free fast path takes them). Written by the owner, read by any
 * thread (relaxed: a free of a tiny object comes after its allocation, which came
 * after the mark). */
SL_INLINE void sl_sb_tiny_mark(sl_span *s)
{
	if (!s->tinywords)
		__atomic_store_n(&s->tinywords, (uint16_t *)(s->freebits + sl_sb_nwords(s)), __ATOMIC_RELAXED);
}

/* Free objects of a span on the partial list (its mcentral's lock held). */
SL_INLINE uint64_t sl_sb_span_free_objects(sl_span *s)
{
	uint64_t x = atomic_load_explicit(&s->xfree, memory_order_relaxed);
	return (x & SL_XF_OWNED) ? 0 : s->nelems - (x >> 48);
}

#endif
