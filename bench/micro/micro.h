// bench/micro/micro.h — the microbenchmark bodies, written once as templates over an
// allocator adapter and compiled once per implementation (Concurrency Kit's style):
// sl-bench-micro-<variant> instantiates them with SpanlabAdapter (micro_spanlab.cc),
// sl-bench-micro-system with SystemAdapter (micro_system.cc). Benchmark names are the
// same in every binary, so runs of two binaries compare line by line; the allocator is
// in the run's context ("allocator").
//
// An adapter is a struct with static members:
//   static const char *name();               the allocator, for the context
//   static void *alloc(std::size_t);         malloc
//   static void free(void *);                free
//   static std::size_t usable(void *);       malloc_usable_size
//   static std::uint32_t batch(std::size_t); objects per refill/flush transfer
//   static std::uint32_t cache_cap(std::size_t); most objects a thread caches per class
#ifndef SPANLAB_BENCH_MICRO_H
#define SPANLAB_BENCH_MICRO_H

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <sched.h>
#include <vector>

namespace slmicro {

// ---- Inputs shared by every benchmark ----

constexpr std::size_t kRandomSizes = 1 << 12;  // power of two: indices are masked
constexpr std::size_t kMinRandom = 16, kMaxRandom = 512;

// kRandomSizes sizes uniform in [lo, hi] from a fixed seed: every binary and every run
// sees the same sequence.
inline std::vector<std::size_t> MakeSizes(std::size_t lo, std::size_t hi, std::uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::uniform_int_distribution<std::size_t> dist(lo, hi);
	std::vector<std::size_t> v(kRandomSizes);
	for (auto &s : v)
		s = dist(rng);
	return v;
}

inline const std::vector<std::size_t> &RandomSizes()
{
	static const std::vector<std::size_t> sizes = MakeSizes(kMinRandom, kMaxRandom, 42);
	return sizes;
}

// Items/s plus its inverse, time/op: seconds per item (the console shows e.g. "8.1ns";
// JSON holds seconds). With several threads both are totals over the threads, so
// time/op is the time per item of the whole process, not of one thread.
inline void ReportItems(benchmark::State &state, std::int64_t items)
{
	state.SetItemsProcessed(items);
	state.counters["time/op"] = benchmark::Counter(static_cast<double>(items),
						       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---- mcache fast path ----

// malloc + free of one size: the object goes straight back to the list it came from.
template <class A>
void PairFixed(benchmark::State &state)
{
	const auto size = static_cast<std::size_t>(state.range(0));
	A::free(A::alloc(size));  // this thread's cache exists before timing starts
	for (auto _ : state) {
		void *p = A::alloc(size);
		benchmark::DoNotOptimize(p);
		A::free(p);
	}
	ReportItems(state, state.iterations());
}

// A ring of n live objects: each iteration frees the oldest and allocates a new one of
// a random size in 16..512 (precomputed), so lists of several classes are in play and
// objects are reused in FIFO rather than LIFO order.
template <class A>
void PairWorkingSet(benchmark::State &state)
{
	const auto n = static_cast<std::size_t>(state.range(0));
	const std::size_t *sizes = RandomSizes().data();
	std::vector<void *> ring(n);
	std::size_t j = 0;
	for (auto &p : ring)
		p = A::alloc(sizes[j++ & (kRandomSizes - 1)]);
	std::size_t i = 0;
	for (auto _ : state) {
		A::free(ring[i]);
		void *p = A::alloc(sizes[j++ & (kRandomSizes - 1)]);
		benchmark::DoNotOptimize(p);
		ring[i] = p;
		if (++i == n)
			i = 0;
	}
	for (void *p : ring)
		A::free(p);
	ReportItems(state, state.iterations());
}

// malloc_usable_size of a live object: the pointer -> size lookup that free also does.
template <class A>
void Usable(benchmark::State &state)
{
	void *p = A::alloc(static_cast<std::size_t>(state.range(0)));
	for (auto _ : state) {
		std::size_t n = A::usable(p);
		benchmark::DoNotOptimize(n);
	}
	A::free(p);
	ReportItems(state, state.iterations());
}

// ---- refill / flush ----

// Allocates k = cache_cap + m * batch objects of one size, then frees them all. A
// thread's list holds at most cache_cap objects (its flush threshold grows to that), so
// each iteration refills at least m batches from the central lists and flushes as many
// back: every iteration crosses the cache boundary m times in each direction.
template <class A>
void RefillFlush(benchmark::State &state)
{
	const auto size = static_cast<std::size_t>(state.range(0));
	const auto m = static_cast<std::size_t>(state.range(1));
	const std::size_t batch = A::batch(size);
	const std::size_t k = A::cache_cap(size) + m * batch;
	std::vector<void *> objs(k);
	for (auto _ : state) {
		for (auto &p : objs)
			p = A::alloc(size);
		benchmark::DoNotOptimize(objs.data());
		for (void *p : objs)
			A::free(p);
	}
	ReportItems(state, state.iterations() * static_cast<std::int64_t>(k));
	state.counters["batch"] = static_cast<double>(batch);
	state.counters["objects"] = static_cast<double>(k);
}

// ---- Large objects ----

// malloc + free of one large object; with touch = 1 one byte per 4 KiB page is
// written, so the cost of faulting in (and, after a release, re-faulting) counts.
template <class A>
void Large(benchmark::State &state)
{
	const auto size = static_cast<std::size_t>(state.range(0));
	const bool touch = state.range(1) != 0;
	for (auto _ : state) {
		auto *p = static_cast<volatile char *>(A::alloc(size));
		if (touch)
			for (std::size_t off = 0; off < size; off += 4096)
				p[off] = 1;
		benchmark::DoNotOptimize(p);
		A::free(const_cast<char *>(p));
	}
	state.SetItemsProcessed(state.iterations());
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// ---- Cross-thread free ----

// Single-producer single-consumer ring of object pointers, one per thread pair.
struct alignas(64) SpscRing {
	static constexpr std::size_t kSlots = 1024;
	alignas(64) std::atomic<std::size_t> head{0};  // next slot to pop (consumer)
	alignas(64) std::atomic<std::size_t> tail{0};  // next slot to push (producer)
	alignas(64) void *slot[kSlots];
};

inline void Backoff(unsigned &spins)
{
	if (++spins > 64) {  // oversubscribed: let the other side of the pair run
		sched_yield();
		spins = 0;
	}
}

constexpr int kMaxThreads = 16;
inline SpscRing g_rings[kMaxThreads / 2];

// Threads pair up: even thread_index allocates (random sizes 16..512) into its pair's
// ring, the odd one frees what it pops. Every thread runs the same number of
// iterations, so each ring is empty again when the run ends. Items = objects freed.
template <class A>
void CrossThreadFree(benchmark::State &state)
{
	const int t = state.thread_index();
	SpscRing &r = g_rings[t / 2];
	const bool producer = (t % 2) == 0;
	const std::size_t *sizes = RandomSizes().data();
	std::size_t j = static_cast<std::size_t>(t) * 97;
	A::free(A::alloc(64));
	unsigned spins = 0;
	for (auto _ : state) {
		if (producer) {
			void *p = A::alloc(sizes[j++ & (kRandomSizes - 1)]);
			benchmark::DoNotOptimize(p);
			std::size_t tail = r.tail.load(std::memory_order_relaxed);
			while (tail - r.head.load(std::memory_order_acquire) == SpscRing::kSlots)
				Backoff(spins);
			r.slot[tail % SpscRing::kSlots] = p;
			r.tail.store(tail + 1, std::memory_order_release);
		} else {
			std::size_t head = r.head.load(std::memory_order_relaxed);
			while (r.tail.load(std::memory_order_acquire) == head)
				Backoff(spins);
			void *p = r.slot[head % SpscRing::kSlots];
			r.head.store(head + 1, std::memory_order_release);
			A::free(p);
		}
	}
	if (!producer)
		ReportItems(state, state.iterations());
}

// ---- Registration ----

// Registers the benchmarks every allocator runs. Names are shared by all binaries.
template <class A>
void RegisterCommon()
{
	benchmark::AddCustomContext("allocator", A::name());
	benchmark::RegisterBenchmark("fastpath/pair", PairFixed<A>)
		->ArgName("size")
		->Arg(16)->Arg(64)->Arg(256)->Arg(512)->Arg(1024)->Arg(4096);
	benchmark::RegisterBenchmark("fastpath/pair_threads", PairFixed<A>)
		->ArgName("size")->Arg(64)
		->ThreadRange(1, kMaxThreads)->UseRealTime();
	benchmark::RegisterBenchmark("fastpath/workingset", PairWorkingSet<A>)
		->ArgName("live")->Arg(1 << 10)->Arg(64 << 10);
	benchmark::RegisterBenchmark("fastpath/usable", Usable<A>)->ArgName("size")->Arg(64);
	benchmark::RegisterBenchmark("refill_flush", RefillFlush<A>)
		->ArgNames({"size", "batches"})
		->ArgsProduct({{16, 256, 4096, 32768}, {2, 8}});
	benchmark::RegisterBenchmark("large", Large<A>)
		->ArgNames({"bytes", "touch"})
		->ArgsProduct({{64 << 10, 1 << 20, 16 << 20}, {0, 1}});
	auto *x = benchmark::RegisterBenchmark("crossthread_free", CrossThreadFree<A>);
	for (int n = 2; n <= kMaxThreads; n *= 2)
		x->Threads(n);
	x->UseRealTime();
}

// The main of every binary: register, run, with Google Benchmark's command line
// (--benchmark_filter, --benchmark_repetitions, --benchmark_format=json, ...).
template <class A>
int Main(int argc, char **argv, void (*register_more)())
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	RegisterCommon<A>();
	if (register_more)
		register_more();
	// A filter that matches nothing is an error here (a smoke test must run something).
	std::size_t ran = benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return ran > 0 ? 0 : 1;
}

}  // namespace slmicro

#endif
