/*
 * core/internal.h — the engine's private types, constants and cross-file prototypes.
 * See malloc.c for the design overview. Names: `sl_` for everything internal.
 */
#ifndef SPANLAB_CORE_INTERNAL_H
#define SPANLAB_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../base/compiler.h"
#include "../base/log.h"
#include "../include/spanlab.h"
#include "testhooks.h" /* before the policies: their test hooks */
#include "config.h"

/* ---- Thread-local storage (compiler helpers: base/compiler.h) ---- */
#define SL_TLS __thread __attribute__((tls_model(SPANLAB_TLS_MODEL)))
#ifndef SPANLAB_TLS_MODEL
#define SPANLAB_TLS_MODEL "initial-exec"
#endif

/*
 * Counters written by one thread and read by others: a relaxed store of a relaxed load
 * is a plain load, add and store on every target we care about (no lock prefix), and
 * keeps readers free of data races in the C11 sense.
 */
#define SL_COUNTER_ADD(var, n) __atomic_store_n(&(var), __atomic_load_n(&(var), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
/* The word of a freed object of `elemsize` bytes that holds sl_free_key: word 1 from 16
 * bytes up; 8-byte objects have only word 0, which the list link overwrites. */
#define SL_KEY_OFFSET(elemsize) ((elemsize) >= 16 ? sizeof(void *) : 0)
#define SL_COUNTER_READ(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)

/* ---- Geometry (see "Memory layout" in malloc.c) ---- */
#define SL_PAGE_SHIFT 13
#define SL_PAGE_SIZE ((size_t)1 << SL_PAGE_SHIFT) /* 8 KiB engine page */
#define SL_ADDR_BITS 48
#define SL_PM_SHIFT 30 /* the page map's tables each cover a 1 GiB region */
#define SL_PM_PAGES ((size_t)1 << (SL_PM_SHIFT - SL_PAGE_SHIFT)) /* 131072 entries, 1 MiB */
#define SL_PM_ROOT ((size_t)1 << (SL_ADDR_BITS - SL_PM_SHIFT))	 /* 262144 entries, 2 MiB */
#define SL_HEAP_BINS 128 /* free runs of 1..127 pages have an exact-length bin */
#define SL_COMMIT_MIN_PAGES 256 /* grow the usable heap 2 MiB at a time at least */

_Static_assert(SL_NUM_CLASSES <= SPANLAB_MAX_CLASSES, "public stats hold every class");

/* Lock-free central lists (core/mcentral.c) with a lock-free sync policy and the
 * `freelist` front end; the bitmap front ends keep the policy's lock for their span
 * lists. SL_ENGINE_LOCKFREE: every malloc-family path of the variant is lock-free. */
#if SL_SYNC_ENGINE_LOCKFREE && defined(SPANLAB_FRONTEND_FREELIST)
#define SL_CENTRAL_LOCKFREE 1
#else
#define SL_CENTRAL_LOCKFREE 0
#endif
#define SL_ENGINE_LOCKFREE SL_CENTRAL_LOCKFREE

typedef struct sl_span sl_span;
typedef struct sl_mheap sl_mheap;
typedef struct sl_mcentral sl_mcentral;
typedef struct sl_mcache sl_mcache;
typedef struct sl_batch sl_batch;

/* ---- mspan ---- */
enum sl_span_state {
	SL_SPAN_DEAD = 0, /* struct on the fixalloc free list */
	SL_SPAN_FREE,	  /* free page run owned by mheap */
	SL_SPAN_SMALL,	  /* cut into objects of one size class, owned by an mcentral */
	SL_SPAN_LARGE,	  /* one large object */
};

