/*
 * fork: a process whose threads are busy allocating and freeing forks repeatedly, from
 * the main thread and from another thread. Each child checks objects inherited from
 * the parent, allocates and frees a lot (small and large, contents checked, also from
 * a new thread), and exits 0; the parent checks every child's status. A heap left
 * locked or inconsistent by fork shows up as a child that hangs (alarm: SIGALRM),
 * crashes, or fails a check.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"

#define BUSY_THREADS 4
#define FORKS 24
#define SLOTS 64

static test_api api;
static atomic_int stop;

/* Every 61st byte and the last one hold key + offset. */
static void fill(unsigned char *p, size_t n, unsigned key)
{
	for (size_t i = 0; i < n; i += 61)
		p[i] = (unsigned char)(key + i);
	if (n)
		p[n - 1] = (unsigned char)(key + n - 1);
}

/* Checks the first n bytes of an object filled with fill(p, full, key). */
static void verify_prefix(const unsigned char *p, size_t n, size_t full, unsigned key)
{
	for (size_t i = 0; i < n; i += 61)
		CHECK_MSG(p[i] == (unsigned char)(key + i), "object %p (%zu of %zu bytes) byte %zu corrupt", (const void *)p,
			  n, full, i);
	if (n == full && n)
		CHECK_MSG(p[n - 1] == (unsigned char)(key + n - 1), "object %p (%zu bytes) last byte corrupt",
			  (const void *)p, n);
}

static void verify(const unsigned char *p, size_t n, unsigned key) { verify_prefix(p, n, n, key); }

static size_t rsize(uint64_t *rng)
{
	uint64_t r = test_rand(rng);
	return r % 10 == 0 ? 32769 + (r >> 8) % 300000 : 1 + (r >> 8) % 2048;
}

/* Random alloc/free work over `slots` slots, checking contents; frees everything. */
static void churn(uint64_t seed, int rounds, bool forever)
{
	unsigned char *p[SLOTS] = {0};
	size_t sz[SLOTS] = {0};
	unsigned key[SLOTS] = {0};
	uint64_t rng = seed | 1;
	for (int r = 0; forever ? !atomic_load_explicit(&stop, memory_order_relaxed) : r < rounds; r++) {
		unsigned i = (unsigned)(test_rand(&rng) % SLOTS);
		if (p[i]) {
			verify(p[i], sz[i], key[i]);
			if (test_rand(&rng) % 4 == 0) {
				size_t ns = rsize(&rng);
				unsigned char *q = A(realloc)(p[i], ns);
				CHECK(q != NULL);
				verify_prefix(q, ns < sz[i] ? ns : sz[i], sz[i], key[i]);
				A(free)(q);
			} else {
				A(free)(p[i]);
			}
		}
		sz[i] = rsize(&rng);
		key[i] = (unsigned)r;
		p[i] = A(malloc)(sz[i]);
		CHECK(p[i] != NULL);
		fill(p[i], sz[i], key[i]);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (p[i]) {
			verify(p[i], sz[i], key[i]);
			A(free)(p[i]);
		}
}

static void *busy(void *arg)
{
	churn((uint64_t)(uintptr_t)arg * 7919, 0, true);
	return NULL;
}

static void *child_thread(void *arg)
{
	churn((uint64_t)(uintptr_t)arg, 3000, false);
	return NULL;
}

/* Objects allocated before the fork, checked and freed by the child. */
#define INHERIT 16
static unsigned char *inherited[INHERIT];
static size_t inherited_size[INHERIT];

static void child_main(int n)
{
	alarm(20);
	for (int i = 0; i < INHERIT; i++) {
		verify(inherited[i], inherited_size[i], (unsigned)i);
		A(free)(inherited[i]);
	}
	static spanlab_stats st;
	api.stats_get(&st);
	CHECK_MSG(st.threads == 1, "child: %" PRIu64 " thread caches, expected only the forking thread's", st.threads);
	churn((uint64_t)n * 31 + 5, 5000, false);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)n) == 0);
	churn((uint64_t)n * 17 + 3, 2000, false);
	CHECK(pthread_join(t, NULL) == 0);
	api.trim(0);
	_exit(0);
}

static void fork_and_wait(int n)
{
	for (int i = 0; i < INHERIT; i++) {
		inherited_size[i] = i % 4 == 0 ? 50000 + (size_t)i : 16 + (size_t)i * 40;
		inherited[i] = A(malloc)(inherited_size[i]);
		CHECK(inherited[i] != NULL);
		fill(inherited[i], inherited_size[i], (unsigned)i);
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_main(n);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		CHECK_MSG(0, "fork %d: child killed by signal %d (%s)", n, WTERMSIG(status),
			  WTERMSIG(status) == SIGALRM ? "hung: heap locked after fork?" : strsignal(WTERMSIG(status)));
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %d: child exit status %d", n,
		  WEXITSTATUS(status));
	for (int i = 0; i < INHERIT; i++) {
		verify(inherited[i], inherited_size[i], (unsigned)i); /* the parent's copy is untouched */
		A(free)(inherited[i]);
	}
}

static void *forking_thread(void *arg)
{
	(void)arg;
	for (int n = 0; n < FORKS / 3; n++) {
		churn((uint64_t)n + 99, 200, false);
		fork_and_wait(1000 + n);
	}
	return NULL;
}

int main(void)
{
	api = test_api_get();
	pthread_t busy_th[BUSY_THREADS];
	for (uintptr_t i = 0; i < BUSY_THREADS; i++)
		CHECK(pthread_create(&busy_th[i], NULL, busy, (void *)(i + 1)) == 0);
	for (int n = 0; n < FORKS; n++) {
		churn((uint64_t)n + 1, 100, false);
		fork_and_wait(n);
	}
	pthread_t ft;
	CHECK(pthread_create(&ft, NULL, forking_thread, NULL) == 0);
	CHECK(pthread_join(ft, NULL) == 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < BUSY_THREADS; i++)
		CHECK(pthread_join(busy_th[i], NULL) == 0);
	printf("fork (%s): %d forks, all children exited 0\n", api.variant(), FORKS + FORKS / 3);
	return 0;
}
