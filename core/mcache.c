/*
 * core/mcache.c — the per-thread cache's slow paths: refill and flush in batches, the
 * thread's cache life cycle (created on first use, flushed at thread exit), and the
 * registry of live caches that statistics read. Refill and flush belong to the
 * `freelist` front end (fast paths in core/frontend/freelist.h); the life cycle and the
 * registry serve every front end, through the hooks of core/frontend.h. See malloc.c
 * for the overview.
 *
 * Thread-local storage. The cache is reached through one pointer in TLS with the
 * `initial-exec` model (SPANLAB_TLS_MODEL): one %fs-relative load on the fast path, the
 * reason LD_PRELOAD'ed allocators use it. The price is a few bytes of static TLS: a
 * library that is dlopen()ed late instead of preloaded or linked needs them from the
 * C library's small surplus, and fails with "cannot allocate memory in static TLS
 * block" if that is exhausted. spanlab keeps its static TLS to two words (the cache
 * pointer and a state flag; the cache itself is mmap-backed metadata) so the surplus
 * suffices in practice; build with -DSPANLAB_TLS_MODEL=global-dynamic for a library
 * meant only for dlopen (every access then goes through __tls_get_addr).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

SL_TLS sl_mcache *sl_tls_cache;
enum { SL_TLS_NONE = 0, SL_TLS_LIVE, SL_TLS_EXITED };
static SL_TLS int sl_tls_state;

static pthread_key_t sl_cache_key;

/*
 * The registry: every cache ever made, on a list that only grows (one CAS pushes a new
 * cache), never freed. A cache whose thread exited stays on it, idle, with its
 * counters, and the next new thread reuses it (one CAS moves it from idle to live), so
 * a reader summing the counters of every cache on the list counts each object exactly
 * once without any lock: nothing is ever moved from a cache into retired totals.
 * Progress: creation, exit and reading are lock-free (a failed CAS means another
 * thread claimed a cache or pushed one); nothing on the list is reclaimed, so readers
 * need no protection.
 */
enum sl_reg_state { SL_REG_IDLE = 0, SL_REG_LIVE, SL_REG_DEAD /* lost in a fork child */ };
static sl_mcache *_Atomic sl_caches; /* head of the list */
static uint64_t sl_ncaches;	     /* live caches (atomic) */

/* Objects served without a cache (during initialisation, after the thread's cache was
 * torn down at exit): atomic counters, off the fast path. */
uint64_t sl_uncached_mallocs[SL_NUM_CLASSES], sl_uncached_frees[SL_NUM_CLASSES];

#define SL_MCACHE_SPARE_MAX 8 /* empty batch nodes kept per thread */

static void sl_mcache_destructor(void *arg);

void sl_mcache_init_global(void)
{
	if (pthread_key_create(&sl_cache_key, sl_mcache_destructor) != 0)
		sl_fatal("pthread_key_create failed: cannot track thread exit");
}

/* An idle cache of the registry, now live, or NULL. Its lists are empty (its thread
 * flushed them at exit); its counters carry on. */
