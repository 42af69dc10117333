/*
 * sl-prodcons - producer/consumer cross-thread free.
 *
 * Half of the threads (threads / 2, rounded down) are producers, the rest
 * consumers.  A producer allocates objects of random sizes in [--min-size,
 * --max-size] in batches of --batch and pushes each batch onto one
 * consumer's queue, going round the consumers in turn; a consumer pops up to
 * --batch objects at a time, checks and frees them.  So every object is
 * freed by a thread other than the one that allocated it, at the highest
 * rate the allocator allows: this is the pattern of pipelines and message
 * passing servers, and the one that tests an allocator's remote-free path
 * (returning blocks to the owning span, heap or thread) and its memory
 * blow-up when frees land in the wrong thread's cache.
 *
 * Queues: one bounded ring of pointers (--queue slots) per consumer,
 * protected by a mutex with two condition variables.  Whole batches move
 * under one lock acquisition, so the lock costs a few nanoseconds per object
 * and the allocator's costs dominate.  A lock-free queue would be faster
 * still but adds nothing about the allocator.
 *
 * With --threads 1 the one thread alternates: it produces a batch into the
 * queue and then consumes it, so all frees are local (a baseline for the
 * cross-thread runs).
 *
 * One op = one object allocated by a producer and freed by a consumer.
 *
 * Verification: each object carries a stamp whose key holds its size, its
 * producer and a sequence number; consumers check it before free.
 * Producers and consumers each keep a count and a (wrapping) sum of keys;
 * at the end the totals must match: nothing lost, nothing freed twice.
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long long min_size = 16, max_size = 256, batch = 64, qcap = 4096;

struct queue {
	WL_LINE_ALIGNED pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void **ring;		/* qcap slots; guarded by lock */
	size_t head, count;	/* guarded by lock */
};

static struct queue *queues;
static int nproducers, nconsumers;
/* Producers that have finished; guarded by done_lock.  A producer bumps it
 * and then takes each queue's lock to broadcast not_empty, so a consumer
 * that checked it under its queue's lock cannot miss the wake-up. */
static int producers_done;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

/* wl.id is the producer or consumer index; wl.ops is unused: the counts
 * are per role (objects produced, or consumed), summed apart in main. */
struct worker {
	struct wl_worker wl;
	unsigned long long count;
	uint64_t keysum;
	void **buf;		/* batch slots */
};

static uint64_t make_key(size_t size, int producer, uint64_t seq)
{
	return (uint64_t)size << 44 | (uint64_t)producer << 32 |
	       (seq & 0xffffffffu);
}

