/*
 * core/frontend/bitmap.h — front end `bitmap` (the Go runtime's): the thread cache owns
 * one span per size class and allocates the span's free slots from its allocation
 * bitmap. Also the base of front end `tiny` (core/frontend/tiny.h), which includes this
 * header with SL_FE_BITMAP_TINY set to 1. Contract: core/frontend/README.md; the slow
 * paths are in core/frontend_bitmap.c; the design is in core/malloc.c ("Front ends").
 *
 * Per class, the cache entry holds the span allocations come from (`span`, the current
 * span) and a 64-bit copy of one word of its free bitmap (`cache`, bit i = slot
 * word*64+i is free; Go's allocCache). While loaded, that copy is the authoritative
 * content of the word (`wordptr` points at the word it stands for); the other words
 * are in s->freebits, written only by the owning thread. The cache also keeps the
 * spans of the class it filled (`owned`, at most SL_BM_OWN_MAX, mimalloc's full pages
 * that stay with their thread): a span stays owned (s->fe_owner points at the entry) until it is handed
 * back to mcentral (core/frontend_bitmap.c states when).
 *   alloc: take the lowest set bit of `cache` (count trailing zeros), clear it, and
 *          clear the object's free mark.
 *   free by the owner, into any span it owns: set the object's bit (in `cache` or in
 *          s->freebits), after checking it was clear and that the object holds no free
 *          mark; then mark it. No atomic read-modify-write.
 *   free by anyone else: check and set the free mark, push on the span's atomic
 *          remote-free list (s->xfree), which the owner merges into the bitmap when it
 *          needs slots.
 * The free mark (as freelist's key, core/malloc.c) is sl_free_key in word 1 of a freed
 * object of 16 bytes or more. An 8-byte object has only word 0: the owner's free
 * stores the key there, a remote free stores its list link XORed with the key, and a
 * free that finds either (sl_bm_marked) is a double free. So every double free is
 * caught at the second free, whichever threads made the two, before the owner can
 * hand the object out again (the false positive needs a live object holding the key,
 * or an 8-byte one holding the key XOR the address of an object of its class).
 */
#if defined(SL_FE_TYPES)
#ifndef SPANLAB_FE_BITMAP_TYPES
#define SPANLAB_FE_BITMAP_TYPES
/* One size class of a bitmap cache: one cache line, touched by the fast paths only. */
typedef struct sl_bm_class {
	uint64_t cache;	    /* free slots of the bitmap word at `wordptr` (1 = free) */
	uintptr_t wordbase; /* address of that word's first slot */
	uint64_t *wordptr;  /* &span->freebits[w] for the word `cache` stands for, or NULL */
	sl_span *span;	    /* the current span (allocations come from it), or NULL */
	uint64_t nmalloc;   /* objects handed to the program (statistics, relaxed stores) */
	uint64_t nfree;	    /* objects of the class this thread freed (statistics) */
	sl_span *owned;	    /* the class's other owned spans, linked through next/prev */
	uint32_t elemsize;  /* the class's object size */
	uint16_t nowned;    /* spans on `owned` */
	uint16_t slowfree;  /* 1: frees of this class take the slow path (tiny blocks) */
} __attribute__((aligned(64))) sl_bm_class;

typedef struct sl_fe_bitmap_cache {
	sl_bm_class cls[SL_NUM_CLASSES]; /* [0] unused: its span stays NULL */
	/* `tiny` only: the current tiny block, its word in the span's tinywords, and the
	 * offset of its first unused byte (16: no block). */
	uintptr_t tiny;
	uint16_t *tinyword;
	uint32_t tinyoff;
	uint32_t nslow;		   /* slow-path refills since the last NUMA node check */
	uint64_t refills;	   /* cache words loaded (statistics) */
	uint32_t tinycls;	   /* the 16-byte class (tiny blocks), 0: no tiny allocator */
	uint64_t tiny_allocs;	   /* tiny objects allocated (statistics) */
	uint64_t tiny_blocks;	   /* blocks taken (counted in cls[tinycls].nmalloc) */
	uint64_t tiny_class_bytes; /* bytes those would have taken in their own classes */
	uint64_t tiny_frees;	   /* tiny objects this thread freed (statistics) */
	uint64_t tiny_released;	   /* tiny blocks this thread gave back (statistics) */
} sl_fe_bitmap_cache;
#endif
#elif !defined(SPANLAB_FE_BITMAP_H)
#define SPANLAB_FE_BITMAP_H

