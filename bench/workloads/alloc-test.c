/*
 * sl-alloc-test - allocation-intensive mixed workload with realloc and
 * calloc, after the shape of alloc-test (OLogN Technologies / ITHare,
 * included in mimalloc-bench): many allocator calls on a per-thread live set
 * of objects whose sizes are mostly small with a long tail of larger ones.
 *
 * Each thread owns --live slots.  One step picks a random slot:
 *
 *   - empty slot: allocate an object of a random size, with malloc (3 in 4)
 *     or calloc (1 in 4);
 *   - live object: free it (1 in 2), or realloc it (1 in 2) to a larger
 *     size (1.5x to 2x, at most --max-size) or a smaller one (1/2 to 3/4,
 *     at least 8 bytes), equally often.
 *
 * About two thirds of the slots are live at a time.  Sizes (bytes): 80 % in
 * [8, 128], 15 % in [129, 2048], 5 % in [2049, --max-size] (32 KiB by
 * default), so small classes dominate the calls while the medium and large
 * objects dominate the bytes.  All frees are thread-local.
 *
 * One op = one allocator call (malloc, calloc, realloc or free).
 *
 * Verification: an object holds check words derived from its key at
 * offsets 0, 256, 512, ... and in its last 8 bytes (see has_word).
 * Before a free all of them are checked; after a realloc the words of the
 * old object that lie within the preserved prefix (min(old, new) bytes)
 * must have survived the move, then the object is re-marked for its new
 * size with a new key; a calloc'ed object must read zero at every check
 * position before it is marked.  At the end the main thread checks and
 * frees every live object, and the number of objects allocated must equal
 * the number freed.
 */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>

static long long max_size = 32768, live = 4096;

#define MARK_STEP 256	/* bytes between check words */
#define MIN_OBJ 8

struct slot {
	void *p;	/* NULL when empty */
	size_t size;
	uint64_t key;
};

struct worker {
	struct wl_worker wl;		/* wl.ops: allocator calls */
	unsigned long long allocs;	/* malloc + calloc */
	unsigned long long frees;
	uint64_t seq;			/* keys handed out */
	struct slot *slots;		/* live slots */
};

static uint64_t tail_word(uint64_t key, size_t size)
{
	return wl_mix64(key ^ size ^ 0x7461696cULL);
}

/*
 * Check words of an object of `size` bytes: below 16 bytes one word at
 * offset 0; otherwise one at each multiple of MARK_STEP that ends at least
 * 8 bytes before the end, and a tail word in the last 8 bytes (so no two
 * words overlap).
 */
static bool has_word(size_t size, size_t off)
{
	return size < 16 ? off == 0 : off + 16 <= size;
}

/* Write the check words of an object of `size` bytes. */
static void mark(void *p, size_t size, uint64_t key)
{
	char *c = p;
	for (size_t off = 0; has_word(size, off); off += MARK_STEP) {
		uint64_t v = wl_mix64(key + off);
		memcpy(c + off, &v, 8);
	}
	if (size >= 16) {
		uint64_t t = tail_word(key, size);
		memcpy(c + size - 8, &t, 8);
	}
}

/* Check the words that mark() wrote for an object of `size` bytes, only
 * those wholly inside the first `upto` bytes; returns the offset of the
 * first bad word, or SIZE_MAX if all are intact. */
static size_t bad_mark(const void *p, size_t size, size_t upto, uint64_t key)
{
	const char *c = p;
	uint64_t v;
	for (size_t off = 0; has_word(size, off) && off + 8 <= upto;
	     off += MARK_STEP) {
		memcpy(&v, c + off, 8);
		if (v != wl_mix64(key + off))
			return off;
	}
	if (size >= 16 && size <= upto) {
		memcpy(&v, c + size - 8, 8);
		if (v != tail_word(key, size))
			return size - 8;
	}
	return SIZE_MAX;
}

/* True if the words at all check positions of a `size`-byte object are 0. */
static bool zero_marks(const void *p, size_t size)
{
	const char *c = p;
	uint64_t v;
	for (size_t off = 0; has_word(size, off); off += MARK_STEP) {
		memcpy(&v, c + off, 8);
		if (v)
			return false;
	}
	memcpy(&v, c + size - 8, 8);
	return v == 0;
}

static size_t random_size(uint64_t *rng)
{
	uint64_t r = wl_rand(rng) % 100;
	if (r < 80)
		return wl_rand_range(rng, MIN_OBJ, 128);
	if (r < 95)
		return wl_rand_range(rng, 129, 2048);
	return wl_rand_range(rng, 2049, (size_t)max_size);
}

