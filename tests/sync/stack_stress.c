/*
 * tests/sync/stack_stress.c — the central-sync policy's batch stack under contention,
 * compiled once per implementation (-DSPANLAB_SYNC_<IMPL>; policies/sync.h is the
 * adapter that maps sl_sync_* to it).
 *
 * A small pool of nodes, two stacks (like an mcentral's `full` and `spare`), and many
 * threads that pop a few nodes, hold them briefly and push them back at once — onto
 * either stack — so that nodes are recycled immediately: the pattern that exposes ABA.
 * Checked:
 *   - no double hand-out: each node carries an atomic owner word; a pop that finds it
 *     already owned, or a push of a node the pusher does not own, fails the test;
 *   - no corruption: node ids are in range and the stack never yields a foreign pointer;
 *   - nothing lost or duplicated: at the end, popping both stacks empty yields every
 *     node exactly once.
 * Built with -DSL_TEST_ABA_CONTROL against aba_control.h instead, a stack whose pop is
 * not ABA-safe, it must fail: that is how we know the test can fail.
 * Usage: sl-test-sync-stack-<impl> [threads...]   (default: 2 4 8 16)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#if defined(SL_TEST_ABA_CONTROL)
#include "aba_control.h" /* a stack known to be broken: the test must catch it */
#else
#include "../../policies/sync.h"
#endif

#define SL_TEST_OPS_TOTAL 200000 /* pops per run, shared out between the threads */
#define SL_TEST_HOLD 3		 /* nodes a thread holds at most at once */

typedef struct node {
	sl_sync_link_t link; /* first member, as in struct sl_batch */
	uint32_t id;
	atomic_uint owner; /* 0 = on a stack, else 1 + thread index */
	uint64_t payload;  /* written by the owner, checked by the owner */
} node;

static node *pool;
static unsigned npool;
static sl_sync_stack_t stacks[2] __attribute__((aligned(64)));
static atomic_ulong empties;

static node *checked(sl_sync_link_t *l)
{
	node *n = (node *)l;
	if (n < pool || n >= pool + npool || (size_t)((char *)n - (char *)pool) % sizeof(node)) {
		FAIL_MT("pop returned %p, not a node of the pool", (void *)l);
		abort();
	}
	return n;
}

typedef struct {
	unsigned idx, ops;
	uint64_t rng;
} worker_arg;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *p)
{
	worker_arg *a = p;
	unsigned me = a->idx + 1;
	node *held[SL_TEST_HOLD];
	unsigned nheld = 0;
	for (unsigned op = 0; op < a->ops && !check_failed_mt(); op++) {
		uint64_t r = next_rand(&a->rng);
		unsigned want = 1 + (unsigned)(r % SL_TEST_HOLD);
		while (nheld < want) {
			sl_sync_link_t *l = sl_sync_stack_pop(&stacks[(r >> 8) & 1]);
			if (!l)
				l = sl_sync_stack_pop(&stacks[!((r >> 8) & 1)]);
			if (!l) {
				atomic_fetch_add_explicit(&empties, 1, memory_order_relaxed);
				break;
			}
			node *n = checked(l);
			unsigned prev = atomic_exchange(&n->owner, me);
			if (prev != 0) {
				FAIL_MT("node %u handed out twice (held by thread %u, popped by %u)", n->id,
				     prev - 1, me - 1);
				return NULL;
			}
			n->payload = ((uint64_t)me << 32) | n->id;
			held[nheld++] = n;
		}
		if ((r >> 16) % 4 == 0)
			sched_yield(); /* let preempted poppers go stale */
		/* Push everything back at once: immediate reuse. */
		while (nheld) {
			node *n = held[--nheld];
			if (n->payload != (((uint64_t)me << 32) | n->id))
				FAIL_MT("node %u changed while thread %u held it", n->id, me - 1);
			unsigned prev = atomic_exchange(&n->owner, 0);
			if (prev != me)
				FAIL_MT("node %u owned by %u when thread %u pushed it", n->id, prev, me - 1);
			sl_sync_stack_push(&stacks[(next_rand(&a->rng) >> 9) & 1], &n->link);
		}
	}
	while (nheld) { /* stopped early by a failure elsewhere */
		node *n = held[--nheld];
		atomic_store(&n->owner, 0);
		sl_sync_stack_push(&stacks[0], &n->link);
	}
	return NULL;
}

static int run(unsigned nthreads)
{
	npool = nthreads + 2; /* few nodes: every node is recycled all the time */
	pool = calloc(npool, sizeof(node));
	if (!pool)
		return 1;
	sl_sync_stack_init(&stacks[0]);
	sl_sync_stack_init(&stacks[1]);
	for (unsigned i = 0; i < npool; i++) {
		pool[i].id = i;
		sl_sync_stack_push(&stacks[i & 1], &pool[i].link);
	}
	atomic_store(&empties, 0);
	pthread_t *t = calloc(nthreads, sizeof *t);
	worker_arg *args = calloc(nthreads, sizeof *args);
	for (unsigned i = 0; i < nthreads; i++) {
		args[i] = (worker_arg){.idx = i, .ops = SL_TEST_OPS_TOTAL / nthreads,
				       .rng = 0x9E3779B97F4A7C15ull * (i + 1)};
		if (pthread_create(&t[i], NULL, worker, &args[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);

	/* Reconcile: every node exactly once, none owned. */
	unsigned char *seen = calloc(npool, 1);
	unsigned count = 0;
	for (int s = 0; s < 2; s++) {
		sl_sync_link_t *l;
		while ((l = sl_sync_stack_pop(&stacks[s]))) {
			node *n = checked(l);
			if (seen[n->id]++)
				FAIL_MT("node %u is on the stacks twice", n->id);
			if (atomic_load(&n->owner) != 0)
				FAIL_MT("node %u on a stack but owned by %u", n->id, atomic_load(&n->owner));
			if (++count > npool) {
				FAIL_MT("more nodes on the stacks than in the pool (cycle?)");
				break;
			}
		}
	}
	if (count != npool)
		FAIL_MT("%u of %u nodes came back: %u lost", count, npool, npool - count);
	printf("sync/%s/stack: %2u threads, %u nodes, %u pops each, %lu empty pops: %s\n", SL_SYNC_NAME,
	       nthreads, npool, SL_TEST_OPS_TOTAL / nthreads, atomic_load(&empties),
	       check_failed_mt() ? "FAILED" : "ok");
	free(seen);
	free(t);
	free(args);
	free(pool);
	return check_failed_mt() != 0;
}

int main(int argc, char **argv)
{
	static const unsigned defaults[] = {2, 4, 8, 16};
	int rc = 0;
	sl_sync_global_init();
	if (argc > 1) {
		for (int i = 1; i < argc && !rc; i++)
			rc |= run((unsigned)strtoul(argv[i], NULL, 10));
	} else {
		for (size_t i = 0; i < sizeof defaults / sizeof *defaults && !rc; i++)
			rc |= run(defaults[i]);
	}
	return rc;
}
