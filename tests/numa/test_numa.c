/*
 * NUMA placement tests for variants with the `node` policy. The program is
 * linked against the variant's shared library, which then is its malloc: hwloc's
 * allocations during start-up go through the engine, as under LD_PRELOAD.
 *
 *   test_numa two   The topology (HWLOC_SYNTHETIC or HWLOC_XMLFILE, set by ctest) has
 *                   two nodes of one CPU each. Threads pinned to CPU 0 and CPU 1 fill
 *                   different node heaps; frees of the other node's objects go back to
 *                   their owner (its remote_frees grows, its in-use memory drops after
 *                   a trim); a thread moved from CPU 0 to CPU 1 follows to heap 1.
 *   test_numa one   No topology override: as many heaps as the machine has NUMA nodes
 *                   (one here); threads on CPU 0 and CPU 1 share heap 0 when it is one.
 *   test_numa bind  Two synthetic nodes asserted to be this machine (HWLOC_THISSYSTEM=1,
 *                   SPANLAB_VERBOSE=1): heap 0's arenas get bound (node 0 exists), heap
 *                   1's cannot be unless the machine has a node 1: the failure is
 *                   reported once on stderr and the memory is still usable. The checks
 *                   run in a child (`bind-child`) so that all of its stderr, from before
 *                   main on, can be read.
 *
 * Exit status 77 (ctest SKIP_RETURN_CODE): the machine cannot run the test (fewer
 * than two usable CPUs).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spanlab.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"

#define NSMALL 20000	  /* objects per thread */
#define SMALL 100	  /* bytes: 20000 * 112 B = 2.1 MiB of spans */
#define NLARGE 4	  /* large objects per thread */
#define LARGE (96 << 10) /* bytes */
#define SLACK ((uint64_t)768 << 10) /* in-use noise allowed from libc, threads, caches */

static spanlab_stats st; /* large: not on a thread's stack */
static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct snap {
	uint64_t nodes, inuse[2], remote[2], large_mallocs[2], large_frees[2];
} snap;

static snap take(void)
{
	pthread_mutex_lock(&st_lock);
	spanlab_stats_get(&st);
	snap s = {.nodes = st.nodes};
	for (int i = 0; i < 2 && i < (int)st.nodes; i++) {
		s.inuse[i] = st.node[i].heap_inuse;
		s.remote[i] = st.node[i].remote_frees;
		s.large_mallocs[i] = st.node[i].large_mallocs;
		s.large_frees[i] = st.node[i].large_frees;
	}
	pthread_mutex_unlock(&st_lock);
	return s;
}

static uint64_t grew(uint64_t after, uint64_t before) { return after > before ? after - before : 0; }

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
		return -1;
	for (int i = 0; i < 1000 && sched_getcpu() != cpu; i++)
		sched_yield();
	return sched_getcpu() == cpu ? 0 : -1;
}

/* ---- Thread jobs ---- */

typedef struct job {
	int cpu;	 /* pin here first */
	int move_to;	 /* >= 0: after allocating, move there and allocate again */
	void **mine;	 /* NSMALL small objects, then NLARGE large ones, allocated here */
	void **theirs;	 /* objects of another thread to free here, or NULL */
	snap after_alloc; /* stats after this thread's allocations */
	snap after_move;
	int pinned;
} job;

static void fill(void **v)
{
	for (int i = 0; i < NSMALL; i++) {
		v[i] = malloc(SMALL);
		if (v[i])
			memset(v[i], 0x5a, SMALL);
	}
	for (int i = 0; i < NLARGE; i++) {
		v[NSMALL + i] = malloc(LARGE);
		if (v[NSMALL + i])
			memset(v[NSMALL + i], 0xa5, LARGE);
	}
}

static void drain(void **v)
{
	for (int i = 0; i < NSMALL + NLARGE; i++) {
		free(v[i]);
		v[i] = NULL;
	}
}

static void *run(void *arg)
{
	job *j = arg;
	j->pinned = pin(j->cpu) == 0; /* before this thread's first malloc */
	if (!j->pinned)
		return NULL;
	if (j->mine) {
		fill(j->mine);
		j->after_alloc = take();
	}
	if (j->move_to >= 0) {
		if (pin(j->move_to) != 0) {
			j->pinned = 0;
			return NULL;
		}
		void **more = calloc(NSMALL + NLARGE, sizeof *more);
		fill(more);
		j->after_move = take();
		drain(more);
		free(more);
	}
	if (j->theirs)
		drain(j->theirs);
	return NULL;
}

