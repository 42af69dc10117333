/*
 * NUMA policy `flat`: one mheap for the whole process, no binding. Contract:
 * numa/README.md.
 */
#ifndef SPANLAB_NUMA_FLAT_H
#define SPANLAB_NUMA_FLAT_H

#include <stddef.h>

enum { sl_numa_flat_max_nodes = 1 };

static inline unsigned sl_numa_flat_init(void) { return 1; }
static inline unsigned sl_numa_flat_current_node(void) { return 0; }
static inline void sl_numa_flat_bind(void *addr, size_t len, unsigned node)
{
	(void)addr;
	(void)len;
	(void)node;
}

#endif
