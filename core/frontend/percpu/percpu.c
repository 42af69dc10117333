/*
 * core/frontend/percpu/percpu.c — the slow paths of front end `percpu` (fast paths and
 * the critical sections in percpu.h): start-up choice between CPU caches
 * and the `freelist` fallback, CPU slabs made on first use, refill on underflow and
 * flush on overflow through the transfer cache (transfer.c) and mcentral,
 * statistics. See malloc.c for the overview.
 *
 * Sizing, per CPU and class: capacity sl_pcpu_cap = SPANLAB_PERCPU_CLASS_BYTES / size
 * objects (at least 2) to start, then dynamic ("Dynamic capacities" below); a refill
 * or flush moves sl_pcpu_move = min(batch, cap / 2) objects (at least 1), so that a
 * class just refilled or flushed has room both ways, or an eighth of a grown class's
 * capacity.
 *
 * Ownership: a CPU's slab belongs to no thread; any thread running on that CPU pushes
 * and pops through critical sections, so objects freed by an exiting thread stay
 * cached for the next one. Thread caches remain (percpu/cache.h), for the per-thread
 * counters, the NUMA remote lists and the fallback's lists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/rseq.h>
#include <sys/sysinfo.h>

#include "../../internal.h"
#include "transfer.h"

#if !defined(__x86_64__)
#error "front end percpu: the critical sections are written for x86-64"
#endif

bool sl_pcpu_rseq;
ptrdiff_t sl_pcpu_rseq_off;
uint8_t sl_pcpu_keyslot[SL_NUM_CLASSES];
void **sl_pcpu_slabs[SPANLAB_PERCPU_MAX_CPUS];

#define SL_PCPU_BUF 256 /* objects a refill or flush moves at most (>= every batch) */

/* Per class: the capacity a CPU cache starts with (cap), the least it shrinks to when
 * another class takes its room (min: two move counts, so that a refill and a flush
 * still fit), the most it grows to (max: the slots of the class's region in the slab),
 * what a refill or flush moves, and the size. */
static uint32_t sl_pcpu_cap[SL_NUM_CLASSES], sl_pcpu_min[SL_NUM_CLASSES], sl_pcpu_max[SL_NUM_CLASSES];
static uint32_t sl_pcpu_move[SL_NUM_CLASSES];
static uint32_t sl_pcpu_slab_words; /* headers and slots of one slab */
static uint64_t sl_pcpu_bound;	    /* bytes one CPU caches at most */
static uint64_t sl_pcpu_start;	    /* bytes of capacity a new slab starts with */
static bool sl_pcpu_dynamic;	    /* capacities move (SPANLAB_PERCPU_CPU_KB > 0) */
/* Per CPU (dynamic capacities): bytes of capacity its classes hold together (sum of
 * (end - begin) * size, at most sl_pcpu_bound; atomic adds, reserved before a class
 * grows and given back when one shrinks) and where the next steal looks first. */
typedef struct sl_pcpu_budget {
	uint64_t used;
	uint32_t next;
} SL_ALIGNED_CL sl_pcpu_budget;
static sl_pcpu_budget sl_pcpu_budgets[SPANLAB_PERCPU_MAX_CPUS];
/* Test and statistics figures (relaxed atomic adds): classes grown, classes shrunk to
 * give their room to another. */
uint64_t sl_pcpu_grows, sl_pcpu_steals;
static pthread_mutex_t sl_pcpu_lock = PTHREAD_MUTEX_INITIALIZER; /* set-up, slab creation */
static atomic_int sl_pcpu_decided;   /* set-up done (release), sl_pcpu_rseq final */
/* Statistics (atomic adds, slow paths only). */
static uint64_t sl_pcpu_underflows[SL_NUM_CLASSES], sl_pcpu_overflows[SL_NUM_CLASSES];
static uint64_t sl_pcpu_slab_nomem; /* slab allocations that failed */

#define SL_PCPU_OFF(cls) ((uint64_t)(cls) * sizeof(sl_pcpu_hdr))

