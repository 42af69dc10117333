/*
 * unit/mheap for the lock-free page heap (core/mheap_lockfree.c), through the engine's
 * internal functions on a heap of its own: allocation and first fit, alignment,
 * coalescing (a freed run next to free pages serves a longer request in place),
 * in-place resize (grow into free pages, fail when they are taken, shrink), the
 * scavenger (every idle page released, zero on next use), growth into a new region,
 * and the page map (live pages name their span, free pages the heap's FREE sentinel).
 * After every step the page accounting must balance: inuse + free == sys, and
 * released <= free.
 */
#define _GNU_SOURCE
#include <string.h>

#include "../../core/internal.h"
#include "../check.h"

static sl_mheap heap; /* large: static */
#define H (&heap)

static void check_counts(const char *where)
{
	CHECK_MSG(heap.pages_inuse + heap.pages_free == heap.pages_sys,
		  "%s: inuse %" PRIu64 " + free %" PRIu64 " != sys %" PRIu64, where, heap.pages_inuse,
		  heap.pages_free, heap.pages_sys);
	CHECK_MSG(heap.pages_released <= heap.pages_free, "%s: released %" PRIu64 " > free %" PRIu64, where,
		  heap.pages_released, heap.pages_free);
}

static void check_pagemap(const sl_span *s)
{
	for (size_t i = 0; i < s->npages; i++)
		CHECK_PTR_EQ(sl_span_of((const void *)(s->base + (i << SL_PAGE_SHIFT))), s);
}

static sl_span *alloc(size_t npages, size_t align)
{
	sl_span *s = sl_mheap_alloc(H, npages, align, true);
	CHECK_MSG(s != NULL, "sl_mheap_alloc(%zu, %zu) failed", npages, align);
	CHECK_EQ(s->npages, npages);
	CHECK_EQ(s->state, SL_SPAN_LARGE);
	if (align > 1)
		CHECK_MSG(s->base % (align << SL_PAGE_SHIFT) == 0, "alloc(%zu, align %zu) = %p", npages, align,
			  (void *)s->base);
	check_pagemap(s);
	memset((void *)s->base, 0xA5, npages << SL_PAGE_SHIFT);
	check_counts("alloc");
	return s;
}

static void release(sl_span *s)
{
	uintptr_t base = s->base;
	sl_mheap_free(H, s);
	sl_span *f = sl_span_of((void *)base);
	CHECK(f != NULL && f->state == SL_SPAN_FREE && f->nelems == 0 && f->limit == 0);
	check_counts("free");
}

/* Two neighbours freed give one run: a request of their joint length lands there. */
static void test_coalesce(void)
{
	sl_span *a = alloc(20, 0), *b = alloc(20, 0), *c = alloc(20, 0);
	CHECK_EQ(b->base, a->base + (20 << SL_PAGE_SHIFT));
	uintptr_t base = a->base;
	release(b);
	release(a);
	sl_span *d = alloc(40, 0);
	CHECK_EQ(d->base, base);
	release(d);
	release(c);
	/* Runs longer than a word: three 100-page spans, the middle two freed in either order. */
	sl_span *x = alloc(100, 0), *y = alloc(100, 0), *z = alloc(100, 0);
	uintptr_t xb = x->base;
	release(x);
	release(y);
	sl_span *w = alloc(200, 0);
	CHECK_EQ(w->base, xb);
	release(w);
	release(z);
}

static void test_aligned(void)
{
	/* Every alignment with a run that, from an aligned start, may cross a word. */
	for (size_t a = 2; a <= 512; a *= 2) {
		sl_span *t[3];
		for (int k = 0; k < 3; k++)
			t[k] = alloc(13, a);
		for (int k = 0; k < 3; k++)
			release(t[k]);
	}
	size_t aligns[] = {2, 4, 8, 16, 64, 128, 256};
	sl_span *s[7];
	for (int i = 0; i < 7; i++)
		s[i] = alloc(3, aligns[i]);
	for (int i = 0; i < 7; i++)
		release(s[i]);
}

static void test_resize(void)
{
	sl_span *s = alloc(4, 0), *t = alloc(2, 0);
	CHECK_EQ(t->base, s->base + (4 << SL_PAGE_SHIFT));
	CHECK(!sl_mheap_resize(H, s, 5)); /* t is in the way */
	release(t);
	CHECK(sl_mheap_resize(H, s, 6));
	check_pagemap(s);
	check_counts("grow");
	CHECK(sl_mheap_resize(H, s, 2));
	check_pagemap(s);
	check_counts("shrink");
	CHECK(sl_mheap_resize(H, s, 2));
	CHECK(sl_mheap_resize(H, s, 150)); /* across words */
	check_pagemap(s);
	release(s);
}

