/*
 * unit/mheap: the page heap through the engine's internal functions, on a heap of its
 * own (not the one malloc uses): allocation, best fit, alignment, coalescing in every
 * order, in-place resize, the scavenger, and the page map. After every step a checker
 * walks the heap's free lists and the spans the test holds and verifies the page
 * accounting, the bins, the scavenger list, the page map and that no two free
 * neighbours in the same state were left unmerged.
 */
#define _GNU_SOURCE
#include <string.h>

#include "../../core/internal.h"
#include "../check.h"

static sl_mheap heap; /* large: static */
#define H (&heap)

#define MAX_LIVE 512
static sl_span *live[MAX_LIVE];
static size_t nlive;

static void live_add(sl_span *s)
{
	CHECK(nlive < MAX_LIVE);
	live[nlive++] = s;
}

static void live_del(sl_span *s)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == s) {
			live[i] = live[--nlive];
			return;
		}
	CHECK_MSG(0, "span %p not live", (void *)s);
}

static void check_pagemap(const sl_span *s)
{
	for (size_t i = 0; i < s->npages; i++) {
		const void *a = (const void *)(s->base + (i << SL_PAGE_SHIFT));
		CHECK_MSG(sl_span_of(a) == s, "page %zu of span %p (base %p, %zu pages, state %u) maps to %p", i,
			  (const void *)s, (const void *)s->base, s->npages, s->state, (void *)sl_span_of(a));
		CHECK_PTR_EQ(sl_span_of((const char *)a + SL_PAGE_SIZE - 1), s);
	}
}

/* The whole-heap invariant. */
static void check_heap(const char *where)
{
	uint64_t free_pages = 0, released = 0, resident_spans = 0;
	for (size_t n = 1; n < SL_HEAP_BINS; n++) {
		bool nonempty = false;
		for (int r = 0; r < 2; r++)
			for (sl_span *s = heap.bins[n][r]; s; s = s->next) {
				nonempty = true;
				CHECK_MSG(s->state == SL_SPAN_FREE && s->npages == n && s->released == r,
					  "%s: bin [%zu][%d] holds span of %zu pages, state %u, released %u", where, n,
					  r, s->npages, s->state, s->released);
				CHECK_PTR_EQ(s->heap, H);
				free_pages += n;
				released += r ? n : 0;
				resident_spans += !r;
				check_pagemap(s);
			}
		bool bit = (heap.binmap[n / 64] >> (n % 64)) & 1;
		CHECK_MSG(bit == nonempty, "%s: binmap bit %zu is %d, bin %s", where, n, bit, nonempty ? "nonempty" : "empty");
	}
	for (int r = 0; r < 2; r++)
		for (sl_span *s = heap.large[r]; s; s = s->next) {
			CHECK_MSG(s->state == SL_SPAN_FREE && s->npages >= SL_HEAP_BINS && s->released == r,
				  "%s: large list %d holds span of %zu pages, state %u", where, r, s->npages, s->state);
			free_pages += s->npages;
			released += r ? s->npages : 0;
			resident_spans += !r;
			check_pagemap(s);
		}
	CHECK_MSG(free_pages == heap.pages_free, "%s: free lists hold %" PRIu64 " pages, pages_free %" PRIu64, where,
		  free_pages, heap.pages_free);
	CHECK_MSG(released == heap.pages_released, "%s: released %" PRIu64 ", pages_released %" PRIu64, where, released,
		  heap.pages_released);
	uint64_t scav = 0;
	for (sl_span *s = heap.scav_head; s; s = s->scav_next) {
		CHECK_MSG(s->state == SL_SPAN_FREE && !s->released, "%s: scavenger list holds state %u released %u",
			  where, s->state, s->released);
		scav++;
		if (!s->scav_next)
			CHECK_PTR_EQ(heap.scav_tail, s);
	}
	CHECK_MSG(scav == resident_spans, "%s: scavenger list %" PRIu64 " spans, resident free spans %" PRIu64, where,
		  scav, resident_spans);

	uint64_t inuse = 0;
	for (size_t i = 0; i < nlive; i++) {
		CHECK_EQ(live[i]->state, SL_SPAN_LARGE);
		inuse += live[i]->npages;
		check_pagemap(live[i]);
	}
	CHECK_MSG(inuse == heap.pages_inuse, "%s: live spans %" PRIu64 " pages, pages_inuse %" PRIu64, where, inuse,
		  heap.pages_inuse);
	CHECK_MSG(heap.pages_inuse + heap.pages_free == heap.pages_sys, "%s: inuse %" PRIu64 " + free %" PRIu64
		  " != sys %" PRIu64, where, heap.pages_inuse, heap.pages_free, heap.pages_sys);

	/* Coalescing is complete: no FREE span has a FREE neighbour in the same state. */
	for (int list = 0; list < SL_HEAP_BINS * 2 + 2; list++) {
		sl_span *s = list < SL_HEAP_BINS * 2 ? heap.bins[list / 2][list % 2] : heap.large[list % 2];
		for (; s; s = s->next) {
			sl_span *l = sl_span_of((void *)(s->base - 1));
			sl_span *r = sl_span_of((void *)(s->base + (s->npages << SL_PAGE_SHIFT)));
			CHECK_MSG(!(l && l != s && l->heap == H && l->state == SL_SPAN_FREE && l->released == s->released),
				  "%s: free span at %p (%zu pages) has an unmerged left neighbour", where, (void *)s->base,
				  s->npages);
			CHECK_MSG(!(r && r != s && r->heap == H && r->state == SL_SPAN_FREE && r->released == s->released),
				  "%s: free span at %p (%zu pages) has an unmerged right neighbour", where,
				  (void *)s->base, s->npages);
		}
	}
}

