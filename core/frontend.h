/*
 * core/frontend.h — the front end (the thread cache's allocation discipline): the one
 * selection point. See core/frontend/README.md for the contract and core/malloc.c for
 * the overview. The build defines exactly one SPANLAB_FRONTEND_<IMPL>.
 *
 * Included twice by core/internal.h: with SL_FE_TYPES defined, for the per-thread cache
 * type only (struct sl_mcache embeds it); then, at the end, for the functions, once
 * the engine's types are complete.
 */
#if defined(SPANLAB_FRONTEND_FREELIST)
#include "frontend/freelist.h"
#define SL_FE_IMPL freelist
#elif defined(SPANLAB_FRONTEND_BITMAP)
#include "frontend/bitmap.h"
#define SL_FE_IMPL bitmap
#elif defined(SPANLAB_FRONTEND_TINY)
#include "frontend/tiny.h"
#define SL_FE_IMPL tiny
#else
#error "no front end selected: define SPANLAB_FRONTEND_<IMPL> (see core/frontend/README.md)"
#endif

#define SL_FE_ALIAS(suffix) SL_POLICY_NAME(sl_fe_, SL_FE_IMPL, suffix)

#if defined(SL_FE_TYPES)
#ifndef SPANLAB_CORE_FRONTEND_TYPES
#define SPANLAB_CORE_FRONTEND_TYPES
#define sl_fe_cache_t SL_FE_ALIAS(_cache)
#endif
#elif !defined(SPANLAB_CORE_FRONTEND_H)
#define SPANLAB_CORE_FRONTEND_H

#define SL_FE_NAME SL_FE_ALIAS(_NAME_)
#define SL_FE_TINY_MAX SL_FE_ALIAS(_TINY_MAX_)
#define sl_fe_alloc SL_FE_ALIAS(_alloc)
#define sl_fe_free_fast SL_FE_ALIAS(_free_fast)
#define sl_fe_free_small SL_FE_ALIAS(_free_small)
#define sl_fe_alloc_tiny SL_FE_ALIAS(_alloc_tiny)
#define sl_fe_check_interior SL_FE_ALIAS(_check_interior)
#define sl_fe_usable SL_FE_ALIAS(_usable)
#define sl_fe_cache_init SL_FE_ALIAS(_cache_init)
#define sl_fe_cache_teardown SL_FE_ALIAS(_cache_teardown)
#define sl_fe_flush SL_FE_ALIAS(_flush)
#define sl_fe_cache_mallocs SL_FE_ALIAS(_cache_mallocs)
#define sl_fe_cache_frees SL_FE_ALIAS(_cache_frees)
#define sl_fe_span_free_objects SL_FE_ALIAS(_span_free_objects)
#define sl_fe_stats SL_FE_ALIAS(_stats)

/* The contract, checked at compile time for the selected implementation. */
_Static_assert(sizeof(SL_FE_NAME) > 1, "the front end names itself");
_Static_assert(SL_FE_TINY_MAX == 0 || SL_FE_TINY_MAX == 16, "tiny blocks are 16 bytes");
SL_CHECK_SIGNATURE(sl_fe_alloc, void *(*)(uint32_t));
SL_CHECK_SIGNATURE(sl_fe_free_fast, bool (*)(sl_mcache *, sl_span *, void *));
SL_CHECK_SIGNATURE(sl_fe_free_small, void (*)(sl_span *, void *));
SL_CHECK_SIGNATURE(sl_fe_alloc_tiny, void *(*)(size_t));
SL_CHECK_SIGNATURE(sl_fe_check_interior, bool (*)(sl_span *, const void *));
SL_CHECK_SIGNATURE(sl_fe_usable, size_t (*)(sl_span *, const void *));
SL_CHECK_SIGNATURE(sl_fe_cache_init, void (*)(sl_mcache *));
SL_CHECK_SIGNATURE(sl_fe_cache_teardown, void (*)(sl_mcache *));
SL_CHECK_SIGNATURE(sl_fe_flush, void (*)(sl_mcache *));
SL_CHECK_SIGNATURE(sl_fe_cache_mallocs, uint64_t (*)(sl_mcache *, uint32_t));
SL_CHECK_SIGNATURE(sl_fe_cache_frees, uint64_t (*)(sl_mcache *, uint32_t));
SL_CHECK_SIGNATURE(sl_fe_span_free_objects, uint64_t (*)(sl_span *));
SL_CHECK_SIGNATURE(sl_fe_stats, void (*)(spanlab_stats *));

#endif
