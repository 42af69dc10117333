/*
 * bench/central/stack_adapter.c — one central-sync policy's batch stack behind a plain
 * table of functions, so that bench_central.cc can drive every policy side by side.
 * Compiled once per policies/sync/<impl>.h with -DSPANLAB_SYNC_<IMPL>; the table is
 * named sl_bench_stack_<impl>. Every policy pays the same indirect call per operation.
 */
#include <stdlib.h>

#include "../../policies/sync.h"
#include "stack_adapter.h"

typedef struct bench_node {
	sl_sync_link_t link; /* first member, as in struct sl_batch */
	void *head;
	unsigned count;
} bench_node;

typedef struct bench_stack {
	sl_sync_stack_t s __attribute__((aligned(64)));
	bench_node *pool;
} bench_stack;

static void *create(size_t nodes)
{
	static int once;
	if (!once) {
		once = 1;
		sl_sync_global_init();
	}
	bench_stack *b = aligned_alloc(64, sizeof *b);
	if (!b)
		abort();
	sl_sync_stack_init(&b->s);
	b->pool = calloc(nodes, sizeof *b->pool);
	if (!b->pool)
		abort();
	for (size_t i = 0; i < nodes; i++)
		sl_sync_stack_push(&b->s, &b->pool[i].link);
	return b;
}

static void destroy(void *p)
{
	bench_stack *b = p;
	while (sl_sync_stack_pop(&b->s))
		;
	free(b->pool);
	free(b);
}

static void *pop(void *p) { return sl_sync_stack_pop(&((bench_stack *)p)->s); }
static void push(void *p, void *n) { sl_sync_stack_push(&((bench_stack *)p)->s, n); }

/* SL_BENCH_VARIANT names a build of the policy with different tuning (e.g. noyield). */
#ifdef SL_BENCH_VARIANT
#define SL_BENCH_TABLE SL_POLICY_NAME(sl_bench_stack_, SL_SYNC_IMPL, SL_POLICY_NAME(_, SL_BENCH_VARIANT, ))
#define SL_BENCH_STR_(x) #x
#define SL_BENCH_STR(x) SL_BENCH_STR_(x)
#define SL_BENCH_NAME SL_SYNC_NAME "-" SL_BENCH_STR(SL_BENCH_VARIANT)
#else
#define SL_BENCH_TABLE SL_POLICY_NAME(sl_bench_stack_, SL_SYNC_IMPL, )
#define SL_BENCH_NAME SL_SYNC_NAME
#endif
const sl_bench_stack_ops SL_BENCH_TABLE = {SL_BENCH_NAME, create, destroy, pop, push};
