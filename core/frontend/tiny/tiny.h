/*
 * core/frontend/tiny/tiny.h — front end `tiny`: the bitmap core (bitmap/bmcore.h) plus
 * the Go runtime's tiny allocator. Requests under 16 bytes are packed into the thread's
 * current 16-byte block (an object of the 16-byte class) at their natural alignment
 * (8, 4 or 2 by the size's low bits; 2 for odd sizes, where Go gives 1, so that a
 * block's word fits 16 bits: below); the block's word in its span's metadata records
 * which offsets hold live objects, and the block goes back to its span when the last
 * one is freed. A new block replaces the current one only if it has more room left
 * (Go's rule), and the holder's free of the last-placed object of its current block
 * moves the fill back (tiny.c). Contract: core/frontend/README.md; state: cache.h;
 * design in core/malloc.c.
 */
#ifndef SPANLAB_FE_TINY_H
#define SPANLAB_FE_TINY_H

#include "../bitmap/bmcore.h"

#define sl_fe_tiny_NAME_ "tiny"
#define sl_fe_tiny_TINY_MAX_ 16

/* Tiny block words (s->tinywords[slot] of the 16-byte class's spans, which mcentral
 * gives 2 bytes of metadata per slot when SL_FE_TINY_MAX is set), 16 bits: bit i (0..7)
 * = a live tiny object starts at offset 2i (tiny objects are at least 2-byte aligned),
 * bits 8..11 = fill in 2-byte units (end of the last object placed, rounded up to
 * even), bit 12 = HOLD (the block is some cache's current block). 0 = not a tiny
 * block. */
#define SL_TINY_LIVE 0xFFu
#define SL_TINY_FILL_SHIFT 8
#define SL_TINY_HOLD (1u << 12)

void *sl_fe_tiny_alloc_tiny_slow(size_t size);
void sl_fe_tiny_free_small(sl_span *s, void *p);
bool sl_fe_tiny_check_interior(sl_span *s, const void *p);
size_t sl_fe_tiny_usable(sl_span *s, const void *p);
void sl_fe_tiny_cache_init(sl_mcache *c);
void sl_fe_tiny_flush(sl_mcache *c);
void sl_fe_tiny_stats(spanlab_stats *out);

SL_INLINE void *sl_fe_tiny_alloc(uint32_t cls) { return sl_bm_alloc(cls); }

/* The core's free fast path; frees of the 16-byte class (tiny blocks) take the slow
 * path (their entry's `slowfree`). */
SL_INLINE bool sl_fe_tiny_free_fast(sl_mcache *c, sl_span *s, void *p) { return sl_bm_free_fast(c, s, p, true); }
/* Nothing the slow path's checks could skip (tiny blocks need them). */
#define sl_fe_tiny_free_declined sl_fe_default_free_declined

/* Alignment of a tiny request, as Go: 8, 4 or 2 by the size's low bits; odd sizes get 2
 * (Go: 1), so that objects start at even offsets and a block's word fits 16 bits. */
SL_INLINE uint32_t sl_tiny_align_mask(size_t size)
{
	return (size & 7) == 0 ? 7 : (size & 3) == 0 ? 3 : 1;
}

/*
 * The tiny fast path (size < 16): the next suitably aligned bytes of the thread's
 * current 16-byte block. Costs one atomic add on the block's word (frees from other
 * threads update it concurrently) besides a dozen plain instructions.
 */
SL_INLINE void *sl_fe_tiny_alloc_tiny(size_t size)
{
	sl_mcache *c = sl_tls_cache;
	if (size == 0)
		size = 1; /* distinct pointers for malloc(0) */
	if (SL_LIKELY(c != NULL)) {
		uint32_t m = sl_tiny_align_mask(size);
		uint32_t old = c->fe.tinyoff;
		uint32_t off = (old + m) & ~m;
		if (SL_LIKELY(off + size <= 16)) {
			uint32_t end = (off + (uint32_t)size + 1) & ~1u;
			/* Sets the start bit (clear: no live object starts at or after the fill)
			 * and advances the fill. */
			__atomic_fetch_add(c->fe.tinyword,
					   (uint16_t)((1u << (off >> 1)) + (((end - old) >> 1) << SL_TINY_FILL_SHIFT)),
					   __ATOMIC_RELAXED);
			c->fe.tinyoff = end;
			SL_COUNTER_ADD(c->fe.tiny_allocs, 1);
			SL_COUNTER_ADD(c->fe.tiny_class_bytes, sl_sc_class_to_size(sl_sc_size_to_class(size)));
			return (void *)(c->fe.tiny + off);
		}
	}
	return sl_fe_tiny_alloc_tiny_slow(size);
}

/* Thread exit (or a move to another NUMA node): the current block and every span go
 * back, as malloc_trim. */
SL_INLINE void sl_fe_tiny_cache_teardown(sl_mcache *c) { sl_fe_tiny_flush(c); }
/* Fork child, another thread's cache: its block and spans are lost to the child. */
#define sl_fe_tiny_cache_lost sl_fe_default_cache_lost

/* Per-class figures count a tiny object as an object of the 16-byte class, and not
 * the blocks (frees of tiny objects count there too; block releases do not). */
SL_INLINE uint64_t sl_fe_tiny_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	uint64_t n = sl_bm_cache_mallocs(c, cls);
	if (cls == c->fe.tinycls)
		n += SL_COUNTER_READ(c->fe.tiny_allocs) - SL_COUNTER_READ(c->fe.tiny_blocks);
	return n;
}

SL_INLINE uint64_t sl_fe_tiny_cache_frees(sl_mcache *c, uint32_t cls) { return sl_bm_cache_frees(c, cls); }
SL_INLINE uint64_t sl_fe_tiny_span_free_objects(sl_span *s) { return sl_sb_span_free_objects(s); }

#endif
