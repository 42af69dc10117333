/*
 * conformance: the malloc family against glibc's documented semantics and errno values,
 * through the prefixed API (static library) or, built with TEST_PLAIN_NAMES, the
 * standard names under LD_PRELOAD. `conformance align16` checks only that blocks of
 * 16 bytes or more are 16-byte aligned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "api.h"

static test_api api;
static size_t classes[SPANLAB_MAX_CLASSES], nclasses;

/* Volatile sizes keep the compiler from reasoning about impossible requests. */
static size_t opaque(size_t x)
{
	volatile size_t v = x;
	return v;
}

static void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed + i * 131 + (i >> 8));
}

static void verify(const void *p, size_t n, unsigned seed, const char *what)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(b[i] == (unsigned char)(seed + i * 131 + (i >> 8)), "%s: byte %zu of %zu at %p is 0x%02x", what, i,
			  n, p, b[i]);
}

static void check_zero(const void *p, size_t n, const char *what)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(b[i] == 0, "%s: byte %zu of %zu at %p is 0x%02x, not zero", what, i, n, p, b[i]);
}

#define CHECK_ENOMEM(expr)                                                                  \
	do {                                                                                \
		errno = 0;                                                                  \
		void *r_ = (expr);                                                          \
		CHECK_MSG(r_ == NULL && errno == ENOMEM, "%s = %p, errno %d (want NULL, ENOMEM)", #expr, r_, errno); \
	} while (0)

/* The alignment malloc(s) promises: 8 bytes (16 from 16 bytes up: test_align16), except
 * for the front end `tiny`, which packs requests under 16 bytes into shared blocks with
 * Go's rule: 8 if s is a multiple of 8, 4 if of 4, 2 if of 2, else 1 (documented in
 * core/frontend/README.md). */
static size_t min_align(size_t s)
{
	const char *v = api.variant();
	size_t n = strlen(v);
	if (s >= 16 || n < 5 || strcmp(v + n - 5, "-tiny") != 0)
		return 8;
	return (s & 7) == 0 ? 8 : (s & 3) == 0 ? 4 : (s & 1) == 0 ? 2 : 1;
}

static void test_malloc(void)
{
	void *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = A(malloc)(opaque(0));
		CHECK(p[i] != NULL);
		for (int j = 0; j < i; j++)
			CHECK(p[i] != p[j]);
	}
	for (int i = 0; i < 64; i++)
		A(free)(p[i]);
	A(free)(NULL);
	CHECK_EQ(A(malloc_usable_size)(NULL), 0);

	CHECK_ENOMEM(A(malloc)(opaque(SIZE_MAX)));
	CHECK_ENOMEM(A(malloc)(opaque((size_t)PTRDIFF_MAX + 1)));
	CHECK_ENOMEM(A(malloc)(opaque((size_t)PTRDIFF_MAX)));
	CHECK_ENOMEM(A(malloc)(opaque(SIZE_MAX - 8192)));
	/* A size the address space could hold but the machine cannot back (4x RAM + swap):
	 * NULL and ENOMEM, as with glibc, unless the kernel overcommits without limit
	 * (vm.overcommit_memory = 1). */
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = 1;
	if (f) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = 1;
		fclose(f);
	}
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0);
	size_t backing = ((size_t)si.totalram + (size_t)si.totalswap) * si.mem_unit, huge = (size_t)1 << 30;
	while (huge < 4 * backing && huge < ((size_t)1 << 45))
		huge <<= 1;
	if (mode != 1)
		CHECK_ENOMEM(A(malloc)(opaque(huge)));
	/* The heap still works after the failures. */
	void *q = A(malloc)(100);
	CHECK(q != NULL);
	A(free)(q);

	for (size_t s = 1; s < (1u << 21); s = s * 3 / 2 + 1) {
		void *m = A(malloc)(s);
		CHECK(m != NULL);
		size_t al = min_align(s);
		CHECK_MSG(((uintptr_t)m & (al - 1)) == 0, "malloc(%zu) = %p not %zu-byte aligned", s, m, al);
		CHECK_CMP(A(malloc_usable_size)(m), >=, s);
		A(free)(m);
	}
}

/* glibc (and C11's max_align_t) on x86-64: every block of 16 bytes or more is 16-byte
 * aligned; compilers use SSE moves on such memory (long double, __int128, ...). Checked
 * for every size up to the largest class, objects from malloc, calloc and realloc. */
