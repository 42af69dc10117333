/*
 * tests/sync/engine_stress.c — the engine's central lists of one size class under
 * contention, through a variant's static library (prefixed API), once per sync policy.
 *
 * Each thread allocates objects of one size in bursts larger than a batch, stamps each
 * object, frees some itself and hands the rest to other threads through a mailbox;
 * whoever frees an object checks its stamp first and overwrites it. Even threads send
 * most of what they allocate and odd threads free most of what they receive, so the
 * former refill from and the latter flush to the mcentral all the time. Checked:
 *   - no double hand-out: an object given to two holders at once shows up with a
 *     foreign or erased stamp;
 *   - no corruption of contents while the program holds an object;
 *   - counts reconcile: objects sent == objects received, and spanlab_stats_get
 *     reports mallocs == frees for the class (none leaked, none freed twice);
 *   - nothing lost in the central lists: after spanlab_trim, the class holds no span
 *     (every object of every span came back: a batch lost by the batch stack keeps
 *     its spans alive).
 * Then fork(): while 4 threads run the same loop, the main thread forks children that
 * allocate, free and trim through the central lists (the policy's fork hooks must leave
 * them usable in the child) and exit with their verdict.
 * Usage: sl-test-sync-engine-<variant> [threads...]   (default: 2 4 8 16, then fork)
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

#define OBJ_SIZE 256	   /* one small size class (batches of 32, caches of 1024) */
#define ROUNDS_TOTAL 16000 /* bursts per run, shared out between the threads */
#define BURST 80	   /* objects per burst: more than a batch of this class */
#define MAILBOX 4096	   /* objects in flight between threads */
#define MAGIC 0x5EB1AB5EB1AB5EB1ull
#define DEAD 0xDEADDEADDEADDEADull

typedef struct {
	uint64_t magic, owner, seq, check;
	uint64_t fill[OBJ_SIZE / 8 - 4];
} stamp;
_Static_assert(sizeof(stamp) == OBJ_SIZE, "stamp fills the object");

/* The mailbox is the test's own (libc mutex): it is not what is under test. */
static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static void *box[MAILBOX];
static unsigned box_n;
static atomic_ulong sent, received;

static uint64_t checksum(const stamp *s, const void *p)
{
	return (s->owner * 0x9E3779B97F4A7C15ull) ^ s->seq ^ (uint64_t)(uintptr_t)p;
}

static void put_stamp(void *p, uint64_t owner, uint64_t seq)
{
	stamp *s = p;
	s->magic = MAGIC;
	s->owner = owner;
	s->seq = seq;
	for (size_t i = 0; i < sizeof s->fill / sizeof *s->fill; i++)
		s->fill[i] = ~seq ^ i;
	s->check = checksum(s, p);
}

static void check_and_free(void *p, const char *who)
{
	stamp *s = p;
	bool ok = s->magic == MAGIC && s->check == checksum(s, p);
	for (size_t i = 0; ok && i < sizeof s->fill / sizeof *s->fill; i++)
		ok = s->fill[i] == (~s->seq ^ i);
	if (!ok) {
		FAIL_MT("%s: object %p has a bad stamp (magic %#llx): handed out twice or corrupted", who, p,
		     (unsigned long long)s->magic);
		return; /* do not free what may be someone else's */
	}
	s->magic = DEAD;
	s->check = DEAD;
	spanlab_free(p);
}

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

typedef struct {
	unsigned idx, rounds;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *a = p;
	uint64_t rng = 0xA5A5A5A5DEADBEEFull ^ ((uint64_t)a->idx * 0x9E3779B97F4A7C15ull);
	void *mine[BURST];
	uint64_t seq = 0;
	for (unsigned r = 0; r < a->rounds && !check_failed_mt(); r++) {
		for (unsigned i = 0; i < BURST; i++) {
			mine[i] = spanlab_malloc(OBJ_SIZE);
			if (!mine[i]) {
				FAIL_MT("spanlab_malloc(%d) returned NULL", OBJ_SIZE);
				return NULL;
			}
			put_stamp(mine[i], a->idx, seq++);
		}
		/* Even threads send most of a burst to others, odd ones a few: the senders'
		 * caches keep refilling and the receivers' keep flushing, so objects keep
		 * travelling through the central lists in batches. */
		unsigned i = 0, nsend = a->idx % 2 ? BURST / 8 : BURST - BURST / 8;
		pthread_mutex_lock(&box_lock);
		for (; i < nsend && box_n < MAILBOX; i++)
			box[box_n++] = mine[i];
		pthread_mutex_unlock(&box_lock);
		atomic_fetch_add(&sent, i);
		for (unsigned j = BURST; j-- > i;)
			check_and_free(mine[j], "own free");
		/* Take what others sent: cross-thread frees. */
		void *got[BURST];
		unsigned n = 0, want = 1 + (unsigned)(next_rand(&rng) % (a->idx % 2 ? BURST : BURST / 4));
		pthread_mutex_lock(&box_lock);
		while (n < want && box_n)
			got[n++] = box[--box_n];
		pthread_mutex_unlock(&box_lock);
		atomic_fetch_add(&received, n);
		for (unsigned j = 0; j < n; j++)
			check_and_free(got[j], "cross-thread free");
	}
	return NULL;
}

