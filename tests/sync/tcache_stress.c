/*
 * tests/sync/tcache_stress.c — the shared pool of the dynamic thread-cache budgets
 * (core/frontend/freelist/freelist.c, "Thread-cache sizing") under thread churn and
 * oversubscription, through a variant's test-hooks library (spanlab-<V>-testhooks).
 * Run with a small pool
 * and per-thread limit (SPANLAB_TCACHE_TOTAL_MB, SPANLAB_TCACHE_THREAD_KB: set by ctest)
 * so that threads grow their budgets, find the pool spent, shrink their other classes
 * and give their budgets back at exit all the time.
 *
 * Waves of short-lived workers: each thread makes rounds, each round a burst of up to
 * BURST objects of one of five classes (taking turns, so a thread's budget moves
 * between classes), every object stamped with its holder and checked before it is
 * freed. Checked:
 *   - the pool never holds more than its size, nor more than the workers' limits
 *     together (a monitor thread samples it without pause while the workers run);
 *   - after every wave, every worker having exited, the pool is empty: each grant was
 *     given back exactly once;
 *   - no double hand-out (stamps), and at the end the statistics count every object
 *     freed (heap_objects 0, mallocs == frees).
 * `--broken` makes the pool's grant a racy load and store with a yield in the window
 * (SL_BROKEN_TCACHE_POOL): grants and releases of other threads get lost, and the
 * checks must fail (ctest: WILL_FAIL).
 * Usage: sl-test-tcache-stress-<V> [--broken] [threads...]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "spanlab.h"

void spanlab_test_set_broken(int mode); /* test-hooks builds only */
uint64_t spanlab_test_tcache_pool(void);

#define BURST 1200
#define ROUNDS 20
#define WAVES 12
#define BROKEN_TCACHE_POOL 5 /* SL_BROKEN_TCACHE_POOL, core/testhooks.h */

static const size_t sizes[] = {16, 48, 128, 512, 2048};
static uint64_t pool_size, thread_limit;
static atomic_bool running;
static atomic_uint_fast64_t over_seen, max_seen;

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *monitor(void *arg)
{
	(void)arg;
	while (atomic_load(&running)) {
		uint64_t v = spanlab_test_tcache_pool();
		if (v > pool_size)
			atomic_fetch_add(&over_seen, 1);
		uint64_t m = atomic_load(&max_seen);
		while (v > m && !atomic_compare_exchange_weak(&max_seen, &m, v))
			;
	}
	return NULL;
}

static void *worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, x = id * 0x9E3779B97F4A7C15ull + 1;
	uint64_t **held = malloc(BURST * sizeof *held); /* the C library's: not under test */
	CHECK(held != NULL);
	for (int r = 0; r < ROUNDS; r++) {
		size_t size = sizes[(id + (uint64_t)r) % (sizeof sizes / sizeof sizes[0])];
		size_t n = 1 + next_rand(&x) % BURST;
		for (size_t i = 0; i < n; i++) {
			held[i] = spanlab_malloc(size);
			CHECK(held[i] != NULL);
			held[i][0] = id << 32 | i;
			held[i][size / 8 - 1] = ~(id << 32 | i);
		}
		for (size_t i = 0; i < n; i++) {
			CHECK_MSG(held[i][0] == (id << 32 | i) && held[i][size / 8 - 1] == ~(id << 32 | i),
				  "object %p of thread %llu handed out twice", (void *)held[i], (unsigned long long)id);
			spanlab_free(held[i]);
		}
	}
	free(held);
	return NULL;
}

static void run(int nthreads)
{
	pthread_t mon, *t = malloc((size_t)nthreads * sizeof *t);
	CHECK(t != NULL);
	atomic_store(&running, true);
	CHECK(pthread_create(&mon, NULL, monitor, NULL) == 0);
	for (int w = 0; w < WAVES; w++) {
		for (int i = 0; i < nthreads; i++)
			CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(w * nthreads + i + 1)) == 0);
		for (int i = 0; i < nthreads; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		uint64_t left = spanlab_test_tcache_pool();
		CHECK_MSG(left == 0, "%d threads, wave %d: %llu bytes of the pool still granted after every worker exited",
			  nthreads, w, (unsigned long long)left);
	}
	atomic_store(&running, false);
	CHECK(pthread_join(mon, NULL) == 0);
	CHECK_MSG(atomic_load(&over_seen) == 0, "%d threads: the pool held more than its %llu bytes (%llu seen)",
		  nthreads, (unsigned long long)pool_size, (unsigned long long)atomic_load(&max_seen));
	/* Nor does any thread hold more than its own limit. */
	CHECK_CMP(atomic_load(&max_seen), <=, (uint64_t)nthreads * thread_limit);
	free(t);
	printf("%d threads: ok, the pool peaked at %llu of %llu bytes\n", nthreads,
	       (unsigned long long)atomic_load(&max_seen), (unsigned long long)pool_size);
}

int main(int argc, char **argv)
{
	int a = 1;
	if (a < argc && !strcmp(argv[a], "--broken")) {
		spanlab_test_set_broken(BROKEN_TCACHE_POOL);
		a++;
	}
	const char *mb = getenv("SPANLAB_TCACHE_TOTAL_MB"), *dyn = getenv("SPANLAB_TCACHE_DYNAMIC");
	CHECK_MSG(mb && (!dyn || strcmp(dyn, "0")), "run with SPANLAB_TCACHE_TOTAL_MB set and dynamic sizing on");
	pool_size = strtoull(mb, NULL, 10) << 20;
	const char *kb = getenv("SPANLAB_TCACHE_THREAD_KB");
	thread_limit = kb ? strtoull(kb, NULL, 10) << 10 : pool_size;
	static const int def[] = {2, 4, 8, 16, 64};
	if (a < argc) {
		for (; a < argc; a++)
			run(atoi(argv[a]));
	} else {
		for (size_t i = 0; i < sizeof def / sizeof def[0]; i++)
			run(def[i]);
	}
	/* Every object freed: the statistics agree. */
	spanlab_stats st;
	spanlab_stats_get(&st);
	CHECK_CMP(st.heap_objects, ==, 0);
	CHECK_CMP(st.mallocs, ==, st.frees);
	return 0;
}
