/*
 * tests/sync/aba_control.h — a negative control for stack_stress.c: a Treiber stack
 * whose pop compares the head pointer alone (like ck_stack_pop_upmc), with a yield
 * between reading (head, head->next) and the CAS to widen the ABA window. With nodes
 * recycled at once it hands nodes out twice or loses them; stack_stress must say so.
 */
#ifndef SL_TEST_ABA_CONTROL_H
#define SL_TEST_ABA_CONTROL_H

#include <sched.h>
#include <stddef.h>

#define SL_SYNC_NAME "aba-control"

typedef struct sl_sync_link {
	struct sl_sync_link *_Atomic next;
} sl_sync_link_t;

typedef struct {
	sl_sync_link_t *_Atomic top;
} sl_sync_stack_t;

static inline void sl_sync_stack_init(sl_sync_stack_t *s) { s->top = NULL; }
static inline void sl_sync_global_init(void) {}

static inline void sl_sync_stack_push(sl_sync_stack_t *s, sl_sync_link_t *n)
{
	sl_sync_link_t *top = s->top;
	do
		n->next = top;
	while (!__atomic_compare_exchange_n(&s->top, &top, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static inline sl_sync_link_t *sl_sync_stack_pop(sl_sync_stack_t *s)
{
	sl_sync_link_t *top = s->top, *next;
	do {
		if (!top)
			return NULL;
		next = top->next;
		sched_yield(); /* the ABA window: top may be popped and pushed back meanwhile */
	} while (!__atomic_compare_exchange_n(&s->top, &top, next, 1, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
	return top;
}

#endif