static sl_span *alloc(size_t npages, size_t align)
{
	sl_span *s = sl_mheap_alloc(H, npages, align, true);
	CHECK_MSG(s != NULL, "sl_mheap_alloc(%zu, %zu) failed", npages, align);
	CHECK_EQ(s->npages, npages);
	CHECK_EQ(s->state, SL_SPAN_LARGE);
	if (align > 1)
		CHECK_MSG(s->base % (align << SL_PAGE_SHIFT) == 0, "alloc(%zu pages, align %zu pages) = %p", npages, align,
			  (void *)s->base);
	live_add(s);
	check_heap("after alloc");
	return s;
}

static void release(sl_span *s)
{
	live_del(s);
	sl_mheap_free(H, s);
	check_heap("after free");
}

/* The FREE span covering address a. */
static sl_span *free_at(uintptr_t a)
{
	sl_span *s = sl_span_of((void *)a);
	CHECK(s != NULL);
	CHECK_MSG(s->state == SL_SPAN_FREE, "span at %p has state %u, expected FREE", (void *)a, s->state);
	return s;
}

static void test_coalesce_orders(void)
{
	static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	for (int o = 0; o < 6; o++) {
		/* A guard span on each side keeps the three away from the other free runs. */
		sl_span *gl = alloc(1, 0);
		sl_span *sp[3];
		for (int i = 0; i < 3; i++)
			sp[i] = alloc((size_t)i + 2, 0); /* 2, 3, 4 pages */
		sl_span *gr = alloc(1, 0);
		uintptr_t base = sp[0]->base;
		CHECK_EQ(gl->base + SL_PAGE_SIZE, base);
		CHECK_EQ(sp[1]->base, base + 2 * SL_PAGE_SIZE);
		CHECK_EQ(sp[2]->base, base + 5 * SL_PAGE_SIZE);
		CHECK_EQ(gr->base, base + 9 * SL_PAGE_SIZE);
		uint64_t free0 = heap.pages_free, inuse0 = heap.pages_inuse, rel0 = heap.pages_released;
		size_t freed = 0;
		for (int k = 0; k < 3; k++) {
			int i = orders[o][k];
			freed += sp[i]->npages;
			release(sp[i]);
			CHECK_EQ(heap.pages_free, free0 + freed);
			CHECK_EQ(heap.pages_inuse, inuse0 - freed);
			CHECK_EQ(heap.pages_released, rel0); /* freed pages are resident */
		}
		sl_span *f = free_at(base);
		CHECK_MSG(f->base == base && f->npages == 9, "order %d: one run of 9 pages expected at %p, got %p + %zu",
			  o, (void *)base, (void *)f->base, f->npages);
		CHECK_EQ(f->released, 0);
		CHECK_EQ(f->needzero, 1);
		release(gl);
		release(gr);
		f = free_at(base);
		CHECK_EQ(f->npages, 11);
		CHECK_EQ(f->base, base - SL_PAGE_SIZE);
		/* Scavenging merges it with the released rest of the heap. */
		size_t bytes = sl_mheap_scavenge_all(H);
		CHECK_EQ(bytes, 11 * SL_PAGE_SIZE);
		check_heap("after scavenge");
		CHECK_EQ(heap.pages_released, heap.pages_free);
		CHECK_EQ(heap.pages_inuse, 0);
		CHECK_EQ(free_at(base)->released, 1);
		CHECK_EQ(sl_mheap_scavenge_all(H), 0);
	}
}

