/*
 * sl-replay - replay an allocation trace (trace_format.h) under any allocator.
 *
 * usage: sl-replay FILE [--spin-limit SECONDS]
 *
 * Loading (not timed): the file is read into memory from mmap, checked record by
 * record (a malformed or truncated file is an error naming the byte offset, exit
 * status 2), and put in time order. Addresses become object numbers: walking
 * the records in time order, an allocation starts a new object at its address
 * and a free or realloc ends the object then at that address; frees of addresses
 * never seen allocated are dropped and counted. The peak of live requested bytes
 * is computed in the same walk. Each recorded thread gets its list of operations
 * in its own order. All of this memory comes from mmap, not from the allocator
 * being measured.
 *
 * Replaying (timed): one thread per recorded thread, started together. An
 * allocation calls the same function with the same size (and alignment), writes
 * the object's first and last byte, and publishes its address in the object's
 * slot; a free or realloc of an object waits until its slot is published (it may
 * come from another thread) and checks the two bytes before the call. Objects the
 * program never freed stay allocated.
 *
 * Output: one JSON line like the workload programs' (bench/README.md), with
 * "calls" (operations replayed), "peak_live_bytes", "objects", "dropped_frees";
 * ops = calls. Exit status 0, or 1 if a check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace_format.h"

#define MAX_THREADS 4096

struct op {
	uint8_t kind;		/* enum sl_trace_op */
	uint8_t align_log2;
	uint32_t obj;		/* object allocated (or freed, for SL_OP_FREE) */
	uint32_t old;		/* realloc: object passed in, or UINT32_MAX */
	uint64_t size;
};

struct object {
	_Atomic(unsigned char *) ptr;
	uint64_t size;
};

struct thread {
	struct op *ops;
	size_t n;
	pthread_t tid;
	bool ok;
};

static const char *path;
static struct object *objects;
static struct thread *threads;
static uint32_t nthreads;
static atomic_int go;
static double spin_limit = 30.0;

static void *map(size_t bytes)
{
	if (bytes == 0)
		bytes = 1;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "sl-replay: out of memory (%zu bytes)\n", bytes);
		exit(2);
	}
	return p;
}

static _Noreturn void bad(uint64_t offset, const char *what)
{
	fprintf(stderr, "sl-replay: %s: byte offset %" PRIu64 ": %s\n", path, offset, what);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- address -> object table (open addressing, mmap'd) ----------------- */

static uint64_t *tkeys;
static uint32_t *tvals;
static size_t tmask;

static size_t slot_of(uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 20) & tmask;
	while (tkeys[i] && tkeys[i] != key)
		i = (i + 1) & tmask;
	return i;
}

/* Remove key at slot i (backward-shift deletion keeps probe chains intact). */
static void table_remove(size_t i)
{
	size_t j = i;
	for (;;) {
		j = (j + 1) & tmask;
		if (!tkeys[j])
			break;
		size_t k = (size_t)((tkeys[j] * 0x9e3779b97f4a7c15ULL) >> 20) & tmask;
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			tkeys[i] = tkeys[j];
			tvals[i] = tvals[j];
			i = j;
		}
	}
	tkeys[i] = 0;
}

/* ---- loading ------------------------------------------------------------ */

static const struct sl_trace_record *recs;
static size_t nrecs;

static int by_time(const void *a, const void *b)
{
	const struct sl_trace_record *x = &recs[*(const uint32_t *)a];
	const struct sl_trace_record *y = &recs[*(const uint32_t *)b];
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	/* Same nanosecond: a free before an allocation (the address may be reused). */
	int fx = x->op == SL_OP_FREE, fy = y->op == SL_OP_FREE;
	if (fx != fy)
		return fx ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Merge sort of the index array by time (no allocation: tmp is mmap'd). */
static void sort_idx(uint32_t *idx, uint32_t *tmp, size_t n)
{
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = by_time(&idx[j], &idx[i]) < 0 ? idx[j++] : idx[i++];
			while (i < mid)
				tmp[k++] = idx[i++];
			while (j < hi)
				tmp[k++] = idx[j++];
		}
		memcpy(idx, tmp, n * sizeof *idx);
	}
}

static uint64_t calls, nobjects, dropped, peak_live;

