/*
 * core/mheap_lockfree.c — the lock-free page heap, the implementation of the mheap
 * interface (core/internal.h, "mheap.c") for sync policies that declare
 * SL_SYNC_<IMPL>_ENGINE_LOCKFREE 1; CMake compiles it instead of core/mheap.c for them.
 * See malloc.c for the overview.
 *
 * Design: a bit-field allocator in the spirit of LLFree (Wrenger et al., ATC 2023):
 * no lock, no free lists, no log. The heap is an append-only list of regions, each
 * an arena reservation (64 MiB, or the size of one larger object) made usable in full
 * at reservation. A region keeps three arrays of one 64-bit word per 64 pages:
 *   used   1 = page allocated, or held for a moment by the scavenger;
 *   dirty  1 = page may be resident (it was allocated since it was last released);
 *   since  per word, when one of its pages was last freed (the scavenger's clock).
 * A free run is a run of clear `used` bits, so freeing coalesces by construction.
 *
 *   alloc   n <= 64 pages (alignment <= 64 pages): the run lies inside one word and is
 *           claimed with one CAS on it (first fit from the region's hint word). Longer
 *           or more aligned runs start on a word boundary and claim their words one by
 *           one in increasing address order, each by CAS, rolling back the claimed
 *           prefix if a word is taken. Then the span descriptor (fixalloc) is filled
 *           and the page map points the pages at it.
 *   free    the page map points the pages at the heap's FREE sentinel, the descriptor
 *           goes back to fixalloc, one fetch-and (clear) per word releases the pages.
 *   resize  shrinking releases the tail; growing claims the following pages exactly
 *           (multi-word claim) and fails over to a copy when they are taken.
 *   grow    no region has room: reserve a new region (4 MiB, doubling up to 64 MiB, or
 *           the size of one larger request; the mmap system call is the only thing a
 *           thread waits for), claim the run in it while it is still private, then
 *           append it to the region list with one CAS. Two threads growing at once
 *           both append; regions are never unmapped (trim releases pages, not address
 *           space: unlike core/mheap.c).
 *   scavenge for one word at a time, claim its free dirty pages (one CAS: they look
 *           allocated to everybody else), madvise(MADV_DONTNEED) them, clear their
 *           dirty bits, release them. While it calls madvise the scavenger holds only
 *           those pages: an allocation that needs memory takes other pages or grows.
 *
 * Progress (every operation lock-free; none waits for another thread):
 *   - a one-word claim or release is one CAS or fetch-and-op; a CAS fails only
 *     because another thread changed the word, i.e. completed a step of its own;
 *   - a multi-word claim takes words in increasing address order, so of the claims in
 *     progress the one that started highest is only ever stopped by an allocated page
 *     (never by a claim that will roll back); a thread whose claim fails moves on to
 *     other words, and after a full scan grows the heap;
 *   - growth publishes with one CAS on a NULL `next` pointer: a failure means another
 *     region was appended, and the thread retries one link further.
 * ABA: none of these CASes derives its new value from anything but the word itself
 * (no pointer read through the word), so a word that changed and changed back holds
 * exactly the state the CAS expects. Reclamation: regions, their bitmaps and span
 * descriptors are metadata, never unmapped; a stale reader of a descriptor reads
 * mapped memory.
 *
 * Fragmentation trade-offs (measured by sl-fragment, see README): runs of at most 64
 * pages never straddle a word boundary, and the scavenger returns memory word by word
 * in address order rather than oldest run first. The scavenger policy is otherwise
 * core/mheap.c's: idle resident pages above the retain budget (sl_retain_budget: the
 * larger of SPANLAB_RETAIN_MB and SPANLAB_RETAIN_PERCENT % of the recent in-use peak)
 * are returned at once, word by word until idle memory is within it; idle pages are
 * returned after SPANLAB_SCAVENGE_DELAY_MS whatever the budget, and all of them on
 * malloc_trim; only madvise, never munmap (above). The in-use peak is raised by a CAS
 * loop after each allocation (it fails only when another thread raised it) and its
 * window moved on by the periodic check, which runs on page-heap activity, by one
 * thread at a time (others skip it; nobody waits for it).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

#if !SL_SYNC_ENGINE_LOCKFREE
#error "core/mheap_lockfree.c is for sync policies with SL_SYNC_<IMPL>_ENGINE_LOCKFREE 1"
#endif

#define SL_WORD_PAGES 64

struct sl_region {
	struct sl_region *_Atomic next; /* set once, by the CAS that appends the next region */
	uintptr_t base;			/* page-aligned (alignment requests are absolute) */
	size_t nwords;			/* pages / 64 */
	atomic_size_t hint;		/* a word likely to have room (relaxed, a heuristic) */
	_Atomic uint64_t *used, *dirty, *since;
};

