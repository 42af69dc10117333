/*
 * bench/micro/fastpath.c — sl-fastpath: the single-thread malloc+free loop that the
 * fast-path budgets are stated with, as a plain C program that calls only malloc and free, so the same
 * binary runs under any allocator through LD_PRELOAD.
 *
 * A ring of `live` objects (default 1024) of random sizes 16..512 from a fixed seed;
 * each step frees the oldest object and allocates a new one of the next precomputed
 * size. After a warm-up of one tenth of the steps, `iters` steps (default 20 million)
 * are timed, by the wall clock and by the process's CPU time (the latter is the steadier
 * figure on a loaded machine). Prints one text line and one JSON line:
 *   {"bench":"fastpath","preload":"...","iters":N,"live":1024,"seconds":S,
 *    "cpu_seconds":C,"ns_per_pair":S/N,"cpu_ns_per_pair":C/N}
 * Usage: sl-fastpath [iters] [live]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NSIZES 4096 /* power of two: the index is masked */
#define MIN_SIZE 16
#define MAX_SIZE 512

static uint64_t rng_state = 0x9E3779B97F4A7C15ull; /* fixed seed */

static uint64_t next_random(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static double now_seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One step per iteration; returns a checksum of the pointers so nothing is elided. */
static uintptr_t run(void **ring, size_t live, const uint32_t *sizes, uint64_t steps, uint64_t *j)
{
	uintptr_t sum = 0;
	size_t i = 0;
	for (uint64_t n = 0; n < steps; n++) {
		free(ring[i]);
		void *p = malloc(sizes[(*j)++ & (NSIZES - 1)]);
		if (!p) {
			fprintf(stderr, "sl-fastpath: malloc failed\n");
			exit(1);
		}
		sum += (uintptr_t)p;
		ring[i] = p;
		if (++i == live)
			i = 0;
	}
	return sum;
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == '-') {
		printf("usage: %s [iters (default 20000000)] [live objects (default 1024)]\n", argv[0]);
		return argv[1][1] == 'h' ? 0 : 2;
	}
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
	size_t live = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
	if (iters == 0 || live == 0) {
		fprintf(stderr, "sl-fastpath: iters and live must be positive\n");
		return 2;
	}
	uint32_t *sizes = malloc(NSIZES * sizeof *sizes);
	void **ring = malloc(live * sizeof *ring);
	if (!sizes || !ring) {
		fprintf(stderr, "sl-fastpath: out of memory\n");
		return 1;
	}
	for (size_t k = 0; k < NSIZES; k++)
		sizes[k] = MIN_SIZE + (uint32_t)(next_random() % (MAX_SIZE - MIN_SIZE + 1));
	uint64_t j = 0;
	for (size_t k = 0; k < live; k++)
		ring[k] = malloc(sizes[j++ & (NSIZES - 1)]);

	uintptr_t sum = run(ring, live, sizes, iters / 10 + 1, &j); /* warm-up */
	double t0 = now_seconds(CLOCK_MONOTONIC), c0 = now_seconds(CLOCK_PROCESS_CPUTIME_ID);
	sum += run(ring, live, sizes, iters, &j);
	double secs = now_seconds(CLOCK_MONOTONIC) - t0;
	double cpu = now_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;

	for (size_t k = 0; k < live; k++)
		free(ring[k]);
	free(ring);
	free(sizes);
	const char *preload = getenv("LD_PRELOAD");
	double ns = secs * 1e9 / (double)iters, cpu_ns = cpu * 1e9 / (double)iters;
	printf("fastpath: %.2f ns per malloc+free pair, %.2f ns of CPU time (%llu pairs, %zu live, "
	       "checksum %llx)\n",
	       ns, cpu_ns, (unsigned long long)iters, live, (unsigned long long)(sum & 0xfff));
	printf("{\"bench\":\"fastpath\",\"preload\":\"%s\",\"iters\":%llu,\"live\":%zu,"
	       "\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"ns_per_pair\":%.3f,\"cpu_ns_per_pair\":%.3f}\n",
	       preload ? preload : "", (unsigned long long)iters, live, secs, cpu, ns, cpu_ns);
	return 0;
}