/* Allocates every free run whole, so that only runs freed later are candidates. */
static size_t fill_free(sl_span **out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		sl_span *f = NULL;
		for (size_t b = 1; b < SL_HEAP_BINS && !f; b++)
			f = heap.bins[b][0] ? heap.bins[b][0] : heap.bins[b][1];
		if (!f)
			f = heap.large[0] ? heap.large[0] : heap.large[1];
		if (!f)
			return n;
		CHECK(n < cap);
		uintptr_t base = f->base;
		out[n] = alloc(f->npages, 0);
		CHECK_EQ(out[n]->base, base);
		n++;
	}
}

static void test_best_fit(void)
{
	size_t lens[] = {5, 3, 8, 200, 150, 300};
	sl_span *run[6], *sep[6], *fill[16];
	for (int i = 0; i < 6; i++) {
		run[i] = alloc(lens[i], 0);
		sep[i] = alloc(1, 0);
	}
	size_t nfill = fill_free(fill, 16);
	uintptr_t base[6];
	for (int i = 0; i < 6; i++) {
		base[i] = run[i]->base;
		release(run[i]);
	}
	/* request -> the run it must take (the shortest that fits) */
	struct { size_t n; int run; } want[] = {{3, 1}, {4, 0}, {6, 2}, {140, 4}, {151, 3}, {201, 5}};
	sl_span *got[6];
	for (int i = 0; i < 6; i++) {
		got[i] = alloc(want[i].n, 0);
		CHECK_MSG(got[i]->base == base[want[i].run], "best fit for %zu pages: got %p, want the %zu-page run at %p",
			  want[i].n, (void *)got[i]->base, lens[want[i].run], (void *)base[want[i].run]);
	}
	for (int i = 0; i < 6; i++) {
		release(got[i]);
		release(sep[i]);
	}
	for (size_t i = 0; i < nfill; i++)
		release(fill[i]);
	sl_mheap_scavenge_all(H);
	check_heap("best fit end");
}

static void test_aligned(void)
{
	size_t aligns[] = {2, 4, 8, 16, 64, 128, 256};
	sl_span *s[7];
	sl_span *g = alloc(1, 0); /* misalign the next free address */
	for (int i = 0; i < 7; i++)
		s[i] = alloc((size_t)i + 1, aligns[i]);
	for (int i = 0; i < 7; i++)
		release(s[i]);
	release(g);
	sl_mheap_scavenge_all(H);
	check_heap("aligned end");
}

