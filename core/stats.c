/*
 * core/stats.c — options (one table, SPANLAB_<NAME> environment variables) and
 * statistics in the spirit of Go's runtime.MemStats. See malloc.c for the overview.
 *
 * The fast paths count into their own thread's cache with plain (relaxed) stores; a
 * reader sums every live cache, plus what exited threads and the uncached path left.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

sl_options sl_opt = {
#define SL_OPTION_DEFAULT(field, env, def, desc) .field = (def),
	SL_OPTIONS(SL_OPTION_DEFAULT)
#undef SL_OPTION_DEFAULT
};

static long sl_option_parse(const char *env, const char *v, long def)
{
	if (!strcmp(env, "STATS")) {
		if (!strcmp(v, "json"))
			return SL_STATS_JSON;
		if (!strcmp(v, "text"))
			return 1;
	}
	char *end;
	long x = strtol(v, &end, 10);
	if (end == v || *end || x < 0) {
		char msg[160];
		int n = snprintf(msg, sizeof msg, "spanlab: ignoring SPANLAB_%s=%s (not a valid value)\n", env, v);
		ssize_t w = write(2, msg, (size_t)n);
		(void)w;
		return def;
	}
	return x;
}

/* A duplicate of stderr taken at start-up, so the exit report survives programs that
 * close stderr in their own atexit handlers (coreutils do). */
static int sl_stats_fd = -1;

