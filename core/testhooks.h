/*
 * core/testhooks.h — park points and deliberately broken behaviour, compiled only into
 * test builds (SPANLAB_TEST_HOOKS). In the production library every macro here expands
 * to nothing, so its code does not change.
 *
 * Park points sit inside critical sections (after a lock is taken) and between the
 * steps of multi-step lock-free operations. A test installs a hook with
 * spanlab_test_set_park_hook (tests/engine/testhooks_api.h); the hook decides, per
 * thread, whether to wait there. The progress test parks one thread at a point and
 * checks that the others keep completing operations.
 *
 * Broken modes replace one atomic step by a racy one, for negative controls: the
 * stress test of the structure must catch them.
 */
#ifndef SPANLAB_CORE_TESTHOOKS_H
#define SPANLAB_CORE_TESTHOOKS_H

enum sl_park_point {
	SL_PARK_LOCKED = 1,	 /* a sync policy lock (span lists, batch stack) is held */
	SL_PARK_META,		 /* metadata allocator: chunk full, before mapping a new one */
	SL_PARK_HEAP_CLAIM,	 /* page heap: between the word CASes of a multi-word claim */
	SL_PARK_HEAP_GROW,	 /* page heap: before reserving a new arena */
	SL_PARK_HEAP_SCAVENGE,	 /* page heap: pages claimed by the scavenger, before madvise */
	SL_PARK_CENTRAL_TAKE,	 /* mcentral: a span popped off the partial stack, not yet taken from */
	SL_PARK_CENTRAL_LIST,	 /* mcentral: a span made listed, not yet pushed on the partial stack */
	SL_PARK_REGISTRY,	 /* thread-cache registry: between claiming a cache and using it */
	SL_PARK_HEAP_LOCKED,	 /* locked page heap (core/mheap.c): mheap.lock held in span allocation */
};

enum sl_broken_mode {
	SL_BROKEN_NONE = 0,
	SL_BROKEN_HEAP_CLAIM = 1,  /* page heap claims with load + store instead of CAS */
	SL_BROKEN_ANCHOR = 2,	   /* span anchors updated with load + store instead of CAS */
	SL_BROKEN_FIXALLOC = 3,	   /* fixalloc pops compare the head alone (no generation) */
	SL_BROKEN_OBJ8 = 4,	   /* 8-byte objects' free bytes written as a racy read-modify-write
				    * of their whole 8-byte word (neighbours' updates get lost) */
	SL_BROKEN_TCACHE_POOL = 5, /* the thread-cache budget pool grown with load + store instead
				    * of CAS (concurrent grants and releases get lost) */
};

#ifdef SPANLAB_TEST_HOOKS
#include <stdatomic.h>
extern void (*_Atomic sl_test_park_hook)(int point);
extern _Atomic int sl_test_broken;
#define SL_TEST_PARK(point)                                                                   \
	do {                                                                                  \
		void (*sl_hook_)(int) = atomic_load_explicit(&sl_test_park_hook, memory_order_acquire); \
		if (sl_hook_)                                                                 \
			sl_hook_(point);                                                      \
	} while (0)
#define SL_TEST_BROKEN(mode) (atomic_load_explicit(&sl_test_broken, memory_order_relaxed) == (mode))
/* Broken mode SL_BROKEN_OBJ8: sets byte *b to v by loading the aligned 8-byte word that
 * holds it, yielding, and storing the word back (so a neighbour's concurrent update is
 * lost); for a free (v = 1) returns false if the byte was set already. */
bool sl_test_racy_byte(uint8_t *b, uint8_t v);
#else
#define SL_TEST_PARK(point) ((void)0)
#define SL_TEST_BROKEN(mode) 0
#endif

/* The sync policy headers call this while holding their lock. */
#define SL_SYNC_HOOK_LOCKED() SL_TEST_PARK(SL_PARK_LOCKED)

#endif