uint64_t sl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define SL_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define SL_SUB(field, n) __atomic_fetch_sub(&(field), (n), __ATOMIC_RELAXED)

void sl_mheap_init(sl_mheap *h, unsigned node)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL); /* unused here; kept for the struct's other users */
	h->node = node;
	h->free_span.state = SL_SPAN_FREE;
	h->free_span.heap = h;
	for (uint32_t c = 1; c < SL_NUM_CLASSES; c++)
		sl_mcentral_init(&h->central[c], h, c);
}

/* ---- Bits ---- */

static inline uint64_t sl_bits(unsigned first, unsigned n)
{
	return (n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << first;
}

/* The lowest start j of n free pages inside word `used` such that j + skew is a
 * multiple of align, or -1. After each step bit j of m says pages j .. j+have-1 are
 * free (shifts bring in zeros, so runs never cross bit 63). */
static int sl_run_in_word(uint64_t used, unsigned n, unsigned align, unsigned skew)
{
	uint64_t m = ~used;
	for (unsigned have = 1; have < n && m;) {
		unsigned sh = have < n - have ? have : n - have;
		m &= m >> sh;
		have += sh;
	}
	if (align > 1) {
		uint64_t pat = 0;
		for (unsigned i = (align - skew % align) % align; i < 64; i += align)
			pat |= (uint64_t)1 << i;
		m &= pat;
	}
	return m ? __builtin_ctzll(m) : -1;
}

/* CAS that a negative control can turn into a racy load + store (SL_BROKEN_HEAP_CLAIM). */
static inline bool sl_word_cas(_Atomic uint64_t *w, uint64_t *old, uint64_t val)
{
	if (SL_TEST_BROKEN(SL_BROKEN_HEAP_CLAIM)) {
		sched_yield();
		atomic_store_explicit(w, val, memory_order_relaxed);
		return true;
	}
	return atomic_compare_exchange_weak_explicit(w, old, val, memory_order_acquire, memory_order_relaxed);
}

/* Claims one word's run of n <= 64 pages, first fit from the hint. */
static bool sl_claim_small(struct sl_region *r, unsigned n, unsigned align, size_t *page)
{
	/* Word boundaries are 64 pages apart and align divides 64: one skew per region. */
	unsigned skew = (unsigned)((r->base >> SL_PAGE_SHIFT) % align);
	size_t start = atomic_load_explicit(&r->hint, memory_order_relaxed);
	if (start >= r->nwords)
		start = 0;
	for (size_t k = 0, w = start; k < r->nwords; k++, w = w + 1 == r->nwords ? 0 : w + 1) {
		uint64_t old = atomic_load_explicit(&r->used[w], memory_order_relaxed);
		int j;
		while ((j = sl_run_in_word(old, n, align, skew)) >= 0) {
			if (sl_word_cas(&r->used[w], &old, old | sl_bits((unsigned)j, n))) {
				if (w != start)
					atomic_store_explicit(&r->hint, w, memory_order_relaxed);
				*page = w * SL_WORD_PAGES + (size_t)j;
				return true;
			}
		}
	}
	return false;
}

/* The bits of word w (0-based from `page`'s word) that pages [page, page + n) cover. */
static inline uint64_t sl_range_mask(size_t page, size_t n, size_t w)
{
	size_t first = page / SL_WORD_PAGES + w;
	size_t lo = w == 0 ? page % SL_WORD_PAGES : 0;
	size_t end = page + n, hi = (end - 1) / SL_WORD_PAGES == first ? (end - 1) % SL_WORD_PAGES : 63;
	return sl_bits((unsigned)lo, (unsigned)(hi - lo + 1));
}

static inline size_t sl_range_words(size_t page, size_t n)
{
	return (page + n - 1) / SL_WORD_PAGES - page / SL_WORD_PAGES + 1;
}

/* Claims exactly pages [page, page + n) of r, word by word in increasing order;
 * releases the claimed prefix and fails if one is taken. */
static bool sl_claim_range(struct sl_region *r, size_t page, size_t n)
{
	size_t nw = sl_range_words(page, n), w0 = page / SL_WORD_PAGES, i;
	for (i = 0; i < nw; i++) {
		uint64_t need = sl_range_mask(page, n, i);
		uint64_t old = atomic_load_explicit(&r->used[w0 + i], memory_order_relaxed);
		bool ok = false;
		while (!(old & need))
			if ((ok = sl_word_cas(&r->used[w0 + i], &old, old | need)))
				break;
		if (!ok)
			break;
		if (nw > 1)
			SL_TEST_PARK(SL_PARK_HEAP_CLAIM);
	}
	if (i == nw)
		return true;
	while (i--)
		atomic_fetch_and_explicit(&r->used[w0 + i], ~sl_range_mask(page, n, i), memory_order_release);
	return false;
}

/* Runs longer than a word, or aligned to more than one: first fit among the starts
 * at a word boundary (plus the offset that makes them aligned), or, above 64 pages of
 * alignment, at every aligned page. */
static bool sl_claim_big(struct sl_region *r, size_t n, size_t align, size_t *page)
{
	size_t npages = r->nwords * SL_WORD_PAGES;
	size_t first = (align - (r->base >> SL_PAGE_SHIFT) % align) % align;
	size_t step = align > SL_WORD_PAGES ? align : SL_WORD_PAGES;
	for (size_t p = first; p < npages && n <= npages - p; p += step) {
		/* A plain look first: skip candidates with a taken page. */
		size_t nw = sl_range_words(p, n), w0 = p / SL_WORD_PAGES;
		bool fits = true;
		for (size_t i = 0; i < nw && fits; i++)
			fits = !(atomic_load_explicit(&r->used[w0 + i], memory_order_relaxed) & sl_range_mask(p, n, i));
		if (fits && sl_claim_range(r, p, n)) {
			*page = p;
			return true;
		}
	}
	return false;
}

static bool sl_claim(struct sl_region *r, size_t n, size_t align, size_t *page)
{
	if (n <= SL_WORD_PAGES && align <= SL_WORD_PAGES && sl_claim_small(r, (unsigned)n, (unsigned)align, page))
		return true;
	/* Longer runs; and aligned ones whose aligned starts sit too near a word's end in
	 * this region (its base is only page-aligned) start anywhere and cross words. */
	return (n > SL_WORD_PAGES || align > 1) && sl_claim_big(r, n, align, page);
}

/* Releases pages [page, page + n) of r (their owner calls this). */
static void sl_release_range(struct sl_region *r, size_t page, size_t n, uint64_t now)
{
	size_t nw = sl_range_words(page, n), w0 = page / SL_WORD_PAGES;
	for (size_t i = 0; i < nw; i++) {
		atomic_store_explicit(&r->since[w0 + i], now, memory_order_relaxed);
		atomic_fetch_and_explicit(&r->used[w0 + i], ~sl_range_mask(page, n, i), memory_order_release);
	}
	if (w0 < atomic_load_explicit(&r->hint, memory_order_relaxed))
		atomic_store_explicit(&r->hint, w0, memory_order_relaxed);
}

/* Marks pages [page, page + n) (owned by the caller) dirty; returns how many were. */
static size_t sl_set_dirty(struct sl_region *r, size_t page, size_t n)
{
	size_t nw = sl_range_words(page, n), w0 = page / SL_WORD_PAGES, was = 0;
	for (size_t i = 0; i < nw; i++) {
		uint64_t m = sl_range_mask(page, n, i);
		uint64_t old = atomic_fetch_or_explicit(&r->dirty[w0 + i], m, memory_order_relaxed);
		was += (size_t)__builtin_popcountll(old & m);
	}
	return was;
}

static struct sl_region *sl_region_of(sl_mheap *h, uintptr_t a)
{
	for (struct sl_region *r = atomic_load_explicit(&h->regions, memory_order_acquire); r;
	     r = atomic_load_explicit(&r->next, memory_order_acquire))
		if (a - r->base < r->nwords * SL_WORD_PAGES * SL_PAGE_SIZE)
			return r;
	return NULL;
}

/* ---- Growth ---- */

/* Region sizes: the first SL_RESERVE_MIN, each next one twice the last up to
 * SL_RESERVE_MAX (as core/mheap.c), a request larger than that a region of its own. */
#define SL_RESERVE_MIN ((size_t)4 << 20)
#define SL_RESERVE_MAX ((size_t)64 << 20)
#define SL_REGION_ROUND (SL_WORD_PAGES * SL_PAGE_SIZE)

/* Reserves and commits a region with room for n pages aligned to `align`, claims them
 * in it while it is private, then appends it to the heap's list. */
static struct sl_region *sl_heap_grow(sl_mheap *h, size_t n, size_t align, size_t *page)
{
	size_t need = n + (align > 1 ? align - 1 : 0);
	size_t bytes = need << SL_PAGE_SHIFT;
	size_t size = (bytes + SL_REGION_ROUND - 1) & ~(SL_REGION_ROUND - 1);
	if (need < n || size < bytes || (bytes >> SL_PAGE_SHIFT) != need)
		return NULL;
	size_t next = __atomic_load_n(&h->reserve_next, __ATOMIC_RELAXED);
	if (next < SL_RESERVE_MIN)
		next = SL_RESERVE_MIN;
	if (size < next) {
		size = next;
		if (next < SL_RESERVE_MAX) /* a lost race only repeats a size: harmless */
			__atomic_store_n(&h->reserve_next, next * 2, __ATOMIC_RELAXED);
	}
	SL_TEST_PARK(SL_PARK_HEAP_GROW);
	uintptr_t base;
	if (!sl_sys_reserve(size, h->node, &base))
		return NULL;
	size_t npages = size >> SL_PAGE_SHIFT, nwords = npages / SL_WORD_PAGES;
	struct sl_region *r = sl_meta_alloc(sizeof *r + 3 * nwords * sizeof(uint64_t));
	if (!r || !sl_sys_commit(base, size)) {
		sl_pagemap_set(base, npages, NULL);
		sl_sys_unmap(base, size);
		return NULL; /* a region's metadata, if taken, is lost: metadata is never freed */
	}
	r->base = base;
	r->nwords = nwords;
	r->used = (_Atomic uint64_t *)(r + 1);
	r->dirty = r->used + nwords;
	r->since = r->dirty + nwords;
	if (!sl_claim(r, n, align, page))
		return NULL; /* cannot happen: the region is empty and large enough */
	sl_pagemap_set(base, npages, &h->free_span);
	SL_ADD(h->pages_sys, npages);
	SL_ADD(h->pages_free, npages);
	SL_ADD(h->pages_released, npages); /* fresh memory: zero, not resident */
	struct sl_region *_Atomic *link = &h->regions;
	for (;;) {
		struct sl_region *cur = NULL;
		if (atomic_compare_exchange_strong_explicit(link, &cur, r, memory_order_acq_rel, memory_order_acquire))
			return r;
		link = &cur->next;
	}
}

/* ---- Scavenger ---- */

/* Returns the free dirty pages of word w of r to the OS; `due` decides per word. */
static size_t sl_scavenge_word(sl_mheap *h, struct sl_region *r, size_t w)
{
	uint64_t old = atomic_load_explicit(&r->used[w], memory_order_relaxed), take;
	for (;;) {
		take = atomic_load_explicit(&r->dirty[w], memory_order_relaxed) & ~old;
		if (!take)
			return 0;
		if (atomic_compare_exchange_weak_explicit(&r->used[w], &old, old | take, memory_order_acquire,
							  memory_order_relaxed))
			break;
	}
	SL_TEST_PARK(SL_PARK_HEAP_SCAVENGE);
	/* The claimed pages are ours: madvise each contiguous run of them. */
	uint64_t rest = take;
	while (rest) {
		unsigned lo = (unsigned)__builtin_ctzll(rest);
		uint64_t from = rest >> lo;
		unsigned len = ~from ? (unsigned)__builtin_ctzll(~from) : 64 - lo;
		madvise((void *)(r->base + ((w * SL_WORD_PAGES + lo) << SL_PAGE_SHIFT)), (size_t)len << SL_PAGE_SHIFT,
			MADV_DONTNEED);
		rest &= ~sl_bits(lo, len);
		SL_ADD(h->scavenge_runs, 1);
	}
	size_t pages = (size_t)__builtin_popcountll(take);
	atomic_fetch_and_explicit(&r->dirty[w], ~take, memory_order_relaxed);
	SL_ADD(h->pages_released, pages);
	SL_ADD(h->scavenged_bytes, (uint64_t)pages << SL_PAGE_SHIFT);
	atomic_fetch_and_explicit(&r->used[w], ~take, memory_order_release);
	return pages << SL_PAGE_SHIFT;
}

/* Raises the in-use peak to v (a CAS fails only when another thread raised it). */
static void sl_peak_raise(sl_mheap *h, uint64_t v)
{
	uint64_t p = __atomic_load_n(&h->peak_pages, __ATOMIC_RELAXED);
	while (v > p && !__atomic_compare_exchange_n(&h->peak_pages, &p, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static uint64_t sl_recent_peak(sl_mheap *h)
{
	uint64_t cur = __atomic_load_n(&h->peak_pages, __ATOMIC_RELAXED);
	uint64_t prev = __atomic_load_n(&h->peak_prev_pages, __ATOMIC_RELAXED);
	return cur > prev ? cur : prev;
}

/* The peak's window moves on every SPANLAB_SCAVENGE_DELAY_MS, by the thread that runs
 * the periodic scavenge (one at a time): a peak counts for one to two delays. A raise
 * racing with the exchange lands in one window or the other. */
static void sl_peak_window(sl_mheap *h, uint64_t now)
{
	if (now - __atomic_load_n(&h->peak_since_ms, __ATOMIC_RELAXED) < (uint64_t)sl_opt.scavenge_delay_ms)
		return;
	uint64_t inuse = __atomic_load_n(&h->pages_inuse, __ATOMIC_RELAXED);
	uint64_t cur = __atomic_exchange_n(&h->peak_pages, inuse, __ATOMIC_RELAXED);
	__atomic_store_n(&h->peak_prev_pages, cur, __ATOMIC_RELAXED);
	__atomic_store_n(&h->peak_since_ms, now, __ATOMIC_RELAXED);
}

static size_t sl_scavenge(sl_mheap *h, bool all)
{
	uint64_t now = sl_now_ms();
	uint64_t budget = sl_retain_budget(sl_recent_peak(h));
	uint64_t delay = (uint64_t)sl_opt.scavenge_delay_ms;
	size_t released = 0;
	for (struct sl_region *r = atomic_load_explicit(&h->regions, memory_order_acquire); r;
	     r = atomic_load_explicit(&r->next, memory_order_acquire))
		for (size_t w = 0; w < r->nwords; w++) {
			if (!(atomic_load_explicit(&r->dirty[w], memory_order_relaxed) &
			      ~atomic_load_explicit(&r->used[w], memory_order_relaxed)))
				continue;
			if (!all) {
				uint64_t idle = (__atomic_load_n(&h->pages_free, __ATOMIC_RELAXED) -
						 __atomic_load_n(&h->pages_released, __ATOMIC_RELAXED))
						<< SL_PAGE_SHIFT;
				uint64_t since = atomic_load_explicit(&r->since[w], memory_order_relaxed);
				if (idle <= budget && now - since < delay)
					continue;
			}
			released += sl_scavenge_word(h, r, w);
		}
	return released;
}

/* On page-heap activity: a scan when idle resident memory exceeds the retain budget or
 * a quarter of the delay has passed since the last scan; one thread at a time (a
 * thread that finds another scanning skips: nobody waits). */
static void sl_scavenge_due(sl_mheap *h)
{
	uint64_t idle = (__atomic_load_n(&h->pages_free, __ATOMIC_RELAXED) -
			 __atomic_load_n(&h->pages_released, __ATOMIC_RELAXED))
			<< SL_PAGE_SHIFT;
	if (!idle)
		return;
	uint64_t now = sl_now_ms(), last = __atomic_load_n(&h->last_scavenge_ms, __ATOMIC_RELAXED);
	if (idle <= sl_retain_budget(sl_recent_peak(h)) && now - last < (uint64_t)sl_opt.scavenge_delay_ms / 4)
		return;
	int idle_flag = 0;
	if (!__atomic_compare_exchange_n(&h->scav_busy, &idle_flag, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&h->last_scavenge_ms, now, __ATOMIC_RELAXED);
	sl_peak_window(h, now);
	sl_scavenge(h, false);
	__atomic_store_n(&h->scav_busy, 0, __ATOMIC_RELEASE);
}

size_t sl_mheap_scavenge_all(sl_mheap *h) { return sl_scavenge(h, true); }

/* The lock-free heap never unmaps (a region stays for good; its idle pages are
 * released with madvise): trim is scavenge_all. */
size_t sl_mheap_trim(sl_mheap *h) { return sl_scavenge(h, true); }

/* ---- Allocation and free ---- */

sl_span *sl_mheap_alloc(sl_mheap *h, size_t npages, size_t align_pages, bool large)
{
	if (align_pages < 1)
		align_pages = 1;
	size_t need = npages + align_pages - 1;
	if (!npages || need < npages || need > ((size_t)1 << (SL_ADDR_BITS - SL_PAGE_SHIFT - 1)))
		return NULL;
	sl_span *s = sl_fixalloc_get(SL_FIX_SPAN);
	if (!s)
		return NULL;
	struct sl_region *r;
	size_t page = 0;
	for (r = atomic_load_explicit(&h->regions, memory_order_acquire); r;
	     r = atomic_load_explicit(&r->next, memory_order_acquire))
		if (sl_claim(r, npages, align_pages, &page))
			break;
	if (!r && !(r = sl_heap_grow(h, npages, align_pages, &page))) {
		sl_fixalloc_put(SL_FIX_SPAN, s);
		return NULL;
	}
	size_t resident = sl_set_dirty(r, page, npages);
	s->base = r->base + (page << SL_PAGE_SHIFT);
	s->npages = npages;
	s->heap = h;
	s->needzero = resident > 0;
	__atomic_store_n(&s->state, SL_SPAN_LARGE, __ATOMIC_RELEASE);
	sl_pagemap_set(s->base, npages, s);
	sl_peak_raise(h, SL_ADD(h->pages_inuse, npages) + npages);
	SL_SUB(h->pages_free, npages);
	SL_SUB(h->pages_released, npages - resident);
	if (large) {
		SL_ADD(h->large_mallocs, 1);
		SL_ADD(h->large_bytes, npages << SL_PAGE_SHIFT);
	}
	sl_scavenge_due(h);
	return s;
}

void sl_mheap_free_pages(sl_mheap *h, uintptr_t base, size_t npages)
{
	struct sl_region *r = sl_region_of(h, base);
	if (!r)
		sl_fatal("free of pages %#lx not in any region of the heap", (unsigned long)base);
	sl_pagemap_set(base, npages, &h->free_span);
	sl_release_range(r, (base - r->base) >> SL_PAGE_SHIFT, npages, sl_now_ms());
	SL_SUB(h->pages_inuse, npages);
	SL_ADD(h->pages_free, npages);
	sl_scavenge_due(h);
}

void sl_mheap_free(sl_mheap *h, sl_span *s)
{
	uintptr_t base = s->base;
	size_t npages = s->npages;
	if (s->state == SL_SPAN_LARGE) {
		SL_ADD(h->large_frees, 1);
		SL_SUB(h->large_bytes, npages << SL_PAGE_SHIFT);
	}
	/* The page map stops naming s before s can be handed out again. */
	sl_pagemap_set(base, npages, &h->free_span);
	s->state = SL_SPAN_DEAD;
	sl_fixalloc_put(SL_FIX_SPAN, s);
	sl_mheap_free_pages(h, base, npages);
}

/* LARGE span s (owned by the caller) to npages in place: shrinking releases the tail;
 * growing claims exactly the following pages, and fails if one is taken. */
bool sl_mheap_resize(sl_mheap *h, sl_span *s, size_t npages)
{
	if (npages == s->npages)
		return true;
	struct sl_region *r = sl_region_of(h, s->base);
	size_t page = (s->base - r->base) >> SL_PAGE_SHIFT;
	if (npages < s->npages) {
		size_t tail = s->npages - npages;
		s->npages = npages;
		SL_SUB(h->large_bytes, tail << SL_PAGE_SHIFT);
		sl_mheap_free_pages(h, s->base + (npages << SL_PAGE_SHIFT), tail);
		return true;
	}
	size_t extra = npages - s->npages, end = page + s->npages;
	if (npages > r->nwords * SL_WORD_PAGES - page || !sl_claim_range(r, end, extra))
		return false;
	size_t resident = sl_set_dirty(r, end, extra);
	sl_pagemap_set(s->base + (s->npages << SL_PAGE_SHIFT), extra, s);
	s->npages = npages;
	sl_peak_raise(h, SL_ADD(h->pages_inuse, extra) + extra);
	SL_SUB(h->pages_free, extra);
	SL_SUB(h->pages_released, extra - resident);
	SL_ADD(h->large_bytes, extra << SL_PAGE_SHIFT);
	return true;
}

/* Nothing to quiesce: every step is one atomic instruction. Pages another thread had
 * claimed but not yet handed out when the process forked stay claimed in the child
 * (lost to it, as that thread is). */
void sl_mheap_prefork(sl_mheap *h) { (void)h; }
void sl_mheap_postfork_parent(sl_mheap *h) { (void)h; }
void sl_mheap_postfork_child(sl_mheap *h) { __atomic_store_n(&h->scav_busy, 0, __ATOMIC_RELAXED); }
