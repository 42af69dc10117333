/*
 * bench/sizeclass/lookup_adapter.c — one size-class table's lookup behind a plain table
 * of functions, so that bench_sizeclass.cc can compare every table side by side.
 * Compiled once per policies/sizeclass/<table>.h with -DSPANLAB_SIZECLASS_<TABLE> and
 * -DSL_BENCH_TABLE=<table>; the table is named sl_bench_lookup_<table>. The lookup is the
 * engine's own (policies/sizeclass.h), inlined in the loop: each table pays one call per
 * batch of lookups, not per lookup.
 */
#include "../../policies/sizeclass.h"
#include "lookup_adapter.h"

#define SL_BENCH_PASTE_(a, b) a##b
#define SL_BENCH_PASTE(a, b) SL_BENCH_PASTE_(a, b)
#define SL_BENCH_STR_(x) #x
#define SL_BENCH_STR(x) SL_BENCH_STR_(x)

/* Keeps c in a register as if it were used: benchmark::DoNotOptimize for C. */
#define SL_BENCH_KEEP(c) __asm__ volatile("" : : "r"(c))

/* n lookups from sizes[*i & mask] on; chain is a constant in each caller below, so each
 * gets its own loop: as a run-time flag the compiler may turn the index update into a
 * conditional move, which makes every run a dependency chain. */
static inline __attribute__((always_inline)) uint64_t lookups(const size_t *sizes, size_t mask,
							     size_t *i, uint64_t n, int chain)
{
	uint64_t sum = 0;
	size_t k = *i;
	for (uint64_t j = 0; j < n; j++) {
		uint32_t c = sl_sc_size_to_class(sizes[k & mask]);
		SL_BENCH_KEEP(c);
		sum += c;
		k += chain ? (c | 1) : 1;
	}
	*i = k;
	return sum;
}

static uint64_t run(const size_t *sizes, size_t mask, size_t *i, uint64_t n)
{
	return lookups(sizes, mask, i, n, 0);
}

static uint64_t chain(const size_t *sizes, size_t mask, size_t *i, uint64_t n)
{
	return lookups(sizes, mask, i, n, 1);
}

const sl_bench_lookup_ops SL_BENCH_PASTE(sl_bench_lookup_, SL_BENCH_TABLE) = {
	SL_BENCH_STR(SL_BENCH_TABLE), run, chain,
};
