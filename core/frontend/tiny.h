/*
 * core/frontend/tiny.h — front end `tiny`: `bitmap` (core/frontend/bitmap.h) plus the
 * Go runtime's tiny allocator. Requests under 16 bytes are packed into the thread's
 * current 16-byte block (an object of the 16-byte class) at their natural alignment
 * (8, 4 or 2 by the size's low bits; 2 for odd sizes, where Go gives 1, so that a
 * block's word fits 16 bits: frontend/bitmap.h); the block's word in its span's metadata
 * records which offsets hold live objects, and the block goes back to its span when
 * the last one is freed. A new block replaces the current one only if it has more room
 * left (Go's rule), and the holder's free of the last-placed object of its current
 * block moves the fill back (core/frontend_bitmap.c). Contract:
 * core/frontend/README.md; design in core/malloc.c.
 */
#define SL_FE_BITMAP_TINY 1
#include "bitmap.h"

#if defined(SL_FE_TYPES)
#ifndef SPANLAB_FE_TINY_TYPES
#define SPANLAB_FE_TINY_TYPES
typedef sl_fe_bitmap_cache sl_fe_tiny_cache;
#endif
#elif !defined(SPANLAB_FE_TINY_H)
#define SPANLAB_FE_TINY_H

#define sl_fe_tiny_NAME_ "tiny"
#define sl_fe_tiny_TINY_MAX_ 16
#define sl_fe_tiny_alloc sl_fe_bitmap_alloc
#define sl_fe_tiny_free_fast sl_fe_bitmap_free_fast
#define sl_fe_tiny_free_small sl_fe_bitmap_free_small
#define sl_fe_tiny_alloc_tiny sl_fe_bitmap_alloc_tiny
#define sl_fe_tiny_check_interior sl_fe_bitmap_check_interior
#define sl_fe_tiny_usable sl_fe_bitmap_usable
#define sl_fe_tiny_cache_init sl_fe_bitmap_cache_init
#define sl_fe_tiny_cache_teardown sl_fe_bitmap_cache_teardown
#define sl_fe_tiny_flush sl_fe_bitmap_flush
#define sl_fe_tiny_cache_mallocs sl_fe_bitmap_cache_mallocs
#define sl_fe_tiny_cache_frees sl_fe_bitmap_cache_frees
#define sl_fe_tiny_span_free_objects sl_fe_bitmap_span_free_objects
#define sl_fe_tiny_stats sl_fe_bitmap_stats

#endif
