// sl-cxx-demo N - N objects made with operator new and N with operator new[],
// each deleted again, and nothing else allocated in the loop: the latency test
// counts exactly 2 N timed allocations and 2 N timed frees under any allocator,
// including those that define their own operator new (tcmalloc, jemalloc).
#include <cstdio>
#include <cstdlib>

struct Node {
	long v[4];
};

int main(int argc, char **argv)
{
	long n = argc > 1 ? std::atol(argv[1]) : 1000;
	long sum = 0;
	for (long i = 0; i < n; i++) {
		Node *a = new Node{{i, 0, 0, 0}};
		char *b = new char[16 + i % 64];
		b[0] = static_cast<char>(i);
		sum += a->v[0] + b[0];
		delete[] b;
		delete a;
	}
	std::printf("%ld\n", sum);
	return 0;
}