static int run_job(job *j)
{
	pthread_t t;
	if (pthread_create(&t, NULL, run, j) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	pthread_join(t, NULL);
	return j->pinned;
}

static void **vec(void) { return calloc(NSMALL + NLARGE, sizeof(void *)); }

static int two_cpus(void)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

/* ---- Modes ---- */

static void test_two(void)
{
	snap s0 = take();
	EXPECT(s0.nodes == 2, "nodes = %llu, expected 2 (topology override not honoured?)", (unsigned long long)s0.nodes);
	if (s0.nodes != 2)
		return;
	void **a = vec(), **b = vec();

	/* A on CPU 0 fills heap 0. */
	job ja = {.cpu = 0, .move_to = -1, .mine = a};
	if (!run_job(&ja))
		exit(77);
	snap s1 = ja.after_alloc;
	uint64_t want = (uint64_t)NSMALL * SMALL + (uint64_t)NLARGE * LARGE;
	EXPECT(grew(s1.inuse[0], s0.inuse[0]) >= want, "heap 0 grew by %llu < %llu",
	       (unsigned long long)grew(s1.inuse[0], s0.inuse[0]), (unsigned long long)want);
	EXPECT(grew(s1.inuse[1], s0.inuse[1]) < SLACK, "heap 1 grew by %llu while CPU 0 allocated",
	       (unsigned long long)grew(s1.inuse[1], s0.inuse[1]));
	EXPECT(s1.large_mallocs[0] - s0.large_mallocs[0] >= NLARGE, "large allocations not on heap 0");

	/* B on CPU 1 fills heap 1, then frees A's objects: they go home to heap 0. */
	job jb = {.cpu = 1, .move_to = -1, .mine = b, .theirs = a};
	if (!run_job(&jb))
		exit(77);
	snap s2 = jb.after_alloc, s3 = take();
	EXPECT(grew(s2.inuse[1], s1.inuse[1]) >= want, "heap 1 grew by %llu < %llu",
	       (unsigned long long)grew(s2.inuse[1], s1.inuse[1]), (unsigned long long)want);
	EXPECT(grew(s2.inuse[0], s1.inuse[0]) < SLACK, "heap 0 grew by %llu while CPU 1 allocated",
	       (unsigned long long)grew(s2.inuse[0], s1.inuse[0]));
	EXPECT(s3.remote[0] - s2.remote[0] >= NSMALL, "heap 0 remote_frees grew by %llu < %d",
	       (unsigned long long)(s3.remote[0] - s2.remote[0]), NSMALL);
	EXPECT(s3.remote[1] - s2.remote[1] < NSMALL / 100, "heap 1 got %llu remote frees from freeing heap 0's objects",
	       (unsigned long long)(s3.remote[1] - s2.remote[1]));
	EXPECT(s3.large_frees[0] - s2.large_frees[0] >= NLARGE, "large frees not returned to heap 0");
	spanlab_trim(0);
	snap s4 = take();
	EXPECT(s4.inuse[0] < s0.inuse[0] + SLACK, "heap 0 still holds %llu B in use after its objects came home (%llu before)",
	       (unsigned long long)s4.inuse[0], (unsigned long long)s0.inuse[0]);
	EXPECT(s4.inuse[1] >= s0.inuse[1] + want, "heap 1 lost B's live objects");

	/* B's objects are freed by this thread (either heap): everything drains. */
	drain(b);
	spanlab_trim(0);

	/* C starts on CPU 0 and moves to CPU 1: its cache follows to heap 1 within a few
	 * refills, so most of what it allocates after the move is heap 1's. */
	snap s5 = take();
	void **c = vec();
	job jc = {.cpu = 0, .move_to = 1, .mine = c};
	if (!run_job(&jc))
		exit(77);
	EXPECT(grew(jc.after_move.inuse[1], jc.after_alloc.inuse[1]) >= want / 2,
	       "after moving to CPU 1, heap 1 grew by only %llu",
	       (unsigned long long)grew(jc.after_move.inuse[1], jc.after_alloc.inuse[1]));
	(void)s5;
	drain(c);
	free(a);
	free(b);
	free(c);
}

static unsigned sys_nodes(void)
{
	DIR *d = opendir("/sys/devices/system/node");
	if (!d)
		return 1;
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "node", 4) && e->d_name[4] >= '0' && e->d_name[4] <= '9')
			n++;
	closedir(d);
	return n ? n : 1;
}

static void test_one(void)
{
	snap s0 = take();
	unsigned want = sys_nodes();
	if (want > SPANLAB_MAX_NODES)
		want = SPANLAB_MAX_NODES;
	EXPECT(s0.nodes == want, "nodes = %llu, the machine has %u", (unsigned long long)s0.nodes, want);
	if (s0.nodes != 1)
		return; /* the rest describes a one-node machine */
	void **a = vec(), **b = vec();
	job ja = {.cpu = 0, .move_to = -1, .mine = a};
	if (!run_job(&ja))
		exit(77);
	job jb = {.cpu = 1, .move_to = -1, .mine = b, .theirs = a};
	if (!run_job(&jb))
		exit(77);
	snap s1 = take();
	uint64_t want_b = (uint64_t)NSMALL * SMALL + (uint64_t)NLARGE * LARGE;
	EXPECT(grew(jb.after_alloc.inuse[0], s0.inuse[0]) >= 2 * want_b, "heap 0 did not serve both CPUs");
	EXPECT(s1.remote[0] == s0.remote[0], "remote frees with one heap: %llu",
	       (unsigned long long)(s1.remote[0] - s0.remote[0]));
	drain(b);
	free(a);
	free(b);
}

