/*
 * core/frontend/freelist/freelist.c — the slow paths of front end `freelist` (fast paths
 * in freelist.h, state in cache.h): refill and flush in batches through mcentral, the
 * lists of objects other NUMA nodes' heaps own, thread exit. Also compiled for front
 * end `percpu`, whose fallback this is (percpu/percpu.cmake). See core/malloc.c for the
 * overview.
 */
#include <errno.h>

#include "../../internal.h"

#define SL_FL_SPARE_MAX 8 /* empty batch nodes kept per thread */

/* ---- Batches ---- */

static sl_batch *sl_fl_node(sl_fe_freelist_cache *f, sl_mcentral *ct)
{
	sl_batch *b = f->spare;
	if (b) {
		f->spare = b->head;
		f->nspare--;
		return b;
	}
	if ((b = sl_mcentral_spare_pop(ct)))
		return b;
	return sl_fixalloc_get(SL_FIX_BATCH);
}

static void sl_fl_keep_node(sl_fe_freelist_cache *f, sl_mcentral *ct, sl_batch *b)
{
	if (f->nspare < SL_FL_SPARE_MAX) {
		b->head = f->spare;
		f->spare = b;
		f->nspare++;
	} else {
		b->head = NULL;
		sl_mcentral_spare_push(ct, b);
	}
}

/* Gives a NULL-terminated list of n objects back: as one full batch in O(1) if it is
 * one, else object by object to their spans. */
static void sl_fl_give(sl_fe_freelist_cache *f, sl_mcentral *ct, void *head, uint32_t n)
{
	if (n == ct->batch) {
		sl_batch *b = sl_fl_node(f, ct);
		if (b) {
			b->head = head;
			b->count = n;
			if (sl_mcentral_push_batch(ct, b))
				return;
			sl_fl_keep_node(f, ct, b);
		}
	}
	sl_mcentral_give_list(ct, head);
}

/* Called with the class's list empty. Returns one object (the rest fill the list), or
 * NULL when memory is exhausted. Slow start: each refill raises the list's flush
 * threshold by one batch, up to the class's cap. A thread that moved to another NUMA
 * node first gives everything back to its old heap (sl_mcache_follow_node). */
static void *sl_fl_refill(sl_mcache *c, uint32_t cls)
{
	sl_mcache_follow_node(c);
	sl_fe_freelist_cache *f = sl_fl(c);
	sl_freelist *l = &f->lists[cls];
	sl_mcentral *ct = &c->heap->central[cls];
	void *head;
	uint32_t n;
	SL_ASSERT(l->head == NULL && l->count == 0); /* called with the list empty */
	sl_batch *b = sl_mcentral_pop_batch(ct);
	if (b) {
		head = b->head;
		n = b->count;
		sl_fl_keep_node(f, ct, b);
	} else if (!(n = sl_mcentral_take(ct, ct->batch, &head))) {
		return NULL;
	}
	if (l->max < sl_classes[cls].cache_cap) {
		l->max += ct->batch;
		if (l->max > sl_classes[cls].cache_cap)
			l->max = sl_classes[cls].cache_cap;
	}
	l->head = sl_link_get(head);
	SL_COUNTER_ADD(l->count, n - 1);
	SL_COUNTER_ADD(f->nin[cls], n);
	return head;
}

/* Called when a free took the list above its threshold: one batch goes back. */
void sl_fl_flush(sl_mcache *c, uint32_t cls)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	sl_freelist *l = &f->lists[cls];
	sl_mcentral *ct = &c->heap->central[cls];
	uint32_t n = ct->batch < l->count ? ct->batch : l->count;
	void *head = l->head, *tail = head;
#if SL_DEBUG
	/* The list holds exactly `count` objects of this class. */
	uint32_t len = 0;
	for (void *o = head; o; o = sl_link_get(o), len++)
		SL_ASSERT(sl_span_of(o)->sizeclass == cls);
	SL_ASSERT(len == l->count);
#endif
	for (uint32_t i = 1; i < n; i++)
		tail = sl_link_get(tail);
	l->head = sl_link_get(tail);
	sl_link_set(tail, NULL);
	SL_COUNTER_ADD(l->count, -n);
	SL_COUNTER_ADD(f->nout[cls], n);
	sl_fl_give(f, ct, head, n);
}

/* The remote list of class cls goes home: one full batch to its heap's mcentral in
 * O(1), or object by object to their spans. */
static void sl_fl_flush_remote(sl_fe_freelist_cache *f, uint32_t cls)
{
	sl_remote_list *r = &f->remote[cls];
	if (SL_NUMA_MAX_NODES > 1 && r->count) {
		sl_fl_give(f, &r->heap->central[cls], r->head, r->count);
		r->head = NULL;
		r->count = 0;
	}
}

