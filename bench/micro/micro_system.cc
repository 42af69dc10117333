// bench/micro/micro_system.cc — sl-bench-micro-system: the shared benchmark bodies
// (micro.h) over the system allocator (glibc malloc/free, or whatever LD_PRELOAD puts
// in their place). The engine-internal benchmarks (size classes, mcentral, mheap) exist
// only in the variant binaries.
#include <malloc.h>

#include <algorithm>
#include <cstdlib>

#include "micro.h"

namespace {

struct SystemAdapter {
	static const char *name() { return "system"; }
	static void *alloc(std::size_t n) { return std::malloc(n); }
	static void free(void *p) { std::free(p); }
	static std::size_t usable(void *p) { return malloc_usable_size(p); }
	// The system allocator has no batch constants to ask: use the counts spanlab's
	// defaults give (64 KiB of objects per batch, 256 KiB per list; core/malloc.c), so
	// refill_flush moves the same objects in both binaries.
	static std::uint32_t batch(std::size_t n)
	{
		return std::clamp<std::uint32_t>(static_cast<std::uint32_t>((64u << 10) / n), 2, 32);
	}
	static std::uint32_t cache_cap(std::size_t n)
	{
		return std::clamp<std::uint32_t>(static_cast<std::uint32_t>((256u << 10) / n), batch(n), 2048);
	}
};

}  // namespace

int main(int argc, char **argv) { return slmicro::Main<SystemAdapter>(argc, argv, nullptr); }
