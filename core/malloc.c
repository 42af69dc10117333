/*
 * core/malloc.c — the spanlab engine: overview, initialisation, and the malloc family.
 *
 * ==== Overview ====
 *
 * spanlab follows the Go runtime allocator and TCMalloc. The main pieces:
 *
 *   size classes  policies/sizeclass.h: a request of at most SL_MAX_SMALL bytes is
 *                 rounded up to one of the table's object sizes (13 to 89 of them,
 *                 by table); larger ones are page runs.
 *   mspan         a run of 8 KiB pages (struct sl_span). A SMALL span is cut into
 *                 objects of one class; a LARGE span is one object; a FREE span is
 *                 idle pages owned by the mheap.
 *   mcache        one per thread, reached through one TLS pointer (mcache.c: its life
 *                 cycle and registry). What it holds is the front end's, in its own
 *                 type (core/frontend.h, "Front ends" below): `freelist`,
 *                 per class a singly-linked list of free objects (TCMalloc's thread
 *                 cache; the default, described in the steps below); `bitmap`, per
 *                 class one span and its allocation bitmap (Go's); `tiny`, bitmap
 *                 plus Go's tiny allocator; `percpu`, counters only (the free objects
 *                 are in per-CPU caches).
 *   mcentral      one per class per mheap: a stack of full batches (moved in O(1)
 *                 through the central-sync policy) and the class's spans with free
 *                 objects (under the policy's lock).
 *   mheap         one per NUMA node (numa/numa.h): free page runs by length, growth
 *                 into address-space reservations, large objects, and the scavenger.
 *   page map      pointer -> span in two loads (pagemap.c): a static root gives the
 *                 page table of the address's 1 GiB region (built when the heap first
 *                 reserves there), whose entry for the page is the span.
 *
 * ==== Allocating n bytes ====
 *
 *   1. n <= SL_MAX_SMALL: class c = size_to_class(n) (one table load).
 *   2. Pop the head of the thread's list for c. Done: no lock, no atomic instruction.
 *   3. List empty: refill (core/frontend/freelist/freelist.c). Pop a full batch from
 *      mcentral c (O(1)), or, if none, take a batch of objects from c's spans under
 *      its lock, allocating a new span from the mheap when no span has free objects.
 *   4. n > SL_MAX_SMALL: a LARGE span of ceil(n / 8 KiB) pages from the mheap, under
 *      its lock, best fit among free runs, growing into a new arena if needed.
 *
 * ==== Freeing p ====
 *
 *   1. span = page map(p). Unknown, FREE, or not the start of an object: abort with a
 *      message naming p.
 *   2. SMALL: push p on the thread's list for its class — whichever thread allocated
 *      it (TCMalloc's answer to cross-thread frees: the freeing thread's cache absorbs
 *      the object, and batches carry it back to mcentral, where any thread can take
 *      it). Above the list's threshold one batch goes back to mcentral (with dynamic
 *      sizing, while the thread frees no more than it allocated, the threshold grows
 *      instead: freelist.c, sl_fl_overflow).
 *   3. LARGE: give the pages back to the mheap, which merges them with free
 *      neighbours; the scavenger later returns idle runs to the OS (mheap.c).
 *
 * A freed object holds the list link in word 0 and, from 16 bytes up, a per-process
 * random key in word 1; every allocation clears that word, and a span's key words are
 * cleared before its pages go back to the mheap (so no large object or span of another
 * class inherits one). A free that finds the key there aborts naming p as a double
 * free, wherever the first free left the object (a thread cache, a batch in mcentral,
 * its span): a live object holds the key only if the program copied it out of a freed
 * object. An 8-byte object has no room for the key: its span keeps one free byte per
 * object in its tail instead (SL_OBJ8 in internal.h), cleared by malloc and set by
 * free, which finds it set on a double free from any thread. The bitmap front ends
 * keep their own per-object state (below).
 *
 * ==== Front ends ====
 *
 * The fast paths of the malloc family call the front end (core/frontend.h, contract in
 * core/frontend/README.md) for small objects; everything above it is shared.
 *
 * `bitmap` (core/frontend/bitmap/: the bitmap core, bmcore.[ch], which `tiny` shares;
 * mcentral's side in core/mcentral.c, "Span bitmaps"), as the Go runtime:
 *   1. The mcache allocates from one span per class (its current span) through a
 *      64-bit copy of one word of the span's free bitmap; malloc takes its lowest set
 *      bit (count trailing zeros, Go's allocCache). Empty word: the next word with
 *      free slots (a bitmap refill); after the last word, the span's remote frees are
 *      merged and the scan restarts.
 *   2. Span full: unlike Go, the mcache keeps it (mimalloc's rule that a page stays
 *      with its thread): it joins the class's owned spans, and the mcache looks at
 *      the 4 oldest of them and allocates next from the first with at least half its
 *      slots free (else the one with the most, if an eighth are), else from a span
 *      with free slots on mcentral's partial list under the central-sync policy's
 *      lock, or a new span from the mheap. Beyond 8 owned spans per class, or 256 KiB
 *      of them if that is more, the one with the fewest free slots goes back to
 *      mcentral (off every list until something in it is freed).
 *   3. free by the owning thread, into any span it owns: set the object's bit (one
 *      test catches a double free exactly; no atomic). By any other thread: push on
 *      the span's atomic remote-free list (one CAS, mimalloc's thread-free list); the
 *      owner collects it with one exchange when it looks for slots. For a span in
 *      mcentral the same CAS counts the objects still in use: the free that makes the
 *      span reusable lists it, the free of its last object releases it to the mheap
 *      (core/mcentral.c states the protocol, core/frontend/bitmap/bmcore.c the
 *      owned-span policy).
 *   4. Thread exit, trim and a move to another NUMA node hand every owned span back
 *      to mcentral.
 * Span bitmaps are metadata (sl_meta_alloc, recycled per class), never malloc.
 *
 * `tiny` (core/frontend/tiny/, on the bitmap core): requests under 16 bytes (but 8,
 * which takes the 8-byte class unless SPANLAB_TINY_WHOLE8=0) are packed
 * into the thread's current 16-byte block at their natural alignment (8, 4 or 2 by the
 * size's low bits as Go's, and 2 for odd sizes where Go gives 1 — less than glibc's
 * 16), so they are
 * not 8- or 16-byte aligned. A 16-bit word per block in the span's metadata (2 bytes
 * per 16) marks where live objects start (an atomic add on allocation, an atomic and
 * on free, from any thread); the block goes back to its span when the last object is
 * freed and the cache has moved on. Blocks come from spans of their own (the cache's
 * extra entry), marked by s->tinywords, so that ordinary 16-byte objects keep the
 * core's free fast path. Two rules keep blocks full: a request that does
 * not fit takes a new block, which becomes the current one only if it has more room
 * left (Go's rule); and when the holding thread frees the object placed last in its
 * current block (a temporary string, say), the block's fill moves back so those bytes
 * are handed out again. malloc_usable_size of a tiny object is its size rounded up to
 * the next object's start. What it saves depends on the sizes: strings of 2 to 4
 * bytes pack several to a block where classes give each 8, but objects of mixed
 * lifetimes pin whole blocks, so sizes nearer 16 can cost more than the classes
 * (bench/README.md, sl-strmap --tags).
 *
 * `percpu` (core/frontend/percpu/), as TCMalloc today: the
 * free objects are cached per CPU instead of per thread, in one bounded array per CPU
 * and class (16 KiB of objects to start; classes grow and shrink within a per-CPU
 * budget, 1.5 MiB by default). malloc pops and free pushes with a
 * restartable sequence (Linux rseq, through the area glibc registers for every
 * thread): the CPU id comes from that area, and a thread preempted, migrated or
 * signalled inside the few instructions before the commit store restarts them. An
 * empty or full array moves up to a batch through the transfer cache (transfer.c in
 * that folder: per class, an array of object pointers under the sync policy's lock)
 * or mcentral. Threads no longer hold memory: what a CPU caches serves every
 * thread that runs on it, so cached memory scales with CPUs, not threads. Without
 * rseq it is `freelist`, chosen once at start-up.
 *
 * ==== Memory layout ====
 *
 *   Heap memory: address space reserved PROT_NONE with mmap (never sbrk) as the heap
 *   needs it — 4 MiB first, each next reservation twice the last up to 64 MiB, and a
 *   large request a reservation of its own, of its exact size — and made
 *   PROT_READ|PROT_WRITE as the heap grows, 2 MiB at a time at least. Idle pages stay
 *   resident within a retain budget that follows the heap's recent in-use peak (freed
 *   large blocks are reused without faulting again) and go back to the OS with
 *   madvise(MADV_DONTNEED) beyond it, or once idle for the scavenger's delay; of
 *   those, runs of 1 MiB or more are unmapped, as are every idle run at malloc_trim
 *   and every idle run when a reservation fails (mheap.c states the policy), so a
 *   stale pointer into them faults and its free() aborts as "not allocated by
 *   spanlab".
 *   Metadata (spans, batches, caches, page-map nodes, span bitmaps) comes from
 *   sl_meta_alloc, mmap-backed, never from malloc: the engine allocates nothing through
 *   itself. What spanlab needs before the first allocation: 2 MiB of page-map root
 *   and 1 MiB of metadata (both untouched but for what is used), a 1 MiB page table,
 *   and the 4 MiB first reservation (README.md, "Address space").
 *
 * ==== Initialisation and re-entry ====
 *
 * The first allocation (or the library constructor) initialises the engine under a
 * mutex: options, size-class tables, mheaps; from then on the engine can serve
 * allocations without a thread cache (the "uncached" path, straight to mcentral). Then
 * it calls what may allocate — NUMA discovery (hwloc), pthread_key_create,
 * pthread_atfork, the sync policy's set-up (liburcu) — and re-entrant calls from that
 * thread are served by the uncached path. Thread caches are created only after that.
 *
 * ==== fork ====
 *
 * pthread_atfork handlers take every engine lock before fork (order: statistics,
 * sync policy, mcentral locks, mheap, metadata, cache registry) and release (parent) or reinitialise
 * (child) them after, so the child gets a consistent heap. The child keeps only the
 * forking thread's cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

sl_mheap sl_heaps[SL_NUMA_MAX_NODES];
unsigned sl_nheaps = 1;
uintptr_t sl_free_key;
uintptr_t sl_link_key;
sl_class_info sl_classes[SL_NUM_CLASSES];

/* ---- Errors ---- */

