// Size -> class lookup for every size-class table (policies/sizeclass/*.h), side by
// side on the same precomputed random sizes:
//   uniform  sizes uniform in 1 .. 32768 (mostly the class128[] path),
//   small    power-law sizes, P(size) ~ 1/size on 1 .. 32768 (mostly class8[]).
// Each iteration is one lookup; the per-iteration time is the ns per lookup. In the
// plain runs the lookups are independent (throughput); in the "/chain" runs the next
// size's index depends on the previous class, so the time is the lookup's latency.
// Run: build/bin/sl-bench-sizeclass [--benchmark_filter=small]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sl_sizeclass_all.h"

namespace {

constexpr std::size_t kSizes = 1 << 12;  // power of two: the index is masked
constexpr std::size_t kMaxSize = 32768;  // the largest size every table serves

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

// Chain is a template parameter: as a run-time flag the compiler may turn the index
// update into a conditional move, which makes every run a dependency chain.
template <std::uint32_t (*Lookup)(std::size_t), bool Chain>
void BM_Lookup(benchmark::State &state, bool small_biased)
{
	const std::size_t *sizes = Sizes(small_biased).data();
	std::size_t i = 0;
	for (auto _ : state) {
		std::uint32_t c = Lookup(sizes[i & (kSizes - 1)]);
		benchmark::DoNotOptimize(c);
		if constexpr (Chain)
			i += c | 1;
		else
			i++;
	}
	state.SetItemsProcessed(state.iterations());
}

void RegisterAll()
{
#define X(table)                                                                          \
	benchmark::RegisterBenchmark("lookup/" #table "/uniform",                         \
				     BM_Lookup<sl_sc_##table##_size_to_class, false>, false); \
	benchmark::RegisterBenchmark("lookup/" #table "/small",                           \
				     BM_Lookup<sl_sc_##table##_size_to_class, false>, true);  \
	benchmark::RegisterBenchmark("lookup/" #table "/small/chain",                     \
				     BM_Lookup<sl_sc_##table##_size_to_class, true>, true);  
	SL_SC_ALL_TABLES(X)
#undef X
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
