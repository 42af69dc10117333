/*
 * exhaust: the allocator under an address-space limit (RLIMIT_AS, what `ulimit -v` and
 * `prlimit --as` set). Every case sets the limit a little above what the process uses
 * now, exhausts the address space one way, checks that every failed call returned NULL
 * with errno ENOMEM (never an abort), then gives memory back and checks that the heap
 * serves again. Objects are filled and checked, so a corrupted heap fails too.
 *
 *   exhaust growth      the heap grows until it cannot: small, medium and large
 *                       requests; after free and trim at least 90 % as much again
 *   exhaust idle        a large block freed (idle pages in the heap), the rest of the
 *                       address space taken by other mappings, then 40 KiB requests
 *                       until NULL; after the mappings go, they are served again
 *   exhaust mappings    other mappings take nearly everything first
 *   exhaust threads     threads are created until pthread_create fails, each
 *                       allocating (thread caches under exhaustion), then joined
 *   exhaust reuse       a limit of 256 MiB over the current use: one large block of
 *                       most of it, freed and trimmed, then a block of 90 % of the
 *                       free address space must be served
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"

#define MiB ((size_t)1 << 20)

static int (*trim_fn)(size_t);
static void api_trim(void) { trim_fn(0); }

static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f != NULL);
	unsigned long size, res;
	CHECK(fscanf(f, "%lu %lu", &size, &res) == 2);
	fclose(f);
	return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

static void limit_as(size_t extra)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = vm_size() + extra;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
}

static void unlimit_as(void)
{
	/* The hard limit stays where it was: lowering is all an unprivileged process may
	 * do, so the cases below only ever relax the soft one within it. */
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
	rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
}