static void test_scavenge(void)
{
	sl_span *s = alloc(16, 0);
	uintptr_t base = s->base;
	release(s);
	CHECK(heap.pages_free > heap.pages_released);
	size_t bytes = sl_mheap_scavenge_all(H);
	CHECK(bytes >= (16 << SL_PAGE_SHIFT));
	CHECK_EQ(heap.pages_released, heap.pages_free);
	CHECK_EQ(sl_mheap_scavenge_all(H), 0);
	sl_span *t = sl_mheap_alloc(H, 16, 0, true);
	CHECK(t != NULL);
	CHECK_EQ(t->base, base);
	CHECK_EQ(t->needzero, 0);
	for (size_t i = 0; i < (16 << SL_PAGE_SHIFT); i++)
		CHECK(((unsigned char *)base)[i] == 0);
	release(t);
}

/* A request larger than an arena gets a region of its own; the heap keeps working. */
static void test_grow(void)
{
	uint64_t sys0 = heap.pages_sys;
	sl_span *big = alloc(((size_t)64 << 20 >> SL_PAGE_SHIFT) + 5, 0); /* above the largest region */
	CHECK(heap.pages_sys > sys0);
	sl_span *small = alloc(3, 0);
	release(big);
	release(small);
	sl_mheap_scavenge_all(H);
	CHECK_EQ(heap.pages_released, heap.pages_free);
}

static void test_random(void)
{
	uint64_t rng = 0x1234567;
	sl_span *held[64] = {0};
	for (int step = 0; step < 3000; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned i = (unsigned)(rng >> 33) % 64;
		if (held[i]) {
			release(held[i]);
			held[i] = NULL;
		} else {
			size_t n = 1 + (size_t)(rng >> 45) % (rng & 1 ? 8 : 200);
			held[i] = alloc(n, 0);
		}
	}
	for (unsigned i = 0; i < 64; i++)
		if (held[i])
			release(held[i]);
	CHECK_EQ(heap.pages_inuse, 0);
}

static uint64_t resident_idle(void) { return (heap.pages_free - heap.pages_released) << SL_PAGE_SHIFT; }

/* The scavenger's policy (core/mheap.c's, at this heap's granularity of one bit-field
 * word, 64 pages), with the options set as a program sets them through
 * SPANLAB_RETAIN_MB, SPANLAB_RETAIN_PERCENT and SPANLAB_SCAVENGE_DELAY_MS: idle resident
 * memory within RETAIN_PERCENT % of the recent in-use peak stays; beyond that the
 * excess goes back at once; after the delay every idle page goes back; and a peak is
 * forgotten two windows on. */
static void test_retain_policy(void)
{
	long delay0 = sl_opt.scavenge_delay_ms, mb0 = sl_opt.retain_mb, pct0 = sl_opt.retain_percent;
	const uint64_t word = (uint64_t)64 << SL_PAGE_SHIFT;
	sl_mheap_scavenge_all(H);
	CHECK_EQ(heap.pages_inuse, 0);
	CHECK_EQ(resident_idle(), 0);
	sl_opt.retain_mb = 0;
	sl_opt.retain_percent = 100;
	heap.peak_pages = heap.peak_prev_pages = 0; /* forget the earlier tests' peaks */
	size_t n = (size_t)16 << 20 >> SL_PAGE_SHIFT; /* 16 MiB each */
	sl_span *a = alloc(n, 0), *b = alloc(n, 0);
	CHECK_EQ(heap.peak_pages, 2 * n);
	uint64_t scav0 = heap.scavenged_bytes;
	release(a);
	release(b);
	/* 32 MiB idle, within 100 % of the 32 MiB peak: all of it stays resident. */
	CHECK_EQ(heap.scavenged_bytes, scav0);
	CHECK_EQ(resident_idle(), (uint64_t)(2 * n) << SL_PAGE_SHIFT);

	/* A budget of half the peak: the next call returns the excess, no more than a
	 * word beyond it. */
	sl_opt.retain_percent = 50;
	sl_span *c = alloc(1, 0);
	release(c);
	uint64_t budget = (uint64_t)n << SL_PAGE_SHIFT;
	CHECK_CMP(resident_idle(), <=, budget);
	CHECK_CMP(resident_idle(), >, budget - word);
	CHECK_CMP(heap.scavenged_bytes - scav0, >=, budget);

	/* The delay passed (0 ms): every idle page goes back, whatever the budget. */
	sl_opt.retain_percent = 1000;
	sl_opt.scavenge_delay_ms = 0;
	c = alloc(1, 0);
	release(c);
	CHECK_EQ(resident_idle(), 0);
	/* Each of those two calls' scans moved the peak's window on (0 ms windows): the
	 * 32 MiB peak is gone from both. */
	CHECK_CMP(heap.peak_pages, <=, 1);
	CHECK_CMP(heap.peak_prev_pages, <=, 1);
	check_counts("policy");

	sl_opt.scavenge_delay_ms = delay0;
	sl_opt.retain_mb = mb0;
	sl_opt.retain_percent = pct0;
}

int main(void)
{
	sl_ensure_init();
	sl_opt.scavenge_delay_ms = 1L << 40; /* only explicit scavenging in this test */
	sl_opt.retain_mb = 1L << 20;
	sl_mheap_init(H, 0);
	test_coalesce();
	test_aligned();
	test_resize();
	test_scavenge();
	test_grow();
	test_random();
	test_retain_policy();
	printf("unit/mheap (lock-free page heap): ok\n");
	return 0;
}
