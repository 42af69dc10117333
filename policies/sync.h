/*
 * Central-sync policy: the one selection point. See policies/sync/README.md for the
 * contract. The build defines exactly one SPANLAB_SYNC_<IMPL>.
 */
#ifndef SPANLAB_POLICY_SYNC_H
#define SPANLAB_POLICY_SYNC_H

#include "../base/policy_util.h"

#if defined(SPANLAB_SYNC_MUTEX)
#include "sync/mutex.h"
#define SL_SYNC_IMPL mutex
#define SL_SYNC_NAME "mutex"
#define SL_SYNC_ENGINE_LOCKFREE SL_SYNC_MUTEX_ENGINE_LOCKFREE
#elif defined(SPANLAB_SYNC_SPIN)
#include "sync/spin.h"
#define SL_SYNC_IMPL spin
#define SL_SYNC_NAME "spin"
#define SL_SYNC_ENGINE_LOCKFREE SL_SYNC_SPIN_ENGINE_LOCKFREE
#elif defined(SPANLAB_SYNC_LOCKFREE)
#include "sync/lockfree.h"
#define SL_SYNC_IMPL lockfree
#define SL_SYNC_NAME "lockfree"
#define SL_SYNC_ENGINE_LOCKFREE SL_SYNC_LOCKFREE_ENGINE_LOCKFREE
#elif defined(SPANLAB_SYNC_RCU)
#include "sync/rcu.h"
#define SL_SYNC_IMPL rcu
#define SL_SYNC_NAME "rcu"
#define SL_SYNC_ENGINE_LOCKFREE SL_SYNC_RCU_ENGINE_LOCKFREE
#else
#error "no central-sync policy selected: define SPANLAB_SYNC_<IMPL> (see policies/sync/README.md)"
#endif

#define SL_SYNC_ALIAS(suffix) SL_POLICY_NAME(sl_sync_, SL_SYNC_IMPL, suffix)
#define sl_sync_lock_t SL_SYNC_ALIAS(_lock_t)
#define sl_sync_lock_init SL_SYNC_ALIAS(_lock_init)
#define sl_sync_lock SL_SYNC_ALIAS(_lock)
#define sl_sync_unlock SL_SYNC_ALIAS(_unlock)
#define sl_sync_lock_reinit SL_SYNC_ALIAS(_lock_reinit)
#define sl_sync_link_t SL_SYNC_ALIAS(_link_t)
#define sl_sync_stack_t SL_SYNC_ALIAS(_stack_t)
#define sl_sync_stack_init SL_SYNC_ALIAS(_stack_init)
#define sl_sync_stack_push SL_SYNC_ALIAS(_stack_push)
#define sl_sync_stack_pop SL_SYNC_ALIAS(_stack_pop)
#define sl_sync_stack_prefork SL_SYNC_ALIAS(_stack_prefork)
#define sl_sync_stack_postfork_parent SL_SYNC_ALIAS(_stack_postfork_parent)
#define sl_sync_stack_postfork_child SL_SYNC_ALIAS(_stack_postfork_child)
#define sl_sync_global_init SL_SYNC_ALIAS(_global_init)
#define sl_sync_thread_exit SL_SYNC_ALIAS(_thread_exit)
#define sl_sync_prefork SL_SYNC_ALIAS(_prefork)
#define sl_sync_postfork_parent SL_SYNC_ALIAS(_postfork_parent)
#define sl_sync_postfork_child SL_SYNC_ALIAS(_postfork_child)

/* The contract, checked at compile time for the selected implementation. */
_Static_assert(SL_SYNC_ENGINE_LOCKFREE == 0 || SL_SYNC_ENGINE_LOCKFREE == 1,
	       "SL_SYNC_<IMPL>_ENGINE_LOCKFREE is 0 or 1");
SL_CHECK_SIGNATURE(sl_sync_lock_init, void (*)(sl_sync_lock_t *));
SL_CHECK_SIGNATURE(sl_sync_lock, void (*)(sl_sync_lock_t *));
SL_CHECK_SIGNATURE(sl_sync_unlock, void (*)(sl_sync_lock_t *));
SL_CHECK_SIGNATURE(sl_sync_lock_reinit, void (*)(sl_sync_lock_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_init, void (*)(sl_sync_stack_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_push, void (*)(sl_sync_stack_t *, sl_sync_link_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_pop, sl_sync_link_t *(*)(sl_sync_stack_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_prefork, void (*)(sl_sync_stack_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_postfork_parent, void (*)(sl_sync_stack_t *));
SL_CHECK_SIGNATURE(sl_sync_stack_postfork_child, void (*)(sl_sync_stack_t *));
SL_CHECK_SIGNATURE(sl_sync_global_init, void (*)(void));
SL_CHECK_SIGNATURE(sl_sync_thread_exit, void (*)(void));
SL_CHECK_SIGNATURE(sl_sync_prefork, void (*)(void));
SL_CHECK_SIGNATURE(sl_sync_postfork_parent, void (*)(void));
SL_CHECK_SIGNATURE(sl_sync_postfork_child, void (*)(void));

#endif
