/*
 * sl-bintree - binary trees: allocation-heavy code with a real program's
 * shape, as in Hans Boehm's GCBench and the Computer Language Benchmarks
 * Game "binary-trees" test.
 *
 * The main thread first builds one long-lived tree of depth --max-depth
 * that stays alive for the whole run.  Each thread then makes passes until
 * --duration has passed: a pass builds and frees one "stretch" tree of depth
 * max + 1, then, for depth d = --min-depth, min + 2, ..., max, builds, walks
 * and frees 2^(max - d + min) trees of depth d.  Every node is a separate
 * 16-byte malloc (two child pointers) and each tree is freed right after its
 * walk, so the program is a stream of small same-size allocations with
 * short, nested lifetimes next to a large live set: the fast path of the
 * small size classes, cache refill and flush, and the cost of the walk over
 * the allocator's placement of nodes (locality).
 *
 * The stop flag is polled between trees, so a run may end inside a pass.
 * One op = one node allocated (and freed).
 *
 * Verification: every walk counts the nodes of its tree, never going below
 * depth d, and the count must be 2^(d+1) - 1 with every leaf at the bottom
 * (a node handed out twice breaks the shape); the long-lived tree is
 * counted again at the end.  A corrupt tree is reported and leaked.
 */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>

static long long max_depth = 16, min_depth = 4;

struct node {
	struct node *left, *right;
};

static void destroy(struct node *n, int depth);

/* Build a complete tree of the given depth; NULL if malloc failed (the
 * partial tree is freed). */
static struct node *build(int depth)
{
	struct node *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	n->left = n->right = NULL;
	if (depth > 0) {
		n->left = build(depth - 1);
		n->right = n->left ? build(depth - 1) : NULL;
		if (!n->right) {
			destroy(n->left, depth - 1);
			free(n);
			return NULL;
		}
	}
	return n;
}

static void destroy(struct node *n, int depth)
{
	if (!n)
		return;
	if (depth > 0) {
		destroy(n->left, depth - 1);
		destroy(n->right, depth - 1);
	}
	free(n);
}

/* Count the nodes of a tree that should be complete with the given depth;
 * 0 if it is not (a leaf above the bottom, children at the bottom).  The
 * walk never goes deeper than `depth`, so even a cycle made by a block
 * handed out twice ends in a clean failure. */
static unsigned long long count(const struct node *n, int depth)
{
	if (depth == 0)
		return !n->left && !n->right;
	if (!n->left || !n->right)
		return 0;
	unsigned long long l = count(n->left, depth - 1);
	unsigned long long r = l ? count(n->right, depth - 1) : 0;
	return l && r ? 1 + l + r : 0;
}

static unsigned long long tree_size(int depth)
{
	return (2ULL << depth) - 1;
}

struct worker {
	struct wl_worker wl;
};

/* Build, count and free one tree; false on failure. */
static bool one_tree(struct worker *w, int depth)
{
	struct node *t = build(depth);
	if (!t)
		return wl_fail("malloc returned NULL");
	unsigned long long n = count(t, depth);
	if (n != tree_size(depth))	/* corrupt: leak it, do not walk it */
		return wl_fail("thread %d: tree of depth %d has %llu nodes, "
			       "expected %llu", w->wl.id, depth, n,
			       tree_size(depth));
	destroy(t, depth);
	w->wl.ops += n;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int max = (int)max_depth, min = (int)min_depth;
	for (;;) {
		if (!one_tree(w, max + 1))
			goto fail;
		for (int d = min; d <= max; d += 2) {
			long long iters = 1LL << (max - d + min);
			for (long long i = 0; i < iters; i++) {
				if (wl_should_stop())
					return NULL;
				if (!one_tree(w, d))
					goto fail;
			}
		}
		if (wl_should_stop())
			return NULL;
	}
fail:
	w->wl.ok = false;
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("max-depth", &max_depth, 1, 26,
			   "depth of the long-lived and the largest trees"),
		WL_OPT_INT("min-depth", &min_depth, 0, 26,
			   "depth of the smallest (most numerous) trees"),
	};
	wl_parse(argc, argv, "bintree",
		 "Binary trees (GCBench / Benchmarks Game): build, walk and "
		 "free many trees of\n16-byte nodes next to one long-lived "
		 "tree.", &c, opts, sizeof opts / sizeof opts[0]);
	if (min_depth > max_depth) {
		fprintf(stderr, "sl-bintree: --min-depth exceeds "
			"--max-depth\n");
		return 2;
	}

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	struct node *long_lived = build((int)max_depth);
	if (!long_lived)
		wl_out_of_memory();

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	unsigned long long ops = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	unsigned long long n = count(long_lived, (int)max_depth);
	if (n != tree_size((int)max_depth))
		ok = wl_fail("long-lived tree has %llu nodes, expected %llu",
			     n, tree_size((int)max_depth));
	else
		destroy(long_lived, (int)max_depth);
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