struct sl_span {
	/* Set by mheap under mheap.lock; constant while the span is SMALL or LARGE, so the
	 * free fast path may read them without a lock. */
	uintptr_t base;	   /* address of the first page */
	size_t npages;	   /* length in pages */
	uint8_t state;	   /* enum sl_span_state */
	uint8_t sizeclass; /* SMALL: its class; otherwise 0 */
	uint8_t released;  /* FREE: every page was returned to the OS (zero on next touch) */
	uint8_t needzero;  /* FREE/LARGE: memory may hold old data */
	uint32_t elemsize; /* SMALL: object size */
	uint32_t nelems;   /* SMALL: objects in the span; 0 in any other state, so that the
			    * free fast path's index check rejects non-SMALL spans */
	uint8_t keyoff;	   /* SMALL: byte offset of the double-free key in a freed object */
	uint32_t limit;	   /* SMALL: nelems * elemsize (bytes holding objects), the range of the
			    * free fast paths' object check (sl_span_is_object); 0 in any other
			    * state, and for SL_OBJ8 spans, whose frees take the slow path */
	uint64_t divmagic; /* SMALL: ceil(2^64 / elemsize); offset/elemsize = mulhi(offset, divmagic) */
	sl_mheap *heap;	   /* owning mheap (its NUMA node) */

	/* FREE: mheap free bin (guarded by mheap.lock). SMALL: mcentral partial list
	 * (guarded by the mcentral's lock). */
	sl_span *next, *prev;

	/* SMALL, guarded by the mcentral's lock. */
	void *freelist;	  /* objects given back to this span, linked through word 0 */
	uintptr_t carve;  /* next object never handed out (bump pointer) */
	uint32_t nfree;	  /* objects free in this span: freelist + not yet carved */
	uint8_t partial;  /* on the mcentral's partial list */

	/* FREE and not released: the scavenger's age-ordered list (mheap.lock). */
	sl_span *scav_next, *scav_prev;
	uint64_t free_since_ms;

#if SL_CENTRAL_LOCKFREE
	/* SMALL, lock-free central lists (core/mcentral.c): the anchor holds the span's
	 * free-object state in one word, changed only by CAS; plink links the span on its
	 * mcentral's partial stack. freelist, carve, nfree and partial above are unused. */
	_Atomic uint64_t anchor;
	sl_sync_link_t plink;
#endif

	/* SMALL under the front ends that keep span bitmaps (core/spanbits.h); NULL / 0
	 * otherwise. */
	uint64_t *freebits;    /* nelems bits, 1 = free slot: written by the owning cache's
				* thread while a cache owns the span, else under the mcentral's lock */
	uint16_t *tinywords;   /* `tiny`: 16 bits per slot, set while the span holds tiny
				* blocks (core/spanbits.h, sl_sb_tiny_mark) */
	_Atomic uint64_t xfree; /* remote-free word: objects freed by threads that do not own
				 * the span, linked through word 0, plus state (atomic) */
	void *fe_owner;		/* the owning cache's entry for the span's class, else NULL:
				 * written by that cache's thread, read by any (relaxed atomics).
				 * While a cache owns the span, its thread also uses next/prev
				 * (the cache's list of owned spans) and nfree */
};

/* ---- Batches: the unit of transfer between mcache and mcentral ---- */
struct sl_batch {
	sl_sync_link_t link; /* first member: the sync policy's stack links batches */
	void *head;	     /* objects linked through word 0, NULL-terminated */
	uint32_t count;
};

/* ---- mcentral (one per size class per mheap) ---- */
struct sl_mcentral {
	/* Full batches of exactly `batch` objects (sync policy stack). */
	sl_sync_stack_t full SL_ALIGNED_CL;
	atomic_size_t nfull; /* approximate: a bound, not an invariant */
	/* Spare batch nodes, so that flush rarely needs the metadata allocator. */
	sl_sync_stack_t spare SL_ALIGNED_CL;

#if SL_CENTRAL_LOCKFREE
	/* Spans with free objects (anchor state LISTED), popped and pushed without a lock;
	 * may also hold EMPTY spans whose descriptors the popper retires. */
	sl_sync_stack_t partial_stack SL_ALIGNED_CL;
	uint64_t span_free; /* objects free in this class's spans (atomic; statistics) */
#endif

	sl_sync_lock_t lock SL_ALIGNED_CL; /* guards everything below (lock-free lists: only
					    * fe_spare; nspans is then atomic) */
	sl_span *partial; /* SMALL spans of this class with nfree > 0 */
	uint64_t nspans;  /* SMALL spans of this class (stats) */
	void *fe_spare;	  /* bitmap front ends: spare span bitmaps of this class */