static sl_mcache *sl_registry_claim(void)
{
	for (sl_mcache *c = atomic_load_explicit(&sl_caches, memory_order_acquire); c; c = c->reg_next) {
		uint32_t idle = SL_REG_IDLE;
		if (__atomic_load_n(&c->reg_state, __ATOMIC_RELAXED) == SL_REG_IDLE &&
		    __atomic_compare_exchange_n(&c->reg_state, &idle, SL_REG_LIVE, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return c;
	}
	return NULL;
}

sl_mcache *sl_mcache_get_slow(void)
{
	if (sl_tls_state != SL_TLS_NONE || !sl_initialized())
		return NULL; /* being created (re-entry), exited, or initialising */
	sl_tls_state = SL_TLS_LIVE;
	sl_mcache *c = sl_registry_claim();
	if (!c) {
		if (!(c = sl_fixalloc_get(SL_FIX_MCACHE))) {
			sl_tls_state = SL_TLS_NONE;
			return NULL;
		}
		c->reg_state = SL_REG_LIVE;
		sl_mcache *head = atomic_load_explicit(&sl_caches, memory_order_relaxed);
		do
			c->reg_next = head;
		while (!atomic_compare_exchange_weak_explicit(&sl_caches, &head, c, memory_order_release,
							      memory_order_relaxed));
	}
	SL_TEST_PARK(SL_PARK_REGISTRY);
	c->heap = &sl_heaps[sl_numa_current_node() % sl_nheaps];
	sl_fe_cache_init(c);
	__atomic_fetch_add(&sl_ncaches, 1, __ATOMIC_RELAXED);
	/* May allocate (keys beyond the first 32): served by the uncached path. If it
	 * fails (out of memory), thread exit would not flush the cache: go without one
	 * (the cache, still empty, goes back to the registry idle). */
	if (pthread_setspecific(sl_cache_key, c) != 0) {
		__atomic_fetch_sub(&sl_ncaches, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&c->reg_state, SL_REG_IDLE, __ATOMIC_RELEASE);
		sl_tls_state = SL_TLS_NONE;
		return NULL;
	}
	sl_tls_cache = c;
	return c;
}

/* ---- Batches ---- */

static sl_batch *sl_mcache_node(sl_mcache *c, sl_mcentral *ct)
{
	sl_batch *b = c->spare;
	if (b) {
		c->spare = b->head;
		c->nspare--;
		return b;
	}
	if ((b = sl_mcentral_spare_pop(ct)))
		return b;
	return sl_fixalloc_get(SL_FIX_BATCH);
}

static void sl_mcache_keep_node(sl_mcache *c, sl_mcentral *ct, sl_batch *b)
{
	if (c->nspare < SL_MCACHE_SPARE_MAX) {
		b->head = c->spare;
		c->spare = b;
		c->nspare++;
	} else {
		b->head = NULL;
		sl_mcentral_spare_push(ct, b);
	}
}

/* Gives a NULL-terminated list of n objects back: as one full batch in O(1) if it is
 * one, else object by object to their spans. */
static void sl_mcache_give(sl_mcache *c, sl_mcentral *ct, void *head, uint32_t n)
{
	if (n == ct->batch) {
		sl_batch *b = sl_mcache_node(c, ct);
		if (b) {
			b->head = head;
			b->count = n;
			if (sl_mcentral_push_batch(ct, b))
				return;
			sl_mcache_keep_node(c, ct, b);
		}
	}
	sl_mcentral_give_list(ct, head);
}

/* Refills between two checks of the thread's NUMA node (see sl_mcache_refill). */
#define SL_MCACHE_NODE_CHECK 16

/* Called with the class's list empty. Returns one object (the rest fill the list), or
 * NULL when memory is exhausted. Slow start: each refill raises the list's flush
 * threshold by one batch, up to the class's cap.
 * With several NUMA heaps, every SL_MCACHE_NODE_CHECK-th refill asks the NUMA policy
 * where the thread runs now (a cheap table lookup); a thread that moved to another
 * node first gives every cached object back to its old heap (a cache holds objects of
 * its own heap only), then serves from the new one. The refill count lives in the
 * list of class 0, which no object uses. */
void *sl_mcache_refill(sl_mcache *c, uint32_t cls)
{
	if (SL_NUMA_MAX_NODES > 1 && sl_nheaps > 1 && ++c->lists[0].max >= SL_MCACHE_NODE_CHECK) {
		c->lists[0].max = 0;
		sl_mheap *h = &sl_heaps[sl_numa_current_node() % sl_nheaps];
		if (h != c->heap) {
			sl_mcache_flush_all(c);
			c->heap = h;
		}
	}
	sl_freelist *l = &c->lists[cls];
	sl_mcentral *ct = &c->heap->central[cls];
	void *head;
	uint32_t n;
	SL_ASSERT(l->head == NULL && l->count == 0); /* called with the list empty */
	sl_batch *b = sl_mcentral_pop_batch(ct);
	if (b) {
		head = b->head;
		n = b->count;
		sl_mcache_keep_node(c, ct, b);
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
	SL_COUNTER_ADD(c->nin[cls], n);
	return head;
}

/* Called when a free took the list above its threshold: one batch goes back. */
void sl_mcache_flush(sl_mcache *c, uint32_t cls)
{
	sl_freelist *l = &c->lists[cls];
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
	SL_COUNTER_ADD(c->nout[cls], n);
	sl_mcache_give(c, ct, head, n);
}

/* The remote list of class cls goes home: one full batch to its heap's mcentral in
 * O(1), or object by object to their spans. */
static void sl_mcache_flush_remote(sl_mcache *c, uint32_t cls)
{
	sl_remote_list *r = &c->remote[cls];
	if (SL_NUMA_MAX_NODES > 1 && r->count) {
		sl_mcache_give(c, &r->heap->central[cls], r->head, r->count);
		r->head = NULL;
		r->count = 0;
	}
}

/* Free of object p of another NUMA node's heap (validated, checked for a double free
 * and marked freed by the caller): kept on the class's remote list, so that objects go home a batch at a time
 * instead of one lock round trip each. Counted as gone out of the cache (nout) at once. */
void sl_mcache_free_remote(sl_mcache *c, sl_span *s, void *p)
{
	uint32_t cls = s->sizeclass;
	sl_remote_list *r = &c->remote[cls];
	if (r->count && r->heap != s->heap)
		sl_mcache_flush_remote(c, cls);
	r->heap = s->heap;
	sl_link_set(p, r->head);
	r->head = p;
	SL_COUNTER_ADD(c->nout[cls], 1);
	__atomic_fetch_add(&s->heap->remote_frees, 1, __ATOMIC_RELAXED);
	if (++r->count >= s->heap->central[cls].batch)
		sl_mcache_flush_remote(c, cls);
}

void sl_mcache_flush_all(sl_mcache *c)
{
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		while (c->lists[cls].count)
			sl_mcache_flush(c, cls);
		c->lists[cls].max = sl_classes[cls].batch;
		sl_mcache_flush_remote(c, cls);
	}
}

/* ---- Thread exit ---- */

static void sl_mcache_release_spares(sl_mcache *c)
{
	while (c->spare) {
		sl_batch *b = c->spare;
		c->spare = b->head;
		sl_fixalloc_put(SL_FIX_BATCH, b);
	}
	c->nspare = 0;
}

/* pthread key destructor: everything the thread cached goes back to mcentral and the
 * cache becomes idle in the registry, counters kept. Later allocations by this thread
 * (other destructors, TLS teardown) take the uncached path. */
static void sl_mcache_destructor(void *arg)
{
	sl_mcache *c = arg;
	sl_tls_cache = NULL;
	sl_tls_state = SL_TLS_EXITED;
	sl_fe_cache_teardown(c);
	sl_mcache_release_spares(c);
	sl_sync_thread_exit();
	__atomic_fetch_sub(&sl_ncaches, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->reg_state, SL_REG_IDLE, __ATOMIC_RELEASE);
}

/* ---- Statistics ---- */

void sl_mcache_stats(uint64_t *nmalloc, uint64_t *nfree, uint64_t *threads)
{
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		nmalloc[cls] = __atomic_load_n(&sl_uncached_mallocs[cls], __ATOMIC_RELAXED);
		nfree[cls] = __atomic_load_n(&sl_uncached_frees[cls], __ATOMIC_RELAXED);
	}
	for (sl_mcache *c = atomic_load_explicit(&sl_caches, memory_order_acquire); c; c = c->reg_next)
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
			nmalloc[cls] += sl_fe_cache_mallocs(c, cls);
			nfree[cls] += sl_fe_cache_frees(c, cls);
		}
	*threads = __atomic_load_n(&sl_ncaches, __ATOMIC_RELAXED);
}

void sl_mcache_foreach(void (*fn)(sl_mcache *c, void *arg), void *arg)
{
	for (sl_mcache *c = atomic_load_explicit(&sl_caches, memory_order_acquire); c; c = c->reg_next)
		fn(c, arg);
	fn(NULL, arg);
}

/* ---- fork ---- */

/* The registry needs no quiescing: each change is one atomic instruction. */
void sl_mcache_prefork(void) {}
void sl_mcache_postfork_parent(void) {}

/* In the child only the forking thread exists: the other threads' live caches are
 * dropped (their counts kept; the objects they held are lost to the child, as in
 * TCMalloc) and never reused, since their lists still name those objects. */
void sl_mcache_postfork_child(void)
{
	for (sl_mcache *c = atomic_load_explicit(&sl_caches, memory_order_relaxed); c; c = c->reg_next)
		if (c != sl_tls_cache && __atomic_load_n(&c->reg_state, __ATOMIC_RELAXED) == SL_REG_LIVE) {
			__atomic_store_n(&c->reg_state, SL_REG_DEAD, __ATOMIC_RELAXED);
			__atomic_fetch_sub(&sl_ncaches, 1, __ATOMIC_RELAXED);
			sl_mcache_release_spares(c);
		}
}