/* Writes "spanlab (<variant>): <message>\n" to stderr with one write(2): no stdio, no
 * allocation, so it works from inside the allocator. */
static void sl_vmessage(const char *fmt, va_list ap)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "spanlab (%s): ", spanlab_variant());
	n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
	(void)w;
}

void sl_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sl_vmessage(fmt, ap);
	va_end(ap);
	abort();
}

void sl_link_corrupt(const void *obj)
{
	sl_fatal("heap corruption: the free-list link in freed object %p was overwritten (a write after its free, "
		 "or an overflow from the object before it)",
		 obj);
}

void sl_verbose(const char *fmt, ...)
{
	if (!sl_opt.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	sl_vmessage(fmt, ap);
	va_end(ap);
}

/* ---- Initialisation ---- */

enum { SL_INIT_NONE = 0, SL_INIT_CORE, SL_INIT_DONE };
static atomic_int sl_init_state;
static pthread_mutex_t sl_init_lock = PTHREAD_MUTEX_INITIALIZER;
static SL_TLS bool sl_tls_in_init;

static void sl_prefork(void);
static void sl_postfork_parent(void);
static void sl_postfork_child(void);

static void sl_classes_init(void)
{
	for (uint32_t c = 1; c < SL_NUM_CLASSES; c++) {
		uint32_t size = sl_sc_class_to_size(c);
		uint32_t batch = (uint32_t)((64u << 10) / size);
		batch = batch < 2 ? 2 : batch > 32 ? 32 : batch;
		/* The most a thread's list of the class holds: static sizing, 256 KiB and
		 * 2048 objects; dynamic sizing (core/frontend/freelist/freelist.c), what a
		 * thread's whole budget buys. Never less than a batch. */
		uint64_t cap = sl_opt.tcache_dynamic ? ((uint64_t)sl_opt.tcache_thread_kb << 10) / size
						     : (256u << 10) / size;
		uint64_t limit = sl_opt.tcache_dynamic ? 1u << 20 : 2048;
		cap = cap < batch ? batch : cap > limit ? limit : cap;
		sl_classes[c] = (sl_class_info){.size = size, .batch = batch, .cache_cap = (uint32_t)cap};
	}
}

static uintptr_t sl_random_key(void)
{
	uintptr_t k = 0;
	if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k = (uintptr_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uintptr_t)&k ^ (uintptr_t)getpid();
	}
	/* Odd, and the top bit set: never an 8-byte aligned pointer, and XORed with a user
	 * pointer or a small integer it is never one either (the bitmap front end's test for
	 * an encoded 8-byte link, core/spanbits.h). */
	return k | 1 | ((uintptr_t)1 << 63);
}