	/* Constant after initialisation. */
	uint32_t sizeclass, elemsize, batch, npages, nelems;
	uint32_t max_full; /* full batches kept before objects go back to spans */
	sl_mheap *heap;
};

/* ---- mheap ---- */
struct sl_mheap {
	pthread_mutex_t lock SL_ALIGNED_CL; /* guards everything up to `central` */
	unsigned node;
	sl_span *bins[SL_HEAP_BINS][2]; /* FREE spans of exactly i pages: [resident, released] */
	uint64_t binmap[SL_HEAP_BINS / 64];
	sl_span *large[2];	     /* FREE spans of >= SL_HEAP_BINS pages: [resident, released] */
	sl_span *scav_head, *scav_tail; /* FREE, not released; oldest first */
	uintptr_t arena_next, arena_end; /* reserved but not yet usable tail */
	size_t reserve_next;		 /* size of the next growth reservation */
	sl_span *spare;			 /* span structs kept for the next operations */
	uint32_t nspare;

	/* Page counts (mheap.lock). */
	uint64_t pages_sys;	 /* made usable */
	uint64_t pages_inuse;	 /* in SMALL and LARGE spans */
	uint64_t pages_free;	 /* in FREE spans */
	uint64_t pages_released; /* in FREE spans with released set */
	uint64_t scavenged_bytes, scavenge_runs;
	uint64_t unmapped_bytes; /* cumulative address space given back with munmap */
	uint64_t large_mallocs, large_frees, large_bytes; /* large objects (mheap.lock) */
	uint64_t remote_frees; /* small objects freed by threads of other nodes (atomic) */
	/* The in-use peak the retain budget follows (sl_retain_budget): the highest
	 * pages_inuse since peak_since_ms, and the one of the window before; a window lasts
	 * SPANLAB_SCAVENGE_DELAY_MS. mheap.lock; the lock-free heap: atomic, the window
	 * moved on only by the thread that runs the periodic scavenge. */
	uint64_t peak_pages, peak_prev_pages, peak_since_ms;
#if SL_SYNC_ENGINE_LOCKFREE
	/* The lock-free page heap (core/mheap_lockfree.c) uses none of the lists above and
	 * no lock: the page counts are atomic counters, and these. */
	struct sl_region *_Atomic regions; /* append-only list of arenas (never unmapped) */
	int scav_busy;			   /* a thread runs the periodic scavenge (atomic) */
	uint64_t last_scavenge_ms;	   /* when the last periodic scan started (atomic) */
	sl_span free_span;		   /* FREE sentinel the page map names for free pages */
#endif

	sl_mcentral central[SL_NUM_CLASSES];
};

/* The page counts statistics read, one X(field) each. */
#define SL_HEAP_COUNTERS(X)                                                                   \
	X(pages_sys) X(pages_inuse) X(pages_free) X(pages_released) X(scavenged_bytes)         \
	X(scavenge_runs) X(large_mallocs) X(large_frees) X(large_bytes) X(remote_frees)        \
	X(unmapped_bytes)

/* ---- mcache (one per thread) ---- */

/* The front end (core/frontend.h): its per-thread type, which the cache embeds; its
 * functions come at the end of this file, once the engine's types are complete. */
#include "frontend.h"
#ifndef SL_FE_SPAN_BITMAPS
#define SL_FE_SPAN_BITMAPS 0 /* the front end keeps span bitmaps (core/spanbits.h) */
#endif

struct sl_mcache {
	sl_fe_cache_t fe; /* the front end's state (owner thread only; its statistics
			   * counters are read by anyone: relaxed atomics) */
	sl_mheap *heap;	  /* the heap this thread allocates from */
	uint32_t node_checks; /* slow paths since the last NUMA node check */
	/* Registry (core/mcache.c): every cache ever made, on a push-only list, never
	 * freed. reg_next is set once before the cache is published; reg_state (atomic)
	 * says whether a thread uses it (enum sl_reg_state). */
	uint32_t reg_state;
	sl_mcache *reg_next;
};

/* ---- Per-class constants derived at initialisation (read-only afterwards) ---- */
typedef struct sl_class_info {
	uint32_t size, batch, cache_cap;
} sl_class_info;
extern sl_class_info sl_classes[SL_NUM_CLASSES];

