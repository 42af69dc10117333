/*
 * stress: threads allocate objects of random sizes (mostly small, some large), fill
 * each with a pattern derived from (allocating thread, sequence number, size) and pass
 * most of them to the next thread in a ring, which checks the pattern (sometimes after
 * a realloc) and frees them: nearly every object is freed by another thread than the
 * one that allocated it. The rest are freed locally. At the end every object is freed
 * and the engine's statistics must reconcile with what the threads counted.
 *
 *   stress --threads N     N threads in a ring (default 4)
 *   stress --prodcons      pairs of threads: one only allocates, the other only frees
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "api.h"

#define TOTAL_OPS 240000 /* allocations over all threads */
#define INBOX_CAP 256
#define LOCAL_KEEP 32
#define MAX_THREADS 64

typedef struct obj {
	unsigned char *p;
	size_t size;
	uint32_t tid;
	uint64_t seq;
} obj;

typedef struct inbox {
	pthread_mutex_t m;
	obj e[INBOX_CAP];
	unsigned head, count;
} inbox;

typedef struct worker {
	pthread_t th;
	uint32_t id;
	int role; /* 0 ring, 1 producer only, 2 consumer only */
	uint64_t rng;
	uint64_t iters;
	uint32_t target;
	/* counts */
	uint64_t allocs, frees, cross_frees, moved_reallocs, checked_bytes;
} worker;

static test_api api;
static int nthreads;
static worker workers[MAX_THREADS];
static inbox boxes[MAX_THREADS];
static atomic_int done_producing;

static uint64_t pattern_key(uint32_t tid, uint64_t seq, size_t size)
{
	return ((uint64_t)tid << 48) ^ (seq * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)size << 20) ^ 0x5bd1e995u;
}

static void fill(unsigned char *p, size_t n, uint64_t key)
{
	size_t w = n / 8;
	for (size_t i = 0; i < w; i++) {
		uint64_t v = key ^ (i * 0xff51afd7ed558ccdull);
		memcpy(p + i * 8, &v, 8);
	}
	for (size_t i = w * 8; i < n; i++)
		p[i] = (unsigned char)(key >> (i % 8 * 8)) ^ (unsigned char)i;
}

/* Byte j of an object of `full` bytes filled by fill(). */
static unsigned char expected_byte(size_t j, size_t full, uint64_t key)
{
	if (j < full / 8 * 8) {
		uint64_t v = key ^ ((j / 8) * 0xff51afd7ed558ccdull);
		unsigned char b[8];
		memcpy(b, &v, 8);
		return b[j % 8];
	}
	return (unsigned char)(key >> (j % 8 * 8)) ^ (unsigned char)j;
}

/* Checks the first n bytes of an object filled with fill(p, o->size, key). */
static void verify(const unsigned char *p, size_t n, uint64_t key, const obj *o, const char *when)
{
	size_t w = (n < o->size ? n : o->size) / 8;
	for (size_t i = 0; i < w; i++) {
		uint64_t v = key ^ (i * 0xff51afd7ed558ccdull), got;
		memcpy(&got, p + i * 8, 8);
		CHECK_MSG(got == v, "%s: object %p (%zu bytes, thread %u, seq %" PRIu64 ") word %zu is 0x%" PRIx64
			  ", expected 0x%" PRIx64, when, (const void *)p, o->size, o->tid, o->seq, i, got, v);
	}
	for (size_t j = w * 8; j < n; j++)
		CHECK_MSG(p[j] == expected_byte(j, o->size, key),
			  "%s: object %p (%zu bytes, thread %u, seq %" PRIu64 ") byte %zu is 0x%02x, expected 0x%02x", when,
			  (const void *)p, o->size, o->tid, o->seq, j, p[j], expected_byte(j, o->size, key));
}

static size_t random_size(uint64_t *rng)
{
	uint64_t r = test_rand(rng);
	unsigned pick = (unsigned)(r % 1000);
	r >>= 10;
	if (pick < 850)
		return r % 512 + 1;
	if (pick < 990)
		return 513 + r % (32768 - 512);
	return 32769 + r % (200 << 10);
}

