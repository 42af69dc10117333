/*
 * sl-xmalloc - a ring of threads, each freeing what its neighbour allocated,
 * after the shape of xmalloc-test (C. Lever and D. Boreham, "malloc()
 * Performance in a Multithreaded Linux Environment", USENIX 2000; the
 * version in mimalloc-bench passes each object on to the next thread).
 *
 * The --threads threads form a ring: thread i allocates objects of random
 * sizes in [--min-size, --max-size], --batch at a time, and hands each batch
 * to thread i + 1 (mod T) through a bounded queue of --queue slots; every
 * thread also takes batches out of its own queue (filled by thread i - 1),
 * checks and frees them.  So with two threads or more every free is of an
 * object another thread allocated, and every thread both allocates and
 * frees - unlike prodcons, where the roles are split.  With --threads 1 the
 * one thread hands its batches to itself: all frees are local.
 *
 * Queues: one single-producer single-consumer ring per thread (head and
 * tail on their own cache lines, release/acquire ordering, a whole batch
 * per update).  A thread whose successor's queue is full empties its own
 * queue while it waits, so the ring cannot deadlock.  When the time is up
 * each thread stops allocating and drains its queue until every thread has
 * stopped and the queue is empty.
 *
 * One op = one object allocated by one thread and freed by the next.
 *
 * Verification: each object carries a stamp whose key holds its size, its
 * producer and a sequence number (wl_size_key).  A queue has one producer
 * and keeps order, so the consumer checks that every object comes from its
 * predecessor with the next sequence number, besides both ends of the
 * stamp.  At the end the counts and the (wrapping) key sums of all objects
 * allocated and freed must match.
 */
#include "wl_common.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static long long min_size = 8, max_size = 512, batch = 64, qcap = 4096;
static int nthreads;

/* Threads that have stopped allocating; a thread may leave once this
 * equals nthreads and its own queue is empty. */
static atomic_int stopped;

/* One bounded single-producer single-consumer queue of object pointers. */
struct ring {
	WL_LINE_ALIGNED atomic_size_t tail;	/* written by the producer */
	WL_LINE_ALIGNED atomic_size_t head;	/* written by the consumer */
	WL_LINE_ALIGNED void **slot;		/* qcap slots, set up by main */
};

static struct ring *rings;	/* rings[i] is thread i's incoming queue */

struct worker {
	struct wl_worker wl;		/* wl.ops: objects freed */
	unsigned long long allocs;	/* objects allocated */
	uint64_t alloc_keys, free_keys;	/* wrapping sums of the keys */
	uint64_t next_seq;		/* sequence expected from predecessor */
	void **out, **in;		/* batch buffers */
};