static SL_NOINLINE SL_COLD void sl_init_slow(void)
{
	if (sl_tls_in_init)
		return; /* re-entry from this thread's own initialisation */
	pthread_mutex_lock(&sl_init_lock);
	if (atomic_load_explicit(&sl_init_state, memory_order_acquire) == SL_INIT_DONE) {
		pthread_mutex_unlock(&sl_init_lock);
		return;
	}
	sl_tls_in_init = true;
	sl_options_read();
	sl_free_key = sl_random_key();
	sl_link_key = (sl_random_key() & ~(uintptr_t)7) | 4; /* low bits 100: sl_link_get */
	sl_classes_init();
	for (unsigned i = 0; i < SL_NUMA_MAX_NODES; i++)
		sl_mheap_init(&sl_heaps[i], i);
	atomic_store_explicit(&sl_init_state, SL_INIT_CORE, memory_order_release);

	/* From here on, allocations re-entering from this thread take the uncached path. */
	unsigned nodes = sl_numa_init();
	sl_nheaps = nodes >= 1 && nodes <= SL_NUMA_MAX_NODES ? nodes : 1;
	sl_mcache_init_global();
	if (pthread_atfork(sl_prefork, sl_postfork_parent, sl_postfork_child) != 0)
		sl_fatal("pthread_atfork failed");
	sl_sync_global_init();
	atomic_store_explicit(&sl_init_state, SL_INIT_DONE, memory_order_release);
	sl_tls_in_init = false;
	pthread_mutex_unlock(&sl_init_lock);
	sl_verbose("initialised variant %s: %u size classes up to %u B, %u heap(s)", spanlab_variant(),
		   (unsigned)SL_NUM_CLASSES - 1, (unsigned)SL_MAX_SMALL, sl_nheaps);
}

