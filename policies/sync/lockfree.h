/*
 * Central sync policy `lockfree`: the batch stacks are Concurrency Kit's lock-free
 * Treiber stack (ck_stack), ABA-safe. The policy declares ENGINE_LOCKFREE: with the
 * `freelist` front end the engine keeps its span lists lock-free on a second such stack
 * (core/mcentral.c) and uses the lock-free page heap (core/mheap_lockfree.c); the
 * mutex below guards span lists only for the `bitmap` and `tiny` front ends.
 * Contract: policies/sync/README.md.
 *
 * ABA: ck_stack_(try)pop_mpmc compares and swaps the pair (head, generation) with one
 * double-width CAS (cmpxchg16b on x86-64) and bumps the generation on every pop, so a
 * popper whose snapshot (head A, A->next) went stale because A was popped, reused and
 * pushed again fails its CAS instead of installing the stale next. Pushes need no
 * generation (installing `entry` over head H is right whenever head is still H).
 * ck_stack_pop_upmc compares the head alone and is NOT safe here: the engine recycles
 * a popped batch at once. A popper may read A->next after A was popped: safe, because
 * batches are never unmapped (their contents may have changed; the CAS then fails).
 * The double-width CAS needs the stack 16-byte aligned: sl_sync_lockfree_stack_t is.
 *
 * Progress:
 *   stack_push, stack_pop  lock-free (a CAS fails only because another thread's
 *                          operation succeeded; no thread waits for a preempted one;
 *                          failed attempts back off exponentially, capped)
 *   lock / unlock          blocking (pthread mutex; taken only by the bitmap front
 *                          ends, whose span lists are not yet lock-free)
 *   fork hooks             the stack has nothing to quiesce: each operation is one
 *                          atomic instruction, so the child sees a consistent stack.
 */
#ifndef SPANLAB_SYNC_LOCKFREE_H
#define SPANLAB_SYNC_LOCKFREE_H

/* 1: the engine uses its lock-free span lists and page heap with this policy
 * (policies/sync/README.md, "Engine"). */
#define SL_SYNC_LOCKFREE_ENGINE_LOCKFREE 1

#ifndef SL_SYNC_HOOK_LOCKED
#define SL_SYNC_HOOK_LOCKED() ((void)0) /* test builds: a park point while the lock is held */
#endif

#include <ck_backoff.h>
#include <ck_stack.h>
#include <pthread.h>
#include <stddef.h>

#if !defined(CK_F_STACK_TRYPOP_MPMC) || !defined(CK_F_STACK_TRYPUSH_MPMC)
#error "lockfree sync policy: this target has no double-width CAS (ck_stack_trypop_mpmc)"
#endif

typedef pthread_mutex_t sl_sync_lockfree_lock_t;

static inline void sl_sync_lockfree_lock_init(sl_sync_lockfree_lock_t *l) { pthread_mutex_init(l, NULL); }
static inline void sl_sync_lockfree_lock(sl_sync_lockfree_lock_t *l)
{
	pthread_mutex_lock(l);
	SL_SYNC_HOOK_LOCKED();
}
static inline void sl_sync_lockfree_unlock(sl_sync_lockfree_lock_t *l) { pthread_mutex_unlock(l); }
static inline void sl_sync_lockfree_lock_reinit(sl_sync_lockfree_lock_t *l) { pthread_mutex_init(l, NULL); }

typedef ck_stack_entry_t sl_sync_lockfree_link_t;

typedef struct sl_sync_lockfree_stack {
	ck_stack_t s; /* (head, generation): 16 bytes, swapped as a pair by pop */
} __attribute__((aligned(16))) sl_sync_lockfree_stack_t;

_Static_assert(sizeof(ck_stack_t) == 2 * sizeof(void *), "ck_stack_t is (head, generation)");

static inline void sl_sync_lockfree_stack_init(sl_sync_lockfree_stack_t *s)
{
	ck_stack_init(&s->s);
}

/* Both operations retry a single ck attempt, backing off exponentially after a failed
 * CAS (a failure means another thread's operation on the same line just succeeded):
 * under contention the winner keeps the cache line for a run of operations instead of
 * every thread paying a miss per attempt. Still lock-free: backoff delays, never waits
 * for another thread.
 *
 * The ceiling (ck_backoff_eb iterations of a compiler barrier, about 3 us at 8192) was
 * chosen by bench/central's stack/lockfree on a 2-core AMD EPYC, M pop+push pairs/s at
 * 1/2/4/8/16 threads: ceiling 256: 91/30/49/54/65; 2048: 88/84/79/77/80; 8192:
 * 91/89/88/83/91; 65536: 92/104/95/88/71. Short waits keep the two cores stealing the
 * line from each other on every operation. (ck starts at CK_BACKOFF_INITIALIZER, 512,
 * and doubles: with 8192 the waits are 512, 1024, ... 8192; the old ceiling of 256 made
 * them 512 once, then 256.) */
#define SL_LOCKFREE_BACKOFF_CEILING 8192

static inline void sl_sync_lockfree_backoff(ck_backoff_t *b)
{
	ck_backoff_eb(b);
	if (*b > SL_LOCKFREE_BACKOFF_CEILING)
		*b = SL_LOCKFREE_BACKOFF_CEILING;
}

static inline void sl_sync_lockfree_stack_push(sl_sync_lockfree_stack_t *s, sl_sync_lockfree_link_t *n)
{
	if (__builtin_expect(ck_stack_trypush_mpmc(&s->s, n), 1))
		return;
	ck_backoff_t b = CK_BACKOFF_INITIALIZER;
	do
		sl_sync_lockfree_backoff(&b);
	while (!ck_stack_trypush_mpmc(&s->s, n));
}

static inline sl_sync_lockfree_link_t *sl_sync_lockfree_stack_pop(sl_sync_lockfree_stack_t *s)
{
	sl_sync_lockfree_link_t *n;
	if (__builtin_expect(ck_stack_trypop_mpmc(&s->s, &n), 1))
		return n;
	ck_backoff_t b = CK_BACKOFF_INITIALIZER;
	for (;;) {
		if (ck_pr_load_ptr(&s->s.head) == NULL)
			return NULL; /* trypop failed because the stack is empty */
		sl_sync_lockfree_backoff(&b);
		if (ck_stack_trypop_mpmc(&s->s, &n))
			return n;
	}
}

static inline void sl_sync_lockfree_stack_prefork(sl_sync_lockfree_stack_t *s) { (void)s; }
static inline void sl_sync_lockfree_stack_postfork_parent(sl_sync_lockfree_stack_t *s) { (void)s; }
static inline void sl_sync_lockfree_stack_postfork_child(sl_sync_lockfree_stack_t *s) { (void)s; }

static inline void sl_sync_lockfree_global_init(void) {}
static inline void sl_sync_lockfree_thread_exit(void) {}
static inline void sl_sync_lockfree_prefork(void) {}
static inline void sl_sync_lockfree_postfork_parent(void) {}
static inline void sl_sync_lockfree_postfork_child(void) {}

#endif
