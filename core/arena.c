/*
 * core/arena.c — system memory and the engine's own metadata allocators. Address
 * space and the page map are in pagemap.c. See malloc.c for the overview.
 *
 * Nothing here calls malloc: metadata comes from mmap directly, so the engine can
 * initialise while the C library, hwloc or liburcu allocate through it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static atomic_uint_fast64_t sl_meta_bytes; /* everything mapped for metadata */

void *sl_sys_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

uint64_t sl_meta_sys_bytes(void) { return atomic_load_explicit(&sl_meta_bytes, memory_order_relaxed); }

/* ---- Persistent metadata: a bump allocator over 1 MiB chunks, never freed ---- */

static pthread_mutex_t sl_meta_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the state below */
static uintptr_t sl_meta_next, sl_meta_end;

static void *sl_meta_alloc_locked(size_t size)
{
	size = (size + 63) & ~(size_t)63;
	if (sl_meta_end - sl_meta_next < size) {
		/* A 1 MiB chunk; when the address space is nearly exhausted, 64 KiB, then just
		 * what is asked for (the remainder of the old chunk is left unused). */
		size_t chunk = size > ((size_t)1 << 20) ? size : ((size_t)1 << 20);
		void *p = sl_sys_map(chunk);
		if (!p && chunk > ((size_t)64 << 10) && size <= ((size_t)64 << 10))
			p = sl_sys_map(chunk = (size_t)64 << 10);
		if (!p && chunk > ((size + 4095) & ~(size_t)4095))
			p = sl_sys_map(chunk = (size + 4095) & ~(size_t)4095);
		if (!p)
			return NULL;
		atomic_fetch_add_explicit(&sl_meta_bytes, chunk, memory_order_relaxed);
		sl_meta_next = (uintptr_t)p;
		sl_meta_end = sl_meta_next + chunk;
	}
	void *r = (void *)sl_meta_next;
	sl_meta_next += size;
	return r; /* fresh mmap memory: already zero */
}

void *sl_meta_alloc(size_t size)
{
	pthread_mutex_lock(&sl_meta_lock);
	void *p = sl_meta_alloc_locked(size);
	pthread_mutex_unlock(&sl_meta_lock);
	return p;
}

/* ---- Fixed-size allocators for spans, batches and caches (sl_meta_lock) ---- */

typedef struct sl_fixfree {
	struct sl_fixfree *next;
} sl_fixfree;

static const size_t sl_fix_size[SL_FIX_KINDS] = {
	[SL_FIX_SPAN] = sizeof(sl_span),
	[SL_FIX_BATCH] = sizeof(sl_batch),
	[SL_FIX_MCACHE] = sizeof(sl_mcache),
};
static sl_fixfree *sl_fix_free[SL_FIX_KINDS];

void *sl_fixalloc_get(int kind)
{
	pthread_mutex_lock(&sl_meta_lock);
	sl_fixfree *f = sl_fix_free[kind];
	void *p;
	if (f) {
		sl_fix_free[kind] = f->next;
		p = f;
		memset(p, 0, sl_fix_size[kind]);
	} else {
		p = sl_meta_alloc_locked(sl_fix_size[kind]);
	}
	pthread_mutex_unlock(&sl_meta_lock);
	return p;
}

void sl_fixalloc_put(int kind, void *obj)
{
	pthread_mutex_lock(&sl_meta_lock);
	sl_fixfree *f = obj;
	f->next = sl_fix_free[kind];
	sl_fix_free[kind] = f;
	pthread_mutex_unlock(&sl_meta_lock);
}

void sl_meta_prefork(void) { pthread_mutex_lock(&sl_meta_lock); }
void sl_meta_postfork_parent(void) { pthread_mutex_unlock(&sl_meta_lock); }
void sl_meta_postfork_child(void) { pthread_mutex_init(&sl_meta_lock, NULL); }
