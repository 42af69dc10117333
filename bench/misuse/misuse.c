/*
 * sl-misuse — how many heap misuses does the allocator catch?
 *
 * Each case misuses the heap once (a bad free, a double free, a write after free, an
 * overflow) through plain malloc/free/realloc/malloc_usable_size, in a forked child,
 * and the program reports what became of the child:
 *
 *   caught   killed by SIGABRT: the allocator stopped the process on purpose (a
 *            message on stderr is expected; "(no message)" is added when it is missing)
 *   crashed  killed by another signal (SIGSEGV, SIGBUS, ...): the hardware stopped it
 *   missed   exited normally: the misuse went unnoticed. "(corrupted)" is added when
 *            the child saw the allocator hand out a pointer it must not (one it never
 *            gave out, or one already live), "(hang)" when the child did not finish in
 *            the time limit (--timeout, default 5 s)
 *   skipped  the case did not apply (a realloc that did not move the block); it is not
 *            counted
 *
 * The program links nothing but libc and pthreads, so one binary measures any
 * allocator through LD_PRELOAD. No case depends on one allocator's layout: each is
 * what a buggy program does, and the allocator catches it or not.
 *
 *   sl-misuse --list                 case names, one a line (category/name)
 *   sl-misuse [-v] [--timeout S]     run every case: one line per case, then
 *                                    "caught N of M" and a JSON line
 *   sl-misuse [-v] CASE|CATEGORY...  run those cases (a category runs all of its own)
 *   sl-misuse --require-caught CASE|CATEGORY...
 *                                    as above, and exit 1 naming every case that was
 *                                    not caught (for tests)
 *   sl-misuse --self-test            check the classification itself with cases that
 *                                    abort, crash, hang and return without any misuse
 *
 * -v adds the first line the child wrote to stderr (the allocator's message).
 * Exit status: 0, or 1 (--require-caught or --self-test failed), 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Helpers the cases share ---- */

#define EXIT_CORRUPTED 10 /* the child saw a pointer it must not have been given */
#define EXIT_SKIPPED 77	  /* the case did not apply */

/* Hides a pointer's origin from the compiler, so that it neither warns about nor
 * optimises around the deliberate misuse (-Wfree-nonheap-object, -Wuse-after-free). */
static void *hide(const void *p)
{
	volatile uintptr_t v = (uintptr_t)p;
	return (void *)v;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "sl-misuse: malloc(%zu) failed\n", n);
		_exit(3);
	}
	return hide(p);
}

/* An object of n bytes, filled, with a live object of the same size allocated after
 * it, so that it is not alone at the end of the heap. */
static char *alloc_filled(size_t n)
{
	char *p = xmalloc(n);
	memset(p, 0x5A, n);
	char *guard = xmalloc(n);
	memset(guard, 0x5B, n);
	return p;
}

static volatile uintptr_t sink;

static void *free_fn(void *p)
{
	free(p);
	return NULL;
}

/* Frees p in a new thread and waits for it to exit. */
static void free_in_thread(void *p)
{
	pthread_t t;
	if (pthread_create(&t, NULL, free_fn, p) != 0 || pthread_join(t, NULL) != 0) {
		fprintf(stderr, "sl-misuse: pthread_create failed\n");
		_exit(3);
	}
}

static int code_marker(void)
{
	return 42;
}

static char global_buf[256] __attribute__((aligned(64)));

/* ---- The cases ---- */

typedef void case_fn(size_t size, long arg);

/* invalid-free: free, realloc and malloc_usable_size of pointers malloc never gave out. */

enum { WHERE_STACK, WHERE_GLOBAL, WHERE_CODE, WHERE_MMAP };

static void *foreign_pointer(int where, char *stack_buf, long offset)
{
	switch (where) {
	case WHERE_STACK:
		return stack_buf + 64 + offset;
	case WHERE_GLOBAL:
		return global_buf + 64 + offset;
	case WHERE_CODE:
		return (void *)((uintptr_t)&code_marker + (uintptr_t)offset);
	default: {
		/* Two fresh pages; the pointer is the start of the second, so whatever an
		 * allocator reads just before the pointer is mapped (and zero). */
		long page = sysconf(_SC_PAGESIZE);
		char *m = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(3);
		return m + page + offset;
	}
	}
}

