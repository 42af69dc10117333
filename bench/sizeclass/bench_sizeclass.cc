// Size -> class lookup for every size-class table (policies/sizeclass/*.h), side by
// side on the same precomputed random sizes:
//   uniform  sizes uniform in 1 .. 32768 (mostly the class128[] path),
//   small    power-law sizes, P(size) ~ 1/size on 1 .. 32768 (mostly class8[]).
// Each iteration is one lookup; the per-iteration time is the ns per lookup. In the
// plain runs the lookups are independent (throughput); in the "/chain" runs the next
// size's index depends on the previous class, so the time is the lookup's latency.
// The lookup is the engine's (policies/sizeclass.h), compiled once per table in
// lookup_adapter.c and run there in batches of kBatch.
// Run: build/bin/sl-bench-sizeclass [--benchmark_filter=small]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lookup_adapter.h"
#include "sl_sizeclass_all.h"  // generated: SL_SC_ALL_TABLES(X), one X(table) per table

namespace {

constexpr std::size_t kSizes = 1 << 12;  // power of two: the index is masked
constexpr std::size_t kMaxSize = 32768;  // the largest size every table serves
constexpr std::uint64_t kBatch = 1024;   // lookups per call into the adapter

std::vector<std::size_t> MakeSizes(bool small_biased)
{
	std::mt19937_64 rng(42);
	std::uniform_real_distribution<double> unit(0.0, 1.0);
	std::vector<std::size_t> sizes(kSizes);
	for (auto &s : sizes) {
		double u = unit(rng);
		s = small_biased ? static_cast<std::size_t>(std::exp(u * std::log(double(kMaxSize))))
				 : 1 + static_cast<std::size_t>(u * kMaxSize);
		if (s < 1)
			s = 1;
		if (s > kMaxSize)
			s = kMaxSize;
	}
	return sizes;
}

const std::vector<std::size_t> &Sizes(bool small_biased)
{
	static const std::vector<std::size_t> uniform = MakeSizes(false);
	static const std::vector<std::size_t> small = MakeSizes(true);
	return small_biased ? small : uniform;
}

void BM_Lookup(benchmark::State &state, const sl_bench_lookup_ops *ops, bool small_biased,
	       bool chain)
{
	const std::size_t *sizes = Sizes(small_biased).data();
	std::size_t i = 0;
	std::uint64_t sum = 0;
	while (state.KeepRunningBatch(kBatch))
		sum += (chain ? ops->chain : ops->run)(sizes, kSizes - 1, &i, kBatch);
	benchmark::DoNotOptimize(sum);
	state.SetItemsProcessed(state.iterations());
}

#define X(table) extern "C" const sl_bench_lookup_ops sl_bench_lookup_##table;
SL_SC_ALL_TABLES(X)
#undef X

void RegisterAll()
{
#define X(table) &sl_bench_lookup_##table,
	static const sl_bench_lookup_ops *tables[] = {SL_SC_ALL_TABLES(X)};
#undef X
	for (const sl_bench_lookup_ops *ops : tables) {
		std::string name = std::string("lookup/") + ops->name;
		benchmark::RegisterBenchmark((name + "/uniform").c_str(), BM_Lookup, ops, false, false);
		benchmark::RegisterBenchmark((name + "/small").c_str(), BM_Lookup, ops, true, false);
		benchmark::RegisterBenchmark((name + "/small/chain").c_str(), BM_Lookup, ops, true, true);
	}
}

}  // namespace

int main(int argc, char **argv)
{
	RegisterAll();
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
