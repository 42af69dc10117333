/*
 * wl_common.h - shared plumbing for the workload programs (bench/workloads).
 *
 * Every workload is an ordinary program that allocates with malloc/free/
 * calloc/realloc only, so one binary runs under any allocator through
 * LD_PRELOAD.  This header gives the pieces they all need:
 *
 *   - an option table and parser: long options "--name value", every option
 *     optional with a default, "--help" prints usage, and an unknown option or
 *     a bad value prints a message on stderr and exits with status 2;
 *   - a stop flag raised by a timer after --duration seconds;
 *   - a common head for the per-thread worker structs, with helpers that
 *     set the workers up, run them for the timed phase and sum their
 *     results;
 *   - a per-thread pseudo-random generator (splitmix64);
 *   - object stamps: a key written into an object when it is allocated and
 *     checked before it is freed;
 *   - RSS readings and the single JSON result line (exit status 0 or 1).
 *
 * The helpers never allocate inside the workloads' loops: the option table
 * and the result line use static storage; only wl_run_threads (an array of
 * thread ids), wl_new_workers and wl_calloc_lines (the worker arrays) and
 * wl_current_rss_kb (stdio) allocate, before or after them.
 */
#ifndef WL_COMMON_H
#define WL_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- options ----------------------------------------------------------- */

enum wl_opt_type { WL_INT, WL_DOUBLE };

/* One command-line option.  The parser stores into *ival or *dval (as per
 * type), rejects values outside [min, max], and prints every option in the
 * result line's "params" object, in table order. */
struct wl_opt {
	const char *name;	/* without the leading "--" */
	enum wl_opt_type type;
	long long *ival;
	double *dval;
	double min, max;
	const char *help;
};

#define WL_OPT_INT(name, ptr, lo, hi, help) \
	{ (name), WL_INT, (ptr), NULL, (lo), (hi), (help) }
#define WL_OPT_DOUBLE(name, ptr, lo, hi, help) \
	{ (name), WL_DOUBLE, NULL, (ptr), (lo), (hi), (help) }

/* Common options, filled with their defaults before parsing. */
struct wl_common {
	long long threads;	/* --threads, default 2 */
	double duration;	/* --duration seconds, default 2.0 */
	long long seed;		/* --seed, default 42 */
};

/* Parse argv.  `opts` are the workload's own options (may be NULL/0); the
 * common ones are added in front.  `about` is the one-paragraph usage text.
 * Exits 0 after --help, 2 on any error. */
void wl_parse(int argc, char **argv, const char *workload, const char *about,
	      struct wl_common *common, struct wl_opt *opts, size_t nopts);

/* ---- time and stop flag ------------------------------------------------ */

double wl_now(void);	/* CLOCK_MONOTONIC, seconds */

/* Raised by the timer thread; workers poll it with a relaxed load. */
extern atomic_bool wl_stop;

/* Start a detached timer that sets wl_stop after `seconds`. */
void wl_start_timer(double seconds);

static inline bool wl_should_stop(void)
{
	return atomic_load_explicit(&wl_stop, memory_order_relaxed);
}

/* Run fn(arg_base + i * arg_size) on n threads (i = 0 .. n-1) and wait for
 * all of them.  Exits 1 (with a message) if a thread cannot be created. */
void wl_run_threads(long long n, void *(*fn)(void *), void *arg_base,
		    size_t arg_size);

/* ---- per-thread state ------------------------------------------------- */

/*
 * Per-thread state that a thread updates in its loop must not share a cache
 * line with another thread's, or the benchmark measures its own false
 * sharing.  Such structs start with a WL_LINE_ALIGNED member (so their
 * size is a multiple of the line) and arrays of them come from
 * wl_calloc_lines, which aligns the array to the line (calloc alone
 * guarantees only 16 bytes).  Free with wl_free_lines.
 */
#define WL_CACHE_LINE 64
#define WL_LINE_ALIGNED _Alignas(WL_CACHE_LINE)

void *wl_calloc_lines(size_t n, size_t size);	/* exits 1 if out of memory */
void wl_free_lines(void *p);

/* Print "sl-<workload>: out of memory" on stderr and exit 1. */
_Noreturn void wl_out_of_memory(void);

/*
 * The first member of every workload's worker struct (named `wl`), so the
 * helpers below can set up and sum any workload's array of workers.  Its
 * first member is WL_LINE_ALIGNED, which makes each worker struct
 * line-aligned as described above.
 */
