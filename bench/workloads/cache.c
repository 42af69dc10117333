/*
 * sl-cache-scratch and sl-cache-thrash - allocator-induced false sharing,
 * after Hoard's cache-scratch and cache-thrash (Berger et al., ASPLOS 2000).
 * This one source builds both programs; WL_CACHE_SCRATCH selects scratch.
 *
 * cache-thrash (active false sharing): every thread loops: allocate one
 * small object (--size bytes), write each of its bytes --writes times, read
 * it back, free it.  Threads share nothing, but an allocator that hands
 * neighbouring small blocks to different threads puts their objects in one
 * cache line, and the writes then bounce that line between cores.
 *
 * cache-scratch (passive false sharing): the main thread first allocates one
 * small object per thread, back to back, and hands object i to thread i,
 * which frees it and then runs the same loop as cache-thrash.  An allocator
 * that reuses a freed block in the freeing thread's cache gives every thread
 * a block in the main thread's cache line, again false sharing.
 *
 * One op = one object allocated, written --writes times over and freed.
 * The objects are tiny, so the time is the writes': the ratio against a
 * one-thread run shows whether the allocator separated the threads.
 *
 * Verification: after the last pass every byte must hold the value that
 * pass wrote; checked before free.
 */
#include "wl_common.h"

#include <stdlib.h>

#ifdef WL_CACHE_SCRATCH
#define WL_NAME "cache-scratch"
#else
#define WL_NAME "cache-thrash"
#endif

static long long size = 8, writes = 1000;

struct worker {
	struct wl_worker wl;
	void *handed;		/* scratch: the main thread's object to free */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t n = (size_t)size;
	free(w->handed);
	w->handed = NULL;
	do {
		volatile unsigned char *p = malloc(n);
		if (!p) {
			w->wl.ok = wl_fail("malloc returned NULL");
			return NULL;
		}
		unsigned char base = (unsigned char)(w->wl.id * 31 +
						     w->wl.ops);
		for (long long r = 0; r < writes; r++)
			for (size_t j = 0; j < n; j++)
				p[j] = (unsigned char)(base + r + j);
		for (size_t j = 0; j < n; j++) {
			if (p[j] != (unsigned char)(base + writes - 1 + j)) {
				w->wl.ok = wl_fail("thread %d: byte %zu of "
						   "its object changed under "
						   "it", w->wl.id, j);
				return NULL;
			}
		}
		free((void *)p);
		w->wl.ops++;
	} while (!wl_should_stop());
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("size", &size, 1, 1 << 20, "object size in bytes"),
		WL_OPT_INT("writes", &writes, 1, 1LL << 30,
			   "passes writing every byte of each object"),
	};
#ifdef WL_CACHE_SCRATCH
	const char *about = "Hoard cache-scratch: passive false sharing. Each "
		"thread frees a small object\nthe main thread allocated, then "
		"allocates, writes and frees its own.";
#else
	const char *about = "Hoard cache-thrash: active false sharing. Each "
		"thread allocates, writes\nand frees its own small objects.";
#endif
	wl_parse(argc, argv, WL_NAME, about, &c, opts,
		 sizeof opts / sizeof opts[0]);

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
#ifdef WL_CACHE_SCRATCH
	for (int i = 0; i < c.threads; i++) {
		/* Back to back from one thread: likely neighbours in memory. */
		w[i].handed = malloc((size_t)size);
		if (!w[i].handed)
			wl_out_of_memory();
		memset(w[i].handed, i, (size_t)size);
	}
#endif

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
