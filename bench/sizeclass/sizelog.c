/*
 * sizelog: an LD_PRELOAD shim that records a histogram of malloc request sizes, for
 * the "recorded" distribution of scripts/sizeclass_report.py. It forwards every call
 * to glibc's own allocator (__libc_malloc and friends, so it never calls itself),
 * counts request sizes with relaxed atomic increments (exact counts for sizes up to
 * SIZELOG_MAX, one bucket above), and at exit writes "size count" lines to
 * $SIZELOG_DIR/sizes.<pid> (one file per process; the report merges them).
 *
 *   gcc -O2 -shared -fPIC -o sizelog.so bench/sizeclass/sizelog.c
 *   SIZELOG_DIR=/tmp/sizes LD_PRELOAD=$PWD/sizelog.so some-program ...
 *
 * realloc counts its new size; calloc counts nmemb * size; the aligned functions
 * count the size only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZELOG_MAX (256 * 1024)

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static uint64_t counts[SIZELOG_MAX + 2]; /* [SIZELOG_MAX + 1]: every larger size */

static void count(size_t size)
{
	__atomic_fetch_add(&counts[size <= SIZELOG_MAX ? size : SIZELOG_MAX + 1], 1,
			   __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
	count(size);
	return __libc_malloc(size);
}

void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (!__builtin_mul_overflow(nmemb, size, &total))
		count(total);
	return __libc_calloc(nmemb, size);
}

void *realloc(void *ptr, size_t size)
{
	count(size);
	return __libc_realloc(ptr, size);
}

void free(void *ptr) { __libc_free(ptr); }

void *memalign(size_t alignment, size_t size)
{
	count(size);
	return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
		return EINVAL;
	void *p = memalign(alignment, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

__attribute__((destructor)) static void sizelog_write(void)
{
	const char *dir = getenv("SIZELOG_DIR");
	char buf[4096];
	if (!dir || snprintf(buf, sizeof(buf), "%s/sizes.%ld", dir, (long)getpid()) >= (int)sizeof(buf))
		return;
	int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	size_t len = 0;
	for (size_t s = 0; s <= SIZELOG_MAX + 1; s++) {
		if (!counts[s])
			continue;
		if (len > sizeof(buf) - 64) {
			if (write(fd, buf, len) < 0)
				break;
			len = 0;
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%zu %llu\n",
					s > SIZELOG_MAX ? ">" : "", s > SIZELOG_MAX ? (size_t)SIZELOG_MAX : s,
					(unsigned long long)counts[s]);
	}
	if (len && write(fd, buf, len) < 0) {
		/* nothing more to do at exit */
	}
	close(fd);
}
