/*
 * core/frontend.h — the front end (the thread cache's allocation discipline): the one
 * selection point. See core/frontend/README.md for the contract and core/malloc.c for
 * the overview. The build defines exactly one SPANLAB_FRONTEND_<IMPL>.
 *
 * core/internal.h includes this header once, after the engine's types: it names the
 * selected implementation, includes its per-thread type (core/frontend/<impl>/cache.h,
 * which the engine's thread cache embeds as `fe`) and maps the contract's names to the
 * implementation's. At its end, once struct sl_mcache is complete, internal.h includes
 * the implementation's functions (SL_FE_HEADER) and checks them (SL_FE_CHECK_CONTRACT).
 */
#ifndef SPANLAB_CORE_FRONTEND_H
#define SPANLAB_CORE_FRONTEND_H

#include "../base/policy_util.h"

#if defined(SPANLAB_FRONTEND_FREELIST)
#define SL_FE_IMPL freelist
#define SL_FE_HEADER "frontend/freelist/freelist.h"
#include "frontend/freelist/cache.h"
#elif defined(SPANLAB_FRONTEND_BITMAP)
#define SL_FE_IMPL bitmap
#define SL_FE_HEADER "frontend/bitmap/bitmap.h"
#include "frontend/bitmap/cache.h"
#elif defined(SPANLAB_FRONTEND_TINY)
#define SL_FE_IMPL tiny
#define SL_FE_HEADER "frontend/tiny/tiny.h"
#include "frontend/tiny/cache.h"
#elif defined(SPANLAB_FRONTEND_PERCPU)
#define SL_FE_IMPL percpu
#define SL_FE_HEADER "frontend/percpu/percpu.h"
#include "frontend/percpu/cache.h"
#else
#error "no front end selected: define SPANLAB_FRONTEND_<IMPL> (see core/frontend/README.md)"
#endif

#define SL_FE_ALIAS(suffix) SL_POLICY_NAME(sl_fe_, SL_FE_IMPL, suffix)

#define sl_fe_cache_t SL_FE_ALIAS(_cache)
#define SL_FE_NAME SL_FE_ALIAS(_NAME_)
#define SL_FE_TINY_MAX SL_FE_ALIAS(_TINY_MAX_)
#define sl_fe_alloc SL_FE_ALIAS(_alloc)
#define sl_fe_free_fast SL_FE_ALIAS(_free_fast)
#define sl_fe_free_declined SL_FE_ALIAS(_free_declined)
#define sl_fe_free_small SL_FE_ALIAS(_free_small)
#define sl_fe_alloc_tiny SL_FE_ALIAS(_alloc_tiny)
#define sl_fe_check_interior SL_FE_ALIAS(_check_interior)
#define sl_fe_usable SL_FE_ALIAS(_usable)
#define sl_fe_cache_init SL_FE_ALIAS(_cache_init)
#define sl_fe_cache_teardown SL_FE_ALIAS(_cache_teardown)
#define sl_fe_cache_lost SL_FE_ALIAS(_cache_lost)
#define sl_fe_flush SL_FE_ALIAS(_flush)
#define sl_fe_cache_mallocs SL_FE_ALIAS(_cache_mallocs)
#define sl_fe_cache_frees SL_FE_ALIAS(_cache_frees)
#define sl_fe_span_free_objects SL_FE_ALIAS(_span_free_objects)
#define sl_fe_stats SL_FE_ALIAS(_stats)

/* Contract entries most front ends have nothing to add to: a front end names these
 * (#define sl_fe_<impl>_usable sl_fe_default_usable, ...) instead of writing its own. */
SL_INLINE bool sl_fe_default_free_declined(sl_mcache *c, sl_span *s, void *p)
{
	(void)c;
	(void)s;
	(void)p;
	return false; /* nothing the engine's slow path could skip */
}
SL_INLINE bool sl_fe_default_check_interior(sl_span *s, const void *p)
{
	(void)s;
	(void)p;
	return false; /* no objects inside objects */
}
SL_INLINE size_t sl_fe_default_usable(sl_span *s, const void *p)
{
	(void)p;
	return s->elemsize;
}
/* Fork child, another thread's cache: nothing of it to reclaim. */
SL_INLINE void sl_fe_default_cache_lost(sl_mcache *c) { (void)c; }

/* The contract, checked at compile time for the selected implementation. */
#define SL_FE_CHECK_CONTRACT()                                                                   \
	_Static_assert(sizeof(SL_FE_NAME) > 1, "the front end names itself");                  \
	_Static_assert(SL_FE_TINY_MAX == 0 || SL_FE_TINY_MAX == 16, "tiny blocks are 16 bytes"); \
	SL_CHECK_SIGNATURE(sl_fe_alloc, void *(*)(uint32_t));                                   \
	SL_CHECK_SIGNATURE(sl_fe_free_fast, bool (*)(sl_mcache *, sl_span *, void *));          \
	SL_CHECK_SIGNATURE(sl_fe_free_declined, bool (*)(sl_mcache *, sl_span *, void *));      \
	SL_CHECK_SIGNATURE(sl_fe_free_small, void (*)(sl_span *, void *));                      \
	SL_CHECK_SIGNATURE(sl_fe_alloc_tiny, void *(*)(size_t));                                \
	SL_CHECK_SIGNATURE(sl_fe_check_interior, bool (*)(sl_span *, const void *));            \
	SL_CHECK_SIGNATURE(sl_fe_usable, size_t (*)(sl_span *, const void *));                  \
	SL_CHECK_SIGNATURE(sl_fe_cache_init, void (*)(sl_mcache *));                            \
	SL_CHECK_SIGNATURE(sl_fe_cache_teardown, void (*)(sl_mcache *));                        \
	SL_CHECK_SIGNATURE(sl_fe_cache_lost, void (*)(sl_mcache *));                            \
	SL_CHECK_SIGNATURE(sl_fe_flush, void (*)(sl_mcache *));                                 \
	SL_CHECK_SIGNATURE(sl_fe_cache_mallocs, uint64_t (*)(sl_mcache *, uint32_t));           \
	SL_CHECK_SIGNATURE(sl_fe_cache_frees, uint64_t (*)(sl_mcache *, uint32_t));             \
	SL_CHECK_SIGNATURE(sl_fe_span_free_objects, uint64_t (*)(sl_span *));                   \
	SL_CHECK_SIGNATURE(sl_fe_stats, void (*)(spanlab_stats *))

#endif
