/*
 * core/mcentral.c — one central list per size class (per mheap). See malloc.c for the
 * overview and policies/sync/README.md for what the sync policy guards.
 *
 * Objects move between thread caches and an mcentral in batches of `batch` objects
 * (TCMalloc's num_objects_to_move: 64 KiB worth, between 2 and 32). Full batches sit on
 * a stack and move in O(1) through the sync policy; only when that stack is empty (on
 * refill) or full (on flush) does a cache reach the spans, under the central's lock.
 * A span whose every object has come back is returned to the mheap at once.
 *
 * With a sync policy that declares SL_SYNC_<IMPL>_ENGINE_LOCKFREE and the `freelist`
 * front end (SL_CENTRAL_LOCKFREE), the span path takes no lock either: see "Lock-free
 * span lists" below.
 *
 * Front ends that give whole spans to thread caches (`bitmap`, `tiny`: they declare
 * SL_FE_SPAN_BITMAPS) move spans, not batches, through mcentral: see "Span bitmaps"
 * below (core/spanbits.h states the interface).
 */
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define SL_CENTRAL_FULL_BYTES ((size_t)256 << 10) /* full batches kept per class */

#if SL_CENTRAL_LOCKFREE
/* The span anchor (one 64-bit word): avail (bits 0-15) is 1 + the index of the first
 * object of the span's free chain (0: empty chain), carve (16-31) the number of objects
 * ever carved, count (32-47) the free objects (chain + not yet carved), state (48-49). */
#define SL_ANCHOR_MAX 0xfffeu
#define SL_ANCHOR(avail, carve, count, state)                                                \
	((uint64_t)(avail) | (uint64_t)(carve) << 16 | (uint64_t)(count) << 32 | (uint64_t)(state) << 48)
#define SL_ANCHOR_AVAIL(a) ((uint32_t)(a)&0xffffu)
#define SL_ANCHOR_CARVE(a) ((uint32_t)((a) >> 16) & 0xffffu)
#define SL_ANCHOR_COUNT(a) ((uint32_t)((a) >> 32) & 0xffffu)
#define SL_ANCHOR_STATE(a) ((uint32_t)((a) >> 48) & 3u)
enum {
	SL_ANCHOR_UNLISTED = 0, /* no free object, not on the partial stack */
	SL_ANCHOR_LISTED,	/* on the partial stack, or its push or a take is in progress */
	SL_ANCHOR_EMPTY,	/* every object free: its pages went back to the mheap */
};
#endif

void sl_mcentral_init(sl_mcentral *c, sl_mheap *h, uint32_t sizeclass)
{
	sl_sync_stack_init(&c->full);
	sl_sync_stack_init(&c->spare);
	atomic_init(&c->nfull, 0);
	sl_sync_lock_init(&c->lock);
	c->partial = NULL;
	c->nspans = 0;
	c->sizeclass = sizeclass;
	c->elemsize = sl_sc_class_to_size(sizeclass);
	c->npages = sl_sc_class_to_pages(sizeclass);
	c->nelems = SL_OBJ8_CLASS(c->elemsize) ? sl_obj8_nelems(c->npages, c->elemsize)
					       : (uint32_t)((c->npages << SL_PAGE_SHIFT) / c->elemsize);
	c->batch = sl_classes[sizeclass].batch;
	size_t per = (size_t)c->batch * c->elemsize;
	c->max_full = (uint32_t)(SL_CENTRAL_FULL_BYTES / per > 16 ? SL_CENTRAL_FULL_BYTES / per : 16);
	c->heap = h;
#if SL_CENTRAL_LOCKFREE
	sl_sync_stack_init(&c->partial_stack);
	c->span_free = 0;
	if (c->nelems > SL_ANCHOR_MAX)
		sl_fatal("size class %u: %u objects per span, the span anchor holds %u", sizeclass, c->nelems,
			 SL_ANCHOR_MAX);
#endif
}

/* ---- Full batches and spare nodes (sync policy) ---- */

sl_batch *sl_mcentral_pop_batch(sl_mcentral *c)
{
	sl_batch *b = (sl_batch *)sl_sync_stack_pop(&c->full);
	if (b)
		atomic_fetch_sub_explicit(&c->nfull, 1, memory_order_relaxed);
	return b;
}

