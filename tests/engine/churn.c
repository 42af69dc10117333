/*
 * thread-churn: thousands of short-lived threads, in waves of concurrent ones. Each
 * allocates objects of several classes (all threads of a wave hold theirs at once):
 * some it frees itself (left in its cache at exit), some it hands to the main thread,
 * which frees them after the wave. After a
 * warm-up, 2000 more threads must not grow Sys or the metadata by more than a small
 * bound, live thread caches must come back to one (the main thread's) after every
 * wave, and the malloc and free counts must match at the end.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include "api.h"

#define WAVE 100
#define WARMUP_WAVES 3
#define MEASURED_WAVES 21 /* 2100 threads */
#define HANDED 6
/* Metadata has no fragmentation: a leaked thread cache (~4 KiB each) over 2100 threads
 * is ~8 MiB, well above this bound. Heap memory grows in 2 MiB commits and which spans
 * the exiting threads' cached objects pin depends on scheduling (and, with several
 * NUMA heaps, on where threads land), so its bound allows a few commits; leaking what
 * a thread caches (~30 objects, tens of KiB) over 2100 threads would be far beyond it. */
#define GROWTH_BOUND ((uint64_t)4 << 20)
#define SYS_GROWTH_BOUND ((uint64_t)16 << 20)

static test_api api;
static void *handed[WAVE][HANDED];
/* Every thread of a wave waits here while holding all its objects, so each wave
 * reaches the same peak whatever the scheduling: growth then means a leak. */
static pthread_barrier_t peak;

static const size_t sizes[] = {8, 16, 48, 100, 256, 1000, 3000, 8192, 20000, 40000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *thread_main(void *arg)
{
	uintptr_t slot = (uintptr_t)arg;
	void *own[NSIZES * 3];
	for (size_t i = 0; i < NSIZES * 3; i++) {
		own[i] = A(malloc)(sizes[i % NSIZES]);
		CHECK(own[i] != NULL);
		memset(own[i], (int)slot, sizes[i % NSIZES]);
	}
	for (size_t i = 0; i < HANDED; i++) {
		handed[slot][i] = A(malloc)(sizes[(i * 3 + slot) % NSIZES]);
		CHECK(handed[slot][i] != NULL);
		memset(handed[slot][i], 0x77, 8);
	}
	pthread_barrier_wait(&peak);
	for (size_t i = 0; i < NSIZES * 3; i++) {
		CHECK(((unsigned char *)own[i])[0] == (unsigned char)slot);
		A(free)(own[i]); /* stays in this thread's cache until it exits */
	}
	/* A few more allocations from the refilled cache, held at exit by nobody. */
	void *again = A(malloc)(100);
	A(free)(again);
	return NULL;
}

static void wave(pthread_attr_t *attr)
{
	pthread_t th[WAVE];
	for (uintptr_t i = 0; i < WAVE; i++)
		CHECK(pthread_create(&th[i], attr, thread_main, (void *)i) == 0);
	for (int i = 0; i < WAVE; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	for (int i = 0; i < WAVE; i++)
		for (int k = 0; k < HANDED; k++) {
			CHECK(((unsigned char *)handed[i][k])[7] == 0x77);
			A(free)(handed[i][k]);
		}
	static spanlab_stats st;
	api.stats_get(&st);
	CHECK_MSG(st.threads == 1, "after a wave: %" PRIu64 " live thread caches, expected 1", st.threads);
}

int main(void)
{
	api = test_api_get();
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	CHECK(pthread_barrier_init(&peak, NULL, WAVE) == 0);
	A(free)(A(malloc)(1));
	static spanlab_stats base, warm, end;
	api.stats_get(&base);
	for (int w = 0; w < WARMUP_WAVES; w++)
		wave(&attr);
	api.stats_get(&warm);
	for (int w = 0; w < MEASURED_WAVES; w++)
		wave(&attr);
	api.stats_get(&end);
	/* With several NUMA heaps (node policy under a synthetic topology), unpinned threads
	 * land on any heap, so each heap may still grow towards the whole peak after the
	 * warm-up: allow one more warm-up footprint per extra heap. */
	uint64_t sys_bound = SYS_GROWTH_BOUND + (end.nodes > 1 ? (end.nodes - 1) * warm.sys : 0);
	/* Sys may also shrink: the scavenger unmaps idle runs of 1 MiB or more. */
	uint64_t sys_growth = end.sys > warm.sys ? end.sys - warm.sys : 0;
	CHECK_MSG(sys_growth < sys_bound, "Sys grew by %" PRIu64 " bytes over %d threads", sys_growth,
		  MEASURED_WAVES * WAVE);
	CHECK_MSG(end.metadata_sys - warm.metadata_sys < GROWTH_BOUND, "metadata grew by %" PRIu64 " bytes",
		  end.metadata_sys - warm.metadata_sys);
	CHECK_EQ(end.threads, 1);
#ifndef TEST_PLAIN_NAMES
	CHECK_EQ(end.mallocs - base.mallocs, end.frees - base.frees);
	CHECK_EQ(end.mallocs - base.mallocs,
		 (uint64_t)(WARMUP_WAVES + MEASURED_WAVES) * WAVE * (NSIZES * 3 + HANDED + 1));
	CHECK_EQ(end.heap_alloc, base.heap_alloc);
	CHECK_EQ(end.heap_objects, base.heap_objects);
#endif
	printf("thread-churn (%s): %d threads; Sys %" PRIu64 " -> %" PRIu64 " -> %" PRIu64 " KiB, metadata %" PRIu64
	       " -> %" PRIu64 " KiB\n",
	       api.variant(), (WARMUP_WAVES + MEASURED_WAVES) * WAVE, base.sys >> 10, warm.sys >> 10, end.sys >> 10,
	       warm.metadata_sys >> 10, end.metadata_sys >> 10);
	return 0;
}
