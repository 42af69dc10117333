/*
 * core/frontend/tiny/tiny.h — front end `tiny`: the bitmap core (bitmap/bmcore.h) plus
 * the Go runtime's tiny allocator. Requests under 16 bytes are packed into the thread's
 * current 16-byte block (an object of the 16-byte class) at their natural alignment
 * (8, 4 or 2 by the size's low bits; 2 for odd sizes, where Go gives 1, so that a
 * block's word fits 16 bits: below); the block's word in its span's metadata records
 * which offsets hold live objects, and the block goes back to its span when the last
 * one is freed. A new block replaces the current one only if it has more room left
 * (Go's rule), and the holder's free of the last-placed object of its current block
 * moves the fill back (tiny.c). Blocks come from the bitmap core's extra entry, in
 * spans of their own (s->tinywords set, core/spanbits.h), so frees of ordinary
 * 16-byte objects keep the core's fast path; an 8-byte request takes the 8-byte class
 * (SPANLAB_TINY_WHOLE8). Contract: core/frontend/README.md; state: cache.h;
 * design in core/malloc.c.
 */
#ifndef SPANLAB_FE_TINY_H
#define SPANLAB_FE_TINY_H

#include "../bitmap/bmcore.h"

#define sl_fe_tiny_NAME_ "tiny"
#define sl_fe_tiny_TINY_MAX_ 16

/* Tiny block words (s->tinywords[slot] of the 16-byte class's spans that hold tiny
 * blocks; mcentral gives every span of the class 2 bytes of metadata per slot for them
 * when SL_FE_TINY_MAX is set), 16 bits: bit i (0..7)
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

/* Test control only (tests/frontend): 1 takes tiny blocks from the 16-byte class's own
 * entry and lets the free fast path take frees into spans of tiny blocks, so that a
 * block's slot is freed while other objects of the block live: the stress test must
 * catch it. Never set in a library. */
#ifndef SPANLAB_TINY_UNPROTECTED
#define SPANLAB_TINY_UNPROTECTED 0
#endif

/* The core's free fast path; frees into spans that hold tiny blocks (s->tinywords set:
 * the spans of the cache's extra entry, bitmap/cache.h) are declined. */
SL_INLINE bool sl_fe_tiny_free_fast(sl_mcache *c, sl_span *s, void *p)
{
	return sl_bm_free_fast(c, s, p, !SPANLAB_TINY_UNPROTECTED);
}
/* A declined free into a span of tiny blocks goes to the block's word at once (the
 * engine's validation skipped: tiny.c); others: false. p is all it takes, so that the
 * fast path saves no register (the engine's declined call then drops its other
 * arguments). */
bool sl_tiny_free_declined(void *p);
SL_INLINE bool sl_fe_tiny_free_declined(sl_mcache *c, sl_span *s, void *p)
{
	(void)c;
	(void)s;
	return sl_tiny_free_declined(p);
}

/* Alignment of a tiny request, as Go: 8, 4 or 2 by the size's low bits; odd sizes get 2
 * (Go: 1), so that objects start at even offsets and a block's word fits 16 bits. */
SL_INLINE uint32_t sl_tiny_align_mask(size_t size)
{
	return (size & 7) == 0 ? 7 : (size & 3) == 0 ? 3 : 1;
}

/* 1: an 8-byte request takes an object of the 8-byte class instead of half a tiny
 * block (the class wastes nothing on it, and its free is the core's fast path, without
 * the block word's atomics); 0: Go's rule, every request under 16 bytes goes to the
 * tiny allocator. A build-time knob (README.md). */
#ifndef SPANLAB_TINY_WHOLE8
#define SPANLAB_TINY_WHOLE8 1
#endif

/*
 * The tiny fast path (size < 16): the next suitably aligned bytes of the thread's
 * current 16-byte block. Costs one atomic add on the block's word (frees from other
 * threads update it concurrently) besides a dozen plain instructions. With
 * SPANLAB_TINY_WHOLE8, 8 bytes go to the core's fast path instead.
 */
SL_INLINE void *sl_fe_tiny_alloc_tiny(size_t size)
{
	if (SPANLAB_TINY_WHOLE8 && size == 8)
		return sl_bm_alloc(sl_sc_size_to_class(8));
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
 * the blocks (taken from the extra entry; frees of tiny objects count in the class's
 * entry too; block releases do not). */
SL_INLINE uint64_t sl_fe_tiny_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	uint64_t n = sl_bm_cache_mallocs(c, cls);
	if (cls == c->fe.tinycls)
		n += SL_COUNTER_READ(c->fe.tiny_allocs) - SL_COUNTER_READ(c->fe.tiny_blocks) +
		     SL_COUNTER_READ(sl_bm(c)->extra.nmalloc);
	return n;
}

SL_INLINE uint64_t sl_fe_tiny_cache_frees(sl_mcache *c, uint32_t cls) { return sl_bm_cache_frees(c, cls); }
SL_INLINE uint64_t sl_fe_tiny_span_free_objects(sl_span *s) { return sl_sb_span_free_objects(s); }

#endif
