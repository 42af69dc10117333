/*
 * core/frontend/freelist/freelist.c — the slow paths of front end `freelist` (fast paths
 * in freelist.h, state in cache.h): refill and flush in batches through mcentral,
 * thread-cache sizing, the lists of objects other NUMA nodes' heaps own, thread exit
 * (the 8-byte free the fast path declines is inline, in freelist.h). Also compiled for
 * front end `percpu`, whose fallback this is (percpu/percpu.cmake). See core/malloc.c
 * for the overview.
 */
#include <errno.h>
#include <sched.h>

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

/* ---- Thread-cache sizing ----
 *
 * Each list flushes a batch when a free takes it above its threshold (max). Static
 * sizing (SPANLAB_TCACHE_DYNAMIC=0): each refill raises the threshold by a batch (slow
 * start) up to the class's cap, and the caps (256 KiB and 2048 objects a class) bound a
 * thread's cache. Dynamic sizing (the default): a refill raises the threshold by the
 * batches the list flushed since its previous refill (the objects that went to
 * mcentral only to come back), so it grows where the program frees and allocates
 * again, in one step to the size of its working set; and a free that takes the list
 * above its threshold raises it by a batch instead of flushing, while the thread has
 * freed no more objects of the class than it allocated (sl_fl_overflow: its own
 * objects stay with it, a consumer's go back); each class is capped only by
 * what a thread may hold, and the threads are bounded instead: what the thresholds grow
 * above their first batch (tc_used) must fit the thread's budget (tc_budget), which
 * grows under demand in steps taken from one pool shared by every thread
 * (SPANLAB_TCACHE_TOTAL_MB), up to SPANLAB_TCACHE_THREAD_KB a thread. A thread that
 * cannot grow its budget (at its own limit, or the pool spent) takes from its other
 * classes instead: their thresholds shrink a batch at a time, surplus objects going
 * back to mcentral. The budget goes back to the pool whenever the cache is flushed
 * whole (thread exit, malloc_trim, a move to another NUMA node) and when fork drops
 * other threads' caches in the child (sl_fe_freelist_cache_lost). So the objects all caches hold beyond one batch
 * per class never exceed the pool, and one thread's never exceed its limit, however
 * long a thread stays idle. The checks run on refill only; the fast paths still
 * compare the list's count with its max.
 */

#define SL_TCACHE_STEP ((uint64_t)64 << 10) /* budget taken from the pool at once, at least */

static uint64_t sl_tcache_pool; /* bytes of the pool the caches hold (atomic) */

/* Takes at least `bytes` more budget from the pool for cache c: false when the thread's
 * limit or the pool does not allow it. */