/* arg: WHERE_* * 16 + offset */
static void case_free_foreign(size_t size, long arg)
{
	(void)size;
	char stack_buf[256] __attribute__((aligned(64)));
	memset(stack_buf, 0, sizeof stack_buf);
	free(hide(foreign_pointer((int)(arg / 16), stack_buf, arg % 16)));
	sink = (uintptr_t)stack_buf[0];
}

static void case_realloc_foreign(size_t size, long arg)
{
	(void)size;
	char stack_buf[256] __attribute__((aligned(64)));
	memset(stack_buf, 0, sizeof stack_buf);
	sink = (uintptr_t)realloc(hide(foreign_pointer((int)(arg / 16), stack_buf, arg % 16)), 100);
}

static void case_usable_foreign(size_t size, long arg)
{
	(void)size;
	char stack_buf[256] __attribute__((aligned(64)));
	memset(stack_buf, 0, sizeof stack_buf);
	sink = malloc_usable_size(hide(foreign_pointer((int)(arg / 16), stack_buf, arg % 16)));
}

/* arg: the offset into the object; -1 for size / 2, -2 for one past its end (size). */
static size_t interior_offset(size_t size, long arg)
{
	return arg == -1 ? size / 2 : arg == -2 ? size : (size_t)arg;
}

static void case_free_interior(size_t size, long arg)
{
	char *p = alloc_filled(size);
	free(hide(p + interior_offset(size, arg)));
}

static void case_realloc_interior(size_t size, long arg)
{
	char *p = alloc_filled(size);
	sink = (uintptr_t)realloc(hide(p + interior_offset(size, arg)), 2 * size);
}

static void case_usable_interior(size_t size, long arg)
{
	char *p = alloc_filled(size);
	sink = malloc_usable_size(hide(p + interior_offset(size, arg)));
}

/* double-free */

static void case_df_now(size_t size, long arg)
{
	(void)arg;
	char *p = alloc_filled(size);
	free(p);
	free(hide(p));
}

/* Between the two frees, 32 other objects of the size are freed. */
static void case_df_after_frees(size_t size, long arg)
{
	(void)arg;
	enum { N = 32 };
	char *others[N];
	for (int i = 0; i < N; i++)
		others[i] = alloc_filled(size);
	char *p = alloc_filled(size);
	free(p);
	for (int i = 0; i < N; i++)
		free(others[i]);
	free(hide(p));
}

/* Between the two frees, objects of other sizes are allocated (and kept): sizes under
 * half the object's or over twice it, which no size-class table puts in its class (the
 * memory can still be reused by an allocator that splits or recycles it, and then the
 * second free frees a live object). */
static void case_df_after_mallocs(size_t size, long arg)
{
	(void)arg;
	static const size_t other[] = {8, 24, 40, 100, 200, 500, 1000, 3000, 9000, 20000, 70000};
	char *p = alloc_filled(size);
	free(p);
	for (int r = 0; r < 4; r++)
		for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
			if (2 * other[i] < size || other[i] > 2 * size)
				memset(xmalloc(other[i]), 0x33, other[i]);
	free(hide(p));
}

/* arg 0: the allocating thread frees first, another thread second; 1: the other way. */
static void case_df_thread(size_t size, long arg)
{
	char *p = alloc_filled(size);
	if (arg == 0) {
		free(p);
		free_in_thread(hide(p));
	} else {
		free_in_thread(p);
		free(hide(p));
	}
}

/* The old pointer of a realloc that moved the block is freed. */
static void case_df_realloc_old(size_t size, long arg)
{
	(void)arg;
	char *p = alloc_filled(size);
	char *q = realloc(p, 4 * size + 4096);
	if (!q)
		_exit(3);
	if (q == p)
		_exit(EXIT_SKIPPED);
	free(hide(p));
	sink = (uintptr_t)q;
}