static obj make(worker *w)
{
	obj o = {.size = random_size(&w->rng), .tid = w->id, .seq = w->allocs};
	if (o.size < 16 && test_rand(&w->rng) % 4 == 0)
		o.size = 0; /* malloc(0) objects too */
	o.p = A(malloc)(o.size);
	CHECK_MSG(o.p != NULL, "malloc(%zu) = NULL", o.size);
	CHECK_CMP(A(malloc_usable_size)(o.p), >=, o.size);
	fill(o.p, o.size, pattern_key(o.tid, o.seq, o.size));
	w->allocs++;
	return o;
}

/* Checks o and frees it; sometimes reallocs it first (contents must move along). */
static void consume(worker *w, obj o, bool may_realloc)
{
	verify(o.p, o.size, pattern_key(o.tid, o.seq, o.size), &o, "before free");
	if (may_realloc && test_rand(&w->rng) % 16 == 0) {
		size_t ns = random_size(&w->rng);
		unsigned char *q = A(realloc)(o.p, ns);
		CHECK_MSG(q != NULL, "realloc(%zu -> %zu) = NULL", o.size, ns);
		size_t keep = ns < o.size ? ns : o.size;
		verify(q, keep, pattern_key(o.tid, o.seq, o.size), &o, "after realloc");
		if (q != o.p)
			w->moved_reallocs++;
		o.p = q;
		o.size = ns;
		o.tid = w->id;
		fill(q, ns, pattern_key(o.tid, o.seq, ns));
		verify(q, ns, pattern_key(o.tid, o.seq, ns), &o, "after realloc refill");
	}
	if (o.tid != w->id)
		w->cross_frees++;
	w->checked_bytes += o.size;
	A(free)(o.p);
	w->frees++;
}

/* Takes everything from this worker's inbox and consumes it; returns how many. */
static unsigned drain(worker *w)
{
	obj local[INBOX_CAP];
	inbox *b = &boxes[w->id];
	pthread_mutex_lock(&b->m);
	unsigned n = b->count;
	for (unsigned i = 0; i < n; i++)
		local[i] = b->e[(b->head + i) % INBOX_CAP];
	b->head = (b->head + n) % INBOX_CAP;
	b->count = 0;
	pthread_mutex_unlock(&b->m);
	for (unsigned i = 0; i < n; i++) {
		uint32_t from = local[i].tid;
		CHECK_MSG(workers[from].target == w->id, "inbox %u got an object of thread %u", w->id, from);
		consume(w, local[i], w->role == 0);
	}
	return n;
}

static bool try_push(uint32_t to, obj o)
{
	inbox *b = &boxes[to];
	pthread_mutex_lock(&b->m);
	bool ok = b->count < INBOX_CAP;
	if (ok)
		b->e[(b->head + b->count++) % INBOX_CAP] = o;
	pthread_mutex_unlock(&b->m);
	return ok;
}