bool sl_mcentral_push_batch(sl_mcentral *c, sl_batch *b)
{
	SL_ASSERT(b->count == c->batch && b->head != NULL);
	if (atomic_load_explicit(&c->nfull, memory_order_relaxed) >= c->max_full)
		return false;
	atomic_fetch_add_explicit(&c->nfull, 1, memory_order_relaxed);
	sl_sync_stack_push(&c->full, &b->link);
	return true;
}

sl_batch *sl_mcentral_spare_pop(sl_mcentral *c) { return (sl_batch *)sl_sync_stack_pop(&c->spare); }
void sl_mcentral_spare_push(sl_mcentral *c, sl_batch *b) { sl_sync_stack_push(&c->spare, &b->link); }

/* ---- Spans (c->lock held) ---- */

void sl_partial_push(sl_mcentral *c, sl_span *s)
{
	SL_ASSERT(!s->partial && s->nfree > 0 && s->state == SL_SPAN_SMALL);
	s->prev = NULL;
	s->next = c->partial;
	if (c->partial)
		c->partial->prev = s;
	c->partial = s;
	s->partial = 1;
}

void sl_partial_remove(sl_mcentral *c, sl_span *s)
{
	SL_ASSERT(s->partial && (s->prev ? s->prev->next == s : c->partial == s) && (!s->next || s->next->prev == s));
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->partial = 0;
}

/* A span of the class from the mheap, its object geometry set (and an 8-byte class's
 * free map, SL_OBJ8), not yet SMALL: NULL when memory is exhausted. */
static sl_span *sl_mcentral_span_alloc(sl_mcentral *c)
{
	sl_span *s = sl_mheap_alloc(c->heap, c->npages, 0, false);
	if (!s)
		return NULL;
	s->sizeclass = (uint8_t)c->sizeclass;
	s->elemsize = c->elemsize;
	s->nelems = c->nelems;
	s->keyoff = SL_KEY_OFFSET(c->elemsize);
	s->limit = SL_OBJ8_CLASS(c->elemsize) ? 0 : c->nelems * c->elemsize;
	s->divmagic = UINT64_MAX / c->elemsize + 1;
	if (SL_OBJ8_CLASS(c->elemsize))
		sl_obj8_init(s);
	return s;
}

sl_span *sl_mcentral_grow(sl_mcentral *c)
{
	sl_span *s = sl_mcentral_span_alloc(c);
	if (!s)
		return NULL;
	s->freelist = NULL;
	s->carve = s->base;
	s->nfree = c->nelems;
	__atomic_store_n(&s->state, SL_SPAN_SMALL, __ATOMIC_RELEASE);
	c->nspans++;
	sl_partial_push(c, s);
	return s;
}

/* Where a take that carves objects [from, end) of a span stops: for an 8-byte class's
 * span (SL_OBJ8), at the last boundary of a cache line of its free map (64 objects a
 * line) after `from`, if there is one before `end` (and `end` is not the span's end):
 * so a thread taking a map line's worth or more gets whole lines of the map, and of
 * the objects, which no other thread then writes (a batch of 32 would share its map
 * line with the next taker's). Any other class: `end`. */
static inline uint32_t sl_carve_end(const sl_mcentral *c, uint32_t from, uint32_t end)
{
	if (!SL_OBJ8_CLASS(c->elemsize) || end >= c->nelems)
		return end;
	/* Object i's byte is at span offset nelems * 8 + i; spans are page-aligned. */
	uint32_t r = (uint32_t)(((uintptr_t)c->nelems * 8 + end) % SL_CACHELINE);
	return r < end - from ? end - r : end;
}

#if !SL_CENTRAL_LOCKFREE
uint32_t sl_mcentral_take(sl_mcentral *c, uint32_t want, void **head)
{
	void *list = NULL;
	uint32_t n = 0;
	sl_sync_lock(&c->lock);
	while (n < want) {
		sl_span *s = c->partial;
		/* A new span only for a caller that has nothing yet: carving starts at its
		 * base, so takes of a batch each cut it into runs aligned as the batch size
		 * allows (for 8-byte objects, whole cache lines), and objects of one line go
		 * to one thread. */
		if (!s && (n || !(s = sl_mcentral_grow(c))))
			break;
		SL_ASSERT(s->state == SL_SPAN_SMALL && s->nfree <= s->nelems &&
			  s->carve <= s->base + (uintptr_t)s->nelems * s->elemsize);
		uint32_t carved = (uint32_t)((s->carve - s->base) / c->elemsize);
		uint32_t stop = sl_carve_end(c, carved, carved + (want - n));
		while (n < want && s->nfree) {
			void *obj = s->freelist;
			if (obj) {
				s->freelist = sl_link_get(obj);
			} else if (carved < stop) {
				obj = (void *)s->carve;
				s->carve += c->elemsize;
				carved++;
			} else {
				goto out; /* at a map line's end (sl_carve_end) */
			}
			s->nfree--;
			sl_link_set(obj, list);
			list = obj;
			n++;
		}
		if (!s->nfree)
			sl_partial_remove(c, s);
	}
out:
	sl_sync_unlock(&c->lock);
	*head = list;
	return n;
}

