/*
 * core/mheap.c — the page heap: spans of 8 KiB pages, free runs by length, coalescing,
 * growth into arenas, and the scavenger. See malloc.c for the overview.
 *
 * Free runs ("FREE spans") of 1..127 pages sit in an exact-length bin, longer ones on
 * one list searched best-fit. Each length has two lists: resident (dirty, cheap to
 * reuse) and released (returned to the OS, zero on next touch); allocation takes the
 * best-fitting length and prefers resident memory at that length. Neighbouring free
 * runs merge when they are in the same state, so every FREE span is either wholly
 * resident or wholly released and the statistics are exact.
 *
 * Scavenger policy (stated, and the same for every variant):
 *   - retain budget: idle resident memory may reach the larger of SPANLAB_RETAIN_MB
 *     (default 32 MiB) and SPANLAB_RETAIN_PERCENT (default 200) % of the heap's
 *     recent in-use peak: the highest pages_inuse of the current window and the one
 *     before, a window lasting SPANLAB_SCAVENGE_DELAY_MS. Freed large blocks stay
 *     resident within it and are reused without page faults (a budget fixed at 32 MiB
 *     returned 5-25 MiB blocks almost at once, and every malloc re-faulted them);
 *   - whenever idle resident memory exceeds the budget, the excess is returned at
 *     once, oldest first: the tail of the oldest run, cut at a 2 MiB boundary (huge
 *     pages stay whole), while its head stays resident; or whole runs when the excess
 *     covers them;
 *   - time-based decay: a resident free run idle for SPANLAB_SCAVENGE_DELAY_MS
 *     (default 1000 ms) is returned whatever the budget;
 *   - returning is madvise(MADV_DONTNEED); a returned run that is (or merges into) at
 *     least SL_UNMAP_MIN_PAGES (1 MiB) gives its address space back too (munmap), and
 *     so does every idle run when the heap cannot grow (the address space is
 *     exhausted): a program under `ulimit -v` can reuse for anything what it freed;
 *   - malloc_trim / spanlab_trim (sl_mheap_trim) return every idle page at once, then
 *     unmap every idle run and the never-used tail of the current reservation.
 * The checks run on page-heap activity (span allocation and free), under mheap.lock;
 * there is no background thread, so a program that stops calling into the page heap
 * keeps what the budget allowed at its last call (malloc_trim returns it).
 *
 * Address space (pagemap.c) is reserved as the heap needs it: the first growth
 * reservation of a heap is SL_RESERVE_MIN (4 MiB), each next one twice the last up to
 * SL_RESERVE_MAX (64 MiB), committed (made read-write) 2 MiB at a time at least; a
 * request of half the next reservation or more gets a reservation of its own, of
 * exactly its size. When a reservation fails the heap tries smaller ones, down to
 * exactly what the request needs.
 *
 * Out of memory: every operation that needs span structs takes them from the heap's
 * small stock (sl_span_stock) before it changes anything, so a failure leaves the heap
 * as it was and malloc returns NULL with ENOMEM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

uint64_t sl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sl_mheap_init(sl_mheap *h, unsigned node)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL);
	h->node = node;
	for (uint32_t c = 1; c < SL_NUM_CLASSES; c++)
		sl_mcentral_init(&h->central[c], h, c);
}

/* ---- Free lists (mheap.lock held throughout) ---- */