static void sl_pcpu_postfork_child(void)
{
	pthread_mutex_init(&sl_pcpu_lock, NULL);
	sl_transfer_postfork_child();
}

/* Once, from the first thread cache's creation (before it is published): sizing, and
 * the choice between CPU caches and the fallback. Allocations this makes (sysfs
 * reads, pthread_atfork) re-enter as uncached: sl_pcpu_rseq is still false then. */
static void sl_pcpu_setup(void)
{
	if (atomic_load_explicit(&sl_pcpu_decided, memory_order_acquire))
		return;
	pthread_mutex_lock(&sl_pcpu_lock);
	if (atomic_load_explicit(&sl_pcpu_decided, memory_order_relaxed)) {
		pthread_mutex_unlock(&sl_pcpu_lock);
		return;
	}
	uint64_t words = SL_NUM_CLASSES * sizeof(sl_pcpu_hdr) / sizeof(void *);
	sl_pcpu_start = 0;
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		uint32_t size = sl_classes[cls].size;
		uint32_t cap = SPANLAB_PERCPU_CLASS_BYTES / size;
		cap = cap < 2 ? 2 : cap;
		uint32_t move = sl_classes[cls].batch < cap / 2 ? sl_classes[cls].batch : cap / 2;
		sl_pcpu_cap[cls] = cap;
		sl_pcpu_move[cls] = move ? move : 1;
		sl_pcpu_min[cls] = 2 * sl_pcpu_move[cls] < cap ? 2 * sl_pcpu_move[cls] : cap;
		sl_pcpu_keyslot[cls] = SL_KEY_OFFSET(size) / sizeof(void *);
		if (sl_classes[cls].batch > SL_PCPU_BUF)
			sl_fatal("percpu: batch of class %u (%u) exceeds %u", cls, sl_classes[cls].batch, SL_PCPU_BUF);
		sl_pcpu_start += (uint64_t)cap * size;
	}
	/* Dynamic capacities: a class may grow to SPANLAB_PERCPU_CLASS_MAX objects or the
	 * whole budget's worth, whichever is less (never below its start). */
	uint64_t budget = (uint64_t)sl_opt.percpu_cpu_kb << 10, cmax = (uint64_t)sl_opt.percpu_class_max;
	sl_pcpu_dynamic = budget > sl_pcpu_start;
	sl_pcpu_bound = sl_pcpu_dynamic ? budget : sl_pcpu_start;
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		uint64_t max = sl_pcpu_cap[cls];
		if (sl_pcpu_dynamic) {
			uint64_t fit = budget / sl_classes[cls].size;
			max = fit < cmax ? fit : cmax;
			max = max < sl_pcpu_cap[cls] ? sl_pcpu_cap[cls] : max > (1u << 24) ? (1u << 24) : max;
		}
		sl_pcpu_max[cls] = (uint32_t)max;
		words += max;
	}
	if (words > UINT32_MAX / 2)
		sl_fatal("percpu: a slab of %" PRIu64 " words is too large (SPANLAB_PERCPU_CLASS_MAX)", words);
	sl_pcpu_slab_words = (uint32_t)words;
	sl_transfer_init();
	const char *why = NULL;
	int ncpu = get_nprocs_conf();
	if (__rseq_size == 0)
		why = "glibc registered no rseq area (kernel without rseq, or GLIBC_TUNABLES=glibc.pthread.rseq=0)";
	else if (ncpu > SPANLAB_PERCPU_MAX_CPUS)
		why = "more CPUs than SPANLAB_PERCPU_MAX_CPUS";
	if (!why) {
		sl_pcpu_rseq_off = __rseq_offset;
		if (sl_pcpu_cpu_hint() < 0)
			why = "this thread's rseq area is not registered";
	}
	if (pthread_atfork(NULL, NULL, sl_pcpu_postfork_child) != 0)
		sl_fatal("pthread_atfork failed");
	if (why)
		sl_verbose("percpu: %s: per-thread `freelist` caches instead", why);
	else
		sl_verbose("percpu: per-CPU caches through rseq, at most %" PRIu64 " KiB per CPU (%s, %u KiB per "
			   "class to start), slab of %u KiB per CPU; transfer cache of %u batches per class",
			   sl_pcpu_bound >> 10, sl_pcpu_dynamic ? "dynamic capacities" : "static capacities",
			   (unsigned)SPANLAB_PERCPU_CLASS_BYTES >> 10, sl_pcpu_slab_words >> 7,
			   (unsigned)SPANLAB_TRANSFER_BATCHES);
	sl_pcpu_rseq = why == NULL;
	atomic_store_explicit(&sl_pcpu_decided, 1, memory_order_release);
	pthread_mutex_unlock(&sl_pcpu_lock);
}