/* The span is about to go back to the page heap: clears the free key in every object
 * ever carved from it, so that the key is found only in freed objects of live spans and
 * never in the pages a large object or a span of another class makes of these (a
 * realloc from such a large object to a small one would otherwise copy a stale key
 * into a live object, and its free would abort as a double free; core/malloc.c). An
 * 8-byte class's span clears its free map (SL_OBJ8) for the same reason. */
static void sl_span_clear_keys(sl_span *s)
{
	if (s->keyoff)
		for (uintptr_t p = s->base; p < s->carve; p += s->elemsize)
			*(void **)(p + s->keyoff) = NULL;
	if (SL_OBJ8_CLASS(s->elemsize))
		memset(sl_obj8_map(s), 0, sl_obj8_map_bytes(s));
}

static void sl_mcentral_give_locked(sl_mcentral *c, void *obj)
{
	sl_span *s = sl_span_of(obj);
	SL_ASSERT(s && s->state == SL_SPAN_SMALL && s->sizeclass == c->sizeclass && s->nfree < s->nelems);
	sl_link_set(obj, s->freelist);
	s->freelist = obj;
	if (s->nfree++ == 0)
		sl_partial_push(c, s);
	if (s->nfree == s->nelems) {
		sl_partial_remove(c, s);
		c->nspans--;
		sl_span_clear_keys(s);
		sl_mheap_free(c->heap, s);
	}
}

void sl_mcentral_give_list(sl_mcentral *c, void *head)
{
	sl_sync_lock(&c->lock);
	while (head) {
		void *next = sl_link_get(head);
		sl_mcentral_give_locked(c, head);
		head = next;
	}
	sl_sync_unlock(&c->lock);
}
#endif

#if SL_CENTRAL_LOCKFREE
/*
 * ---- Lock-free span lists ----
 *
 * The descriptor/anchor design of Michael (PLDI 2004) and LRMalloc, without the ABA
 * tag they need for popping one object at a time. A span's free objects form a chain
 * linked through word 0 (NULL-terminated) whose head, together with the carve index,
 * the free count and the list state, is one 64-bit anchor changed only by CAS:
 *   give  (a run of objects of the span back)  last->next = head; CAS anchor to
 *         (first, count + n). Like a Treiber push, correct whenever the head is still
 *         the one it linked to.
 *   take  (a batch out)      CAS anchor to an empty chain: the taker then owns the whole
 *         chain and walks it at leisure; or, if the chain is empty, advance the carve
 *         index by up to `want` objects. Neither reads through a pointer before its
 *         CAS, so an anchor that changed and changed back is exactly the state the CAS
 *         expects: no ABA, no tag.
 * List membership is a token. Whoever moves the anchor from UNLISTED to LISTED (the
 * first give after a take emptied it) pushes the span on the class's partial stack
 * (the sync policy's ABA-safe stack); a taker pops it, and either pushes it back (free
 * objects left) or leaves it UNLISTED in the same CAS that takes the last ones. The give
 * that brings count to nelems sets EMPTY and returns the pages to the mheap at once,
 * reading only values copied before its CAS (the descriptor may be recycled after it).
 * The descriptor is retired by the token holder: the popper that finds it EMPTY, or
 * that same give if the span was UNLISTED (nobody else holds it).
 * Progress: take and give are lock-free (each CAS fails only because another thread's
 * CAS on the anchor succeeded; the partial stack is lock-free). Reclamation: span
 * descriptors are fixalloc metadata, never unmapped, so a stale pop reads mapped
 * memory; the stack's generation counter rejects it.
 */

static inline sl_span *sl_span_of_plink(sl_sync_link_t *l)
{
	return l ? (sl_span *)((char *)l - offsetof(sl_span, plink)) : NULL;
}