static void load(void)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sl-replay: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	struct stat st;
	fstat(fd, &st);
	size_t len = (size_t)st.st_size;
	if (len < SL_TRACE_HEADER_SIZE)
		bad(len, "file ends inside the 32-byte header (truncated, or not a trace)");
	const unsigned char *base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "sl-replay: cannot map %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
	struct sl_trace_header h;
	memcpy(&h, base, sizeof h);
	if (memcmp(h.magic, SL_TRACE_MAGIC, sizeof SL_TRACE_MAGIC) != 0)
		bad(0, "no SLTRACE magic: not a spanlab allocation trace (gzip'd? decompress it)");
	if (h.version != SL_TRACE_VERSION)
		bad(8, "unsupported trace version");
	if (h.header_size != SL_TRACE_HEADER_SIZE || h.record_size != SL_TRACE_RECORD_SIZE)
		bad(12, "unexpected header or record size");
	size_t body = len - SL_TRACE_HEADER_SIZE;
	if (body % SL_TRACE_RECORD_SIZE)
		bad(SL_TRACE_HEADER_SIZE + body / SL_TRACE_RECORD_SIZE * SL_TRACE_RECORD_SIZE,
		    "file ends inside a record (truncated)");
	nrecs = body / SL_TRACE_RECORD_SIZE;
	if (nrecs >= UINT32_MAX / 2)
		bad(SL_TRACE_HEADER_SIZE, "too many records");
	recs = (const struct sl_trace_record *)(base + SL_TRACE_HEADER_SIZE);

	uint32_t *per_thread = map(MAX_THREADS * sizeof *per_thread);
	for (size_t i = 0; i < nrecs; i++) {
		const struct sl_trace_record *r = &recs[i];
		uint64_t off = SL_TRACE_HEADER_SIZE + (uint64_t)i * SL_TRACE_RECORD_SIZE;
		if (r->op < SL_OP_MALLOC || r->op > SL_OP_LAST)
			bad(off, "unknown operation");
		if (r->zero != 0)
			bad(off + 2, "reserved field is not zero");
		if (r->thread >= MAX_THREADS)
			bad(off + 4, "thread number too large (at most 4096 threads)");
		if (r->align_log2 > 30)
			bad(off + 1, "alignment too large");
		if (r->op != SL_OP_FREE && r->size > ((uint64_t)1 << 40))
			bad(off + 16, "size too large (over 1 TiB)");
		if (r->op != SL_OP_REALLOC && r->old_ptr != 0)
			bad(off + 32, "old address set on an operation that is not realloc");
		if (r->thread >= nthreads)
			nthreads = r->thread + 1;
		per_thread[r->thread]++;
	}

	uint32_t *idx = map(nrecs * sizeof *idx), *tmp = map(nrecs * sizeof *tmp);
	for (size_t i = 0; i < nrecs; i++)
		idx[i] = (uint32_t)i;
	sort_idx(idx, tmp, nrecs);

	size_t cap = 16;
	while (cap < 2 * nrecs + 16)
		cap *= 2;
	tkeys = map(cap * sizeof *tkeys);
	tvals = map(cap * sizeof *tvals);
	tmask = cap - 1;
	objects = map((nrecs + 1) * sizeof *objects);
	threads = map((nthreads ? nthreads : 1) * sizeof *threads);
	for (uint32_t t = 0; t < nthreads; t++) {
		threads[t].ops = map(per_thread[t] * sizeof(struct op));
		threads[t].ok = true;
	}
	uint64_t live = 0;
	for (size_t k = 0; k < nrecs; k++) {
		const struct sl_trace_record *r = &recs[idx[k]];
		struct thread *th = &threads[r->thread];
		struct op o = { r->op, r->align_log2, 0, UINT32_MAX, r->size };
		if (r->op == SL_OP_FREE || r->op == SL_OP_REALLOC) {
			uint64_t addr = r->op == SL_OP_FREE ? r->ptr : r->old_ptr;
			if (addr) {
				size_t s = slot_of(addr);
				if (!tkeys[s]) {
					dropped++;	/* allocated before the recording started */
					if (r->op == SL_OP_FREE)
						continue;
				} else {
					uint32_t id = tvals[s];
					table_remove(s);
					live -= objects[id].size;
					if (r->op == SL_OP_FREE)
						o.obj = id;
					else
						o.old = id;
				}
			}
			if (r->op == SL_OP_FREE) {
				th->ops[th->n++] = o;
				calls++;
				continue;
			}
			if (!r->ptr) {		/* realloc(p, 0) freed p, or failed */
				if (o.old == UINT32_MAX)
					continue;
				o.kind = SL_OP_FREE;
				o.obj = o.old;
				o.old = UINT32_MAX;
				th->ops[th->n++] = o;
				calls++;
				continue;
			}
		} else if (!r->ptr) {
			continue;	/* a failed allocation */
		}
		uint32_t id = (uint32_t)nobjects++;
		objects[id].size = r->size;
		o.obj = id;
		size_t s = slot_of(r->ptr);
		if (!tkeys[s])
			tkeys[s] = r->ptr;
		else
			live -= objects[tvals[s]].size;	/* freed without a record */
		tvals[s] = id;
		live += r->size;
		if (live > peak_live)
			peak_live = live;
		th->ops[th->n++] = o;
		calls++;
	}
}

/* ---- replaying ---------------------------------------------------------- */

static inline unsigned char tag_of(uint32_t id)
{
	return (unsigned char)(id * 131u + 7u);
}

