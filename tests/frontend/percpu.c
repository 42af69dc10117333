/*
 * tests/frontend/percpu.c — tests of front end `percpu`, linked with a percpu variant's
 * static library (prefixed API) and compiled with its policy definitions (it sees
 * core/internal.h). Usage: percpu <case> [--threads N] [--ops N] [--seconds S]
 *
 *   migrate    threads move themselves between the allowed CPUs with sched_setaffinity
 *              while allocating and freeing (and freeing each other's objects): every
 *              object keeps its content until freed; mallocs and frees reconcile per
 *              class in the statistics; CPU caches saw refills; after spanlab_trim
 *              every CPU cache, the transfer caches and the heap are empty.
 *   oversub    64 threads (by default) on the machine's CPUs in tight malloc/free
 *              loops, each object filled with its owner's token and checked before its
 *              free: a thread preempted or migrated inside a critical section that was
 *              not restarted hands out an object twice, which shows as a token of
 *              another thread (reported as "doubled object", exit 3).
 *   control    oversub until an object is doubled, at most --seconds: for a build of
 *              the critical sections without rseq protection (SPANLAB_PERCPU_UNPROTECTED);
 *              exits 0 once the test caught it (a doubled object, or the engine's own
 *              double-free abort in a child process), 1 if it never did.
 *   resize     (run with a small SPANLAB_PERCPU_CPU_KB and SPANLAB_PERCPU_CLASS_MAX, so
 *              that classes grow and take room from each other all the time) threads,
 *              more than the CPUs, moving between them, allocate bursts of up to 700
 *              objects of one size and free them: every object keeps its owner's token
 *              until freed (a resize that lost or exposed a slot shows as a doubled
 *              object, exit 3); classes grew and took room from others; every CPU's
 *              capacities stay within their regions and sum to its budget figure;
 *              mallocs and frees reconcile; a trim empties everything and brings
 *              every class back to its start capacity.
 *   control-resize  resize until an object is doubled, as control (same control
 *              library): the resize test can fail.
 *   fallback   run under GLIBC_TUNABLES=glibc.pthread.rseq=0: percpu_active is 0, the
 *              freelist thread caches served (no CPU cache exists), and migrate's checks
 *              hold.
 *   fork       the parent fills CPU caches and forks while another thread allocates;
 *              the child allocates and frees from the inherited caches: distinct
 *              objects, intact contents, consistent statistics.
 *   exit       threads free objects into CPU caches and exit; the objects stay cached
 *              (percpu_cached) with no thread owning them, the main thread gets them
 *              back, and a trim empties everything.
 *   transfer   the transfer cache of one class: partial batches in and out, last in
 *              first out, bounded by SPANLAB_TRANSFER_BATCHES batches (a full cache
 *              takes only what fits), transfer_cached counts its bytes; with
 *              SPANLAB_TRANSFER_BATCHES=0 it takes nothing.
 * Every case but fallback and control exits 77 (skipped) when rseq is not available.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "../../core/internal.h"
#include "../../core/frontend/percpu/transfer.h"

static int nthreads = 8;
static long nops = 200000;
static double seconds = 20;
static int cpus[CPU_SETSIZE], ncpus;
static spanlab_stats st0, st1;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void pin(int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	CHECK_MSG(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity(%d)", cpu);
}

static void unpin(void)
{
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int i = 0; i < ncpus; i++)
		CPU_SET(cpus[i], &all);
	CHECK_MSG(sched_setaffinity(0, sizeof all, &all) == 0, "sched_setaffinity(all)");
}

static const size_t sizes[] = {8, 16, 24, 48, 64, 100, 256, 1000, 3000, 20000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Fills / checks an object's words with a token (the last word of an 8-byte-tail
 * object included). Returns the first token found that differs, or 0. */
static void fill(void *p, size_t size, uint64_t token)
{
	uint64_t *w = p;
	for (size_t i = 0; i < size / 8; i++)
		w[i] = token;
}