static uint32_t class_of(size_t size)
{
	size_t sizes[SPANLAB_MAX_CLASSES];
	size_t n = spanlab_size_classes(sizes, SPANLAB_MAX_CLASSES);
	for (size_t i = 0; i < n; i++)
		if (sizes[i] >= size)
			return (uint32_t)i + 1;
	return 0;
}

static spanlab_stats st; /* large: not on the stack */

static int run(unsigned nthreads)
{
	uint32_t cls = class_of(OBJ_SIZE);
	spanlab_stats_get(&st);
	uint64_t m0 = st.classes[cls].mallocs, f0 = st.classes[cls].frees;
	atomic_store(&sent, 0);
	atomic_store(&received, 0);
	pthread_t *t = calloc(nthreads, sizeof *t);
	worker_arg *args = calloc(nthreads, sizeof *args);
	for (unsigned i = 0; i < nthreads; i++) {
		args[i] = (worker_arg){.idx = i, .rounds = ROUNDS_TOTAL / nthreads};
		if (pthread_create(&t[i], NULL, worker, &args[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	/* Leftovers in the mailbox are freed by this thread. */
	atomic_fetch_add(&received, box_n);
	while (box_n)
		check_and_free(box[--box_n], "final free");
	if (atomic_load(&sent) != atomic_load(&received))
		FAIL_MT("%lu objects sent, %lu received", atomic_load(&sent), atomic_load(&received));

	spanlab_trim(0);
	spanlab_stats_get(&st);
	uint64_t m = st.classes[cls].mallocs - m0, f = st.classes[cls].frees - f0;
	if (m != f || m == 0)
		FAIL_MT("class %u: %llu mallocs but %llu frees", cls, (unsigned long long)m, (unsigned long long)f);
	if (st.classes[cls].spans != 0)
		FAIL_MT("class %u still holds %llu span(s) after every object was freed and trimmed: objects lost",
		     cls, (unsigned long long)st.classes[cls].spans);
	printf("sync engine (%s): %2u threads, %llu objects, %lu cross-thread: %s\n", spanlab_variant(),
	       nthreads, (unsigned long long)m, atomic_load(&sent), check_failed_mt() ? "FAILED" : "ok");
	free(t);
	free(args);
	return check_failed_mt() != 0;
}

/* In a child of fork(): allocate and free through the central lists, then trim. */
static int child_work(void)
{
	enum { N = 4000 };
	static void *objs[N];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			if (!(objs[i] = spanlab_malloc(OBJ_SIZE)))
				return 1;
			put_stamp(objs[i], 999, (uint64_t)i);
		}
		for (int i = 0; i < N; i++)
			check_and_free(objs[i], "child free");
	}
	spanlab_trim(0);
	return check_failed_mt() != 0;
}

static int run_fork(void)
{
	enum { THREADS = 4, CHILDREN = 12 };
	pthread_t t[THREADS];
	worker_arg args[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		args[i] = (worker_arg){.idx = i, .rounds = ROUNDS_TOTAL / THREADS};
		if (pthread_create(&t[i], NULL, worker, &args[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	int bad = 0;
	for (int k = 0; k < CHILDREN; k++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			bad++;
			break;
		}
		if (pid == 0)
			_exit(child_work());
		int status = 0;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			FAIL_MT("child %d of fork() failed (status %#x)", k, status);
			bad++;
		}
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	while (box_n)
		check_and_free(box[--box_n], "final free");
	printf("sync engine (%s): fork with %d threads running, %d children: %s\n", spanlab_variant(), THREADS,
	       CHILDREN, bad || check_failed_mt() ? "FAILED" : "ok");
	return bad || check_failed_mt();
}

int main(int argc, char **argv)
{
	static const unsigned defaults[] = {2, 4, 8, 16};
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc && !rc; i++)
			rc |= run((unsigned)strtoul(argv[i], NULL, 10));
	} else {
		for (size_t i = 0; i < sizeof defaults / sizeof *defaults && !rc; i++)
			rc |= run(defaults[i]);
		if (!rc)
			rc |= run_fork();
	}
	return rc;
}