static void sl_list_push(sl_span **head, sl_span *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static void sl_list_remove(sl_span **head, sl_span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static sl_span **sl_free_list(sl_mheap *h, sl_span *s)
{
	if (s->npages < SL_HEAP_BINS)
		return &h->bins[s->npages][s->released ? 1 : 0];
	return &h->large[s->released ? 1 : 0];
}

static void sl_scav_append(sl_mheap *h, sl_span *s)
{
	s->scav_next = NULL;
	s->scav_prev = h->scav_tail;
	if (h->scav_tail)
		h->scav_tail->scav_next = s;
	else
		h->scav_head = s;
	h->scav_tail = s;
}

static void sl_scav_prepend(sl_mheap *h, sl_span *s)
{
	s->scav_prev = NULL;
	s->scav_next = h->scav_head;
	if (h->scav_head)
		h->scav_head->scav_prev = s;
	else
		h->scav_tail = s;
	h->scav_head = s;
}

static void sl_scav_remove(sl_mheap *h, sl_span *s)
{
	if (s->scav_prev)
		s->scav_prev->scav_next = s->scav_next;
	else
		h->scav_head = s->scav_next;
	if (s->scav_next)
		s->scav_next->scav_prev = s->scav_prev;
	else
		h->scav_tail = s->scav_prev;
	s->scav_next = s->scav_prev = NULL;
}

/* Inserts FREE span s into the free lists; a resident one goes to the young end of the
 * scavenger's list, or with `oldest` to its old end (a run that keeps its age). */
static void sl_free_insert_aged(sl_mheap *h, sl_span *s, bool oldest)
{
	SL_ASSERT(s->state == SL_SPAN_FREE && s->npages > 0);
	sl_list_push(sl_free_list(h, s), s);
	if (s->npages < SL_HEAP_BINS)
		h->binmap[s->npages / 64] |= (uint64_t)1 << (s->npages % 64);
	if (!s->released && oldest)
		sl_scav_prepend(h, s);
	else if (!s->released)
		sl_scav_append(h, s);
	h->pages_free += s->npages;
	if (s->released)
		h->pages_released += s->npages;
}

static void sl_free_insert(sl_mheap *h, sl_span *s) { sl_free_insert_aged(h, s, false); }

static void sl_free_remove(sl_mheap *h, sl_span *s)
{
	sl_list_remove(sl_free_list(h, s), s);
	if (s->npages < SL_HEAP_BINS && !h->bins[s->npages][0] && !h->bins[s->npages][1])
		h->binmap[s->npages / 64] &= ~((uint64_t)1 << (s->npages % 64));
	if (!s->released)
		sl_scav_remove(h, s);
	SL_ASSERT(h->pages_free >= s->npages && (!s->released || h->pages_released >= s->npages));
	h->pages_free -= s->npages;
	if (s->released)
		h->pages_released -= s->npages;
}

/* Best fit: the shortest free run of at least npages, resident before released. */
static sl_span *sl_free_find(sl_mheap *h, size_t npages)
{
	if (npages < SL_HEAP_BINS) {
		for (size_t w = npages / 64; w < SL_HEAP_BINS / 64; w++) {
			uint64_t bits = h->binmap[w];
			if (w == npages / 64)
				bits &= ~(uint64_t)0 << (npages % 64);
			if (bits) {
				size_t len = w * 64 + (size_t)__builtin_ctzll(bits);
				return h->bins[len][0] ? h->bins[len][0] : h->bins[len][1];
			}
		}
	}
	sl_span *best = NULL;
	for (int r = 0; r < 2; r++)
		for (sl_span *s = h->large[r]; s; s = s->next)
			if (s->npages >= npages && (!best || s->npages < best->npages))
				best = s;
	return best;
}

/* ---- Span structs: a small per-heap stock (mheap.lock) ---- */

#define SL_SPAN_STOCK_MAX 8

/* Makes sure the stock holds at least n span structs; false when the metadata
 * allocator is out of memory (nothing else changed). */
static bool sl_span_stock(sl_mheap *h, uint32_t n)
{
	while (h->nspare < n) {
		sl_span *s = sl_fixalloc_get(SL_FIX_SPAN);
		if (!s)
			return false;
		s->next = h->spare;
		h->spare = s;
		h->nspare++;
	}
	return true;
}

/* A span struct from the stock, which the caller filled beforehand (sl_span_stock). */
static sl_span *sl_span_new(uintptr_t base, size_t npages, sl_mheap *h)
{
	sl_span *s = h->spare;
	h->spare = s->next;
	h->nspare--;
	memset(s, 0, sizeof *s);
	s->base = base;
	s->npages = npages;
	s->heap = h;
	return s;
}

static void sl_span_dispose(sl_mheap *h, sl_span *s)
{
	s->state = SL_SPAN_DEAD;
	if (h->nspare < SL_SPAN_STOCK_MAX) {
		s->next = h->spare;
		h->spare = s;
		h->nspare++;
	} else {
		sl_fixalloc_put(SL_FIX_SPAN, s);
	}
}

/* The FREE span in the same state as s that ends right before / starts right after s. */
static sl_span *sl_free_neighbour(sl_mheap *h, sl_span *s, bool right)
{
	uintptr_t a = right ? s->base + (s->npages << SL_PAGE_SHIFT) : s->base - 1;
	sl_span *n = sl_span_of((void *)a);
	if (n && n != s && n->state == SL_SPAN_FREE && n->heap == h && n->released == s->released)
		return n;
	return NULL;
}

/* Inserts FREE span s, merging it with free neighbours in the same state. */
static void sl_free_coalesce(sl_mheap *h, sl_span *s)
{
	for (int right = 0; right < 2; right++) {
		sl_span *n = sl_free_neighbour(h, s, right);
		if (!n)
			continue;
		sl_free_remove(h, n);
		sl_pagemap_set(n->base, n->npages, s);
		if (!right)
			s->base = n->base;
		s->npages += n->npages;
		if (n->free_since_ms > s->free_since_ms)
			s->free_since_ms = n->free_since_ms;
		sl_span_dispose(h, n);
	}
	sl_free_insert(h, s);
}

/* ---- Scavenger ---- */

#define SL_UNMAP_MIN_PAGES 128 /* returned runs this long give back their address space */

/* FREE span s (off the free lists) leaves the heap: its memory and address space go
 * back to the OS. */
static void sl_mheap_unmap(sl_mheap *h, sl_span *s)
{
	size_t bytes = s->npages << SL_PAGE_SHIFT;
	sl_pagemap_set(s->base, s->npages, NULL);
	sl_sys_unmap(s->base, bytes);
	h->pages_sys -= s->npages;
	h->unmapped_bytes += bytes;
	sl_span_dispose(h, s);
}

/* Returns resident FREE span s to the OS; with `unmap`, a run of at least
 * SL_UNMAP_MIN_PAGES (after merging with released neighbours) leaves the heap with its
 * address space. */
static void sl_scav_release(sl_mheap *h, sl_span *s, bool unmap)
{
	size_t bytes = s->npages << SL_PAGE_SHIFT;
	sl_free_remove(h, s);
	h->scavenged_bytes += bytes;
	h->scavenge_runs++;
	if (unmap && s->npages >= SL_UNMAP_MIN_PAGES) {
		sl_mheap_unmap(h, s);
		return;
	}
	madvise((void *)s->base, bytes, MADV_DONTNEED);
	s->released = 1;
	s->needzero = 0;
	sl_free_coalesce(h, s);
	if (unmap && s->npages >= SL_UNMAP_MIN_PAGES) {
		sl_free_remove(h, s);
		sl_mheap_unmap(h, s);
	}
}

/* Every idle run goes back to the OS with its address space (the heap could not grow:
 * the address space is exhausted). Returns whether anything was unmapped. */
static bool sl_mheap_unmap_idle(sl_mheap *h)
{
	bool any = false;
	for (;;) {
		sl_span *s = h->large[0] ? h->large[0] : h->large[1];
		for (size_t i = 1; !s && i < SL_HEAP_BINS; i++)
			s = h->bins[i][0] ? h->bins[i][0] : h->bins[i][1];
		if (!s)
			return any;
		sl_free_remove(h, s);
		sl_mheap_unmap(h, s);
		any = true;
	}
}

/* The recent in-use peak, for the retain budget: the window moves on every
 * SPANLAB_SCAVENGE_DELAY_MS, checked here (when the scavenger finds resident idle
 * memory), so a peak counts for one to two delays, or longer while no call gets here
 * (the budget then errs on the generous side; the decay still returns old runs). */
static uint64_t sl_recent_peak(sl_mheap *h, uint64_t now)
{
	if (now - h->peak_since_ms >= (uint64_t)sl_opt.scavenge_delay_ms) {
		h->peak_prev_pages = h->peak_pages;
		h->peak_pages = h->pages_inuse;
		h->peak_since_ms = now;
	}
	return h->peak_pages > h->peak_prev_pages ? h->peak_pages : h->peak_prev_pages;
}

/* Returns to the OS the tail of resident FREE run s (the oldest): at least `excess`
 * bytes, from a 2 MiB boundary to s's end (huge pages stay whole); s keeps its head,
 * resident, and its place as the oldest. Returns false (nothing done) when the cut
 * would take all of s or no span struct is at hand: the caller returns s whole. */
static bool sl_scav_release_tail(sl_mheap *h, sl_span *s, uint64_t excess)
{
	const uintptr_t huge = (uintptr_t)SL_COMMIT_MIN_PAGES << SL_PAGE_SHIFT;
	uintptr_t end = s->base + (s->npages << SL_PAGE_SHIFT);
	if (excess >= end - s->base)
		return false;
	uintptr_t cut = (end - (uintptr_t)excess) & ~(huge - 1);
	if (cut <= s->base || !sl_span_stock(h, 1))
		return false;
	sl_free_remove(h, s);
	sl_span *t = sl_span_new(cut, (end - cut) >> SL_PAGE_SHIFT, h);
	t->state = SL_SPAN_FREE;
	t->needzero = 1;
	t->free_since_ms = s->free_since_ms;
	sl_pagemap_set(t->base, t->npages, t);
	s->npages = (cut - s->base) >> SL_PAGE_SHIFT;
	sl_free_insert_aged(h, s, true);
	sl_free_insert(h, t);
	sl_scav_release(h, t, true);
	return true;
}

/* The policy's periodic part (the top of this file), after every span allocation and
 * free: runs idle for the delay go back whole, oldest first; then, while idle resident
 * memory exceeds the retain budget, the excess. */
static void sl_scavenge_due(sl_mheap *h)
{
	sl_span *s = h->scav_head;
	if (!s)
		return;
	uint64_t now = sl_now_ms();
	uint64_t budget = sl_retain_budget(sl_recent_peak(h, now));
	uint64_t delay = (uint64_t)sl_opt.scavenge_delay_ms;
	while ((s = h->scav_head)) {
		uint64_t idle = (h->pages_free - h->pages_released) << SL_PAGE_SHIFT;
		if (now - s->free_since_ms < delay) {
			if (idle <= budget)
				break;
			if (sl_scav_release_tail(h, s, idle - budget))
				break;
		}
		sl_scav_release(h, s, true);
	}
}

size_t sl_mheap_scavenge_all(sl_mheap *h)
{
	pthread_mutex_lock(&h->lock);
	uint64_t before = h->scavenged_bytes;
	while (h->scav_head)
		sl_scav_release(h, h->scav_head, false);
	size_t released = (size_t)(h->scavenged_bytes - before);
	pthread_mutex_unlock(&h->lock);
	return released;
}

size_t sl_mheap_trim(sl_mheap *h)
{
	size_t released = sl_mheap_scavenge_all(h);
	pthread_mutex_lock(&h->lock);
	sl_mheap_unmap_idle(h);
	if (h->arena_end > h->arena_next)
		sl_sys_unmap(h->arena_next, h->arena_end - h->arena_next);
	h->arena_next = h->arena_end = 0;
	h->reserve_next = 0; /* growth starts small again */
	pthread_mutex_unlock(&h->lock);
	return released;
}

/* ---- Growth ---- */

#define SL_RESERVE_MIN ((size_t)4 << 20)
#define SL_RESERVE_MAX ((size_t)64 << 20)

/* Committed pages [base, base + bytes) join the heap as a FREE span (released: fresh
 * memory is zero and not resident). A span struct is in the stock. */
static void sl_mheap_add(sl_mheap *h, uintptr_t base, size_t bytes)
{
	sl_span *s = sl_span_new(base, bytes >> SL_PAGE_SHIFT, h);
	s->state = SL_SPAN_FREE;
	s->released = 1;
	sl_pagemap_set(s->base, s->npages, s);
	h->pages_sys += s->npages;
	sl_free_coalesce(h, s);
}

/* Reserves at least `bytes`, preferring `want`: the largest of want, 2 MiB and bytes
 * that the OS grants (largest first). */
static bool sl_mheap_reserve(sl_mheap *h, size_t bytes, size_t want, uintptr_t *base, size_t *size)
{
	size_t tries[3] = {want, (size_t)SL_COMMIT_MIN_PAGES << SL_PAGE_SHIFT, bytes};
	for (int i = 0; i < 3; i++) {
		size_t sz = tries[i] > bytes ? tries[i] : bytes;
		if (i && sz >= *size)
			continue; /* tried already */
		*size = sz;
		if (sl_sys_reserve(sz, h->node, base))
			return true;
	}
	return false;
}

/* Makes at least npages contiguous pages available as a FREE span. */
static bool sl_mheap_grow_once(sl_mheap *h, size_t npages)
{
	size_t bytes = npages << SL_PAGE_SHIFT;
	size_t commit = bytes > (SL_COMMIT_MIN_PAGES << SL_PAGE_SHIFT) ? bytes : SL_COMMIT_MIN_PAGES << SL_PAGE_SHIFT;
	if (!sl_span_stock(h, 1))
		return false;
	if (!h->reserve_next)
		h->reserve_next = SL_RESERVE_MIN;
	size_t tail = h->arena_end - h->arena_next;
	if (tail < bytes && bytes >= h->reserve_next / 2) {
		/* Large: a reservation of its own, of exactly its size; the current one keeps
		 * its tail for the spans that follow. */
		uintptr_t base;
		if (!sl_sys_reserve(bytes, h->node, &base))
			return false;
		if (!sl_sys_commit(base, bytes)) {
			sl_sys_unmap(base, bytes);
			return false;
		}
		sl_mheap_add(h, base, bytes);
		return true;
	}
	if (tail < bytes) {
		uintptr_t base;
		size_t size = 0;
		if (!sl_mheap_reserve(h, bytes, h->reserve_next, &base, &size))
			return false;
		if (size == h->reserve_next && h->reserve_next < SL_RESERVE_MAX)
			h->reserve_next *= 2;
		if (tail && base == h->arena_end) {
			h->arena_end = base + size; /* right after the old one: one region */
		} else {
			if (tail) /* never committed: only address space to give back */
				sl_sys_unmap(h->arena_next, tail);
			h->arena_next = base;
			h->arena_end = base + size;
		}
		tail = h->arena_end - h->arena_next;
	}
	if (commit > tail)
		commit = tail;
	if (!sl_sys_commit(h->arena_next, commit))
		return false;
	sl_mheap_add(h, h->arena_next, commit);
	h->arena_next += commit;
	return true;
}

/* Grows the heap; when the OS refuses, the heap's idle runs give their address space
 * back and it tries once more. */
static bool sl_mheap_grow(sl_mheap *h, size_t npages)
{
	if (sl_mheap_grow_once(h, npages))
		return true;
	return sl_mheap_unmap_idle(h) && sl_mheap_grow_once(h, npages);
}

/* ---- Allocation and free ---- */

/* Inserts [base, end) of FREE span `from` (just taken off the free lists) as a FREE
 * span of its own, in from's state. */
static void sl_free_piece(sl_mheap *h, const sl_span *from, uintptr_t base, uintptr_t end)
{
	sl_span *p = sl_span_new(base, (end - base) >> SL_PAGE_SHIFT, h);
	p->state = SL_SPAN_FREE;
	p->released = from->released;
	p->needzero = from->needzero;
	p->free_since_ms = from->free_since_ms;
	sl_pagemap_set(p->base, p->npages, p);
	sl_free_insert(h, p);
}

sl_span *sl_mheap_alloc(sl_mheap *h, size_t npages, size_t align_pages, bool large)
{
	size_t need = npages + (align_pages > 1 ? align_pages - 1 : 0);
	if (need < npages || need > ((size_t)1 << (SL_ADDR_BITS - SL_PAGE_SHIFT - 1)))
		return NULL;
	pthread_mutex_lock(&h->lock);
	SL_TEST_PARK(SL_PARK_HEAP_LOCKED);
	sl_span *s = NULL;
	/* Two span structs for the free pieces either side, before anything changes. */
	if (sl_span_stock(h, 2) && !(s = sl_free_find(h, need)) && sl_mheap_grow(h, need) &&
	    sl_span_stock(h, 2))
		s = sl_free_find(h, need);
	if (!s) {
		pthread_mutex_unlock(&h->lock);
		return NULL;
	}
	SL_ASSERT(s->state == SL_SPAN_FREE && s->npages >= need);
	sl_free_remove(h, s);
	uintptr_t start = s->base;
	if (align_pages > 1) {
		uintptr_t a = (uintptr_t)align_pages << SL_PAGE_SHIFT;
		start = (s->base + a - 1) & ~(a - 1);
	}
	uintptr_t end = start + (npages << SL_PAGE_SHIFT);
	uintptr_t send = s->base + (s->npages << SL_PAGE_SHIFT);
	/* The leading and trailing pages stay free, in s's state. */
	if (start > s->base)
		sl_free_piece(h, s, s->base, start);
	if (end < send)
		sl_free_piece(h, s, end, send);
	s->base = start;
	s->npages = npages;
	s->needzero = !s->released;
	s->released = 0;
	s->state = SL_SPAN_LARGE;
	s->sizeclass = 0;
	s->nelems = 0;
	s->limit = 0;
	h->pages_inuse += npages;
	SL_ASSERT(h->pages_inuse + h->pages_free <= h->pages_sys && h->pages_released <= h->pages_free);
	if (h->pages_inuse > h->peak_pages)
		h->peak_pages = h->pages_inuse;
	if (large) {
		h->large_mallocs++;
		h->large_bytes += npages << SL_PAGE_SHIFT;
	}
	sl_scavenge_due(h);
	pthread_mutex_unlock(&h->lock);
	return s;
}

void sl_mheap_free(sl_mheap *h, sl_span *s)
{
	pthread_mutex_lock(&h->lock);
	/* SMALL spans come back empty from their mcentral, LARGE ones from free(). */
	SL_ASSERT((s->state == SL_SPAN_SMALL || s->state == SL_SPAN_LARGE) && h->pages_inuse >= s->npages);
	if (s->state == SL_SPAN_LARGE) {
		h->large_frees++;
		h->large_bytes -= s->npages << SL_PAGE_SHIFT;
	}
	h->pages_inuse -= s->npages;
	s->state = SL_SPAN_FREE;
	s->sizeclass = 0;
	s->nelems = 0;
	s->limit = 0;
	s->released = 0;
	s->needzero = 1;
	s->free_since_ms = sl_now_ms();
	sl_free_coalesce(h, s);
	sl_scavenge_due(h);
	pthread_mutex_unlock(&h->lock);
}

/* Resizes LARGE span s in place to npages: shrinking frees the tail, growing takes the
 * head of a free neighbour. Returns false if it cannot grow in place. */
bool sl_mheap_resize(sl_mheap *h, sl_span *s, size_t npages)
{
	bool ok = true;
	pthread_mutex_lock(&h->lock);
	if (npages < s->npages && !sl_span_stock(h, 1)) {
		ok = false; /* no span struct for the freed tail: the object stays as it is */
	} else if (npages < s->npages) {
		sl_span *t = sl_span_new(s->base + (npages << SL_PAGE_SHIFT), s->npages - npages, h);
		t->state = SL_SPAN_FREE;
		t->needzero = 1;
		t->free_since_ms = sl_now_ms();
		sl_pagemap_set(t->base, t->npages, t);
		h->pages_inuse -= t->npages;
		h->large_bytes -= t->npages << SL_PAGE_SHIFT;
		s->npages = npages;
		sl_free_coalesce(h, t);
	} else if (npages > s->npages) {
		size_t extra = npages - s->npages;
		sl_span *r = sl_span_of((void *)(s->base + (s->npages << SL_PAGE_SHIFT)));
		if (r && r->state == SL_SPAN_FREE && r->heap == h && r->npages >= extra) {
			sl_free_remove(h, r);
			sl_pagemap_set(r->base, extra, s);
			if (r->npages == extra) {
				sl_span_dispose(h, r);
			} else {
				r->base += extra << SL_PAGE_SHIFT;
				r->npages -= extra;
				sl_free_insert(h, r);
			}
			s->npages = npages;
			h->pages_inuse += extra;
			if (h->pages_inuse > h->peak_pages)
				h->peak_pages = h->pages_inuse;
			h->large_bytes += extra << SL_PAGE_SHIFT;
		} else {
			ok = false;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return ok;
}

void sl_mheap_prefork(sl_mheap *h) { pthread_mutex_lock(&h->lock); }
void sl_mheap_postfork_parent(sl_mheap *h) { pthread_mutex_unlock(&h->lock); }
void sl_mheap_postfork_child(sl_mheap *h) { pthread_mutex_init(&h->lock, NULL); }
