/*
 * Central sync policy `spin`: a Concurrency Kit spinlock guards both the span lists and
 * the batch stack. Contract: policies/sync/README.md.
 *
 * Which spinlock: ck_spinlock_fas (test-and-test-and-set on a fetch-and-store word),
 * wrapped in a spin-then-yield acquire loop. The FIFO locks (ticket, MCS, CLH) are fair,
 * and that is what makes them collapse when there are more threads than cores: the lock
 * is handed to the next waiter in line whether or not it is running, so a preempted
 * waiter stalls everyone behind it for a whole time slice ("lock-waiter preemption").
 * With FAS any running thread can take a free lock. Waiters spin on a plain load (no
 * cache-line ping-pong while the lock is held), back off exponentially (ck_backoff_eb),
 * and after SL_SPIN_YIELD_AFTER failed rounds call sched_yield(), so that a preempted
 * holder gets a core back instead of the waiters burning their slices.
 *
 * Progress: every operation is blocking (a holder preempted inside a critical section
 * stalls the others until it runs again). Critical sections are a few instructions for
 * the stack, and one batch of span bookkeeping for the lock.
 */
#ifndef SPANLAB_SYNC_SPIN_H
#define SPANLAB_SYNC_SPIN_H

/* 1: the engine uses its lock-free span lists and page heap with this policy
 * (policies/sync/README.md, "Engine"). */
#define SL_SYNC_SPIN_ENGINE_LOCKFREE 0

#ifndef SL_SYNC_HOOK_LOCKED
#define SL_SYNC_HOOK_LOCKED() ((void)0) /* test builds: a park point while the lock is held */
#endif

#include <ck_backoff.h>
#include <ck_spinlock.h>
#include <sched.h>
#include <stddef.h>

#ifndef SL_SPIN_YIELD_AFTER /* overridable: bench/central measures a never-yielding build */
#define SL_SPIN_YIELD_AFTER 16 /* backoff rounds before waiters start to yield */
#endif
#define SL_SPIN_BACKOFF_CEILING 1024 /* ck_backoff_eb iterations, at most, per round */

typedef ck_spinlock_fas_t sl_sync_spin_lock_t;

static inline void sl_sync_spin_lock_init(sl_sync_spin_lock_t *l) { ck_spinlock_fas_init(l); }

/* Slow path: wait (read-only) until the lock looks free, then try again. */
static inline __attribute__((cold)) void sl_sync_spin_lock_wait(sl_sync_spin_lock_t *l)
{
	ck_backoff_t backoff = CK_BACKOFF_INITIALIZER;
	unsigned rounds = 0;
	do {
		while (ck_spinlock_fas_locked(l)) {
			if (rounds < SL_SPIN_YIELD_AFTER) {
				rounds++;
				ck_backoff_eb(&backoff);
				if (backoff > SL_SPIN_BACKOFF_CEILING)
					backoff = SL_SPIN_BACKOFF_CEILING;
			} else {
				sched_yield();
			}
		}
	} while (!ck_spinlock_fas_trylock(l));
}

static inline void sl_sync_spin_lock(sl_sync_spin_lock_t *l)
{
	if (__builtin_expect(!ck_spinlock_fas_trylock(l), 0))
		sl_sync_spin_lock_wait(l);
	SL_SYNC_HOOK_LOCKED();
}
static inline void sl_sync_spin_unlock(sl_sync_spin_lock_t *l) { ck_spinlock_fas_unlock(l); }
static inline void sl_sync_spin_lock_reinit(sl_sync_spin_lock_t *l) { ck_spinlock_fas_init(l); }

typedef struct sl_sync_spin_link {
	struct sl_sync_spin_link *next;
} sl_sync_spin_link_t;

typedef struct sl_sync_spin_stack {
	sl_sync_spin_lock_t lock;
	sl_sync_spin_link_t *top; /* guarded by lock */
} sl_sync_spin_stack_t;

static inline void sl_sync_spin_stack_init(sl_sync_spin_stack_t *s)
{
	ck_spinlock_fas_init(&s->lock);
	s->top = NULL;
}

static inline void sl_sync_spin_stack_push(sl_sync_spin_stack_t *s, sl_sync_spin_link_t *n)
{
	sl_sync_spin_lock(&s->lock);
	n->next = s->top;
	s->top = n;
	sl_sync_spin_unlock(&s->lock);
}

static inline sl_sync_spin_link_t *sl_sync_spin_stack_pop(sl_sync_spin_stack_t *s)
{
	sl_sync_spin_lock(&s->lock);
	sl_sync_spin_link_t *n = s->top;
	if (n)
		s->top = n->next;
	sl_sync_spin_unlock(&s->lock);
	return n;
}

static inline void sl_sync_spin_stack_prefork(sl_sync_spin_stack_t *s) { sl_sync_spin_lock(&s->lock); }
static inline void sl_sync_spin_stack_postfork_parent(sl_sync_spin_stack_t *s)
{
	sl_sync_spin_unlock(&s->lock);
}
static inline void sl_sync_spin_stack_postfork_child(sl_sync_spin_stack_t *s)
{
	ck_spinlock_fas_init(&s->lock);
}

static inline void sl_sync_spin_global_init(void) {}
static inline void sl_sync_spin_thread_exit(void) {}
static inline void sl_sync_spin_prefork(void) {}
static inline void sl_sync_spin_postfork_parent(void) {}
static inline void sl_sync_spin_postfork_child(void) {}

#endif
