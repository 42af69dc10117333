/*
 * tests/sync/fork_registry.c — a fork while another thread is half-way through taking
 * a thread cache. Linked with a variant's test-hooks library (spanlab-<V>-testhooks,
 * core/testhooks.h).
 *
 * The registry makes a cache live, then counts it (core/mcache.c, sl_mcache_get_slow);
 * a fork can freeze another thread between the two. In the child only the forking
 * thread exists, so the statistics must count exactly one thread cache, its own, and
 * allocation must work there. The test parks a new thread at that point (the park
 * point SL_PARK_REGISTRY), forks, and checks the child; then releases the thread and
 * checks the parent's count. A child that adjusts the parent's count instead of
 * setting it counts 0 caches here (the parked cache is dropped but was never counted).
 * Usage: sl-test-fork-registry-<V>
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spanlab.h"

void spanlab_test_set_park_hook(void (*hook)(int point)); /* test-hooks builds only */

#define PARK_REGISTRY 8 /* SL_PARK_REGISTRY, core/testhooks.h */

static _Thread_local int parkable;
static atomic_int parked, release_flag;

static void nap(void)
{
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
}

static void hook(int point)
{
	if (point != PARK_REGISTRY || !parkable)
		return;
	parkable = 0;
	atomic_store(&parked, 1);
	while (!atomic_load(&release_flag))
		nap();
}

static void *late_thread(void *arg)
{
	(void)arg;
	parkable = 1;
	void *p = spanlab_malloc(100); /* its first allocation: takes a cache, parks */
	if (!p)
		abort();
	spanlab_free(p);
	return NULL;
}

static uint64_t live_caches(void)
{
	static spanlab_stats st;
	spanlab_stats_get(&st);
	return st.threads;
}

int main(void)
{
	void *p = spanlab_malloc(100); /* the main thread's cache */
	if (!p)
		return 1;
	spanlab_free(p);
	spanlab_test_set_park_hook(hook);
	pthread_t t;
	if (pthread_create(&t, NULL, late_thread, NULL) != 0)
		return 1;
	for (int i = 0; !atomic_load(&parked); i++) {
		if (i > 100000) { /* 20 s: the thread never reached the park point */
			fprintf(stderr, "fork-registry: the new thread did not park at the registry\n");
			return 1;
		}
		nap();
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		uint64_t n = live_caches();
		void *q = spanlab_malloc(200);
		if (n != 1 || !q) {
			fprintf(stderr, "fork-registry child: %llu live thread caches (expected 1, the forking "
				"thread's); malloc %s\n", (unsigned long long)n, q ? "ok" : "failed");
			_exit(1);
		}
		spanlab_free(q);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	atomic_store(&release_flag, 1);
	pthread_join(t, NULL);
	spanlab_test_set_park_hook(NULL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "fork-registry: the child failed (status 0x%x)\n", status);
		return 1;
	}
	/* The parked thread finished (its cache counted, then uncounted at exit). */
	uint64_t n = live_caches();
	if (n != 1) {
		fprintf(stderr, "fork-registry parent: %llu live thread caches after the thread's exit, "
			"expected 1\n", (unsigned long long)n);
		return 1;
	}
	printf("fork-registry (%s): a fork while a thread was between making its cache live and "
	       "counting it: the child counts 1 cache and allocates\n", spanlab_variant());
	return 0;
}
