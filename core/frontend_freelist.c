/*
 * core/frontend_freelist.c — the slow paths of front end `freelist` (fast paths in
 * core/frontend/freelist.h; refill and flush in core/mcache.c). See malloc.c for the
 * overview.
 */
#include <errno.h>

#include "internal.h"

/* Also the fallback of front end `percpu` (core/frontend/percpu.h). */
#if defined(SPANLAB_FRONTEND_FREELIST) || defined(SPANLAB_FRONTEND_PERCPU)

SL_NOINLINE void *sl_fe_freelist_alloc_slow(uint32_t cls)
{
	sl_ensure_init();
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	void **p;
	if (c) {
		p = sl_mcache_refill(c, cls);
		if (SL_LIKELY(p != NULL))
			SL_COUNTER_ADD(c->lists[cls].nmalloc, 1);
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
	 * objects their bit in the span (set here, atomically, whichever thread frees). */
	if (s->keyoff ? *key == (void *)sl_free_key : !sl_obj8_free(s, p))
		sl_fatal("free(): double free of %p (size class %u, %u bytes)", p, cls, s->elemsize);
	/* Marked freed on every path below (each then writes the link, which for 8-byte
	 * objects overwrites the key: their mark is the bit). */
	*key = (void *)sl_free_key;
	if (c && s->heap == c->heap) {
		sl_freelist *l = &c->lists[cls];
		sl_link_set(o, l->head);
		l->head = o;
		SL_COUNTER_ADD(l->count, 1);
		if (l->count > l->max)
			sl_mcache_flush(c, cls);
		return;
	}
	if (c) {
		/* An object of another NUMA node's heap: home with the next batch. */
		sl_mcache_free_remote(c, s, p);
		return;
	}
	/* No cache: straight to its span. */
	sl_link_set(o, NULL);
	sl_mcentral_give_list(ct, p);
	__atomic_fetch_add(&sl_uncached_frees[cls], 1, __ATOMIC_RELAXED);
}

#endif
