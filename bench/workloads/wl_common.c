/*
 * wl_common.c - option parsing, timer, worker helpers, RSS and result line
 * for the workload programs.  See wl_common.h.
 */
#include "wl_common.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Declared weak so the programs link against any C library; glibc has it.
 * Under LD_PRELOAD of another allocator this may reach glibc's own (idle)
 * heap, or the preloaded library's version if it defines one. */
extern int malloc_trim(size_t pad) __attribute__((weak));

atomic_bool wl_stop;

#define WL_MAX_OPTS 32

static const char *wl_workload;
static struct wl_opt wl_table[WL_MAX_OPTS];
static size_t wl_nopts;
static struct wl_common *wl_common_opts;

static void usage(FILE *out, const char *about)
{
	fprintf(out, "usage: sl-%s [--option value]...\n\n%s\n\noptions:\n",
		wl_workload, about);
	for (size_t i = 0; i < wl_nopts; i++) {
		const struct wl_opt *o = &wl_table[i];
		if (o->type == WL_INT)
			fprintf(out, "  --%-12s %s (default %lld)\n", o->name,
				o->help, *o->ival);
		else
			fprintf(out, "  --%-12s %s (default %g)\n", o->name,
				o->help, *o->dval);
	}
	fprintf(out, "  --help         print this text\n\n"
		"Prints one JSON line; exit status 0 ok, 1 verification failed, "
		"2 bad usage.\n");
}

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "sl-%s: ", wl_workload);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try --help)\n");
	exit(2);
}

static void set_value(const struct wl_opt *o, const char *text)
{
	char *end;
	errno = 0;
	if (o->type == WL_INT) {
		long long v = strtoll(text, &end, 10);
		if (errno || end == text || *end || (double)v < o->min ||
		    (double)v > o->max)
			bad_usage("bad value for --%s", o->name);
		*o->ival = v;
	} else {
		double v = strtod(text, &end);
		if (errno || end == text || *end || !isfinite(v) ||
		    v < o->min || v > o->max)
			bad_usage("bad value for --%s", o->name);
		*o->dval = v;
	}
}

void wl_parse(int argc, char **argv, const char *workload, const char *about,
	      struct wl_common *common, struct wl_opt *opts, size_t nopts)
{
	wl_workload = workload;
	wl_common_opts = common;
	common->threads = 2;
	common->duration = 2.0;
	common->seed = 42;
	wl_table[0] = (struct wl_opt)WL_OPT_INT("threads", &common->threads,
		1, 4096, "number of threads");
	wl_table[1] = (struct wl_opt)WL_OPT_DOUBLE("duration",
		&common->duration, 0, 86400, "time budget in seconds");
	wl_table[2] = (struct wl_opt)WL_OPT_INT("seed", &common->seed, 0,
		9.2e18, "random seed");
	wl_nopts = 3;
	if (nopts > WL_MAX_OPTS - wl_nopts) {
		fprintf(stderr, "sl-%s: too many options\n", workload);
		exit(2);
	}
	for (size_t i = 0; i < nopts; i++)
		wl_table[wl_nopts++] = opts[i];

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout, about);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			bad_usage("unexpected argument '%s'", arg);
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct wl_opt *o = NULL;
		for (size_t i = 0; i < wl_nopts; i++)
			if (strlen(wl_table[i].name) == len &&
			    strncmp(wl_table[i].name, name, len) == 0)
				o = &wl_table[i];
		if (!o)
			bad_usage("unknown option '%s'", arg);
		if (eq) {
			set_value(o, eq + 1);
		} else {
			if (a + 1 >= argc)
				bad_usage("option '%s' needs a value", arg);
			set_value(o, argv[++a]);
		}
	}
}

double wl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *timer_main(void *arg)
{
	double seconds = *(double *)arg;
	struct timespec ts = {
		.tv_sec = (time_t)seconds,
		.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
	};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	atomic_store(&wl_stop, true);
	return NULL;
}

void wl_start_timer(double seconds)
{
	static double budget;
	pthread_t tid;
	budget = seconds;
	atomic_store(&wl_stop, false);
	if (pthread_create(&tid, NULL, timer_main, &budget) != 0) {
		fprintf(stderr, "sl-%s: cannot create timer thread\n",
			wl_workload);
		exit(1);
	}
	pthread_detach(tid);
}

