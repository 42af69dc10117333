/* bench/central/stack_adapter.h — the table each stack_adapter.c build exports. */
#ifndef SL_BENCH_STACK_ADAPTER_H
#define SL_BENCH_STACK_ADAPTER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_bench_stack_ops {
	const char *name;
	void *(*create)(size_t nodes); /* a stack holding `nodes` batch nodes */
	void (*destroy)(void *stack);  /* only when no thread uses it */
	void *(*pop)(void *stack);     /* a node or NULL */
	void (*push)(void *stack, void *node);
} sl_bench_stack_ops;

#ifdef __cplusplus
}
#endif

#endif
