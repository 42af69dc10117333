/*
 * core/frontend/percpu/transfer.c — the transfer cache, between the per-CPU caches
 * (front end `percpu`) and mcentral. See core/malloc.c for the overview.
 *
 * One per heap and size class: an array of up to `cap` pointers to free objects, under
 * the central-sync policy's lock. A CPU cache that overflows inserts the objects it
 * evicts (a batch or less) with one copy of pointers; one that runs empty removes up
 * to a batch the same way. Only when the array is full (insert) or empty (remove) do
 * objects go to or come from mcentral: its stack of full batches or its spans.
 *
 * How it differs from mcentral's stack of full batches (which `freelist` uses):
 *   - layout: pointers in an array. Moving n objects in or out copies n words of the
 *     array and never touches the objects; a batch on mcentral's stack is a list
 *     linked through the objects' first words, so building one writes every object and
 *     taking one apart reads every object (a cache miss each, for objects that went
 *     cold in another CPU's cache). The CPU caches are arrays too.
 *   - partial batches: any count up to the room left is accepted, and a remove returns
 *     what there is; mcentral's stack takes exactly `batch` objects, anything else
 *     goes back to the spans under the central lock.
 *   - capacity: SPANLAB_TRANSFER_BATCHES batches per class (16 by default: 512
 *     objects of the small classes, 32 of the 32 KiB one: at most 16 * 64 KiB = 1 MiB
 *     per class), against mcentral's 256 KiB of full batches per class.
 *   - locality: LIFO, so the objects freed last (warm in some CPU's cache) are handed
 *     out first.
 * The slot array (cap * 8 bytes) comes from sl_meta_alloc on first insert, and stays.
 *
 * Only `percpu` uses it. `freelist` keeps its objects in lists linked through the
 * objects, so an array between it and mcentral would cost it a write (flush) or a read
 * (refill) of every object, the cost the array saves; a list moves to and from
 * mcentral's stack in O(1) as it is.
 */
#include "../../internal.h"
#include "transfer.h"

static sl_transfer sl_transfers[SL_NUMA_MAX_NODES][SL_NUM_CLASSES];

void sl_transfer_init(void)
{
	for (unsigned i = 0; i < SL_NUMA_MAX_NODES; i++)
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
			sl_transfer *t = &sl_transfers[i][cls];
			sl_sync_lock_init(&t->lock);
			t->cap = SPANLAB_TRANSFER_BATCHES * sl_classes[cls].batch;
			t->elemsize = sl_classes[cls].size;
		}
}

static sl_transfer *sl_transfer_of(sl_mheap *h, uint32_t cls) { return &sl_transfers[h - sl_heaps][cls]; }

uint32_t sl_transfer_insert(sl_mheap *h, uint32_t cls, void *const *objs, uint32_t n)
{
	sl_transfer *t = sl_transfer_of(h, cls);
	if (SPANLAB_TRANSFER_BATCHES == 0 || t->nomem)
		return 0;
	sl_sync_lock(&t->lock);
	if (!t->slots && !t->nomem) {
		t->slots = sl_meta_alloc((size_t)t->cap * sizeof(void *));
		t->nomem = t->slots == NULL;
	}
	uint32_t k = 0;
	if (t->slots) {
		k = t->cap - t->count < n ? t->cap - t->count : n;
		for (uint32_t i = 0; i < k; i++)
			t->slots[t->count + i] = objs[n - k + i];
		__atomic_store_n(&t->count, t->count + k, __ATOMIC_RELAXED);
	}
	sl_sync_unlock(&t->lock);
	return k;
}

uint32_t sl_transfer_remove(sl_mheap *h, uint32_t cls, void **objs, uint32_t n)
{
	sl_transfer *t = sl_transfer_of(h, cls);
	if (SPANLAB_TRANSFER_BATCHES == 0 || __atomic_load_n(&t->count, __ATOMIC_RELAXED) == 0)
		return 0; /* a racy peek: an empty cache is not worth the lock */
	sl_sync_lock(&t->lock);
	uint32_t k = t->count < n ? t->count : n;
	for (uint32_t i = 0; i < k; i++)
		objs[i] = t->slots[t->count - k + i];
	__atomic_store_n(&t->count, t->count - k, __ATOMIC_RELAXED);
	sl_sync_unlock(&t->lock);
	return k;
}

void sl_transfer_drain_all(void)
{
	void *objs[64];
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
			uint32_t k;
			while ((k = sl_transfer_remove(&sl_heaps[i], cls, objs, 64))) {
				for (uint32_t j = 0; j < k; j++)
					sl_link_set(objs[j], j + 1 < k ? objs[j + 1] : NULL);
				sl_mcentral_give_list(&sl_heaps[i].central[cls], objs[0]);
			}
		}
}

uint64_t sl_transfer_bytes(void)
{
	uint64_t bytes = 0;
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
			sl_transfer *t = &sl_transfers[i][cls];
			bytes += (uint64_t)__atomic_load_n(&t->count, __ATOMIC_RELAXED) * t->elemsize;
		}
	return bytes;
}

/* A thread that held a lock at fork time does not exist in the child. The count is
 * stored after the copy (insert) and the copy out precedes it (remove), so the child
 * sees a consistent array: at worst objects the vanished thread was moving are lost
 * to it, as with TCMalloc. */
void sl_transfer_postfork_child(void)
{
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++)
			sl_sync_lock_reinit(&sl_transfers[i][cls].lock);
}