/* Free of object p of another NUMA node's heap (validated, checked for a double free
 * and marked freed by the caller): kept on the class's remote list, so that objects go
 * home a batch at a time instead of one lock round trip each. Counted as gone out of
 * the cache (nout) at once. */
void sl_fl_free_remote(sl_mcache *c, sl_span *s, void *p)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	uint32_t cls = s->sizeclass;
	sl_remote_list *r = &f->remote[cls];
	if (r->count && r->heap != s->heap)
		sl_fl_flush_remote(f, cls);
	r->heap = s->heap;
	sl_link_set(p, r->head);
	r->head = p;
	SL_COUNTER_ADD(f->nout[cls], 1);
	__atomic_fetch_add(&s->heap->remote_frees, 1, __ATOMIC_RELAXED);
	if (++r->count >= s->heap->central[cls].batch)
		sl_fl_flush_remote(f, cls);
}

void sl_fl_drain(sl_mcache *c)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		while (f->lists[cls].count)
			sl_fl_flush(c, cls);
		f->lists[cls].max = sl_classes[cls].batch;
		sl_fl_flush_remote(f, cls);
	}
}

/* ---- The contract's slow paths ---- */

SL_NOINLINE void *sl_fe_freelist_alloc_slow(uint32_t cls)
{
	sl_ensure_init();
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	void **p;
	if (c && sl_fl(c)->lists[cls].head) {
		/* The fast path found the head's link misaligned: decoding it aborts. */
		sl_link_get(sl_fl(c)->lists[cls].head);
	}
	if (c) {
		p = sl_fl_refill(c, cls);
		if (SL_LIKELY(p != NULL))
			SL_COUNTER_ADD(sl_fl(c)->lists[cls].nmalloc, 1);
	} else {
		/* Uncached: initialising, or the thread's cache is gone (thread exit). */
		void *head = NULL;
		if (sl_mcentral_take(&sl_local_heap()->central[cls], 1, &head))
			__atomic_fetch_add(&sl_uncached_mallocs[cls], 1, __ATOMIC_RELAXED);
		p = head;
	}
	if (SL_UNLIKELY(!p)) {
		errno = ENOMEM;
		return NULL;
	}
	p[SL_KEY_OFFSET(sl_classes[cls].size) / sizeof(void *)] = NULL;
	return p;
}

/* Free of p, the start of an object of SMALL span s (validated by the caller), when the
 * fast path declined. */
void sl_fe_freelist_free_small(sl_span *s, void *p)
{
	uint32_t cls = s->sizeclass;
	sl_mcentral *ct = &s->heap->central[cls];
	sl_mcache *c = sl_tls_cache;
	void **o = p, **key = (void **)((char *)p + s->keyoff);
	/* Freed before and not handed out since (see malloc.c): the key, or for 8-byte
	 * objects their byte in the span (set here, whichever thread frees). */
	if (s->keyoff ? *key == (void *)sl_free_key : !sl_obj8_free(s, p))
		sl_fatal("free(): double free of %p (size class %u, %u bytes)", p, cls, s->elemsize);
	/* Marked freed on every path below (each then writes the link, which for 8-byte
	 * objects overwrites the key: their mark is the byte). */
	*key = (void *)sl_free_key;
	if (c && s->heap == c->heap) {
		sl_freelist *l = &sl_fl(c)->lists[cls];
		sl_link_set(o, l->head);
		l->head = o;
		SL_COUNTER_ADD(l->count, 1);
		if (l->count > l->max)
			sl_fl_flush(c, cls);
		return;
	}
	if (c) {
		/* An object of another NUMA node's heap: home with the next batch. */
		sl_fl_free_remote(c, s, p);
		return;
	}
	/* No cache: straight to its span. */
	sl_link_set(o, NULL);
	sl_mcentral_give_list(ct, p);
	__atomic_fetch_add(&sl_uncached_frees[cls], 1, __ATOMIC_RELAXED);
}

/* The spare batch nodes go back to the metadata allocator. */
static void sl_fl_release_spares(sl_fe_freelist_cache *f)
{
	while (f->spare) {
		sl_batch *b = f->spare;
		f->spare = b->head;
		sl_fixalloc_put(SL_FIX_BATCH, b);
	}
	f->nspare = 0;
}

void sl_fe_freelist_cache_teardown(sl_mcache *c)
{
	sl_fl_drain(c);
	sl_fl_release_spares(sl_fl(c));
}

/* Fork child, a cache of another thread: its objects are lost to the child (as in
 * TCMalloc), its spare nodes are not. */
void sl_fe_freelist_cache_lost(sl_mcache *c) { sl_fl_release_spares(sl_fl(c)); }