static void test_align16(void)
{
	size_t max = classes[nclasses - 1] + 64;
	for (size_t s = 16; s <= max; s++) {
		void *m = A(malloc)(s), *c = A(calloc)(1, s), *r = A(realloc)(NULL, s);
		CHECK(m && c && r);
		CHECK_MSG(((uintptr_t)m & 15) == 0, "malloc(%zu) = %p not 16-byte aligned (usable size %zu)", s, m,
			  A(malloc_usable_size)(m));
		CHECK_MSG(((uintptr_t)c & 15) == 0, "calloc(1, %zu) = %p not 16-byte aligned", s, c);
		CHECK_MSG(((uintptr_t)r & 15) == 0, "realloc(NULL, %zu) = %p not 16-byte aligned", s, r);
		A(free)(m);
		A(free)(c);
		A(free)(r);
	}
}

static void test_calloc(void)
{
	CHECK_ENOMEM(A(calloc)(opaque(SIZE_MAX / 2 + 1), opaque(2)));
	CHECK_ENOMEM(A(calloc)(opaque((size_t)1 << 33), opaque((size_t)1 << 33)));
	CHECK_ENOMEM(A(calloc)(opaque(SIZE_MAX), opaque(SIZE_MAX)));
	CHECK_ENOMEM(A(calloc)(1, opaque(SIZE_MAX)));
	void *z = A(calloc)(0, 10);
	CHECK(z != NULL);
	A(free)(z);
	z = A(calloc)(10, 0);
	CHECK(z != NULL);
	A(free)(z);

	/* Dirty memory comes back zeroed: small objects of several classes... */
	size_t sizes[] = {8, 16, 24, 100, 1000, 4000, 20000, 32768};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		void *p[200];
		for (int i = 0; i < 200; i++) {
			p[i] = A(malloc)(sizes[k]);
			CHECK(p[i] != NULL);
			memset(p[i], 0xEE, A(malloc_usable_size)(p[i]));
		}
		for (int i = 0; i < 200; i++)
			A(free)(p[i]);
		for (int i = 0; i < 200; i++) {
			p[i] = A(calloc)(1, sizes[k]);
			CHECK(p[i] != NULL);
			check_zero(p[i], sizes[k], "calloc small after reuse");
		}
		for (int i = 0; i < 200; i++)
			A(free)(p[i]);
	}
	/* ...large objects reusing dirty pages... */
	size_t big[] = {40000, 100000, 1 << 20, 3 << 20};
	for (size_t k = 0; k < 4; k++) {
		void *p = A(malloc)(big[k]);
		CHECK(p != NULL);
		memset(p, 0xEE, big[k]);
		A(free)(p);
		void *c = A(calloc)(big[k], 1);
		CHECK(c != NULL);
		check_zero(c, big[k], "calloc large after reuse");
		A(free)(c);
	}
	/* ...the dirty tail left by an in-place shrink... */
	void *p = A(malloc)(2 << 20);
	CHECK(p != NULL);
	memset(p, 0xEE, 2 << 20);
	void *r = A(realloc)(p, 1 << 20);
	CHECK(r != NULL);
	void *c = A(calloc)(1, 512 << 10);
	CHECK(c != NULL);
	check_zero(c, 512 << 10, "calloc after realloc shrink");
	A(free)(c);
	A(free)(r);
	/* ...and pages a large object grew into in place. */
	p = A(malloc)(1 << 20);
	void *g = A(malloc)(1 << 20);
	CHECK(p && g);
	memset(g, 0xEE, 1 << 20);
	A(free)(g);
	r = A(realloc)(p, 2 << 20);
	CHECK(r != NULL);
	A(free)(r);
	c = A(calloc)(1, 2 << 20);
	CHECK(c != NULL);
	check_zero(c, 2 << 20, "calloc after realloc grow");
	A(free)(c);
}

