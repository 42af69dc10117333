// cxx_churn: C++ containers, new/delete and over-aligned new, with a deterministic
// checksum on stdout, so that runs with and without LD_PRELOAD can be compared.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct alignas(64) Line {
	uint64_t v[8];
};

static uint64_t work(uint64_t seed)
{
	uint64_t sum = 0, x = seed;
	auto next = [&x] {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		return x;
	};
	std::map<std::string, std::vector<int>> m;
	std::unordered_map<uint64_t, std::string> u;
	for (int i = 0; i < 60000; i++) {
		std::string k = "key" + std::to_string(next() % 5000);
		m[k].push_back(i);
		u[next() % 20000] = std::string(next() % 200, 'a' + (char)(i % 26));
		if (i % 7 == 0)
			m.erase("key" + std::to_string(next() % 5000));
	}
	for (auto &kv : m)
		sum += kv.first.size() * 31 + kv.second.size();
	for (auto &kv : u)
		sum += kv.second.size() ^ kv.first;
	std::vector<std::unique_ptr<Line>> lines;
	for (int i = 0; i < 20000; i++) {
		lines.emplace_back(new Line());
		if (reinterpret_cast<uintptr_t>(lines.back().get()) % 64 != 0) {
			std::fprintf(stderr, "misaligned over-aligned new: %p\n", static_cast<void *>(lines.back().get()));
			std::exit(1);
		}
		lines.back()->v[i % 8] = (uint64_t)i;
		if (i % 3 == 0)
			lines[next() % lines.size()].reset(new Line());
	}
	for (auto &l : lines)
		for (uint64_t v : l->v)
			sum += v;
	auto *arr = new (std::align_val_t(4096)) char[100000];
	if (reinterpret_cast<uintptr_t>(arr) % 4096 != 0) {
		std::fprintf(stderr, "misaligned aligned new[]\n");
		std::exit(1);
	}
	arr[99999] = 1;
	sum += (uint64_t)arr[99999];
	::operator delete[](arr, std::align_val_t(4096));
	return sum;
}

int main()
{
	uint64_t results[4] = {};
	std::vector<std::thread> th;
	for (int t = 0; t < 4; t++)
		th.emplace_back([t, &results] { results[t] = work((uint64_t)t * 7919 + 1); });
	for (auto &t : th)
		t.join();
	for (int t = 0; t < 4; t++)
		std::printf("thread %d checksum %llu\n", t, (unsigned long long)results[t]);
	return 0;
}
