/*
 * dup_alloc.c - a deliberately broken allocator for LD_PRELOAD, used to
 * show that the workloads' verification catches a faulty allocator
 * (tests workload/<name>/broken: exit status 1, "ok":false).
 *
 * It forwards to glibc (__libc_malloc and friends), except that, once the
 * process has made DUP_START allocations, every DUP_EVERY-th malloc hands
 * out the most recent block that is still live a second time - the classic
 * allocator bug of a block on a free list and in use at once.  To keep
 * glibc's heap itself intact, the block is only freed for real by the last
 * of its holders: a free of a block handed out twice is swallowed once.
 *
 * One mutex guards the bookkeeping; this library only has to be correct,
 * not fast.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern size_t malloc_usable_size(void *p);

enum { DUP_START = 20000, DUP_EVERY = 499, DUP_SLOTS = 1 << 16 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long nallocs;	/* guarded by lock */
static void *last;			/* newest live block; guarded by lock */

/* Blocks handed out twice whose extra free has not come yet: an open
 * addressing set (linear probing, no deletion: a slot is reused by setting
 * its count again).  Guarded by lock. */
static struct {
	void *p;
	unsigned count;
} dups[DUP_SLOTS];
static unsigned ndups;

static size_t slot_of(void *p)
{
	return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL >> 48) &
	       (DUP_SLOTS - 1);
}

/* Find p's slot, or the empty slot where it would go. */
static size_t find(void *p)
{
	size_t i = slot_of(p);
	while (dups[i].p && dups[i].p != p)
		i = (i + 1) & (DUP_SLOTS - 1);
	return i;
}

/* True (and one pending extra free consumed) if this free of p must be
 * swallowed; caller holds lock. */
static int swallow(void *p)
{
	size_t i = find(p);
	if (dups[i].p == p && dups[i].count > 0) {
		dups[i].count--;
		return 1;
	}
	return 0;
}

void *malloc(size_t size)
{
	void *p = __libc_malloc(size);
	if (!p)
		return NULL;
	pthread_mutex_lock(&lock);
	nallocs++;
	if (nallocs > DUP_START && nallocs % DUP_EVERY == 0 && last &&
	    malloc_usable_size(last) >= size && ndups < DUP_SLOTS / 2) {
		size_t i = find(last);
		if (!dups[i].p)
			ndups++;
		dups[i].p = last;
		dups[i].count++;
		__libc_free(p);
		p = last;
		last = NULL;
	} else {
		last = p;
	}
	pthread_mutex_unlock(&lock);
	return p;
}

void free(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&lock);
	int skip = swallow(p);
	if (last == p)
		last = NULL;
	pthread_mutex_unlock(&lock);
	if (!skip)
		__libc_free(p);
}

void *calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	pthread_mutex_lock(&lock);
	int shared = swallow(p);
	if (last == p)
		last = NULL;
	pthread_mutex_unlock(&lock);
	if (!shared)
		return __libc_realloc(p, size);
	/* Another holder keeps p: move this holder's data elsewhere. */
	void *q = __libc_malloc(size);
	if (q) {
		size_t old = malloc_usable_size(p);
		memcpy(q, p, old < size ? old : size);
	}
	return q;
}
