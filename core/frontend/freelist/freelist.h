/*
 * core/frontend/freelist/freelist.h — front end `freelist` (TCMalloc's): per thread and
 * class, a singly-linked list of free objects; refill and flush move whole batches
 * through mcentral. The default. Contract: core/frontend/README.md.
 *
 * The per-thread state is struct sl_fe_freelist_cache (cache.h); the slow paths
 * (refill, flush, thread-cache sizing, the NUMA remote lists, thread exit) are in
 * freelist.c. Front end
 * `percpu` falls back to this one and reuses its functions: a cache type that embeds
 * sl_fe_freelist_cache as its first member (percpu/cache.h) gets the same state
 * through sl_fl.
 */
#ifndef SPANLAB_FE_FREELIST_H
#define SPANLAB_FE_FREELIST_H

_Static_assert(SL_OBJ8, "8-byte objects keep their free state in the span (core/internal.h)");

#define sl_fe_freelist_NAME_ "freelist"
#define sl_fe_freelist_TINY_MAX_ 0

/* The freelist state of thread cache c: the front end's own cache, or the first
 * member of a cache type that embeds it (percpu's). */
SL_INLINE sl_fe_freelist_cache *sl_fl(sl_mcache *c) { return (sl_fe_freelist_cache *)(void *)&c->fe; }

void *sl_fe_freelist_alloc_slow(uint32_t cls);
void sl_fe_freelist_free_small(sl_span *s, void *p);
void sl_fe_freelist_cache_teardown(sl_mcache *c);
void sl_fe_freelist_cache_lost(sl_mcache *c);
void sl_fl_overflow(sl_mcache *c, uint32_t cls);   /* a free took a list above its max */
void sl_fl_flush(sl_mcache *c, uint32_t cls);	   /* one batch of a list goes back */
void sl_fl_drain(sl_mcache *c);			   /* every list and remote list goes back */
void sl_fl_free_remote(sl_mcache *c, sl_span *s, void *p); /* another NUMA node's object */

/*
 * The malloc fast path: a TLS load, a list pop (the link decoded and its alignment
 * checked, as sl_link_get does) and thread-local counters, no lock, no atomic
 * read-modify-write. With
 * the caller's class lookup (one table load) and the free below, go-mutex-flat runs
 * 99 instructions per malloc+free pair of sl-fastpath, its loop included
 * (scripts/fastpath-budget.sh go-mutex-flat).
 */
SL_INLINE void *sl_fe_freelist_alloc(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_LIKELY(c != NULL)) {
		sl_freelist *l = sl_fl(c)->lists + (size_t)cls;
		void **p = l->head;
		/* The link decoded; a misaligned one (overwritten after the free) is left to
		 * the slow path, which decodes it again and aborts (a jump, not a call:
		 * the fast path needs no stack frame). */
		uintptr_t next = p ? *(uintptr_t *)p ^ sl_link_key : 1;
		if (SL_LIKELY((next & 7) == 0)) {
			/* Owner-only fields: plain loads, relaxed stores (statistics read them). */
			uint32_t n = l->count;
			uint64_t m = l->nmalloc, k = l->keyslot;
			l->head = (void *)next;
			__atomic_store_n(&l->count, n - 1, __ATOMIC_RELAXED);
			__atomic_store_n(&l->nmalloc, m + 1, __ATOMIC_RELAXED);
			p[k] = NULL;
			return p;
		}
	}
	return sl_fe_freelist_alloc_slow(cls);
}

/* Object p of class cls, marked freed, onto thread cache c's list; a list that goes
 * above its threshold overflows (sl_fl_overflow). Every free that keeps the object in
 * the thread's cache ends here. */
SL_INLINE void sl_fl_push(sl_mcache *c, uint32_t cls, void *p)
{
	sl_freelist *l = sl_fl(c)->lists + (size_t)cls;
	uint32_t n = l->count + 1;
	sl_link_set(p, l->head);
	l->head = p;
	__atomic_store_n(&l->count, n, __ATOMIC_RELAXED);
	/* The class again from the list's place, on the rare path only: the common one
	 * then keeps no register for it. */
	if (SL_UNLIKELY(n > l->max))
		sl_fl_overflow(c, (uint32_t)(l - sl_fl(c)->lists));
}