/* ---- Options (core/stats.c): one table, each read from SPANLAB_<NAME> ---- */
/*  X(field, ENV_NAME, default, description) */
#ifndef SPANLAB_DEFAULT_SCAVENGE_DELAY_MS
#define SPANLAB_DEFAULT_SCAVENGE_DELAY_MS 1000
#endif
#ifndef SPANLAB_DEFAULT_RETAIN_MB
#define SPANLAB_DEFAULT_RETAIN_MB 32
#endif
#ifndef SPANLAB_DEFAULT_RETAIN_PERCENT
#define SPANLAB_DEFAULT_RETAIN_PERCENT 200
#endif
#ifndef SPANLAB_DEFAULT_TCACHE_DYNAMIC
#define SPANLAB_DEFAULT_TCACHE_DYNAMIC 1
#endif
#ifndef SPANLAB_DEFAULT_TCACHE_THREAD_KB
#define SPANLAB_DEFAULT_TCACHE_THREAD_KB 4096
#endif
#ifndef SPANLAB_DEFAULT_TCACHE_TOTAL_MB
#define SPANLAB_DEFAULT_TCACHE_TOTAL_MB 32
#endif
#ifndef SPANLAB_DEFAULT_PERCPU_CPU_KB
#define SPANLAB_DEFAULT_PERCPU_CPU_KB 1536
#endif
#ifndef SPANLAB_DEFAULT_PERCPU_CLASS_MAX
#define SPANLAB_DEFAULT_PERCPU_CLASS_MAX 32768
#endif
#define SL_OPTIONS(X)                                                                          \
	X(stats, "STATS", 0, "print stats to stderr at exit: 0, 1 (text) or json")            \
	X(verbose, "VERBOSE", 0, "report initialisation and degraded features on stderr")     \
	X(scavenge_delay_ms, "SCAVENGE_DELAY_MS", SPANLAB_DEFAULT_SCAVENGE_DELAY_MS,            \
	  "free page runs idle this long are returned to the OS")                             \
	X(retain_mb, "RETAIN_MB", SPANLAB_DEFAULT_RETAIN_MB,                                   \
	  "idle resident memory kept at least (the retain budget's floor)")                    \
	X(retain_percent, "RETAIN_PERCENT", SPANLAB_DEFAULT_RETAIN_PERCENT,                     \
	  "retain budget: this percentage of the recent in-use peak, if above RETAIN_MB")      \
	X(tcache_dynamic, "TCACHE_DYNAMIC", SPANLAB_DEFAULT_TCACHE_DYNAMIC,                     \
	  "freelist thread caches: 1 a per-thread byte budget grown on demand, 0 static caps") \
	X(tcache_thread_kb, "TCACHE_THREAD_KB", SPANLAB_DEFAULT_TCACHE_THREAD_KB,               \
	  "dynamic thread caches: the most one thread's budget grows to")                      \
	X(tcache_total_mb, "TCACHE_TOTAL_MB", SPANLAB_DEFAULT_TCACHE_TOTAL_MB,                  \
	  "dynamic thread caches: the pool all threads' budgets come from")                   \
	X(percpu_cpu_kb, "PERCPU_CPU_KB", SPANLAB_DEFAULT_PERCPU_CPU_KB,                        \
	  "percpu: capacity budget of one CPU cache (0: static per-class capacities)")         \
	X(percpu_class_max, "PERCPU_CLASS_MAX", SPANLAB_DEFAULT_PERCPU_CLASS_MAX,               \
	  "percpu: the most objects one CPU caches of a class, dynamic capacities")
typedef struct sl_options {
#define SL_OPTION_FIELD(field, env, def, desc) long field;
	SL_OPTIONS(SL_OPTION_FIELD)
#undef SL_OPTION_FIELD
} sl_options;
extern sl_options sl_opt;
#define SL_STATS_JSON 2

/* ---- Globals ---- */
extern sl_mheap sl_heaps[SL_NUMA_MAX_NODES];
extern unsigned sl_nheaps;
extern uintptr_t sl_free_key; /* marks freed objects (word 1) for double-free checks */
extern uintptr_t sl_link_key; /* encodes free-list links (word 0): sl_link_get */