static void test_resize(void)
{
	sl_span *s = alloc(4, 0), *t = alloc(2, 0), *u = alloc(1, 0);
	uintptr_t base = s->base;
	uint64_t lb = heap.large_bytes;
	release(t);
	CHECK(sl_mheap_resize(H, s, 5));
	check_heap("resize 4->5");
	CHECK_EQ(s->npages, 5);
	CHECK_EQ(s->base, base);
	CHECK_EQ(free_at(base + 5 * SL_PAGE_SIZE)->npages, 1);
	CHECK(sl_mheap_resize(H, s, 6));
	check_heap("resize 5->6");
	CHECK(!sl_mheap_resize(H, s, 7)); /* u is in the way */
	check_heap("resize 6->7 refused");
	CHECK_EQ(s->npages, 6);
	CHECK_EQ(heap.large_bytes, lb); /* t's 2 pages left and came back */
	CHECK(sl_mheap_resize(H, s, 2));
	check_heap("resize 6->2");
	CHECK_EQ(s->npages, 2);
	sl_span *f = free_at(base + 2 * SL_PAGE_SIZE);
	CHECK_EQ(f->base, base + 2 * SL_PAGE_SIZE);
	CHECK_EQ(f->npages, 4);
	CHECK(sl_mheap_resize(H, s, 2)); /* same size: no-op */
	CHECK(sl_mheap_resize(H, s, 6)); /* grows back into the freed tail */
	check_heap("resize 2->6");
	release(u);
	/* Growing into a released neighbour works too. */
	sl_mheap_scavenge_all(H);
	CHECK(sl_mheap_resize(H, s, 40));
	check_heap("resize 6->40 into released");
	release(s);
	sl_mheap_scavenge_all(H);
	check_heap("resize end");
}

/* Released pages read as zero when reused, and the span says it needs no zeroing;
 * dirty pages reused without scavenging say they need zeroing. */
static void test_release_zero(void)
{
	size_t n = 16;
	sl_span *s = alloc(n, 0);
	uintptr_t base = s->base;
	memset((void *)base, 0xFF, n << SL_PAGE_SHIFT);
	release(s);
	s = alloc(n, 0);
	CHECK_EQ(s->base, base);
	CHECK_EQ(s->needzero, 1);
	CHECK_EQ(((unsigned char *)base)[100], 0xFF);
	release(s);
	CHECK_EQ(sl_mheap_scavenge_all(H), n << SL_PAGE_SHIFT);
	check_heap("release zero");
	s = alloc(n, 0);
	CHECK_EQ(s->base, base);
	CHECK_EQ(s->needzero, 0);
	const unsigned char *b = (const unsigned char *)base;
	for (size_t i = 0; i < n << SL_PAGE_SHIFT; i++)
		CHECK_MSG(b[i] == 0, "byte %zu of a released-then-reused span is 0x%02x", i, b[i]);
	release(s);
	sl_mheap_scavenge_all(H);
}

/* Random operations, the invariant checked after each. */
static void test_random(void)
{
	uint64_t rng = 0x1234567;
	for (int step = 0; step < 1500; step++) {
		uint64_t r = test_rand(&rng);
		if (nlive < 40 && (r % 3 != 0 || nlive == 0)) {
			size_t n = r % 7 == 0 ? 128 + (r >> 8) % 100 : 1 + (r >> 8) % 40;
			size_t align = r % 11 == 0 ? (size_t)1 << ((r >> 20) % 6) : 0;
			alloc(n, align);
		} else if (r % 5 == 0) {
			sl_span *s = live[(r >> 8) % nlive];
			size_t n = 1 + (r >> 16) % 60;
			sl_mheap_resize(H, s, n);
			check_heap("random resize");
		} else if (r % 97 == 0) {
			sl_mheap_scavenge_all(H);
			check_heap("random scavenge");
		} else if (r % 89 == 0) {
			sl_mheap_trim(H);
			check_heap("random trim");
		} else {
			release(live[(r >> 8) % nlive]);
		}
	}
	while (nlive)
		release(live[0]);
	sl_mheap_scavenge_all(H);
	check_heap("random end");
	CHECK_EQ(heap.pages_inuse, 0);
	CHECK_EQ(heap.pages_released, heap.pages_sys);
	CHECK_EQ(heap.large_bytes, 0);
	CHECK_EQ(heap.large_mallocs, heap.large_frees);
}

