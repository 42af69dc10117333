/*
 * Checks one size-class table against policies/sizeclass/README.md. Compiled once per
 * policies/sizeclass/<table>.h by tests/sizeclass/CMakeLists.txt with
 * -DSL_TABLE=<table> -DSL_TABLE_HEADER="sizeclass/<table>.h" -DSPANLAB_SIZECLASS_<TABLE>:
 * the table's data are included directly (its own names are tested) and again through
 * the selection point policies/sizeclass.h, whose aliases must reach the same table and
 * whose lookups (written once, over the selected table's arrays) must agree with a brute
 * force search for every size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include SL_TABLE_HEADER
#include "sizeclass.h"
#include "../check.h"

#define PAGE_SIZE 8192
#define STR_(x) #x
#define STR(x) STR_(x)
#define NAME(suffix) SL_POLICY_NAME(sl_sc_, SL_TABLE, suffix)

/* The smallest class whose size is >= size (size 0 is served as 1), by linear search. */
static uint32_t brute_force(size_t size)
{
	if (size == 0)
		size = 1;
	for (uint32_t c = 1; c < (uint32_t)NAME(_num_classes); c++)
		if (NAME(_class_size)[c] >= size)
			return c;
	return 0;
}

int main(void)
{
	const uint32_t n = NAME(_num_classes);
	const uint32_t max_small = NAME(_max_small);
	const uint32_t *size = NAME(_class_size);
	const uint8_t *pages = NAME(_class_pages);

	/* The selection point aliases this very table. */
	EXPECT(strcmp(SL_SC_NAME, STR(SL_TABLE)) == 0, "SL_SC_NAME is %s", SL_SC_NAME);
	EXPECT(SL_NUM_CLASSES == n && SL_MAX_SMALL == max_small, "aliased constants differ");
	EXPECT(sl_sc_class_size == size && sl_sc_class_pages == pages, "aliased arrays differ");
	const uint8_t *class8 = NAME(_class8), *class8_a16 = NAME(_class8_a16), *class128 = NAME(_class128);
	EXPECT(sl_sc_class8 == class8 && sl_sc_class8_a16 == class8_a16 && sl_sc_class128 == class128,
	       "aliased lookup arrays differ");
	EXPECT(SL_SC_ALIGN16 == NAME(_align16), "aliased align16 differs");
	/* align16 says what it claims; a table needing no rounding may name class8 for class8_a16. */
	int multiples = 1;
	for (uint32_t c = 1; c < n; c++)
		if (size[c] >= 16 && size[c] % 16)
			multiples = 0;
	EXPECT(NAME(_align16) == multiples, "align16 is %d, classes say %d", (int)NAME(_align16), multiples);

	/* Counts and class 0. */
	EXPECT(n >= 2 && n <= 255, "num_classes %u", n);
	EXPECT(sizeof(NAME(_class_size)) / sizeof(NAME(_class_size)[0]) == n, "class_size length");
	EXPECT(sizeof(NAME(_class_pages)) / sizeof(NAME(_class_pages)[0]) == n, "class_pages length");
	EXPECT(size[0] == 0 && pages[0] == 0, "class 0 is not empty");
	EXPECT(size[n - 1] == max_small, "last class %u != max_small %u", size[n - 1], max_small);
	EXPECT(max_small >= 32768, "max_small %u", max_small);

	/* Each class: increasing, aligned as promised, a span holds an object. */
	for (uint32_t c = 1; c < n; c++) {
		EXPECT(size[c] > size[c - 1], "class %u (%u) not above class %u", c, size[c], c - 1);
		EXPECT(size[c] % 8 == 0, "class %u size %u not a multiple of 8", c, size[c]);
		EXPECT(size[c] <= 1024 || size[c] % 128 == 0,
		       "class %u size %u > 1024 not a multiple of 128", c, size[c]);
		EXPECT(pages[c] >= 1 && (uint64_t)pages[c] * PAGE_SIZE >= size[c],
		       "class %u: %u pages hold no %u-byte object", c, pages[c], size[c]);
		EXPECT(sl_sc_class_to_size(c) == size[c], "class_to_size(%u)", c);
		EXPECT(sl_sc_class_to_pages(c) == pages[c], "class_to_pages(%u)", c);
	}

	/* Lookup == brute force for every size; so every size up to max_small is covered. */
	for (size_t s = 0; s <= max_small; s++) {
		uint32_t got = sl_sc_size_to_class(s), want = brute_force(s);
		EXPECT(want != 0, "size %zu has no class", s);
		EXPECT(got == want, "size_to_class(%zu) = %u, brute force %u", s, got, want);
		EXPECT(got >= 1 && got < n && size[got] >= (s ? s : 1), "size %zu -> class %u", s, got);
		/* The glibc-aligned lookup: the class of s rounded up to a multiple of 16 (above
		 * 16 bytes), which is itself a multiple of 16. */
		size_t r = s <= 16 ? s : (s + 15) & ~(size_t)15;
		uint32_t a16 = sl_sc_size_to_class_a16(s), want16 = brute_force(r);
		EXPECT(a16 == want16, "size_to_class_a16(%zu) = %u, brute force of %zu: %u", s, a16, r, want16);
		EXPECT(s <= 16 || size[a16] % 16 == 0, "size %zu -> class %u of %u B, not 16-aligned", s, a16,
		       size[a16]);
	}

	if (check_report(STR(SL_TABLE)))
		return 1;
	printf("%s: %u classes, max_small %u: ok\n", STR(SL_TABLE), n - 1, max_small);
	return 0;
}