/* realloc(p, 0) freed p (or gave a new object for it): p is freed again. */
static void case_df_realloc0(size_t size, long arg)
{
	(void)arg;
	char *p = alloc_filled(size);
	char *q = realloc(p, 0);
	if (q == p)
		_exit(EXIT_SKIPPED);
	free(hide(p));
	sink = (uintptr_t)q;
}

/* freed-api: realloc and malloc_usable_size of a freed object. */

static void case_realloc_freed(size_t size, long arg)
{
	(void)arg;
	char *p = alloc_filled(size);
	free(p);
	sink = (uintptr_t)realloc(hide(p), 2 * size);
}

static void case_usable_freed(size_t size, long arg)
{
	(void)arg;
	char *p = alloc_filled(size);
	free(p);
	sink = malloc_usable_size(hide(p));
}

/* list-corruption: a write after free over the start of a freed object, then
 * allocations of its size that are written to. */

enum { BAD_ODD, BAD_WILD, BAD_STACK, BAD_NULL, BAD_LIVE };
static const char *const bad_names[] = {"odd", "wild", "stack", "null", "live"};

enum { STACK_TARGET = 16384 }; /* room for two objects of the largest size used */

/* Whether one of the objects got[0..n-1] of size bytes must not have been handed out:
 * one in [lo, hi) (memory that is not the allocator's), one overlapping another, or
 * one overlapping the live object `live`. */
static int handed_out_bad(char **got, int n, size_t size, const char *lo, const char *hi, const char *live)
{
	for (int i = 0; i < n; i++) {
		if (got[i] >= lo && got[i] < hi)
			return 1;
		if (got[i] < live + size && got[i] + size > live)
			return 1;
		for (int j = 0; j < i; j++)
			if (got[i] < got[j] + size && got[i] + size > got[j])
				return 1;
	}
	return 0;
}

/* arg: BAD_* + 16 * (bytes overwritten: 8 or 16) */
static void case_corrupt(size_t size, long arg)
{
	int bad = (int)(arg % 16);
	size_t width = (size_t)(arg / 16);
	static char stack_dummy; /* stands in where no stack target is used */
	char target[STACK_TARGET] __attribute__((aligned(64)));
	memset(target, 0, sizeof target); /* a NULL where an allocator reads a link */
	enum { K = 8, ROUNDS = 12 };
	char *objs[K];
	for (int i = 0; i < K; i++)
		objs[i] = alloc_filled(size);
	char *live = alloc_filled(size);
	char *p = objs[0];
	for (int i = 1; i < K; i++)
		free(objs[i]);
	free(p); /* p is freed last: the most recently freed object of its size */
	uintptr_t v;
	const char *lo = &stack_dummy, *hi = &stack_dummy;
	switch (bad) {
	case BAD_ODD: /* an odd address inside the heap */
		v = (uintptr_t)live + 1;
		lo = live + 1, hi = live + 2;
		break;
	case BAD_WILD: /* aligned, nowhere */
		v = (uintptr_t)0x5A5A5A5A5A5A5A40u;
		break;
	case BAD_STACK:
		v = (uintptr_t)target;
		lo = target, hi = target + sizeof target;
		break;
	case BAD_NULL:
		v = 0;
		break;
	default: /* an object that is live */
		v = (uintptr_t)live;
		break;
	}
	uintptr_t *w = hide(p);
	for (size_t i = 0; i < width / sizeof *w && i * sizeof *w < size; i++)
		w[i] = v;
	char *got[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		got[i] = xmalloc(size);
		memset(got[i], 0x33, size);
	}
	sink = (uintptr_t)target[0];
	if (handed_out_bad(got, ROUNDS, size, lo, hi, live))
		_exit(EXIT_CORRUPTED);
}

/* overflow: the first of two objects of a size is written past its end by arg % 1000
 * bytes; arg >= 1000: the second was freed before the overflow. Both are freed, then
 * objects of the size are allocated and written to. */
static void case_overflow(size_t size, long arg)
{
	size_t over = (size_t)(arg % 1000);
	int freed = arg >= 1000;
	enum { ROUNDS = 12 };
	char *a = xmalloc(size), *b = xmalloc(size);
	memset(a, 0x5A, size);
	memset(b, 0x5B, size);
	char *guard = alloc_filled(size);
	if (freed)
		free(b);
	memset(hide(a + size), 0x41, over);
	free(a);
	if (!freed)
		free(b);
	char *got[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		got[i] = xmalloc(size);
		memset(got[i], 0x33, size);
	}
	sink = (uintptr_t)guard;
	if (handed_out_bad(got, ROUNDS, size, guard, guard, guard))
		_exit(EXIT_CORRUPTED);
}