struct wl_worker {
	WL_LINE_ALIGNED int id;	/* index in the worker array */
	bool ok;		/* cleared by the thread when a check fails */
	uint64_t rng;		/* wl_rand state */
	unsigned long long ops;	/* this thread's ops, as its workload counts */
};

/* Allocate n worker structs of `size` bytes each (struct wl_worker first)
 * with wl_calloc_lines: all zero except, for worker i, wl.id = i, wl.ok =
 * true and wl.rng = wl_mix64(seed + 1 + i).  Exits 1 if out of memory. */
void *wl_new_workers(long long n, size_t size, long long seed);

/* The measured phase of a timed workload: start the timer for
 * c->duration seconds, run fn on each of the c->threads workers (as
 * wl_run_threads), and return the wall time taken in seconds. */
double wl_run_timed(const struct wl_common *c, void *(*fn)(void *),
		    void *workers, size_t size);

/* After the threads have finished: add the n workers' wl.ops to *ops and
 * return true if every worker's wl.ok is still true. */
bool wl_sum_workers(const void *workers, long long n, size_t size,
		    unsigned long long *ops);

/* ---- random numbers ---------------------------------------------------- */

static inline uint64_t wl_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* splitmix64: one 64-bit word of state per thread. */
static inline uint64_t wl_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return wl_mix64(*state);
}

/* Uniform in [lo, hi] (inclusive); the slight modulo bias does not matter. */
static inline size_t wl_rand_range(uint64_t *state, size_t lo, size_t hi)
{
	return lo + (size_t)(wl_rand(state) % (uint64_t)(hi - lo + 1));
}

/* ---- object stamps ----------------------------------------------------- */

/*
 * A stamp is the 8-byte key at the start of an object (only its first
 * `size` bytes if the object is smaller) plus, for objects of 16 bytes or
 * more, a check word wl_mix64(key ^ size) in the last 8 bytes.  Writing two
 * words keeps the cost per allocation small; corrupting either end of an
 * object (a block handed out twice, a wrong size, a stale free list link
 * written into live memory) breaks the stamp.
 */
static inline void wl_stamp(void *p, size_t size, uint64_t key)
{
	memcpy(p, &key, size < 8 ? size : 8);
	if (size >= 16) {
		uint64_t tail = wl_mix64(key ^ size);
		memcpy((char *)p + size - 8, &tail, 8);
	}
}

static inline bool wl_stamp_ok(const void *p, size_t size, uint64_t key)
{
	uint64_t head = 0, want = key;
	size_t n = size < 8 ? size : 8;
	memcpy(&head, p, n);
	if (n < 8)
		want &= (UINT64_C(1) << (8 * n)) - 1;
	if (head != want)
		return false;
	if (size >= 16) {
		uint64_t tail;
		memcpy(&tail, (const char *)p + size - 8, 8);
		if (tail != wl_mix64(key ^ size))
			return false;
	}
	return true;
}

/*
 * A stamp key that carries the object's size, so the thread that frees an
 * object can find its size (key >> 32) and check both ends: size << 32 |
 * owner (low 8 bits) << 24 | seq (low 24 bits).  Used by larson and
 * fragment; prodcons has its own layout (more producer bits).
 */
static inline uint64_t wl_size_key(size_t size, int owner, uint64_t seq)
{
	return (uint64_t)size << 32 | (uint64_t)(owner & 0xff) << 24 |
	       (seq & 0xffffff);
}

/* ---- memory readings --------------------------------------------------- */

long long wl_peak_rss_kb(void);		/* getrusage ru_maxrss */
long long wl_current_rss_kb(void);	/* /proc/self/statm, -1 if unreadable */

/* Call malloc_trim(0) if the process has one (weak reference, so the
 * programs link and run with any C library); returns true if called. */
bool wl_trim(void);

/* ---- result line ------------------------------------------------------- */

/*
 * Print the one JSON result line and exit: status 0 if ok, 1 if not.
 * `extra` is either NULL or a string of further members without the
 * surrounding braces, e.g. "\"final_rss_kb\":123" (it is inserted before
 * "ok").  On failure a reason should already be on stderr.
 */
_Noreturn void wl_report(unsigned long long ops, double seconds, bool ok,
			 const char *extra);

/* Print a verification failure on stderr (printf-style); returns false so
 * callers can write `ok = wl_fail("...")`. */
bool wl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* WL_COMMON_H */