/* get_mempolicy(2) of the page holding p: mode and the lowest node of its mask. */
static int policy_of(void *p, int *node)
{
	int mode = -1;
	unsigned long mask[16] = {0};
	/* MPOL_F_ADDR (2): the policy of the mapping at p, with its node mask. */
	if (syscall(SYS_get_mempolicy, &mode, mask, 16 * 8 * sizeof(unsigned long), p, 2ul) != 0)
		return -1;
	*node = -1;
	for (int i = 0; i < 16 * 64 && *node < 0; i++)
		if (mask[i / 64] >> (i % 64) & 1)
			*node = i;
	return mode;
}

/* Runs in a child whose stderr the parent reads (see test_bind_parent). */
static void test_bind(void)
{
	snap s0 = take();
	EXPECT(s0.nodes == 2, "nodes = %llu, expected 2", (unsigned long long)s0.nodes);
	if (s0.nodes != 2)
		return;
	void **a = vec(), **b = vec();
	job ja = {.cpu = 0, .move_to = -1, .mine = a};
	job jb = {.cpu = 1, .move_to = -1, .mine = b};
	if (!run_job(&ja) || !run_job(&jb))
		exit(77);
	/* The memory of both heaps is usable: fill() wrote every byte. */
	int node;
	int mode0 = policy_of(a[0], &node);
	int node0 = node;
	int mode1 = policy_of(b[0], &node);
	int node1 = node;
	fprintf(stderr, "heap 0 object: policy %d node %d; heap 1 object: policy %d node %d\n", mode0, node0, mode1,
		node1);
	/* Heap 0: node 0 exists on every Linux machine: bound (MPOL_PREFERRED = 1 or
	 * MPOL_BIND = 2) to it. Heap 1: bound to node 1 if the machine has one, else
	 * left with the default policy (0). */
	EXPECT((mode0 == 1 || mode0 == 2) && node0 == 0, "heap 0's arena is not bound to node 0");
	if (sys_nodes() < 2)
		EXPECT(mode1 == 0, "heap 1's arena has policy %d on a machine without node 1", mode1);
	else
		EXPECT((mode1 == 1 || mode1 == 2) && node1 == 1, "heap 1's arena is not bound to node 1");
	drain(a);
	drain(b);
	free(a);
	free(b);
}

/* Runs the bind checks in a child (`bind-child`) and reads its whole stderr: on a
 * machine without node 1 the failure to bind heap 1 is reported exactly once. */
static void test_bind_parent(const char *self)
{
	FILE *log = tmpfile();
	if (!log) {
		perror("tmpfile");
		exit(1);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fileno(log), 2);
		execl(self, self, "bind-child", (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		perror("fork/waitpid");
		exit(1);
	}
	char text[16384];
	rewind(log);
	size_t n = fread(text, 1, sizeof text - 1, log);
	text[n] = 0;
	fclose(log);
	fprintf(stderr, "child's stderr:\n%s", text);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		exit(77);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
	const char *msg = "cannot bind";
	int reports = 0;
	for (const char *p = text; (p = strstr(p, msg)); p += strlen(msg))
		reports++;
	if (sys_nodes() < 2)
		EXPECT(reports == 1, "binding failure reported %d times, expected once", reports);
	else
		EXPECT(reports == 0, "binding failure reported %d times on a machine with node 1", reports);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s two|one|bind|bind-child\n", argv[0]);
		return 2;
	}
	if (!strstr(spanlab_variant(), "-node")) {
		fprintf(stderr, "variant %s does not use the node policy\n", spanlab_variant());
		return 2;
	}
	if (!two_cpus()) {
		fprintf(stderr, "SKIP: CPUs 0 and 1 are not both usable\n");
		return 77;
	}
	if (!strcmp(argv[1], "two"))
		test_two();
	else if (!strcmp(argv[1], "one"))
		test_one();
	else if (!strcmp(argv[1], "bind"))
		test_bind_parent("/proc/self/exe");
	else if (!strcmp(argv[1], "bind-child"))
		test_bind();
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	if (check_report(argv[1]))
		return 1;
	printf("ok: %s (%s)\n", argv[1], spanlab_variant());
	return 0;
}
