/*
 * short_realloc.c - a broken allocator for LD_PRELOAD whose realloc loses
 * data: glibc's malloc family, except that a realloc that moves a block of
 * 64 bytes or more copies only the first half of the old contents (the
 * rest of the new block keeps whatever was there).  Used to show that
 * sl-alloc-test checks that contents survive realloc (test
 * workload/alloc-test/short-realloc: exit status 1, "ok":false).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);
extern size_t malloc_usable_size(void *p);

void *realloc(void *p, size_t size)
{
	if (!p)
		return __libc_malloc(size);
	if (size == 0) {
		__libc_free(p);
		return NULL;
	}
	size_t old = malloc_usable_size(p);
	void *q = __libc_malloc(size);
	if (!q)
		return NULL;
	size_t n = old < size ? old : size;
	memcpy(q, p, old >= 64 ? n / 2 : n);
	__libc_free(p);
	return q;
}
