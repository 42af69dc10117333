// bench/central/bench_central.cc — central batch transfer per central-sync policy.
//
//   stack/<impl>/threads:N   one shared batch stack (policies/sync/<impl>.h; also
//                            spin-noyield, `spin` whose waiters never yield): each
//                            iteration pops a batch node and pushes it back at once
//                            (the engine's refill-then-flush pattern, nodes recycled
//                            immediately). items/s = pop+push pairs per second.
//   engine/<variant>/threads:N   the engine's refill/flush path of that variant's
//                            shared library (dlopen'ed privately: RTLD_LOCAL): each
//                            iteration spanlab_malloc's kEngineObjs objects of one
//                            size class (more than a thread cache holds, so the cache
//                            refills from the mcentral batch by batch) and frees them
//                            (so it flushes batch by batch). items/s = objects.
//
// Run: build/bin/sl-bench-central [--benchmark_filter=stack/] ...
// A benchmark, not a test: it measures and asserts nothing.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sl_bench_stacks.h"  // generated: SL_BENCH_STACKS(X), one X(impl) per policy
#include "stack_adapter.h"

extern "C" {
#define SL_BENCH_DECLARE(impl) extern const sl_bench_stack_ops sl_bench_stack_##impl;
SL_BENCH_STACKS(SL_BENCH_DECLARE)
}

namespace {

constexpr size_t kNodesPerThread = 8;  // batches in flight: a central holds 16 or more
constexpr size_t kEngineObjSize = 1024; // class of 1 KiB: batches of 32, caches of 256
constexpr size_t kEngineObjs = 1024;    // 32 batches each way per iteration

void *g_stack;

void BM_Stack(benchmark::State &state, const sl_bench_stack_ops *ops) {
  if (state.thread_index() == 0)
    g_stack = ops->create(kNodesPerThread * static_cast<size_t>(state.threads()));
  int64_t empties = 0;
  for (auto _ : state) {
    void *n = ops->pop(g_stack);
    if (n)
      ops->push(g_stack, n);
    else
      ++empties;
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["empty"] = benchmark::Counter(static_cast<double>(empties), benchmark::Counter::kAvgThreads);
  if (state.thread_index() == 0) {
    ops->destroy(g_stack);
    g_stack = nullptr;
  }
}

struct EngineLib {
  std::string variant;
  void *(*malloc_fn)(size_t);
  void (*free_fn)(void *);
};

void BM_Engine(benchmark::State &state, const EngineLib *lib) {
  std::vector<void *> objs(kEngineObjs);
  for (auto _ : state) {
    for (auto &p : objs) {
      p = lib->malloc_fn(kEngineObjSize);
      *static_cast<volatile char *>(p) = 1;
    }
    for (auto p : objs)
      lib->free_fn(p);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kEngineObjs));
}

void Threads(benchmark::internal::Benchmark *b) {
  for (int t : {1, 2, 4, 8, 16})
    b->Threads(t);
  b->UseRealTime();
}

}  // namespace

int main(int argc, char **argv) {
  static const sl_bench_stack_ops *stacks[] = {
#define SL_BENCH_ENTRY(impl) &sl_bench_stack_##impl,
      SL_BENCH_STACKS(SL_BENCH_ENTRY)};
  for (const sl_bench_stack_ops *ops : stacks)
    Threads(benchmark::RegisterBenchmark((std::string("stack/") + ops->name).c_str(), BM_Stack, ops));

  // Variants built alongside this binary: SL_BENCH_VARIANTS (";"-separated), found
  // in SL_BENCH_LIBDIR or the directory given by SPANLAB_BENCH_LIBDIR.
  const char *dir = std::getenv("SPANLAB_BENCH_LIBDIR");
  std::string libdir = dir ? dir : SL_BENCH_LIBDIR;
  static std::vector<EngineLib> libs;
  libs.reserve(64);
  std::string list = SL_BENCH_VARIANTS;
  for (size_t pos = 0; pos <= list.size();) {
    size_t end = list.find(';', pos);
    if (end == std::string::npos)
      end = list.size();
    std::string v = list.substr(pos, end - pos);
    pos = end + 1;
    if (v.empty())
      continue;
    std::string path = libdir + "/libspanlab-" + v + ".so";
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      std::fprintf(stderr, "sl-bench-central: skipping engine/%s: %s\n", v.c_str(), dlerror());
      continue;
    }
    EngineLib lib{v, reinterpret_cast<void *(*)(size_t)>(dlsym(h, "spanlab_malloc")),
                  reinterpret_cast<void (*)(void *)>(dlsym(h, "spanlab_free"))};
    if (!lib.malloc_fn || !lib.free_fn) {
      std::fprintf(stderr, "sl-bench-central: skipping engine/%s: no spanlab_malloc/free\n", v.c_str());
      continue;
    }
    libs.push_back(lib);
    Threads(benchmark::RegisterBenchmark(("engine/" + v).c_str(), BM_Engine, &libs.back()));
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