/* CAS that a negative control can turn into a racy load + store (SL_BROKEN_ANCHOR). */
static inline bool sl_anchor_cas(sl_span *s, uint64_t *old, uint64_t val)
{
	if (SL_TEST_BROKEN(SL_BROKEN_ANCHOR)) {
		sched_yield();
		atomic_store_explicit(&s->anchor, val, memory_order_release);
		return true;
	}
	return atomic_compare_exchange_weak_explicit(&s->anchor, old, val, memory_order_acq_rel,
						     memory_order_acquire);
}

static inline void *sl_obj(const sl_mcentral *c, uintptr_t base, uint32_t idx)
{
	return (void *)(base + (uintptr_t)idx * c->elemsize);
}

/* Links objects [from, from + n) of the span at base, in order, NULL-terminated. */
static void *sl_carve(const sl_mcentral *c, uintptr_t base, uint32_t from, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		sl_link_set(sl_obj(c, base, from + i), i + 1 < n ? sl_obj(c, base, from + i + 1) : NULL);
	return n ? sl_obj(c, base, from) : NULL;
}

/* A new span of the class: up to `want` objects carved for the caller, the span listed
 * if objects are left. */
static uint32_t sl_central_new_span(sl_mcentral *c, uint32_t want, void **head)
{
	sl_span *s = sl_mcentral_span_alloc(c);
	if (!s)
		return 0;
	uint32_t k = sl_carve_end(c, 0, want < c->nelems ? want : c->nelems), left = c->nelems - k;
	*head = sl_carve(c, s->base, 0, k);
	atomic_store_explicit(&s->anchor, SL_ANCHOR(0, k, left, left ? SL_ANCHOR_LISTED : SL_ANCHOR_UNLISTED),
			      memory_order_relaxed);
	__atomic_store_n(&s->state, SL_SPAN_SMALL, __ATOMIC_RELEASE);
	__atomic_fetch_add(&c->nspans, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->span_free, left, __ATOMIC_RELAXED);
	if (left) {
		SL_TEST_PARK(SL_PARK_CENTRAL_LIST);
		sl_sync_stack_push(&c->partial_stack, &s->plink);
	}
	return k;
}

/* Objects of a span, most often a batch or more: the whole free chain of the first
 * listed span, else up to `want` carved ones, else a new span. May return more than
 * `want` (a chain): refills keep them; a caller that asked for fewer than a batch gets
 * the surplus given back. 0: out of memory. */
uint32_t sl_mcentral_take(sl_mcentral *c, uint32_t want, void **head)
{
	for (;;) {
		sl_span *s = sl_span_of_plink(sl_sync_stack_pop(&c->partial_stack));
		if (!s)
			return sl_central_new_span(c, want, head);
		SL_TEST_PARK(SL_PARK_CENTRAL_TAKE);
		uint64_t old = atomic_load_explicit(&s->anchor, memory_order_acquire), val = 0;
		uint32_t chain = 0, k = 0;
		while (SL_ANCHOR_STATE(old) != SL_ANCHOR_EMPTY) {
			uint32_t carve = SL_ANCHOR_CARVE(old), count = SL_ANCHOR_COUNT(old);
			uint32_t uncarved = c->nelems - carve;
			chain = SL_ANCHOR_AVAIL(old) ? count - uncarved : 0;
			k = chain ? 0 : sl_carve_end(c, carve, carve + (want < uncarved ? want : uncarved)) - carve;
			uint32_t left = count - chain - k;
			val = SL_ANCHOR(0, carve + k, left, left ? SL_ANCHOR_LISTED : SL_ANCHOR_UNLISTED);
			if (sl_anchor_cas(s, &old, val))
				break;
		}
		if (SL_ANCHOR_STATE(old) == SL_ANCHOR_EMPTY) {
			/* Emptied while listed: its pages are gone; we hold the token. */
			s->state = SL_SPAN_DEAD;
			sl_fixalloc_put(SL_FIX_SPAN, s);
			continue;
		}
		uintptr_t base = s->base;
		void *list = chain ? sl_obj(c, base, SL_ANCHOR_AVAIL(old) - 1) : sl_carve(c, base, SL_ANCHOR_CARVE(old), k);
		uint32_t n = chain + k;
		__atomic_fetch_sub(&c->span_free, n, __ATOMIC_RELAXED);
		if (SL_ANCHOR_STATE(val) == SL_ANCHOR_LISTED)
			sl_sync_stack_push(&c->partial_stack, &s->plink);
		if (n > want && want < c->batch) {
			void *cut = list;
			for (uint32_t i = 1; i < want; i++)
				cut = sl_link_get(cut);
			void *rest = sl_link_get(cut);
			sl_link_set(cut, NULL);
			sl_mcentral_give_list(c, rest);
			n = want;
		}
		if (n) {
			*head = list;
			return n;
		}
	}
}

