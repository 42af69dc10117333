/*
 * tests/frontend/unit_frontend.c — unit tests of the bitmap front ends, linked with a
 * `bitmap` or `tiny` variant's static library and compiled with its policy definitions
 * (it sees core/internal.h).
 *
 *   scan     every slot of a span is handed out exactly once per span generation: a
 *            fresh thread allocates a whole span's worth of one class and the pointers
 *            are exactly the span's slots; after freeing them all and allocating again,
 *            the same set comes back, each once.
 *   owned    a span that fills stays owned by its thread (s->fe_owner): the owner's
 *            frees into it are not remote frees, and the cache allocates from it again
 *            when its current span fills; another thread's frees into it are merged
 *            then; beyond its limits of kept spans (the thread's SL_BM_OWN_THREAD_BYTES,
 *            or the class's sl_bm_own_limit if more) the cache gives spans back to
 *            mcentral, and every object is still freed exactly once.
 *   remote   several threads free objects of one span owned by the main thread while
 *            it keeps allocating from it: every object is handed out at most once at a
 *            time, and remote_merged / mallocs / frees reconcile.
 *   relist   a span that went back to mcentral full is not reused by other caches
 *            until sl_sb_list_min of its slots are free (SPANLAB_BITMAP_RELIST): a
 *            thread that fills four spans of a class no test used before exits, the
 *            main thread frees one object short of that many from the first span,
 *            and a new thread's object comes from elsewhere; after one more free a
 *            new thread's next allocations hand every freed slot out again.
 *   tiny     (tiny variants) a 16-byte block is not reused while one of its tiny
 *            objects is live, and is reused once all are freed; the bytes of the
 *            object placed last in the current block are reused once it is freed;
 *            ordinary 16-byte objects are in spans without tiny blocks.
 *   tinystress  (tiny variants; argument `tinystress`, also run by default) 8 threads
 *            (more than the machine's cores) swap tiny objects and 16-byte objects
 *            through a shared array of slots and free what they take out, most of it
 *            another thread's: every object's bytes must still hold the tag it was
 *            filled with (a block or slot handed out again while an object in it
 *            lives shows as a changed tag), and a free must not abort. The control
 *            (argument `control`, built with SPANLAB_TINY_UNPROTECTED: the free fast
 *            path takes frees into spans of tiny blocks) must fail it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/internal.h"
#include "../check.h"

#ifndef SPANLAB_TINY_WHOLE8
#define SPANLAB_TINY_WHOLE8 0 /* `bitmap`: no tiny allocator */
#endif

/* The i-th of a cycle of request sizes the tiny allocator serves: 1 to 15 bytes, 7 in
 * place of 8 when 8-byte requests take the 8-byte class (SPANLAB_TINY_WHOLE8). */
static size_t tiny_size(int i)
{
	size_t n = 1 + (size_t)i % 15;
	return SPANLAB_TINY_WHOLE8 && n == 8 ? 7 : n;
}

/* Runs fn in a new thread (a cache of its own) and waits for it. */
static void run_thread(void *(*fn)(void *))
{
	pthread_t t;
	pthread_create(&t, NULL, fn, NULL);
	pthread_join(t, NULL);
}

/* ---- scan ---- */