static void push(struct queue *q, void **objs, size_t n)
{
	pthread_mutex_lock(&q->lock);
	while ((size_t)qcap - q->count < n)
		pthread_cond_wait(&q->not_full, &q->lock);
	for (size_t i = 0; i < n; i++)
		q->ring[(q->head + q->count + i) % (size_t)qcap] = objs[i];
	q->count += n;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

/* Pop up to `max` objects; returns 0 only once all producers are done and
 * the queue is empty.  `block` false: never wait (single-thread mode). */
static size_t pop(struct queue *q, void **objs, size_t max, bool block)
{
	pthread_mutex_lock(&q->lock);
	while (block && q->count == 0) {
		pthread_mutex_lock(&done_lock);
		bool done = producers_done == nproducers;
		pthread_mutex_unlock(&done_lock);
		if (done)
			break;
		pthread_cond_wait(&q->not_empty, &q->lock);
	}
	size_t n = q->count < max ? q->count : max;
	for (size_t i = 0; i < n; i++)
		objs[i] = q->ring[(q->head + i) % (size_t)qcap];
	q->head = (q->head + n) % (size_t)qcap;
	q->count -= n;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* Allocate and stamp one batch; false on malloc failure. */
static bool produce(struct worker *w)
{
	for (size_t i = 0; i < (size_t)batch; i++) {
		size_t size = wl_rand_range(&w->wl.rng, (size_t)min_size,
					    (size_t)max_size);
		void *p = malloc(size);
		if (!p)
			return wl_fail("malloc returned NULL");
		uint64_t key = make_key(size, w->wl.id, w->count);
		wl_stamp(p, size, key);
		w->buf[i] = p;
		w->count++;
		w->keysum += key;
	}
	return true;
}

/* Check and free n objects; false on a broken stamp. */
static bool consume(struct worker *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *p = w->buf[i];
		uint64_t key;
		memcpy(&key, p, 8);
		size_t size = (size_t)(key >> 44);
		int producer = (int)(key >> 32 & 0xfff);
		if (size < (size_t)min_size || size > (size_t)max_size ||
		    producer >= nproducers || !wl_stamp_ok(p, size, key))
			return wl_fail("object %p has a broken stamp", p);
		w->count++;
		w->keysum += key;
		free(p);
	}
	return true;
}

static void *producer_main(void *arg)
{
	struct worker *w = arg;
	unsigned long long k = 0;
	do {
		if (!produce(w)) {
			w->wl.ok = false;
			break;
		}
		push(&queues[(w->wl.id + k++) % (unsigned)nconsumers], w->buf,
		     (size_t)batch);
	} while (!wl_should_stop());
	pthread_mutex_lock(&done_lock);
	producers_done++;
	pthread_mutex_unlock(&done_lock);
	/* Wake consumers waiting on an empty queue so they can see it. */
	for (int i = 0; i < nconsumers; i++) {
		pthread_mutex_lock(&queues[i].lock);
		pthread_cond_broadcast(&queues[i].not_empty);
		pthread_mutex_unlock(&queues[i].lock);
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct worker *w = arg;
	size_t n;
	while ((n = pop(&queues[w->wl.id], w->buf, (size_t)batch, true)) > 0) {
		if (!consume(w, n)) {
			w->wl.ok = false;
			/* Keep draining (without freeing) so producers never
			 * block on this queue forever. */
			while (pop(&queues[w->wl.id], w->buf, (size_t)batch,
				   true) > 0)
				;
			break;
		}
	}
	return NULL;
}

/* --threads 1: one thread alternates producing and consuming a batch. */
static void single_thread(struct worker *prod, struct worker *cons)
{
	do {
		if (!produce(prod)) {
			prod->wl.ok = false;
			return;
		}
		push(&queues[0], prod->buf, (size_t)batch);
		size_t n = pop(&queues[0], cons->buf, (size_t)batch, false);
		if (!consume(cons, n)) {
			cons->wl.ok = false;
			return;
		}
	} while (!wl_should_stop());
}

struct role {
	struct worker w;	/* first, so roles[] is an array of workers */
	bool producer;
};

static void *role_main(void *arg)
{
	struct role *r = arg;
	return r->producer ? producer_main(&r->w) : consumer_main(&r->w);
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
			   "objects moved per queue operation"),
		WL_OPT_INT("queue", &qcap, 1, 1 << 24,
			   "capacity of each queue in objects"),
	};
	wl_parse(argc, argv, "prodcons",
		 "Producer/consumer: producers allocate, consumers free; every "
		 "object crosses\nthreads (with --threads 1 one thread does "
		 "both, alternately).", &c, opts, sizeof opts / sizeof opts[0]);
	if (min_size > max_size || batch > qcap || c.threads > 4094) {
		fprintf(stderr, "sl-prodcons: need --min-size <= --max-size, "
			"--batch <= --queue and at most 4094 threads\n");
		return 2;
	}

	bool single = c.threads == 1;
	nproducers = single ? 1 : (int)(c.threads / 2);
	nconsumers = single ? 1 : (int)c.threads - nproducers;
	int nroles = nproducers + nconsumers;
	queues = wl_calloc_lines((size_t)nconsumers, sizeof *queues);
	struct role *roles = wl_new_workers(nroles, sizeof *roles, c.seed);
	for (int i = 0; i < nconsumers; i++) {
		pthread_mutex_init(&queues[i].lock, NULL);
		pthread_cond_init(&queues[i].not_empty, NULL);
		pthread_cond_init(&queues[i].not_full, NULL);
		queues[i].ring = calloc((size_t)qcap, sizeof(void *));
		if (!queues[i].ring)
			wl_out_of_memory();
	}
	for (int i = 0; i < nroles; i++) {
		struct role *r = &roles[i];
		r->producer = i < nproducers;
		if (!r->producer)
			r->w.wl.id = i - nproducers;
		r->w.buf = calloc((size_t)batch, sizeof(void *));
		if (!r->w.buf)
			wl_out_of_memory();
	}

	double t0 = wl_now();
	wl_start_timer(c.duration);
	if (single)
		single_thread(&roles[0].w, &roles[1].w);
	else
		wl_run_threads(nroles, role_main, roles, sizeof *roles);
	double seconds = wl_now() - t0;

	bool ok = true;
	unsigned long long made = 0, freed = 0;
	uint64_t made_sum = 0, freed_sum = 0;
	for (int i = 0; i < nroles; i++) {
		struct role *r = &roles[i];
		ok = ok && r->w.wl.ok;
		if (r->producer) {
			made += r->w.count;
			made_sum += r->w.keysum;
		} else {
			freed += r->w.count;
			freed_sum += r->w.keysum;
		}
		free(r->w.buf);
	}
	if (ok && (made != freed || made_sum != freed_sum))
		ok = wl_fail("%llu objects produced, %llu consumed (key sums "
			     "%s)", made, freed,
			     made_sum == freed_sum ? "match" : "differ");
	for (int i = 0; i < nconsumers; i++)
		free(queues[i].ring);
	wl_free_lines(queues);
	wl_free_lines(roles);
	wl_report(freed, seconds, ok, NULL);
}