static uint64_t check(void *p, size_t size, uint64_t token)
{
	uint64_t *w = p;
	for (size_t i = 0; i < size / 8; i++)
		if (w[i] != token)
			return w[i] ? w[i] : 1;
	return 0;
}

/* ---- migrate ---- */

typedef struct obj {
	void *p;
	size_t size;
	uint64_t token;
} obj;

#define WINDOW 64
static _Atomic long handed; /* -1: the producer is done */

static void *migrate_thread(void *arg)
{
	long id = (long)arg;
	uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
	obj win[WINDOW] = {0};
	for (long i = 0; i < nops; i++) {
		if (i % 500 == 0)
			pin(cpus[rnd(&seed) % (uint64_t)ncpus]);
		obj *o = &win[rnd(&seed) % WINDOW];
		if (o->p) {
			uint64_t bad = check(o->p, o->size, o->token);
			CHECK_MSG(!bad, "thread %ld: object %p (%zu B) holds 0x%llx, not its token", id, o->p, o->size,
			      (unsigned long long)bad);
			spanlab_free(o->p);
		}
		o->size = sizes[rnd(&seed) % NSIZES];
		o->p = spanlab_malloc(o->size);
		CHECK_MSG(o->p != NULL, "malloc(%zu)", o->size);
		o->token = ((uint64_t)id << 40) | (uint64_t)i | 1;
		fill(o->p, o->size, o->token);
	}
	for (int k = 0; k < WINDOW; k++)
		if (win[k].p) {
			CHECK_MSG(!check(win[k].p, win[k].size, win[k].token), "thread %ld: final check", id);
			spanlab_free(win[k].p);
		}
	return NULL;
}

/* Cross-thread frees: a producer thread's objects freed by the migrating consumers. */
#define XQ 4096
static void *xq[XQ];
static _Atomic uint32_t xq_head, xq_tail;

static void *cross_producer(void *arg)
{
	(void)arg;
	uint64_t seed = 12345;
	for (long i = 0; i < nops / 4; i++) {
		while (atomic_load(&xq_head) - atomic_load(&xq_tail) >= XQ)
			sched_yield();
		size_t size = sizes[rnd(&seed) % 6];
		void *p = spanlab_malloc(size);
		CHECK_MSG(p != NULL, "malloc");
		fill(p, size, size | 0xABC0000000000000ull);
		xq[atomic_load(&xq_head) % XQ] = p;
		atomic_fetch_add(&xq_head, 1);
	}
	return NULL;
}

static void *cross_consumer(void *arg)
{
	long id = (long)arg;
	uint64_t seed = 777 + (uint64_t)id;
	for (;;) {
		uint32_t t = atomic_load(&xq_tail);
		if (t == atomic_load(&xq_head)) {
			if (atomic_load(&handed) < 0)
				break;
			sched_yield();
			continue;
		}
		void *p = xq[t % XQ];
		if (!atomic_compare_exchange_strong(&xq_tail, &t, t + 1))
			continue;
		if (t % 300 == 0)
			pin(cpus[rnd(&seed) % (uint64_t)ncpus]);
		uint64_t tok = *(uint64_t *)p;
		CHECK_MSG((tok >> 52) == 0xABC, "cross: object %p holds 0x%llx", p, (unsigned long long)tok);
		CHECK_MSG(!check(p, tok & 0xFFFFF, tok), "cross: object %p damaged", p);
		spanlab_free(p);
	}
	return NULL;
}

