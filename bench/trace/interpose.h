/*
 * interpose.h - the next allocator's functions, for LD_PRELOAD shims that wrap the
 * malloc family (latency.c, record.c) and forward every call.
 *
 * sl_real_resolve() looks the family up with dlsym(RTLD_NEXT, ...): the next
 * definition after the shim in the search order, i.e. the allocator preloaded
 * after it, or the C library's. dlsym may itself allocate (glibc's dlerror state
 * uses calloc); calls made while resolving are served from a small static
 * bootstrap buffer, and free/realloc recognise its pointers (sl_boot_owns) and
 * never pass them on.
 */
#ifndef SL_INTERPOSE_H
#define SL_INTERPOSE_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
};

static struct sl_real sl_real;
static atomic_int sl_resolving;

#define SL_BOOT_SIZE (256 * 1024)
static _Alignas(64) char sl_boot[SL_BOOT_SIZE];
static atomic_size_t sl_boot_used;

static inline int sl_boot_owns(const void *p)
{
	return (const char *)p >= sl_boot && (const char *)p < sl_boot + SL_BOOT_SIZE;
}

/* Zeroed memory from the bootstrap buffer (it is never reused). */
static inline void *sl_boot_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	for (;;) {
		size_t used = atomic_load(&sl_boot_used);
		size_t start = (used + align - 1) & ~(align - 1);
		if (start + size > SL_BOOT_SIZE || start + size < start)
			return NULL;
		if (atomic_compare_exchange_weak(&sl_boot_used, &used, start + size))
			return sl_boot + start;
	}
}

static inline void sl_real_resolve(void)
{
	if (sl_real.malloc)
		return;
	atomic_store(&sl_resolving, 1);
	struct sl_real r;
	r.free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	r.calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	r.realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	r.reallocarray = (void *(*)(void *, size_t, size_t))dlsym(RTLD_NEXT, "reallocarray");
	r.posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	r.aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	r.memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	r.valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	r.pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	r.malloc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	r.malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	/* Publish malloc last: the others are in place once it is seen. */
	sl_real.free = r.free;
	sl_real.calloc = r.calloc;
	sl_real.realloc = r.realloc;
	sl_real.reallocarray = r.reallocarray;
	sl_real.posix_memalign = r.posix_memalign;
	sl_real.aligned_alloc = r.aligned_alloc;
	sl_real.memalign = r.memalign;
	sl_real.valloc = r.valloc;
	sl_real.pvalloc = r.pvalloc;
	sl_real.malloc_usable_size = r.malloc_usable_size;
	atomic_thread_fence(memory_order_release);
	sl_real.malloc = r.malloc;
	atomic_store(&sl_resolving, 0);
}

/* True while the shim must serve from the bootstrap buffer. */
static inline int sl_need_boot(void)
{
	if (sl_real.malloc)
		return 0;
	if (atomic_load(&sl_resolving))
		return 1;
	sl_real_resolve();
	return sl_real.malloc == NULL;
}

#endif /* SL_INTERPOSE_H */
