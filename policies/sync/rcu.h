/*
 * Central sync policy `rcu`: the batch stacks are liburcu lock-free stacks (cds_lfs)
 * whose pops run inside an RCU read-side critical section, with a grace period standing
 * between a link's pop and its next push onto a stack; the span lists stay under a
 * pthread mutex. Contract: policies/sync/README.md. Implementation: rcu.c.
 *
 * Flavour: urcu-bp ("bulletproof"). An allocator preloaded into an arbitrary program
 * cannot rely on threads registering and unregistering: QSBR needs quiescent-state
 * announcements; memb/mb need rcu_register_thread before, and rcu_unregister_thread
 * before exit, of *every* reading thread — and a thread that pops without a cache
 * (malloc_trim from a cache-less thread) would never get its thread_exit call, leaving a
 * dangling registry entry that the next grace period dereferences. urcu-bp registers a
 * thread on its first read-side section (registry memory from mmap, not malloc) and
 * unregisters it from its own pthread-key destructor; it is the flavour LTTng-UST uses
 * from inside malloc wrappers. Its read side costs a little more than memb's. Around
 * fork() it needs urcu_bp_before_fork/after_fork_*: wired to the policy's fork hooks.
 * No call_rcu: grace periods are waited for synchronously (synchronize_rcu) by the
 * popping thread, so liburcu creates no thread and allocates nothing.
 *
 * ABA and immediate reuse. A pop reads (head A, A->next) and swaps head from A to
 * A->next with a single-word CAS. That goes wrong only if, between the read and the
 * CAS, A was popped and pushed onto the *same* stack again. The engine reuses a popped
 * batch at once (refills, pushes it onto another stack, flushes it back), so deferring
 * the reuse of the memory is not possible; what the policy defers is the push:
 *   - every pop stamps the link with the grace-period count `popped_gp` it saw (a
 *     link of unknown history, e.g. fresh from the engine's fixalloc, counts as
 *     just popped);
 *   - a push of a link with popped_gp + 2 > (grace periods completed) goes to the
 *     stack's limbo list instead (a second cds_lfs stack, never popped one by one);
 *   - a pop that finds the stack empty takes the whole limbo with one exchange
 *     (__cds_lfs_pop_all: no compare, no ABA), waits for a grace period, and then
 *     returns the first link and pushes the rest onto the stack.
 * Two completed grace periods after a pop, every read-side section that could have
 * seen the link as head has ended (the first may have started before the pop). The
 * limbo's grace period starts after every limbo link was popped, so one suffices there.
 * A popper may read A->next after A was reused: safe, batches are never unmapped.
 *
 * Progress:
 *   stack_push   lock-free (cds_lfs_push: CAS loop; to the stack or to its limbo)
 *   stack_pop    lock-free while the stack is non-empty (read-side section + CAS loop);
 *                blocking when it must recycle the limbo (mutex + synchronize_rcu,
 *                which waits for every reader in a read-side section)
 *   lock/unlock  blocking (pthread mutex around the span lists)
 *   fork hooks   take the policy mutex and liburcu's locks (urcu_bp_before_fork)
 */
#ifndef SPANLAB_SYNC_RCU_H
#define SPANLAB_SYNC_RCU_H

/* 1: the engine uses its lock-free span lists and page heap with this policy
 * (policies/sync/README.md, "Engine"). */
#define SL_SYNC_RCU_ENGINE_LOCKFREE 0

#ifndef SL_SYNC_HOOK_LOCKED
#define SL_SYNC_HOOK_LOCKED() ((void)0) /* test builds: a park point while the lock is held */
#endif

#include <pthread.h>
#include <stddef.h>
#include <urcu/lfstack.h>

typedef pthread_mutex_t sl_sync_rcu_lock_t;

static inline void sl_sync_rcu_lock_init(sl_sync_rcu_lock_t *l) { pthread_mutex_init(l, NULL); }
static inline void sl_sync_rcu_lock(sl_sync_rcu_lock_t *l)
{
	pthread_mutex_lock(l);
	SL_SYNC_HOOK_LOCKED();
}
static inline void sl_sync_rcu_unlock(sl_sync_rcu_lock_t *l) { pthread_mutex_unlock(l); }
static inline void sl_sync_rcu_lock_reinit(sl_sync_rcu_lock_t *l) { pthread_mutex_init(l, NULL); }

typedef struct sl_sync_rcu_link {
	struct cds_lfs_node node; /* first: the stack links through it */
	unsigned long popped_gp;  /* 1 + grace periods completed at its last pop; 0 unknown
				     (written by the link's owner; see rcu.c) */
} sl_sync_rcu_link_t;

typedef struct sl_sync_rcu_stack {
	struct __cds_lfs_stack live;  /* links any thread may pop */
	struct __cds_lfs_stack limbo; /* links popped too recently to be pushed on `live` */
} sl_sync_rcu_stack_t;

void sl_sync_rcu_stack_init_impl(sl_sync_rcu_stack_t *s);
void sl_sync_rcu_stack_push_impl(sl_sync_rcu_stack_t *s, sl_sync_rcu_link_t *n);
sl_sync_rcu_link_t *sl_sync_rcu_stack_pop_impl(sl_sync_rcu_stack_t *s);
void sl_sync_rcu_global_init(void);
void sl_sync_rcu_thread_exit(void);
void sl_sync_rcu_prefork(void);
void sl_sync_rcu_postfork_parent(void);
void sl_sync_rcu_postfork_child(void);

static inline void sl_sync_rcu_stack_init(sl_sync_rcu_stack_t *s) { sl_sync_rcu_stack_init_impl(s); }
static inline void sl_sync_rcu_stack_push(sl_sync_rcu_stack_t *s, sl_sync_rcu_link_t *n)
{
	sl_sync_rcu_stack_push_impl(s, n);
}
static inline sl_sync_rcu_link_t *sl_sync_rcu_stack_pop(sl_sync_rcu_stack_t *s)
{
	return sl_sync_rcu_stack_pop_impl(s);
}
/* Per stack there is nothing to quiesce: the policy-wide hooks hold the grace-period
 * mutex and liburcu's locks, and each stack operation is one atomic instruction. */
static inline void sl_sync_rcu_stack_prefork(sl_sync_rcu_stack_t *s) { (void)s; }
static inline void sl_sync_rcu_stack_postfork_parent(sl_sync_rcu_stack_t *s) { (void)s; }
static inline void sl_sync_rcu_stack_postfork_child(sl_sync_rcu_stack_t *s) { (void)s; }

#endif
