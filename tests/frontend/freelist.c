/*
 * tests/frontend/freelist.c — a test of front end `freelist`, linked with a freelist
 * variant's static library (prefixed API) and compiled with its policy definitions (it
 * sees core/internal.h). Usage: freelist apart | control
 *
 *   apart    two threads fill their caches at the same time, in lock-step: each
 *            allocates 64 objects of one size, then waits until the other has done as
 *            many (so each one's refills alternate with the other's, however the two
 *            are scheduled), until each holds 15000; for 8-, 16- and 64-byte objects.
 *            At most SL_TEST_SHARED spans may hold objects of both threads: the refills
 *            in a row grow (sl_fl_refill, SPANLAB_FREELIST_REFILL_RUN), so the threads
 *            carve the spans in long runs, each run one thread's. Taking one batch per
 *            refill, they cut every span between them (the control).
 *   control  apart on a library built with SPANLAB_FREELIST_REFILL_RUN=0 (one batch per
 *            refill): exits 0 once apart's check fails, as it must, 1 if it passes.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../../core/internal.h"
#include "../check.h"

#define AP_OBJS 15000
#define AP_STEP 64
#define SL_TEST_SHARED 4 /* spans holding both threads' objects, at most */

static void *ap_objs[2][AP_OBJS];
static atomic_uint ap_done[2]; /* rounds of AP_STEP allocations each thread finished */
static size_t ap_size;

static void *ap_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (uint32_t r = 0; r * AP_STEP < AP_OBJS; r++) {
		while (atomic_load(&ap_done[1 - id]) < r)
			sched_yield();
		for (uint32_t i = r * AP_STEP; i < (r + 1) * AP_STEP && i < AP_OBJS; i++) {
			ap_objs[id][i] = spanlab_malloc(ap_size);
			memset(ap_objs[id][i], id + 1, ap_size);
		}
		atomic_store(&ap_done[id], r + 1);
	}
	return NULL;
}

/* Spans that hold objects of both threads, for objects of `size` bytes. */
static uint32_t ap_shared(size_t size)
{
	ap_size = size;
	atomic_store(&ap_done[0], 0);
	atomic_store(&ap_done[1], 0);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, ap_thread, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* Each span of thread 1's objects, once: is any object of thread 0 in it? */
	static sl_span *seen[AP_OBJS];
	uint32_t nseen = 0, shared = 0;
	for (uint32_t i = 0; i < AP_OBJS; i++) {
		sl_span *s = sl_span_of(ap_objs[1][i]);
		bool known = false;
		for (uint32_t k = 0; k < nseen && !known; k++)
			known = seen[k] == s;
		if (known)
			continue;
		seen[nseen++] = s;
		for (uint32_t j = 0; j < AP_OBJS; j++)
			if (sl_span_of(ap_objs[0][j]) == s) {
				shared++;
				break;
			}
	}
	for (int id = 0; id < 2; id++)
		for (uint32_t i = 0; i < AP_OBJS; i++) {
			EXPECT(((unsigned char *)ap_objs[id][i])[size - 1] == id + 1, "thread %d object %u overwritten",
			       id, i);
			spanlab_free(ap_objs[id][i]);
		}
	return shared;
}

/* The apart case: the number of sizes whose shared spans exceed SL_TEST_SHARED. */
static int apart(bool quiet)
{
	static const size_t sizes[] = { 8, 16, 64 };
	int over = 0;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint32_t shared = ap_shared(sizes[k]);
		if (!quiet)
			printf("freelist apart (%s): %zu-byte objects, %u spans hold both threads' objects\n",
			       spanlab_variant(), sizes[k], shared);
		over += shared > SL_TEST_SHARED;
	}
	return over;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "control")) {
		int over = apart(false);
		printf("freelist control: %s\n", over ? "the apart check failed, as it must" : "the apart check passed");
		return over ? 0 : 1;
	}
	int over = apart(false);
	EXPECT(over == 0, "%d sizes with more than %d spans holding both threads' objects", over, SL_TEST_SHARED);
	if (check_report("freelist"))
		return 1;
	printf("freelist apart (%s): ok\n", spanlab_variant());
	return 0;
}
