/*
 * tests/sync/lf_stress.c — the lock-free engine structures under oversubscription (2 to
 * 64 threads on however few cores), through a variant's test-hooks library
 * (spanlab-<V>-testhooks: the prefixed API plus core/testhooks.h's switches).
 *
 *   pageheap   large objects (2 to 140 pages: one-word and multi-word claims, some
 *              page-aligned to 64 KiB) and realloc growing / shrinking them in place:
 *              the page heap's claims and releases, span descriptors from fixalloc;
 *   central    256-byte objects allocated in bursts, stamped, exchanged between threads
 *              and freed, with each thread holding up to 3000 at a time, so that the
 *              full-batch stack overflows and objects go back to their spans: the span
 *              anchors and the partial stacks;
 *   obj8       the same with 8-byte objects: under the list front ends their free
 *              state is a byte per object in the span (SL_OBJ8 in core/internal.h),
 *              set and cleared by any thread, neighbours' bytes sharing words.
 * Checked, every run:
 *   - no double hand-out: every object (every page of a large one) carries its
 *     holder's stamp, verified before it is freed; a block handed to two holders at
 *     once shows a foreign stamp;
 *   - nothing lost: once every thread freed everything and the main thread trimmed,
 *     the statistics must show no object and no page still in use (large: heap_inuse
 *     back to its value before the run; small: the class holds no span).
 * `--broken heap|anchor|fixalloc|obj8` turns one atomic step of the structure into a
 * racy load and store (or, for fixalloc, a pop that compares the head pointer alone:
 * ABA-unsafe), with a yield in the window: the same checks must then fail (ctest:
 * WILL_FAIL; obj8 writes each byte as a racy read-modify-write of its whole word, and a
 * neighbour's lost update makes a correct free abort as a double free, or lets a
 * double hand-out through).
 * Usage: sl-test-lf-stress-<V> pageheap|central|obj8 [--broken M] [threads...]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "spanlab.h"

void spanlab_test_set_broken(int mode); /* test-hooks builds only */

#define PAGE 8192
#define HOLD 3000

static atomic_uint_fast64_t ops;
static int mode_central;		/* central or obj8: small objects of small_size bytes */
static size_t small_size = 256;

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

typedef struct {
	unsigned char *p;
	size_t size;
	uint64_t tag;
} block;

/* One word per page (large) or per object (small): tag ^ address; an 8-byte object's
 * is its only word. */
static void stamp(block *b)
{
	if (b->size == 8) {
		*(uint64_t *)b->p = b->tag ^ (uint64_t)(uintptr_t)b->p;
		return;
	}
	size_t step = mode_central ? small_size : PAGE;
	for (size_t off = 0; off < b->size; off += step)
		*(uint64_t *)(b->p + off + 8) = b->tag ^ (uint64_t)(uintptr_t)(b->p + off);
	*(uint64_t *)(b->p + b->size - 8) = ~b->tag;
}

static bool verify(const block *b)
{
	if (b->size == 8)
		return *(uint64_t *)b->p == (b->tag ^ (uint64_t)(uintptr_t)b->p);
	size_t step = mode_central ? small_size : PAGE;
	for (size_t off = 0; off < b->size; off += step)
		if (*(uint64_t *)(b->p + off + 8) != (b->tag ^ (uint64_t)(uintptr_t)(b->p + off)))
			return false;
	return *(uint64_t *)(b->p + b->size - 8) == ~b->tag;
}

static void release(block *b, const char *who)
{
	if (!verify(b)) {
		FAIL_MT("%s: block %p (%zu bytes) lost its stamp: handed out twice", who, (void *)b->p, b->size);
		return; /* it may be someone else's now */
	}
	memset(b->p + (b->size == 8 ? 0 : 8), 0, 8);
	spanlab_free(b->p);
	b->p = NULL;
}

/* Mailbox for cross-thread frees (the test's own lock: not what is under test). */
#define BOX 8192
static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static block box[BOX];
static unsigned box_n;

typedef struct {
	unsigned idx, rounds;
} worker_arg;

