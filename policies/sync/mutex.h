/*
 * Central sync policy `mutex`: pthread mutexes for both the span lists and the batch
 * stack. Contract: policies/sync/README.md.
 *
 * Progress: every operation is blocking (a preempted holder stalls the others).
 */
#ifndef SPANLAB_SYNC_MUTEX_H
#define SPANLAB_SYNC_MUTEX_H

/* 1: the engine uses its lock-free span lists and page heap with this policy
 * (policies/sync/README.md, "Engine"). */
#define SL_SYNC_MUTEX_ENGINE_LOCKFREE 0

#ifndef SL_SYNC_HOOK_LOCKED
#define SL_SYNC_HOOK_LOCKED() ((void)0) /* test builds: a park point while the lock is held */
#endif

#include <pthread.h>
#include <stddef.h>

typedef pthread_mutex_t sl_sync_mutex_lock_t;

static inline void sl_sync_mutex_lock_init(sl_sync_mutex_lock_t *l)
{
	pthread_mutex_init(l, NULL);
}
static inline void sl_sync_mutex_lock(sl_sync_mutex_lock_t *l)
{
	pthread_mutex_lock(l);
	SL_SYNC_HOOK_LOCKED();
}
static inline void sl_sync_mutex_unlock(sl_sync_mutex_lock_t *l) { pthread_mutex_unlock(l); }
static inline void sl_sync_mutex_lock_reinit(sl_sync_mutex_lock_t *l)
{
	pthread_mutex_init(l, NULL);
}

typedef struct sl_sync_mutex_link {
	struct sl_sync_mutex_link *next;
} sl_sync_mutex_link_t;

typedef struct sl_sync_mutex_stack {
	pthread_mutex_t lock;
	sl_sync_mutex_link_t *top; /* guarded by lock */
} sl_sync_mutex_stack_t;

static inline void sl_sync_mutex_stack_init(sl_sync_mutex_stack_t *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->top = NULL;
}

static inline void sl_sync_mutex_stack_push(sl_sync_mutex_stack_t *s, sl_sync_mutex_link_t *n)
{
	pthread_mutex_lock(&s->lock);
	SL_SYNC_HOOK_LOCKED();
	n->next = s->top;
	s->top = n;
	pthread_mutex_unlock(&s->lock);
}

static inline sl_sync_mutex_link_t *sl_sync_mutex_stack_pop(sl_sync_mutex_stack_t *s)
{
	pthread_mutex_lock(&s->lock);
	SL_SYNC_HOOK_LOCKED();
	sl_sync_mutex_link_t *n = s->top;
	if (n)
		s->top = n->next;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static inline void sl_sync_mutex_stack_prefork(sl_sync_mutex_stack_t *s)
{
	pthread_mutex_lock(&s->lock);
}
static inline void sl_sync_mutex_stack_postfork_parent(sl_sync_mutex_stack_t *s)
{
	pthread_mutex_unlock(&s->lock);
}
static inline void sl_sync_mutex_stack_postfork_child(sl_sync_mutex_stack_t *s)
{
	pthread_mutex_init(&s->lock, NULL);
}

static inline void sl_sync_mutex_global_init(void) {}
static inline void sl_sync_mutex_thread_exit(void) {}
static inline void sl_sync_mutex_prefork(void) {}
static inline void sl_sync_mutex_postfork_parent(void) {}
static inline void sl_sync_mutex_postfork_child(void) {}

#endif
