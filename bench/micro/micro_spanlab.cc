// bench/micro/micro_spanlab.cc — sl-bench-micro-<variant>: the shared benchmark bodies
// (micro.h) over the variant's prefixed API, plus the engine-internal benchmarks that
// only a variant has: size -> class lookup of its table, its mcentral's batch transfer
// (sync policy), and its page heap. Internals are reached through engine_shim.h. The
// harness itself (Google Benchmark, std::vector) keeps using the system malloc.
#include <spanlab.h>

#include <cstddef>
#include <map>
#include <vector>

#include "engine_shim.h"
#include "micro.h"

namespace {

struct SpanlabAdapter {
	static const char *name() { return spanlab_variant(); }
	static void *alloc(std::size_t n) { return spanlab_malloc(n); }
	static void free(void *p) { spanlab_free(p); }
	static std::size_t usable(void *p) { return spanlab_malloc_usable_size(p); }
	static std::uint32_t batch(std::size_t n) { return slb_class_batch(n); }
	static std::uint32_t cache_cap(std::size_t n) { return slb_class_cache_cap(n); }
};

// ---- size -> class ----

constexpr std::size_t kLookups = 1024;  // per iteration (one call into the shim)

// Lookups over sizes uniform in 1..max (fixed seed): max = 1024 stays in the table's
// fine-grained part, max = 32768 spans every small class.
void SizeToClass(benchmark::State &state)
{
	const auto max = static_cast<std::size_t>(state.range(0));
	std::vector<std::size_t> sizes = slmicro::MakeSizes(1, max, 7);
	sizes.resize(kLookups);
	for (auto _ : state) {
		std::uint64_t sum = slb_size_to_class_many(sizes.data(), sizes.size());
		benchmark::DoNotOptimize(sum);
	}
	slmicro::ReportItems(state, state.iterations() * static_cast<std::int64_t>(kLookups));
	state.counters["classes"] = static_cast<double>(slb_num_classes() - 1);  // class 0 unused
}

// ---- mcentral batch transfer ----

// One private central per size, made before any benchmark thread starts.
std::map<std::size_t, slb_central *> g_centrals;
constexpr std::size_t kCentralSizes[] = {16, 256, 4096};

// Each iteration pops a full batch from the central's stack and pushes it back, from
// every thread at once: the contention a class's central sees when many caches refill
// and flush. "empty" counts pops that found the stack empty (all batches held).
void CentralTransfer(benchmark::State &state)
{
	slb_central *c = g_centrals.at(static_cast<std::size_t>(state.range(0)));
	spanlab_free(spanlab_malloc(16));  // the thread's cache (and any sync registration)
	std::int64_t empty = 0;
	for (auto _ : state)
		empty += slb_central_cycle(c) ? 0 : 1;
	slmicro::ReportItems(state, state.iterations() - empty);
	state.counters["empty"] = benchmark::Counter(static_cast<double>(empty));
	state.counters["batches"] =
		benchmark::Counter(static_cast<double>(slb_central_batches(c)), benchmark::Counter::kAvgThreads);
}

// ---- mheap ----

// Allocation and release of one span of n pages from the page heap (its lock, best
// fit, split and coalesce), with no size-class machinery on top.
void MheapSpan(benchmark::State &state)
{
	const auto npages = static_cast<std::size_t>(state.range(0));
	for (auto _ : state) {
		void *s = slb_mheap_alloc(npages);
		benchmark::DoNotOptimize(s);
		slb_mheap_free(s);
	}
	slmicro::ReportItems(state, state.iterations());
}

void RegisterEngine()
{
	slb_engine_init();
	for (std::size_t size : kCentralSizes)
		g_centrals[size] = slb_central_new(size);
	benchmark::RegisterBenchmark("sizeclass/lookup", SizeToClass)
		->ArgName("max")->Arg(1024)->Arg(32768);
	benchmark::RegisterBenchmark("central/transfer", CentralTransfer)
		->ArgName("size")->Arg(16)->Arg(256)->Arg(4096)
		->ThreadRange(1, slmicro::kMaxThreads)->UseRealTime();
	benchmark::RegisterBenchmark("mheap/span", MheapSpan)
		->ArgName("pages")->Arg(1)->Arg(4)->Arg(32)->Arg(256);
}

}  // namespace

int main(int argc, char **argv) { return slmicro::Main<SpanlabAdapter>(argc, argv, RegisterEngine); }