void sl_ensure_init(void)
{
	if (SL_UNLIKELY(atomic_load_explicit(&sl_init_state, memory_order_acquire) != SL_INIT_DONE))
		sl_init_slow();
}

bool sl_initialized(void)
{
	return atomic_load_explicit(&sl_init_state, memory_order_acquire) == SL_INIT_DONE;
}

__attribute__((constructor)) static void sl_constructor(void) { sl_ensure_init(); }

/* ---- fork ---- */

static void sl_prefork(void)
{
	sl_stats_prefork();
	sl_sync_prefork();
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t c = 1; c < SL_NUM_CLASSES; c++)
			sl_mcentral_prefork(&sl_heaps[i].central[c]);
	for (unsigned i = 0; i < sl_nheaps; i++)
		sl_mheap_prefork(&sl_heaps[i]);
	sl_meta_prefork();
	sl_mcache_prefork();
}

static void sl_postfork_parent(void)
{
	sl_mcache_postfork_parent();
	sl_meta_postfork_parent();
	for (unsigned i = sl_nheaps; i-- > 0;)
		sl_mheap_postfork_parent(&sl_heaps[i]);
	for (unsigned i = sl_nheaps; i-- > 0;)
		for (uint32_t c = SL_NUM_CLASSES; c-- > 1;)
			sl_mcentral_postfork_parent(&sl_heaps[i].central[c]);
	sl_sync_postfork_parent();
	sl_stats_postfork_parent();
}

static void sl_postfork_child(void)
{
	sl_stats_postfork_child();
	sl_meta_postfork_child();
	sl_mcache_postfork_child();
	for (unsigned i = 0; i < sl_nheaps; i++)
		sl_mheap_postfork_child(&sl_heaps[i]);
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t c = 1; c < SL_NUM_CLASSES; c++)
			sl_mcentral_postfork_child(&sl_heaps[i].central[c]);
	sl_sync_postfork_child();
}

/* ---- Large objects ---- */

#define SL_MAX_REQUEST ((size_t)PTRDIFF_MAX - (SL_PAGE_SIZE << 1))

