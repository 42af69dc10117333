/*
 * libspanlab-latency.so - an LD_PRELOAD shim that times malloc-family calls.
 *
 *   LD_PRELOAD=libspanlab-latency.so:ALLOCATOR.so SPANLAB_LATENCY_OUT=FILE \
 *       [SPANLAB_LATENCY_SAMPLE=N] program ...
 *
 * Every call is forwarded to the next allocator (interpose.h). One call in N per
 * thread (default N = 1: every call) is timed and counted in the thread's own
 * histograms (hist.h). The clock is the time-stamp counter (rdtsc) where the CPU
 * says it is invariant (CPUID 0x80000007 EDX bit 8), its rate calibrated against
 * CLOCK_MONOTONIC over 5 ms at start-up; elsewhere clock_gettime(CLOCK_MONOTONIC)
 * (the vDSO). The histograms are: "malloc" for every allocating call (malloc,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc, and C++'s operator new in all its forms), "free" for free and operator
 * delete. The C++ operators are wrapped too because jemalloc, tcmalloc and
 * mimalloc define their own operator new/delete, which then never call malloc; a
 * call inside a wrapped operator (libstdc++'s operator new calls malloc) is not
 * timed a second time. Histograms live in per-thread slots from mmap, never
 * freed, so a thread's exit loses nothing and timing never allocates. At exit the
 * process that loaded the shim (not a forked child) sums the slots and writes
 * the dump (hist.h's format) to SPANLAB_LATENCY_OUT. Without SPANLAB_LATENCY_OUT
 * the shim only forwards.
 *
 * A timed call costs two clock reads more than an untimed one; the figures include
 * about one clock read (bench/README.md gives the measured overhead).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "hist.h"
#include "interpose.h"

#define SL_EXPORT __attribute__((visibility("default")))

struct slot {
	struct sl_hist malloc_h, free_h;
	struct slot *next;
};

static _Atomic(struct slot *) slots;
static uint64_t sample = 1;
static int enabled;
static pid_t owner;
/* A copy: programs may overwrite their environment strings (redis-server's
 * setproctitle writes its title over them). */
static char out_path[4096];

static __thread __attribute__((tls_model("initial-exec"))) struct slot *my_slot;
static __thread __attribute__((tls_model("initial-exec"))) uint64_t countdown;
static __thread __attribute__((tls_model("initial-exec"))) int in_shim;
/* > 0 inside a wrapped C++ operator: the malloc or free it makes is not timed. */
static __thread __attribute__((tls_model("initial-exec"))) int in_operator;

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int use_tsc;
static double ns_per_tick = 1.0;

/* A timestamp in clock units: TSC ticks, or nanoseconds. */
static inline uint64_t now_ticks(void)
{
#if HAVE_TSC
	if (use_tsc)
		return __rdtsc();
#endif
	return mono_ns();
}

static void calibrate(void)
{
#if HAVE_TSC
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
		return;
	uint64_t t0 = mono_ns(), c0 = __rdtsc(), t1, c1;
	do {
		t1 = mono_ns();
		c1 = __rdtsc();
	} while (t1 - t0 < 5000000);
	if (c1 > c0) {
		ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
		use_tsc = 1;
	}
#endif
}

static struct slot *get_slot(void)
{
	if (my_slot)
		return my_slot;
	void *m = mmap(NULL, sizeof(struct slot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	struct slot *s = m;
	s->next = atomic_load(&slots);
	while (!atomic_compare_exchange_weak(&slots, &s->next, s))
		;
	my_slot = s;
	return s;
}

/* True if this call is one to time. */
static inline int timed(void)
{
	if (!enabled || in_shim || in_operator)
		return 0;
	if (countdown > 1) {
		countdown--;
		return 0;
	}
	countdown = sample;
	return 1;
}

static inline void record(int is_free, uint64_t t0)
{
	uint64_t dt = (uint64_t)((double)(now_ticks() - t0) * ns_per_tick);
	in_shim = 1;
	struct slot *s = get_slot();
	in_shim = 0;
	if (s)
		sl_hist_add(is_free ? &s->free_h : &s->malloc_h, dt);
}

__attribute__((constructor)) static void latency_init(void)
{
	sl_real_resolve();
	const char *out = getenv("SPANLAB_LATENCY_OUT");
	if (out && strlen(out) < sizeof out_path)
		strcpy(out_path, out);
	const char *n = getenv("SPANLAB_LATENCY_SAMPLE");
	if (n && strtoull(n, NULL, 10) > 0)
		sample = strtoull(n, NULL, 10);
	owner = getpid();
	if (out_path[0]) {
		calibrate();
		enabled = 1;
	}
}

__attribute__((destructor)) static void latency_dump(void)
{
	if (!enabled || getpid() != owner)
		return;
	enabled = 0;
	static struct sl_hist m, f;
	for (struct slot *s = atomic_load(&slots); s; s = s->next) {
		sl_hist_merge(&m, &s->malloc_h);
		sl_hist_merge(&f, &s->free_h);
	}
	int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	sl_hist_write_header(fd, sample, use_tsc ? "tsc" : "clock_gettime");
	sl_hist_write(fd, "malloc", &m);
	sl_hist_write(fd, "free", &f);
	close(fd);
}

#define TIMED_ALLOC(call)                                    \
	do {                                                 \
		if (timed()) {                               \
			uint64_t t0 = now_ticks();              \
			void *r_ = (call);                   \
			record(0, t0);                       \
			return r_;                           \
		}                                            \
		return (call);                               \
	} while (0)

SL_EXPORT void *malloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, 16);
	TIMED_ALLOC(sl_real.malloc(size));
}