/* Called once during initialisation; getenv does not allocate. */
void sl_options_read(void)
{
	const char *v;
#define SL_OPTION_READ(field, env, def, desc)                                                  \
	if ((v = getenv("SPANLAB_" env)) && *v)                                               \
		sl_opt.field = sl_option_parse(env, v, (def));
	SL_OPTIONS(SL_OPTION_READ)
#undef SL_OPTION_READ
	if (sl_opt.stats)
		sl_stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

_Static_assert(SL_NUMA_MAX_NODES <= SPANLAB_MAX_NODES, "public stats hold every mheap");

/* Serialises readers (the per-class sums below are static); taken before any engine
 * lock, and around fork like them. */
static pthread_mutex_t sl_stats_lock = PTHREAD_MUTEX_INITIALIZER;

void sl_stats_prefork(void) { pthread_mutex_lock(&sl_stats_lock); }
void sl_stats_postfork_parent(void) { pthread_mutex_unlock(&sl_stats_lock); }
void sl_stats_postfork_child(void) { pthread_mutex_init(&sl_stats_lock, NULL); }

void spanlab_stats_get(spanlab_stats *out)
{
	sl_ensure_init();
	memset(out, 0, sizeof *out);
	static uint64_t nmalloc[SL_NUM_CLASSES], nfree[SL_NUM_CLASSES]; /* under the lock below */
	pthread_mutex_lock(&sl_stats_lock);
	sl_mcache_stats(nmalloc, nfree, &out->threads);
	uint64_t spans[SL_NUM_CLASSES] = {0}, span_free_bytes = 0, span_obj_bytes = 0;
	for (unsigned i = 0; i < sl_nheaps; i++)
		for (uint32_t c = 1; c < SL_NUM_CLASSES; c++) {
			sl_mcentral *ct = &sl_heaps[i].central[c];
#if SL_CENTRAL_LOCKFREE
			/* Lock-free span lists: counters, no walk, no lock. */
			uint64_t nspans = __atomic_load_n(&ct->nspans, __ATOMIC_RELAXED);
			int64_t sfree = (int64_t)__atomic_load_n(&ct->span_free, __ATOMIC_RELAXED);
			if (sfree < 0) /* a give_list's count lands after its spans emptied */
				sfree = 0;
			if ((uint64_t)sfree > nspans * ct->nelems)
				sfree = (int64_t)(nspans * ct->nelems);
			span_free_bytes += (uint64_t)sfree * ct->elemsize;
#else
			sl_sync_lock(&ct->lock);
			uint64_t nspans = ct->nspans;
			for (sl_span *s = ct->partial; s; s = s->next)
				span_free_bytes += sl_fe_span_free_objects(s) * ct->elemsize;
			sl_sync_unlock(&ct->lock);
#endif
			spans[c] += nspans;
			out->node[i].spans += nspans;
			span_obj_bytes += nspans * ct->nelems * (uint64_t)ct->elemsize;
		}
	uint64_t small_alloc = 0, small_objects = 0;
	out->nclasses = SL_NUM_CLASSES;
	for (uint32_t c = 1; c < SL_NUM_CLASSES; c++) {
		spanlab_class_stats *cs = &out->classes[c];
		cs->size = sl_sc_class_to_size(c);
		cs->mallocs = nmalloc[c];
		cs->frees = nfree[c];
		cs->spans = spans[c];
		cs->span_pages = sl_sc_class_to_pages(c);
		uint64_t live = nmalloc[c] >= nfree[c] ? nmalloc[c] - nfree[c] : 0;
		small_objects += live;
		small_alloc += live * cs->size;
		out->mallocs += nmalloc[c];
		out->frees += nfree[c];
	}
	pthread_mutex_unlock(&sl_stats_lock);
	out->nodes = sl_nheaps;
	for (unsigned i = 0; i < sl_nheaps; i++) {
		sl_mheap *h = &sl_heaps[i];
		spanlab_node_stats *ns = &out->node[i];
#if SL_SYNC_ENGINE_LOCKFREE
		/* The lock-free page heap keeps atomic counters: read without a lock (each
		 * is exact, their sum a moment's snapshot). */
		sl_mheap snap;
#define SL_SNAP(f) snap.f = __atomic_load_n(&h->f, __ATOMIC_RELAXED);
		SL_HEAP_COUNTERS(SL_SNAP)
#undef SL_SNAP
		h = &snap;
#else
		pthread_mutex_lock(&h->lock);
#endif
		ns->heap_sys = h->pages_sys << SL_PAGE_SHIFT;
		ns->heap_inuse = h->pages_inuse << SL_PAGE_SHIFT;
		ns->heap_idle = h->pages_free << SL_PAGE_SHIFT;
		ns->heap_released = h->pages_released << SL_PAGE_SHIFT;
		ns->large_mallocs = h->large_mallocs;
		ns->large_frees = h->large_frees;
		ns->large_alloc = h->large_bytes;
		ns->remote_frees = __atomic_load_n(&h->remote_frees, __ATOMIC_RELAXED);
		out->heap_sys += h->pages_sys << SL_PAGE_SHIFT;
		out->heap_inuse += h->pages_inuse << SL_PAGE_SHIFT;
		out->heap_idle += h->pages_free << SL_PAGE_SHIFT;
		out->heap_released += h->pages_released << SL_PAGE_SHIFT;
		out->large_mallocs += h->large_mallocs;
		out->large_frees += h->large_frees;
		out->large_alloc += h->large_bytes;
		out->scavenged += h->scavenged_bytes;
		out->scavenge_runs += h->scavenge_runs;
		out->unmapped += h->unmapped_bytes;
#if !SL_SYNC_ENGINE_LOCKFREE
		pthread_mutex_unlock(&h->lock);
#endif
	}
	out->mallocs += out->large_mallocs;
	out->frees += out->large_frees;
	out->heap_alloc = small_alloc + out->large_alloc;
	out->heap_objects = small_objects + (out->large_mallocs - out->large_frees);
	/* Objects carved from spans but neither held by the program nor back in a span:
	 * thread caches and full batches. Spans still hold their own free objects. */
	uint64_t held = small_alloc + span_free_bytes;
	out->cached_bytes = span_obj_bytes > held ? span_obj_bytes - held : 0;
	out->metadata_sys = sl_meta_sys_bytes();
	out->heap_reserved = sl_sys_reserved_bytes();
	out->sys = out->heap_sys + out->metadata_sys;
	sl_fe_stats(out); /* the front end's own figures */
}

void spanlab_stats_print(FILE *out, int json)
{
	spanlab_stats st;
	spanlab_stats_get(&st);
	/* One table of the scalar fields, used by both formats. */
#define SL_STATS_SCALARS(X)                                                                   \
	X(sys) X(heap_sys) X(heap_alloc) X(heap_inuse) X(heap_idle) X(heap_released)           \
	X(heap_objects) X(mallocs) X(frees) X(large_mallocs) X(large_frees) X(large_alloc)      \
	X(cached_bytes) X(metadata_sys) X(scavenged) X(scavenge_runs) X(threads)               \
	X(bitmap_refills) X(remote_merged) X(tiny_allocs) X(tiny_objects) X(tiny_blocks)       \
	X(tiny_saved) X(heap_reserved) X(unmapped)
#define SL_NODE_STATS_FIELDS(X)                                                               \
	X(heap_sys) X(heap_inuse) X(heap_idle) X(heap_released) X(spans) X(large_mallocs)      \
	X(large_frees) X(large_alloc) X(remote_frees)
	if (json) {
		fprintf(out, "{\"variant\":\"%s\"", spanlab_variant());
#define SL_STATS_JSON_FIELD(f) fprintf(out, ",\"" #f "\":%" PRIu64, st.f);
		SL_STATS_SCALARS(SL_STATS_JSON_FIELD)
		fprintf(out, ",\"classes\":[");
		for (uint64_t c = 1; c < st.nclasses; c++) {
			const spanlab_class_stats *cs = &st.classes[c];
			fprintf(out, "%s{\"class\":%" PRIu64 ",\"size\":%" PRIu64 ",\"mallocs\":%" PRIu64
				     ",\"frees\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"span_pages\":%" PRIu64 "}",
				c > 1 ? "," : "", c, cs->size, cs->mallocs, cs->frees, cs->spans, cs->span_pages);
		}
		fprintf(out, "],\"nodes\":%" PRIu64 ",\"node\":[", st.nodes);
		for (uint64_t i = 0; i < st.nodes; i++) {
			const spanlab_node_stats *ns = &st.node[i];
			fprintf(out, "%s{\"node\":%" PRIu64, i ? "," : "", i);
#define SL_NODE_JSON_FIELD(f) fprintf(out, ",\"" #f "\":%" PRIu64, ns->f);
			SL_NODE_STATS_FIELDS(SL_NODE_JSON_FIELD)
			fprintf(out, "}");
		}
		fprintf(out, "]}\n");
	} else {
		fprintf(out, "spanlab stats (variant %s)\n", spanlab_variant());
#define SL_STATS_TEXT_FIELD(f) fprintf(out, "  %-14s %20" PRIu64 "\n", #f, st.f);
		SL_STATS_SCALARS(SL_STATS_TEXT_FIELD)
		fprintf(out, "  %5s %8s %14s %14s %10s %6s\n", "class", "size", "mallocs", "frees", "spans", "pages");
		for (uint64_t c = 1; c < st.nclasses; c++) {
			const spanlab_class_stats *cs = &st.classes[c];
			if (!cs->mallocs && !cs->spans)
				continue;
			fprintf(out, "  %5" PRIu64 " %8" PRIu64 " %14" PRIu64 " %14" PRIu64 " %10" PRIu64 " %6" PRIu64 "\n", c,
				cs->size, cs->mallocs, cs->frees, cs->spans, cs->span_pages);
		}
		fprintf(out, "  nodes %" PRIu64 "\n  %4s", st.nodes, "node");
#define SL_NODE_TEXT_HEAD(f) fprintf(out, " %14s", #f);
		SL_NODE_STATS_FIELDS(SL_NODE_TEXT_HEAD)
		fprintf(out, "\n");
		for (uint64_t i = 0; i < st.nodes; i++) {
			const spanlab_node_stats *ns = &st.node[i];
			fprintf(out, "  %4" PRIu64, i);
#define SL_NODE_TEXT_FIELD(f) fprintf(out, " %14" PRIu64, ns->f);
			SL_NODE_STATS_FIELDS(SL_NODE_TEXT_FIELD)
			fprintf(out, "\n");
		}
	}
	fflush(out);
}

/* SPANLAB_STATS=1|text|json: print to stderr when the program exits. */
__attribute__((destructor)) static void sl_stats_at_exit(void)
{
	if (!sl_initialized() || !sl_opt.stats || sl_stats_fd < 0)
		return;
	FILE *out = fdopen(sl_stats_fd, "w");
	if (out) {
		spanlab_stats_print(out, sl_opt.stats == SL_STATS_JSON);
		fclose(out);
	}
}