static void *scan_thread(void *arg)
{
	(void)arg;
	const size_t size = 256;
	static void *ptrs[8192];
	static uint8_t seen[8192];
	for (int gen = 0; gen < 3; gen++) {
		/* Allocate until the cache moves to another span: the span's whole generation. */
		void *p = spanlab_malloc(size), *next;
		sl_span *s = sl_span_of(p);
		uint32_t n = s->nelems, got = 0;
		ptrs[got++] = p;
		while ((next = spanlab_malloc(size)) && sl_span_of(next) == s && got < 8192)
			ptrs[got++] = next;
		EXPECT(got == n, "gen %d: %u of the span's %u slots before it moved on", gen, got, n);
		memset(seen, 0, sizeof seen);
		for (uint32_t i = 0; i < got; i++) {
			bool exact;
			uint32_t idx = sl_span_index(s, ptrs[i], &exact);
			EXPECT(exact && idx < n, "gen %d: %p is not a slot", gen, ptrs[i]);
			if (exact && idx < n) {
				EXPECT(!seen[idx], "gen %d: slot %u handed out twice", gen, idx);
				seen[idx] = 1;
			}
		}
		/* Free in a scrambled order (the full span stays owned: owner frees), then the
		 * next generation starts from `next`'s span, which this cache owns. */
		for (uint32_t i = 0; i < got; i++)
			spanlab_free(ptrs[(i * 7919u) % got]);
		spanlab_free(next);
	}
	return NULL;
}

/* ---- owned ---- */

#define OW_MAX 8192
/* Objects of 256 bytes filling 2 MiB more than the thread's budget of owned spans. */
#define OW_LIVE ((SL_BM_OWN_THREAD_BYTES + ((size_t)2 << 20)) / 256)
static void *ow_objs[OW_MAX];
static uint32_t ow_n;

static bool ow_owned(const void *p)
{
	return __atomic_load_n(&sl_span_of(p)->fe_owner, __ATOMIC_RELAXED) != NULL;
}

/* Allocates until an object lands outside span s (returned), storing the objects of s
 * in ow_objs[from..]; ow_n is set to the count. */
static void *ow_fill(size_t size, sl_span *s, uint32_t from)
{
	void *p;
	ow_n = from;
	while ((p = spanlab_malloc(size)) && sl_span_of(p) == s && ow_n < OW_MAX)
		ow_objs[ow_n++] = p;
	return p;
}

static void *ow_free_all(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < ow_n; i++)
		spanlab_free(ow_objs[i]);
	return NULL;
}

static void *owned_thread(void *arg)
{
	(void)arg;
	const size_t size = 256;
	uint32_t cls = sl_sc_size_to_class(size);
	spanlab_stats st0, st1;
	spanlab_stats_get(&st0);
	/* Span A fills; the cache moves to span B and keeps A. */
	void *a0 = spanlab_malloc(size);
	sl_span *A = sl_span_of(a0);
	ow_objs[0] = a0;
	void *b0 = ow_fill(size, A, 1);
	sl_span *B = sl_span_of(b0);
	EXPECT(ow_n == A->nelems && B != A, "span A gave %u of %u slots", ow_n, A->nelems);
	EXPECT(ow_owned(a0) && ow_owned(b0), "a full span is no longer owned by its thread");
	/* The owner's frees into A are plain bit sets, not remote frees. */
	ow_free_all(NULL);
	spanlab_stats_get(&st1);
	EXPECT(st1.remote_merged == st0.remote_merged, "owner frees into its full span went remote (%llu)",
	       (unsigned long long)(st1.remote_merged - st0.remote_merged));
	/* When B fills, the cache allocates from A again. */
	ow_objs[0] = b0;
	void *p = ow_fill(size, B, 1);
	EXPECT(sl_span_of(p) == A, "B full: the next object %p is not in the owned, free span A", p);
	/* Another thread frees all of B (remote frees into an owned span); when A fills
	 * again the owner merges them and comes back to B. */
	run_thread(ow_free_all);
	uint32_t nb = ow_n;
	ow_objs[0] = p;
	void *q = ow_fill(size, A, 1);
	spanlab_stats_get(&st1);
	EXPECT(sl_span_of(q) == B, "A full: the next object %p is not in span B, freed remotely", q);
	EXPECT(st1.remote_merged - st0.remote_merged == nb, "remote_merged %llu, remote frees %u",
	       (unsigned long long)(st1.remote_merged - st0.remote_merged), nb);
	ow_free_all(NULL);
	spanlab_free(q);
	/* More spans of live objects than the thread's budget of owned spans holds: the
	 * budget's worth stay owned (or the class's limit if that is more), plus the
	 * current span and the one a switch may add before it gives one back. */
	uint32_t n = 0, owned = 0;
	static void *live[OW_LIVE];
	while (n < OW_LIVE) {
		live[n] = spanlab_malloc(size);
		memset(live[n++], 0x5a, size);
	}
	/* Each span is filled once, its objects consecutive. */
	for (uint32_t i = 0; i < n; i++)
		if (i == 0 || sl_span_of(live[i]) != sl_span_of(live[i - 1]))
			owned += ow_owned(live[i]);
	uint32_t span_bytes = sl_sc_class_to_pages(cls) << SL_PAGE_SHIFT;
	uint32_t budget = (uint32_t)(SL_BM_OWN_THREAD_BYTES / span_bytes), limit = sl_bm_own_limit(cls);
	uint32_t most = (budget + 1 > limit ? budget + 1 : limit) + 1;
	EXPECT(owned <= most && owned >= budget && owned >= 1, "%u spans owned (between %u and %u)", owned,
	       budget, most);
	for (uint32_t i = 0; i < n; i++) {
		EXPECT(((unsigned char *)live[i])[size - 1] == 0x5a, "object %u overwritten", i);
		spanlab_free(live[(i * 7919u) % n]);
	}
	spanlab_stats_get(&st1);
	uint64_t m = st1.classes[cls].mallocs - st0.classes[cls].mallocs;
	uint64_t f = st1.classes[cls].frees - st0.classes[cls].frees;
	EXPECT(m == f, "class %u: %llu mallocs, %llu frees", cls, (unsigned long long)m,
	       (unsigned long long)f);
	return NULL;
}

