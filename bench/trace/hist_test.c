/*
 * sl-hist-test N - put the values 1..N into a histogram of hist.h and print its
 * dump on stdout, as "malloc". tests/experiments/test_units.py checks that the
 * buckets equal those computed by scripts/spanlab_exp/latency.py and that the
 * percentiles are within the stated error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"

static struct sl_hist h;

int main(int argc, char **argv)
{
	unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000;
	for (unsigned long long v = 1; v <= n; v++)
		sl_hist_add(&h, v);
	if (sl_hist_write_header(1, 1, "none") || sl_hist_write(1, "malloc", &h))
		return 1;
	return 0;
}