/* HeapReleased of the engine's own heap, through the public stats. */
static void test_stats_released(void)
{
	size_t sz = (size_t)4 << 20;
	char *p = spanlab_malloc(sz);
	CHECK(p != NULL);
	memset(p, 1, sz);
	spanlab_free(p);
	spanlab_trim(0);
	static spanlab_stats st;
	spanlab_stats_get(&st);
	uint64_t rel = 0, idle = 0, sys = 0, inuse = 0;
	for (unsigned i = 0; i < sl_nheaps; i++) {
		rel += sl_heaps[i].pages_released << SL_PAGE_SHIFT;
		idle += sl_heaps[i].pages_free << SL_PAGE_SHIFT;
		sys += sl_heaps[i].pages_sys << SL_PAGE_SHIFT;
		inuse += sl_heaps[i].pages_inuse << SL_PAGE_SHIFT;
	}
	/* trim gives idle runs back with their address space: counted as unmapped. */
	CHECK_CMP(st.heap_released + st.unmapped, >=, sz);
	CHECK_EQ(st.heap_released, rel);
	CHECK_EQ(st.heap_idle, idle);
	CHECK_EQ(st.heap_sys, sys);
	CHECK_EQ(st.heap_inuse, inuse);
	CHECK_EQ(st.heap_released, st.heap_idle); /* trim released every idle page */
	CHECK_EQ(st.heap_idle + st.heap_inuse, st.heap_sys);
	CHECK_CMP(st.scavenged, >=, sz);
}

/* Address space: growth reserves what it needs (a large request gets a reservation of
 * its own), trim unmaps every idle run and the unused tail, the page map forgets the
 * unmapped pages, and the heap grows again afterwards. */
static void test_trim_unmaps(void)
{
	sl_mheap_trim(H);
	check_heap("trim start");
	CHECK_EQ(heap.pages_sys, 0);
	CHECK_EQ(heap.arena_next, heap.arena_end);
	uint64_t res0 = sl_sys_reserved_bytes(), unm0 = heap.unmapped_bytes;
	sl_span *small = alloc(3, 0);
	uint64_t res1 = sl_sys_reserved_bytes();
	CHECK_MSG(res1 - res0 <= ((size_t)4 << 20), "first growth reserved %" PRIu64 " bytes", res1 - res0);
	size_t big = (size_t)40 << 20 >> SL_PAGE_SHIFT; /* 40 MiB: more than half the next reservation */
	sl_span *large = alloc(big, 0);
	CHECK_EQ(sl_sys_reserved_bytes() - res1, big << SL_PAGE_SHIFT);
	uintptr_t lbase = large->base, sbase = small->base;
	memset((void *)lbase, 7, SL_PAGE_SIZE);
	release(large);
	release(small);
	CHECK(sl_span_of((void *)lbase) != NULL); /* free, still mapped */
	sl_mheap_trim(H);
	check_heap("after trim");
	CHECK_EQ(heap.pages_sys, 0);
	CHECK_EQ(heap.pages_free, 0);
	CHECK_PTR_EQ(sl_span_of((void *)lbase), NULL);
	CHECK_PTR_EQ(sl_span_of((void *)sbase), NULL);
	CHECK_EQ(sl_sys_reserved_bytes(), res0);
	CHECK_CMP(heap.unmapped_bytes - unm0, >=, big << SL_PAGE_SHIFT);
	sl_span *again = alloc(big, 0);
	const unsigned char *b = (const unsigned char *)again->base;
	CHECK_EQ(b[0], 0); /* fresh memory */
	release(again);
	sl_mheap_trim(H);
	check_heap("trim end");
}

