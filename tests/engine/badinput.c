/*
 * badinput: each subcommand hands the allocator a pointer it never gave out (or gave
 * out and got back already). The program runs the case in a forked child with stderr
 * captured, and passes only if the child was killed by SIGABRT and its stderr names
 * the bad pointer (the same "%p" text the case printed before the call).
 *
 *   badinput stack|interior|plus8|interior-large|double-small|double-small-later|
 *            double-small-flushed|double-small-8|double-small-8-later|double-large|
 *            realloc-bad|usable-bad|realloc-freed|usable-freed|realloc-freed-8|
 *            usable-freed-8|xdouble-<size>-<order>
 *
 * xdouble: a double free across threads, of an object of <size> bytes (8, 16, 64,
 * 4096, 100000), <order> owner (the allocating thread frees first, another thread
 * second), remote (the other way round) or remote2 (two other threads). If the second
 * free is not caught, the program allocates 20000 objects of the size, all kept live,
 * and reports whether one came out twice.
 */
#include <pthread.h>
#include <stdlib.h>
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"

/* realloc-freed[-8], usable-freed[-8]: the object's size; 0 for any other case. */
static size_t freed_api_size(const char *c)
{
	const char *rest = !strncmp(c, "realloc-freed", 13) ? c + 13 : !strncmp(c, "usable-freed", 12) ? c + 12 : NULL;
	return !rest ? 0 : !*rest ? 200 : !strcmp(rest, "-8") ? 8 : 0;
}

static void announce(const void *p)
{
	fprintf(stderr, "expect-pointer: %p\n", p);
	fflush(stderr);
}

static volatile size_t sink;
static size_t probe_size = 48; /* size of the case's object, for the final probe */

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

static void *free_in_thread_fn(void *p)
{
	A(free)(p);
	return NULL;
}

/* Frees p from a new thread (which then exits). */
static void free_in_thread(void *p)
{
	pthread_t t;
	if (pthread_create(&t, NULL, free_in_thread_fn, p) != 0 || pthread_join(t, NULL) != 0)
		_exit(3);
}

static void xdouble(size_t size, const char *order)
{
	probe_size = size;
	void *keep[64];
	for (int i = 0; i < 64; i++) /* the object is not alone in its span */
		keep[i] = A(malloc)(size);
	void *p = A(malloc)(size);
	memset(p, 0x5A, size);
	if (!strcmp(order, "owner")) {
		A(free)(p);
		announce(p);
		free_in_thread(p);
	} else if (!strcmp(order, "remote")) {
		free_in_thread(p);
		announce(p);
		A(free)(p);
	} else if (!strcmp(order, "remote2")) {
		free_in_thread(p);
		announce(p);
		free_in_thread(p);
	} else {
		fprintf(stderr, "badinput: unknown order '%s'\n", order);
		_exit(2);
	}
	sink = (size_t)keep[0];
}