/* Self-test cases: what the classification must make of them. */
static void case_self_abort(size_t size, long arg)
{
	(void)size, (void)arg;
	fprintf(stderr, "self-test: abort\n");
	abort();
}

static void case_self_segv(size_t size, long arg)
{
	(void)size, (void)arg;
	raise(SIGSEGV);
}

static void case_self_return(size_t size, long arg)
{
	(void)size, (void)arg;
	free(xmalloc(64));
}

static void case_self_hang(size_t size, long arg)
{
	(void)size, (void)arg;
	for (;;)
		pause();
}

/* ---- The table ---- */

typedef struct {
	char name[64];
	const char *category;
	case_fn *fn;
	size_t size;
	long arg;
} mu_case;

enum { MAX_CASES = 256 };
static mu_case cases[MAX_CASES];
static int ncases;

static void add(const char *category, case_fn *fn, size_t size, long arg, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add(const char *category, case_fn *fn, size_t size, long arg, const char *fmt, ...)
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "sl-misuse: too many cases\n");
		exit(2);
	}
	mu_case *c = &cases[ncases++];
	int n = snprintf(c->name, sizeof c->name, "%s/", category);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->name + n, sizeof c->name - (size_t)n, fmt, ap);
	va_end(ap);
	c->category = category;
	c->fn = fn;
	c->size = size;
	c->arg = arg;
}

#define MiB ((size_t)1 << 20)

static void build_table(void)
{
	static const size_t all[] = {8, 16, 24, 48, 64, 256, 1024, 4096, 40000, 100000, MiB};
	static const size_t some[] = {8, 64, 4096, 100000};
	static const size_t smallish[] = {8, 64, 256, 4096};
	static const char *const where[] = {"stack", "global", "code", "mmap-page"};
	const char *inv = "invalid-free";

	for (int w = 0; w < 4; w++)
		add(inv, case_free_foreign, 0, w * 16, "%s", where[w]);
	add(inv, case_free_foreign, 0, WHERE_STACK * 16 + 1, "stack+1");
	add(inv, case_free_foreign, 0, WHERE_GLOBAL * 16 + 8, "global+8");
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		size_t s = all[i];
		int odd = i % 2 == 0; /* +1 and +half on every other size */
		if (odd)
			add(inv, case_free_interior, s, 1, "interior-%zu+1", s);
		if (s > 8)
			add(inv, case_free_interior, s, 8, "interior-%zu+8", s);
		if (s > 32 && !odd)
			add(inv, case_free_interior, s, -1, "interior-%zu+half", s);
		add(inv, case_free_interior, s, -2, "past-end-%zu", s);
	}
	add(inv, case_realloc_foreign, 0, WHERE_STACK * 16, "realloc-stack");
	add(inv, case_realloc_foreign, 0, WHERE_MMAP * 16, "realloc-mmap-page");
	add(inv, case_realloc_interior, 48, 16, "realloc-interior-48+16");
	add(inv, case_realloc_interior, 100000, 8192, "realloc-interior-100000+8192");
	add(inv, case_usable_foreign, 0, WHERE_STACK * 16, "usable-stack");
	add(inv, case_usable_interior, 48, 16, "usable-interior-48+16");

	const char *df = "double-free";
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		add(df, case_df_now, all[i], 0, "now-%zu", all[i]);
	for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
		size_t s = some[i];
		add(df, case_df_after_frees, s, 0, "after-frees-%zu", s);
		add(df, case_df_after_mallocs, s, 0, "after-mallocs-%zu", s);
		add(df, case_df_thread, s, 0, "thread-owner-first-%zu", s);
		add(df, case_df_thread, s, 1, "thread-other-first-%zu", s);
		add(df, case_df_realloc_old, s, 0, "realloc-old-%zu", s);
	}
	add(df, case_df_realloc0, 16, 0, "realloc0-16");
	add(df, case_df_realloc0, 4096, 0, "realloc0-4096");

	const char *fa = "freed-api";
	for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
		add(fa, case_realloc_freed, some[i], 0, "realloc-%zu", some[i]);
		add(fa, case_usable_freed, some[i], 0, "usable-%zu", some[i]);
	}

	const char *lc = "list-corruption";
	for (size_t i = 0; i < sizeof smallish / sizeof smallish[0]; i++)
		for (int b = BAD_ODD; b <= BAD_LIVE; b++)
			add(lc, case_corrupt, smallish[i], b + 16 * 8, "%s-%zu", bad_names[b], smallish[i]);
	add(lc, case_corrupt, 16, BAD_ODD + 16 * 16, "odd16-16");
	add(lc, case_corrupt, 16, BAD_WILD + 16 * 16, "wild16-16");
	add(lc, case_corrupt, 256, BAD_ODD + 16 * 16, "odd16-256");
	add(lc, case_corrupt, 256, BAD_WILD + 16 * 16, "wild16-256");

	const char *ov = "overflow";
	static const size_t osizes[] = {24, 64, 256, 4096};
	static const size_t overs[] = {8, 64};
	for (size_t i = 0; i < sizeof osizes / sizeof osizes[0]; i++)
		for (size_t j = 0; j < sizeof overs / sizeof overs[0]; j++) {
			size_t s = osizes[i], o = overs[j];
			add(ov, case_overflow, s, (long)o, "live-%zu+%zu", s, o);
			add(ov, case_overflow, s, 1000 + (long)o, "freed-%zu+%zu", s, o);
		}
}

