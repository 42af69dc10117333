/*
 * bench/micro/engine_shim.h — the engine internals the microbenchmarks reach, as plain
 * functions. core/internal.h is C11 (stdatomic, _Generic) and cannot be included from
 * C++, so engine_shim.c is compiled as C once per variant with that variant's policy
 * definitions, and the C++ harness calls it through this header.
 */
#ifndef SPANLAB_BENCH_ENGINE_SHIM_H
#define SPANLAB_BENCH_ENGINE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises the engine (one spanlab_malloc/free pair). Call before anything below. */
void slb_engine_init(void);

/* ---- Size classes (the variant's table) ---- */
uint32_t slb_num_classes(void);
/* n lookups size -> class over sizes[0..n); returns the sum of the classes, so the
 * compiler must perform every lookup. The loop amortises the call across n lookups. */
uint64_t slb_size_to_class_many(const size_t *sizes, size_t n);
/* Per-class constants of the class that serves `size`: objects per batch moved between
 * mcache and mcentral, and the largest a thread's list grows before it flushes. */
uint32_t slb_class_batch(size_t size);
uint32_t slb_class_cache_cap(size_t size);

/* ---- mcentral: a private central of the variant (its sync policy) ---- */
typedef struct slb_central slb_central;
/* A new central for the class of `size`, not shared with the live heap, holding its
 * max_full batches (empty batch nodes: push/pop never look inside). Never freed. */
slb_central *slb_central_new(size_t size);
uint32_t slb_central_batches(const slb_central *c);
/* Pops one full batch and pushes it back (sl_mcentral_pop_batch/push_batch). Returns 1
 * if a batch was popped, 0 if the stack was empty (other threads hold every batch). */
int slb_central_cycle(slb_central *c);

/* ---- mheap ---- */
/* A span of npages pages from heap 0 (sl_mheap_alloc; counted as a large object so the
 * heap's statistics stay balanced), and its release (sl_mheap_free). */
void *slb_mheap_alloc(size_t npages);
void slb_mheap_free(void *span);

#ifdef __cplusplus
}
#endif

#endif