static SL_NOINLINE void *sl_alloc_large(size_t size, size_t align, bool zero)
{
	sl_ensure_init();
	if (SL_UNLIKELY(size > SL_MAX_REQUEST)) {
		errno = ENOMEM;
		return NULL;
	}
	size_t npages = (size + SL_PAGE_SIZE - 1) >> SL_PAGE_SHIFT;
	size_t align_pages = align > SL_PAGE_SIZE ? align >> SL_PAGE_SHIFT : 1;
	sl_span *s = sl_mheap_alloc(sl_local_heap(), npages, align_pages, true);
	if (SL_UNLIKELY(!s)) {
		errno = ENOMEM;
		return NULL;
	}
	if (zero && s->needzero)
		memset((void *)s->base, 0, size);
	return (void *)s->base;
}

/* ---- Free ---- */

static SL_NOINLINE SL_COLD void sl_bad_pointer(const char *fn, const void *p, const char *why)
{
	sl_fatal("%s(): invalid pointer %p: %s", fn, p, why);
}

/* Validates p (from `fn`) and returns its span, aborting on a pointer the heap did not
 * give out. */
static sl_span *sl_owner(const char *fn, void *p)
{
	sl_span *s = sl_span_of(p);
	if (!s)
		sl_bad_pointer(fn, p, "not allocated by spanlab");
	switch (__atomic_load_n(&s->state, __ATOMIC_RELAXED)) {
	case SL_SPAN_SMALL: {
		bool exact;
		sl_span_index(s, p, &exact);
		if (!exact && !sl_fe_check_interior(s, p))
			sl_bad_pointer(fn, p, "not the start of an allocated object");
		return s;
	}
	case SL_SPAN_LARGE:
		if ((uintptr_t)p != s->base)
			sl_bad_pointer(fn, p, "not the start of an allocated object");
		return s;
	default:
		sl_fatal("%s(): double free or invalid pointer %p: its pages are free", fn, p);
	}
}

static SL_NOINLINE void sl_free_slow(void *p)
{
	if (!p)
		return;
	sl_span *s = sl_owner("free", p);
	if (s->state == SL_SPAN_LARGE) {
		sl_mheap_free(s->heap, s);
		return;
	}
	sl_fe_free_small(s, p);
}

/* The free of p that the front end's fast path declined (c and s as it was given them):
 * the front end's own cheap cases first (sl_fe_free_declined: `freelist`'s 8-byte
 * objects), anything else, and any failure, through sl_free_slow. */
static SL_NOINLINE void sl_free_declined(sl_mcache *c, sl_span *s, void *p)
{
	if (sl_fe_free_declined(c, s, p))
		return;
	sl_free_slow(p);
}

/*
 * The free fast path: the page-map lookup (two loads) and the front end's fast path
 * (its budget in its header). Anything unusual (large object, no cache yet, bad
 * pointer, double free, an object the front end cannot take cheaply) goes to
 * sl_free_slow, through sl_free_declined when the front end declined it (each a tail
 * call: the fast path saves no register).
 */
static inline void sl_free(void *p)
{
	sl_span *s = sl_span_of_fast(p);
	sl_mcache *c = sl_tls_cache;
	if (SL_UNLIKELY(s == NULL || c == NULL)) {
		sl_free_slow(p);
		return;
	}
	if (SL_LIKELY(sl_fe_free_fast(c, s, p)))
		return;
	sl_free_declined(c, s, p);
}

/* ---- The malloc family ---- */

#ifndef SPANLAB_GLIBC_ALIGN
#define SPANLAB_GLIBC_ALIGN 1
#endif

/* The class serving a request of size <= SL_MAX_SMALL. With SPANLAB_GLIBC_ALIGN (the
 * default) blocks of more than 16 bytes are 16-byte aligned, as glibc's: the table's
 * aligned lookup serves requests as if rounded up to a multiple of 16, which the
 * size-class contract makes land on a class that is one (for Go's table a second
 * 8-byte-step array that skips its 24 B class; the same single load either way). */
SL_INLINE uint32_t sl_size_class(size_t size)
{
	return SPANLAB_GLIBC_ALIGN ? sl_sc_size_to_class_a16(size) : sl_sc_size_to_class(size);
}

/* An object of an 8-byte class under the list front ends: its free byte in the span is
 * cleared as it goes to the program (SL_OBJ8, core/internal.h). */
static SL_NOINLINE void *sl_alloc_obj8(uint32_t cls)
{
	void *p = sl_fe_alloc(cls);
	if (SL_LIKELY(p != NULL))
		sl_obj8_live(p, cls);
	return p;
}

/* An object of class cls for the program (the paths other than malloc's own). */
SL_INLINE void *sl_alloc_class(uint32_t cls)
{
	if (SL_OBJ8_CLASS(sl_sc_class_to_size(cls)))
		return sl_alloc_obj8(cls);
	return sl_fe_alloc(cls);
}

