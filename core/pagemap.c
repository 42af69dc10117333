/*
 * core/pagemap.c — address space: reservations, commit, unmapping, and the sparse page
 * map (pointer -> span). See malloc.c ("Memory layout") for the overview.
 *
 * The page map is a two-level radix over the 48-bit address space: a static root of
 * SL_PM_ROOT entries (2 MiB of .bss, untouched but for the entries in use), each
 * pointing to the page table of one 1 GiB region (struct sl_pm_table: 131072 span
 * pointers, 1 MiB), built when the heap first reserves address space in the region.
 * A program that allocates 10 bytes pays 3 MiB of address space for it, not the 32
 * MiB a first level over 64 MiB regions would take (address space counts against
 * `ulimit -v` whether touched or not), and the free fast path still looks up a
 * pointer in two loads.
 *
 * Tables come from the metadata allocator, are never freed, and are published with a
 * compare-and-swap (the loser of a race keeps its table for the next region it needs):
 * covering a range takes no lock and never waits for another thread. Entries are
 * written by the page heap that owns the pages and read without a lock by free().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

sl_pm_table *_Atomic sl_pagemap_root[SL_PM_ROOT];

/* A table that lost a publication race, kept for the next region (metadata is never
 * freed). */
static sl_pm_table *_Atomic sl_pm_spare;

/* The page table of the region holding address a, created if need be; NULL when the
 * metadata allocator is out of memory. */
static sl_pm_table *sl_pm_table_of(uintptr_t a)
{
	sl_pm_table *_Atomic *slot = &sl_pagemap_root[a >> SL_PM_SHIFT];
	sl_pm_table *t = atomic_load_explicit(slot, memory_order_acquire);
	if (t)
		return t;
	sl_pm_table *n = atomic_exchange_explicit(&sl_pm_spare, NULL, memory_order_acquire);
	if (n)
		memset(n, 0, sizeof *n);
	else if (!(n = sl_meta_alloc(sizeof *n)))
		return NULL;
	if (atomic_compare_exchange_strong_explicit(slot, &t, n, memory_order_acq_rel, memory_order_acquire))
		return n;
	/* Another thread published one first. If a spare is already kept this one stays
	 * unused: the race that leaves one behind is rare. */
	sl_pm_table *expect = NULL;
	atomic_compare_exchange_strong_explicit(&sl_pm_spare, &expect, n, memory_order_release, memory_order_relaxed);
	return t;
}

bool sl_pagemap_cover(uintptr_t base, size_t size)
{
	uintptr_t end = base + size;
	for (uintptr_t a = base & ~(((uintptr_t)1 << SL_PM_SHIFT) - 1); a < end; a += (uintptr_t)1 << SL_PM_SHIFT)
		if (!sl_pm_table_of(a))
			return false;
	return true;
}

/* Maps every page of [base, base + npages pages) to s (NULL to clear). The range was
 * covered (sl_pagemap_cover) when it was reserved; the caller owns those pages. */
void sl_pagemap_set(uintptr_t base, size_t npages, sl_span *s)
{
	uintptr_t a = base;
	for (size_t i = 0; i < npages;) {
		sl_pm_table *t = atomic_load_explicit(&sl_pagemap_root[a >> SL_PM_SHIFT], memory_order_relaxed);
		size_t first = (a >> SL_PAGE_SHIFT) & (SL_PM_PAGES - 1);
		size_t n = SL_PM_PAGES - first;
		if (n > npages - i)
			n = npages - i;
		for (size_t j = 0; j < n; j++)
			atomic_store_explicit(&t->spans[first + j], s, memory_order_relaxed);
		i += n;
		a += n << SL_PAGE_SHIFT;
	}
}

/* ---- Address space ---- */

static atomic_uint_fast64_t sl_reserved_bytes; /* reserved and not yet unmapped */

uint64_t sl_sys_reserved_bytes(void)
{
	return atomic_load_explicit(&sl_reserved_bytes, memory_order_relaxed);
}

/*
 * Reserves `size` bytes (a multiple of SL_PAGE_SIZE) of address space aligned to
 * SL_PAGE_SIZE with PROT_NONE, binds it to NUMA node `node`, and covers it in the page
 * map. Exactly what is asked for (plus at most one OS page to align, given back at
 * once): a reservation counts against the address-space limit whether used or not.
 * On failure (no address space, or no metadata for the page map) nothing is kept.
 */
bool sl_sys_reserve(size_t size, unsigned node, uintptr_t *base)
{
	size_t os_page = 4096;
	size_t span = size + SL_PAGE_SIZE - os_page;
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
	uintptr_t aligned = (raw + SL_PAGE_SIZE - 1) & ~(uintptr_t)(SL_PAGE_SIZE - 1);
	if (aligned > raw)
		munmap(p, aligned - raw);
	if (raw + span > aligned + size)
		munmap((void *)(aligned + size), raw + span - (aligned + size));
	if (((aligned + size - 1) >> SL_ADDR_BITS) || !sl_pagemap_cover(aligned, size)) {
		munmap((void *)aligned, size);
		return false;
	}
	sl_numa_bind((void *)aligned, size, node);
	atomic_fetch_add_explicit(&sl_reserved_bytes, size, memory_order_relaxed);
	*base = aligned;
	return true;
}

/* Makes [addr, addr+size) of a reservation readable and writable. */
bool sl_sys_commit(uintptr_t addr, size_t size)
{
	return mprotect((void *)addr, size, PROT_READ | PROT_WRITE) == 0;
}

/* Gives [addr, addr+size) of a reservation back to the OS, memory and address space.
 * The caller has cleared the page map for it (a later free() of a pointer there then
 * aborts as "not allocated by spanlab"). */
void sl_sys_unmap(uintptr_t addr, size_t size)
{
	if (munmap((void *)addr, size) == 0)
		atomic_fetch_sub_explicit(&sl_reserved_bytes, size, memory_order_relaxed);
}