static void *run(void *arg)
{
	worker *w = arg;
	obj keep[LOCAL_KEEP];
	unsigned nkeep = 0;
	if (w->role != 2) {
		for (uint64_t i = 0; i < w->iters; i++) {
			obj o = make(w);
			if (w->role == 0 && test_rand(&w->rng) % 8 == 0) {
				if (nkeep == LOCAL_KEEP) /* freed by its own thread */
					consume(w, keep[--nkeep], true);
				keep[nkeep++] = o;
			} else {
				while (!try_push(w->target, o)) {
					if (w->role == 0)
						drain(w);
					sched_yield();
				}
			}
			if (w->role == 0 && i % 16 == 0)
				drain(w);
		}
		while (nkeep)
			consume(w, keep[--nkeep], false);
		atomic_fetch_add(&done_producing, 1);
	}
	if (w->role != 1) {
		/* Keep consuming until every producer is done, then once more. */
		int producers = w->role == 0 ? nthreads : nthreads / 2;
		while (atomic_load(&done_producing) < producers)
			if (!drain(w))
				sched_yield();
		drain(w);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	api = test_api_get();
	bool prodcons = false;
	nthreads = 4;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--prodcons"))
			prodcons = true;
		else {
			fprintf(stderr, "usage: %s [--threads N | --prodcons]\n", argv[0]);
			return 2;
		}
	}
	if (prodcons)
		nthreads = 4;
	CHECK(nthreads >= 2 && nthreads <= MAX_THREADS);
	for (int i = 0; i < nthreads; i++) {
		pthread_mutex_init(&boxes[i].m, NULL);
		worker *w = &workers[i];
		w->id = (uint32_t)i;
		w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
		if (prodcons) {
			w->role = i % 2 ? 2 : 1; /* even: producer, odd: its consumer */
			w->target = (uint32_t)(i % 2 ? i - 1 : i + 1);
			w->iters = i % 2 ? 0 : TOTAL_OPS / (uint64_t)(nthreads / 2);
		} else {
			w->target = (uint32_t)((i + 1) % nthreads);
			w->iters = TOTAL_OPS / (uint64_t)nthreads;
		}
	}
	static spanlab_stats before, after;
	A(free)(A(malloc)(1)); /* the main thread's cache exists before the baseline */
	api.stats_get(&before);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_create(&workers[i].th, NULL, run, &workers[i]) == 0);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(workers[i].th, NULL) == 0);

	uint64_t allocs = 0, frees = 0, cross = 0, moved = 0, bytes = 0, pushed_frees = 0;
	for (int i = 0; i < nthreads; i++) {
		CHECK_EQ(boxes[i].count, 0); /* every inbox was drained by its owner */
		allocs += workers[i].allocs;
		frees += workers[i].frees;
		cross += workers[i].cross_frees;
		moved += workers[i].moved_reallocs;
		bytes += workers[i].checked_bytes;
		if (workers[i].role != 1)
			pushed_frees += workers[i].frees;
	}
	CHECK_EQ(allocs, frees);
	CHECK_CMP(allocs, >=, TOTAL_OPS - (uint64_t)nthreads);
	/* Most objects were freed by another thread than the one that allocated them. */
	CHECK_CMP(cross * 4, >=, allocs * 3);

	api.stats_get(&after);
#ifdef TEST_PLAIN_NAMES
	/* Under LD_PRELOAD the C library allocates too (thread start-up): lower bounds only. */
	CHECK_CMP(after.mallocs - before.mallocs, >=, allocs + moved);
	CHECK_CMP(after.frees - before.frees, >=, frees + moved);
#else
	CHECK_EQ(after.mallocs - before.mallocs, allocs + moved);
	CHECK_EQ(after.frees - before.frees, frees + moved);
	CHECK_EQ(after.mallocs, after.frees + before.mallocs - before.frees);
	CHECK_EQ(after.heap_alloc, before.heap_alloc);
	CHECK_EQ(after.heap_objects, before.heap_objects);
	CHECK_EQ(after.large_alloc, before.large_alloc);
	CHECK_EQ(after.large_mallocs - after.large_frees, before.large_mallocs - before.large_frees);
	CHECK_EQ(after.threads, 1);
	uint64_t per_class = 0;
	for (uint64_t c = 1; c < after.nclasses; c++) {
		CHECK_MSG(after.classes[c].mallocs - after.classes[c].frees ==
				  before.classes[c].mallocs - before.classes[c].frees,
			  "class %" PRIu64 ": %" PRIu64 " mallocs, %" PRIu64 " frees", c, after.classes[c].mallocs,
			  after.classes[c].frees);
		per_class += after.classes[c].mallocs - before.classes[c].mallocs;
	}
	CHECK_EQ(per_class + after.large_mallocs - before.large_mallocs, allocs + moved);
	/* Everything is back: after a trim, no span is in use. */
	api.trim(0);
	api.stats_get(&after);
	CHECK_EQ(after.heap_alloc, 0);
	CHECK_EQ(after.cached_bytes, 0);
	CHECK_EQ(after.heap_inuse, 0);
#endif
	printf("stress (%s, %d threads%s): %" PRIu64 " objects, %" PRIu64 " freed by another thread, %" PRIu64
	       " moved by realloc, %" PRIu64 " MiB checked\n",
	       api.variant(), nthreads, prodcons ? ", producer/consumer" : "", allocs, cross, moved, bytes >> 20);
	(void)pushed_frees;
	return 0;
}