static void reconcile(const char *what)
{
	spanlab_stats_get(&st1);
	for (uint64_t c = 1; c < st1.nclasses; c++)
		CHECK_MSG(st1.classes[c].mallocs - st1.classes[c].frees == st0.classes[c].mallocs - st0.classes[c].frees,
		      "%s: class %llu: %llu mallocs, %llu frees (before: %llu, %llu)", what, (unsigned long long)c,
		      (unsigned long long)st1.classes[c].mallocs, (unsigned long long)st1.classes[c].frees,
		      (unsigned long long)st0.classes[c].mallocs, (unsigned long long)st0.classes[c].frees);
	CHECK_MSG(st1.heap_objects == st0.heap_objects, "%s: heap_objects %llu, before %llu", what,
	      (unsigned long long)st1.heap_objects, (unsigned long long)st0.heap_objects);
	CHECK_MSG(st1.threads == 1, "%s: %llu live thread caches", what, (unsigned long long)st1.threads);
}

static void trimmed_empty(const char *what)
{
	spanlab_trim(0);
	spanlab_stats_get(&st1);
	CHECK_MSG(st1.percpu_cached == 0, "%s: %llu B still in CPU caches after trim", what,
	      (unsigned long long)st1.percpu_cached);
	CHECK_MSG(st1.transfer_cached == 0, "%s: %llu B in transfer caches", what, (unsigned long long)st1.transfer_cached);
	CHECK_MSG(st1.cached_bytes == 0, "%s: cached_bytes %llu", what, (unsigned long long)st1.cached_bytes);
	CHECK_MSG(st1.heap_inuse == 0, "%s: heap_inuse %llu", what, (unsigned long long)st1.heap_inuse);
}

static void run_migrate(bool expect_fallback)
{
	spanlab_stats_get(&st0);
	pthread_t th[64], prod, cons[4];
	for (long i = 0; i < nthreads; i++)
		CHECK_MSG(pthread_create(&th[i], NULL, migrate_thread, (void *)i) == 0, "pthread_create");
	CHECK_MSG(pthread_create(&prod, NULL, cross_producer, NULL) == 0, "pthread_create");
	for (long i = 0; i < 4; i++)
		CHECK_MSG(pthread_create(&cons[i], NULL, cross_consumer, (void *)i) == 0, "pthread_create");
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_join(prod, NULL);
	atomic_store(&handed, -1);
	for (int i = 0; i < 4; i++)
		pthread_join(cons[i], NULL);
	reconcile("migrate");
	if (expect_fallback) {
		CHECK_MSG(st1.percpu_active == 0, "percpu_active is 1 with rseq off");
		CHECK_MSG(st1.percpu_cpus == 0 && st1.percpu_underflows == 0, "CPU caches used with rseq off");
		CHECK_MSG(!sl_pcpu_rseq, "the engine chose CPU caches");
	} else {
		CHECK_MSG(st1.percpu_active == 1, "percpu_active is 0");
		CHECK_MSG(st1.percpu_underflows > 0 && st1.percpu_overflows > 0, "no refill or no flush happened");
		CHECK_MSG(st1.percpu_cpus == (uint64_t)ncpus, "%llu CPU caches for %d CPUs the threads ran on",
		      (unsigned long long)st1.percpu_cpus, ncpus);
	}
	trimmed_empty("migrate");
	printf("migrate (%s, %d threads on %d CPUs%s): %ld ops each, %llu underflows, %llu overflows\n",
	       spanlab_variant(), nthreads, ncpus, expect_fallback ? ", rseq off: freelist fallback" : "", nops,
	       (unsigned long long)st1.percpu_underflows, (unsigned long long)st1.percpu_overflows);
}

/* ---- oversub and control ---- */

static _Atomic int stop;
static _Atomic long doubled;

