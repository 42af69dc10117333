/*
 * unit/sizeclass-api: the size-class table seen through the public API, and
 * malloc_usable_size of every request size against it.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>

#include "../check.h"
#include "spanlab.h"

#ifndef TEST_VARIANT
#error "TEST_VARIANT (the variant's name) must be defined by the build"
#endif

int main(void)
{
	CHECK_MSG(strcmp(spanlab_variant(), TEST_VARIANT) == 0, "spanlab_variant() = \"%s\", expected \"%s\"",
		  spanlab_variant(), TEST_VARIANT);

	size_t n = spanlab_size_classes(NULL, 0);
	CHECK_CMP(n, >=, 2);
	CHECK_CMP(n, <, SPANLAB_MAX_CLASSES);
	size_t sizes[SPANLAB_MAX_CLASSES + 1];
	memset(sizes, 0xAB, sizeof sizes);
	CHECK_EQ(spanlab_size_classes(sizes, 3), n);
	CHECK_EQ(sizes[3], (size_t)0xABABABABABABABABull); /* cap respected */
	CHECK_EQ(spanlab_size_classes(sizes, SPANLAB_MAX_CLASSES), n);
	CHECK_CMP(sizes[0], >=, 8);
	for (size_t i = 1; i < n; i++)
		CHECK_MSG(sizes[i] > sizes[i - 1], "classes %zu and %zu: %zu, %zu", i, i + 1, sizes[i - 1], sizes[i]);
	size_t max = sizes[n - 1];
	CHECK_CMP(max, >=, 32768);
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(sizes[i] % 8 == 0, "class %zu size %zu not a multiple of 8", i + 1, sizes[i]);

	const char *v = spanlab_variant();
	bool tiny_variant = strlen(v) > 5 && strcmp(v + strlen(v) - 5, "-tiny") == 0;

	/* Every request size up to the largest class maps to the smallest class that fits. */
	size_t cls = 0;
	for (size_t sz = 0; sz <= max + 1; sz++) {
		while (cls < n && sizes[cls] < sz)
			cls++;
		void *p = spanlab_malloc(sz);
		CHECK_MSG(p != NULL, "malloc(%zu) = NULL", sz);
		/* The front end `tiny` packs requests under 16 bytes into shared 16-byte blocks
		 * with Go's alignment rule (8, 4, 2 or 1 by the size's low bits) and reports
		 * the room up to the block's next object as usable. */
		bool tiny = tiny_variant && sz < 16;
		size_t al = !tiny ? 8 : (sz & 7) == 0 ? 8 : (sz & 3) == 0 ? 4 : (sz & 1) == 0 ? 2 : 1;
		CHECK_MSG(((uintptr_t)p & (al - 1)) == 0, "malloc(%zu) = %p not %zu-aligned", sz, p, al);
		size_t u = spanlab_malloc_usable_size(p);
		CHECK_MSG(u >= sz, "usable_size(malloc(%zu)) = %zu", sz, u);
		/* The smallest class that fits, except that the engine keeps glibc's 16-byte
		 * alignment: a class of 16 bytes or more that is not a multiple of 16 (Go's
		 * 24 B) is passed over for the next one that is. */
		size_t a16 = cls;
		while (a16 + 1 < n && sizes[a16] >= 16 && sizes[a16] % 16)
			a16++;
		if (tiny)
			CHECK_MSG(u <= 16, "usable_size(malloc(%zu)) = %zu beyond its 16-byte block", sz, u);
		else if (cls < n)
			CHECK_MSG(u == sizes[a16], "usable_size(malloc(%zu)) = %zu, class size %zu", sz, u,
				  sizes[a16]);
		else
			CHECK_MSG(u % 8192 == 0, "usable_size(malloc(%zu)) = %zu, not whole pages", sz, u);
		memset(p, 0x5A, u);
		spanlab_free(p);
	}

	/* Per-class stats report the same sizes. */
	static spanlab_stats st;
	spanlab_stats_get(&st);
	CHECK_EQ(st.nclasses, n + 1);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(st.classes[i + 1].size, sizes[i]);
	printf("%s: %zu classes, 8..%zu bytes\n", spanlab_variant(), n, max);
	return 0;
}