/* ---- Running a case ---- */

typedef enum { R_CAUGHT, R_CRASHED, R_MISSED, R_SKIPPED } result;
static const char *const result_names[] = {"caught", "crashed", "missed", "skipped"};

typedef struct {
	result r;
	char note[160]; /* "(hang)", "(SIGSEGV)", "(corrupted)", "(no message)" */
	char message[200]; /* the first line of the child's stderr */
} outcome;

static unsigned timeout_s = 5;

static outcome run_case(case_fn *fn, size_t size, long arg)
{
	outcome o = {R_MISSED, "", ""};
	int fds[2];
	if (pipe(fds) != 0) {
		perror("sl-misuse: pipe");
		exit(2);
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		perror("sl-misuse: fork");
		exit(2);
	}
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core); /* aborts are expected: no core files */
		signal(SIGABRT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(timeout_s);
		fn(size, arg);
		_exit(0);
	}
	close(fds[1]);
	static char buf[4096]; /* the start of the child's stderr; the rest is read and dropped */
	char more[4096];
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], more, sizeof more)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		size_t k = (size_t)r < sizeof buf - 1 - n ? (size_t)r : sizeof buf - 1 - n;
		memcpy(buf + n, more, k);
		n += k;
	}
	buf[n] = 0;
	close(fds[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("sl-misuse: waitpid");
			exit(2);
		}
	size_t len = strcspn(buf, "\n");
	if (len >= sizeof o.message)
		len = sizeof o.message - 1;
	memcpy(o.message, buf, len);
	o.message[len] = 0;
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		if (sig == SIGABRT) {
			o.r = R_CAUGHT;
			if (n == 0)
				snprintf(o.note, sizeof o.note, "(no message)");
		} else if (sig == SIGALRM) {
			o.r = R_MISSED;
			snprintf(o.note, sizeof o.note, "(hang)");
		} else {
			o.r = R_CRASHED;
			snprintf(o.note, sizeof o.note, "(SIG%s)", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		}
	} else if (WEXITSTATUS(st) == EXIT_SKIPPED) {
		o.r = R_SKIPPED;
	} else if (WEXITSTATUS(st) == EXIT_CORRUPTED) {
		snprintf(o.note, sizeof o.note, "(corrupted)");
	} else if (WEXITSTATUS(st) != 0) {
		snprintf(o.note, sizeof o.note, "(exit %d)", WEXITSTATUS(st));
	}
	return o;
}

