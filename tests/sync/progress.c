/*
 * tests/sync/progress.c — the progress test: does one parked thread stop the others?
 * Linked with a variant's test-hooks library (spanlab-<V>-testhooks, core/testhooks.h).
 *
 * Three workers allocate and free without pause: bursts of small objects (more than a
 * batch, so caches refill from and flush to the central lists), large objects of 16 KiB
 * to 1 MiB (page-heap claims of one and several words), and cross-thread frees through
 * atomic exchange slots (no lock in the test itself). Each counts its completed calls.
 * A controller parks one worker at a time, hundreds of times, two ways:
 *   hook    the library's park hook stops the chosen worker at the next park point it
 *           reaches: inside a sync-policy lock (blocking variants), or between the
 *           steps of a multi-step lock-free operation (lock-free variants); the
 *           controller cycles through the points it asks for (a park not reached
 *           within SERVE_MS is withdrawn);
 *   signal  SIGUSR1 stops it wherever it is (a random moment; the handler waits).
 * While it is parked, every other worker must complete PROGRESS calls; the controller
 * waits as long as needed up to CAP_MS (a generous cap, not a timing threshold: on a
 * loaded machine the others take longer, but they get there). A worker that does not
 * get there within the cap is stuck behind the parked one: a stall.
 *   lock-free variant (spanlab_test_lockfree() == 1): no stall allowed, and at least
 *     MIN_HOOK_PARKS parks must have landed at a hook (else the test proves nothing);
 *   blocking variant (the negative control, e.g. go-mutex-flat): stalls must be seen
 *     (the run stops after STALLS_WANTED of them).
 * Usage: sl-test-progress-<V> [parks]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spanlab.h"

void spanlab_test_set_park_hook(void (*hook)(int point)); /* test-hooks builds only */
int spanlab_test_lockfree(void);

#define WORKERS 3
#define PROGRESS 2000	  /* calls each other worker must complete while one is parked */
#define CAP_MS 8000	  /* ... waiting at most this long */
#define SERVE_MS 1000	  /* a hook park not reached within this is withdrawn */
#define MIN_HOOK_PARKS 20 /* lock-free: hook parks that must land */
#define STALLS_WANTED 2	  /* blocking control: stop after this many stalls */
#define SLOTS 1024

static pthread_t workers[WORKERS];
static _Atomic uint64_t calls[WORKERS];
static _Thread_local int my_idx = -1;
static atomic_int park_target = -1; /* hook: the worker to park at its next point */
static atomic_int parked = -1;	    /* the worker now parked */
static atomic_int parked_point;
static atomic_int wanted_point;	    /* hook: park only at this point (0: any) */
static atomic_int release_flag;
static atomic_int stop;
static void *_Atomic slots[SLOTS];

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
}

/* Waits here until the controller releases (async-signal-safe: atomics, nanosleep). */
static void park_here(int point)
{
	atomic_store(&parked_point, point);
	atomic_store(&parked, my_idx);
	while (!atomic_load(&release_flag))
		nap();
	atomic_store(&parked, -1);
}

static void hook(int point)
{
	int me = my_idx;
	if (me < 0)
		return;
	int t = me, want = atomic_load_explicit(&wanted_point, memory_order_relaxed);
	if (want && want != point)
		return;
	if (atomic_load_explicit(&park_target, memory_order_relaxed) == me &&
	    atomic_compare_exchange_strong(&park_target, &t, -1))
		park_here(point);
}

