/*
 * sl-fragment - fragmentation and memory return.
 *
 * Three phases, separated by barriers, with the work split evenly among the
 * threads:
 *
 *  1. grow: each thread allocates objects of random sizes in [--min-size,
 *     --max-size] until the threads together hold --peak-mb MiB (requested
 *     bytes);
 *  2. scattered free: thread i frees the objects of thread (i + 1) mod T
 *     (so with several threads these are remote frees), keeping a random
 *     --keep-percent of them alive.  The survivors are spread over all the
 *     memory, so few pages or spans become entirely free;
 *  3. regrow: each thread allocates --regrow-percent of its peak share again
 *     in objects of other, larger sizes, in [--max-size + 1, 4 * --max-size],
 *     which can only reuse the freed memory if the allocator can recombine
 *     it (coalesce free pages, return and reuse whole spans).
 *
 * After phase 2 and after phase 3 the program calls malloc_trim(0) if the C
 * library has it (glibc; a no-op for glibc's idle heap under another
 * allocator) and reads the current RSS from /proc/self/statm:
 * "rss_after_free_kb" shows how much memory the allocator gave back to the
 * system when most of it became free, "final_rss_kb" how much the regrow
 * phase needed on top of the survivors.  An ideal allocator ends near
 * (keep + regrow) percent of the peak; a poor one near 100 % + regrow.
 * The extra keys "live_peak_kb" and "live_final_kb" give the requested bytes
 * alive at those points.  This is the memory side of the experiments: the
 * numbers are RSS, the time is secondary.
 *
 * The amount of work is fixed by --peak-mb; --duration is accepted but
 * ignored.  One op = one object allocated (and, by the end, freed).
 *
 * Verification: each object is stamped with its size, owner and sequence;
 * every free checks the stamp; at the end all remaining objects are checked
 * and freed, and the count and the (wrapping) sum of the keys freed must
 * equal those allocated (so a block handed out twice is caught even when
 * its second stamp hides the first).
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long long peak_mb = 256, min_size = 16, max_size = 512;
static long long keep_percent = 10, regrow_percent = 50;

static pthread_barrier_t barrier;
static long long nthreads;
static long long rss_after_free_kb = -1, final_rss_kb = -1;
static bool trimmed;

struct objs {
	void **p;
	size_t n, cap;
};

struct worker {
	struct wl_worker wl;	/* wl.ops: objects allocated */
	struct objs grown, regrown;
	unsigned long long frees;
	uint64_t alloc_keys, free_keys;	/* sums of the keys */
	size_t live_bytes;	/* requested bytes of own objects still alive */
	size_t peak_bytes;	/* live_bytes after the grow phase */
};

static struct worker *workers;

static bool append(struct objs *o, void *p)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 1024;
		void **np = realloc(o->p, cap * sizeof *np);
		if (!np)
			return false;
		o->p = np;
		o->cap = cap;
	}
	o->p[o->n++] = p;
	return true;
}

/* Check the stamp (the key holds the size), add the key to *keysum, then
 * free; returns the size freed, or 0 on a broken stamp. */
static size_t check_free(void *p, uint64_t *keysum)
{
	uint64_t key;
	memcpy(&key, p, 8);
	*keysum += key;
	size_t size = (size_t)(key >> 32);
	if (size < (size_t)min_size || size > 4 * (size_t)max_size ||
	    !wl_stamp_ok(p, size, key)) {
		wl_fail("object %p has a broken stamp", p);
		return 0;
	}
	free(p);
	return size;
}

/* Allocate objects of sizes in [lo, hi] until `bytes` are requested. */
static bool fill(struct worker *w, struct objs *o, size_t bytes, size_t lo,
		 size_t hi)
{
	size_t got = 0;
	while (got < bytes) {
		size_t size = wl_rand_range(&w->wl.rng, lo, hi);
		void *p = malloc(size);
		if (!p || !append(o, p))
			return wl_fail("out of memory after %zu bytes", got);
		uint64_t key = wl_size_key(size, w->wl.id, w->wl.ops);
		wl_stamp(p, size, key);
		w->alloc_keys += key;
		w->wl.ops++;
		got += size;
	}
	w->live_bytes += got;
	return true;
}

