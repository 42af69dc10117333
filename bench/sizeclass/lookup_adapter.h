/* bench/sizeclass/lookup_adapter.h — what each lookup_adapter.c build exports. */
#ifndef SL_BENCH_LOOKUP_ADAPTER_H
#define SL_BENCH_LOOKUP_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* n lookups of sizes[i & mask] with policies/sizeclass.h's sl_sc_size_to_class, inlined
 * in the loop; *i advances by one per lookup (run) or by the class found, or 1 when it
 * is even (chain: the next index depends on the previous lookup, so the loop measures
 * latency). Returns the sum of the classes. */
typedef struct sl_bench_lookup_ops {
	const char *name;
	uint64_t (*run)(const size_t *sizes, size_t mask, size_t *i, uint64_t n);
	uint64_t (*chain)(const size_t *sizes, size_t mask, size_t *i, uint64_t n);
} sl_bench_lookup_ops;

#ifdef __cplusplus
}
#endif

#endif