/*
 * The free fast path, after the caller's page-map lookup (two loads): a validity check
 * of the offset (one multiply), the double-free test (the key), and a list push; no
 * lock, no atomic read-modify-write, no statistics (see cache.h). Returns
 * false for anything unusual (bad pointer, key present, an object of another NUMA
 * node's heap, an 8-byte object: its span's limit fails the object check, SL_OBJ8 in
 * core/internal.h): the slow path sorts it out, an 8-byte object first through
 * sl_fe_freelist_free_declined (tested here, it would cost every free a saved
 * register).
 */
SL_INLINE bool sl_fe_freelist_free_fast(sl_mcache *c, sl_span *s, void *p)
{
	if (SL_LIKELY(SL_NUMA_MAX_NODES == 1 || s->heap == c->heap)) {
		/* The key is word 1 of every object that passes the object check below
		 * (8-byte objects, whose key word would be word 0, fail it: SL_OBJ8). */
		void **key = (void **)p + 1;
		if (SL_LIKELY(sl_span_is_object(s, p) && *key != (void *)sl_free_key)) {
			*key = (void *)sl_free_key;
			sl_fl_push(c, s->sizeclass, p);
			return true;
		}
	}
	return false;
}

/* The free of a p the fast path declined (core/malloc.c, sl_free_declined; c and s as
 * the fast path had them, c not NULL): if p is an object of an 8-byte class's span
 * (SL_OBJ8, core/internal.h: the fast path's object check always fails for those) of
 * the thread's heap and its free byte was clear, the byte is set and p pushed on the
 * thread's list, as sl_fe_freelist_free_small would, without sl_owner's checks for
 * every other kind of span. Anything else (not such an object, or a double free: the
 * byte is left set) returns false for the engine's slow path, which reports it. Inline:
 * the engine's out-of-line sl_free_declined makes no second call for it. */
SL_INLINE bool sl_fe_freelist_free_declined(sl_mcache *c, sl_span *s, void *p)
{
	if ((SL_NUMA_MAX_NODES > 1 && s->heap != c->heap) || !sl_obj8_try_free(s, p))
		return false;
	sl_fl_push(c, s->sizeclass, p);
	return true;
}

/* No tiny allocator: never called (SL_FE_TINY_MAX is 0). */
SL_INLINE void *sl_fe_freelist_alloc_tiny(size_t size) { return sl_fe_freelist_alloc(sl_sc_size_to_class(size)); }

#define sl_fe_freelist_check_interior sl_fe_default_check_interior
#define sl_fe_freelist_usable sl_fe_default_usable

SL_INLINE void sl_fe_freelist_cache_init(sl_mcache *c)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		f->lists[cls].max = sl_classes[cls].batch;
		f->lists[cls].keyslot = SL_KEY_OFFSET(sl_classes[cls].size) / sizeof(void *);
	}
}

SL_INLINE void sl_fe_freelist_flush(sl_mcache *c) { sl_fl_drain(c); }

SL_INLINE uint64_t sl_fe_freelist_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	return SL_COUNTER_READ(sl_fl(c)->lists[cls].nmalloc);
}

/* Objects the program freed into cache c: the free fast path counts nothing, so this
 * is derived (see cache.h). */
SL_INLINE uint64_t sl_fe_freelist_cache_frees(sl_mcache *c, uint32_t cls)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	return SL_COUNTER_READ(f->lists[cls].nmalloc) + SL_COUNTER_READ(f->nout[cls]) +
	       SL_COUNTER_READ(f->lists[cls].count) - SL_COUNTER_READ(f->nin[cls]);
}

/* Free objects of a span on the mcentral's partial list (its lock held). */
SL_INLINE uint64_t sl_fe_freelist_span_free_objects(sl_span *s) { return s->nfree; }

SL_INLINE void sl_fe_freelist_stats(spanlab_stats *out) { (void)out; }

#endif
