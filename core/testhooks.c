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

bool sl_test_racy_byte(uint8_t *b, uint8_t v)
{
	uint64_t *w = (uint64_t *)((uintptr_t)b & ~(uintptr_t)7);
	unsigned shift = (unsigned)((uintptr_t)b & 7) * 8;
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
	if (v && ((old >> shift) & 0xff))
		return false;
	sched_yield();
	__atomic_store_n(w, (old & ~((uint64_t)0xff << shift)) | ((uint64_t)v << shift), __ATOMIC_RELAXED);
	return true;
}

/* 1 if every malloc-family path of this variant is lock-free (the progress test then
 * expects no stall), 0 if some path takes a lock. */
__attribute__((visibility("default"))) int spanlab_test_lockfree(void) { return SL_ENGINE_LOCKFREE; }

#endif