static void test_realloc(void)
{
	size_t seq[] = {1, 8, 9, 24, 100, 1000, 8192, 32767, 32768, 32769, 40000, 100000, 1 << 20, 3 << 20,
			(3 << 20) + 1, 70000, 32769, 32768, 500, 16, 8, 1, 5000000, 12, 200000, 33000, 31000};
	size_t n = sizeof seq / sizeof seq[0];
	unsigned char *p = A(realloc)(NULL, seq[0]);
	CHECK(p != NULL);
	fill(p, seq[0], 7);
	for (size_t i = 1; i < n; i++) {
		size_t keep = seq[i - 1] < seq[i] ? seq[i - 1] : seq[i];
		unsigned char *q = A(realloc)(p, seq[i]);
		CHECK_MSG(q != NULL, "realloc(%p, %zu)", (void *)p, seq[i]);
		CHECK_CMP(A(malloc_usable_size)(q), >=, seq[i]);
		verify(q, keep, (unsigned)i + 6, "realloc keeps contents");
		fill(q, seq[i], (unsigned)i + 7);
		p = q;
	}
	/* Failure leaves the block intact. */
	errno = 0;
	CHECK(A(realloc)(p, opaque(SIZE_MAX)) == NULL);
	CHECK_EQ(errno, ENOMEM);
	verify(p, seq[n - 1], (unsigned)n + 6, "failed realloc keeps the block");
	/* realloc(p, 0) frees and returns NULL (glibc). */
	static spanlab_stats st;
	api.stats_get(&st);
	uint64_t frees = st.frees;
	CHECK(A(realloc)(p, 0) == NULL);
	api.stats_get(&st);
	CHECK_CMP(st.frees, >, frees);

	/* reallocarray */
	p = A(reallocarray)(NULL, 10, 10);
	CHECK(p != NULL);
	fill(p, 100, 3);
	errno = 0;
	CHECK(A(reallocarray)(p, opaque(SIZE_MAX / 2 + 1), 2) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK(A(reallocarray)(p, opaque((size_t)1 << 40), (size_t)1 << 40) == NULL);
	verify(p, 100, 3, "failed reallocarray keeps the block");
	p = A(reallocarray)(p, 1000, 100);
	CHECK(p != NULL);
	verify(p, 100, 3, "reallocarray keeps contents");
	A(free)(p);
}

static void check_aligned(void *p, size_t align, size_t size, const char *what)
{
	CHECK_MSG(p != NULL, "%s(align %zu, size %zu) = NULL", what, align, size);
	CHECK_MSG((uintptr_t)p % align == 0, "%s(align %zu, size %zu) = %p misaligned", what, align, size, p);
	size_t u = A(malloc_usable_size)(p);
	CHECK_MSG(u >= size, "%s(align %zu, size %zu): usable %zu", what, align, size, u);
	memset(p, 0x33, u);
}

static void test_aligned(void)
{
	static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *out = (void *)0x1234;
		errno = 77;
		int r = A(posix_memalign)(&out, bad[i], 16);
		CHECK_MSG(r == EINVAL, "posix_memalign(align %zu) returned %d, want EINVAL", bad[i], r);
		CHECK_MSG(errno == 77, "posix_memalign(align %zu) changed errno to %d", bad[i], errno);
		CHECK(out == (void *)0x1234 || out == NULL);
	}
	{
		void *out = (void *)0x1234;
		errno = 77;
		int r = A(posix_memalign)(&out, 64, opaque(SIZE_MAX - 100));
		CHECK_EQ(r, ENOMEM);
		CHECK_EQ(errno, 77);
	}
	static const size_t sizes[] = {0, 1, 7, 8, 24, 100, 4096, 8192, 8193, 32768, 32769, 100000, 1 << 20};
	for (size_t a = 8; a <= (1u << 20); a <<= 1)
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			void *p[3];
			for (int k = 0; k < 3; k++) {
				p[k] = NULL;
				int r = A(posix_memalign)(&p[k], a, sizes[i]);
				CHECK_MSG(r == 0, "posix_memalign(%zu, %zu) = %d", a, sizes[i], r);
				check_aligned(p[k], a, sizes[i], "posix_memalign");
			}
			void *q = A(aligned_alloc)(a, sizes[i]);
			check_aligned(q, a, sizes[i], "aligned_alloc");
			void *m = A(memalign)(a, sizes[i]);
			check_aligned(m, a, sizes[i], "memalign");
			for (int k = 0; k < 3; k++)
				A(free)(p[k]);
			A(free)(q);
			A(free)(m);
		}
	/* aligned_alloc: the alignment must be a power of two. */
	static const size_t badal[] = {3, 24, 100, 4097};
	for (size_t i = 0; i < 4; i++) {
		errno = 0;
		void *p = A(aligned_alloc)(badal[i], 64);
		CHECK_MSG(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p errno %d", badal[i], p, errno);
	}
	/* memalign rounds a non-power-of-two alignment up; absurd ones fail. */
	struct { size_t a, want; } ma[] = {{24, 32}, {100, 128}, {3, 4}, {1000, 1024}, {5000, 8192}, {70000, 131072}};
	for (size_t i = 0; i < sizeof ma / sizeof ma[0]; i++) {
		void *p = A(memalign)(ma[i].a, 50);
		check_aligned(p, ma[i].want, 50, "memalign");
		A(free)(p);
	}
	void *m0 = A(memalign)(0, 10);
	CHECK(m0 != NULL);
	A(free)(m0);
	errno = 0;
	CHECK(A(memalign)(opaque(SIZE_MAX), 10) == NULL);
	CHECK_EQ(errno, EINVAL);

	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t vs[] = {0, 1, 100, 4096, 4097, 10000, 40000, 1 << 20};
	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		void *v = A(valloc)(vs[i]);
		check_aligned(v, page, vs[i], "valloc");
		void *pv = A(pvalloc)(vs[i]);
		size_t rounded = vs[i] ? (vs[i] + page - 1) / page * page : page;
		check_aligned(pv, page, rounded, "pvalloc");
		A(free)(v);
		A(free)(pv);
	}
	CHECK_ENOMEM(A(pvalloc)(opaque(SIZE_MAX)));
	CHECK_ENOMEM(A(valloc)(opaque(SIZE_MAX)));
}

