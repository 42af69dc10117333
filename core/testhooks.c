/*
 * core/testhooks.c — the entry points of core/testhooks.h, present only in test builds
 * (SPANLAB_TEST_HOOKS); empty otherwise.
 */
#include <sched.h>

#include "internal.h"

#ifdef SPANLAB_TEST_HOOKS

void (*_Atomic sl_test_park_hook)(int point);
_Atomic int sl_test_broken;

__attribute__((visibility("default"))) void spanlab_test_set_park_hook(void (*hook)(int point))
{
	atomic_store_explicit(&sl_test_park_hook, hook, memory_order_release);
}

__attribute__((visibility("default"))) void spanlab_test_set_broken(int mode)
{
	atomic_store_explicit(&sl_test_broken, mode, memory_order_relaxed);
}

uint64_t sl_test_racy_or(uint64_t *w, uint64_t bits)
{
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
	sched_yield();
	__atomic_store_n(w, old | bits, __ATOMIC_RELAXED);
	return old;
}

uint64_t sl_test_racy_and(uint64_t *w, uint64_t bits)
{
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
	sched_yield();
	__atomic_store_n(w, old & bits, __ATOMIC_RELAXED);
	return old;
}

/* 1 if every malloc-family path of this variant is lock-free (the progress test then
 * expects no stall), 0 if some path takes a lock. */
__attribute__((visibility("default"))) int spanlab_test_lockfree(void) { return SL_ENGINE_LOCKFREE; }

#endif