static void on_signal(int sig)
{
	(void)sig;
	park_here(0);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *worker(void *arg)
{
	my_idx = (int)(intptr_t)arg;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(my_idx + 1);
	void *burst[96];
	while (!atomic_load(&stop)) {
		uint64_t x = rnd(&rng);
		size_t size = (x & 1) ? 64 : 256;
		unsigned n = 48 + (unsigned)(x >> 8) % 48;
		for (unsigned i = 0; i < n; i++) {
			burst[i] = spanlab_malloc(size);
			*(volatile char *)burst[i] = 1;
			atomic_fetch_add_explicit(&calls[my_idx], 1, memory_order_relaxed);
		}
		for (unsigned i = 0; i < n; i++) {
			if (i % 2 == 0) {
				/* Cross-thread: swap with a slot, free what was there. Half of
				 * every burst travels, so caches keep refilling from and flushing
				 * to the central lists of the two classes. */
				void *old = atomic_exchange(&slots[(x >> 20 ^ i) % SLOTS], burst[i]);
				if (old)
					spanlab_free(old);
			} else {
				spanlab_free(burst[i]);
			}
			atomic_fetch_add_explicit(&calls[my_idx], 1, memory_order_relaxed);
		}
		size_t big = (size_t)(2 + (x >> 30) % 127) * 8192;
		void *p = spanlab_malloc(big);
		((volatile char *)p)[big - 1] = 1;
		if (x % 3 == 0)
			p = spanlab_realloc(p, big + 8192 * (1 + (x >> 40) % 64));
		spanlab_free(p);
		atomic_fetch_add_explicit(&calls[my_idx], 2, memory_order_relaxed);
	}
	return NULL;
}

/* Parks worker t (hook or signal); returns false if a hook park was not reached. */
static int park(int t, int by_signal)
{
	atomic_store(&release_flag, 0);
	if (by_signal) {
		pthread_kill(workers[t], SIGUSR1);
	} else {
		atomic_store(&park_target, t);
		uint64_t start = now_ms();
		while (atomic_load(&parked) != t) {
			if (now_ms() - start > SERVE_MS) {
				int exp = t;
				if (atomic_compare_exchange_strong(&park_target, &exp, -1))
					return 0; /* withdrawn before it was taken */
			}
			nap();
		}
	}
	while (atomic_load(&parked) != t)
		nap();
	return 1;
}

static void unpark(void)
{
	atomic_store(&release_flag, 1);
	while (atomic_load(&parked) != -1)
		nap();
}

/* While worker t is parked: do the others each complete PROGRESS calls? */
static int others_progress(int t)
{
	uint64_t base[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		base[i] = atomic_load(&calls[i]);
	uint64_t start = now_ms();
	for (;;) {
		int done = 1;
		for (int i = 0; i < WORKERS; i++)
			if (i != t && atomic_load(&calls[i]) - base[i] < PROGRESS)
				done = 0;
		if (done)
			return 1;
		if (now_ms() - start > CAP_MS)
			return 0;
		nap();
	}
}

int main(int argc, char **argv)
{
	int parks = argc > 1 ? atoi(argv[1]) : 200;
	int lockfree = spanlab_test_lockfree();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	spanlab_test_set_park_hook(hook);
	for (intptr_t i = 0; i < WORKERS; i++)
		pthread_create(&workers[i], NULL, worker, (void *)i);
	uint64_t rng = 12345;
	int hook_parks = 0, signal_parks = 0, stalls = 0, withdrawn = 0;
	int points[16] = {0};
	for (int k = 0; k < parks; k++) {
		int t = (int)(rnd(&rng) % WORKERS), by_signal = (int)(rnd(&rng) % 2);
		/* let the workers run a little between parks */
		for (int i = 0; i < 1 + (int)(rnd(&rng) % 4); i++)
			nap();
		/* Hook parks cycle through points (core/testhooks.h). Lock-free: any point,
		 * then the multi-step operations in turn (6 central take, 7 span listing,
		 * 3 multi-word page claim). Blocking control: the locked page heap's lock
		 * (9), which every worker needs once a burst for its large object, then a
		 * sync-policy lock (1), then any point; the first park is at 9, so the
		 * control shows its stall at once instead of waiting for a lucky park. */
		static const int cycle_lf[] = {0, 6, 7, 3}, cycle_blk[] = {9, 1, 9, 0};
		if (!lockfree && k == 0)
			by_signal = 0;
		atomic_store(&wanted_point, by_signal ? 0 : (lockfree ? cycle_lf : cycle_blk)[(k / 2) % 4]);
		if (!park(t, by_signal)) {
			withdrawn++;
			continue;
		}
		by_signal ? signal_parks++ : hook_parks++;
		int pt = atomic_load(&parked_point);
		points[pt & 15]++;
		int ok = others_progress(t);
		if (!ok) {
			stalls++;
			fprintf(stderr, "progress (%s): park %d (%s, point %d): the other workers stalled\n",
				spanlab_variant(), k, by_signal ? "signal" : "hook", pt);
		}
		unpark();
		if (!lockfree && stalls >= STALLS_WANTED)
			break;
	}
	atomic_store(&stop, 1);
	atomic_store(&park_target, -1);
	atomic_store(&release_flag, 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	printf("progress (%s, %s): %d hook parks, %d signal parks, %d withdrawn, %d stalls; hook points:",
	       spanlab_variant(), lockfree ? "lock-free" : "blocking control", hook_parks, signal_parks, withdrawn,
	       stalls);
	for (int i = 0; i < 16; i++)
		if (points[i])
			printf(" %d:%d", i, points[i]);
	printf("\n");
	if (lockfree) {
		if (stalls) {
			fprintf(stderr, "FAIL: a lock-free variant stalled %d times\n", stalls);
			return 1;
		}
		if (hook_parks < MIN_HOOK_PARKS) {
			fprintf(stderr, "FAIL: only %d parks landed at a hook point (need %d)\n", hook_parks,
				MIN_HOOK_PARKS);
			return 1;
		}
		return 0;
	}
	if (!stalls) {
		fprintf(stderr, "FAIL: the blocking control never stalled: the test cannot see blocking\n");
		return 1;
	}
	return 0;
}
