/*
 * policies/sync/rcu.c — the `rcu` central-sync policy's stack operations. The design
 * (flavour, ABA argument, progress) is described in rcu.h. Compiled only into the
 * variants whose sync policy is `rcu` (CMakeLists.txt, spanlab_variant_sources).
 */
#include <stdatomic.h>
#include <urcu/urcu-bp.h>

#include "rcu.h"

/* Grace periods completed. Written under sl_rcu_gp_lock. */
static atomic_ulong sl_rcu_gp_done = 2;

/* A link's popped_gp holds (grace periods completed at its last pop) + 1. Zero means
 * "unknown": the engine's fixalloc zeroes recycled batches, and a batch freed there by
 * one thread may have been popped an instant earlier, so an unknown link is treated as
 * just popped (its first push goes through the limbo). SL_RCU_SETTLED marks a link
 * known to be out of every reader's sight. */
#define SL_RCU_SETTLED 1ul
/* Serialises grace periods (so that sl_rcu_gp_done counts completed, ordered ones) and
 * keeps them out of the fork window. */
static pthread_mutex_t sl_rcu_gp_lock = PTHREAD_MUTEX_INITIALIZER;

void sl_sync_rcu_stack_init_impl(sl_sync_rcu_stack_t *s)
{
	__cds_lfs_init(&s->live);
	__cds_lfs_init(&s->limbo);
}

static inline bool sl_rcu_settled(const sl_sync_rcu_link_t *n)
{
	unsigned long stamp = n->popped_gp;
	return stamp != 0 && stamp - 1 + 2 <= atomic_load_explicit(&sl_rcu_gp_done, memory_order_acquire);
}

void sl_sync_rcu_stack_push_impl(sl_sync_rcu_stack_t *s, sl_sync_rcu_link_t *n)
{
	cds_lfs_push(sl_rcu_settled(n) ? &s->live : &s->limbo, &n->node);
}

static sl_sync_rcu_link_t *sl_rcu_pop_live(sl_sync_rcu_stack_t *s)
{
	urcu_bp_read_lock();
	struct cds_lfs_node *node = __cds_lfs_pop(&s->live);
	urcu_bp_read_unlock();
	if (!node)
		return NULL;
	/* Stamped after the CAS that unlinked it: the grace period after the next one to
	 * complete starts after the unlink, so it waits for every reader that saw it. */
	sl_sync_rcu_link_t *n = caa_container_of(node, sl_sync_rcu_link_t, node);
	n->popped_gp = atomic_load_explicit(&sl_rcu_gp_done, memory_order_seq_cst) + 1;
	return n;
}

/* The stack is empty: recycle its limbo after one grace period. */
static sl_sync_rcu_link_t *sl_rcu_pop_limbo(sl_sync_rcu_stack_t *s)
{
	if (cds_lfs_empty(&s->limbo))
		return NULL;
	pthread_mutex_lock(&sl_rcu_gp_lock);
	struct cds_lfs_head *all = __cds_lfs_pop_all(&s->limbo);
	if (all) {
		urcu_bp_synchronize_rcu();
		atomic_fetch_add_explicit(&sl_rcu_gp_done, 1, memory_order_release);
	}
	pthread_mutex_unlock(&sl_rcu_gp_lock);
	if (!all)
		return sl_rcu_pop_live(s); /* another thread recycled it meanwhile */
	/* Every read-side section that could hold one of these links as the stack's
	 * head has ended: they are settled, and go straight back to `live`. */
	struct cds_lfs_node *node = &all->node, *next;
	sl_sync_rcu_link_t *first = caa_container_of(node, sl_sync_rcu_link_t, node);
	first->popped_gp = SL_RCU_SETTLED;
	for (node = node->next; node; node = next) {
		next = node->next;
		caa_container_of(node, sl_sync_rcu_link_t, node)->popped_gp = SL_RCU_SETTLED;
		cds_lfs_push(&s->live, node);
	}
	return first;
}

sl_sync_rcu_link_t *sl_sync_rcu_stack_pop_impl(sl_sync_rcu_stack_t *s)
{
	sl_sync_rcu_link_t *n = sl_rcu_pop_live(s);
	return n ? n : sl_rcu_pop_limbo(s);
}

/* urcu-bp registers threads on their first read-side section and unregisters them from
 * its own thread-exit hook: nothing to set up, nothing to tear down per thread. */
void sl_sync_rcu_global_init(void) {}
void sl_sync_rcu_thread_exit(void) {}

void sl_sync_rcu_prefork(void)
{
	pthread_mutex_lock(&sl_rcu_gp_lock);
	urcu_bp_before_fork();
}

void sl_sync_rcu_postfork_parent(void)
{
	urcu_bp_after_fork_parent();
	pthread_mutex_unlock(&sl_rcu_gp_lock);
}

void sl_sync_rcu_postfork_child(void)
{
	urcu_bp_after_fork_child();
	pthread_mutex_init(&sl_rcu_gp_lock, NULL);
}