static uint64_t resident_idle(void) { return (heap.pages_free - heap.pages_released) << SL_PAGE_SHIFT; }

/* The scavenger's policy, with the options set as a program sets them through
 * SPANLAB_RETAIN_MB, SPANLAB_RETAIN_PERCENT and SPANLAB_SCAVENGE_DELAY_MS: idle resident
 * memory within RETAIN_PERCENT % of the recent in-use peak stays; beyond that the
 * excess goes back at once (the oldest run's tail, cut at a 2 MiB boundary, or the
 * oldest runs whole); after the delay every idle run goes back; and a peak is
 * forgotten two windows on. */
static void test_retain_policy(void)
{
	long delay0 = sl_opt.scavenge_delay_ms, mb0 = sl_opt.retain_mb, pct0 = sl_opt.retain_percent;
	const uint64_t huge = (uint64_t)SL_COMMIT_MIN_PAGES << SL_PAGE_SHIFT;
	sl_mheap_trim(H);
	check_heap("policy start");
	CHECK_EQ(heap.pages_inuse, 0);
	sl_opt.retain_mb = 0;
	sl_opt.retain_percent = 100;
	heap.peak_pages = heap.peak_prev_pages = 0; /* forget the earlier tests' peaks */
	size_t n = (size_t)16 << 20 >> SL_PAGE_SHIFT; /* 16 MiB each */
	sl_span *a = alloc(n, 0), *b = alloc(n, 0);
	CHECK_EQ(heap.peak_pages, 2 * n);
	memset((void *)a->base, 1, n << SL_PAGE_SHIFT);
	memset((void *)b->base, 2, n << SL_PAGE_SHIFT);
	uint64_t scav0 = heap.scavenged_bytes;
	release(a);
	release(b);
	/* 32 MiB idle, within 100 % of the 32 MiB peak: all of it stays resident. */
	CHECK_EQ(heap.scavenged_bytes, scav0);
	CHECK_EQ(resident_idle(), (uint64_t)(2 * n) << SL_PAGE_SHIFT);

	/* A budget of half the peak: the next call returns the excess, no more than a
	 * 2 MiB cut beyond it. */
	sl_opt.retain_percent = 50;
	sl_span *c = alloc(1, 0);
	release(c);
	uint64_t budget = (uint64_t)n << SL_PAGE_SHIFT;
	CHECK_CMP(resident_idle(), <=, budget);
	CHECK_CMP(resident_idle(), >, budget - huge);
	CHECK_CMP(heap.scavenged_bytes - scav0, >=, budget);
	check_heap("policy budget");

	/* The delay passed (0 ms): every idle run goes back, whatever the budget. */
	sl_opt.retain_percent = 1000;
	sl_opt.scavenge_delay_ms = 0;
	c = alloc(1, 0);
	release(c);
	CHECK_EQ(resident_idle(), 0);
	check_heap("policy delay");
	/* Each of those two calls moved the peak's window on (0 ms windows): the 32 MiB
	 * peak is gone from both. */
	CHECK_CMP(heap.peak_pages, <=, 1);
	CHECK_CMP(heap.peak_prev_pages, <=, 1);

	sl_opt.scavenge_delay_ms = delay0;
	sl_opt.retain_mb = mb0;
	sl_opt.retain_percent = pct0;
	sl_mheap_trim(H);
	check_heap("policy end");
}

int main(void)
{
	sl_ensure_init();
	sl_opt.scavenge_delay_ms = 1L << 40; /* only explicit scavenging in this test */
	sl_opt.retain_mb = 1L << 20;
	sl_mheap_init(H, 0);
	check_heap("empty");
	test_coalesce_orders();
	test_best_fit();
	test_aligned();
	test_resize();
	test_release_zero();
	test_random();
	test_trim_unmaps();
	test_retain_policy();
	test_stats_released();
	printf("mheap: ok, %" PRIu64 " pages made usable\n", heap.pages_sys);
	return 0;
}
