/*
 * core/frontend/bitmap/bmcore.h — the bitmap core (the Go runtime's mcache over span
 * bitmaps): the thread cache owns one span per size class and allocates the span's free
 * slots from its allocation bitmap. Front ends `bitmap` (bitmap.h) and `tiny`
 * (tiny/tiny.h) are built on it; its state is their cache's first member `bm`
 * (sl_bm_cache, cache.h). The slow paths are in bmcore.c, mcentral's side of span
 * bitmaps in core/mcentral.c (interface: core/spanbits.h); the design is in
 * core/malloc.c ("Front ends").
 *
 * Per class, the cache entry holds the span allocations come from (`span`, the current
 * span) and a 64-bit copy of one word of its free bitmap (`cache`, bit i = slot
 * word*64+i is free; Go's allocCache). While loaded, that copy is the authoritative
 * content of the word (`wordptr` points at the word it stands for); the other words
 * are in s->freebits, written only by the owning thread. The cache also keeps the
 * spans of the class it filled (`owned`, within the limits bmcore.c states, mimalloc's
 * full pages that stay with their thread): a span stays owned (s->fe_owner points at
 * the entry) until it is handed back to mcentral (bmcore.c states when).
 *   alloc: take the lowest set bit of `cache` (count trailing zeros), clear it, and
 *          clear the object's free mark.
 *   free by the owner, into any span it owns: set the object's bit (in `cache` or in
 *          s->freebits), after checking it was clear and that the object holds no free
 *          mark (core/spanbits.h); then mark it. No atomic read-modify-write.
 *   free by anyone else: check and set the free mark, push on the span's atomic
 *          remote-free list (s->xfree), which the owner merges into the bitmap when it
 *          needs slots.
 */
#ifndef SPANLAB_FE_BMCORE_H
#define SPANLAB_FE_BMCORE_H

/* Spans a cache keeps per class besides its current one (bmcore.c); a build-time knob
 * (README.md). */
#ifndef SPANLAB_BITMAP_OWN_MAX
#define SPANLAB_BITMAP_OWN_MAX 8
#endif
#define SL_BM_OWN_MAX SPANLAB_BITMAP_OWN_MAX
/* Bytes of spans a cache may keep per class when that allows more than SL_BM_OWN_MAX
 * spans (bmcore.c); a build-time knob (README.md). */
#ifndef SPANLAB_BITMAP_OWN_BYTES
#define SPANLAB_BITMAP_OWN_BYTES (256 * 1024)
#endif
#define SL_BM_OWN_BYTES ((size_t)SPANLAB_BITMAP_OWN_BYTES)
/* Bytes of owned spans a cache may keep over all classes, beyond each class's own
 * limit above (bmcore.c); a build-time knob (README.md). 0: each class its own
 * limit only. */
#ifndef SPANLAB_BITMAP_OWN_THREAD_BYTES
#define SPANLAB_BITMAP_OWN_THREAD_BYTES (4096 * 1024)
#endif
#define SL_BM_OWN_THREAD_BYTES ((size_t)SPANLAB_BITMAP_OWN_THREAD_BYTES)
/* Owned spans a span switch looks at, oldest first (bmcore.c); a build-time knob
 * (README.md). */
#ifndef SPANLAB_BITMAP_SCAN
#define SPANLAB_BITMAP_SCAN 4
#endif
#define SL_BM_SCAN SPANLAB_BITMAP_SCAN
/* 1: the owned spans a switch looks at and does not take go to the list's end (the
 * switches go round the list); 0: the list keeps its order (the oldest are looked at
 * again each time). A build-time knob (README.md). */
#ifndef SPANLAB_BITMAP_ROTATE
#define SPANLAB_BITMAP_ROTATE 0
#endif
#define SL_BM_ROTATE SPANLAB_BITMAP_ROTATE

/* The core's state in thread cache c. */
SL_INLINE sl_bm_cache *sl_bm(sl_mcache *c) { return &c->fe.bm; }

void *sl_bm_alloc_slow(uint32_t cls);
void *sl_bm_alloc_entry_slow(sl_mcache *c, sl_bm_class *e, uint32_t cls);
void sl_bm_free_object(sl_span *s, void *p, bool count);
void sl_bm_cache_init(sl_mcache *c);
void sl_bm_flush(sl_mcache *c);
void sl_bm_stats(spanlab_stats *out);
uint32_t sl_bm_own_limit(uint32_t cls);

