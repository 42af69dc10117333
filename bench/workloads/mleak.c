/*
 * sl-mleak - a program that leaks a growing share of what it allocates.
 *
 * Each thread runs --rounds rounds.  A round allocates the thread's share
 * of --batch objects (batch / threads) of random sizes in [--min-size,
 * --max-size], then frees all of them except a random few that it leaks:
 * round r (0-based) leaks each object with probability
 * --leak-percent * (r + 1) / rounds percent, so the share grows linearly
 * from almost nothing to --leak-percent and about half of that is leaked
 * over the run.  The leaked objects are scattered among the freed ones, so
 * each pins the page or span it sits in: the question is how much memory
 * the allocator still holds when most of it was freed (spans kept alive by
 * a single object, freed memory that is reused or not) and how its speed
 * holds up as the heap fills with garbage that never comes back.  All
 * frees are thread-local.
 *
 * The work is fixed by --batch and --rounds (split among the threads, so
 * the amount leaked is the same at every thread count); --duration is
 * accepted but ignored.  One op = one object allocated.
 *
 * After the run the program calls malloc_trim(0) if the C library has it
 * and reads the RSS ("final_rss_kb"), with every leaked object still live;
 * "leaked_objects" and "leaked_kb" give what was leaked (requested bytes).
 *
 * Verification: each object is stamped with its size, owner and sequence
 * number (wl_size_key) and checked before it is freed, number included
 * (a round frees its objects in the order it allocated them); the leaked objects are
 * kept in a per-thread list, and at the end (after the RSS reading) all of
 * them are checked and freed.  The count and (wrapping) key sum of the
 * objects allocated must equal those freed in the rounds plus those leaked.
 */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>

static long long min_size = 16, max_size = 512, batch = 20000, rounds = 200;
static long long leak_percent = 10;

struct worker {
	struct wl_worker wl;		/* wl.ops: objects allocated */
	size_t share;			/* objects per round */
	unsigned long long frees;
	uint64_t alloc_keys, free_keys;	/* wrapping key sums */
	void **round;			/* this round's objects */
	void **leaked;			/* leaked objects, nleaked of them */
	size_t nleaked;
	size_t leaked_bytes;
};

/* Check an object's stamp (the size comes from its key) and that it is
 * `owner`'s object number `seq` (mod 2^24; seq < 0: any number); adds the
 * key to *keysum. */
static bool object_ok(const void *p, int owner, long long seq,
		      uint64_t *keysum)
{
	uint64_t key;
	memcpy(&key, p, 8);
	*keysum += key;
	size_t size = (size_t)(key >> 32);
	if ((key >> 24 & 0xff) != (uint64_t)(owner & 0xff) ||
	    (seq >= 0 && (key & 0xffffff) != ((uint64_t)seq & 0xffffff)))
		return wl_fail("thread %d: object %p has key %#llx, not the "
			       "thread's object number %lld", owner, p,
			       (unsigned long long)key, seq);
	if (size < (size_t)min_size || size > (size_t)max_size ||
	    !wl_stamp_ok(p, size, key))
		return wl_fail("thread %d: object %p has a broken stamp (key "
			       "%#llx)", owner, p, (unsigned long long)key);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seq = 0;
	for (long long r = 0; r < rounds; r++) {
		/* Leak probability this round, in units of 1/2^32. */
		uint64_t leak = (uint64_t)((double)leak_percent / 100.0 *
			(double)(r + 1) / (double)rounds * 4294967296.0);
		for (size_t i = 0; i < w->share; i++) {
			size_t size = wl_rand_range(&w->wl.rng,
				(size_t)min_size, (size_t)max_size);
			void *p = malloc(size);
			if (!p) {
				w->wl.ok = wl_fail("malloc returned NULL");
				return NULL;
			}
			uint64_t key = wl_size_key(size, w->wl.id, seq++);
			wl_stamp(p, size, key);
			w->alloc_keys += key;
			w->round[i] = p;
		}
		w->wl.ops += w->share;
		for (size_t i = 0; i < w->share; i++) {
			void *p = w->round[i];
			if ((wl_rand(&w->wl.rng) & 0xffffffffu) < leak) {
				uint64_t key;
				memcpy(&key, p, 8);
				w->leaked_bytes += (size_t)(key >> 32);
				w->leaked[w->nleaked++] = p;
				continue;
			}
			if (!object_ok(p, w->wl.id, (long long)(seq -
					w->share + i), &w->free_keys)) {
				w->wl.ok = false;
				return NULL;
			}
			free(p);
			w->frees++;
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
		WL_OPT_INT("batch", &batch, 1, 1 << 26,
			   "objects per round, split among the threads"),
		WL_OPT_INT("rounds", &rounds, 1, 1 << 20, "rounds"),
		WL_OPT_INT("leak-percent", &leak_percent, 0, 100,
			   "share leaked in the last round (percent)"),
	};
	wl_parse(argc, argv, "mleak",
		 "Growing leak: rounds of allocating a batch and freeing all "
		 "but a share that\ngrows round by round up to --leak-percent "
		 "(--duration is ignored).", &c, opts,
		 sizeof opts / sizeof opts[0]);
	if (min_size > max_size) {
		fprintf(stderr, "sl-mleak: --min-size exceeds --max-size\n");
		return 2;
	}

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	size_t share = (size_t)(batch / c.threads);
	if (share == 0)
		share = 1;
	for (int i = 0; i < c.threads; i++) {
		w[i].share = share;
		w[i].round = calloc(share, sizeof(void *));
		/* Room for every object; only the pages used are touched. */
		w[i].leaked = calloc(share * (size_t)rounds, sizeof(void *));
		if (!w[i].round || !w[i].leaked)
			wl_out_of_memory();
	}

	double t0 = wl_now();
	wl_run_threads(c.threads, worker_main, w, sizeof *w);
	double seconds = wl_now() - t0;

	bool trimmed = wl_trim();
	long long final_rss_kb = wl_current_rss_kb();

	unsigned long long ops = 0, frees = 0, leaked = 0;
	uint64_t alloc_keys = 0, free_keys = 0;
	size_t leaked_bytes = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < c.threads && ok; i++) {
		for (size_t j = 0; j < w[i].nleaked && ok; j++) {
			void *p = w[i].leaked[j];
			if (!object_ok(p, i, -1, &free_keys))
				ok = wl_fail("thread %d: leaked object %zu of "
					     "%zu was overwritten", i, j,
					     w[i].nleaked);
			else
				free(p);
		}
		frees += w[i].frees;
		leaked += w[i].nleaked;
		leaked_bytes += w[i].leaked_bytes;
		alloc_keys += w[i].alloc_keys;
		free_keys += w[i].free_keys;
	}
	if (ok && (ops != frees + leaked || alloc_keys != free_keys))
		ok = wl_fail("%llu objects allocated, %llu freed and %llu "
			     "leaked (key sums %s)", ops, frees, leaked,
			     alloc_keys == free_keys ? "match" : "differ");
	for (int i = 0; i < c.threads; i++) {
		free(w[i].round);
		free(w[i].leaked);
	}
	wl_free_lines(w);

	char extra[160];
	snprintf(extra, sizeof extra,
		 "\"final_rss_kb\":%lld,\"leaked_objects\":%llu,"
		 "\"leaked_kb\":%zu,\"malloc_trim\":%s",
		 final_rss_kb, leaked, leaked_bytes >> 10,
		 trimmed ? "true" : "false");
	wl_report(ops, seconds, ok, extra);
}