/* The span is about to go back to the page heap (see the locked version below). */
static void sl_clear_keys(const sl_mcentral *c, uintptr_t base, uint32_t carved)
{
	uint32_t off = SL_KEY_OFFSET(c->elemsize);
	if (off)
		for (uint32_t i = 0; i < carved; i++)
			*(void **)((char *)sl_obj(c, base, i) + off) = NULL;
	if (SL_OBJ8_CLASS(c->elemsize))
		memset((char *)sl_obj(c, base, c->nelems), 0, c->nelems);
}

/* A run of n objects of one span back to it, first .. last already linked through
 * word 0 (last's link is rewritten): one CAS for the run. */
static void sl_central_give(sl_mcentral *c, sl_span *s, void *first, void *last, uint32_t n)
{
	/* Constant while the span is SMALL, and it is until this give completes. */
	uintptr_t base = s->base;
	size_t npages = s->npages;
	bool exact;
	uint32_t idx = sl_span_index(s, first, &exact);
	uint64_t old = atomic_load_explicit(&s->anchor, memory_order_acquire), val;
	do {
		if (SL_ANCHOR_STATE(old) == SL_ANCHOR_EMPTY || SL_ANCHOR_COUNT(old) + n > c->nelems)
			sl_fatal("free(): double free of an object of span %p (size class %u, %u bytes)", (void *)base,
				 c->sizeclass, c->elemsize);
		uint32_t avail = SL_ANCHOR_AVAIL(old), count = SL_ANCHOR_COUNT(old) + n;
		sl_link_set(last, avail ? sl_obj(c, base, avail - 1) : NULL);
		val = SL_ANCHOR(idx + 1, SL_ANCHOR_CARVE(old), count,
				count == c->nelems ? SL_ANCHOR_EMPTY : SL_ANCHOR_LISTED);
	} while (!sl_anchor_cas(s, &old, val));
	if (SL_ANCHOR_STATE(val) == SL_ANCHOR_EMPTY) {
		__atomic_fetch_sub(&c->nspans, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&c->span_free, c->nelems, __ATOMIC_RELAXED);
		sl_clear_keys(c, base, SL_ANCHOR_CARVE(val));
		sl_mheap_free_pages(c->heap, base, npages);
		if (SL_ANCHOR_STATE(old) == SL_ANCHOR_UNLISTED) {
			/* Never listed since its last take: nobody else holds the descriptor. */
			s->state = SL_SPAN_DEAD;
			sl_fixalloc_put(SL_FIX_SPAN, s);
		}
	} else if (SL_ANCHOR_STATE(old) == SL_ANCHOR_UNLISTED) {
		SL_TEST_PARK(SL_PARK_CENTRAL_LIST);
		sl_sync_stack_push(&c->partial_stack, &s->plink);
	}
}

/* Objects back to their spans, each run of consecutive objects of one span (a batch
 * mostly holds such runs) with one CAS. */
void sl_mcentral_give_list(sl_mcentral *c, void *head)
{
	uint64_t total = 0;
	while (head) {
		sl_span *s = sl_span_of(head);
		void *last = head, *next;
		uint32_t n = 1;
		/* Objects of the list are valid: "of this span" is the range test. */
		while ((next = sl_link_get(last)) && (uintptr_t)next - s->base < (uintptr_t)c->nelems * c->elemsize) {
			last = next;
			n++;
		}
		sl_central_give(c, s, head, last, n);
		total += n;
		head = next;
	}
	__atomic_fetch_add(&c->span_free, total, __ATOMIC_RELAXED);
}
#endif

void sl_mcentral_drain(sl_mcentral *c)
{
	sl_batch *b;
	while ((b = sl_mcentral_pop_batch(c))) {
		sl_mcentral_give_list(c, b->head);
		b->head = NULL;
		sl_mcentral_spare_push(c, b);
	}
}

void sl_mcentral_prefork(sl_mcentral *c)
{
	sl_sync_lock(&c->lock);
	sl_sync_stack_prefork(&c->full);
	sl_sync_stack_prefork(&c->spare);
}

void sl_mcentral_postfork_parent(sl_mcentral *c)
{
	sl_sync_stack_postfork_parent(&c->spare);
	sl_sync_stack_postfork_parent(&c->full);
	sl_sync_unlock(&c->lock);
}

