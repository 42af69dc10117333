/*
 * sl-larson - server churn after Larson & Krishnan, "Memory allocation for
 * long-running server applications" (ISMM 1998).
 *
 * A shared array of slots (--objects per thread, so threads * objects in
 * all) starts filled with objects of random sizes in [--min-size,
 * --max-size].  Every thread then repeatedly picks a random slot, allocates a
 * new random-size object, swaps it into the slot with an atomic exchange and
 * frees the object it took out.  Since any thread may have put that object
 * there, with T threads about (T-1)/T of all frees are of memory another
 * thread allocated, and the pool's size stays constant: the allocator sees a
 * steady state of mixed sizes with constant cross-thread traffic, the shape
 * of a server whose requests are handled by whichever thread is free.
 *
 * One op = one replacement (one malloc and one free).
 *
 * Verification: each object starts with a key (size << 32 | owner << 24 |
 * sequence) and ends with a check word (wl_stamp); the key tells the freeing
 * thread the size, so it can check both ends before free.  At the end the
 * main thread checks and frees every remaining object and reconciles the
 * counts and the (wrapping) sums of the keys: initial + allocated == freed
 * in the run + freed at the end.  The key sums catch a block handed out
 * twice even when the second stamp hides the first.
 */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>

static long long min_size = 8, max_size = 1000, objects = 1000;

static _Atomic(void *) *slots;
static size_t nslots;

struct worker {
	struct wl_worker wl;	/* wl.ops: replacements done (= frees) */
	unsigned long long allocs;
	uint64_t alloc_keys, free_keys;	/* sums of the keys */
};

/* Allocate and stamp a random-size object, or NULL if out of memory; adds
 * the key to *keysum. */
static void *new_object(uint64_t *rng, int owner, uint64_t seq,
			uint64_t *keysum)
{
	size_t size = wl_rand_range(rng, (size_t)min_size, (size_t)max_size);
	void *p = malloc(size);
	if (p) {
		uint64_t key = wl_size_key(size, owner, seq);
		wl_stamp(p, size, key);
		*keysum += key;
	}
	return p;
}

/* Check an object's stamp (the size comes from the key itself) and add its
 * key to *keysum. */
static bool object_ok(const void *p, uint64_t *keysum)
{
	uint64_t key;
	memcpy(&key, p, 8);
	*keysum += key;
	size_t size = (size_t)(key >> 32);
	if (size < (size_t)min_size || size > (size_t)max_size)
		return wl_fail("object %p has a bad size field %zu", p, size);
	if (!wl_stamp_ok(p, size, key))
		return wl_fail("object %p (size %zu) has a broken stamp", p,
			       size);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!wl_should_stop()) {
		/* Poll the flag every 64 replacements: cheap, still prompt. */
		for (int i = 0; i < 64; i++) {
			size_t slot = (size_t)(wl_rand(&w->wl.rng) % nslots);
			void *p = new_object(&w->wl.rng, w->wl.id, w->allocs,
					     &w->alloc_keys);
			if (!p) {
				w->wl.ok = wl_fail("malloc returned NULL");
				return NULL;
			}
			w->allocs++;
			void *old = atomic_exchange_explicit(&slots[slot], p,
				memory_order_acq_rel);
			if (!object_ok(old, &w->free_keys)) {
				w->wl.ok = false;
				return NULL;
			}
			free(old);
			w->wl.ops++;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("min-size", &min_size, 8, 1 << 24,
			   "smallest object size in bytes"),
		WL_OPT_INT("max-size", &max_size, 8, 1 << 24,
			   "largest object size in bytes"),
		WL_OPT_INT("objects", &objects, 1, 1 << 24,
			   "slots per thread in the shared array"),
	};
	wl_parse(argc, argv, "larson",
		 "Larson-style server churn: threads replace random slots of a "
		 "shared array\nwith new random-size objects, so most frees are "
		 "of other threads' objects.", &c, opts,
		 sizeof opts / sizeof opts[0]);
	if (min_size > max_size) {
		fprintf(stderr, "sl-larson: --min-size exceeds --max-size\n");
		return 2;
	}

	nslots = (size_t)(objects * c.threads);
	slots = calloc(nslots, sizeof *slots);
	if (!slots)
		wl_out_of_memory();
	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	uint64_t rng = (uint64_t)c.seed, alloc_keys = 0, free_keys = 0;
	for (size_t i = 0; i < nslots; i++) {
		void *p = new_object(&rng, 255, i, &alloc_keys);
		if (!p)
			wl_out_of_memory();
		atomic_init(&slots[i], p);
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long allocs = nslots, ops = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	unsigned long long frees = ops;
	for (int i = 0; i < c.threads; i++) {
		allocs += w[i].allocs;
		alloc_keys += w[i].alloc_keys;
		free_keys += w[i].free_keys;
	}
	if (ok) {
		for (size_t i = 0; i < nslots; i++) {
			void *p = atomic_load(&slots[i]);
			if (!object_ok(p, &free_keys)) {
				ok = false;
				break;
			}
			free(p);
			frees++;
		}
		if (ok && (allocs != frees || alloc_keys != free_keys))
			ok = wl_fail("%llu objects allocated, %llu freed "
				     "(key sums %s)", allocs, frees,
				     alloc_keys == free_keys ? "match" :
				     "differ");
	}
	free(slots);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