/* Append n objects if they fit; false if the queue is too full. */
static bool ring_push(struct ring *r, void **objs, size_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if ((size_t)qcap - (tail - head) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		r->slot[(tail + i) % (size_t)qcap] = objs[i];
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return true;
}

/* Take up to max objects; returns how many. */
static size_t ring_pop(struct ring *r, void **objs, size_t max)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t n = tail - head < max ? tail - head : max;
	for (size_t i = 0; i < n; i++)
		objs[i] = r->slot[(head + i) % (size_t)qcap];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/* A failed check stops everyone early; the failing thread keeps draining
 * its queue (without freeing) so that its predecessor is never stuck. */
static void failed(struct worker *w)
{
	w->wl.ok = false;
	atomic_store(&wl_stop, true);
}

/* Allocate and stamp one batch into w->out; false on malloc failure. */
static bool produce(struct worker *w)
{
	for (size_t i = 0; i < (size_t)batch; i++) {
		size_t size = wl_rand_range(&w->wl.rng, (size_t)min_size,
					    (size_t)max_size);
		void *p = malloc(size);
		if (!p)
			return wl_fail("malloc returned NULL");
		uint64_t key = wl_size_key(size, w->wl.id, w->allocs);
		wl_stamp(p, size, key);
		w->out[i] = p;
		w->allocs++;
		w->alloc_keys += key;
	}
	return true;
}

/* Check one object taken from the queue: right producer, next sequence
 * number, intact stamp. */
static bool object_ok(struct worker *w, const void *p)
{
	int from = (w->wl.id + nthreads - 1) % nthreads;
	uint64_t key;
	memcpy(&key, p, 8);
	size_t size = (size_t)(key >> 32);
	if ((int)(key >> 24 & 0xff) != (from & 0xff) ||
	    (key & 0xffffff) != (w->next_seq & 0xffffff))
		return wl_fail("thread %d: object %p has key %#llx, expected "
			       "thread %d's object number %llu", w->wl.id, p,
			       (unsigned long long)key, from,
			       (unsigned long long)w->next_seq);
	if (size < (size_t)min_size || size > (size_t)max_size ||
	    !wl_stamp_ok(p, size, key))
		return wl_fail("thread %d: object %p (size %zu) has a broken "
			       "stamp", w->wl.id, p, size);
	return true;
}

/* Take up to one batch from the own queue, check and free it; returns the
 * number of objects taken. */
static size_t consume(struct worker *w)
{
	size_t n = ring_pop(&rings[w->wl.id], w->in, (size_t)batch);
	if (!w->wl.ok)
		return n;	/* after a failure: drop, do not free */
	for (size_t i = 0; i < n; i++) {
		void *p = w->in[i];
		if (!object_ok(w, p)) {
			failed(w);
			return n;
		}
		uint64_t key;
		memcpy(&key, p, 8);
		w->free_keys += key;
		w->next_seq++;
		free(p);
		w->wl.ops++;
	}
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ring *next = &rings[(w->wl.id + 1) % nthreads];
	while (w->wl.ok && !wl_should_stop()) {
		if (!produce(w)) {
			failed(w);
			break;
		}
		while (!ring_push(next, w->out, (size_t)batch))
			if (consume(w) == 0)
				sched_yield();
		consume(w);
	}
	atomic_fetch_add(&stopped, 1);
	for (;;) {
		bool all = atomic_load(&stopped) == nthreads;
		if (consume(w) == 0) {
			if (all)
				break;
			sched_yield();
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("min-size", &min_size, 8, (1 << 20) - 1,
			   "smallest object size in bytes"),
		WL_OPT_INT("max-size", &max_size, 8, (1 << 20) - 1,
			   "largest object size in bytes"),
		WL_OPT_INT("batch", &batch, 1, 1 << 16,
			   "objects handed on at a time"),
		WL_OPT_INT("queue", &qcap, 1, 1 << 24,
			   "capacity of each thread's queue in objects"),
	};
	wl_parse(argc, argv, "xmalloc",
		 "xmalloc-test shape: threads in a ring, each allocating "
		 "objects of random small\nsizes and handing them to the next "
		 "thread, which frees them.", &c, opts,
		 sizeof opts / sizeof opts[0]);
	if (min_size > max_size || batch > qcap || c.threads > 256) {
		fprintf(stderr, "sl-xmalloc: need --min-size <= --max-size, "
			"--batch <= --queue and at most 256 threads\n");
		return 2;
	}

	nthreads = (int)c.threads;
	rings = wl_calloc_lines((size_t)nthreads, sizeof *rings);
	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	for (int i = 0; i < nthreads; i++) {
		rings[i].slot = calloc((size_t)qcap, sizeof(void *));
		w[i].out = calloc((size_t)batch, sizeof(void *));
		w[i].in = calloc((size_t)batch, sizeof(void *));
		if (!rings[i].slot || !w[i].out || !w[i].in)
			wl_out_of_memory();
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0, allocs = 0;
	uint64_t alloc_keys = 0, free_keys = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < nthreads; i++) {
		allocs += w[i].allocs;
		alloc_keys += w[i].alloc_keys;
		free_keys += w[i].free_keys;
		free(rings[i].slot);
		free(w[i].out);
		free(w[i].in);
	}
	if (ok && (allocs != ops || alloc_keys != free_keys))
		ok = wl_fail("%llu objects allocated, %llu freed (key sums %s)",
			     allocs, ops,
			     alloc_keys == free_keys ? "match" : "differ");
	wl_free_lines(rings);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