SL_EXPORT void free(void *p)
{
	if (!p || sl_boot_owns(p))
		return;
	if (sl_need_boot())
		return;
	if (timed()) {
		uint64_t t0 = now_ticks();
		sl_real.free(p);
		record(1, t0);
		return;
	}
	sl_real.free(p);
}

SL_EXPORT void *calloc(size_t n, size_t size)
{
	if (sl_need_boot()) {
		if (size && n > SIZE_MAX / size)
			return NULL;
		return sl_boot_alloc(n * size, 16);
	}
	TIMED_ALLOC(sl_real.calloc(n, size));
}

SL_EXPORT void *realloc(void *p, size_t size)
{
	if (sl_boot_owns(p) || sl_need_boot()) {
		void *q = sl_need_boot() ? sl_boot_alloc(size, 16) : sl_real.malloc(size);
		if (q && p) {
			size_t left = (size_t)(sl_boot + SL_BOOT_SIZE - (char *)p);
			memcpy(q, p, size < left ? size : left);
		}
		return q;
	}
	TIMED_ALLOC(sl_real.realloc(p, size));
}

SL_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}

SL_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (sl_need_boot()) {
		*out = sl_boot_alloc(size, align);
		return *out ? 0 : ENOMEM;
	}
	if (timed()) {
		uint64_t t0 = now_ticks();
		int r = sl_real.posix_memalign(out, align, size);
		record(0, t0);
		return r;
	}
	return sl_real.posix_memalign(out, align, size);
}

SL_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, align);
	TIMED_ALLOC(sl_real.aligned_alloc(align, size));
}

SL_EXPORT void *memalign(size_t align, size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, align);
	TIMED_ALLOC(sl_real.memalign(align, size));
}

SL_EXPORT void *valloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, 4096);
	TIMED_ALLOC(sl_real.valloc(size));
}

SL_EXPORT void *pvalloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc((size + 4095) & ~(size_t)4095, 4096);
	TIMED_ALLOC(sl_real.pvalloc(size));
}

SL_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p || sl_boot_owns(p))
		return 0;
	if (sl_need_boot())
		return 0;
	return sl_real.malloc_usable_size(p);
}

/* ---- C++ operator new and delete (Itanium C++ ABI names) ----------------- */

static void leave_operator(int *unused)
{
	(void)unused;
	in_operator--;
}

/* The wrapper forwards to the next definition of the same operator (the
 * allocator's own, or libstdc++'s), timing the whole call. A throwing operator
 * new may unwind through it (built with -fexceptions): the cleanup attribute then
 * still leaves the operator. */
#define SL_NEXT(sym, ret, params) \
	typedef ret (*sym##_fn) params; \
	static sym##_fn next_##sym; \
	if (!next_##sym) \
		next_##sym = (sym##_fn)dlsym(RTLD_NEXT, #sym)

#define SL_NEW(sym, params, args)                                              \
	SL_EXPORT void *sym params                                             \
	{                                                                      \
		SL_NEXT(sym, void *, params);                                  \
		int t = timed();                                               \
		uint64_t t0 = t ? now_ticks() : 0;                             \
		in_operator++;                                                 \
		int guard __attribute__((cleanup(leave_operator))) = 0;        \
		(void)guard;                                                   \
		void *r = next_##sym args;                                     \
		if (t)                                                         \
			record(0, t0);                                         \
		return r;                                                      \
	}

#define SL_DELETE(sym, params, args)                                           \
	SL_EXPORT void sym params                                              \
	{                                                                      \
		SL_NEXT(sym, void, params);                                    \
		int t = timed();                                               \
		uint64_t t0 = t ? now_ticks() : 0;                             \
		in_operator++;                                                 \
		int guard __attribute__((cleanup(leave_operator))) = 0;        \
		(void)guard;                                                   \
		next_##sym args;                                               \
		if (t)                                                         \
			record(1, t0);                                         \
	}

typedef const void *nothrow_ref;

SL_NEW(_Znwm, (size_t n), (n))
SL_NEW(_Znam, (size_t n), (n))
SL_NEW(_ZnwmRKSt9nothrow_t, (size_t n, nothrow_ref nt), (n, nt))
SL_NEW(_ZnamRKSt9nothrow_t, (size_t n, nothrow_ref nt), (n, nt))
SL_NEW(_ZnwmSt11align_val_t, (size_t n, size_t a), (n, a))
SL_NEW(_ZnamSt11align_val_t, (size_t n, size_t a), (n, a))
SL_NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, nothrow_ref nt), (n, a, nt))
SL_NEW(_ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, nothrow_ref nt), (n, a, nt))
SL_DELETE(_ZdlPv, (void *p), (p))
SL_DELETE(_ZdaPv, (void *p), (p))
SL_DELETE(_ZdlPvm, (void *p, size_t n), (p, n))
SL_DELETE(_ZdaPvm, (void *p, size_t n), (p, n))
SL_DELETE(_ZdlPvRKSt9nothrow_t, (void *p, nothrow_ref nt), (p, nt))
SL_DELETE(_ZdaPvRKSt9nothrow_t, (void *p, nothrow_ref nt), (p, nt))
SL_DELETE(_ZdlPvSt11align_val_t, (void *p, size_t a), (p, a))
SL_DELETE(_ZdaPvSt11align_val_t, (void *p, size_t a), (p, a))
SL_DELETE(_ZdlPvmSt11align_val_t, (void *p, size_t n, size_t a), (p, n, a))
SL_DELETE(_ZdaPvmSt11align_val_t, (void *p, size_t n, size_t a), (p, n, a))
SL_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t a, nothrow_ref nt), (p, a, nt))
SL_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t a, nothrow_ref nt), (p, a, nt))