/* ---- remote ---- */

#define RT_THREADS 4
#define RT_ROUNDS 200
#define RT_BATCH 64
typedef struct {
	void *objs[RT_BATCH];
	atomic_int ready; /* 1: objs filled by main, to be freed by the worker */
} rt_slot;
static rt_slot rt_slots[RT_THREADS];
static atomic_int rt_stop;

static void *rt_worker(void *arg)
{
	rt_slot *sl = arg;
	for (;;) {
		while (!atomic_load(&sl->ready)) {
			if (atomic_load(&rt_stop))
				return NULL;
			sched_yield();
		}
		for (int i = 0; i < RT_BATCH; i++) {
			uint64_t *o = sl->objs[i];
			EXPECT(o[0] == (uint64_t)(uintptr_t)o, "object %p changed while live", (void *)o);
			spanlab_free(o);
		}
		atomic_store(&sl->ready, 0);
	}
}

static void test_remote(void)
{
	spanlab_stats st0, st1;
	size_t size = 48;
	spanlab_stats_get(&st0);
	pthread_t t[RT_THREADS];
	for (int i = 0; i < RT_THREADS; i++)
		pthread_create(&t[i], NULL, rt_worker, &rt_slots[i]);
	uint64_t handed = 0;
	for (int r = 0; r < RT_ROUNDS; r++) {
		for (int i = 0; i < RT_THREADS; i++) {
			rt_slot *sl = &rt_slots[i];
			while (atomic_load(&sl->ready))
				sched_yield();
			for (int k = 0; k < RT_BATCH; k++) {
				uint64_t *o = spanlab_malloc(size);
				/* A live object handed out again would have its stamp overwritten. */
				o[0] = (uint64_t)(uintptr_t)o;
				sl->objs[k] = o;
				handed++;
			}
			atomic_store(&sl->ready, 1);
		}
	}
	for (int i = 0; i < RT_THREADS; i++)
		while (atomic_load(&rt_slots[i].ready))
			sched_yield();
	atomic_store(&rt_stop, 1);
	for (int i = 0; i < RT_THREADS; i++)
		pthread_join(t[i], NULL);
	spanlab_trim(0);
	spanlab_stats_get(&st1);
	uint32_t cls = sl_sc_size_to_class(size);
	uint64_t m = st1.classes[cls].mallocs - st0.classes[cls].mallocs;
	uint64_t f = st1.classes[cls].frees - st0.classes[cls].frees;
	EXPECT(m == handed && f == handed, "class %u: %llu mallocs, %llu frees, %llu handed out", cls,
	       (unsigned long long)m, (unsigned long long)f, (unsigned long long)handed);
	/* Every remote free is merged by the owner or under mcentral's lock, or its span
	 * was released whole (its last free merges the pending list too). */
	EXPECT(st1.remote_merged - st0.remote_merged == handed, "remote_merged %llu, remote frees %llu",
	       (unsigned long long)(st1.remote_merged - st0.remote_merged), (unsigned long long)handed);
	EXPECT(st1.classes[cls].spans == st0.classes[cls].spans || st1.classes[cls].spans == 0,
	       "class %u: %llu spans left", cls, (unsigned long long)st1.classes[cls].spans);
}

