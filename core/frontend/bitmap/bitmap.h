/*
 * core/frontend/bitmap/bitmap.h — front end `bitmap` (the Go runtime's): the bitmap core
 * (bmcore.h: a thread cache owns spans and allocates from their bitmaps) with nothing
 * added. Contract: core/frontend/README.md; state: cache.h; slow paths: bmcore.c.
 */
#ifndef SPANLAB_FE_BITMAP_H
#define SPANLAB_FE_BITMAP_H

#include "bmcore.h"

#define sl_fe_bitmap_NAME_ "bitmap"
#define sl_fe_bitmap_TINY_MAX_ 0

SL_INLINE void *sl_fe_bitmap_alloc(uint32_t cls) { return sl_bm_alloc(cls); }

SL_INLINE bool sl_fe_bitmap_free_fast(sl_mcache *c, sl_span *s, void *p)
{
	return sl_bm_free_fast(c, s, p, false);
}

SL_INLINE void sl_fe_bitmap_free_small(sl_span *s, void *p) { sl_bm_free_object(s, p, true); }
#define sl_fe_bitmap_free_declined sl_fe_default_free_declined

/* No tiny allocator: never called (SL_FE_TINY_MAX is 0). */
SL_INLINE void *sl_fe_bitmap_alloc_tiny(size_t size) { return sl_bm_alloc(sl_sc_size_to_class(size)); }

#define sl_fe_bitmap_check_interior sl_fe_default_check_interior
#define sl_fe_bitmap_usable sl_fe_default_usable

SL_INLINE void sl_fe_bitmap_cache_init(sl_mcache *c) { sl_bm_cache_init(c); }
/* Thread exit (or a move to another NUMA node), malloc_trim: every span goes back. */
SL_INLINE void sl_fe_bitmap_cache_teardown(sl_mcache *c) { sl_bm_flush(c); }
SL_INLINE void sl_fe_bitmap_flush(sl_mcache *c) { sl_bm_flush(c); }
/* Fork child, another thread's cache: its spans stay owned, lost to the child. */
#define sl_fe_bitmap_cache_lost sl_fe_default_cache_lost
SL_INLINE uint64_t sl_fe_bitmap_cache_mallocs(sl_mcache *c, uint32_t cls) { return sl_bm_cache_mallocs(c, cls); }
SL_INLINE uint64_t sl_fe_bitmap_cache_frees(sl_mcache *c, uint32_t cls) { return sl_bm_cache_frees(c, cls); }
SL_INLINE uint64_t sl_fe_bitmap_span_free_objects(sl_span *s) { return sl_sb_span_free_objects(s); }
SL_INLINE void sl_fe_bitmap_stats(spanlab_stats *out) { sl_bm_stats(out); }

#endif
