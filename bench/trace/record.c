/*
 * libspanlab-trace.so - an LD_PRELOAD shim that records every malloc-family call.
 *
 *   SPANLAB_TRACE_OUT=FILE LD_PRELOAD=libspanlab-trace.so program ...
 * (scripts/spanlab-trace record does this). The format is trace_format.h.
 *
 * Every call (malloc, calloc, realloc, reallocarray, free, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc) is forwarded to the next allocator
 * (interpose.h) and appended to the calling thread's own buffer of records (mmap'd,
 * no locking); a full buffer is written to FILE under a mutex. A thread's buffer is
 * written when it exits (a pthread key destructor) and every buffer at process
 * exit. Only the first process that opens FILE records: the file is created with
 * O_EXCL, so programs the recorded one starts (which inherit the environment) do
 * not write into it, and a forked child stops recording (pthread_atfork).
 * A thread still running when the process exits may lose its last records; a
 * reader drops frees of objects it never saw allocated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "interpose.h"
#include "trace_format.h"

#define SL_EXPORT __attribute__((visibility("default")))
#define BUF_RECORDS 4096

struct tbuf {
	struct tbuf *next;
	uint32_t thread;
	uint32_t used;
	int dead;
	struct sl_trace_record rec[BUF_RECORDS];
};

static int fd = -1;
static int recording;
static uint64_t start_ns;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct tbuf *) buffers;
static atomic_uint next_thread;
static pthread_key_t exit_key;

static __thread __attribute__((tls_model("initial-exec"))) struct tbuf *my_buf;
static __thread __attribute__((tls_model("initial-exec"))) int in_shim;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_out(const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			recording = 0;
			return;
		}
		c += w;
		n -= (size_t)w;
	}
}

static void flush(struct tbuf *b)
{
	if (!b->used)
		return;
	pthread_mutex_lock(&write_lock);
	if (recording)
		write_out(b->rec, b->used * sizeof(struct sl_trace_record));
	pthread_mutex_unlock(&write_lock);
	b->used = 0;
}

static void thread_exit(void *arg)
{
	struct tbuf *b = arg;
	in_shim = 1;
	flush(b);
	b->dead = 1;
	in_shim = 0;
}

static struct tbuf *get_buf(void)
{
	if (my_buf)
		return my_buf;
	void *m = mmap(NULL, sizeof(struct tbuf), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	struct tbuf *b = m;
	b->thread = atomic_fetch_add(&next_thread, 1);
	b->next = atomic_load(&buffers);
	while (!atomic_compare_exchange_weak(&buffers, &b->next, b))
		;
	my_buf = b;
	pthread_setspecific(exit_key, b);
	return b;
}

static void record(uint8_t op, size_t align, uint64_t t, size_t size, const void *p,
		   const void *old)
{
	if (!recording || in_shim)
		return;
	in_shim = 1;
	struct tbuf *b = get_buf();
	if (b) {
		struct sl_trace_record *r = &b->rec[b->used++];
		r->op = op;
		r->align_log2 = align ? (uint8_t)(63 - __builtin_clzll(align)) : 0;
		r->zero = 0;
		r->thread = b->thread;
		r->time_ns = t - start_ns;
		r->size = size;
		r->ptr = (uint64_t)(uintptr_t)p;
		r->old_ptr = (uint64_t)(uintptr_t)old;
		if (b->used == BUF_RECORDS)
			flush(b);
	}
	in_shim = 0;
}

static void child_after_fork(void)
{
	recording = 0;
	fd = -1;
}

__attribute__((constructor)) static void trace_init(void)
{
	sl_real_resolve();
	const char *out = getenv("SPANLAB_TRACE_OUT");
	if (!out || !*out)
		return;
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;	/* another process records into it */
	pthread_key_create(&exit_key, thread_exit);
	pthread_atfork(NULL, NULL, child_after_fork);
	start_ns = now_ns();
	struct sl_trace_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, SL_TRACE_MAGIC, sizeof SL_TRACE_MAGIC);
	h.version = SL_TRACE_VERSION;
	h.header_size = SL_TRACE_HEADER_SIZE;
	h.record_size = SL_TRACE_RECORD_SIZE;
	h.start_ns = start_ns;
	recording = 1;
	write_out(&h, sizeof h);
}

__attribute__((destructor)) static void trace_fini(void)
{
	if (!recording)
		return;
	in_shim = 1;
	for (struct tbuf *b = atomic_load(&buffers); b; b = b->next)
		if (!b->dead)
			flush(b);
	recording = 0;
	close(fd);
}

SL_EXPORT void *malloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, 16);
	void *p = sl_real.malloc(size);
	record(SL_OP_MALLOC, 0, now_ns(), size, p, NULL);
	return p;
}

SL_EXPORT void free(void *p)
{
	if (!p || sl_boot_owns(p) || sl_need_boot())
		return;
	record(SL_OP_FREE, 0, now_ns(), 0, p, NULL);
	sl_real.free(p);
}

SL_EXPORT void *calloc(size_t n, size_t size)
{
	if (sl_need_boot()) {
		if (size && n > SIZE_MAX / size)
			return NULL;
		return sl_boot_alloc(n * size, 16);
	}
	void *p = sl_real.calloc(n, size);
	record(SL_OP_CALLOC, 0, now_ns(), n * size, p, NULL);
	return p;
}

SL_EXPORT void *realloc(void *old, size_t size)
{
	if (sl_boot_owns(old) || sl_need_boot()) {
		void *q = sl_need_boot() ? sl_boot_alloc(size, 16) : malloc(size);
		if (q && old) {
			size_t left = (size_t)(sl_boot + SL_BOOT_SIZE - (char *)old);
			memcpy(q, old, size < left ? size : left);
		}
		return q;
	}
	/* The free half of a realloc happens inside the call: take the time
	 * before it, like free, so a later reuse of the old address orders after. */
	uint64_t t = now_ns();
	void *p = sl_real.realloc(old, size);
	record(SL_OP_REALLOC, 0, p ? now_ns() : t, size, p, old);
	return p;
}

SL_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

SL_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (sl_need_boot()) {
		*out = sl_boot_alloc(size, align);
		return *out ? 0 : ENOMEM;
	}
	int r = sl_real.posix_memalign(out, align, size);
	record(SL_OP_POSIX_MEMALIGN, align, now_ns(), size, r == 0 ? *out : NULL, NULL);
	return r;
}

SL_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, align);
	void *p = sl_real.aligned_alloc(align, size);
	record(SL_OP_ALIGNED_ALLOC, align, now_ns(), size, p, NULL);
	return p;
}

SL_EXPORT void *memalign(size_t align, size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, align);
	void *p = sl_real.memalign(align, size);
	record(SL_OP_MEMALIGN, align, now_ns(), size, p, NULL);
	return p;
}

SL_EXPORT void *valloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc(size, 4096);
	void *p = sl_real.valloc(size);
	record(SL_OP_VALLOC, 4096, now_ns(), size, p, NULL);
	return p;
}

SL_EXPORT void *pvalloc(size_t size)
{
	if (sl_need_boot())
		return sl_boot_alloc((size + 4095) & ~(size_t)4095, 4096);
	void *p = sl_real.pvalloc(size);
	record(SL_OP_PVALLOC, 4096, now_ns(), size, p, NULL);
	return p;
}

SL_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p || sl_boot_owns(p) || sl_need_boot())
		return 0;
	return sl_real.malloc_usable_size(p);
}
