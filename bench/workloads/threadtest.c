/*
 * sl-threadtest - Hoard's threadtest (Berger, McKinley, Blumofe & Wilson,
 * "Hoard: A Scalable Memory Allocator for Multithreaded Applications",
 * ASPLOS 2000).
 *
 * Each thread repeatedly allocates a batch of --objects / threads objects of
 * --size bytes, then frees the whole batch, until --duration has passed.  No
 * memory crosses threads, so a scalable allocator should scale linearly; the
 * benchmark exposes allocators that serialise threads on a shared heap or
 * lock, and the cost of the thread-local fast path when batches overflow the
 * per-thread cache.
 *
 * One op = one object allocated and freed.
 *
 * Verification: every object is stamped with (thread, index) at allocation
 * and checked just before it is freed.
 */
#include "wl_common.h"

#include <stdlib.h>

static long long size = 8, objects = 30000;

struct worker {
	struct wl_worker wl;
	size_t batch;
	void **ptrs;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t owner = (uint64_t)w->wl.id << 48, round = 0;
	do {
		for (size_t i = 0; i < w->batch; i++) {
			void *p = malloc((size_t)size);
			if (!p) {
				w->wl.ok = wl_fail("malloc returned NULL");
				return NULL;
			}
			wl_stamp(p, (size_t)size, owner ^ round << 24 ^ i);
			w->ptrs[i] = p;
		}
		for (size_t i = 0; i < w->batch; i++) {
			if (!wl_stamp_ok(w->ptrs[i], (size_t)size,
					 owner ^ round << 24 ^ i)) {
				w->wl.ok = wl_fail("thread %d object %zu: "
						   "broken stamp", w->wl.id, i);
				return NULL;
			}
			free(w->ptrs[i]);
		}
		w->wl.ops += w->batch;
		round++;
	} while (!wl_should_stop());
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("size", &size, 1, 1 << 24, "object size in bytes"),
		WL_OPT_INT("objects", &objects, 1, 1 << 28,
			   "objects per round, split evenly among threads"),
	};
	wl_parse(argc, argv, "threadtest",
		 "Hoard threadtest: each thread allocates a batch of fixed-size "
		 "objects,\nthen frees them all, over and over.", &c, opts,
		 sizeof opts / sizeof opts[0]);

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	size_t batch = (size_t)(objects / c.threads);
	if (batch == 0)
		batch = 1;
	for (int i = 0; i < c.threads; i++) {
		w[i].batch = batch;
		w[i].ptrs = calloc(batch, sizeof(void *));
		if (!w[i].ptrs)
			wl_out_of_memory();
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < c.threads; i++)
		free(w[i].ptrs);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
