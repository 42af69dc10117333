/*
 * core/frontend/percpu/transfer.h — the transfer cache (TCMalloc's): per heap and size
 * class, a bounded array of free-object pointers between the CPU caches and mcentral.
 * See transfer.c for the design and sizing, core/malloc.c for the overview.
 */
#ifndef SPANLAB_FE_PERCPU_TRANSFER_H
#define SPANLAB_FE_PERCPU_TRANSFER_H

/* Capacity of one class's transfer cache, in batches of the class (`batch` objects
 * each); 0 turns the transfer cache off. A build-time knob (README.md). */
#ifndef SPANLAB_TRANSFER_BATCHES
#define SPANLAB_TRANSFER_BATCHES 16
#endif

typedef struct sl_transfer {
	sl_sync_lock_t lock; /* the central-sync policy's lock: guards everything below */
	void **slots;	     /* `cap` object pointers, allocated on first insert; NULL before */
	uint32_t count;	     /* objects in slots[0..count) (relaxed reads by statistics) */
	uint32_t cap;	     /* SPANLAB_TRANSFER_BATCHES * the class's batch */
	uint32_t elemsize;   /* the class's object size */
	bool nomem;	     /* the slot array could not be allocated: stays off */
} SL_ALIGNED_CL sl_transfer;

/* Once, at the front end's set-up (after the engine's initialisation). */
void sl_transfer_init(void);
/* Stores up to n objects of class cls of heap h from objs[0..n) (the last ones
 * first); returns how many it took (0 when full or off). */
uint32_t sl_transfer_insert(sl_mheap *h, uint32_t cls, void *const *objs, uint32_t n);
/* Moves up to n objects of class cls of heap h into objs[]; returns how many. */
uint32_t sl_transfer_remove(sl_mheap *h, uint32_t cls, void **objs, uint32_t n);
/* Every object held goes back to mcentral (malloc_trim). */
void sl_transfer_drain_all(void);
/* Statistics: bytes in objects held, in total. */
uint64_t sl_transfer_bytes(void);
/* In a fork child: the locks another thread may have held are made free. */
void sl_transfer_postfork_child(void);

#endif