void sl_mcentral_postfork_child(sl_mcentral *c)
{
	sl_sync_stack_postfork_child(&c->spare);
	sl_sync_stack_postfork_child(&c->full);
	sl_sync_lock_reinit(&c->lock);
}

#if SL_FE_SPAN_BITMAPS
/*
 * ---- Span bitmaps ----
 *
 * The remote-free word s->xfree (encoding in core/spanbits.h) carries the span's state
 * and is changed only by compare-and-swap or exchange:
 *
 *   OWNED            a cache owns the span (as its current span or on its owned list).
 *                    Other threads push freed objects on the list (one CAS); the owner
 *                    takes the whole list with one exchange when it needs slots (it has
 *                    scanned every word of its current span, or looks for another owned
 *                    span to allocate from), and merges it.
 *   in mcentral      the count field holds the objects in use. A pusher decrements it
 *                    with the same CAS that links the object. LISTED says the span is on
 *                    the partial list; a span goes back listed only with at least
 *                    sl_sb_list_min free slots (SPANLAB_BITMAP_RELIST, core/spanbits.h),
 *                    and a pusher whose free brings an unlisted span to that many takes
 *                    the mcentral's lock *before* its CAS and lists the span (so a span
 *                    that went back full becomes reusable once that share of it is
 *                    free, while the other pushes take no lock). The pusher whose CAS
 *                    takes the count to zero also sets DYING and releases the span to
 *                    the mheap under the lock; a DYING span is never cached again.
 *
 * Every transition that can release a span happens under the mcentral's lock after a
 * CAS that exactly one thread wins, so no thread touches a released span. Spans taken
 * from mcentral merge their pending list into the bitmap under the lock.
 */

uint64_t sl_sb_merged; /* statistics (relaxed atomic adds) */

SL_NOINLINE void sl_sb_double_free(const void *p, const sl_span *s)
{
	sl_fatal("free(): double free or invalid pointer %p (size class %u, %u bytes)", p, s->sizeclass,
		 s->elemsize);
}

/* The link word of an object on a remote-free list: XORed with the link key from 16
 * bytes up (word 1 holds the mark; sl_link_get in core/internal.h), with the free key in
 * 8-byte objects (word 0 is also the mark). Either key makes a link the program
 * overwrote after the free decode misaligned (the free key is odd, the link key's low
 * bits are 100), and the decode then aborts naming the object. */
static inline void sl_sb_link_set(const sl_span *s, void *p, uintptr_t next)
{
	*(uintptr_t *)p = next ^ (s->keyoff ? sl_link_key : sl_free_key);
}

static inline void *sl_sb_link_get(const sl_span *s, const void *p)
{
	return sl_link_decode(p, s->keyoff ? sl_link_key : sl_free_key);
}

/* Span s goes back to the mheap: no object of it may keep the mark (a large object or
 * a span of another class made of these pages would otherwise carry a stale one). */
static void sl_sb_clear_marks(sl_span *s)
{
	for (uintptr_t p = s->base; p < s->base + s->limit; p += s->elemsize)
		if (sl_sb_maybe_marked(s, (void *)p))
			sl_sb_unmark(s, (void *)p);
}

/* Bitmaps of new and released spans (the mcentral's lock held). */

static size_t sl_sb_meta_size(const sl_mcentral *ct)
{
	size_t n = (size_t)(ct->nelems + 63) / 64 * sizeof(uint64_t);
	if (SL_FE_TINY_MAX && ct->elemsize == 16)
		n += (size_t)ct->nelems * sizeof(uint16_t);
	return n;
}

/* Gives new SMALL span s its bitmap (every slot free), from the class's spare ones or
 * the metadata allocator (never malloc). */
static bool sl_sb_span_init(sl_mcentral *ct, sl_span *s)
{
	if (ct->nelems >= 65536 || ct->elemsize % 8)
		sl_fatal("bitmap front end: size class %u (%u bytes, %u per span) is not supported", ct->sizeclass,
			 ct->elemsize, ct->nelems);
	size_t size = sl_sb_meta_size(ct);
	void *m = ct->fe_spare;
	if (m)
		ct->fe_spare = *(void **)m;
	else if (!(m = sl_meta_alloc(size)))
		return false;
	memset(m, 0, size);
	uint64_t *bits = m;
	uint32_t nw = sl_sb_nwords(s);
	for (uint32_t w = 0; w < nw; w++)
		bits[w] = ~(uint64_t)0;
	if (s->nelems % 64)
		bits[nw - 1] = ((uint64_t)1 << (s->nelems % 64)) - 1;
	s->freebits = bits;
	s->tinywords = NULL; /* `tiny` sets it when the span first holds tiny blocks (sl_sb_tiny_mark) */
	atomic_store_explicit(&s->xfree, SL_XF_LISTED, memory_order_relaxed); /* on partial, none in use */
	return true;
}