/* ---- relist ---- */

#define RL_SIZE 128 /* a class no other case here allocates */
#define RL_SPANS 4
#define RL_MAX 1024 /* objects per span at most */
static void *rl_objs[RL_SPANS * RL_MAX];	/* rl_fill's objects */
static void *rl_took[RL_MAX + RL_MAX];		/* rl_take's objects */
static uint32_t rl_nelems, rl_ntake;

/* Fills RL_SPANS spans of the class: all full when the thread exits and its cache
 * gives them back. */
static void *rl_fill(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < RL_SPANS * rl_nelems; i++)
		rl_objs[i] = spanlab_malloc(RL_SIZE);
	return NULL;
}

/* Allocates rl_ntake objects into rl_took and keeps them. */
static void *rl_take(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < rl_ntake; i++)
		rl_took[i] = spanlab_malloc(RL_SIZE);
	return NULL;
}

static bool rl_taken(const void *p)
{
	for (uint32_t i = 0; i < rl_ntake; i++)
		if (rl_took[i] == p)
			return true;
	return false;
}

static void test_relist(void)
{
	uint32_t cls = sl_sc_size_to_class(RL_SIZE);
	spanlab_stats st;
	spanlab_stats_get(&st);
	rl_nelems = sl_local_heap()->central[cls].nelems;
	bool fresh = st.classes[cls].spans == 0 && rl_nelems <= RL_MAX;
	EXPECT(fresh, "class %u: %llu spans before the case", cls, (unsigned long long)st.classes[cls].spans);
	if (!fresh)
		return;
	run_thread(rl_fill);
	sl_span *X = sl_span_of(rl_objs[0]);
	uint32_t min = sl_sb_list_min(X), nfreed = 0;
	/* X's objects are rl_objs[0 .. rl_nelems) (a fresh class: spans filled in turn). */
	while (nfreed + 1 < min)
		spanlab_free(rl_objs[nfreed++]);
	/* One free short: X is on no list, a new thread's object comes from a new span. */
	rl_ntake = 1;
	run_thread(rl_take);
	EXPECT(sl_span_of(rl_took[0]) != X, "span %p was reused with %u of %u slots free (listed at %u)",
	       (void *)X->base, nfreed, rl_nelems, min);
	/* That thread's span went back with all but one slot free, listed; one more free
	 * lists X: a new thread's allocations of both spans' free slots take every freed
	 * slot of X again. */
	void *kept = rl_took[0];
	spanlab_free(rl_objs[nfreed++]);
	rl_ntake = rl_nelems - 1 + nfreed;
	run_thread(rl_take);
	for (uint32_t i = 0; i < nfreed; i++)
		EXPECT(rl_taken(rl_objs[i]), "object %p of span %p (listed with %u free slots) was not reused",
		       rl_objs[i], (void *)X->base, nfreed);
	for (uint32_t i = 0; i < rl_ntake; i++)
		spanlab_free(rl_took[i]);
	spanlab_free(kept);
	for (uint32_t i = nfreed; i < RL_SPANS * rl_nelems; i++)
		spanlab_free(rl_objs[i]);
}

