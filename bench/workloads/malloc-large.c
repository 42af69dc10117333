/*
 * sl-malloc-large - churn of very large blocks, after the shape of
 * mimalloc-bench's malloc-large: a few buffers of 5 to 25 MiB are kept and
 * replaced at random, over and over.
 *
 * Each thread keeps --live blocks, filled in the set-up.  One step picks a
 * random block, checks and frees it, allocates a new one of a random size
 * in [--min-kb, --max-kb] KiB and touches it: one 8-byte word every
 * --page-step pages of 4 KiB (every page by default, as a program that
 * fills its buffers would) and the last 8 bytes.  Blocks this size are far
 * above every allocator's small classes: they come straight from the page
 * heap or from mmap, so the step measures how the allocator finds, splits
 * and coalesces runs of pages, whether it unmaps and remaps them (a page
 * fault per touched page) or keeps them, and how it returns memory.
 *
 * One op = one large block freed and a new one allocated and touched.
 *
 * Verification: every touched word holds a value derived from the block's
 * key and the word's offset; all of them are checked before the block is
 * freed, and at the end (outside the timed phase) for the blocks still
 * live.  The number of blocks allocated must equal the number freed.
 */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>

static long long min_kb = 5 * 1024, max_kb = 25 * 1024, live = 4;
static long long page_step = 1;

#define PAGE 4096

struct block {
	char *p;
	size_t size;
	uint64_t key;
};

struct worker {
	struct wl_worker wl;		/* wl.ops: blocks replaced */
	unsigned long long allocs, frees;
	struct block *blocks;
};

static uint64_t word_at(uint64_t key, size_t off)
{
	return wl_mix64(key + off);
}

/* Write the touched words of b: one at each multiple of the stride that
 * ends at least 8 bytes before the end, and one in the last 8 bytes. */
static void touch(const struct block *b)
{
	size_t stride = (size_t)page_step * PAGE;
	for (size_t off = 0; off + 16 <= b->size; off += stride) {
		uint64_t v = word_at(b->key, off);
		memcpy(b->p + off, &v, 8);
	}
	uint64_t v = word_at(b->key, b->size - 8);
	memcpy(b->p + b->size - 8, &v, 8);
}

/* Offset of the first touched word of b that changed, or SIZE_MAX. */
static size_t bad_word(const struct block *b)
{
	size_t stride = (size_t)page_step * PAGE;
	uint64_t v;
	for (size_t off = 0; off + 16 <= b->size; off += stride) {
		memcpy(&v, b->p + off, 8);
		if (v != word_at(b->key, off))
			return off;
	}
	memcpy(&v, b->p + b->size - 8, 8);
	if (v != word_at(b->key, b->size - 8))
		return b->size - 8;
	return SIZE_MAX;
}

static bool new_block(struct worker *w, struct block *b)
{
	size_t size = wl_rand_range(&w->wl.rng, (size_t)min_kb << 10,
				    (size_t)max_kb << 10);
	b->p = malloc(size);
	if (!b->p)
		return wl_fail("malloc(%zu) returned NULL", size);
	b->size = size;
	b->key = (uint64_t)w->wl.id << 48 ^ w->allocs++;
	touch(b);
	return true;
}

static bool free_block(struct worker *w, struct block *b)
{
	size_t off = bad_word(b);
	if (off != SIZE_MAX)
		return wl_fail("thread %d: block %p (%zu bytes) corrupted at "
			       "offset %zu", w->wl.id, (void *)b->p, b->size,
			       off);
	free(b->p);
	b->p = NULL;
	w->frees++;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!wl_should_stop()) {
		struct block *b =
			&w->blocks[wl_rand(&w->wl.rng) % (uint64_t)live];
		if (!free_block(w, b) || !new_block(w, b)) {
			/* Stop the other threads too: the run has failed. */
			w->wl.ok = false;
			atomic_store(&wl_stop, true);
			return NULL;
		}
		w->wl.ops++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("min-kb", &min_kb, 1, 1 << 22,
			   "smallest block in KiB"),
		WL_OPT_INT("max-kb", &max_kb, 1, 1 << 22,
			   "largest block in KiB"),
		WL_OPT_INT("live", &live, 1, 1 << 16,
			   "blocks kept per thread"),
		WL_OPT_INT("page-step", &page_step, 1, 1 << 20,
			   "touch one word every this many 4 KiB pages"),
	};
	wl_parse(argc, argv, "malloc-large",
		 "Large-block churn: each thread keeps a few large blocks (5-25 MiB "
		 "by default)\nand replaces a random one at a time, touching its pages.",
		 &c, opts, sizeof opts / sizeof opts[0]);
	if (min_kb > max_kb) {
		fprintf(stderr, "sl-malloc-large: --min-kb exceeds --max-kb\n");
		return 2;
	}

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	for (int i = 0; i < c.threads; i++) {
		w[i].blocks = calloc((size_t)live, sizeof *w[i].blocks);
		if (!w[i].blocks)
			wl_out_of_memory();
		for (long long j = 0; j < live; j++)
			if (!new_block(&w[i], &w[i].blocks[j]))
				wl_report(0, 0, false, NULL);
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0, allocs = 0, frees = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < c.threads && ok; i++) {
		for (long long j = 0; j < live && ok; j++)
			if (w[i].blocks[j].p && !free_block(&w[i],
							   &w[i].blocks[j]))
				ok = false;
		allocs += w[i].allocs;
		frees += w[i].frees;
	}
	if (ok && allocs != frees)
		ok = wl_fail("%llu blocks allocated, %llu freed", allocs,
			     frees);
	for (int i = 0; i < c.threads; i++)
		free(w[i].blocks);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
