/*
 * sl-strmap - a string hash map: many objects under 16 bytes.
 *
 * Models the code that dominates allocation counts in real programs (symbol
 * tables, word counts, JSON objects, caches keyed by name): short heap
 * strings and small nodes with mixed lifetimes.  Each thread owns a chained
 * hash map and, until --duration has passed, repeatedly
 *
 *   - picks a random key id in [0, --keys) and builds its key as a fresh
 *     heap string: the id in base 36, a '.', and id % 8 filler letters
 *     (2 to 12 characters, a 3- to 13-byte malloc, with the default
 *     --keys; never more than 15 bytes),
 *   - looks it up; if absent, inserts a 24-byte node that takes the string
 *     over; if present, frees the temporary string and either bumps the
 *     node's counter (3 in 4) or deletes the node and its key (1 in 4),
 *   - doubles the bucket array (calloc new, rehash, free old) whenever the
 *     map holds more entries than buckets.
 *
 * About 80 % of the keys stay present at equilibrium, so the map holds a
 * large live set of tiny objects while a steady stream of them is born and
 * dies: the tiny size classes, per-object overhead (headers cost a lot at
 * 8 bytes) and locality of the map walks.  Threads do not share maps, so
 * all frees are local.
 *
 * --tags N (default 0) gives every node N more short strings (tags of 1 to
 * --tag-len letters, default 7: 2- to 8-byte mallocs, made from the id)
 * allocated right after the node and freed with it: a record whose small
 * string fields share its lifetime (a JSON object, say).  With tags,
 * strings under 16 bytes dominate the live set, which is what the `tiny`
 * front end is for; without, the 24-byte nodes do.
 *
 * One op = one map operation (lookup plus insert, update or delete).
 *
 * Verification: a hit compares the whole key string and the node's id; at
 * the end every node's key is rebuilt from its id and compared, and the
 * number of nodes and the sum of their counters must equal what the thread
 * tracked while it ran; with --tags every tag is rebuilt and compared too.
 */
#include "wl_common.h"

#include <stdlib.h>

static long long nkeys = 100000;
static long long ntags = 0, taglen = 7;

struct entry {
	struct entry *next;
	char *key;
	uint32_t id;
	uint32_t count;
	char *tags[];	/* --tags strings */
};

struct worker {
	struct wl_worker wl;
	struct entry **buckets;
	size_t nbuckets, size;
	unsigned long long count_sum;
};

/* Write the key of `id` into buf (at least 16 bytes); returns its length. */
static size_t key_of(uint32_t id, char *buf)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char tmp[8];
	size_t n = 0, len = 0;
	uint32_t v = id;
	do {
		tmp[n++] = digits[v % 36];
		v /= 36;
	} while (v);
	while (n)
		buf[len++] = tmp[--n];
	buf[len++] = '.';
	for (uint32_t i = 0; i < id % 8; i++)
		buf[len++] = (char)('a' + (id + i) % 26);
	buf[len] = '\0';
	return len;
}

/* Write tag j of `id` into buf (at least 16 bytes): 1 to taglen letters. */
static size_t tag_of(uint32_t id, uint32_t j, char *buf)
{
	size_t len = 1 + (id * 3 + j) % (uint32_t)taglen;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('A' + (id * 7 + j * 3 + i) % 26);
	buf[len] = '\0';
	return len;
}

static void free_entry(struct entry *e)
{
	for (long long j = 0; j < ntags; j++)
		free(e->tags[j]);
	free(e->key);
	free(e);
}

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static bool grow(struct worker *w)
{
	size_t nb = w->nbuckets * 2;
	struct entry **b = calloc(nb, sizeof *b);
	if (!b)
		return wl_fail("calloc of %zu buckets failed", nb);
	for (size_t i = 0; i < w->nbuckets; i++) {
		struct entry *e = w->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			size_t h = (size_t)(hash(e->key) & (nb - 1));
			e->next = b[h];
			b[h] = e;
		}
	}
	free(w->buckets);
	w->buckets = b;
	w->nbuckets = nb;
	return true;
}

