/*
 * memreturn: freed memory goes back to the OS. Allocates ~256 MiB in small and large
 * objects, touches it, frees it all, and checks that the resident set size (from
 * /proc/self/statm) drops by at least 200 MiB and the released-bytes statistic grows
 * to match:
 *   memreturn trim        after spanlab_trim(0) / malloc_trim(0) (the preload build)
 *   memreturn scavenger   with no trim call: run with SPANLAB_RETAIN_MB=0 and
 *                         SPANLAB_SCAVENGE_DELAY_MS=0 (every idle run is due), or
 *                         with SPANLAB_RETAIN_MB=0 and SPANLAB_RETAIN_PERCENT=0 (a
 *                         retain budget of 0), the scavenger must return it
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "api.h"

#define MiB ((size_t)1 << 20)
#define SMALL_TOTAL (128 * MiB)
#define LARGE_TOTAL (128 * MiB)
#define DROP_MIN (200 * MiB)

static size_t rss(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f != NULL);
	unsigned long size, res;
	CHECK(fscanf(f, "%lu %lu", &size, &res) == 2);
	fclose(f);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
	test_api api = test_api_get();
	CHECK_MSG(argc == 2 && (!strcmp(argv[1], "trim") || !strcmp(argv[1], "scavenger")),
		  "usage: memreturn trim|scavenger");
	bool trim = !strcmp(argv[1], "trim");

	static const size_t small_sizes[] = {64, 256, 1024, 4096, 16384};
	static const size_t large_sizes[] = {40000, 100000, 300000, 1 << 20};
	size_t nsmall = 0, nlarge = 0, cap = SMALL_TOTAL / 64 + 16;
	/* The pointer arrays come from mmap-free static storage sized for the worst case. */
	static void *small[SMALL_TOTAL / 64 + 16];
	static void *large[LARGE_TOTAL / 40000 + 16];
	size_t total = 0;
	for (size_t k = 0; total < SMALL_TOTAL; k++) {
		size_t s = small_sizes[k % 5];
		CHECK(nsmall < cap);
		small[nsmall] = A(malloc)(s);
		CHECK(small[nsmall] != NULL);
		memset(small[nsmall++], 0xA5, s);
		total += s;
	}
	for (size_t k = 0, t = 0; t < LARGE_TOTAL; k++) {
		size_t s = large_sizes[k % 4];
		large[nlarge] = A(malloc)(s);
		CHECK(large[nlarge] != NULL);
		memset(large[nlarge++], 0x5A, s);
		t += s;
	}
	static spanlab_stats st0, st1;
	api.stats_get(&st0);
	size_t peak = rss();
	for (size_t i = 0; i < nlarge; i++)
		A(free)(large[i]);
	for (size_t i = 0; i < nsmall; i++)
		A(free)(small[i]);
	size_t after_free = rss();
	size_t after = after_free;
	if (trim) {
#ifdef TEST_PLAIN_NAMES
		int r = malloc_trim(0);
#else
		int r = spanlab_trim(0);
#endif
		CHECK_EQ(r, 1);
		after = rss();
	}
	api.stats_get(&st1);
	printf("memreturn %s (%s): RSS %zu MiB at peak, %zu MiB after free, %zu MiB at the end; released %" PRIu64
	       " -> %" PRIu64 " MiB\n",
	       argv[1], api.variant(), peak >> 20, after_free >> 20, after >> 20, st0.heap_released >> 20,
	       st1.heap_released >> 20);
	CHECK_CMP(peak, >=, 256 * MiB);
	CHECK_MSG(peak - after >= DROP_MIN, "RSS dropped by only %zu MiB (peak %zu MiB, now %zu MiB)",
		  (peak - after) >> 20, peak >> 20, after >> 20);
	/* Returned pages stay in the heap as released, or leave it with their address
	 * space (runs of 1 MiB or more, and everything idle at trim): unmapped. */
	CHECK_CMP((st1.heap_released + st1.unmapped) - (st0.heap_released + st0.unmapped), >=, DROP_MIN);
	CHECK_CMP(st1.scavenged - st0.scavenged, >=, DROP_MIN);
	return 0;
}
