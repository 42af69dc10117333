/*
 * Checks that a built variant really serves its size-class table: compiled once per
 * variant in SPANLAB_VARIANT_LIST by tests/sizeclass/CMakeLists.txt, linked with the
 * variant's static library (prefixed API) and given its table through the selection
 * point (-DSL_TABLE=<sizeclass> -DSPANLAB_SIZECLASS_<SIZECLASS>, policies/sizeclass.h).
 *
 * - spanlab_size_classes() returns exactly the table's class sizes;
 * - every request size 1 .. max_small gets a block whose usable size is the size of
 *   the class the table's lookup picks (or, for a class of 16 B or more that is not a
 *   multiple of 16, the next class that is: glibc's 16-byte alignment), aligned to
 *   min(16, the class size's low bit);
 * - requests just above max_small are served (as page runs) with enough room.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sizeclass.h"
#include "../check.h"
#include "spanlab.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void)
{
	const uint32_t n = SL_NUM_CLASSES;
	const size_t max_small = SL_MAX_SMALL;
	size_t sizes[SPANLAB_MAX_CLASSES];

	EXPECT(strncmp(spanlab_variant(), STR(SL_TABLE) "-", strlen(STR(SL_TABLE)) + 1) == 0,
	       "variant %s does not use table %s", spanlab_variant(), STR(SL_TABLE));
	size_t got = spanlab_size_classes(sizes, SPANLAB_MAX_CLASSES);
	EXPECT(got == n - 1, "spanlab_size_classes() = %zu, table has %u", got, n - 1);
	for (uint32_t c = 1; c < n && c - 1 < got; c++)
		EXPECT(sizes[c - 1] == sl_sc_class_size[c], "class %u: %zu != %u", c, sizes[c - 1],
		       sl_sc_class_size[c]);

	const char *v = spanlab_variant();
	const bool tiny_variant = strlen(v) > 5 && strcmp(v + strlen(v) - 5, "-tiny") == 0;
	for (size_t s = 1; s <= max_small; s++) {
		/* The engine keeps glibc's guarantee that blocks of 16 bytes or more are
		 * 16-byte aligned: a class of 16 B or more that is not a multiple of 16 (Go's
		 * 24 B) is passed over for the next one that is. */
		uint32_t c = sl_sc_size_to_class(s);
		while (sl_sc_class_size[c] >= 16 && sl_sc_class_size[c] % 16 && c + 1 < n)
			c++;
		uint32_t want = sl_sc_class_size[c];
		uintptr_t align = want & -want;
		if (align > 16)
			align = 16;
		char *p = spanlab_malloc(s);
		EXPECT(p != NULL, "malloc(%zu) failed", s);
		if (!p)
			break;
		size_t usable = spanlab_malloc_usable_size(p);
		if (tiny_variant && s < 16) {
			/* Front end `tiny`: requests under 16 bytes share 16-byte blocks, aligned
			 * by Go's rule (8, 4, 2 or 1 by the size's low bits). */
			align = (s & 7) == 0 ? 8 : (s & 3) == 0 ? 4 : (s & 1) == 0 ? 2 : 1;
			EXPECT(usable >= s && usable <= 16, "malloc(%zu): usable %zu outside its block", s, usable);
		} else {
			EXPECT(usable == want, "malloc(%zu): usable %zu, class size %u", s, usable, want);
		}
		EXPECT(((uintptr_t)p & (align - 1)) == 0, "malloc(%zu) = %p not %zu-aligned", s,
		       (void *)p, (size_t)align);
		p[0] = 1;
		p[s - 1] = 2;
		spanlab_free(p);
	}
	for (size_t s = max_small + 1; s <= max_small + 3 * 8192; s += 4095) {
		char *p = spanlab_malloc(s);
		EXPECT(p != NULL && spanlab_malloc_usable_size(p) >= s, "large malloc(%zu)", s);
		if (p) {
			p[s - 1] = 3;
			spanlab_free(p);
		}
	}

	if (check_report(spanlab_variant()))
		return 1;
	printf("%s: serves table %s (%u classes, max_small %zu): ok\n", spanlab_variant(),
	       STR(SL_TABLE), n - 1, max_small);
	return 0;
}