/*
 * Free-list links. A free object on a thread list, in a batch, on a NUMA remote list
 * or on its span's chain holds the next one in word 0 XOR sl_link_key (glibc's
 * safe-linking). The key is random with its low three bits 100, so a link the program
 * overwrote after the free (a use after free, an overflow from the object before it)
 * with a pointer, NULL, an odd value or most other data decodes to an address that is
 * not 8-byte aligned: every decode checks that, and aborts naming the object
 * (sl_link_corrupt), before the bad address can be handed out. (The bitmap front ends
 * link their remote frees themselves: core/mcentral.c, "Span bitmaps".)
 */
_Noreturn void sl_link_corrupt(const void *obj) SL_COLD;
/* The link in word 0 of obj, stored XOR key (a key whose low three bits are not 0). */
SL_INLINE void *sl_link_decode(const void *obj, uintptr_t key)
{
	uintptr_t v = *(const uintptr_t *)obj ^ key;
	if (SL_UNLIKELY(v & 7))
		sl_link_corrupt(obj);
	return (void *)v;
}
SL_INLINE void *sl_link_get(const void *obj) { return sl_link_decode(obj, sl_link_key); }
SL_INLINE void sl_link_set(void *obj, const void *next) { *(uintptr_t *)obj = (uintptr_t)next ^ sl_link_key; }

/* ---- arena.c: metadata allocators ---- */
void *sl_sys_map(size_t size);		      /* RW anonymous memory, NULL on failure */
void *sl_meta_alloc(size_t size);	      /* zeroed, never freed; NULL when out of memory */
void *sl_fixalloc_get(int kind);	      /* a zeroed object of a fixed-size kind, or NULL */
void sl_fixalloc_put(int kind, void *obj);
enum { SL_FIX_SPAN, SL_FIX_BATCH, SL_FIX_MCACHE, SL_FIX_KINDS };
uint64_t sl_meta_sys_bytes(void);
void sl_meta_prefork(void);
void sl_meta_postfork_parent(void);
void sl_meta_postfork_child(void);

/* ---- pagemap.c: address space and the page map (pointer -> span) ---- */
typedef struct sl_pm_table {
	sl_span *_Atomic spans[SL_PM_PAGES]; /* page -> span; written by the owning mheap */
} sl_pm_table;
extern sl_pm_table *_Atomic sl_pagemap_root[SL_PM_ROOT]; /* region -> table; set once (CAS) */

bool sl_sys_reserve(size_t size, unsigned node, uintptr_t *base); /* PROT_NONE, page map covered */
bool sl_sys_commit(uintptr_t addr, size_t size);
void sl_sys_unmap(uintptr_t addr, size_t size);
uint64_t sl_sys_reserved_bytes(void);
bool sl_pagemap_cover(uintptr_t base, size_t size); /* false: out of metadata */
void sl_pagemap_set(uintptr_t base, size_t npages, sl_span *s);

/* O(1) pointer -> span: two dependent loads (Go's arenas[].spans[]). NULL if the
 * address was never part of a span. */
SL_INLINE sl_span *sl_span_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (SL_UNLIKELY(a >> SL_ADDR_BITS))
		return NULL;
	sl_pm_table *t = atomic_load_explicit(&sl_pagemap_root[a >> SL_PM_SHIFT], memory_order_acquire);
	if (SL_UNLIKELY(!t))
		return NULL;
	return atomic_load_explicit(&t->spans[(a >> SL_PAGE_SHIFT) & (SL_PM_PAGES - 1)], memory_order_relaxed);
}

/* The free fast path's lookup: no range check (an address beyond 48 bits aliases some
 * region's entry, and the span's object-index check then fails: callers must treat the
 * result as a hint and validate with sl_span_index / sl_span_is_object). */
SL_INLINE sl_span *sl_span_of_fast(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	sl_pm_table *t = atomic_load_explicit(&sl_pagemap_root[(a >> SL_PM_SHIFT) & (SL_PM_ROOT - 1)],
					      memory_order_acquire);
	if (SL_UNLIKELY(!t))
		return NULL;
	return atomic_load_explicit(&t->spans[(a >> SL_PAGE_SHIFT) & (SL_PM_PAGES - 1)], memory_order_relaxed);
}