static void *oversub_thread(void *arg)
{
	long id = (long)arg;
	uint64_t seed = 0x2545F4914F6CDD1Dull * (uint64_t)(id + 1);
	enum { W = 16 };
	void *p[W] = {0};
	size_t sz[W] = {0};
	uint64_t tok[W] = {0};
	for (long i = 0; (nops < 0 || i < nops) && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		int k = (int)(rnd(&seed) % W);
		if (p[k]) {
			uint64_t bad = check(p[k], sz[k], tok[k]);
			if (bad) {
				fprintf(stderr, "doubled object: thread %ld's %p (%zu B) holds token 0x%llx of thread %llu\n",
					id, p[k], sz[k], (unsigned long long)bad, (unsigned long long)(bad >> 40));
				atomic_fetch_add(&doubled, 1);
				atomic_store(&stop, 1);
				return NULL;
			}
			spanlab_free(p[k]);
		}
		sz[k] = 16 << (rnd(&seed) % 3); /* 16, 32, 64: few classes, many collisions */
		p[k] = spanlab_malloc(sz[k]);
		if (!p[k])
			FAIL_NOW("malloc");
		tok[k] = ((uint64_t)id << 40) | ((uint64_t)i & 0xFFFFFFFFFFull) | 1;
		fill(p[k], sz[k], tok[k]);
	}
	for (int k = 0; k < W; k++)
		if (p[k])
			spanlab_free(p[k]);
	return NULL;
}

/* nthreads threads run fn (argument: the thread's index) until they finish their
 * operations, or (nops < 0) for `seconds` or until one sets `stop`. */