static void measure(long long *rss_kb)
{
	trimmed = wl_trim();
	*rss_kb = wl_current_rss_kb();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t share = (size_t)(peak_mb << 20) / (size_t)nthreads;

	/* 1. grow */
	w->wl.ok = fill(w, &w->grown, share, (size_t)min_size,
			(size_t)max_size);
	w->peak_bytes = w->live_bytes;
	pthread_barrier_wait(&barrier);

	/* 2. scattered free of the next thread's objects */
	struct worker *v = &workers[(w->wl.id + 1) % nthreads];
	for (size_t i = 0; i < v->grown.n && w->wl.ok; i++) {
		if (wl_rand(&w->wl.rng) % 100 < (uint64_t)keep_percent)
			continue;
		size_t size = check_free(v->grown.p[i], &w->free_keys);
		if (!size) {
			w->wl.ok = false;
			break;
		}
		v->grown.p[i] = NULL;
		v->live_bytes -= size;	/* only this thread touches v now */
		w->frees++;
	}
	pthread_barrier_wait(&barrier);
	if (w->wl.id == 0)
		measure(&rss_after_free_kb);
	pthread_barrier_wait(&barrier);

	/* 3. regrow with other sizes */
	if (w->wl.ok)
		w->wl.ok = fill(w, &w->regrown, share / 100 *
				(size_t)regrow_percent, (size_t)max_size + 1,
				4 * (size_t)max_size);
	pthread_barrier_wait(&barrier);
	if (w->wl.id == 0)
		measure(&final_rss_kb);
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("peak-mb", &peak_mb, 1, 1 << 20,
			   "MiB requested at the peak, all threads together"),
		WL_OPT_INT("min-size", &min_size, 8, 1 << 20,
			   "smallest object size in the grow phase"),
		WL_OPT_INT("max-size", &max_size, 8, 1 << 20,
			   "largest object size in the grow phase"),
		WL_OPT_INT("keep-percent", &keep_percent, 0, 100,
			   "percent of grown objects kept alive"),
		WL_OPT_INT("regrow-percent", &regrow_percent, 0, 1000,
			   "bytes reallocated, percent of the peak"),
	};
	wl_parse(argc, argv, "fragment",
		 "Fragmentation / memory return: grow to a peak, free most "
		 "objects in a\nscattered pattern, reallocate other sizes; "
		 "reports RSS after each phase.\n--duration is ignored: the "
		 "work is fixed by --peak-mb.", &c, opts,
		 sizeof opts / sizeof opts[0]);
	if (min_size > max_size || c.threads > 256) {
		fprintf(stderr, "sl-fragment: need --min-size <= --max-size "
			"and at most 256 threads\n");
		return 2;
	}

	nthreads = c.threads;
	workers = wl_new_workers(nthreads, sizeof *workers, c.seed);
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);

	double t0 = wl_now();
	wl_run_threads(nthreads, worker_main, workers, sizeof *workers);
	double seconds = wl_now() - t0;

	unsigned long long allocs = 0, frees = 0;
	bool ok = wl_sum_workers(workers, nthreads, sizeof *workers, &allocs);
	uint64_t alloc_keys = 0, free_keys = 0;
	size_t live_final = 0, live_peak = 0;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		live_final += w->live_bytes;
		live_peak += w->peak_bytes;
		frees += w->frees;
		alloc_keys += w->alloc_keys;
		free_keys += w->free_keys;
		struct objs *sets[2] = { &w->grown, &w->regrown };
		for (int s = 0; s < 2; s++) {
			for (size_t j = 0; j < sets[s]->n && ok; j++) {
				if (!sets[s]->p[j])
					continue;
				if (!check_free(sets[s]->p[j], &free_keys))
					ok = false;
				frees++;
			}
			free(sets[s]->p);
		}
	}
	if (ok && (allocs != frees || alloc_keys != free_keys))
		ok = wl_fail("%llu objects allocated, %llu freed (key sums %s)",
			     allocs, frees,
			     alloc_keys == free_keys ? "match" : "differ");
	wl_free_lines(workers);
	pthread_barrier_destroy(&barrier);

	char extra[256];
	snprintf(extra, sizeof extra,
		 "\"rss_after_free_kb\":%lld,\"final_rss_kb\":%lld,"
		 "\"live_peak_kb\":%zu,\"live_final_kb\":%zu,"
		 "\"malloc_trim\":%s",
		 rss_after_free_kb, final_rss_kb, live_peak >> 10,
		 live_final >> 10, trimmed ? "true" : "false");
	wl_report(allocs, seconds, ok, extra);
}
