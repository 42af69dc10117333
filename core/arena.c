/*
 * core/arena.c — system memory, the engine's own metadata allocators, arena reservation
 * and the page map. See malloc.c for the overview.
 *
 * Nothing here calls malloc: metadata comes from mmap directly, so the engine can
 * initialise while the C library, hwloc or liburcu allocate through it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/*
 * The page map, level 1: one entry per 64 MiB arena of the 48-bit address space (4 Mi
 * entries, 32 MiB of .bss that the kernel maps lazily: only the entries of arenas in
 * use are ever touched). Entries are written under the owning mheap's lock when an
 * arena is reserved, and read without a lock by free().
 */
sl_arena *_Atomic sl_arena_map[SL_ARENA_MAP_SIZE];

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
		size_t chunk = size > ((size_t)1 << 20) ? size : ((size_t)1 << 20);
		void *p = sl_sys_map(chunk);
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

/* ---- Arenas ---- */

/*
 * Reserves `size` bytes (a multiple of SL_ARENA_SIZE) of address space aligned to
 * SL_ARENA_SIZE with PROT_NONE, makes the first `commit` bytes usable, binds it to
 * `node`, and registers an sl_arena (the second level of the page map) for each 64 MiB
 * of it. If the commit fails (the OS will not back that much), nothing is kept.
 * Caller holds the mheap's lock.
 */
bool sl_arena_reserve(size_t size, size_t commit, unsigned node, uintptr_t *base)
{
	size_t span = size + SL_ARENA_SIZE;
	if (span < size)
		return false;
	/* No MAP_NORESERVE: a PROT_NONE reservation costs no commit charge anyway, and
	 * without the flag sl_sys_commit's mprotect is charged like any writable private
	 * mapping, so the kernel's overcommit policy refuses sizes the machine cannot back
	 * (malloc then fails with ENOMEM, as glibc's does) instead of granting them. */
	void *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	uintptr_t raw = (uintptr_t)p;
	uintptr_t aligned = (raw + SL_ARENA_SIZE - 1) & ~(uintptr_t)(SL_ARENA_SIZE - 1);
	if (aligned > raw)
		munmap(p, aligned - raw);
	if (raw + span > aligned + size)
		munmap((void *)(aligned + size), raw + span - (aligned + size));
	if (((aligned + size - 1) >> SL_ADDR_BITS) || !sl_sys_commit(aligned, commit)) {
		munmap((void *)aligned, size);
		return false;
	}
	sl_numa_bind((void *)aligned, size, node);
	for (uintptr_t a = aligned; a < aligned + size; a += SL_ARENA_SIZE) {
		sl_arena *ar = sl_meta_alloc(sizeof(sl_arena));
		if (!ar)
			sl_fatal("out of memory for arena metadata");
		atomic_store_explicit(&sl_arena_map[a >> SL_ARENA_SHIFT], ar, memory_order_release);
	}
	*base = aligned;
	return true;
}

/* Makes [addr, addr+size) of a reserved arena readable and writable. */
bool sl_sys_commit(uintptr_t addr, size_t size)
{
	return mprotect((void *)addr, size, PROT_READ | PROT_WRITE) == 0;
}

/* Maps every page of [base, base + npages pages) to s (NULL to clear). mheap.lock held. */
void sl_pagemap_set(uintptr_t base, size_t npages, sl_span *s)
{
	uintptr_t a = base;
	for (size_t i = 0; i < npages;) {
		sl_arena *ar = atomic_load_explicit(&sl_arena_map[a >> SL_ARENA_SHIFT], memory_order_relaxed);
		size_t first = (a >> SL_PAGE_SHIFT) & (SL_ARENA_PAGES - 1);
		size_t n = SL_ARENA_PAGES - first;
		if (n > npages - i)
			n = npages - i;
		for (size_t j = 0; j < n; j++)
			atomic_store_explicit(&ar->spans[first + j], s, memory_order_relaxed);
		i += n;
		a += n << SL_PAGE_SHIFT;
	}
}