static void *worker(void *arg)
{
	worker_arg *a = arg;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (a->idx + 1) | 1;
	unsigned cap = mode_central ? HOLD : 24;
	block *held = calloc(cap, sizeof *held);
	uint64_t seq = 0;
	for (unsigned r = 0; r < a->rounds && !check_failed_mt(); r++) {
		unsigned i = (unsigned)(next_rand(&rng) % cap);
		block *b = &held[i];
		if (b->p) {
			uint64_t x = next_rand(&rng);
			if (!mode_central && x % 4 == 0) {
				/* Resize in place or by copy; the stamp moves with it. */
				size_t nsize = (1 + (size_t)(x >> 8) % 140) * PAGE - 64;
				if (!verify(b)) {
					FAIL_MT("before realloc: block %p lost its stamp", (void *)b->p);
					break;
				}
				unsigned char *q = spanlab_realloc(b->p, nsize);
				if (!q) {
					FAIL_MT("realloc(%zu) failed", nsize);
					break;
				}
				b->p = q;
				b->size = nsize;
				b->tag = ((uint64_t)a->idx << 48) | seq++;
				stamp(b);
			} else if (x % 3 == 0) {
				pthread_mutex_lock(&box_lock);
				if (box_n < BOX) {
					box[box_n++] = *b;
					b->p = NULL;
				}
				pthread_mutex_unlock(&box_lock);
				if (b->p)
					release(b, "own free");
			} else {
				release(b, "own free");
			}
		} else {
			uint64_t x = next_rand(&rng);
			if (mode_central) {
				b->size = small_size;
				b->p = spanlab_malloc(small_size);
			} else {
				b->size = (2 + (size_t)(x >> 8) % 139) * PAGE - 64;
				if (x % 5 == 0) {
					void *q = NULL;
					b->p = spanlab_posix_memalign(&q, 65536, b->size) == 0 ? q : NULL;
				} else {
					b->p = spanlab_malloc(b->size);
				}
			}
			if (!b->p) {
				FAIL_MT("allocation of %zu bytes failed", b->size);
				break;
			}
			b->tag = ((uint64_t)a->idx << 48) | seq++;
			stamp(b);
		}
		/* Cross-thread frees. */
		if (r % 8 == 0) {
			block got[16];
			unsigned n = 0;
			pthread_mutex_lock(&box_lock);
			while (n < 16 && box_n)
				got[n++] = box[--box_n];
			pthread_mutex_unlock(&box_lock);
			for (unsigned j = 0; j < n; j++)
				release(&got[j], "cross-thread free");
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	for (unsigned i = 0; i < cap; i++)
		if (held[i].p)
			release(&held[i], "final free");
	free(held);
	return NULL;
}

static int small_class(void)
{
	size_t sizes[256];
	size_t n = spanlab_size_classes(sizes, 256);
	for (size_t i = 0; i < n; i++)
		if (sizes[i] == small_size)
			return (int)i + 1;
	return -1;
}

static void run(unsigned nthreads, unsigned total_rounds)
{
	static spanlab_stats st0, st1;
	spanlab_trim(0);
	spanlab_stats_get(&st0);
	pthread_t th[64];
	worker_arg args[64];
	for (unsigned i = 0; i < nthreads; i++) {
		args[i] = (worker_arg){i, total_rounds / nthreads};
		if (pthread_create(&th[i], NULL, worker, &args[i]) != 0) {
			FAIL_MT("pthread_create failed");
			return;
		}
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	while (box_n)
		release(&box[--box_n], "mailbox drain");
	spanlab_trim(0);
	spanlab_stats_get(&st1);
	if (check_failed_mt())
		return;
	if (mode_central) {
		int cls = small_class();
		if (cls > 0 && st1.classes[cls].spans != 0)
			FAIL_MT("%u threads: after every object came back, class %d still holds %llu spans (objects lost)",
			     nthreads, cls, (unsigned long long)st1.classes[cls].spans);
		if (cls > 0 && st1.classes[cls].mallocs != st1.classes[cls].frees)
			FAIL_MT("%u threads: class %d mallocs %llu != frees %llu", nthreads, cls,
			     (unsigned long long)st1.classes[cls].mallocs, (unsigned long long)st1.classes[cls].frees);
	} else {
		if (st1.large_mallocs - st0.large_mallocs != st1.large_frees - st0.large_frees)
			FAIL_MT("%u threads: large mallocs %llu != frees %llu", nthreads,
			     (unsigned long long)(st1.large_mallocs - st0.large_mallocs),
			     (unsigned long long)(st1.large_frees - st0.large_frees));
		if (st1.large_alloc != st0.large_alloc)
			FAIL_MT("%u threads: %llu large bytes still in use after every free (pages lost)", nthreads,
			     (unsigned long long)(st1.large_alloc - st0.large_alloc));
	}
	printf("lf-stress %s: %u threads, %llu operations: %s\n",
	       mode_central ? (small_size == 8 ? "obj8" : "central") : "pageheap", nthreads,
	       (unsigned long long)atomic_load(&ops), check_failed_mt() ? "FAILED" : "ok");
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "pageheap") && strcmp(argv[1], "central") && strcmp(argv[1], "obj8"))) {
		fprintf(stderr, "usage: %s pageheap|central|obj8 [--broken heap|anchor|fixalloc|obj8] [threads...]\n",
			argv[0]);
		return 2;
	}
	mode_central = strcmp(argv[1], "pageheap") != 0;
	if (!strcmp(argv[1], "obj8"))
		small_size = 8;
	int a = 2;
	if (argc > 3 && !strcmp(argv[2], "--broken")) {
		int m = !strcmp(argv[3], "heap")       ? 1
			: !strcmp(argv[3], "anchor")   ? 2
			: !strcmp(argv[3], "fixalloc") ? 3
			: !strcmp(argv[3], "obj8")     ? 4
						       : 0;
		if (!m) {
			fprintf(stderr, "unknown broken mode %s\n", argv[3]);
			return 2;
		}
		a = 4;
		/* The broken structure may also corrupt the heap badly enough for spanlab to
		 * abort, or crash: run in a child and report any failure as exit status 1. */
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			spanlab_test_set_broken(m); /* and run below */
		} else {
			int status = 0;
			waitpid(pid, &status, 0);
			if (WIFSIGNALED(status))
				fprintf(stderr, "lf-stress: the run died of signal %d (%s)\n", WTERMSIG(status),
					strsignal(WTERMSIG(status)));
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
		}
	}
	unsigned default_threads[] = {2, 4, 8, 16, 64};
	unsigned total = mode_central ? 200000 : 12000;
	if (a < argc)
		for (; a < argc && !check_failed_mt(); a++)
			run((unsigned)atoi(argv[a]), total);
	else
		for (unsigned i = 0; i < 5 && !check_failed_mt(); i++)
			run(default_threads[i], total);
	return check_failed_mt() ? 1 : 0;
}