static void touch(unsigned char *p, uint64_t size, uint32_t id)
{
	if (size) {
		p[0] = tag_of(id);
		p[size - 1] = tag_of(id);
	}
}

static unsigned char *wait_for(struct thread *th, uint32_t id)
{
	unsigned char *p = atomic_load_explicit(&objects[id].ptr, memory_order_acquire);
	if (p)
		return p;
	double deadline = now_s() + spin_limit;
	for (unsigned spins = 0;; spins++) {
		p = atomic_load_explicit(&objects[id].ptr, memory_order_acquire);
		if (p)
			return p;
		if (spins > 64)
			sched_yield();
		if ((spins & 1023) == 0 && now_s() > deadline) {
			fprintf(stderr, "sl-replay: waited %.0f s for object %u\n", spin_limit, id);
			th->ok = false;
			return NULL;
		}
	}
}

static bool intact(const unsigned char *p, uint64_t size, uint32_t id)
{
	return !size || (p[0] == tag_of(id) && p[size - 1] == tag_of(id));
}

static void *run_thread(void *arg)
{
	struct thread *th = arg;
	while (!atomic_load_explicit(&go, memory_order_acquire))
		sched_yield();
	for (size_t i = 0; i < th->n && th->ok; i++) {
		const struct op *o = &th->ops[i];
		size_t align = o->align_log2 ? (size_t)1 << o->align_log2 : 0;
		unsigned char *p = NULL;
		switch (o->kind) {
		case SL_OP_FREE: {
			unsigned char *q = wait_for(th, o->obj);
			if (!q)
				break;
			if (!intact(q, objects[o->obj].size, o->obj)) {
				fprintf(stderr, "sl-replay: object %u damaged before its free\n", o->obj);
				th->ok = false;
			}
			free(q);
			continue;
		}
		case SL_OP_MALLOC: p = malloc(o->size); break;
		case SL_OP_CALLOC: p = calloc(1, o->size); break;
		case SL_OP_REALLOC: {
			unsigned char *q = NULL;
			if (o->old != UINT32_MAX) {
				q = wait_for(th, o->old);
				if (!q)
					break;
				if (!intact(q, objects[o->old].size, o->old)) {
					fprintf(stderr, "sl-replay: object %u damaged before realloc\n", o->old);
					th->ok = false;
				}
			}
			p = realloc(q, o->size);
			break;
		}
		case SL_OP_POSIX_MEMALIGN:
			if (posix_memalign((void **)&p, align, o->size) != 0)
				p = NULL;
			break;
		case SL_OP_ALIGNED_ALLOC: p = aligned_alloc(align, o->size); break;
		case SL_OP_MEMALIGN: p = memalign(align, o->size); break;
		case SL_OP_VALLOC: p = valloc(o->size); break;
		case SL_OP_PVALLOC: p = pvalloc(o->size); break;
		}
		if (!th->ok)
			break;
		if (!p && o->size) {
			fprintf(stderr, "sl-replay: allocation of %" PRIu64 " bytes failed\n", o->size);
			th->ok = false;
			break;
		}
		if (!p)
			p = malloc(1);	/* a zero-byte object still needs an address */
		touch(p, o->size, o->obj);
		atomic_store_explicit(&objects[o->obj].ptr, p, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("usage: sl-replay FILE [--spin-limit SECONDS]\n");
			return 0;
		} else if (!strcmp(argv[i], "--spin-limit") && i + 1 < argc) {
			spin_limit = atof(argv[++i]);
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "sl-replay: unknown argument %s (see --help)\n", argv[i]);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr, "usage: sl-replay FILE [--spin-limit SECONDS]\n");
		return 2;
	}
	load();
	for (uint32_t t = 0; t < nthreads; t++) {
		if (pthread_create(&threads[t].tid, NULL, run_thread, &threads[t]) != 0) {
			fprintf(stderr, "sl-replay: cannot create thread %u\n", t);
			return 1;
		}
	}
	double t0 = now_s();
	atomic_store_explicit(&go, 1, memory_order_release);
	bool ok = true;
	for (uint32_t t = 0; t < nthreads; t++) {
		pthread_join(threads[t].tid, NULL);
		ok = ok && threads[t].ok;
	}
	double secs = now_s() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"workload\":\"replay\",\"trace\":\"%s\",\"threads\":%u,\"calls\":%" PRIu64
	       ",\"objects\":%" PRIu64 ",\"dropped_frees\":%" PRIu64 ",\"peak_live_bytes\":%" PRIu64
	       ",\"ops\":%" PRIu64 ",\"seconds\":%.6f,\"ops_per_sec\":%.1f,\"peak_rss_kb\":%ld"
	       ",\"ok\":%s}\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, nthreads,
	       calls, nobjects, dropped, peak_live, calls, secs, secs > 0 ? calls / secs : 0.0,
	       ru.ru_maxrss, ok ? "true" : "false");
	return ok ? 0 : 1;
}
