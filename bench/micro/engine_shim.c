/*
 * bench/micro/engine_shim.c — see engine_shim.h. Compiled per variant with
 * spanlab_configure_engine(), linked with that variant's static library. Memory for the
 * benchmark's own objects (a private central, its batch nodes) comes from the system
 * allocator: the static library defines only the spanlab_ names.
 */
#include <stdlib.h>

#include "../../core/internal.h"
#include "engine_shim.h"

struct slb_central {
	sl_mcentral central; /* first: aligned like the engine's own */
	uint32_t nbatches;
};

void slb_engine_init(void) { spanlab_free(spanlab_malloc(1)); }

uint32_t slb_num_classes(void) { return SL_NUM_CLASSES; }

uint64_t slb_size_to_class_many(const size_t *sizes, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += sl_sc_size_to_class(sizes[i]);
	return sum;
}

uint32_t slb_class_batch(size_t size) { return sl_classes[sl_sc_size_to_class(size)].batch; }
uint32_t slb_class_cache_cap(size_t size) { return sl_classes[sl_sc_size_to_class(size)].cache_cap; }

slb_central *slb_central_new(size_t size)
{
	slb_engine_init(); /* sl_classes[] and heap 0 must exist */
	slb_central *c = aligned_alloc(SL_CACHELINE, (sizeof *c + SL_CACHELINE - 1) & ~(size_t)(SL_CACHELINE - 1));
	if (!c)
		abort();
	sl_mcentral_init(&c->central, &sl_heaps[0], sl_sc_size_to_class(size));
	c->nbatches = c->central.max_full;
	for (uint32_t i = 0; i < c->nbatches; i++) {
		sl_batch *b = calloc(1, sizeof *b);
		if (!b)
			abort();
		b->count = c->central.batch;
		/* The stack never follows head; a non-NULL one keeps SPANLAB_DEBUG's check
		 * that a full batch holds objects true. */
		b->head = &c->nbatches;
		if (!sl_mcentral_push_batch(&c->central, b))
			abort();
	}
	return c;
}

uint32_t slb_central_batches(const slb_central *c) { return c->nbatches; }

int slb_central_cycle(slb_central *c)
{
	sl_batch *b = sl_mcentral_pop_batch(&c->central);
	if (!b)
		return 0;
	/* Exactly max_full batches exist and this thread holds one, so nfull (which counts
	 * stacked batches and pushes in flight) is below max_full: the push has room. */
	if (!sl_mcentral_push_batch(&c->central, b))
		abort();
	return 1;
}

void *slb_mheap_alloc(size_t npages) { return sl_mheap_alloc(&sl_heaps[0], npages, 0, true); }

void slb_mheap_free(void *span)
{
	sl_span *s = span;
	sl_mheap_free(s->heap, s);
}