/* The size a realloc moves an object of `size` bytes to. */
static size_t resize(uint64_t *rng, size_t size)
{
	size_t n;
	if (wl_rand(rng) & 1) {
		n = size + size / 2 + wl_rand_range(rng, 0, size / 2);
		if (n > (size_t)max_size)
			n = (size_t)max_size;
	} else {
		n = size / 2 + wl_rand_range(rng, 0, size / 4);
		if (n < MIN_OBJ)
			n = MIN_OBJ;
	}
	return n;
}

static bool step(struct worker *w)
{
	struct slot *s = &w->slots[wl_rand(&w->wl.rng) % (uint64_t)live];
	uint64_t r = wl_rand(&w->wl.rng);
	w->wl.ops++;
	if (!s->p) {
		size_t size = random_size(&w->wl.rng);
		bool zeroed = (r & 3) == 0;
		void *p = zeroed ? calloc(1, size) : malloc(size);
		if (!p)
			return wl_fail("%s(%zu) returned NULL",
				       zeroed ? "calloc" : "malloc", size);
		if (zeroed && !zero_marks(p, size))
			return wl_fail("thread %d: calloc(1, %zu) returned "
				       "%p, which is not all zero", w->wl.id,
				       size, p);
		*s = (struct slot){ p, size, w->seq++ ^ (uint64_t)w->wl.id << 48 };
		mark(p, size, s->key);
		w->allocs++;
		return true;
	}
	if (r & 1) {
		size_t off = bad_mark(s->p, s->size, s->size, s->key);
		if (off != SIZE_MAX)
			return wl_fail("thread %d: object %p (%zu bytes) "
				       "corrupted at offset %zu before free",
				       w->wl.id, s->p, s->size, off);
		free(s->p);
		s->p = NULL;
		w->frees++;
		return true;
	}
	size_t n = resize(&w->wl.rng, s->size);
	void *q = realloc(s->p, n);
	if (!q)
		return wl_fail("realloc(%p, %zu) returned NULL", s->p, n);
	size_t keep = n < s->size ? n : s->size;
	size_t off = bad_mark(q, s->size, keep, s->key);
	if (off != SIZE_MAX)
		return wl_fail("thread %d: realloc of %p from %zu to %zu bytes "
			       "(now %p) lost the contents at offset %zu",
			       w->wl.id, s->p, s->size, n, q, off);
	*s = (struct slot){ q, n, w->seq++ ^ (uint64_t)w->wl.id << 48 };
	mark(q, n, s->key);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!wl_should_stop()) {
		for (int i = 0; i < 256; i++) {
			if (!step(w)) {
				/* Stop the other threads too: the run has
				 * failed. */
				w->wl.ok = false;
				atomic_store(&wl_stop, true);
				return NULL;
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("max-size", &max_size, 4096, 1 << 24,
			   "largest object size in bytes"),
		WL_OPT_INT("live", &live, 1, 1 << 24,
			   "slots per thread (about 2/3 hold an object)"),
	};
	wl_parse(argc, argv, "alloc-test",
		 "alloc-test shape: per-thread live sets of mostly small, some "
		 "medium objects,\nchurned by malloc, calloc, realloc (growing "
		 "and shrinking) and free.", &c, opts,
		 sizeof opts / sizeof opts[0]);

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	for (int i = 0; i < c.threads; i++) {
		w[i].slots = calloc((size_t)live, sizeof *w[i].slots);
		if (!w[i].slots)
			wl_out_of_memory();
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0, allocs = 0, frees = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < c.threads && ok; i++) {
		allocs += w[i].allocs;
		frees += w[i].frees;
		for (long long j = 0; j < live; j++) {
			struct slot *s = &w[i].slots[j];
			if (!s->p)
				continue;
			size_t off = bad_mark(s->p, s->size, s->size, s->key);
			if (off != SIZE_MAX) {
				ok = wl_fail("thread %d: live object %p (%zu "
					     "bytes) corrupted at offset %zu",
					     i, s->p, s->size, off);
				break;
			}
			free(s->p);
			frees++;
		}
	}
	if (ok && allocs != frees)
		ok = wl_fail("%llu objects allocated, %llu freed", allocs,
			     frees);
	for (int i = 0; i < c.threads; i++)
		free(w[i].slots);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