#ifndef SL_FE_BITMAP_TINY
#define SL_FE_BITMAP_TINY 0
#endif

#define sl_fe_bitmap_NAME_ "bitmap"
#define sl_fe_bitmap_TINY_MAX_ (SL_FE_BITMAP_TINY ? 16 : 0)

/* Spans a cache keeps per class besides its current one (core/frontend_bitmap.c);
 * a build-time knob (README.md). */
#ifndef SPANLAB_BITMAP_OWN_MAX
#define SPANLAB_BITMAP_OWN_MAX 8
#endif
#define SL_BM_OWN_MAX SPANLAB_BITMAP_OWN_MAX

/* The remote-free word s->xfree: a list head (objects are 8-byte aligned, user
 * addresses fit in 48 bits) in bits 3..47, state in bits 0..2, and in bits 48..63 the
 * number of objects in use while the span sits in mcentral (see frontend_bitmap.c). */
#define SL_XF_OWNED ((uint64_t)1)  /* a cache owns the span: pushers just push */
#define SL_XF_LISTED ((uint64_t)2) /* in mcentral, on its partial list */
#define SL_XF_DYING ((uint64_t)4)  /* in mcentral, every object free: being released */
#define SL_XF_PTRMASK ((uint64_t)0x0000FFFFFFFFFFF8ull)
#define SL_XF_ONE ((uint64_t)1 << 48)

/* Tiny block words (s->tinywords[slot], `tiny` only), 16 bits, 2 bytes of metadata per
 * 16-byte block: bit i (0..7) = a live tiny object starts at offset 2i (tiny objects are
 * at least 2-byte aligned), bits 8..11 = fill in 2-byte units (end of the last object
 * placed, rounded up to even), bit 12 = HOLD (the block is some cache's current
 * block). 0 = not a tiny block. */
#define SL_TINY_LIVE 0xFFu
#define SL_TINY_FILL_SHIFT 8
#define SL_TINY_HOLD (1u << 12)

void *sl_fe_bitmap_alloc_slow(uint32_t cls);
void *sl_fe_bitmap_alloc_tiny_slow(size_t size);
void sl_fe_bitmap_free_small(sl_span *s, void *p);
bool sl_fe_bitmap_check_interior(sl_span *s, const void *p);
size_t sl_fe_bitmap_usable(sl_span *s, const void *p);
void sl_fe_bitmap_cache_init(sl_mcache *c);
void sl_fe_bitmap_cache_teardown(sl_mcache *c);
void sl_fe_bitmap_flush(sl_mcache *c);
uint64_t sl_fe_bitmap_span_free_objects(sl_span *s);
void sl_fe_bitmap_stats(spanlab_stats *out);

/*
 * The malloc fast path: a TLS load, the class's cache line, a count-trailing-zeros
 * and a clear-lowest-bit, a multiply for the address, a thread-local counter; no lock,
 * no atomic read-modify-write. With the free below, go-mutex-flat-bitmap runs 125.6
 * instructions per malloc+free pair of sl-fastpath, its loop included (freelist: 107;
 * scripts/fastpath-budget.sh go-mutex-flat-bitmap go-mutex-flat).
 */
SL_INLINE void *sl_fe_bitmap_alloc(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_LIKELY(c != NULL)) {
		sl_bm_class *e = &c->fe.cls[cls];
		uint64_t bits = e->cache;
		if (SL_LIKELY(bits != 0)) {
			e->cache = bits & (bits - 1);
			SL_COUNTER_ADD(e->nmalloc, 1);
			void **p = (void **)(e->wordbase + (uintptr_t)__builtin_ctzll(bits) * e->elemsize);
			p[e->elemsize >= 16] = NULL; /* the free mark's word */
			return p;
		}
	}
	return sl_fe_bitmap_alloc_slow(cls);
}

/* Cheap part of the free-mark test (the rest in sl_bm_marked): true when the object
 * may be marked freed — its mark word holds the key, or (8-byte objects) a value that
 * decodes to an 8-byte aligned user address. */
