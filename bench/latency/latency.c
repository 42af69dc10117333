/*
 * bench/latency/latency.c — tail latency of single malloc and free calls under
 * oversubscription. Plain C, malloc/free only: run under any allocator with LD_PRELOAD.
 *
 * T threads (default 16) each run N operations: a burst of 64 mallocs of a small size
 * (16..1024 B) then their frees, and every 16th burst one large object (64 KiB..1 MiB)
 * allocated and freed; half of each burst is freed by the next thread (a shared slot
 * per thread, atomic exchange), so caches refill and flush through the central lists.
 * Every malloc and free is timed on its own with clock_gettime(CLOCK_MONOTONIC); the
 * program prints p50, p99, p99.9 and the maximum (ns) of each kind, over all threads.
 * On an oversubscribed machine the tail is dominated by preemption (a call that spans
 * a time slice); what a lock adds is the wait for a preempted holder.
 *
 * Usage: sl-latency [threads] [bursts-per-thread]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BURST 64
#define MAXT 256

static unsigned nthreads = 16, nbursts = 4000;
static uint32_t *lat_malloc[MAXT], *lat_free[MAXT];
static size_t n_malloc[MAXT], n_free[MAXT];
static void *_Atomic slot[MAXT];
static pthread_barrier_t start;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint32_t clamp32(uint64_t x) { return x > UINT32_MAX ? UINT32_MAX : (uint32_t)x; }

static void *worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (me + 1);
	size_t cap = (size_t)nbursts * (BURST + 1);
	uint32_t *lm = malloc(cap * sizeof *lm), *lf = malloc(cap * sizeof *lf);
	size_t nm = 0, nf = 0;
	void *p[BURST];
	pthread_barrier_wait(&start);
	for (unsigned b = 0; b < nbursts; b++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		size_t size = 16 + (size_t)(rng % 1009);
		for (int i = 0; i < BURST; i++) {
			uint64_t t0 = now_ns();
			p[i] = malloc(size);
			lm[nm++] = clamp32(now_ns() - t0);
			*(volatile char *)p[i] = 1;
		}
		for (int i = 0; i < BURST; i++) {
			void *q = p[i];
			if (i % 2 == 0)
				q = atomic_exchange(&slot[(me + 1) % nthreads], q); /* someone else's */
			if (!q)
				continue;
			uint64_t t0 = now_ns();
			free(q);
			lf[nf++] = clamp32(now_ns() - t0);
		}
		if (b % 16 == 0) {
			size_t big = ((size_t)64 << 10) + (size_t)(rng >> 20) % ((size_t)960 << 10);
			uint64_t t0 = now_ns();
			void *q = malloc(big);
			lm[nm++] = clamp32(now_ns() - t0);
			((volatile char *)q)[big - 1] = 1;
			t0 = now_ns();
			free(q);
			lf[nf++] = clamp32(now_ns() - t0);
		}
	}
	lat_malloc[me] = lm, lat_free[me] = lf, n_malloc[me] = nm, n_free[me] = nf;
	return NULL;
}

static int cmp32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, uint32_t **lat, size_t *n)
{
	size_t total = 0;
	for (unsigned t = 0; t < nthreads; t++)
		total += n[t];
	uint32_t *all = malloc(total * sizeof *all);
	size_t k = 0;
	for (unsigned t = 0; t < nthreads; t++) {
		memcpy(all + k, lat[t], n[t] * sizeof *all);
		k += n[t];
	}
	qsort(all, total, sizeof *all, cmp32);
	printf("%-6s n=%zu p50=%u p99=%u p99.9=%u max=%u ns\n", what, total, all[total / 2], all[total * 99 / 100],
	       all[total * 999 / 1000], all[total - 1]);
	free(all);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = (unsigned)atoi(argv[1]);
	if (argc > 2)
		nbursts = (unsigned)atoi(argv[2]);
	if (nthreads < 1 || nthreads > MAXT)
		return 2;
	pthread_t th[MAXT];
	pthread_barrier_init(&start, NULL, nthreads);
	for (unsigned t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t);
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	report("malloc", lat_malloc, n_malloc);
	report("free", lat_free, n_free);
	return 0;
}