/* A new span on the partial list, with its bitmap; NULL when memory is exhausted. */
static sl_span *sl_sb_grow(sl_mcentral *ct)
{
	sl_span *s = sl_mcentral_grow(ct);
	if (s && !sl_sb_span_init(ct, s)) {
		sl_partial_remove(ct, s);
		ct->nspans--;
		sl_mheap_free(ct->heap, s);
		s = NULL;
	}
	return s;
}

/* Span s has no object in use and nobody can reach it any more: back to the mheap. */
static void sl_sb_release(sl_mcentral *ct, sl_span *s)
{
	if (s->partial)
		sl_partial_remove(ct, s);
	ct->nspans--;
	sl_sb_clear_marks(s);
	*(void **)s->freebits = ct->fe_spare;
	ct->fe_spare = s->freebits;
	s->freebits = NULL;
	s->tinywords = NULL;
	atomic_store_explicit(&s->xfree, 0, memory_order_relaxed);
	sl_mheap_free(ct->heap, s);
}

uint32_t sl_sb_merge(sl_span *s, void *list)
{
	uint64_t n = 0;
	const void *prev = NULL;
	while (list) {
		/* A decoded link that is no object of this span was overwritten (the first
		 * object comes from the remote-free word). */
		if (!sl_span_is_object(s, list))
			sl_link_corrupt(prev ? prev : list);
		uint32_t idx = sl_sb_index(s, list);
		uint64_t bit = (uint64_t)1 << (idx & 63);
		if (s->freebits[idx >> 6] & bit)
			sl_sb_double_free(list, s);
		s->freebits[idx >> 6] |= bit;
		n++;
		prev = list;
		list = sl_sb_link_get(s, list);
	}
	if (n)
		__atomic_fetch_add(&sl_sb_merged, n, __ATOMIC_RELAXED);
	return (uint32_t)n;
}

/* Takes a span with free slots from mcentral (or a new one) for the cache entry owner. */
sl_span *sl_mcentral_cache_span(sl_mcentral *ct, void *owner)
{
	sl_sync_lock(&ct->lock);
	sl_span *s;
	for (;;) {
		if (!(s = ct->partial) && !(s = sl_sb_grow(ct)))
			break;
		sl_partial_remove(ct, s);
		uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire);
		while (!(x & SL_XF_DYING) &&
		       !atomic_compare_exchange_weak_explicit(&s->xfree, &x, SL_XF_OWNED, memory_order_acq_rel,
							      memory_order_acquire))
			;
		if (x & SL_XF_DYING)
			continue; /* its last free is releasing it */
		sl_sb_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		__atomic_store_n(&s->fe_owner, owner, __ATOMIC_RELAXED);
		break;
	}
	sl_sync_unlock(&ct->lock);
	return s;
}

void sl_mcentral_uncache_span(sl_span *s)
{
	__atomic_store_n(&s->fe_owner, NULL, __ATOMIC_RELAXED);
	sl_mcentral *ct = &s->heap->central[s->sizeclass];
	sl_sync_lock(&ct->lock);
	for (;;) {
		uint64_t x = atomic_exchange_explicit(&s->xfree, SL_XF_OWNED, memory_order_acq_rel);
		sl_sb_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		uint32_t nfree = sl_sb_popcount(s);
		if (nfree == s->nelems) {
			sl_sb_release(ct, s); /* nothing in use: nobody can push */
			break;
		}
		bool list = nfree >= sl_sb_list_min(s);
		uint64_t want = (uint64_t)(s->nelems - nfree) << 48 | (list ? SL_XF_LISTED : 0);
		uint64_t expect = SL_XF_OWNED;
		if (atomic_compare_exchange_strong_explicit(&s->xfree, &expect, want, memory_order_acq_rel,
							    memory_order_acquire)) {
			s->nfree = nfree;
			if (list)
				sl_partial_push(ct, s);
			break;
		}
		/* A remote free arrived meanwhile: merge it too. */
	}
	sl_sync_unlock(&ct->lock);
}