/* ---- tiny ---- */

static void test_tiny(void)
{
	if (!SL_FE_TINY_MAX)
		return;
	/* A tiny object freed right after it was made (the last placed in the thread's
	 * current block): its bytes are handed out again. */
	char *t1 = spanlab_malloc(6);
	spanlab_free(t1);
	char *t2 = spanlab_malloc(6);
	EXPECT(t2 == t1, "a temporary tiny object's bytes were not reused (%p, then %p)", (void *)t1,
	       (void *)t2);
	spanlab_free(t2);
	/* A 12-byte and a 4-byte object share a block; one stays live. */
	char *a = spanlab_malloc(12), *b = spanlab_malloc(4);
	EXPECT((uintptr_t)b == (uintptr_t)a + 12, "tiny objects of 12 and 4 bytes %p %p not in one block", a, b);
	EXPECT(spanlab_malloc_usable_size(a) == 12, "usable(a) = %zu", spanlab_malloc_usable_size(a));
	char *c = spanlab_malloc(5); /* a new block */
	uintptr_t block = (uintptr_t)a & ~(uintptr_t)15;
	EXPECT(((uintptr_t)c & ~(uintptr_t)15) != block, "5 bytes fit in a full block?");
	memset(b, 0x42, 4);
	spanlab_free(a);
	/* Ordinary 16-byte objects come from spans without tiny blocks (their frees take
	 * the core's fast path); with SPANLAB_TINY_WHOLE8 an 8-byte request is no tiny
	 * object. */
	char *o16 = spanlab_malloc(16);
	EXPECT(sl_span_of(o16) != sl_span_of(c) && !sl_span_of(o16)->tinywords,
	       "a 16-byte object %p in a span of tiny blocks", (void *)o16);
	spanlab_stats st;
	spanlab_stats_get(&st);
	uint64_t before8 = st.tiny_allocs;
	char *o8 = spanlab_malloc(8);
	spanlab_stats_get(&st);
	EXPECT(st.tiny_allocs == before8 + !SPANLAB_TINY_WHOLE8, "malloc(8): tiny_allocs %llu -> %llu",
	       (unsigned long long)before8, (unsigned long long)st.tiny_allocs);
	spanlab_free(o8);
	spanlab_free(o16);
	/* Many more tiny allocations: none may land in a's block while b lives. */
	static void *keep[20000];
	for (int i = 0; i < 20000; i++) {
		keep[i] = spanlab_malloc(tiny_size(i));
		EXPECT(((uintptr_t)keep[i] & ~(uintptr_t)15) != block, "block %p reused while %p lives",
		       (void *)block, b);
		uintptr_t o = (uintptr_t)keep[i];
		size_t n = tiny_size(i), al = (n & 7) == 0 ? 8 : (n & 3) == 0 ? 4 : (n & 1) == 0 ? 2 : 1;
		EXPECT(o % al == 0, "malloc(%zu) = %p not %zu-aligned", n, keep[i], al);
		memset(keep[i], i & 0xff, n);
	}
	for (int i = 0; i < 4; i++)
		EXPECT((unsigned char)b[i] == 0x42, "b's byte %d overwritten", i);
	for (int i = 0; i < 20000; i++)
		EXPECT(*(unsigned char *)keep[i] == (i & 0xff), "tiny object %d overwritten", i);
	spanlab_stats_get(&st);
	EXPECT(st.tiny_objects >= 20001, "tiny_objects %llu", (unsigned long long)st.tiny_objects);
	EXPECT(st.tiny_saved > 0, "tiny_saved 0");
	spanlab_free(b);
	spanlab_free(c);
	for (int i = 0; i < 20000; i++)
		spanlab_free(keep[i]);
	/* Now the block is free: a's span slot (as a 16-byte object) comes back eventually. */
	spanlab_trim(0);
	spanlab_stats_get(&st);
	EXPECT(st.tiny_objects == 0, "tiny_objects %llu after freeing all", (unsigned long long)st.tiny_objects);
	EXPECT(st.tiny_blocks == 0, "tiny_blocks %llu after trim", (unsigned long long)st.tiny_blocks);
}

