/*
 * NUMA policy `node`: one mheap per NUMA node found by hwloc, arenas bound to their
 * node with mbind(2), each thread served by the heap of the node it runs on.
 * Contract: numa/README.md. Implementation: numa/node.c.
 *
 * The topology is read once, at engine initialisation, into two tables owned by
 * node.c (CPU -> heap index, heap index -> OS node index); hwloc is destroyed before
 * sl_numa_node_init returns and never called again. The hot lookup is sched_getcpu()
 * (glibc reads the CPU number the kernel keeps in the thread's rseq area, or asks the
 * vDSO: no system call) and one byte load from the CPU table.
 */
#ifndef SPANLAB_NUMA_NODE_H
#define SPANLAB_NUMA_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compiler.h"

/* Heaps: the engine keeps an array of this many sl_mheap, each with one mcentral per
 * size class, so its size depends on the variant (sizeof(sl_mheap): about 19 KiB for
 * go-mutex, 24 KiB for tcmalloc-mutex). Nodes beyond it share heaps: node i is served
 * by heap i % max_nodes. */
#ifndef SPANLAB_NUMA_NODE_MAX_NODES
#define SPANLAB_NUMA_NODE_MAX_NODES 64
#endif
/* CPUs with an entry in the lookup table; a CPU number beyond it takes the slow
 * fallback (sl_numa_node_fallback_node). */
#ifndef SPANLAB_NUMA_NODE_MAX_CPUS
#define SPANLAB_NUMA_NODE_MAX_CPUS 4096
#endif

enum { sl_numa_node_max_nodes = SPANLAB_NUMA_NODE_MAX_NODES };
_Static_assert(SPANLAB_NUMA_NODE_MAX_NODES >= 1 && SPANLAB_NUMA_NODE_MAX_NODES <= 256,
	       "heap indices are stored in bytes");

/* CPU number -> heap index. Written once by sl_numa_node_init (under the engine's
 * initialisation lock), read-only afterwards; all zero before, so every thread is
 * served by heap 0 while the engine initialises. */
extern uint8_t sl_numa_node_cpu_heap[SPANLAB_NUMA_NODE_MAX_CPUS];

/* glibc declares it only under _GNU_SOURCE, which not every engine file defines. */
extern int sched_getcpu(void);

unsigned sl_numa_node_init(void);
void sl_numa_node_bind(void *addr, size_t len, unsigned node);
/* sched_getcpu failed or gave a CPU beyond the table: the first CPU of the thread's
 * affinity mask, else heap 0. Slow (a system call); rare. */
unsigned sl_numa_node_fallback_node(void);

/* Budget: a call into glibc that reads the rseq area (a few instructions), a compare
 * and a byte load. No hwloc, no lock, no system call. */
static inline unsigned sl_numa_node_current_node(void)
{
	int cpu = sched_getcpu();
	if (SL_LIKELY((unsigned)cpu < SPANLAB_NUMA_NODE_MAX_CPUS))
		return sl_numa_node_cpu_heap[cpu];
	return sl_numa_node_fallback_node();
}

#endif