SL_INLINE void *sl_malloc(size_t size)
{
#if SL_FE_TINY_MAX
	/* Front end `tiny`: requests under 16 bytes share 16-byte blocks. */
	if (size < SL_FE_TINY_MAX)
		return sl_fe_alloc_tiny(size);
#endif
#if SL_OBJ8
	/* 9 bytes to 1 KiB first (one subtraction, one compare, one table load to the
	 * class): no class there is an 8-byte one. */
	if (SL_LIKELY(size - 9 <= 1024 - 9))
		return sl_fe_alloc(sl_size_class(size));
	if (size <= 8)
		return sl_alloc_class(sl_size_class(size));
#else
	/* Sizes up to 1 KiB first: one compare and one table load to the class. */
	if (SL_LIKELY(size <= 1024))
		return sl_fe_alloc(sl_size_class(size));
#endif
	if (SL_LIKELY(size <= SL_MAX_SMALL))
		return sl_fe_alloc(sl_size_class(size));
	return sl_alloc_large(size, 1, false);
}

/* The size of the live object p (realloc, malloc_usable_size): a freed object (its key,
 * or an 8-byte object's bit: see "Freeing p" above) is reported as a use after free
 * naming `fn`. */
static size_t sl_usable(const char *fn, void *p, sl_span **sp)
{
	sl_span *s = sl_owner(fn, p);
	*sp = s;
	if (s->state != SL_SPAN_SMALL)
		return s->npages << SL_PAGE_SHIFT;
	/* (sl_owner checked that p starts an object, but for `tiny` blocks.) */
	if (s->keyoff ? sl_span_is_object(s, p) && *(void **)((char *)p + s->keyoff) == (void *)sl_free_key
		      : SL_OBJ8_CLASS(s->elemsize) && sl_obj8_is_free(s, p))
		sl_fatal("%s(): pointer %p was freed (use after free or double free)", fn, p);
	return sl_fe_usable(s, p);
}

/* An object of at least size bytes whose address is a multiple of align (a power of
 * two). Small: the first class at least as big whose object size is a multiple of
 * align (objects of such a class are aligned, spans being page-aligned). */
static void *sl_alloc_aligned(size_t align, size_t size)
{
	if (size <= SL_MAX_SMALL && align <= SL_PAGE_SIZE) {
		for (uint32_t c = sl_size_class(size); c < SL_NUM_CLASSES; c++)
			if ((sl_sc_class_to_size(c) & (align - 1)) == 0)
				return sl_alloc_class(c);
	}
	return sl_alloc_large(size ? size : 1, align, false);
}

static void *sl_api_malloc(size_t size) { return sl_malloc(size); }

static void sl_api_free(void *p) { sl_free(p); }