static void run_threads(void *(*fn)(void *))
{
	pthread_t th[1024];
	for (long i = 0; i < nthreads; i++)
		CHECK_MSG(pthread_create(&th[i], NULL, fn, (void *)i) == 0, "pthread_create");
	if (nops < 0) {
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			usleep(10000);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while (!atomic_load(&stop) && (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
		atomic_store(&stop, 1);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
}

static void run_oversub(void)
{
	spanlab_stats_get(&st0);
	run_threads(oversub_thread);
	if (atomic_load(&doubled))
		exit(3);
	reconcile("oversub");
	CHECK_MSG(st1.percpu_active == 1, "percpu_active is 0");
	trimmed_empty("oversub");
	printf("oversub (%s): %d threads on %d CPUs, %ld malloc/free pairs each, no object handed out twice\n",
	       spanlab_variant(), nthreads, ncpus, nops);
}

/* A control: the stress test `what` (threads running fn) in a child process (a broken
 * allocator may crash it), until an object is doubled; `name` labels the output. */
static void run_control(const char *name, const char *what, void *(*fn)(void *))
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK_MSG(pid >= 0, "fork");
	if (pid == 0) {
		nops = -1;
		run_threads(fn);
		_exit(atomic_load(&doubled) ? 3 : 0);
	}
	int st;
	CHECK_MSG(waitpid(pid, &st, 0) == pid, "waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		printf("%s (%s): the %s test caught a doubled object\n", name, spanlab_variant(), what);
		exit(0);
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) {
		printf("%s (%s): the engine aborted on a double free (an object handed out twice)\n", name,
		       spanlab_variant());
		exit(0);
	}
	fprintf(stderr, "%s (%s): nothing caught in %.0f s (status 0x%x)\n", name, spanlab_variant(), seconds, st);
	exit(1);
}

/* ---- resize ---- */

static const size_t rsizes[] = {16, 32, 48, 64, 128, 256, 512};
#define NRSIZES (sizeof rsizes / sizeof rsizes[0])

static void *resize_thread(void *arg)
{
	long id = (long)arg;
	uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 7);
	enum { B = 700 };
	static _Thread_local void *p[B];
	static _Thread_local uint64_t tok[B];
	long rounds = nops < 0 ? -1 : nops / 100;
	for (long r = 0; (rounds < 0 || r < rounds) && !atomic_load_explicit(&stop, memory_order_relaxed); r++) {
		if (r % 8 == 0)
			pin(cpus[rnd(&seed) % (uint64_t)ncpus]);
		size_t size = rsizes[rnd(&seed) % NRSIZES];
		int n = 1 + (int)(rnd(&seed) % B);
		for (int i = 0; i < n; i++) {
			p[i] = spanlab_malloc(size);
			if (!p[i])
				FAIL_NOW("malloc(%zu)", size);
			tok[i] = ((uint64_t)id << 40) | (((uint64_t)r << 10 | (uint64_t)i) & 0xFFFFFFFFFull) | 1;
			fill(p[i], size, tok[i]);
		}
		for (int i = 0; i < n; i++) {
			int k = (r & 1) ? n - 1 - i : i; /* freed in either order */
			uint64_t bad = check(p[k], size, tok[k]);
			if (bad) {
				fprintf(stderr, "doubled object: thread %ld's %p (%zu B) holds token 0x%llx of thread %llu\n",
					id, p[k], size, (unsigned long long)bad, (unsigned long long)(bad >> 40));
				atomic_fetch_add(&doubled, 1);
				atomic_store(&stop, 1);
				return NULL;
			}
			spanlab_free(p[k]);
		}
	}
	return NULL;
}

static void run_resize(void)
{
	spanlab_stats_get(&st0);
	uint64_t grows0 = __atomic_load_n(&sl_pcpu_grows, __ATOMIC_RELAXED);
	uint64_t steals0 = __atomic_load_n(&sl_pcpu_steals, __ATOMIC_RELAXED);
	run_threads(resize_thread);
	if (atomic_load(&doubled))
		exit(3);
	uint64_t grows = __atomic_load_n(&sl_pcpu_grows, __ATOMIC_RELAXED) - grows0;
	uint64_t steals = __atomic_load_n(&sl_pcpu_steals, __ATOMIC_RELAXED) - steals0;
	CHECK_MSG(sl_pcpu_capacity_ok(), "a CPU's capacities are out of bounds or do not match its budget");
	reconcile("resize");
	CHECK_MSG(grows > 0, "no class grew (is SPANLAB_PERCPU_CPU_KB above the start capacities?)");
	CHECK_MSG(steals > 0, "no class took room from another (is SPANLAB_PERCPU_CPU_KB small?)");
	trimmed_empty("resize");
	CHECK_MSG(sl_pcpu_capacity_ok(), "capacities after the trim");
	printf("resize (%s): %d threads on %d CPUs, %ld rounds each: %llu grows, %llu of them taking room from "
	       "other classes; no object lost or handed out twice\n",
	       spanlab_variant(), nthreads, ncpus, nops / 100, (unsigned long long)grows, (unsigned long long)steals);
}

/* ---- fork ---- */

static void *fork_busy(void *arg)
{
	(void)arg;
	uint64_t seed = 99;
	while (!atomic_load(&stop)) {
		void *v[32];
		for (int i = 0; i < 32; i++)
			v[i] = spanlab_malloc(sizes[rnd(&seed) % NSIZES]);
		for (int i = 0; i < 32; i++)
			spanlab_free(v[i]);
	}
	return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

static void run_fork(void)
{
	enum { N = 20000 };
	static void *v[N];
	/* Fill every CPU's cache with freed objects. */
	for (int c = 0; c < ncpus; c++) {
		pin(cpus[c]);
		for (int i = 0; i < 2000; i++)
			v[i] = spanlab_malloc(64);
		for (int i = 0; i < 2000; i++)
			spanlab_free(v[i]);
	}
	unpin();
	pthread_t busy;
	CHECK_MSG(pthread_create(&busy, NULL, fork_busy, NULL) == 0, "pthread_create");
	for (int round = 0; round < 20; round++) {
		fflush(stdout);
		pid_t pid = fork();
		CHECK_MSG(pid >= 0, "fork");
		if (pid == 0) {
			spanlab_stats_get(&st0);
			for (int c = 0; c < N; c++) {
				if (c % 5000 == 0)
					pin(cpus[(c / 5000) % ncpus]);
				v[c] = spanlab_malloc(64);
				CHECK_MSG(v[c] != NULL, "child malloc");
				fill(v[c], 64, (uint64_t)c | 1);
			}
			for (int c = 0; c < N; c++)
				CHECK_MSG(!check(v[c], 64, (uint64_t)c | 1), "child: object %d damaged", c);
			qsort(v, N, sizeof v[0], cmp_ptr);
			for (int c = 1; c < N; c++)
				CHECK_MSG(v[c] != v[c - 1], "child: %p handed out twice", v[c]);
			for (int c = 0; c < N; c++)
				spanlab_free(v[c]);
			spanlab_stats_get(&st1);
			for (uint64_t k = 1; k < st1.nclasses; k++)
				CHECK_MSG(st1.classes[k].mallocs - st0.classes[k].mallocs == st1.classes[k].frees - st0.classes[k].frees,
				      "child: class %llu counts", (unsigned long long)k);
			CHECK_MSG(st1.percpu_active == 1, "child: percpu_active 0");
			_exit(0);
		}
		int st;
		CHECK_MSG(waitpid(pid, &st, 0) == pid, "waitpid");
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status 0x%x)", round, st);
	}
	atomic_store(&stop, 1);
	pthread_join(busy, NULL);
	printf("fork (%s): 20 children allocated %d objects each from inherited CPU caches\n", spanlab_variant(), N);
}

/* ---- exit ---- */

enum { EXIT_N = 500 };
static void *exited_objs[64][EXIT_N];

static void *exit_thread(void *arg)
{
	long id = (long)arg;
	pin(cpus[id % ncpus]);
	for (int i = 0; i < EXIT_N; i++)
		exited_objs[id][i] = spanlab_malloc(48);
	for (int i = 0; i < EXIT_N; i++)
		spanlab_free(exited_objs[id][i]);
	return NULL;
}

static void run_exit(void)
{
	spanlab_stats_get(&st0);
	int n = ncpus < 8 ? 8 : ncpus;
	n = n > 64 ? 64 : n;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		CHECK_MSG(pthread_create(&t, NULL, exit_thread, (void *)i) == 0, "pthread_create");
		pthread_join(t, NULL);
	}
	reconcile("exit");
	CHECK_MSG(st1.percpu_cached >= 48 * 10, "only %llu B cached after the threads exited",
	      (unsigned long long)st1.percpu_cached);
	/* The main thread, on each CPU, gets back objects the exited threads freed there. */
	uint64_t reused = 0;
	for (int c = 0; c < ncpus; c++) {
		pin(cpus[c]);
		void *p = spanlab_malloc(48);
		bool found = false;
		for (int t = 0; t < n; t++)
			for (int i = 0; i < EXIT_N; i++)
				found |= exited_objs[t][i] == p;
		reused += found;
		spanlab_free(p);
	}
	unpin();
	CHECK_MSG(reused == (uint64_t)ncpus, "%llu of %d allocations reused an exited thread's object",
	      (unsigned long long)reused, ncpus);
	trimmed_empty("exit");
	printf("exit (%s): %d threads exited leaving their frees in CPU caches; reused and trimmed\n",
	       spanlab_variant(), n);
}