_Noreturn void wl_out_of_memory(void)
{
	fprintf(stderr, "sl-%s: out of memory\n", wl_workload);
	exit(1);
}

void wl_run_threads(long long n, void *(*fn)(void *), void *arg_base,
		    size_t arg_size)
{
	pthread_t *tids = calloc((size_t)n, sizeof *tids);
	if (!tids)
		wl_out_of_memory();
	for (long long i = 0; i < n; i++) {
		void *arg = (char *)arg_base + (size_t)i * arg_size;
		if (pthread_create(&tids[i], NULL, fn, arg) != 0) {
			fprintf(stderr, "sl-%s: cannot create thread %lld\n",
				wl_workload, i);
			exit(1);
		}
	}
	for (long long i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	free(tids);
}

void *wl_calloc_lines(size_t n, size_t size)
{
	/* Room to round up, and for the base pointer just below the result. */
	size_t extra = WL_CACHE_LINE + sizeof(void *);
	if (size && n > (SIZE_MAX - extra) / size)
		goto oom;
	char *base = calloc(1, n * size + extra);
	if (!base)
		goto oom;
	uintptr_t at = ((uintptr_t)base + sizeof(void *) + WL_CACHE_LINE - 1) &
		       ~(uintptr_t)(WL_CACHE_LINE - 1);
	((void **)at)[-1] = base;
	return (void *)at;
oom:
	wl_out_of_memory();
}

void wl_free_lines(void *p)
{
	if (p)
		free(((void **)p)[-1]);
}

static struct wl_worker *worker_at(const void *workers, size_t size,
				    long long i)
{
	return (struct wl_worker *)((const char *)workers + (size_t)i * size);
}

void *wl_new_workers(long long n, size_t size, long long seed)
{
	void *workers = wl_calloc_lines((size_t)n, size);
	for (long long i = 0; i < n; i++) {
		struct wl_worker *w = worker_at(workers, size, i);
		w->id = (int)i;
		w->ok = true;
		w->rng = wl_mix64((uint64_t)seed + 1 + (uint64_t)i);
	}
	return workers;
}

double wl_run_timed(const struct wl_common *c, void *(*fn)(void *),
		    void *workers, size_t size)
{
	double t0 = wl_now();
	wl_start_timer(c->duration);
	wl_run_threads(c->threads, fn, workers, size);
	return wl_now() - t0;
}

bool wl_sum_workers(const void *workers, long long n, size_t size,
		    unsigned long long *ops)
{
	bool ok = true;
	for (long long i = 0; i < n; i++) {
		const struct wl_worker *w = worker_at(workers, size, i);
		ok = ok && w->ok;
		*ops += w->ops;
	}
	return ok;
}

long long wl_peak_rss_kb(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)ru.ru_maxrss;	/* kilobytes on Linux */
}

long long wl_current_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long size, resident;
	if (!f)
		return -1;
	int n = fscanf(f, "%lld %lld", &size, &resident);
	fclose(f);
	if (n != 2)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

bool wl_trim(void)
{
	if (!malloc_trim)
		return false;
	malloc_trim(0);
	return true;
}

bool wl_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "sl-%s: verification failed: ", wl_workload);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

_Noreturn void wl_report(unsigned long long ops, double seconds, bool ok,
			 const char *extra)
{
	printf("{\"workload\":\"%s\",\"threads\":%lld,\"params\":{",
	       wl_workload, wl_common_opts->threads);
	for (size_t i = 0; i < wl_nopts; i++) {
		const struct wl_opt *o = &wl_table[i];
		if (o->type == WL_INT)
			printf("%s\"%s\":%lld", i ? "," : "", o->name,
			       *o->ival);
		else
			printf("%s\"%s\":%.6g", i ? "," : "", o->name,
			       *o->dval);
	}
	double rate = seconds > 0 ? (double)ops / seconds : 0.0;
	printf("},\"ops\":%llu,\"seconds\":%.6f,\"ops_per_sec\":%.1f,"
	       "\"peak_rss_kb\":%lld,", ops, seconds, rate, wl_peak_rss_kb());
	if (extra && *extra)
		printf("%s,", extra);
	printf("\"ok\":%s}\n", ok ? "true" : "false");
	fflush(stdout);
	exit(ok ? 0 : 1);
}