/* A pointer from every entry point is accepted by realloc, malloc_usable_size and free. */
static void test_cross_entry(void)
{
	for (int round = 0; round < 2; round++) {
		size_t sz = round ? 50000 : 200;
		void *p[8];
		int r = A(posix_memalign)(&p[0], 64, sz);
		CHECK_EQ(r, 0);
		p[1] = A(malloc)(sz);
		p[2] = A(calloc)(1, sz);
		p[3] = A(aligned_alloc)(256, sz);
		p[4] = A(memalign)(4096, sz);
		p[5] = A(valloc)(sz);
		p[6] = A(pvalloc)(sz);
		p[7] = A(reallocarray)(NULL, 2, sz / 2);
		for (int i = 0; i < 8; i++) {
			CHECK_MSG(p[i] != NULL, "entry point %d", i);
			CHECK_CMP(A(malloc_usable_size)(p[i]), >=, sz);
			fill(p[i], sz, (unsigned)i);
			void *q = A(realloc)(p[i], sz * 3);
			CHECK(q != NULL);
			verify(q, sz, (unsigned)i, "realloc of another entry point's block");
			p[i] = A(realloc)(q, sz / 4);
			CHECK(p[i] != NULL);
			verify(p[i], sz / 4, (unsigned)i, "realloc shrink");
		}
		for (int i = 0; i < 8; i++)
			A(free)(p[i]);
	}
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Many objects of every class, and large ones among them, do not overlap. */
static void test_no_overlap(void)
{
	enum { MAXN = 4096 };
	static uintptr_t obj[MAXN * 2];
	for (size_t c = 0; c <= nclasses; c++) {
		size_t size = c < nclasses ? classes[c] : classes[nclasses - 1] + 1; /* last: large */
		size_t n = 3 * 65536 / size;
		n = n < 16 ? 16 : n > MAXN ? MAXN : n;
		for (size_t i = 0; i < n; i++) {
			void *p = A(malloc)(size);
			CHECK(p != NULL);
			CHECK_CMP(A(malloc_usable_size)(p), >=, size);
			fill(p, size, (unsigned)i);
			obj[i] = (uintptr_t)p;
		}
		for (size_t i = 0; i < n; i++)
			verify((void *)obj[i], size, (unsigned)i, "object contents after all allocations");
		qsort(obj, n, sizeof obj[0], cmp_ptr);
		for (size_t i = 1; i < n; i++)
			CHECK_MSG(obj[i - 1] + size <= obj[i], "class size %zu: objects %p and %p overlap", size,
				  (void *)obj[i - 1], (void *)obj[i]);
		for (size_t i = 0; i < n; i++)
			A(free)((void *)obj[i]);
	}
}

/* Memory the program gets uninitialised may have held freed objects: copying it into
 * small objects (realloc of a large object down to a small size, memcpy of a fresh
 * large block) and freeing those must not look like a double free. */
static void test_reused_memory(void)
{
	enum { N = 100000 };
	static void *objs[N];
	for (size_t c = 0; c < nclasses && classes[c] <= 256; c++) {
		size_t size = classes[c];
		size_t n = N * 48 / (size > 48 ? size : 48);
		for (size_t i = 0; i < n; i++) {
			objs[i] = A(malloc)(size);
			CHECK(objs[i] != NULL);
		}
		for (size_t i = 0; i < n; i++)
			A(free)(objs[i]);
		/* Large blocks over those pages, uninitialised apart from a prefix. */
		char *big = A(malloc)((size_t)2 << 20);
		CHECK(big != NULL);
		memcpy(big, "abc", 4);
		char *small = A(malloc)(size);
		CHECK(small != NULL);
		memcpy(small, big + 4096, size);
		A(free)(small);
		char *s = A(realloc)(big, size);
		CHECK(s != NULL && !memcmp(s, "abc", 4));
		A(free)(s);
	}
}

/* conformance [align16]: everything but the 16-byte alignment check, or only that. */
int main(int argc, char **argv)
{
	api = test_api_get();
	nclasses = api.size_classes(classes, SPANLAB_MAX_CLASSES);
	CHECK(nclasses >= 2 && nclasses < SPANLAB_MAX_CLASSES);
	if (argc > 1 && !strcmp(argv[1], "align16")) {
		test_align16();
		printf("conformance align16 (%s): ok\n", api.variant());
		return 0;
	}
	test_malloc();
	test_calloc();
	test_realloc();
	test_aligned();
	test_cross_entry();
	test_no_overlap();
	test_reused_memory();
	printf("conformance (%s): ok\n", api.variant());
	return 0;
}