/* ---- transfer ---- */

static void run_transfer(void)
{
	const uint32_t cls = sl_sc_size_to_class(256);
	sl_mheap *h = &sl_heaps[0];
	const uint32_t batch = sl_classes[cls].batch, cap = SPANLAB_TRANSFER_BATCHES * batch;
	enum { MAX = 8192 };
	static void *objs[MAX], *back[MAX];
	CHECK_MSG(cap + 8 <= MAX, "capacity %u", cap);
	/* Objects of the class straight from its spans, not through any cache. */
	uint32_t n = 0;
	while (n < cap + 8) {
		void *head;
		uint32_t got = sl_mcentral_take(&h->central[cls], cap + 8 - n, &head);
		CHECK_MSG(got > 0, "mcentral_take");
		for (; head; head = sl_link_get(head))
			objs[n++] = head;
	}
	CHECK_MSG(sl_transfer_remove(h, cls, back, MAX) == 0, "the class's transfer cache is not empty at first");
	spanlab_stats_get(&st0);
	/* A partial batch, then the rest up to capacity and beyond. */
	uint32_t k = sl_transfer_insert(h, cls, objs, 3);
	CHECK_MSG(k == (SPANLAB_TRANSFER_BATCHES ? 3u : 0u), "partial insert took %u of 3", k);
	uint32_t total = k;
	total += sl_transfer_insert(h, cls, objs + 3, cap + 5);
	CHECK_MSG(total == cap, "%u objects held, capacity %u", total, cap);
	spanlab_stats_get(&st1);
	CHECK_MSG(st1.transfer_cached - st0.transfer_cached == (uint64_t)cap * sl_classes[cls].size,
	      "transfer_cached grew by %llu", (unsigned long long)(st1.transfer_cached - st0.transfer_cached));
	if (cap) {
		/* The insert of cap + 5 kept its last cap - 3 objects; they come out last first. */
		k = sl_transfer_remove(h, cls, back, 2);
		CHECK_MSG(k == 2 && back[1] == objs[cap + 7] && back[0] == objs[cap + 6], "LIFO order");
		k = sl_transfer_remove(h, cls, back, MAX);
		CHECK_MSG(k == cap - 2, "removed %u of %u", k, cap - 2);
		CHECK_MSG(back[0] == objs[0] && back[2] == objs[2] && back[3] == objs[11], "order of the rest");
	}
	CHECK_MSG(sl_transfer_remove(h, cls, back, MAX) == 0, "empty");
	for (uint32_t i = 0; i < n; i++)
		sl_link_set(objs[i], i + 1 < n ? objs[i + 1] : NULL);
	sl_mcentral_give_list(&h->central[cls], objs[0]);
	printf("transfer (%s): class %u, capacity %u objects (%u batches of %u)\n", spanlab_variant(), cls, cap,
	       (unsigned)SPANLAB_TRANSFER_BATCHES, batch);
}