static void *sl_api_calloc(size_t n, size_t size)
{
	size_t total;
	if (SL_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	if (total > SL_MAX_SMALL)
		return sl_alloc_large(total, 1, true);
	void *p = sl_alloc_class(sl_size_class(total));
	if (SL_LIKELY(p != NULL))
		memset(p, 0, total);
	return p;
}

static void *sl_api_realloc(void *p, size_t size)
{
	if (!p)
		return sl_malloc(size);
	if (size == 0) {
		sl_free(p);
		return NULL;
	}
	sl_span *s;
	size_t old = sl_usable("realloc", p, &s);
	if (s->state == SL_SPAN_SMALL) {
		/* A small object stays where it is when the new size fits in it and does not
		 * waste more than half of it (its own class, or a shrink to at least half:
		 * moving would cost a malloc, a copy and a free to save at most half the
		 * object); a tiny object (usable size below its class's) stays when the new
		 * size fits. */
		if (size <= old && (old != s->elemsize || size >= old / 2))
			return p;
	} else if (size > SL_MAX_SMALL && size <= SL_MAX_REQUEST &&
		   sl_mheap_resize(s->heap, s, (size + SL_PAGE_SIZE - 1) >> SL_PAGE_SHIFT)) {
		return p;
	}
	void *q = sl_malloc(size);
	if (SL_UNLIKELY(!q))
		return NULL;
	memcpy(q, p, old < size ? old : size);
	sl_free(p);
	return q;
}

static void *sl_api_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (SL_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	return sl_api_realloc(p, total);
}

static bool sl_pow2(size_t x) { return x && !(x & (x - 1)); }

static int sl_api_posix_memalign(void **out, size_t align, size_t size)
{
	if (!sl_pow2(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = sl_alloc_aligned(align, size);
	if (!p) {
		errno = saved;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

/* C17 / glibc 2.38: the alignment must be a power of two. */
static void *sl_api_aligned_alloc(size_t align, size_t size)
{
	if (!sl_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return sl_alloc_aligned(align, size);
}

/* glibc: a non-power-of-two alignment is rounded up; an impossible one is EINVAL. */
static void *sl_api_memalign(size_t align, size_t size)
{
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	size_t a = 1;
	while (a < align)
		a <<= 1;
	return sl_alloc_aligned(a, size);
}

static size_t sl_os_page(void)
{
	static size_t page;
	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static void *sl_api_valloc(size_t size) { return sl_alloc_aligned(sl_os_page(), size); }

static void *sl_api_pvalloc(size_t size)
{
	size_t page = sl_os_page();
	size_t rounded = (size + page - 1) & ~(page - 1);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return sl_alloc_aligned(page, rounded ? rounded : page);
}

static size_t sl_api_malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	sl_span *s;
	return sl_usable("malloc_usable_size", p, &s);
}

static int sl_api_trim(size_t pad)
{
	(void)pad;
	sl_ensure_init();
	/* The front end's flush also drains what no thread owns (percpu's CPU caches, the
	 * transfer caches): a thread that never allocated gets a cache to run it. */
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	if (c)
		sl_fe_flush(c);
	size_t released = 0;
	for (unsigned i = 0; i < sl_nheaps; i++) {
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++)
			sl_mcentral_drain(&sl_heaps[i].central[cls]);
		released += sl_mheap_trim(&sl_heaps[i]);
	}
	return released > 0;
}

const char *spanlab_variant(void)
{
	return SPANLAB_VARIANT_NAME; /* core/config.h */
}

size_t spanlab_size_classes(size_t *sizes, size_t cap)
{
	size_t n = SL_NUM_CLASSES - 1;
	for (size_t i = 0; i < n && i < cap; i++)
		sizes[i] = sl_sc_class_to_size((uint32_t)i + 1);
	return n;
}

/*
 * Exported names. The implementations above are static so the fast paths inline into
 * each entry point; these aliases give them their public names: the prefixed API in
 * every build, and the standard names in the shared (drop-in) library.
 */
#define SL_EXPORT(name, impl) extern __typeof__(impl) name __attribute__((alias(#impl), visibility("default")))
SL_EXPORT(spanlab_malloc, sl_api_malloc);
SL_EXPORT(spanlab_free, sl_api_free);
SL_EXPORT(spanlab_calloc, sl_api_calloc);
SL_EXPORT(spanlab_realloc, sl_api_realloc);
SL_EXPORT(spanlab_reallocarray, sl_api_reallocarray);
SL_EXPORT(spanlab_posix_memalign, sl_api_posix_memalign);
SL_EXPORT(spanlab_aligned_alloc, sl_api_aligned_alloc);
SL_EXPORT(spanlab_memalign, sl_api_memalign);
SL_EXPORT(spanlab_valloc, sl_api_valloc);
SL_EXPORT(spanlab_pvalloc, sl_api_pvalloc);
SL_EXPORT(spanlab_malloc_usable_size, sl_api_malloc_usable_size);
SL_EXPORT(spanlab_trim, sl_api_trim);

#ifdef SPANLAB_OVERRIDE
SL_EXPORT(malloc, sl_api_malloc);
SL_EXPORT(free, sl_api_free);
SL_EXPORT(calloc, sl_api_calloc);
SL_EXPORT(realloc, sl_api_realloc);
SL_EXPORT(reallocarray, sl_api_reallocarray);
SL_EXPORT(posix_memalign, sl_api_posix_memalign);
SL_EXPORT(aligned_alloc, sl_api_aligned_alloc);
SL_EXPORT(memalign, sl_api_memalign);
SL_EXPORT(valloc, sl_api_valloc);
SL_EXPORT(pvalloc, sl_api_pvalloc);
SL_EXPORT(malloc_usable_size, sl_api_malloc_usable_size);
SL_EXPORT(malloc_trim, sl_api_trim);
SL_EXPORT(cfree, sl_api_free);
#endif