SL_INLINE bool sl_fe_bitmap_maybe_marked(const sl_span *s, const void *p)
{
	uintptr_t d = *(const uintptr_t *)((const char *)p + s->keyoff) ^ sl_free_key;
	return d == 0 || (s->keyoff == 0 && (d & 7) == 0 && (d >> 48) == 0);
}

/*
 * The free fast path, after the caller's page-map lookup (two loads): the span must be
 * owned by this cache (s->fe_owner is one of its entries: the current span or any on
 * `owned`; one subtraction and compare, and the entry comes with it); then one
 * multiply for the object check and the index, and a bit test-and-set in the span's
 * bitmap word, or in `cache` if that word is loaded; a thread-local counter (the pair's
 * measured count is with the malloc above); no lock, no atomic read-modify-write.
 * Returns false for anything else (another thread's span or none,
 * a bad pointer, a double free, tiny blocks): the caller's slow path sorts it out.
 */
SL_INLINE bool sl_fe_bitmap_free_fast(sl_mcache *c, sl_span *s, void *p)
{
	uint64_t off = (uintptr_t)p - s->base;
	/* One multiply: the high half is the index, the low half is below divmagic exactly
	 * when p is an object start (sl_span_is_object). */
	unsigned __int128 q = (unsigned __int128)off * s->divmagic;
	sl_bm_class *e = __atomic_load_n(&s->fe_owner, __ATOMIC_RELAXED);
	if (SL_LIKELY((uintptr_t)e - (uintptr_t)c->fe.cls < sizeof c->fe.cls && off < s->limit &&
		      (uint64_t)q < s->divmagic)) {
		uint64_t idx = (uint64_t)(q >> 64);
		uint64_t bit = (uint64_t)1 << (idx & 63);
		uint64_t *w = &s->freebits[idx >> 6], *cw = &e->cache;
		w = w == e->wordptr ? cw : w; /* the loaded word lives in `cache` */
		/* `tiny`: frees of the 16-byte class go to the slow path (tiny blocks). */
		if (SL_LIKELY(!(*w & bit) && !(SL_FE_BITMAP_TINY && e->slowfree) && !sl_fe_bitmap_maybe_marked(s, p))) {
			*w |= bit;
			*(uintptr_t *)((char *)p + s->keyoff) = sl_free_key;
			SL_COUNTER_ADD(e->nfree, 1);
			return true;
		}
	}
	return false;
}

/* Alignment of a tiny request, as Go: 8, 4 or 2 by the size's low bits; odd sizes get 2
 * (Go: 1), so that objects start at even offsets and a block's word fits 16 bits. */
SL_INLINE uint32_t sl_fe_bitmap_tiny_align_mask(size_t size)
{
	return (size & 7) == 0 ? 7 : (size & 3) == 0 ? 3 : 1;
}

/*
 * `tiny` fast path (size < 16): the next suitably aligned bytes of the thread's current
 * 16-byte block. Costs one atomic add on the block's word (frees from other threads
 * update it concurrently) besides a dozen plain instructions.
 */
SL_INLINE void *sl_fe_bitmap_alloc_tiny(size_t size)
{
	sl_mcache *c = sl_tls_cache;
	if (size == 0)
		size = 1; /* distinct pointers for malloc(0) */
	if (SL_LIKELY(c != NULL)) {
		uint32_t m = sl_fe_bitmap_tiny_align_mask(size);
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
	return sl_fe_bitmap_alloc_tiny_slow(size);
}

/* Per-class figures count a tiny object as an object of the 16-byte class, and not
 * the blocks (frees of tiny objects count there too; block releases do not). */
SL_INLINE uint64_t sl_fe_bitmap_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	uint64_t n = SL_COUNTER_READ(c->fe.cls[cls].nmalloc);
	if (SL_FE_BITMAP_TINY && cls == c->fe.tinycls)
		n += SL_COUNTER_READ(c->fe.tiny_allocs) - SL_COUNTER_READ(c->fe.tiny_blocks);
	return n;
}

SL_INLINE uint64_t sl_fe_bitmap_cache_frees(sl_mcache *c, uint32_t cls)
{
	return SL_COUNTER_READ(c->fe.cls[cls].nfree);
}

#endif