void sl_mcentral_free_remote(sl_span *s, void *p)
{
	sl_mcentral *ct = &s->heap->central[s->sizeclass];
	bool locked = false;
	if (s->keyoff)
		sl_sb_mark(s, p); /* 8-byte objects: the encoded link below is the mark */
	uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire), nx;
	for (;;) {
		if (x & SL_XF_OWNED) {
			sl_sb_link_set(s, p, (uintptr_t)(x & SL_XF_PTRMASK));
			nx = (uintptr_t)p | SL_XF_OWNED;
		} else {
			if ((x & SL_XF_DYING) || (x >> 48) == 0) {
				if (locked)
					sl_sync_unlock(&ct->lock);
				sl_sb_double_free(p, s); /* nothing of s is in use */
			}
			/* Free slots once this free is in: enough to list the span? */
			bool list = (x & SL_XF_LISTED) || s->nelems - ((x >> 48) - 1) >= sl_sb_list_min(s);
			if (list && !(x & SL_XF_LISTED) && !locked) {
				sl_sync_lock(&ct->lock);
				locked = true;
				x = atomic_load_explicit(&s->xfree, memory_order_acquire);
				continue;
			}
			sl_sb_link_set(s, p, (uintptr_t)(x & SL_XF_PTRMASK));
			nx = ((x & ~SL_XF_PTRMASK) - SL_XF_ONE) | (uintptr_t)p | (list ? SL_XF_LISTED : 0);
			if ((nx >> 48) == 0)
				nx |= SL_XF_DYING;
		}
		if (atomic_compare_exchange_weak_explicit(&s->xfree, &x, nx, memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	if (!(nx & SL_XF_OWNED) && ((!(x & SL_XF_LISTED) && (nx & SL_XF_LISTED)) || (nx & SL_XF_DYING))) {
		if (!locked) {
			sl_sync_lock(&ct->lock);
			locked = true;
		}
		if (nx & SL_XF_DYING) {
			/* The last object: merge (catches a double free that made the count reach
			 * zero early) and release. */
			uint64_t list = atomic_exchange_explicit(&s->xfree, SL_XF_DYING, memory_order_acq_rel);
			sl_sb_merge(s, (void *)(uintptr_t)(list & SL_XF_PTRMASK));
			sl_sb_release(ct, s);
		} else if (!s->partial) {
			sl_partial_push(ct, s);
		}
	}
	if (locked)
		sl_sync_unlock(&ct->lock);
}

/* For a thread without a cache (initialising, or after its cache was torn down at
 * exit). */
void *sl_mcentral_alloc_object(sl_mcentral *ct)
{
	void *p = NULL;
	sl_sync_lock(&ct->lock);
	for (;;) {
		sl_span *s = ct->partial;
		if (!s && !(s = sl_sb_grow(ct)))
			break;
		/* Reserve one object (count + 1: no free can now take the count to zero) and
		 * take the pending list. */
		uint64_t x = atomic_load_explicit(&s->xfree, memory_order_acquire);
		while (!(x & SL_XF_DYING) &&
		       !atomic_compare_exchange_weak_explicit(&s->xfree, &x, (x & ~SL_XF_PTRMASK) + SL_XF_ONE,
							      memory_order_acq_rel, memory_order_acquire))
			;
		if (x & SL_XF_DYING) {
			sl_partial_remove(ct, s);
			continue;
		}
		sl_sb_merge(s, (void *)(uintptr_t)(x & SL_XF_PTRMASK));
		uint32_t nw = sl_sb_nwords(s), w = 0;
		while (w < nw && !s->freebits[w])
			w++;
		if (w == nw)
			sl_fatal("bitmap front end: span %p of class %u is listed without a free slot", (void *)s->base,
				 ct->sizeclass);
		uint32_t i = (uint32_t)__builtin_ctzll(s->freebits[w]);
		s->freebits[w] &= s->freebits[w] - 1;
		p = (void *)(s->base + ((uintptr_t)w * 64 + i) * s->elemsize);
		sl_sb_unmark(s, p);
		if (!sl_sb_popcount(s)) {
			/* Full: off the partial list unless a remote free is pending. */
			x = atomic_load_explicit(&s->xfree, memory_order_acquire);
			while (!(x & SL_XF_PTRMASK)) {
				if (atomic_compare_exchange_weak_explicit(&s->xfree, &x, x & ~SL_XF_LISTED,
									  memory_order_acq_rel, memory_order_acquire)) {
					sl_partial_remove(ct, s);
					break;
				}
			}
		}
		break;
	}
	sl_sync_unlock(&ct->lock);
	return p;
}

#endif