/* The slab of cpu (a CPU id from the rseq area), made on first use; NULL when the id is
 * out of range or metadata is exhausted (the caller then bypasses the CPU cache). */
static void **sl_pcpu_slab(int32_t cpu)
{
	if ((uint32_t)cpu >= SPANLAB_PERCPU_MAX_CPUS)
		return NULL;
	void **slab = __atomic_load_n(&sl_pcpu_slabs[cpu], __ATOMIC_ACQUIRE);
	if (SL_LIKELY(slab != NULL))
		return slab;
	pthread_mutex_lock(&sl_pcpu_lock);
	slab = sl_pcpu_slabs[cpu];
	if (!slab) {
		slab = sl_meta_alloc((size_t)sl_pcpu_slab_words * sizeof(void *));
		if (slab) {
			sl_pcpu_hdr *h = (sl_pcpu_hdr *)slab;
			uint32_t w = SL_NUM_CLASSES * sizeof(sl_pcpu_hdr) / sizeof(void *);
			for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
				h[cls].begin = h[cls].cur = w;
				h[cls].end = w + sl_pcpu_cap[cls];
				w += sl_pcpu_max[cls];
			}
			__atomic_store_n(&sl_pcpu_budgets[cpu].used, sl_pcpu_start, __ATOMIC_RELAXED);
			__atomic_store_n(&sl_pcpu_slabs[cpu], slab, __ATOMIC_RELEASE);
		} else {
			__atomic_fetch_add(&sl_pcpu_slab_nomem, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&sl_pcpu_lock);
	return slab;
}

/* ---- Dynamic capacities ----
 *
 * With a budget (SPANLAB_PERCPU_CPU_KB above what the start capacities take), a class
 * whose CPU cache overflows or runs empty grows by its move count, up to its region
 * of the slab (sl_pcpu_max). The bytes of capacity come from the CPU's budget; once
 * it is spent, the class takes empty room (slots above cur) from the CPU's other
 * classes, looking at a few of them round-robin, never shrinking one below sl_pcpu_min;
 * with none to be had, the overflow flushes as with static capacities. Capacity is
 * room, not memory: what a CPU caches is at most the budget, in bytes of objects.
 * malloc_trim sets each drained class back to its start capacity.
 *
 * A class's end changes only by sl_pcpu_set_end, a critical section on the CPU itself
 * (the thread's CPU is checked inside it), so the pushes and pops of that CPU see
 * either the old end or the new one, never a move in the middle of theirs. The budget
 * is reserved (atomic add) before a grow commits and given back if it does not, and
 * given back after a shrink commits, so a CPU's capacity never exceeds its budget. */
#define SL_PCPU_STEAL_SCAN 8 /* classes one grow looks at for empty room */

static bool sl_pcpu_reserve(uint32_t cpu, uint64_t bytes)
{
	uint64_t *u = &sl_pcpu_budgets[cpu].used, used = __atomic_load_n(u, __ATOMIC_RELAXED);
	do {
		if (used + bytes > sl_pcpu_bound)
			return false;
	} while (!__atomic_compare_exchange_n(u, &used, used + bytes, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void sl_pcpu_unreserve(uint32_t cpu, uint64_t bytes)
{
	__atomic_fetch_sub(&sl_pcpu_budgets[cpu].used, bytes, __ATOMIC_RELAXED);
}

/* Class v of cpu's cache (headers h) gives up to `want` empty slots, keeping its
 * minimum capacity; returns the bytes of budget that freed (0 when none, or when the thread
 * no longer runs on cpu). */
static uint64_t sl_pcpu_shrink(sl_pcpu_hdr *h, uint32_t cpu, uint32_t v, uint32_t want)
{
	uint32_t end = __atomic_load_n(&h[v].end, __ATOMIC_RELAXED);
	uint32_t cur = __atomic_load_n(&h[v].cur, __ATOMIC_RELAXED);
	uint32_t spare = end - h[v].begin - sl_pcpu_min[v];
	if (cur > end || spare == 0) /* (racy reads: the critical section checks again) */
		return 0;
	uint32_t k = end - cur < spare ? end - cur : spare;
	k = k < want ? k : want;
	if (k == 0 || !sl_pcpu_set_end(SL_PCPU_OFF(v), cpu, end, end - k))
		return 0;
	uint64_t bytes = (uint64_t)k * sl_classes[v].size;
	sl_pcpu_unreserve(cpu, bytes);
	return bytes;
}

/* Class cls of cpu's cache (headers h), emptied, goes back to its start capacity. */
static void sl_pcpu_reset(sl_pcpu_hdr *h, uint32_t cpu, uint32_t cls)
{
	uint32_t end = __atomic_load_n(&h[cls].end, __ATOMIC_RELAXED), start = h[cls].begin + sl_pcpu_cap[cls];
	uint64_t bytes = (uint64_t)(end > start ? end - start : start - end) * sl_classes[cls].size;
	if (end > start) {
		if (sl_pcpu_set_end(SL_PCPU_OFF(cls), cpu, end, start))
			sl_pcpu_unreserve(cpu, bytes);
	} else if (end < start && sl_pcpu_reserve(cpu, bytes)) {
		if (!sl_pcpu_set_end(SL_PCPU_OFF(cls), cpu, end, start))
			sl_pcpu_unreserve(cpu, bytes);
	}
}

/* Class cls of cpu's cache (slab) grows by up to its move count, as described above;
 * returns whether it did. */
static bool sl_pcpu_grow(void **slab, uint32_t cpu, uint32_t cls)
{
	sl_pcpu_hdr *h = (sl_pcpu_hdr *)slab;
	uint32_t end = __atomic_load_n(&h[cls].end, __ATOMIC_RELAXED), cap = end - h[cls].begin;
	if (cap >= sl_pcpu_max[cls])
		return false;
	uint32_t k = sl_pcpu_max[cls] - cap < sl_pcpu_move[cls] ? sl_pcpu_max[cls] - cap : sl_pcpu_move[cls];
	uint64_t bytes = (uint64_t)k * sl_classes[cls].size;
	if (!sl_pcpu_reserve(cpu, bytes)) {
		sl_pcpu_budget *b = &sl_pcpu_budgets[cpu];
		uint32_t v = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
		uint64_t got = 0;
		for (int i = 0; i < SL_PCPU_STEAL_SCAN && got < bytes; i++) {
			v = v + 1 >= SL_NUM_CLASSES ? 1 : v + 1;
			if (v == cls)
				continue;
			uint64_t want = (bytes - got + sl_classes[v].size - 1) / sl_classes[v].size;
			got += sl_pcpu_shrink(h, cpu, v, want > UINT32_MAX ? UINT32_MAX : (uint32_t)want);
		}
		__atomic_store_n(&b->next, v, __ATOMIC_RELAXED);
		if (got)
			__atomic_fetch_add(&sl_pcpu_steals, 1, __ATOMIC_RELAXED);
		if (!sl_pcpu_reserve(cpu, bytes))
			return false;
	}
	if (!sl_pcpu_set_end(SL_PCPU_OFF(cls), cpu, end, end + k)) {
		sl_pcpu_unreserve(cpu, bytes);
		return false;
	}
	__atomic_fetch_add(&sl_pcpu_grows, 1, __ATOMIC_RELAXED);
	return true;
}

/* What a refill or flush of class cls moves, the class's capacity being cap: its move
 * count, or (a class grown beyond its start) an eighth of its capacity, at most
 * SL_PCPU_BUF, so that a large class goes to the shared layers less often. */
static uint32_t sl_pcpu_move_of(uint32_t cls, uint32_t cap)
{
	if (cap <= sl_pcpu_cap[cls] || cap / 8 <= sl_pcpu_move[cls])
		return sl_pcpu_move[cls];
	return cap / 8 < SL_PCPU_BUF ? cap / 8 : SL_PCPU_BUF;
}

/* The capacity of class cls in this CPU's slab (racy read; the start capacity without
 * a slab). */
static uint32_t sl_pcpu_cap_now(void **slab, uint32_t cls)
{
	if (!slab)
		return sl_pcpu_cap[cls];
	sl_pcpu_hdr *h = (sl_pcpu_hdr *)slab;
	return __atomic_load_n(&h[cls].end, __ATOMIC_RELAXED) - h[cls].begin;
}

/* Up to `want` (<= SL_PCPU_BUF) free objects of class cls of heap h into buf: from the
 * transfer cache, then full batches from mcentral's stack while a whole one fits (the
 * first one whole even beyond `want`), else, with nothing yet, from the spans. Returns
 * how many (0: out of memory). */
/* The locked mcentral's take returns at most `want` objects; the lock-free engine's
 * may return a span's whole free chain, which buf could not hold. */
_Static_assert(!SL_CENTRAL_LOCKFREE, "percpu keeps the central lock (core/internal.h)");

static uint32_t sl_pcpu_gather(sl_mheap *h, uint32_t cls, void **buf, uint32_t want)
{
	uint32_t n = sl_transfer_remove(h, cls, buf, want);
	sl_mcentral *ct = &h->central[cls];
	while (n < want) {
		void *head;
		sl_batch *b = n == 0 || want - n >= ct->batch ? sl_mcentral_pop_batch(ct) : NULL;
		if (b) {
			head = b->head;
			b->head = NULL;
			sl_mcentral_spare_push(ct, b);
		} else if (n == 0) {
			if (!sl_mcentral_take(ct, want, &head))
				return 0;
		} else {
			break;
		}
		for (; head && n < SL_PCPU_BUF; n++) {
			buf[n] = head;
			head = sl_link_get(head);
		}
		if (!b)
			break;
	}
	return n;
}

/* buf[0..n), objects of class cls of heap h, leave the CPU caches: into the transfer
 * cache as far as it has room, the rest to mcentral (one full batch in O(1), anything
 * else to the spans). */
static void sl_pcpu_release_heap(sl_mheap *h, uint32_t cls, void **buf, uint32_t n)
{
	n -= sl_transfer_insert(h, cls, buf, n); /* it takes the last ones */
	if (!n)
		return;
	for (uint32_t i = 0; i < n; i++)
		sl_link_set(buf[i], i + 1 < n ? buf[i + 1] : NULL);
	sl_mcentral *ct = &h->central[cls];
	uint32_t i = 0;
	for (; n - i >= ct->batch; i += ct->batch) { /* whole batches onto mcentral's stack */
		sl_batch *b = sl_mcentral_spare_pop(ct);
		if (!b)
			b = sl_fixalloc_get(SL_FIX_BATCH);
		if (!b)
			break;
		sl_link_set(buf[i + ct->batch - 1], NULL);
		b->head = buf[i];
		b->count = ct->batch;
		if (!sl_mcentral_push_batch(ct, b)) {
			b->head = NULL;
			sl_mcentral_spare_push(ct, b);
			if (i + ct->batch < n) /* linked on again */
				sl_link_set(buf[i + ct->batch - 1], buf[i + ct->batch]);
			break;
		}
	}
	if (i < n)
		sl_mcentral_give_list(ct, buf[i]);
}

/* As sl_pcpu_release_heap, for objects that may belong to several heaps (a CPU's
 * cache mixes them when threads of several NUMA nodes share the CPU): those of heap h
 * go together, any other one alone to its own heap. */
static void sl_pcpu_release(sl_mheap *h, uint32_t cls, void **buf, uint32_t n)
{
	if (SL_NUMA_MAX_NODES > 1) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			sl_mheap *oh = sl_span_of(buf[i])->heap;
			if (oh == h) {
				buf[k++] = buf[i];
			} else {
				sl_link_set(buf[i], NULL);
				sl_mcentral_give_list(&oh->central[cls], buf[i]);
			}
		}
		n = k;
	}
	if (n)
		sl_pcpu_release_heap(h, cls, buf, n);
}

SL_NOINLINE void *sl_fe_percpu_alloc_slow(uint32_t cls)
{
	sl_ensure_init();
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	/* No cache (initialising, thread exit) or the fallback: `freelist`'s slow path,
	 * which also serves the uncached case. */
	if (!c || !sl_pcpu_rseq)
		return sl_fe_freelist_alloc_slow(cls);
	__atomic_fetch_add(&sl_pcpu_underflows[cls], 1, __ATOMIC_RELAXED);
	/* A thread that moved to another NUMA node sends its remote lists home and
	 * allocates from its new node's heap. */
	sl_mcache_follow_node(c);
	void *buf[SL_PCPU_BUF];
	int32_t cpu = sl_pcpu_cpu_hint();
	void **slab = sl_pcpu_slab(cpu);
	if (slab && sl_pcpu_dynamic)
		sl_pcpu_grow(slab, (uint32_t)cpu, cls); /* room for the frees to come */
	uint32_t n = sl_pcpu_gather(c->heap, cls, buf, slab ? sl_pcpu_move_of(cls, sl_pcpu_cap_now(slab, cls)) : 1);
	if (SL_UNLIKELY(n == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	void **p = buf[--n];
	uint32_t k = n ? sl_pcpu_push_batch(SL_PCPU_OFF(cls), buf, n) : 0;
	if (k < n) /* no slab, or the thread moved to a CPU whose class is fuller */
		sl_pcpu_release(c->heap, cls, buf + k, n - k);
	p[sl_pcpu_keyslot[cls]] = NULL;
	SL_COUNTER_ADD(c->fe.nmalloc[cls], 1);
	return p;
}

/* p (validated, key set, counted) did not fit in this CPU's class: the class grows
 * (dynamic capacities), or a batch of its objects leaves the CPU cache to make room,
 * then p goes in. Always takes p. */
SL_NOINLINE bool sl_fe_percpu_free_overflow(sl_mcache *c, sl_span *s, void *p)
{
	uint32_t cls = s->sizeclass;
	__atomic_fetch_add(&sl_pcpu_overflows[cls], 1, __ATOMIC_RELAXED);
	int32_t cpu = sl_pcpu_cpu_hint();
	void **slab = sl_pcpu_slab(cpu);
	if (slab && sl_pcpu_dynamic && sl_pcpu_grow(slab, (uint32_t)cpu, cls) && sl_pcpu_push(SL_PCPU_OFF(cls), p))
		return true;
	void *buf[SL_PCPU_BUF + 1];
	uint32_t n = 0;
	if (slab)
		n = sl_pcpu_pop_batch(SL_PCPU_OFF(cls), buf, sl_pcpu_move_of(cls, sl_pcpu_cap_now(slab, cls)));
	if (!sl_pcpu_push(SL_PCPU_OFF(cls), p))
		buf[n++] = p;
	sl_pcpu_release(c ? c->heap : s->heap, cls, buf, n);
	return true;
}

/* A free the fast path declined (core/malloc.c, sl_free_declined): an 8-byte object of
 * the thread's heap (its free state is a byte in its span, SL_OBJ8) goes into this
 * CPU's cache without the engine's slow path; the fallback does as `freelist`. */
bool sl_fe_percpu_free_declined(sl_mcache *c, sl_span *s, void *p)
{
	if (!sl_pcpu_rseq)
		return sl_fe_freelist_free_declined(c, s, p);
	if ((SL_NUMA_MAX_NODES > 1 && s->heap != c->heap) || !sl_obj8_try_free(s, p))
		return false;
	SL_COUNTER_ADD(c->fe.nfree[s->sizeclass], 1);
	if (!sl_pcpu_push(SL_PCPU_OFF(s->sizeclass), p))
		sl_fe_percpu_free_overflow(c, s, p);
	return true;
}

/* Free of p, the start of an object of SMALL span s (validated by the caller), when
 * the fast path declined or the thread has no cache yet. */
void sl_fe_percpu_free_small(sl_span *s, void *p)
{
	if (!atomic_load_explicit(&sl_pcpu_decided, memory_order_acquire) || !sl_pcpu_rseq) {
		sl_fe_freelist_free_small(s, p);
		return;
	}
	uint32_t cls = s->sizeclass;
	void **key = (void **)((char *)p + s->keyoff);
	if (s->keyoff ? *key == (void *)sl_free_key : !sl_obj8_free(s, p))
		sl_fatal("free(): double free of %p (size class %u, %u bytes)", p, cls, s->elemsize);
	/* A thread that only frees (a consumer) gets a cache here, so that its later frees
	 * take the fast path. */
	sl_mcache *c = sl_tls_cache;
	if (!c)
		c = sl_mcache_get_slow();
	*key = (void *)sl_free_key;
	if (c)
		SL_COUNTER_ADD(c->fe.nfree[cls], 1);
	else
		__atomic_fetch_add(&sl_uncached_frees[cls], 1, __ATOMIC_RELAXED);
	if (SL_NUMA_MAX_NODES > 1 && c && s->heap != c->heap) {
		/* Another NUMA node's object: home with the next batch. */
		sl_fl_free_remote(c, s, p);
		return;
	}
	if (!sl_pcpu_push(SL_PCPU_OFF(cls), p))
		sl_fe_percpu_free_overflow(c, s, p);
}

void sl_fe_percpu_cache_init(sl_mcache *c)
{
	sl_pcpu_setup();
	if (!sl_pcpu_rseq)
		sl_fe_freelist_cache_init(c);
}

/* Thread exit (or a move to another NUMA node): the fallback's lists and the NUMA
 * remote lists go back; what the thread freed into CPU caches stays there for the
 * CPU's next user. */
void sl_fe_percpu_cache_teardown(sl_mcache *c) { sl_fe_freelist_cache_teardown(c); }
void sl_fe_percpu_cache_lost(sl_mcache *c) { sl_fe_freelist_cache_lost(c); }

/* Every object of this CPU's cache leaves it, and (dynamic capacities) each class
 * goes back to its start capacity. */
static void sl_pcpu_drain_here(sl_mheap *h)
{
	void *buf[SL_PCPU_BUF];
	int32_t cpu = sl_pcpu_cpu_hint();
	void **slab = (uint32_t)cpu < SPANLAB_PERCPU_MAX_CPUS ? __atomic_load_n(&sl_pcpu_slabs[cpu], __ATOMIC_ACQUIRE)
							      : NULL;
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		uint32_t n;
		while ((n = sl_pcpu_pop_batch(SL_PCPU_OFF(cls), buf, SL_PCPU_BUF)))
			sl_pcpu_release(h, cls, buf, n);
		if (slab && sl_pcpu_dynamic)
			sl_pcpu_reset((sl_pcpu_hdr *)slab, (uint32_t)cpu, cls);
	}
}

/* malloc_trim: as teardown, plus every CPU cache and the transfer caches. Only code
 * running on a CPU may change its cache, so the thread visits each CPU that has one
 * (sched_setaffinity to that CPU alone) and drains it there, then gets its own
 * affinity back. A CPU the thread may not run on (a cpuset) keeps its cache. */
void sl_fe_percpu_flush(sl_mcache *c)
{
	sl_fl_drain(c);
	if (!sl_pcpu_rseq)
		return;
	cpu_set_t mine, one;
	if (sched_getaffinity(0, sizeof mine, &mine) == 0) {
		for (int cpu = 0; cpu < SPANLAB_PERCPU_MAX_CPUS && cpu < CPU_SETSIZE; cpu++) {
			if (!__atomic_load_n(&sl_pcpu_slabs[cpu], __ATOMIC_ACQUIRE))
				continue;
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			if (sched_setaffinity(0, sizeof one, &one) == 0)
				sl_pcpu_drain_here(c->heap);
		}
		sched_setaffinity(0, sizeof mine, &mine);
	}
	sl_pcpu_drain_here(c->heap);
	sl_transfer_drain_all();
}

/* Tests: true if every CPU slab's classes hold between their minimum capacity and
 * their region, with cur within [begin, end], and their capacities' bytes sum to the CPU's
 * budget figure (exact when no thread is in a grow or shrink) within the bound. */
bool sl_pcpu_capacity_ok(void)
{
	for (uint32_t cpu = 0; cpu < SPANLAB_PERCPU_MAX_CPUS; cpu++) {
		void **slab = __atomic_load_n(&sl_pcpu_slabs[cpu], __ATOMIC_ACQUIRE);
		if (!slab)
			continue;
		sl_pcpu_hdr *h = (sl_pcpu_hdr *)slab;
		uint64_t bytes = 0;
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
			uint32_t cur = __atomic_load_n(&h[cls].cur, __ATOMIC_RELAXED);
			uint32_t end = __atomic_load_n(&h[cls].end, __ATOMIC_RELAXED);
			if (end - h[cls].begin < sl_pcpu_min[cls] || end - h[cls].begin > sl_pcpu_max[cls] ||
			    cur < h[cls].begin || cur > end)
				return false;
			bytes += (uint64_t)(end - h[cls].begin) * sl_classes[cls].size;
		}
		uint64_t used = __atomic_load_n(&sl_pcpu_budgets[cpu].used, __ATOMIC_RELAXED);
		if (bytes != used || used > sl_pcpu_bound)
			return false;
	}
	return true;
}

void sl_fe_percpu_stats(spanlab_stats *out)
{
	if (!atomic_load_explicit(&sl_pcpu_decided, memory_order_acquire))
		return;
	out->percpu_active = sl_pcpu_rseq;
	for (uint32_t cpu = 0; cpu < SPANLAB_PERCPU_MAX_CPUS; cpu++) {
		void **slab = __atomic_load_n(&sl_pcpu_slabs[cpu], __ATOMIC_ACQUIRE);
		if (!slab)
			continue;
		sl_pcpu_hdr *h = (sl_pcpu_hdr *)slab;
		uint64_t bytes = 0;
		for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++)
			bytes += (uint64_t)(__atomic_load_n(&h[cls].cur, __ATOMIC_RELAXED) - h[cls].begin) *
				 sl_classes[cls].size;
		out->percpu_cpus++;
		out->percpu_cached += bytes;
		if (cpu < SPANLAB_MAX_CPUS) {
			out->cpu_cached[cpu] = bytes;
			out->ncpus = cpu + 1;
		}
	}
	out->transfer_cached = sl_transfer_bytes();
	for (uint32_t cls = 1; cls < SL_NUM_CLASSES; cls++) {
		out->classes[cls].underflows = __atomic_load_n(&sl_pcpu_underflows[cls], __ATOMIC_RELAXED);
		out->classes[cls].overflows = __atomic_load_n(&sl_pcpu_overflows[cls], __ATOMIC_RELAXED);
		out->percpu_underflows += out->classes[cls].underflows;
		out->percpu_overflows += out->classes[cls].overflows;
	}
	out->percpu_slab_nomem = __atomic_load_n(&sl_pcpu_slab_nomem, __ATOMIC_RELAXED);
}