/* One map operation on a random key; false on failure. */
static bool step(struct worker *w)
{
	uint32_t id = (uint32_t)(wl_rand(&w->wl.rng) % (uint64_t)nkeys);
	char buf[16];
	size_t len = key_of(id, buf);
	char *key = malloc(len + 1);
	if (!key)
		return wl_fail("malloc returned NULL");
	memcpy(key, buf, len + 1);

	struct entry **link = &w->buckets[hash(key) & (w->nbuckets - 1)];
	while (*link && strcmp((*link)->key, key) != 0)
		link = &(*link)->next;
	struct entry *e = *link;
	if (!e) {
		e = malloc(sizeof *e + (size_t)ntags * sizeof(char *));
		if (!e)
			return wl_fail("malloc returned NULL");
		for (uint32_t j = 0; j < (uint32_t)ntags; j++) {
			char tag[16];
			size_t n = tag_of(id, j, tag);
			if (!(e->tags[j] = malloc(n + 1)))
				return wl_fail("malloc returned NULL");
			memcpy(e->tags[j], tag, n + 1);
		}
		e->key = key;	/* the node takes the string over */
		e->id = id;
		e->count = 1;
		e->next = *link;
		*link = e;
		w->size++;
		w->count_sum++;
		if (w->size > w->nbuckets)
			return grow(w);
		return true;
	}
	free(key);
	if (e->id != id)
		return wl_fail("key %s found with id %u, expected %u", buf,
			       e->id, id);
	if (wl_rand(&w->wl.rng) % 4 == 0) {
		*link = e->next;
		w->count_sum -= e->count;
		w->size--;
		free_entry(e);
	} else {
		e->count++;
		w->count_sum++;
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	do {
		for (int i = 0; i < 256; i++) {
			if (!step(w)) {
				w->wl.ok = false;
				return NULL;
			}
		}
		w->wl.ops += 256;
	} while (!wl_should_stop());
	return NULL;
}

/* Check every entry against the tracked totals, then free the map. */
static bool check_and_free(struct worker *w)
{
	bool ok = w->wl.ok;
	size_t size = 0;
	unsigned long long sum = 0;
	char buf[16];
	for (size_t i = 0; i < w->nbuckets; i++) {
		struct entry *e = w->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			key_of(e->id, buf);
			if (ok && strcmp(buf, e->key) != 0)
				ok = wl_fail("entry %u has key '%.15s'", e->id,
					     e->key);
			for (uint32_t j = 0; ok && j < (uint32_t)ntags; j++) {
				char tag[16];
				tag_of(e->id, j, tag);
				if (strcmp(tag, e->tags[j]) != 0)
					ok = wl_fail("entry %u has tag %u '%.15s'",
						     e->id, j, e->tags[j]);
			}
			size++;
			sum += e->count;
			free_entry(e);
		}
	}
	free(w->buckets);
	if (ok && (size != w->size || sum != w->count_sum))
		ok = wl_fail("thread %d: %zu entries (tracked %zu), counter "
			     "sum %llu (tracked %llu)", w->wl.id, size, w->size,
			     sum, w->count_sum);
	return ok;
}

int main(int argc, char **argv)
{
	struct wl_common c;
	struct wl_opt opts[] = {
		WL_OPT_INT("keys", &nkeys, 1, 1 << 30,
			   "distinct keys per thread"),
		WL_OPT_INT("tags", &ntags, 0, 64,
			   "short strings per node, freed with it"),
		WL_OPT_INT("tag-len", &taglen, 1, 15,
			   "longest tag in letters (a tag is 1 to this)"),
	};
	wl_parse(argc, argv, "strmap",
		 "String hash map: short heap strings (under 16 bytes) and "
		 "small nodes,\ninserted, updated and deleted at random; one "
		 "map per thread.", &c, opts, sizeof opts / sizeof opts[0]);

	struct worker *w = wl_new_workers(c.threads, sizeof *w, c.seed);
	for (int i = 0; i < c.threads; i++) {
		w[i].nbuckets = 1024;
		w[i].buckets = calloc(w[i].nbuckets, sizeof(struct entry *));
		if (!w[i].buckets)
			wl_out_of_memory();
	}

	double seconds = wl_run_timed(&c, worker_main, w, sizeof *w);

	/* check_and_free starts from the worker's own ok, so its result
	 * already includes it; the sum is for the ops. */
	unsigned long long ops = 0;
	bool ok = wl_sum_workers(w, c.threads, sizeof *w, &ops);
	for (int i = 0; i < c.threads; i++)
		ok = check_and_free(&w[i]) && ok;
	wl_free_lines(w);
	wl_report(ops, seconds, ok, NULL);
}