static void print_outcome(const char *name, const outcome *o, int verbose)
{
	printf("%s %s", name, result_names[o->r]);
	if (o->note[0])
		printf(" %s", o->note);
	if (verbose && o->message[0])
		printf("  # %s", o->message);
	printf("\n");
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int self_test(void)
{
	static const struct {
		const char *name;
		case_fn *fn;
		result want;
		const char *note;
	} t[] = {
		{"abort", case_self_abort, R_CAUGHT, ""},
		{"segv", case_self_segv, R_CRASHED, "(SIGSEGV)"},
		{"return", case_self_return, R_MISSED, ""},
		{"hang", case_self_hang, R_MISSED, "(hang)"},
	};
	int bad = 0;
	timeout_s = 1;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		outcome o = run_case(t[i].fn, 0, 0);
		char name[32];
		snprintf(name, sizeof name, "self-test/%s", t[i].name);
		print_outcome(name, &o, 1);
		if (o.r != t[i].want || strcmp(o.note, t[i].note) != 0) {
			printf("FAIL: self-test/%s: expected %s %s\n", t[i].name, result_names[t[i].want], t[i].note);
			bad = 1;
		}
	}
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: sl-misuse [--list | --self-test | [-v] [--timeout S] [--require-caught] "
			"[CASE|CATEGORY...]]\n");
	return 2;
}

int main(int argc, char **argv)
{
	build_table();
	int verbose = 0, require = 0, list = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "--list"))
			list = 1;
		else if (!strcmp(argv[i], "--require-caught"))
			require = 1;
		else if (!strcmp(argv[i], "--self-test"))
			return self_test();
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			char *end;
			unsigned long t = strtoul(argv[++i], &end, 10);
			if (*end || t == 0 || t > 600)
				return usage();
			timeout_s = (unsigned)t;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("sl-misuse: runs heap-misuse cases in forked children and reports whether the\n"
			       "allocator caught each (SIGABRT), crashed (other signal) or missed it.\n");
			usage();
			return 0;
		} else
			return usage();
	}
	if (list) {
		for (int c = 0; c < ncases; c++)
			printf("%s\n", cases[c].name);
		return 0;
	}
	static char selected[MAX_CASES];
	if (i == argc)
		memset(selected, 1, sizeof selected);
	for (; i < argc; i++) {
		int found = 0;
		for (int c = 0; c < ncases; c++)
			if (!strcmp(argv[i], cases[c].name) || !strcmp(argv[i], cases[c].category)) {
				selected[c] = 1;
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "sl-misuse: no case or category '%s' (see --list)\n", argv[i]);
			return 2;
		}
	}
	static result res[MAX_CASES];
	int count[4] = {0};
	int failed = 0;
	for (int c = 0; c < ncases; c++) {
		if (!selected[c])
			continue;
		outcome o = run_case(cases[c].fn, cases[c].size, cases[c].arg);
		res[c] = o.r;
		count[o.r]++;
		print_outcome(cases[c].name, &o, verbose);
		if (require && o.r != R_CAUGHT) {
			printf("FAIL: %s was %s, expected caught\n", cases[c].name, result_names[o.r]);
			failed = 1;
		}
	}
	int total = count[R_CAUGHT] + count[R_CRASHED] + count[R_MISSED];
	printf("caught %d of %d (crashed %d, missed %d, skipped %d)\n", count[R_CAUGHT], total, count[R_CRASHED],
	       count[R_MISSED], count[R_SKIPPED]);
	const char *pre = getenv("LD_PRELOAD");
	printf("{\"preload\": ");
	json_string(pre ? pre : "");
	printf(", \"caught\": %d, \"crashed\": %d, \"missed\": %d, \"skipped\": %d, \"total\": %d, \"cases\": {",
	       count[R_CAUGHT], count[R_CRASHED], count[R_MISSED], count[R_SKIPPED], total);
	const char *sep = "";
	for (int c = 0; c < ncases; c++) {
		if (!selected[c])
			continue;
		printf("%s", sep);
		json_string(cases[c].name);
		printf(": \"%s\"", result_names[res[c]]);
		sep = ", ";
	}
	printf("}}\n");
	return failed;
}