/*
 * The malloc fast path: a TLS load, the class's cache line, a count-trailing-zeros
 * and a clear-lowest-bit, a multiply for the address, a thread-local counter; no lock,
 * no atomic read-modify-write. With the free below, go-mutex-flat-bitmap runs about
 * 125 instructions per malloc+free pair of sl-fastpath, its loop included (freelist:
 * 99; scripts/fastpath-budget.sh go-mutex-flat-bitmap go-mutex-flat).
 *
 * sl_bm_alloc_entry is the part after the TLS load: the next object of entry e (class
 * cls) of cache c, which the thread owns (`tiny` takes its blocks from its extra
 * entry so).
 */
SL_INLINE void *sl_bm_alloc_entry(sl_mcache *c, sl_bm_class *e, uint32_t cls)
{
	uint64_t bits = e->cache;
	if (SL_LIKELY(bits != 0)) {
		e->cache = bits & (bits - 1);
		SL_COUNTER_ADD(e->nmalloc, 1);
		void **p = (void **)(e->wordbase + (uintptr_t)__builtin_ctzll(bits) * e->elemsize);
		p[e->elemsize >= 16] = NULL; /* the free mark's word */
		return p;
	}
	return sl_bm_alloc_entry_slow(c, e, cls);
}

SL_INLINE void *sl_bm_alloc(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_LIKELY(c != NULL))
		return sl_bm_alloc_entry(c, &sl_bm(c)->cls[cls], cls);
	return sl_bm_alloc_slow(cls);
}

/*
 * The free fast path, after the caller's page-map lookup (two loads): the span must be
 * owned by this cache (s->fe_owner is one of its entries: the current span or any on
 * `owned`; one subtraction and compare, and the entry comes with it); then one
 * multiply for the object check and the index, and a bit test-and-set in the span's
 * bitmap word, or in `cache` if that word is loaded; a thread-local counter (the pair's
 * measured count is with the malloc above); no lock, no atomic read-modify-write.
 * Returns false for anything else (another thread's span or none, a bad pointer, a
 * double free, and with `tinyspans` set, a span that holds tiny blocks: s->tinywords
 * is set, a load from the span's line the check reads anyway): the caller's slow path
 * sorts it out. `tinyspans` is a constant of the front end. (Spans of `tiny`'s extra
 * entry fail the owner check already: it is outside cls[]; a span of tiny blocks that
 * went back to mcentral keeps its mark until it is released, and may then serve the
 * 16-byte entry.)
 */
SL_INLINE bool sl_bm_free_fast(sl_mcache *c, sl_span *s, void *p, bool tinyspans)
{
	uint64_t off = (uintptr_t)p - s->base;
	/* One multiply: the high half is the index, the low half is below divmagic exactly
	 * when p is an object start (sl_span_is_object). */
	unsigned __int128 q = (unsigned __int128)off * s->divmagic;
	sl_bm_class *e = __atomic_load_n(&s->fe_owner, __ATOMIC_RELAXED);
	sl_bm_class *cls = sl_bm(c)->cls;
	if (SL_LIKELY((uintptr_t)e - (uintptr_t)cls < sizeof sl_bm(c)->cls && off < s->limit &&
		      (uint64_t)q < s->divmagic)) {
		uint64_t idx = (uint64_t)(q >> 64);
		uint64_t bit = (uint64_t)1 << (idx & 63);
		uint64_t *w = &s->freebits[idx >> 6], *cw = &e->cache;
		w = w == e->wordptr ? cw : w; /* the loaded word lives in `cache` */
		if (SL_LIKELY(!(*w & bit) && !(tinyspans && s->tinywords) && !sl_sb_maybe_marked(s, p))) {
			*w |= bit;
			*(uintptr_t *)((char *)p + s->keyoff) = sl_free_key;
			SL_COUNTER_ADD(e->nfree, 1);
			return true;
		}
	}
	return false;
}

SL_INLINE uint64_t sl_bm_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	return SL_COUNTER_READ(sl_bm(c)->cls[cls].nmalloc);
}

SL_INLINE uint64_t sl_bm_cache_frees(sl_mcache *c, uint32_t cls)
{
	return SL_COUNTER_READ(sl_bm(c)->cls[cls].nfree);
}

#endif