/* Tiny objects freed by another thread, which then exits: the counts of the freeing
 * thread's cache survive it, so the totals come back to zero. */
enum { TX_N = 5000 };
static void *tx_objs[TX_N];

static void *tx_free_all(void *arg)
{
	(void)arg;
	spanlab_free(spanlab_malloc(100)); /* this thread gets a cache first */
	for (int i = 0; i < TX_N; i++)
		spanlab_free(tx_objs[i]);
	return NULL;
}

static void test_tiny_cross_thread(void)
{
	if (!SL_FE_TINY_MAX)
		return;
	spanlab_trim(0);
	spanlab_stats st0, st;
	spanlab_stats_get(&st0);
	for (int i = 0; i < TX_N; i++) {
		tx_objs[i] = spanlab_malloc(tiny_size(i));
		memset(tx_objs[i], 0x5a, tiny_size(i));
	}
	spanlab_stats_get(&st);
	EXPECT(st.tiny_objects == st0.tiny_objects + TX_N, "tiny_objects %llu, expected %llu",
	       (unsigned long long)st.tiny_objects, (unsigned long long)(st0.tiny_objects + TX_N));
	EXPECT(st.tiny_blocks > st0.tiny_blocks, "no tiny blocks taken");
	run_thread(tx_free_all);
	spanlab_trim(0);
	spanlab_stats_get(&st);
	EXPECT(st.tiny_objects == st0.tiny_objects, "tiny_objects %llu after another thread freed all, expected %llu",
	       (unsigned long long)st.tiny_objects, (unsigned long long)st0.tiny_objects);
	EXPECT(st.tiny_blocks == 0, "tiny_blocks %llu after the frees and a trim", (unsigned long long)st.tiny_blocks);
}

/* A thread frees tiny objects and is still running when the process forks: the child
 * drops its cache (only the forking thread exists there) but keeps its counts. */
static pthread_mutex_t tf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tf_cond = PTHREAD_COND_INITIALIZER;
static int tf_freed, tf_quit;

static void *tf_free_and_wait(void *arg)
{
	tx_free_all(arg);
	pthread_mutex_lock(&tf_lock);
	tf_freed = 1;
	pthread_cond_broadcast(&tf_cond);
	while (!tf_quit)
		pthread_cond_wait(&tf_cond, &tf_lock);
	pthread_mutex_unlock(&tf_lock);
	return NULL;
}

static void test_tiny_fork(void)
{
	if (!SL_FE_TINY_MAX)
		return;
	for (int i = 0; i < TX_N; i++)
		tx_objs[i] = spanlab_malloc(tiny_size(i));
	pthread_t t;
	pthread_create(&t, NULL, tf_free_and_wait, NULL);
	pthread_mutex_lock(&tf_lock);
	while (!tf_freed)
		pthread_cond_wait(&tf_cond, &tf_lock);
	pthread_mutex_unlock(&tf_lock);
	spanlab_stats parent;
	spanlab_stats_get(&parent);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		spanlab_stats child;
		spanlab_stats_get(&child);
		int bad = child.tiny_objects != parent.tiny_objects || child.tiny_blocks != parent.tiny_blocks ||
			  child.tiny_allocs != parent.tiny_allocs;
		if (bad)
			fprintf(stderr, "fork child: tiny_objects %llu blocks %llu allocs %llu, parent %llu %llu %llu\n",
				(unsigned long long)child.tiny_objects, (unsigned long long)child.tiny_blocks,
				(unsigned long long)child.tiny_allocs, (unsigned long long)parent.tiny_objects,
				(unsigned long long)parent.tiny_blocks, (unsigned long long)parent.tiny_allocs);
		_exit(bad);
	}
	EXPECT(pid > 0, "fork failed");
	int st = 0;
	EXPECT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "tiny statistics of the fork child differ from the parent's (status %d)", st);
	pthread_mutex_lock(&tf_lock);
	tf_quit = 1;
	pthread_cond_broadcast(&tf_cond);
	pthread_mutex_unlock(&tf_lock);
	pthread_join(t, NULL);
}

