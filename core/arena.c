/*
 * core/arena.c — system memory and the engine's own metadata allocators. Address
 * space and the page map are in pagemap.c. See malloc.c for the overview.
 *
 * Nothing here calls malloc: metadata comes from mmap directly, so the engine can
 * initialise while the C library, hwloc or liburcu allocate through it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include <ck_stack.h>

#include "internal.h"

static atomic_uint_fast64_t sl_meta_bytes; /* everything mapped for metadata */

void *sl_sys_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

uint64_t sl_meta_sys_bytes(void) { return atomic_load_explicit(&sl_meta_bytes, memory_order_relaxed); }

/*
 * ---- Persistent metadata: a lock-free bump allocator over 1 MiB chunks, never freed ----
 *
 * The current chunk is one atomic pointer; a chunk starts with its own fill counter.
 * An allocation is one fetch-and-add on that counter (wait-free while the chunk has
 * room; a request that overshoots wastes the chunk's tail). A thread that finds the
 * chunk full maps a new one, takes its first bytes for itself and installs it with one
 * CAS; a thread that loses the race unmaps its chunk and retries in the winner's.
 * Progress: lock-free (a failed CAS means another thread installed a chunk); the mmap
 * system call is the only wait. Requests above a sixteenth of a chunk get their own
 * mapping. Nothing here is ever unmapped once handed out, so stale readers of
 * metadata (span descriptors, batches, caches) read mapped memory.
 */

#define SL_META_CHUNK ((size_t)1 << 20) /* requests above SL_META_CHUNK / 16 get their own mapping */
#define SL_META_ALIGN 64

typedef struct sl_meta_chunk {
	atomic_size_t used; /* bytes handed out, header included (may overshoot size) */
	size_t size;
} sl_meta_chunk;

static sl_meta_chunk *_Atomic sl_meta_cur; /* the chunk allocations bump in */

void *sl_meta_alloc(size_t size)
{
	size = (size + SL_META_ALIGN - 1) & ~(size_t)(SL_META_ALIGN - 1);
	if (size > SL_META_CHUNK / 16 - SL_META_ALIGN) {
		size_t bytes = (size + 4095) & ~(size_t)4095;
		void *p = bytes >= size ? sl_sys_map(bytes) : NULL;
		if (p)
			atomic_fetch_add_explicit(&sl_meta_bytes, bytes, memory_order_relaxed);
		return p;
	}
	for (;;) {
		sl_meta_chunk *ch = atomic_load_explicit(&sl_meta_cur, memory_order_acquire);
		if (ch) {
			size_t off = atomic_fetch_add_explicit(&ch->used, size, memory_order_relaxed);
			if (off + size <= ch->size)
				return (char *)ch + off; /* fresh mmap memory: already zero */
		}
		SL_TEST_PARK(SL_PARK_META);
		/* A 1 MiB chunk; when the address space is nearly exhausted, 64 KiB (the
		 * remainder of the old chunk is left unused). */
		size_t chunk = SL_META_CHUNK;
		sl_meta_chunk *fresh = sl_sys_map(chunk);
		if (!fresh)
			fresh = sl_sys_map(chunk = SL_META_CHUNK / 16);
		if (!fresh)
			return NULL;
		fresh->size = chunk;
		atomic_init(&fresh->used, SL_META_ALIGN + size);
		if (atomic_compare_exchange_strong_explicit(&sl_meta_cur, &ch, fresh, memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add_explicit(&sl_meta_bytes, chunk, memory_order_relaxed);
			return (char *)fresh + SL_META_ALIGN;
		}
		munmap(fresh, chunk);
	}
}

/*
 * ---- Fixed-size allocators for spans, batches and caches ----
 *
 * One lock-free stack of free objects per kind: Concurrency Kit's Treiber stack whose
 * pop swaps (head, generation) with one double-width CAS, so a popper whose snapshot
 * (A, A->next) went stale because A was popped, reused and pushed again fails instead
 * of installing a stale next (ABA). A free object's first word is the stack link; a
 * stale popper may read it after the object was handed out and zeroed: harmless, the
 * memory stays mapped (metadata is never unmapped) and its CAS fails.
 * Progress: get and put are lock-free; get falls back to sl_meta_alloc.
 */

static const size_t sl_fix_size[SL_FIX_KINDS] = {
	[SL_FIX_SPAN] = sizeof(sl_span),
	[SL_FIX_BATCH] = sizeof(sl_batch),
	[SL_FIX_MCACHE] = sizeof(sl_mcache),
};
static ck_stack_t sl_fix_free[SL_FIX_KINDS] __attribute__((aligned(16)));

_Static_assert(sizeof(sl_span) >= sizeof(ck_stack_entry_t) && sizeof(sl_batch) >= sizeof(ck_stack_entry_t),
	       "a free object holds the stack link");

/* A negative control's pop (SL_BROKEN_FIXALLOC): compares the head pointer alone, with
 * a yield between reading (head, head->next) and the CAS; ABA-unsafe. */
static ck_stack_entry_t *sl_fix_pop_broken(ck_stack_t *st)
{
	ck_stack_entry_t *top = ck_pr_load_ptr(&st->head), *next;
	do {
		if (!top)
			return NULL;
		next = ck_pr_load_ptr(&top->next);
		sched_yield();
	} while (!ck_pr_cas_ptr_value(&st->head, top, next, &top));
	return top;
}

void *sl_fixalloc_get(int kind)
{
	ck_stack_entry_t *e = SL_TEST_BROKEN(SL_BROKEN_FIXALLOC) ? sl_fix_pop_broken(&sl_fix_free[kind])
								: ck_stack_pop_mpmc(&sl_fix_free[kind]);
	if (e) {
		memset(e, 0, sl_fix_size[kind]);
		return e;
	}
	return sl_meta_alloc(sl_fix_size[kind]);
}

void sl_fixalloc_put(int kind, void *obj)
{
	ck_stack_push_mpmc(&sl_fix_free[kind], obj);
}

/* Nothing to quiesce: every operation above is one atomic instruction at its commit
 * point, so the child of fork() sees consistent lists (a chunk mapped but not yet
 * installed by another thread is lost to the child, as that thread is). */
void sl_meta_prefork(void) {}
void sl_meta_postfork_parent(void) {}
void sl_meta_postfork_child(void) {}