/* Pointer arrays live in mappings made before the limit, never in the heap under test. */
static void **table(size_t n)
{
	void *p = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

static void fill(void *p, size_t size, unsigned seed)
{
	unsigned char *b = p;
	b[0] = (unsigned char)seed;
	b[size - 1] = (unsigned char)(seed * 7);
	if (size > 16)
		b[size / 2] = (unsigned char)(seed * 13);
}

static void check_fill(const void *p, size_t size, unsigned seed)
{
	const unsigned char *b = p;
	CHECK_MSG(b[0] == (unsigned char)seed && b[size - 1] == (unsigned char)(seed * 7) &&
			  (size <= 16 || b[size / 2] == (unsigned char)(seed * 13)),
		  "object %p of %zu bytes lost its contents", p, size);
}

static size_t size_of(size_t i)
{
	static const size_t sizes[] = {24, 200, 40960, 3000, 1 * MiB, 64, 9000, 300000};
	return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

/* Allocates the size sequence until NULL (ENOMEM checked) or cap; returns bytes held. */
static size_t exhaust_heap(void **p, size_t cap, size_t *n)
{
	size_t bytes = 0;
	for (*n = 0; *n < cap; (*n)++) {
		size_t sz = size_of(*n);
		errno = 0;
		p[*n] = A(malloc)(sz);
		if (!p[*n]) {
			CHECK_MSG(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d", sz, errno);
			return bytes;
		}
		fill(p[*n], sz, (unsigned)*n);
		bytes += sz;
	}
	CHECK_MSG(0, "%zu allocations did not exhaust the limit", cap);
	return bytes;
}

static void release_all(void **p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		check_fill(p[i], size_of(i), (unsigned)i);
		A(free)(p[i]);
	}
}

static void case_growth(void)
{
	enum { CAP = 1 << 20 };
	void **p = table(CAP);
	limit_as(256 * MiB);
	size_t n1, n2;
	size_t first = exhaust_heap(p, CAP, &n1);
	/* Other calls fail softly too while the limit is reached. */
	errno = 0;
	void *c = A(calloc)(1000, 1000);
	CHECK(c != NULL || errno == ENOMEM);
	if (c)
		A(free)(c);
	void *al = NULL;
	int r = A(posix_memalign)(&al, 4096, 3 * MiB);
	CHECK(r == 0 || r == ENOMEM);
	if (!r)
		A(free)(al);
	release_all(p, n1);
	api_trim();
	size_t second = exhaust_heap(p, CAP, &n2);
	release_all(p, n2);
	printf("growth: %zu MiB in %zu objects, after free and trim %zu MiB in %zu objects\n", first / MiB, n1,
	       second / MiB, n2);
	CHECK_MSG(first >= 128 * MiB, "only %zu MiB under a 256 MiB limit", first / MiB);
	CHECK_MSG(second * 10 >= first * 9, "after free and trim: %zu MiB, first time %zu MiB", second / MiB,
		  first / MiB);
}

/* Takes address space with 1 MiB mappings (then smaller) until none is left. */
static size_t take_rest(void **maps, size_t cap, size_t *sizes)
{
	size_t n = 0;
	for (size_t sz = 64 * MiB; sz >= 4096 && n < cap; sz /= 2) {
		for (;;) {
			void *m = mmap(NULL, sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				break;
			maps[n] = m;
			sizes[n++] = sz;
			CHECK(n < cap);
		}
	}
	return n;
}

static void give_back(void **maps, size_t *sizes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		munmap(maps[i], sizes[i]);
}

static void case_idle(void)
{
	enum { CAP = 1 << 16 };
	void **maps = table(CAP), **objs = table(CAP);
	size_t *sizes = (size_t *)table(CAP);
	limit_as(1024 * MiB);
	void *big = A(malloc)(512 * MiB);
	CHECK(big != NULL);
	memset(big, 1, 4096);
	A(free)(big);
	size_t nm = take_rest(maps, CAP, sizes);
	size_t n = 0;
	for (; n < CAP; n++) {
		errno = 0;
		objs[n] = A(malloc)(40960);
		if (!objs[n]) {
			CHECK_MSG(errno == ENOMEM, "malloc(40960) returned NULL with errno %d", errno);
			break;
		}
		fill(objs[n], 40960, (unsigned)n);
	}
	give_back(maps, sizes, nm);
	void *again = A(malloc)(40960);
	CHECK_MSG(again != NULL, "malloc(40960) fails after the other mappings went away");
	A(free)(again);
	for (size_t i = 0; i < n; i++) {
		check_fill(objs[i], 40960, (unsigned)i);
		A(free)(objs[i]);
	}
	printf("idle: %zu blocks of 40 KiB served with the address space full, then NULL/ENOMEM\n", n);
}

static void case_mappings(void)
{
	enum { CAP = 1 << 16 };
	void **maps = table(CAP), **objs = table(CAP);
	size_t *sizes = (size_t *)table(CAP);
	limit_as(128 * MiB);
	size_t nm = take_rest(maps, CAP, sizes);
	size_t n = 0;
	for (; n < CAP; n++) {
		size_t sz = size_of(n);
		errno = 0;
		objs[n] = A(malloc)(sz);
		if (!objs[n]) {
			CHECK_MSG(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d", sz, errno);
			break;
		}
		fill(objs[n], sz, (unsigned)n);
	}
	give_back(maps, sizes, nm);
	size_t m = 0;
	for (size_t i = n; i < n + 64 && i < CAP; i++, m++) {
		objs[i] = A(malloc)(size_of(i));
		CHECK_MSG(objs[i] != NULL, "malloc(%zu) fails after the other mappings went away", size_of(i));
		fill(objs[i], size_of(i), (unsigned)i);
	}
	for (size_t i = 0; i < n + m; i++) {
		check_fill(objs[i], size_of(i), (unsigned)i);
		A(free)(objs[i]);
	}
	printf("mappings: %zu objects served with the address space full, then NULL/ENOMEM\n", n);
}

static void *thread_body(void *arg)
{
	(void)arg;
	void *p[32];
	for (int i = 0; i < 32; i++) {
		p[i] = A(malloc)(size_of((size_t)i));
		if (p[i])
			fill(p[i], size_of((size_t)i), (unsigned)i);
	}
	for (int i = 0; i < 32; i++)
		if (p[i]) {
			check_fill(p[i], size_of((size_t)i), (unsigned)i);
			A(free)(p[i]);
		}
	return NULL;
}

static void case_threads(void)
{
	enum { CAP = 4096 };
	pthread_t *t = (pthread_t *)table(CAP);
	pthread_attr_t attr;
	CHECK(pthread_attr_init(&attr) == 0);
	CHECK(pthread_attr_setstacksize(&attr, 256 << 10) == 0);
	limit_as(96 * MiB);
	size_t n = 0;
	while (n < CAP && pthread_create(&t[n], &attr, thread_body, NULL) == 0)
		n++;
	CHECK_MSG(n < CAP, "%d threads did not exhaust the limit", CAP);
	for (size_t i = 0; i < n; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	/* And again, now that their stacks are gone. */
	size_t n2 = 0;
	while (n2 < 8 && pthread_create(&t[n2], &attr, thread_body, NULL) == 0)
		n2++;
	for (size_t i = 0; i < n2; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK_MSG(n2 == 8, "only %zu threads after joining %zu", n2, n);
	void *p = A(malloc)(100);
	CHECK(p != NULL);
	A(free)(p);
	printf("threads: %zu threads created before pthread_create failed, all allocated\n", n);
}

static void case_reuse(void)
{
	limit_as(256 * MiB);
	void *p = NULL;
	size_t sz = 250 * MiB;
	while (sz > 16 * MiB && !(p = A(malloc)(sz)))
		sz -= 8 * MiB;
	CHECK(p != NULL);
	memset(p, 3, 4096);
	A(free)(p);
	void *q = A(malloc)(100); /* the heap is in use again, not empty */
	CHECK(q != NULL);
	api_trim();
	void *r = A(malloc)(sz * 9 / 10);
	CHECK_MSG(r != NULL, "after free and trim, %zu MiB (90 %% of the %zu MiB block) cannot be had",
		  sz * 9 / 10 / MiB, sz / MiB);
	A(free)(r);
	A(free)(q);
	printf("reuse: %zu MiB, freed and trimmed, then %zu MiB served\n", sz / MiB, sz * 9 / 10 / MiB);
}

int main(int argc, char **argv)
{
	test_api api = test_api_get();
	CHECK_MSG(argc == 2, "usage: exhaust growth|idle|mappings|threads|reuse");
	trim_fn = api.trim;
	A(free)(A(malloc)(1)); /* initialised before the limit */
	if (!strcmp(argv[1], "growth"))
		case_growth();
	else if (!strcmp(argv[1], "idle"))
		case_idle();
	else if (!strcmp(argv[1], "mappings"))
		case_mappings();
	else if (!strcmp(argv[1], "threads"))
		case_threads();
	else if (!strcmp(argv[1], "reuse"))
		case_reuse();
	else
		CHECK_MSG(0, "unknown case %s", argv[1]);
	unlimit_as();
	return 0;
}