/* ---- tinystress ---- */

enum { TS_THREADS = 8, TS_SLOTS = 4096, TS_ITERS = 200000 };
static _Atomic uint64_t ts_slots[TS_SLOTS]; /* size << 56 | tag << 48 | address, or 0 */
static _Atomic int ts_bad;

/* Checks and frees the object of slot value v. */
static void ts_drop(uint64_t v)
{
	if (!v)
		return;
	unsigned char *p = (unsigned char *)(uintptr_t)(v & 0xFFFFFFFFFFFFull);
	size_t n = (size_t)(v >> 56);
	unsigned char tag = (unsigned char)(v >> 48);
	for (size_t i = 0; i < n; i++)
		if (p[i] != tag) {
			if (atomic_fetch_add(&ts_bad, 1) < 5)
				fprintf(stderr, "tinystress: object %p (%zu bytes) byte %zu is %#x, tag %#x\n", (void *)p, n,
					i, p[i], tag);
			break;
		}
	spanlab_free(p);
}

static void *ts_thread(void *arg)
{
	uint64_t r = 0x9E3779B97F4A7C15ull * (uint64_t)(uintptr_t)arg + 1;
	for (int i = 0; i < TS_ITERS; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		size_t n = 1 + (size_t)(r >> 40) % 16; /* 1..16: tiny objects and 16-byte ones */
		unsigned char tag = (unsigned char)(r >> 24);
		unsigned char *p = spanlab_malloc(n);
		if (!p) {
			atomic_fetch_add(&ts_bad, 1);
			return NULL;
		}
		memset(p, tag, n);
		uint64_t v = (uint64_t)n << 56 | (uint64_t)tag << 48 | (uintptr_t)p;
		ts_drop(atomic_exchange(&ts_slots[(r >> 8) % TS_SLOTS], v));
	}
	return NULL;
}

/* The stress run; returns the number of corrupted objects found. */
static int tiny_stress(void)
{
	pthread_t t[TS_THREADS];
	for (int i = 0; i < TS_THREADS; i++)
		pthread_create(&t[i], NULL, ts_thread, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < TS_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < TS_SLOTS; i++)
		ts_drop(atomic_exchange(&ts_slots[i], 0));
	return atomic_load(&ts_bad);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "control")) {
		/* The stress run in a child: it must find corruption or abort. */
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0)
			_exit(tiny_stress() ? 1 : 0);
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return 2;
		bool caught = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		printf("unit_frontend control: the unprotected build %s\n", caught ? "failed the stress test, as it must" : "passed the stress test");
		return caught ? 0 : 1;
	}
	if (argc > 1 && !strcmp(argv[1], "tinystress")) {
		int bad = SL_FE_TINY_MAX ? tiny_stress() : 0;
		printf("unit_frontend tinystress (%s): %s\n", spanlab_variant(), bad ? "FAILED" : "ok");
		return bad != 0;
	}
	run_thread(scan_thread);
	run_thread(owned_thread);
	test_remote();
	test_relist();
	test_tiny();
	test_tiny_cross_thread();
	test_tiny_fork();
	if (SL_FE_TINY_MAX)
		EXPECT(tiny_stress() == 0, "tinystress: corrupted objects");
	if (check_report("unit_frontend"))
		return 1;
	printf("unit_frontend (%s): ok\n", spanlab_variant());
	return 0;
}