int main(int argc, char **argv)
{
	CHECK_MSG(argc >= 2, "usage: percpu migrate|oversub|control|resize|control-resize|fallback|fork|exit|transfer "
			     "[--threads N] [--ops N] [--seconds S]");
	const char *c = argv[1];
	if (!strcmp(c, "oversub") || !strcmp(c, "control"))
		nthreads = 64;
	if (!strcmp(c, "resize") || !strcmp(c, "control-resize"))
		nthreads = 16;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			nthreads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops"))
			nops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else
			FAIL_NOW("unknown option %s", argv[i]);
	}
	CHECK_MSG(nthreads >= 1 && nthreads <= 1024, "--threads");
	cpu_set_t set;
	CHECK_MSG(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			cpus[ncpus++] = i;
	spanlab_free(spanlab_malloc(16)); /* the main thread's cache: set-up is done */
	if (strcmp(c, "fallback") && strcmp(c, "control") && strcmp(c, "control-resize") && !sl_pcpu_rseq) {
		printf("rseq is not available: skipped\n");
		return 77;
	}
	if (!strcmp(c, "migrate"))
		run_migrate(false);
	else if (!strcmp(c, "fallback"))
		run_migrate(true);
	else if (!strcmp(c, "oversub"))
		run_oversub();
	else if (!strcmp(c, "control"))
		run_control("control", "oversubscription", oversub_thread);
	else if (!strcmp(c, "resize"))
		run_resize();
	else if (!strcmp(c, "control-resize"))
		run_control("control-resize", "resize", resize_thread);
	else if (!strcmp(c, "fork"))
		run_fork();
	else if (!strcmp(c, "exit"))
		run_exit();
	else if (!strcmp(c, "transfer"))
		run_transfer();
	else
		FAIL_NOW("unknown case %s", c);
	return 0;
}