/* True if p is the start of an object of SMALL span s (false for any other state and
 * for SL_OBJ8 spans: their limit is 0). Lemire's divisibility test: for off < 2^32,
 * off is a multiple of elemsize iff off * ceil(2^64 / elemsize) mod 2^64 <
 * ceil(2^64 / elemsize). One multiply, no division. */
SL_INLINE bool sl_span_is_object(const sl_span *s, const void *p)
{
	uint64_t off = (uintptr_t)p - s->base;
	return off < s->limit && off * s->divmagic < s->divmagic;
}

/* Index of the object of a SMALL span that p points into; sets *exact when p is the
 * object's start. */
SL_INLINE uint32_t sl_span_index(const sl_span *s, const void *p, bool *exact)
{
	uint64_t off = (uintptr_t)p - s->base;
	uint64_t idx = (uint64_t)(((unsigned __int128)off * s->divmagic) >> 64);
	*exact = idx * s->elemsize == off && idx < s->nelems;
	return (uint32_t)idx;
}

/*
 * 8-byte objects under the list front ends (`freelist`, `percpu`): no room for the free
 * key, and word 0 is the list link, so their free state is kept outside the objects —
 * one byte per object (1 = free: on a thread list, in a batch, a CPU cache or its span;
 * 0 = handed to the program), in the span's own tail (SL_OBJ8 spans hold 910 objects
 * per page, not 1024, and the 910 bytes after them). malloc clears the byte
 * (sl_obj8_live), free finds it set on a double free and sets it (sl_obj8_free): plain
 * loads and stores, no atomic read-modify-write, since each object has its own byte
 * (no other object's state shares the store). Whichever threads make the two frees,
 * the second finds the first's mark, as with the free key of larger objects; only two
 * frees of one object at the same instant (a race in the program) can both pass, as
 * there. Their spans' `limit` is 0, so the free fast paths decline them at no cost to
 * other classes' frees. Spans of other classes, and the bitmap front ends (their own
 * per-object state), have no such map.
 */
#if defined(SPANLAB_FRONTEND_FREELIST) || defined(SPANLAB_FRONTEND_PERCPU)
#define SL_OBJ8 1
#else
#define SL_OBJ8 0
#endif
#define SL_OBJ8_CLASS(elemsize) (SL_OBJ8 && (elemsize) == 8) /* spans with the map */

/* Objects of an SL_OBJ8 span of npages pages: as many as fit with one byte each. */
SL_INLINE uint32_t sl_obj8_nelems(size_t npages, uint32_t elemsize)
{
	return (uint32_t)((npages << SL_PAGE_SHIFT) / (elemsize + 1));
}

SL_INLINE uint8_t *sl_obj8_map(const sl_span *s) { return (uint8_t *)(s->base + (uintptr_t)s->nelems * 8); }
SL_INLINE size_t sl_obj8_map_bytes(const sl_span *s) { return s->nelems; }
/* The free byte of object p of SL_OBJ8 span s. */
SL_INLINE uint8_t *sl_obj8_byte(const sl_span *s, const void *p)
{
	return &sl_obj8_map(s)[((uintptr_t)p - s->base) / 8];
}

/* A new SL_OBJ8 span (before it is published): every object free. */
SL_INLINE void sl_obj8_init(sl_span *s) { memset(sl_obj8_map(s), 1, sl_obj8_map_bytes(s)); }

/* Object p (validated: an object start of SL_OBJ8 span s) is freed: false if it was
 * free already (a double free). */
