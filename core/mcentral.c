/*
 * core/mcentral.c — one central list per size class (per mheap). See malloc.c for the
 * overview and policies/sync/README.md for what the sync policy guards.
 *
 * Objects move between thread caches and an mcentral in batches of `batch` objects
 * (TCMalloc's num_objects_to_move: 64 KiB worth, between 2 and 32). Full batches sit on
 * a stack and move in O(1) through the sync policy; only when that stack is empty (on
 * refill) or full (on flush) does a cache reach the spans, under the central's lock.
 * A span whose every object has come back is returned to the mheap at once.
 */
#include <string.h>

#include "internal.h"

#define SL_CENTRAL_FULL_BYTES ((size_t)256 << 10) /* full batches kept per class */

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
	c->nelems = (uint32_t)((c->npages << SL_PAGE_SHIFT) / c->elemsize);
	c->batch = sl_classes[sizeclass].batch;
	size_t per = (size_t)c->batch * c->elemsize;
	c->max_full = (uint32_t)(SL_CENTRAL_FULL_BYTES / per > 16 ? SL_CENTRAL_FULL_BYTES / per : 16);
	c->heap = h;
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
	s->prev = NULL;
	s->next = c->partial;
	if (c->partial)
		c->partial->prev = s;
	c->partial = s;
	s->partial = 1;
}

void sl_partial_remove(sl_mcentral *c, sl_span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->partial = 0;
}

sl_span *sl_mcentral_grow(sl_mcentral *c)
{
	sl_span *s = sl_mheap_alloc(c->heap, c->npages, 0, false);
	if (!s)
		return NULL;
	s->sizeclass = (uint8_t)c->sizeclass;
	s->elemsize = c->elemsize;
	s->nelems = c->nelems;
	s->keyoff = SL_KEY_OFFSET(c->elemsize);
	s->limit = c->nelems * c->elemsize;
	s->divmagic = UINT64_MAX / c->elemsize + 1;
	s->freelist = NULL;
	s->carve = s->base;
	s->nfree = c->nelems;
	__atomic_store_n(&s->state, SL_SPAN_SMALL, __ATOMIC_RELEASE);
	c->nspans++;
	sl_partial_push(c, s);
	return s;
}

uint32_t sl_mcentral_take(sl_mcentral *c, uint32_t want, void **head)
{
	void *list = NULL;
	uint32_t n = 0;
	sl_sync_lock(&c->lock);
	while (n < want) {
		sl_span *s = c->partial;
		if (!s && !(s = sl_mcentral_grow(c)))
			break;
		while (n < want && s->nfree) {
			void *obj = s->freelist;
			if (obj) {
				s->freelist = *(void **)obj;
			} else {
				obj = (void *)s->carve;
				s->carve += c->elemsize;
			}
			s->nfree--;
			*(void **)obj = list;
			list = obj;
			n++;
		}
		if (!s->nfree)
			sl_partial_remove(c, s);
	}
	sl_sync_unlock(&c->lock);
	*head = list;
	return n;
}

/* The span is about to go back to the page heap: clears the free key in every object
 * ever carved from it, so that the key is found only in freed objects of live spans and
 * never in the pages a large object or a span of another class makes of these (a
 * realloc from such a large object to a small one would otherwise copy a stale key
 * into a live object, and its free would abort as a double free; core/malloc.c). */
static void sl_span_clear_keys(sl_span *s)
{
	if (s->keyoff)
		for (uintptr_t p = s->base; p < s->carve; p += s->elemsize)
			*(void **)(p + s->keyoff) = NULL;
}

static void sl_mcentral_give_locked(sl_mcentral *c, void *obj)
{
	sl_span *s = sl_span_of(obj);
	*(void **)obj = s->freelist;
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
		void *next = *(void **)head;
		sl_mcentral_give_locked(c, head);
		head = next;
	}
	sl_sync_unlock(&c->lock);
}

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
