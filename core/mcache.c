/*
 * core/mcache.c — the engine's part of the per-thread cache, which every front end
 * shares: its life cycle (created on first use, given back at thread exit), the
 * registry of every cache that statistics read, and the NUMA node check. What a cache
 * holds and how (its lists, spans or counters) is the front end's, in the cache's `fe`
 * member (core/frontend/<name>/), reached through the hooks of core/frontend.h. See
 * malloc.c for the overview.
 *
 * Thread-local storage. The cache is reached through one pointer in TLS with the
 * `initial-exec` model (SPANLAB_TLS_MODEL): one %fs-relative load on the fast path, the
 * reason LD_PRELOAD'ed allocators use it. The price is a few bytes of static TLS: a
 * library that is dlopen()ed late instead of preloaded or linked needs them from the
 * C library's small surplus, and fails with "cannot allocate memory in static TLS
 * block" if that is exhausted. spanlab keeps its static TLS to three small variables
 * (the cache pointer and a state flag here, malloc.c's re-entry flag during
 * initialisation; the cache itself is mmap-backed metadata) so the surplus
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

/* ---- NUMA ---- */

/* The thread runs on another node than its cache's heap: everything cached goes back
 * to the old heap (a cache holds objects of its own heap only), then it serves from
 * the new one. */
SL_NOINLINE void sl_mcache_move_node(sl_mcache *c)
{
	c->node_checks = 0;
	sl_mheap *h = &sl_heaps[sl_numa_current_node() % sl_nheaps];
	if (h != c->heap) {
		sl_fe_cache_teardown(c);
		c->heap = h;
	}
}

/* ---- Thread exit ---- */

/* pthread key destructor: everything the thread cached goes back to mcentral and the
 * cache becomes idle in the registry, counters kept. Later allocations by this thread
 * (other destructors, TLS teardown) take the uncached path. */
static void sl_mcache_destructor(void *arg)
{
	sl_mcache *c = arg;
	sl_tls_cache = NULL;
	sl_tls_state = SL_TLS_EXITED;
	sl_fe_cache_teardown(c);
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
 * TCMalloc) and never reused, since their lists still name those objects. The count of
 * live caches is set, not adjusted: the fork may have frozen a thread between making
 * its cache live and counting it (sl_mcache_get_slow) or between uncounting it and
 * making it idle (thread exit), so the parent's count need not match the live states. */
void sl_mcache_postfork_child(void)
{
	for (sl_mcache *c = atomic_load_explicit(&sl_caches, memory_order_relaxed); c; c = c->reg_next)
		if (c != sl_tls_cache && __atomic_load_n(&c->reg_state, __ATOMIC_RELAXED) == SL_REG_LIVE) {
			__atomic_store_n(&c->reg_state, SL_REG_DEAD, __ATOMIC_RELAXED);
			sl_fe_cache_lost(c);
		}
	__atomic_store_n(&sl_ncaches, sl_tls_cache != NULL, __ATOMIC_RELAXED);
}