SL_INLINE bool sl_obj8_free(sl_span *s, const void *p)
{
	uint8_t *b = sl_obj8_byte(s, p);
#ifdef SPANLAB_TEST_HOOKS
	if (SL_TEST_BROKEN(SL_BROKEN_OBJ8))
		return sl_test_racy_byte(b, 1);
#endif
	if (__atomic_load_n(b, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(b, 1, __ATOMIC_RELAXED);
	return true;
}

/* A free the fast path declined (p, its page-map span s in any state): true if p is an
 * object of an SL_OBJ8 span whose free byte was clear, now set (the caller finishes
 * the free); false for anything else, a double free included (the byte stays set, and
 * the engine's slow path reports it). */
SL_INLINE bool sl_obj8_try_free(sl_span *s, const void *p)
{
	uint64_t off = (uintptr_t)p - s->base;
	/* nelems is 0 unless the span is SMALL; elemsize 8 there means an SL_OBJ8 span. */
	return SL_OBJ8_CLASS(s->elemsize) && off < (uint64_t)s->nelems * 8 && !(off & 7) && sl_obj8_free(s, p);
}

/* True if object p of SL_OBJ8 span s is free (realloc, malloc_usable_size). */
SL_INLINE bool sl_obj8_is_free(const sl_span *s, const void *p)
{
	return __atomic_load_n(sl_obj8_byte(s, p), __ATOMIC_RELAXED);
}

/* Object p of class cls, just taken from a free list by malloc, goes to the program.
 * A class of one-page spans (Go's 8-byte class) finds the byte from p's address alone:
 * the span is p's page, holding sl_obj8_nelems(1, 8) objects, its map right after
 * them; otherwise through the page map. */
SL_INLINE void sl_obj8_live(void *p, uint32_t cls)
{
	uint8_t *b;
	if (sl_sc_class_to_pages(cls) == 1) {
		uintptr_t base = (uintptr_t)p & ~(uintptr_t)(SL_PAGE_SIZE - 1);
		b = (uint8_t *)(base + (uintptr_t)sl_obj8_nelems(1, 8) * 8 + ((uintptr_t)p - base) / 8);
	} else {
		b = sl_obj8_byte(sl_span_of(p), p);
	}
	SL_ASSERT(b == sl_obj8_byte(sl_span_of(p), p));
#ifdef SPANLAB_TEST_HOOKS
	if (SL_TEST_BROKEN(SL_BROKEN_OBJ8)) {
		sl_test_racy_byte(b, 0);
		return;
	}
#endif
	__atomic_store_n(b, 0, __ATOMIC_RELAXED);
}

/* ---- mheap.c ---- */
void sl_mheap_init(sl_mheap *h, unsigned node);
sl_span *sl_mheap_alloc(sl_mheap *h, size_t npages, size_t align_pages, bool large);
void sl_mheap_free(sl_mheap *h, sl_span *s);
bool sl_mheap_resize(sl_mheap *h, sl_span *s, size_t npages); /* LARGE, in place */
size_t sl_mheap_scavenge_all(sl_mheap *h); /* every idle page released; returns bytes */
size_t sl_mheap_trim(sl_mheap *h); /* scavenge_all, then idle address space unmapped */
uint64_t sl_now_ms(void);
/* The retain budget of both page heaps: idle resident bytes the scavenger leaves in
 * the heap before it returns the oldest at once, the larger of SPANLAB_RETAIN_MB and
 * SPANLAB_RETAIN_PERCENT % of the recent in-use peak (peak_pages). */
SL_INLINE uint64_t sl_retain_budget(uint64_t peak_pages)
{
	uint64_t floor = (uint64_t)sl_opt.retain_mb << 20;
	uint64_t peak = peak_pages << SL_PAGE_SHIFT, pct = (uint64_t)sl_opt.retain_percent;
	uint64_t rel = peak / 100 * pct + peak % 100 * pct / 100; /* rounds down only */
	return rel > floor ? rel : floor;
}
#if SL_SYNC_ENGINE_LOCKFREE
/* Gives pages [base, base + npages pages) back without touching a span descriptor. */
void sl_mheap_free_pages(sl_mheap *h, uintptr_t base, size_t npages);
#endif
void sl_mheap_prefork(sl_mheap *h);
void sl_mheap_postfork_parent(sl_mheap *h);
void sl_mheap_postfork_child(sl_mheap *h);

/* ---- mcentral.c ---- */
void sl_mcentral_init(sl_mcentral *c, sl_mheap *h, uint32_t sizeclass);
/* Span lists, for front ends that move whole spans (c->lock held): grow allocates a
 * span from the mheap and pushes it on the partial list. */
sl_span *sl_mcentral_grow(sl_mcentral *c);
void sl_partial_push(sl_mcentral *c, sl_span *s);
void sl_partial_remove(sl_mcentral *c, sl_span *s);
/* Full batches: O(1), through the sync policy's stack. push returns false when the
 * central already holds max_full batches (the caller then uses give_list). */
sl_batch *sl_mcentral_pop_batch(sl_mcentral *c);
bool sl_mcentral_push_batch(sl_mcentral *c, sl_batch *b);
/* Empty batch nodes shared by the caches of this class. */
sl_batch *sl_mcentral_spare_pop(sl_mcentral *c);
void sl_mcentral_spare_push(sl_mcentral *c, sl_batch *b);
/* Span path, under the central's lock: take up to `want` objects (0: out of memory) as
 * a NULL-terminated list in *head; give a NULL-terminated list back to its spans. */
uint32_t sl_mcentral_take(sl_mcentral *c, uint32_t want, void **head);
void sl_mcentral_give_list(sl_mcentral *c, void *head);
void sl_mcentral_drain(sl_mcentral *c); /* full batches back to their spans */
void sl_mcentral_prefork(sl_mcentral *c);
void sl_mcentral_postfork_parent(sl_mcentral *c);
void sl_mcentral_postfork_child(sl_mcentral *c);

/* ---- mcache.c ---- */
extern SL_TLS sl_mcache *sl_tls_cache;
sl_mcache *sl_mcache_get_slow(void); /* NULL: this thread must use the uncached path */
void sl_mcache_move_node(sl_mcache *c);
void sl_mcache_stats(uint64_t *nmalloc, uint64_t *nfree, uint64_t *threads);
void sl_mcache_init_global(void);
void sl_mcache_prefork(void);
void sl_mcache_postfork_parent(void);
void sl_mcache_postfork_child(void);
/* Calls fn on every cache of the registry (live or idle: an idle cache keeps its
 * counts), then once with NULL (statistics: the NULL call reads the uncached path's
 * counts). Lock-free; runs concurrently with thread start and exit. */
void sl_mcache_foreach(void (*fn)(sl_mcache *c, void *arg), void *arg);
extern uint64_t sl_uncached_mallocs[SL_NUM_CLASSES], sl_uncached_frees[SL_NUM_CLASSES];

/* Slow paths between two checks of the thread's NUMA node (sl_mcache_follow_node). */
#define SL_MCACHE_NODE_CHECK 16

/* Called by the front ends' allocation slow paths. With several NUMA heaps, every
 * SL_MCACHE_NODE_CHECK-th call asks the NUMA policy where the thread runs now (a cheap
 * table lookup); a thread that moved gives everything its cache holds back to the old
 * heap (sl_fe_cache_teardown) and allocates from its new node's heap. */
SL_INLINE void sl_mcache_follow_node(sl_mcache *c)
{
	if (SL_NUMA_MAX_NODES > 1 && sl_nheaps > 1 && ++c->node_checks >= SL_MCACHE_NODE_CHECK)
		sl_mcache_move_node(c);
}

/* The heap this thread allocates from: its cache's, or (no cache) its NUMA node's. */
SL_INLINE sl_mheap *sl_local_heap(void)
{
	sl_mcache *c = sl_tls_cache;
	return c ? c->heap : &sl_heaps[sl_numa_current_node() % sl_nheaps];
}

/* ---- malloc.c ---- */
void sl_ensure_init(void);
bool sl_initialized(void); /* fully initialised: thread caches may be created */
/* sl_fatal, sl_verbose: base/log.h */

/* ---- stats.c ---- */
void sl_options_read(void);
void sl_stats_prefork(void);
void sl_stats_postfork_parent(void);
void sl_stats_postfork_child(void);

/* The front end's fast paths and hooks (selected by core/frontend.h), checked against
 * the contract; before them, span bitmaps for the front ends that keep them. */
#if SL_FE_SPAN_BITMAPS
#include "spanbits.h"
#endif
#include SL_FE_HEADER
SL_FE_CHECK_CONTRACT();

#endif