static bool sl_tcache_budget_grow(sl_fe_freelist_cache *c, uint64_t bytes)
{
	uint64_t limit = (uint64_t)sl_opt.tcache_thread_kb << 10, total = (uint64_t)sl_opt.tcache_total_mb << 20;
	uint64_t step = bytes > SL_TCACHE_STEP ? bytes : SL_TCACHE_STEP;
	if (c->tc_budget + step > limit)
		step = limit > c->tc_budget ? limit - c->tc_budget : 0;
	if (step < bytes)
		return false;
	/* One CAS: the pool never holds more than its size, not even for an instant. Near
	 * its end the step shrinks to what was asked for. */
	uint64_t old = __atomic_load_n(&sl_tcache_pool, __ATOMIC_RELAXED), take;
	do {
		take = old + step <= total ? step : old + bytes <= total ? bytes : 0;
		if (!take)
			return false;
#ifdef SPANLAB_TEST_HOOKS
		if (SL_TEST_BROKEN(SL_BROKEN_TCACHE_POOL)) {
			sched_yield();
			__atomic_store_n(&sl_tcache_pool, old + take, __ATOMIC_RELAXED);
			break;
		}
#endif
	} while (!__atomic_compare_exchange_n(&sl_tcache_pool, &old, old + take, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	c->tc_budget += take;
	return true;
}

/* Cache c's budget, all of it, back to the pool. */
static void sl_tcache_budget_release(sl_fe_freelist_cache *c)
{
	if (c->tc_budget)
		__atomic_fetch_sub(&sl_tcache_pool, c->tc_budget, __ATOMIC_RELAXED);
	c->tc_budget = 0;
}

/* Frees budget of cache c for class cls by shrinking its other classes' thresholds a
 * batch at a time (round robin from tc_victim), flushing what they then hold beyond
 * it, until `bytes` fit or no other class has grown. */
static void sl_tcache_shrink_others(sl_mcache *mc, uint32_t cls, uint64_t bytes)
{
	sl_fe_freelist_cache *c = sl_fl(mc);
	uint64_t own = (uint64_t)(c->lists[cls].max - sl_classes[cls].batch) * sl_classes[cls].size;
	if (c->tc_used == own)
		return; /* no other class has grown */
	for (uint32_t i = 0; i < SL_NUM_CLASSES && c->tc_used + bytes > c->tc_budget;) {
		uint32_t v = c->tc_victim;
		sl_freelist *l = &c->lists[v];
		uint32_t batch = sl_classes[v].batch;
		if (v != 0 && v != cls && l->max > batch) {
			/* The same class stays first: it may shrink further. */
			uint32_t n = l->max - batch < batch ? l->max - batch : batch;
			l->max -= n;
			c->tc_used -= (uint64_t)n * sl_classes[v].size;
			while (l->count > l->max)
				sl_fl_flush(mc, v);
			c->tc_flushes[v] = 0; /* not the program's demand */
			continue;
		}
		c->tc_victim = v + 1 < SL_NUM_CLASSES ? v + 1 : 1;
		i++;
	}
}

/* Takes `bytes` of cache c's budget for class cls: grows the budget from the pool, or
 * else shrinks the thread's other classes. False if neither makes room. */
static bool sl_tcache_reserve(sl_mcache *mc, uint32_t cls, uint64_t bytes)
{
	sl_fe_freelist_cache *c = sl_fl(mc);
	if (c->tc_used + bytes > c->tc_budget && !sl_tcache_budget_grow(c, bytes))
		sl_tcache_shrink_others(mc, cls, bytes);
	if (c->tc_used + bytes > c->tc_budget)
		return false;
	c->tc_used += bytes;
	return true;
}

/* Raises the flush threshold of class cls on a refill, within the class's cap. Static
 * sizing: by one batch (slow start). Dynamic sizing: by as many batches as the list
 * gave back since its last refill (tc_flushes: objects the program freed and now asks
 * for again, which a longer list would have kept), else not at all, so a thread that
 * only allocates, or only frees, does not grow; within the room the thread's limit
 * leaves, and by one batch when the pool cannot give that much. */
static void sl_tcache_grow(sl_mcache *mc, uint32_t cls)
{
	sl_fe_freelist_cache *c = sl_fl(mc);
	sl_freelist *l = &c->lists[cls];
	uint32_t cap = sl_classes[cls].cache_cap, batch = sl_classes[cls].batch;
	uint64_t want = batch;
	if (sl_opt.tcache_dynamic) {
		want *= c->tc_flushes[cls];
		c->tc_flushes[cls] = 0;
	}
	if (l->max >= cap || !want)
		return;
	uint32_t n = cap - l->max < want ? cap - l->max : (uint32_t)want;
	if (sl_opt.tcache_dynamic) {
		/* No more than the thread's limit leaves room for (whole batches, one at least). */
		uint64_t size = sl_classes[cls].size, limit = (uint64_t)sl_opt.tcache_thread_kb << 10;
		uint64_t room = limit > c->tc_used ? (limit - c->tc_used) / size / batch * batch : 0;
		if (n > room)
			n = room > batch ? (uint32_t)room : batch;
		if (!sl_tcache_reserve(mc, cls, (uint64_t)n * size)) {
			if (n <= batch || !sl_tcache_reserve(mc, cls, (uint64_t)batch * size))
				return;
			n = batch;
		}
	}
	l->max += n;
}

#ifdef SPANLAB_TEST_HOOKS
/* Bytes of the thread-cache budget pool that caches hold (tests/sync/tcache_stress.c). */
__attribute__((visibility("default"))) uint64_t spanlab_test_tcache_pool(void)
{
	return __atomic_load_n(&sl_tcache_pool, __ATOMIC_RELAXED);
}
#endif

/* Refills in a row take up to 2^SL_REFILL_RUN_MAX times the first (sl_fl_refill); a
 * build-time knob (README.md), 0: one batch each. */
#ifndef SPANLAB_FREELIST_REFILL_RUN
#define SPANLAB_FREELIST_REFILL_RUN 4
#endif
#define SL_REFILL_RUN_MAX SPANLAB_FREELIST_REFILL_RUN

/* Called with the class's list empty. Returns one object (the rest fill the list), or
 * NULL when memory is exhausted. The list's flush threshold may grow (sl_tcache_grow).
 * A thread that moved to another NUMA node first gives everything back to its old heap
 * (sl_mcache_follow_node). */
static void *sl_fl_refill(sl_mcache *c, uint32_t cls)
{
	sl_mcache_follow_node(c);
	sl_fe_freelist_cache *f = sl_fl(c);
	sl_freelist *l = &f->lists[cls];
	sl_mcentral *ct = &c->heap->central[cls];
	void *head;
	uint32_t n;
	SL_ASSERT(l->head == NULL && l->count == 0); /* called with the list empty */
	/* From the spans, a batch; of an 8-byte class, at least the 64 objects whose free
	 * bytes fill one cache line of the span's map, so that the take ends on a line
	 * (sl_carve_end in core/mcentral.c) and the surplus stays on the list. Refills in
	 * a row (no flush between them: the thread is building its working set) double
	 * that, up to a span's objects (SL_REFILL_RUN_MAX doublings), so that threads
	 * filling their caches at the same time carve the spans in long runs, each run
	 * one thread's: takes of one batch each would interleave two threads' objects a
	 * batch at a time through every span. Measured with two threads churning 8-byte
	 * objects: when their objects alternated in runs of 64 through the same spans,
	 * both ran at half the speed they had when each kept spans of its own, although
	 * no cache line was written by both (checked); the hardware fetching lines next
	 * to the ones a core uses, held by the other core, is the likely cause. */
	uint32_t want = ct->batch;
	if (SL_OBJ8_CLASS(ct->elemsize) && want < SL_CACHELINE)
		want = SL_CACHELINE;
	uint32_t run = f->refill_run[cls];
	want <<= run;
	if (want > ct->nelems)
		want = ct->nelems > ct->batch ? ct->nelems : ct->batch;
	if ((int)run < SL_REFILL_RUN_MAX)
		f->refill_run[cls] = (uint8_t)(run + 1);
	sl_batch *b = sl_mcentral_pop_batch(ct);
	if (b) {
		head = b->head;
		n = b->count;
		sl_fl_keep_node(f, ct, b);
	} else if (!(n = sl_mcentral_take(ct, want, &head))) {
		return NULL;
	}
	sl_tcache_grow(c, cls);
	l->head = sl_link_get(head);
	SL_COUNTER_ADD(l->count, n - 1);
	SL_COUNTER_ADD(f->nin[cls], n);
	return head;
}

/* Called when a free took the list above its threshold (and by the whole-cache flushes
 * and shrinks, which then clear tc_flushes): one batch goes back. */
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
	f->refill_run[cls] = 0;
	if (f->tc_flushes[cls] < UINT32_MAX)
		f->tc_flushes[cls]++;
	sl_fl_give(f, ct, head, n);
}

/* Called when a free took the list of class cls above its threshold. Dynamic sizing,
 * when the thread has freed no more objects of the class than it allocated (the list
 * then holds only what the thread itself took from mcentral, nin - nout >= count: a
 * thread freeing its own working set): the threshold grows by a batch, within the
 * thread's budget, and nothing moves. Its objects then stay with it instead of going
 * to the class's shared stack, from which other threads would take them; objects of
 * one span (one cache line, one line of an 8-byte span's free map) would otherwise be
 * written by several threads at once (false sharing: sl-threadtest at 2 threads ran
 * no faster than at 1). A thread that frees what others allocated (a consumer), or one
 * without budget left, gives one batch back (sl_fl_flush), as static sizing always
 * does. */
void sl_fl_overflow(sl_mcache *c, uint32_t cls)
{
	sl_fe_freelist_cache *f = sl_fl(c);
	sl_freelist *l = &f->lists[cls];
	uint32_t batch = sl_classes[cls].batch;
	if (sl_opt.tcache_dynamic && l->max + batch <= sl_classes[cls].cache_cap &&
	    f->nin[cls] >= f->nout[cls] + l->count &&
	    sl_tcache_reserve(c, cls, (uint64_t)batch * sl_classes[cls].size)) {
		l->max += batch;
		return;
	}
	sl_fl_flush(c, cls);
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
		f->tc_flushes[cls] = 0;
		sl_fl_flush_remote(f, cls);
	}
	f->tc_used = 0;
	sl_tcache_budget_release(f);
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
 * fast path declined or the thread has no cache yet. */
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
	/* A thread that only frees (a consumer) gets a cache here, as one that allocates
	 * does on its first malloc: its frees then take the fast path and go to mcentral a
	 * batch at a time, instead of one lock round trip (or anchor CAS) per object. None
	 * while the library initialises, during the cache's own creation, or after the
	 * thread's exit tore it down (sl_mcache_get_slow returns NULL): those frees go
	 * straight to their spans below. */
	if (!c)
		c = sl_mcache_get_slow();
	/* Marked freed on every path below (each then writes the link, which for 8-byte
	 * objects overwrites the key: their mark is the byte). */
	*key = (void *)sl_free_key;
	if (c && s->heap == c->heap) {
		sl_fl_push(c, cls, p);
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
 * TCMalloc), its spare nodes and its budget are not. */
void sl_fe_freelist_cache_lost(sl_mcache *c)
{
	sl_fl_release_spares(sl_fl(c));
	sl_tcache_budget_release(sl_fl(c));
}