static void run_case(const char *c)
{
	char stack_buf[64];
	memset(stack_buf, 1, sizeof stack_buf);
	if (!strcmp(c, "stack")) {
		announce(stack_buf + 16);
		A(free)(stack_buf + 16);
	} else if (!strcmp(c, "interior")) {
		char *p = A(malloc)(100);
		announce(p + 16);
		A(free)(p + 16);
	} else if (!strcmp(c, "plus8")) {
		char *p = A(malloc)(64);
		announce(p + 8);
		A(free)(p + 8);
	} else if (!strcmp(c, "interior-large")) {
		char *p = A(malloc)(100000);
		announce(p + 8192);
		A(free)(p + 8192);
	} else if (!strcmp(c, "double-small")) {
		void *p = A(malloc)(48);
		A(free)(p);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "double-small-later")) {
		void *others[100];
		for (int i = 0; i < 100; i++)
			others[i] = A(malloc)(48);
		void *p = A(malloc)(48);
		A(free)(p);
		for (int i = 0; i < 100; i++)
			A(free)(others[i]);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "double-small-flushed")) {
		/* Wherever the first free left the object — the thread's cache, a batch in
		 * mcentral, its span — the second free aborts: N objects are freed, then one
		 * of them again, for many positions, each in a process of its own. */
		enum { N = 4096, STEP = 64 };
		static void *objs[N];
		int missed = 0;
		for (int j = 0; j < N; j += STEP) {
			fflush(stderr);
			pid_t pid = fork();
			if (pid < 0)
				_exit(3);
			if (pid == 0) {
				int null = open("/dev/null", O_WRONLY);
				dup2(null, STDERR_FILENO);
				for (int i = 0; i < N; i++)
					objs[i] = A(malloc)(48);
				for (int i = 0; i < N; i++)
					A(free)(objs[i]);
				A(free)(objs[j]);
				_exit(0);
			}
			int st;
			if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
				fprintf(stderr, "double free of object %d of %d (freed in order) not caught\n", j, N);
				missed++;
			}
		}
		if (missed)
			_exit(1);
		void *p = A(malloc)(48);
		A(free)(p);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "double-small-8")) {
		probe_size = 8;
		void *p = A(malloc)(8);
		A(free)(p);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "double-small-8-later")) {
		/* Not in a row: other 8-byte objects freed in between, so p is neither at
		 * the head of a list nor the last object freed. */
		probe_size = 8;
		void *p = A(malloc)(8), *q[64];
		for (int i = 0; i < 64; i++)
			q[i] = A(malloc)(8);
		A(free)(p);
		for (int i = 0; i < 64; i++)
			A(free)(q[i]);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "double-large")) {
		void *p = A(malloc)(100000);
		A(free)(p);
		announce(p);
		A(free)(p);
	} else if (!strcmp(c, "realloc-bad")) {
		char *p = A(malloc)(200);
		announce(p + 24);
		void *q = A(realloc)(p + 24, 1000);
		sink = (size_t)q;
	} else if (!strcmp(c, "usable-bad")) {
		char *p = A(malloc)(200);
		announce(p + 8);
		sink = A(malloc_usable_size)(p + 8);
	} else if (freed_api_size(c)) {
		/* realloc or malloc_usable_size of a freed object: 200 bytes, or 8 ("-8"). */
		bool realloc_case = c[0] == 'r';
		char *p = A(malloc)(freed_api_size(c));
		A(free)(p);
		announce(p);
		fprintf(stderr, "expect-text: %s()\n", realloc_case ? "realloc" : "malloc_usable_size");
		if (realloc_case)
			sink = (size_t)A(realloc)(p, 1000);
		else
			sink = A(malloc_usable_size)(p);
	} else if (!strncmp(c, "xdouble-", 8)) {
		char *end;
		size_t size = strtoul(c + 8, &end, 10);
		if (*end != '-')
			_exit(2);
		xdouble(size, end + 1);
	} else {
		fprintf(stderr, "badinput: unknown case '%s'\n", c);
		_exit(2);
	}
	/* A silently accepted double free shows when an object comes out twice. */
	enum { PROBES = 20000 };
	static uintptr_t got[PROBES];
	for (int i = 0; i < PROBES; i++)
		got[i] = (uintptr_t)A(malloc)(probe_size);
	qsort(got, PROBES, sizeof got[0], cmp_addr);
	int twice = 0;
	for (int i = 1; i < PROBES; i++)
		twice += got[i] && got[i] == got[i - 1];
	fprintf(stderr, "no abort (%d objects came out twice)\n", twice);
	_exit(0);
}

int main(int argc, char **argv)
{
	test_api_get();
	CHECK_MSG(argc == 2, "usage: badinput <case>");
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		signal(SIGABRT, SIG_DFL);
		run_case(argv[1]);
	}
	close(fds[1]);
	static char out[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	fprintf(stderr, "--- child stderr ---\n%s--- end ---\n", out);
	CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "case %s: child %s %d, expected to be killed by SIGABRT", argv[1],
		  WIFSIGNALED(status) ? "killed by signal" : "exited with status",
		  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	char *line = strstr(out, "expect-pointer: ");
	CHECK_MSG(line != NULL, "case %s: no expect-pointer line", argv[1]);
	char ptr[64];
	CHECK(sscanf(line, "expect-pointer: %63s", ptr) == 1);
	char *rest = strchr(line, '\n');
	CHECK(rest != NULL);
	CHECK_MSG(strstr(rest, ptr) != NULL, "case %s: the abort message does not name the pointer %s", argv[1], ptr);
	char *want = strstr(out, "expect-text: ");
	if (want) {
		char text[64];
		CHECK(sscanf(want, "expect-text: %63s", text) == 1);
		CHECK_MSG(strstr(strchr(want, '\n'), text) != NULL, "case %s: the abort message does not say %s", argv[1],
			  text);
	}
	printf("badinput %s: aborted, message names %s\n", argv[1], ptr);
	return 0;
}
